//! `--explain` explains: every documented accessor of the rule API (the same
//! registry `docs/rules.md` is generated from, so a new one cannot be
//! forgotten) is used in a rule run under `netdoctor eval --explain`, and must
//! appear in the explanation as a read.

mod common;

use common::{copy_dir, netdoctor, root, stdout as out, Scratch};
use netdoctor_engine::runtime::api::{all_docs, Doc};
use std::collections::BTreeMap;

/// Functions that build a finding's output rather than read a fact: they are shown by the
/// finding or skip they produce, not as reads.
const OUTPUT_ONLY: &[&str] = &["Graph.finding", "Graph.skip", "Graph.cluster_subject", "Service.subject_on"];

/// How a rule reaches a value of each documented type (`x` in the calls below), and on
/// which capture: `flannel` is healthy-flannel with Deployments, ComponentStatuses and
/// collector statuses added; `calico` is healthy-calico (IPPools, BlockAffinities, iptables).
fn receiver(on: &str) -> Option<(&'static str, &'static str)> {
    Some(match on {
        "Graph" => ("flannel", "g"),
        "Host" => ("flannel", "g.host(\"node1\")"),
        "Node" => ("flannel", "g.node(\"master\")"),
        "Pod" => ("flannel", "g.pods_with_label(\"k8s-app\", \"kube-dns\")[0]"),
        "Service" => ("flannel", "g.service(\"kube-system\", \"kube-dns\")"),
        "Lease" => ("flannel", "g.leases[1]"),
        "Route" => ("flannel", "g.host(\"node1\").routes[0]"),
        "Link" => ("flannel", "g.host(\"node1\").link(\"flannel.1\")"),
        "Addr" => ("flannel", "g.host(\"node1\").addrs[0]"),
        "IpRule" => ("flannel", "g.host(\"node1\").rules[0]"),
        "Neighbour" => ("flannel", "g.host(\"node1\").neighbours[0]"),
        "FdbEntry" => ("flannel", "g.host(\"node1\").fdb[0]"),
        "Lookup" => ("flannel", "g.host(\"node1\").route_get(\"10.96.0.1\")"),
        "Condition" => ("flannel", "g.node(\"master\").conditions[0]"),
        "NodeAddress" => ("flannel", "g.node(\"master\").addresses[0]"),
        "Taint" => ("flannel", "g.node(\"master\").taints[0]"),
        "Container" => ("flannel", "g.pods_with_label(\"k8s-app\", \"kube-dns\")[0].containers[0]"),
        "ContainerPort" => ("flannel", "g.pods_with_label(\"k8s-app\", \"kube-dns\")[0].ports[0]"),
        "PodHealth" => ("flannel", "g.pods_with_label(\"k8s-app\", \"kube-dns\")[0].health"),
        "ServicePort" => ("flannel", "g.service(\"kube-system\", \"kube-dns\").ports[0]"),
        "Endpoints" => ("flannel", "g.service(\"kube-system\", \"kube-dns\").endpoints"),
        "Deployment" => ("flannel", "g.deployments[0]"),
        "ComponentStatus" => ("flannel", "g.component_statuses[0]"),
        "Collector" => ("flannel", "g.collectors[0]"),
        "FlannelConfig" => ("flannel", "g.flannel_config"),
        "CorefileForward" => ("flannel", "g.corefile_forwards[0]"),
        "ProxyTable" => ("flannel", "g.host(\"node1\").proxy_table()"),
        "VirtualServer" => ("flannel", "g.host(\"node1\").proxy_table().virtual_servers[0]"),
        "RealServer" => ("flannel", "g.host(\"node1\").proxy_table().virtual_servers[0].real_servers[0]"),
        "IpPool" => ("calico", "g.ip_pools[0]"),
        "BlockAffinity" => ("calico", "g.block_affinities[0]"),
        "ServiceChain" => ("calico", "g.host(\"cp-01\").proxy_table().service_chains[0]"),
        _ => return None,
    })
}

/// The call of each documented method (`x` is the receiver); properties need none.
fn call(on: &str, name: &str) -> Option<&'static str> {
    Some(match (on, name) {
        ("Graph", "host") => "x.host(\"node1\")",
        ("Graph", "node") => "x.node(\"node1\")",
        ("Graph", "deployment") => "x.deployment(\"kube-system\", \"coredns\")",
        ("Graph", "service") => "x.service(\"default\", \"kubernetes\")",
        ("Graph", "service_by_ip") => "x.service_by_ip(\"10.96.0.10\")",
        ("Graph", "pod_by_ip") => "x.pod_by_ip(x.pods_with_label(\"k8s-app\", \"kube-dns\")[0].ips[0])",
        ("Graph", "lease") => "x.lease(\"10.244.1.0/24\")",
        ("Graph", "pods_on") => "x.pods_on(\"node1\")",
        ("Graph", "pods_in") => "x.pods_in(\"kube-system\")",
        ("Graph", "pods_with_label") => "x.pods_with_label(\"app\", \"web\")",
        ("Graph", "cni_agent_pods") => "x.cni_agent_pods()",
        ("Graph", "services_with_ready_endpoints") => "x.services_with_ready_endpoints()",
        ("Graph", "cluster_ips") => "x.cluster_ips()",
        ("Graph", "mirror_pods") => "x.mirror_pods()",
        ("Graph", "has") => "x.has(\"pods\")",
        ("Graph", "missing") => "x.missing(\"ippools\")",
        ("Graph", "source") => "x.source(\"pods\")",
        ("Graph", "pod_networks") => "x.pod_networks()",
        ("Graph", "pod_network_count") => "x.pod_network_count()",
        ("Graph", "pod_networks_overlapping") => "x.pod_networks_overlapping(\"10.244.0.0/16\")",
        ("Graph", "proxy_mode") => "x.proxy_mode()",
        ("Graph", "collector") => "x.collector(\"k8s\")",
        ("Graph", "cluster_subject") => "x.cluster_subject()",
        ("Graph", "since") => "x.since(\"2024-05-20T08:00:00Z\")",
        ("Graph", "finding") => "x.finding(#{ subject: x.cluster_subject(), summary: \"probe\" })",
        ("Graph", "skip") => "x.skip(x.node(\"node2\").subject(), \"probe skip\")",
        ("Graph", "param") => "x.param(\"limit\")",
        ("Graph", "flannel_in_use") => "x.flannel_in_use()",
        ("Graph", "flannel_lease_source") => "x.flannel_lease_source()",
        ("Graph", "calico_in_use") => "x.calico_in_use()",
        ("Graph", "calico_blocks") => "x.calico_blocks()",
        ("Host", "subject") => "x.subject()",
        ("Host", "has") => "x.has(\"routes\")",
        ("Host", "missing") => "x.missing(\"ipvs\")",
        ("Host", "source") => "x.source(\"routes\")",
        ("Host", "stale") => "x.stale(\"routes\")",
        ("Host", "addrs_of") => "x.addrs_of(\"eth0\")",
        ("Host", "link") => "x.link(\"eth0\")",
        ("Host", "sysctl") => "x.sysctl(\"net.ipv4.ip_forward\")",
        ("Host", "sysctl_keys") => "x.sysctl_keys(\"net.bridge.\")",
        ("Host", "default_route") => "x.default_route(\"inet\")",
        ("Host", "route_get") => "x.route_get(\"10.96.0.1\")",
        ("Host", "unroutable") => "x.unroutable([\"10.96.0.1\", \"203.0.113.1\"])",
        ("Host", "pod_resolv_conf") => "x.pod_resolv_conf()",
        ("Host", "pod_subnets") => "x.pod_subnets()",
        ("Host", "host_networks") => "x.host_networks()",
        ("Host", "pod_network_overlaps") => "x.pod_network_overlaps()",
        ("Host", "pod_bridges") => "x.pod_bridges()",
        ("Host", "cluster_network_routes") => "x.cluster_network_routes()",
        ("Host", "is_cni_interface") => "x.is_cni_interface(\"cni0\")",
        ("Host", "proxy_table") => "x.proxy_table()",
        ("Host", "proxy_mode") => "x.proxy_mode()",
        ("Host", "forward_chain") => "x.forward_chain()",
        ("Host", "iptables_policy") => "x.iptables_policy(\"filter\", \"FORWARD\")",
        ("Host", "flannel_device") => "x.flannel_device()",
        ("Host", "runs_flannel") => "x.runs_flannel()",
        ("Host", "flannel_route") => "x.flannel_route(g.leases[0])",
        ("Host", "missing_flannel_routes") => "x.missing_flannel_routes()",
        ("Host", "runs_calico") => "x.runs_calico()",
        ("Host", "block_route") => "x.block_route(\"10.244.2.0/24\")",
        ("Host", "missing_block_routes") => "x.missing_block_routes()",
        ("Host", "overlay_device") => "x.overlay_device()",
        ("Host", "route_egress") => "x.route_egress(x.cluster_network_routes()[0])",
        ("Host", "addr_dev") => "x.addr_dev(\"192.168.56.11\")",
        ("Host", "dataplane_state") => "x.dataplane_state()",
        ("Node", "condition") => "x.condition(\"Ready\")",
        ("Node", "label") => "x.label(\"kubernetes.io/hostname\")",
        ("Node", "subject") => "x.subject()",
        ("Pod", "label") => "x.label(\"k8s-app\")",
        ("Pod", "condition") => "x.condition(\"Ready\")",
        ("Pod", "subject") => "x.subject()",
        ("Service", "selected_pods") => "x.selected_pods()",
        ("Service", "subject") => "x.subject()",
        ("Service", "subject_on") => "x.subject_on(\"node1\")",
        ("Service", "related") => "x.related()",
        ("Lease", "subject") => "x.subject()",
        ("Lease", "related") => "x.related()",
        ("Lease", "vtep_check") => "x.vtep_check()",
        ("ProxyTable", "entries") => "x.entries(g.service(\"kube-system\", \"kube-dns\"))",
        ("ProxyTable", "missing_entries") => "x.missing_entries()",
        ("ProxyTable", "stale_backends") => "x.stale_backends()",
        _ => return None,
    })
}

/// Whether the explanation shows a read of `d`: a property as `name → value`, a method as
/// `name(args) → answer`. (A property is matched by name: two types sharing a name, such as
/// `name`, are told apart by running one rule per type.)
fn shown(text: &str, d: &Doc) -> bool {
    let property = d.property;
    text.lines().filter_map(|l| l.trim_start().strip_prefix("read    ")).any(|r| {
        if property {
            r.starts_with(&format!("{} → ", d.name))
        } else {
            r.starts_with(&format!("{}(", d.name)) && r.contains(") ")
        }
    })
}

#[test]
fn every_documented_accessor_appears_in_the_explanation() {
    let d = Scratch::new("explain-api");
    // healthy-flannel plus the kinds it lacks: Deployments, ComponentStatuses, collector statuses.
    let flannel = d.dir().join("flannel");
    copy_dir(&root().join("examples/captures/healthy-flannel"), &flannel);
    std::fs::copy(root().join("examples/captures/healthy-calico/cluster/componentstatuses.json"), flannel.join("cluster/componentstatuses.json")).unwrap();
    d.file(
        "flannel/cluster/deployments.json",
        r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
 "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}},
 "status": {"replicas": 2, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 2}}]}"#,
    );
    d.file(
        "flannel/meta.json",
        r#"{"captured_at": "2024-05-20T08:30:00Z", "cluster": "healthy-flannel", "format": "netdoctor-capture/v1",
 "collectors": {"k8s": {"up": true, "last_success": "2024-05-20T08:29:50Z", "stale_after_seconds": 60}}}"#,
    );
    let capture = |which: &str| if which == "calico" { root().join("examples/captures/healthy-calico") } else { flannel.clone() };

    // One rule per type: it reaches a value of the type and uses every documented accessor of it.
    let docs = all_docs();
    let mut by_type: BTreeMap<&str, Vec<&Doc>> = BTreeMap::new();
    let mut problems = Vec::new();
    for doc in docs.iter().filter(|d| !d.on.is_empty()) {
        by_type.entry(doc.on).or_default().push(doc);
    }
    let mut checked = 0;
    for (on, docs) in &by_type {
        let Some((which, recv)) = receiver(on) else {
            problems.push(format!("type {on}: no receiver in tests/explain_api.rs (add one to `receiver`)"));
            continue;
        };
        let id = format!("explain-{}", on.to_lowercase());
        let mut body = format!("    let x = {recv};\n    if x == () {{ throw \"no {on} to probe\"; }}\n");
        for doc in docs {
            let expr = if doc.property {
                format!("x.{}", doc.name)
            } else if let Some(c) = call(on, doc.name) {
                c.to_string()
            } else {
                problems.push(format!("{on}.{}: no call in tests/explain_api.rs (add one to `call`)", doc.name));
                continue;
            };
            body.push_str(&format!("    let v = {expr};\n"));
        }
        let rules = d.dir().join(format!("rules-{id}"));
        std::fs::create_dir_all(&rules).unwrap();
        let params = if *on == "Graph" { ", params: #{ limit: #{ type: \"int\", \"default\": 3, doc: \"probe\" } }" } else { "" };
        std::fs::write(
            rules.join(format!("{id}.rhai")),
            format!("const RULE = #{{ id: \"{id}\", severity: \"info\", summary: \"probe\", remediation: \"none\"{params} }};\nfn evaluate(g) {{\n{body}}}\n"),
        )
        .unwrap();
        let cap = capture(which).display().to_string();
        let o = netdoctor(&["eval", "--capture", &cap, "--no-builtin-rules", "--rules", &rules.display().to_string(), "--explain", &id]);
        let text = out(&o);
        if text.contains("the rule failed") {
            problems.push(format!("type {on}: {}", text.lines().find(|l| l.contains("the rule failed")).unwrap()));
            continue;
        }
        for doc in docs {
            let key = format!("{on}.{}", doc.name);
            checked += 1;
            let ok = match key.as_str() {
                "Graph.finding" => text.contains("  finding info probe"),
                "Graph.skip" => text.contains("  skipped probe skip"),
                k if OUTPUT_ONLY.contains(&k) || doc.name == "subject" || doc.name == "related" => true,
                _ => shown(&text, doc),
            };
            if !ok {
                problems.push(format!("{key}: used, but not in the explanation (`{}`)", doc.sig));
            }
        }
    }
    assert!(checked > 250, "{checked} accessors checked");
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_newcomers_rules_are_explained_by_what_they_read() {
    // Issue 8: `--explain` showed only `has("pods") → true` for these rules.
    let o = netdoctor(&[
        "eval",
        "--capture",
        "examples/captures/seed-000",
        "--rules",
        "examples/rules",
        "--explain",
        "running-pod-on-notready-node",
        "--subject",
        "Node/mcwk8s06",
    ]);
    let s = out(&o);
    assert!(s.contains("Node/mcwk8s06: did not fire\n  read    ready → false\n  read    condition(\"Ready\") → {"), "{s}");
    assert!(s.contains("Pod/default/nginx-7bb7cd8db5-hz6sd: FIRED (1 finding)\n  read    phase → Running\n"), "{s}");
    let o = netdoctor(&[
        "eval",
        "--capture",
        "examples/captures/healthy-calico",
        "--rules",
        "examples/rules",
        "--explain",
        "service-target-port-not-exposed",
        "--subject",
        "Service/shop/frontend",
    ]);
    let s = out(&o);
    assert!(s.contains("  read    selected_pods() → [\"shop/frontend-6f9c7d8b45-fkdr8\",\"shop/frontend-6f9c7d8b45-nd2fq\"]\n"), "{s}");
    assert!(s.contains("  read    target_port → http\n"), "{s}");
}
