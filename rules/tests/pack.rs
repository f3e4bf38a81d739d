//! The built-in pack on real captures: each rule has a firing fixture and a
//! healthy one, the seed incidents reproduce their documented findings and
//! nothing else, and the healthy capture yields zero findings and zero skips.

mod common;
use common::*;
use serde_json::{json, Value};

#[test]
fn healthy_flannel_has_no_findings_and_no_skips() {
    assert_clean(&eval(&example("healthy-flannel")));
}

#[test]
fn seed_001_no_default_route() {
    let r = eval(&example("seed-001"));
    assert_eq!(
        ids(&r),
        vec![
            "cni-agent-not-ready Pod/kube-system/calico-node-r5m2d @admin",
            "coredns-not-ready Pod/kube-system/coredns-9d85f5447-m8xqf @admin",
            "coredns-not-ready Pod/kube-system/coredns-9d85f5447-sjs2j @admin",
            "service-ip-unroutable Node/admin -> Service/default/kubernetes",
            "service-ip-unroutable Node/admin -> Service/kube-system/kube-dns",
            "node-no-default-route Node/admin",
            "service-no-ready-endpoints Service/kube-system/kube-dns",
        ]
    );
    let f = of(&r, "service-ip-unroutable")[0];
    assert_eq!(f.summary, "ClusterIP 10.96.0.1 (default/kubernetes) has no route on admin: no default route and no route covers 10.96.0.0/12");
    assert_eq!(f.evidence["routes_file"], "nodes/admin/ip-route.json");
    assert_eq!(f.evidence["lookups"][0]["tables"], json!(["local", "main", "default"]));
    assert!(r.skipped.is_empty() && r.errors.is_empty(), "{:?} {:?}", r.skipped, r.errors);
}

#[test]
fn seed_004_dns_loop() {
    let r = eval(&example("seed-004-dns-loop"));
    assert_eq!(
        ids(&r),
        vec![
            "coredns-not-ready Pod/kube-system/coredns-5dd5756b68-4hq7z @worker1",
            "coredns-not-ready Pod/kube-system/coredns-5dd5756b68-tx9bd @worker1",
            "dns-upstream-loopback Node/worker1",
            "service-no-ready-endpoints Service/kube-system/kube-dns",
        ]
    );
    let f = of(&r, "dns-upstream-loopback")[0];
    assert_eq!(f.severity.as_str(), "critical");
    assert!(f.summary.contains("127.0.0.53"), "{}", f.summary);
    assert_eq!(f.evidence["resolv_conf"], "nodes/worker1/resolv.conf");
    assert!(r.skipped.is_empty() && r.errors.is_empty(), "{:?} {:?}", r.skipped, r.errors);
}

// node-no-default-route ---------------------------------------------------

#[test]
fn node_no_default_route_fires_on_the_host_that_lost_it() {
    let fx = Fixture::from("healthy-flannel");
    fx.retain("nodes/node1/ip-route.json", |r| !is_v4_default(r));
    let r = fx.eval();
    // IPVS mode: ClusterIPs are local on kube-ipvs0, so they stay routable.
    assert_eq!(ids(&r), vec!["node-no-default-route Node/node1"]);
    assert_eq!(r.findings[0].evidence["file"], "nodes/node1/ip-route.json");
}

#[test]
fn node_no_default_route_ignores_other_tables_and_ipv6() {
    // A default route only in table 100 does not count; an IPv6 default does not either.
    let fx = Fixture::from("healthy-flannel");
    fx.json("nodes/node2/ip-route.json", |v| {
        for r in v.as_array_mut().unwrap() {
            if is_v4_default(r) {
                r["table"] = json!("100");
            }
        }
        v.as_array_mut().unwrap().push(json!({"type":"unicast","dst":"default","gateway":"2001:db8::1","dev":"eth0","table":"main","protocol":"boot","scope":"global","metric":1024,"flags":[],"pref":"medium"}));
    });
    assert_eq!(ids(&fx.eval()), vec!["node-no-default-route Node/node2"]);
}

#[test]
fn node_no_default_route_skips_without_routes() {
    let fx = Fixture::from("healthy-flannel");
    fx.remove("nodes/node2/ip-route.json");
    let r = fx.eval();
    assert!(r.findings.is_empty(), "{:?}", ids(&r));
    assert!(
        r.skipped.iter().any(|s| s.rule == "node-no-default-route" && s.subject.name == "node2" && s.reason == "nodes/node2/ip-route.json not collected"),
        "{:?}",
        r.skipped
    );
}

// service-ip-unroutable ----------------------------------------------------

#[test]
fn service_ip_unroutable_on_a_blackhole_when_not_local() {
    let fx = Fixture::from("healthy-flannel");
    // Without kube-ipvs0's local routes, a blackhole for the service CIDR decides.
    fx.retain("nodes/node2/ip-route.json", |r| r.get("dev").and_then(Value::as_str) != Some("kube-ipvs0"));
    fx.json("nodes/node2/ip-route.json", |v| {
        v.as_array_mut().unwrap().push(json!({"type":"blackhole","dst":"10.96.0.0/12","table":"main","protocol":"boot","scope":"global","flags":[]}));
    });
    let r = fx.eval();
    let found = of(&r, "service-ip-unroutable");
    assert!(!found.is_empty());
    assert!(found.iter().all(|f| f.subject.name == "node2"));
    let k = found.iter().find(|f| f.related.as_ref().unwrap().name == "kubernetes").unwrap();
    assert!(k.summary.contains("blackhole route `blackhole 10.96.0.0/12`"), "{}", k.summary);
    assert!(of(&r, "node-no-default-route").is_empty());
}

#[test]
fn service_ip_stays_routable_when_local_on_kube_ipvs0() {
    // The same blackhole with IPVS's local routes in place: the local table wins.
    let fx = Fixture::from("healthy-flannel");
    fx.json("nodes/node2/ip-route.json", |v| {
        v.as_array_mut().unwrap().push(json!({"type":"blackhole","dst":"10.96.0.0/12","table":"main","protocol":"boot","scope":"global","flags":[]}));
    });
    assert!(of(&fx.eval(), "service-ip-unroutable").is_empty());
}

// dns-upstream-loopback ----------------------------------------------------

#[test]
fn dns_loopback_critical_with_coredns_warning_without() {
    let fx = Fixture::from("healthy-flannel");
    let stub = "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n";
    fx.write("nodes/node1/resolv.conf", stub).write("nodes/master/resolv.conf", stub);
    let r = fx.eval();
    let f = of(&r, "dns-upstream-loopback");
    assert_eq!(f.len(), 2, "{:?}", ids(&r));
    let master = f.iter().find(|x| x.subject.name == "master").unwrap();
    let node1 = f.iter().find(|x| x.subject.name == "node1").unwrap();
    assert_eq!(node1.severity.as_str(), "critical", "CoreDNS runs on node1");
    assert_eq!(master.severity.as_str(), "warning", "latent on master");
    assert!(node1.summary.contains("127.0.0.53"));
}

#[test]
fn dns_loopback_follows_the_kubelet_resolv_conf() {
    // seed-004's cp1 has a stub /etc/resolv.conf but hands pods the real upstream file.
    let r = eval(&example("seed-004-dns-loop"));
    assert!(of(&r, "dns-upstream-loopback").iter().all(|f| f.subject.name != "cp1"));
    // With a kubelet flag pointing at an uncaptured file the rule skips instead of guessing.
    let fx = Fixture::from("seed-004-dns-loop");
    fx.write("nodes/worker1/kubelet-args.txt", "--config=/var/lib/kubelet/config.yaml --resolv-conf=/run/systemd/resolve/resolv.conf\n");
    let r = fx.eval();
    assert!(of(&r, "dns-upstream-loopback").is_empty(), "{:?}", ids(&r));
    let s = r.skipped.iter().find(|s| s.rule == "dns-upstream-loopback").unwrap();
    assert!(s.reason.contains("/run/systemd/resolve/resolv.conf, which was not captured"), "{}", s.reason);
}

#[test]
fn dns_loopback_silent_when_corefile_forwards_to_addresses() {
    let fx = Fixture::from("seed-004-dns-loop");
    let mut changed = false;
    for f in std::fs::read_dir(fx.dir.join("cluster")).unwrap() {
        let p = f.unwrap().path();
        let t = std::fs::read_to_string(&p).unwrap();
        if t.contains("forward . /etc/resolv.conf") {
            std::fs::write(&p, t.replace("forward . /etc/resolv.conf", "forward . 192.168.122.1")).unwrap();
            changed = true;
        }
    }
    assert!(changed);
    assert!(of(&fx.eval(), "dns-upstream-loopback").is_empty());
}

// pod-cidr-overlaps-host-network ------------------------------------------

#[test]
fn pod_cidr_overlap_fires_per_node() {
    let fx = Fixture::from("healthy-flannel");
    fx.write(
        "cluster/calico-ippool.json",
        r#"{"apiVersion":"crd.projectcalico.org/v1","kind":"IPPool","metadata":{"name":"default-ipv4-ippool","resourceVersion":"812"},"spec":{"cidr":"192.168.0.0/16","ipipMode":"Always","natOutgoing":true}}"#,
    );
    let r = fx.eval();
    assert_eq!(
        ids(&r),
        vec!["pod-cidr-overlaps-host-network Node/master", "pod-cidr-overlaps-host-network Node/node1", "pod-cidr-overlaps-host-network Node/node2"]
    );
    let f = of(&r, "pod-cidr-overlaps-host-network")[0];
    assert!(
        f.summary.starts_with("pod network 192.168.0.0/16 (Calico IPPool default-ipv4-ippool) overlaps host network 192.168.56.10/24 on eth0"),
        "{}",
        f.summary
    );
}

#[test]
fn pod_cidr_overlap_ignores_cni_interfaces() {
    // Pod subnets on cni0/flannel.1 and ClusterIPs on kube-ipvs0 are not host network:
    // the healthy capture proves it; and seed-001's idle docker0 172.17.0.1/16 too.
    assert!(of(&eval(&example("healthy-flannel")), "pod-cidr-overlaps-host-network").is_empty());
    assert!(of(&eval(&example("seed-001")), "pod-cidr-overlaps-host-network").is_empty());
}

// ip-forward-disabled ------------------------------------------------------

#[test]
fn ip_forward_disabled_fires_only_where_off() {
    let fx = Fixture::from("healthy-flannel");
    fx.sysctl("node2", "net.ipv4.ip_forward", "0");
    let r = fx.eval();
    assert_eq!(ids(&r), vec!["ip-forward-disabled Node/node2"]);
    assert_eq!(r.findings[0].evidence["net.ipv4.ip_forward"], "0");
    assert_eq!(r.findings[0].evidence["file"], "nodes/node2/sysctl.txt");
}

#[test]
fn ip_forward_skips_when_key_absent() {
    let fx = Fixture::from("healthy-flannel");
    fx.text("nodes/node2/sysctl.txt", |t| t.lines().filter(|l| !l.starts_with("net.ipv4.ip_forward ")).collect::<Vec<_>>().join("\n"));
    let r = fx.eval();
    assert!(of(&r, "ip-forward-disabled").is_empty());
    assert!(r.skipped.iter().any(|s| s.rule == "ip-forward-disabled" && s.reason == "nodes/node2/sysctl.txt has no net.ipv4.ip_forward"), "{:?}", r.skipped);
}

// bridge-nf-call-iptables-disabled ----------------------------------------

#[test]
fn bridge_nf_disabled_or_module_missing() {
    let fx = Fixture::from("healthy-flannel");
    fx.sysctl("node1", "net.bridge.bridge-nf-call-iptables", "0");
    fx.text("nodes/node2/sysctl.txt", |t| t.lines().filter(|l| !l.starts_with("net.bridge.")).collect::<Vec<_>>().join("\n"));
    let r = fx.eval();
    assert_eq!(ids(&r), vec!["bridge-nf-call-iptables-disabled Node/node1", "bridge-nf-call-iptables-disabled Node/node2"]);
    assert!(r.findings[0].summary.contains("cni0") && r.findings[0].summary.contains("= 0"), "{}", r.findings[0].summary);
    assert!(r.findings[1].summary.contains("br_netfilter is not loaded"), "{}", r.findings[1].summary);
}

#[test]
fn bridge_nf_never_fires_without_a_pod_bridge() {
    // Calico hosts have only an idle docker0: no pod bridge, even without br_netfilter.
    let fx = Fixture::from("seed-001");
    for n in ["admin", "node1", "node2"] {
        fx.text(&format!("nodes/{n}/sysctl.txt"), |t| t.lines().filter(|l| !l.starts_with("net.bridge.")).collect::<Vec<_>>().join("\n"));
    }
    assert!(of(&fx.eval(), "bridge-nf-call-iptables-disabled").is_empty());
}

// coredns-not-ready, cni-agent-not-ready --------------------------------------

#[test]
fn seed_001_coredns_and_calico_node_not_ready() {
    let r = eval(&example("seed-001"));
    let dns = of(&r, "coredns-not-ready");
    assert_eq!(dns.len(), 2);
    assert_eq!(
        dns[0].summary,
        "CoreDNS pod kube-system/coredns-9d85f5447-m8xqf on admin is not Ready: container coredns terminated Completed (exit code 0), 36 restarts"
    );
    assert_eq!(dns[0].subject.node.as_deref(), Some("admin"));
    assert_eq!(dns[0].evidence["restarts"], 36);
    let cni = of(&r, "cni-agent-not-ready");
    assert_eq!(cni.len(), 1);
    assert_eq!(cni[0].summary, "CNI agent kube-system/calico-node-r5m2d (DaemonSet calico-node) on admin is not Ready: container calico-node CrashLoopBackOff, last state Error, 57 restarts");
    assert_eq!(cni[0].evidence["daemonset"], "kube-system/calico-node");
}

#[test]
fn seed_004_coredns_crash_loop_carries_last_state() {
    let r = eval(&example("seed-004-dns-loop"));
    for f in of(&r, "coredns-not-ready") {
        assert!(f.summary.ends_with("on worker1 is not Ready: container coredns CrashLoopBackOff, last state Error, 8 restarts"), "{}", f.summary);
        assert_eq!(f.evidence["last_state_reason"], "Error");
    }
}

// apiserver-unreachable ------------------------------------------------------

const COLLECTOR_DOWN: &str = r#"{"captured_at": "2024-03-11T02:40:00Z", "collectors": {"kubernetes": {"up": false, "last_success": "2024-03-11T02:28:00Z", "stale_after_seconds": 120, "error": "dial tcp 192.168.122.10:6443: connect: connection refused"}}}"#;

#[test]
fn apiserver_unreachable_is_not_applicable_to_hand_made_captures() {
    // No collector status: neither a finding nor a skip, on healthy and broken captures alike.
    for c in ["healthy-flannel", "seed-001", "seed-004-dns-loop"] {
        let r = eval(&example(c));
        assert!(of(&r, "apiserver-unreachable").is_empty(), "{c}");
        assert!(r.skipped.iter().all(|s| s.rule != "apiserver-unreachable"), "{c}: {:?}", r.skipped);
    }
}

#[test]
fn apiserver_unreachable_names_the_node_netdoctor_runs_on() {
    // Live on one node (`eval --node worker1`): one captured host, so the finding is that node's.
    let fx = Fixture::from("seed-004-dns-loop");
    fx.write("meta.json", COLLECTOR_DOWN);
    std::fs::remove_dir_all(fx.dir.join("nodes/cp1")).unwrap();
    let r = fx.eval();
    assert_eq!(ids(&r).iter().filter(|i| i.starts_with("apiserver-unreachable")).collect::<Vec<_>>(), vec!["apiserver-unreachable Node/worker1"]);
    let f = of(&r, "apiserver-unreachable")[0];
    assert!(f.summary.contains("last success 12m ago (2024-03-11T02:28:00Z)"), "{}", f.summary);
    assert!(f.summary.ends_with("still present on worker1: existing pods keep serving"), "{}", f.summary);
    assert_eq!(f.evidence["collector"]["age_seconds"], 720);
}

#[test]
fn apiserver_unreachable_says_when_the_data_plane_is_gone_too() {
    // Every host lost its pod routes and kube-proxy rules: nothing keeps serving.
    let fx = Fixture::from("seed-004-dns-loop");
    fx.write("meta.json", COLLECTOR_DOWN);
    for n in ["cp1", "worker1"] {
        fx.retain(&format!("nodes/{n}/ip-route.json"), |r| {
            !["flannel.1", "cni0"].contains(&r["dev"].as_str().unwrap_or("")) && !r["dst"].as_str().unwrap_or("").starts_with("10.244.")
        });
        fx.text(&format!("nodes/{n}/iptables-save.txt"), |t| t.lines().filter(|l| !l.contains("KUBE-SVC-")).collect::<Vec<_>>().join("\n") + "\n");
    }
    let f = &of(&fx.eval(), "apiserver-unreachable")[0].summary.clone();
    assert!(f.ends_with("no pod routes and no service rules on cp1, worker1"), "{f}");
}

// service dataplane, flannel and Calico rules on the seed captures ----------

const DATAPLANE_RULES: &[&str] = &[
    "service-rules-missing",
    "ipvs-backends-stale",
    "service-no-ready-endpoints",
    "flannel-lease-missing",
    "flannel-lease-orphaned",
    "flannel-subnet-mismatch",
    "flannel-route-missing",
    "calico-block-route-missing",
    "flannel-vtep-mac-mismatch",
    "overlay-mtu-mismatch",
    "multi-homed-node-asymmetric",
    "forward-policy-drop",
];

fn dataplane_ids(r: &netdoctor_engine::Report) -> Vec<String> {
    let mut v: Vec<String> = ids(r).into_iter().filter(|i| DATAPLANE_RULES.iter().any(|d| i.starts_with(&format!("{d} ")))).collect();
    v.sort();
    v
}

#[test]
fn dataplane_rules_on_seed_000() {
    let r = eval(&example("seed-000"));
    assert_eq!(
        dataplane_ids(&r),
        vec![
            "flannel-lease-orphaned FlannelLease/172.17.45.0/24",
            "ipvs-backends-stale Service/default/mcwtest-svc @mcwk8s06",
            "overlay-mtu-mismatch Node/mcwk8s03",
            "service-no-ready-endpoints Service/default/grafana",
            "service-rules-missing Node/mcwk8s03",
        ]
    );
    assert!(r.skipped.iter().all(|s| !DATAPLANE_RULES.contains(&s.rule.as_str())), "{:?}", r.skipped);
    // (b) form: the master is no Node, has flanneld but no kube-proxy; the cluster mode comes from the hosts.
    let f = of(&r, "service-rules-missing")[0];
    assert!(f.related.is_none());
    assert_eq!(f.evidence["cluster_proxy_mode"], "ipvs");
    assert_eq!(f.evidence["host"], "captured host nodes/mcwk8s03/, not a registered Node");
    // Stale IPVS on the node whose kube-proxy stopped: the ClusterIP server leads, NodePorts follow.
    let f = of(&r, "ipvs-backends-stale")[0];
    assert!(
        f.summary.starts_with(
            "IPVS TCP 10.2.0.155:2024 on mcwk8s06 (default/mcwtest-svc) sends to 172.17.89.10 (no ready endpoint) and lacks ready endpoint(s) 172.17.89.14"
        ),
        "{}",
        f.summary
    );
    assert_eq!(f.evidence["virtual_servers"].as_array().unwrap().len(), 4);
    let f = of(&r, "overlay-mtu-mismatch")[0];
    assert!(f.summary.contains("bridge docker0 mtu 1500") && f.summary.contains("flannel.1 mtu 1450"), "{}", f.summary);
}

#[test]
fn dataplane_rules_on_seed_002() {
    let r = eval(&example("seed-002"));
    assert_eq!(dataplane_ids(&r), vec!["multi-homed-node-asymmetric Node/instance01", "service-rules-missing Node/instance01"]);
    assert!(r.skipped.iter().all(|s| !DATAPLANE_RULES.contains(&s.rule.as_str())), "{:?}", r.skipped);
    let f = of(&r, "multi-homed-node-asymmetric")[0];
    assert!(f.summary.starts_with("instance01's InternalIP 10.0.0.10 is on eth1 but its default route leaves by eth0"), "{}", f.summary);
    let f = of(&r, "service-rules-missing")[0];
    assert_eq!(f.evidence["file"], "nodes/instance01/iptables-save.txt");
    assert_eq!(f.evidence["cluster_proxy_mode"], "iptables");
}

#[test]
fn dataplane_rules_silent_on_seed_001_and_004_but_for_kube_dns() {
    for c in ["seed-001", "seed-004-dns-loop"] {
        let r = eval(&example(c));
        assert_eq!(dataplane_ids(&r), vec!["service-no-ready-endpoints Service/kube-system/kube-dns"], "{c}");
        assert!(r.skipped.iter().all(|s| !DATAPLANE_RULES.contains(&s.rule.as_str())), "{c}: {:?}", r.skipped);
    }
}

#[test]
fn iptables_chains_are_mapped_without_comments() {
    // kube-proxy drops comments above 1,000 endpoints: chain names and VIPs must suffice.
    let fx = Fixture::from("seed-004-dns-loop");
    for n in ["cp1", "worker1"] {
        fx.text(&format!("nodes/{n}/iptables-save.txt"), |t| {
            t.lines()
                .map(|l| match l.find(" -m comment --comment \"") {
                    Some(i) => {
                        let rest = &l[i + " -m comment --comment \"".len()..];
                        let end = rest.find('"').unwrap();
                        format!("{}{}", &l[..i], &rest[end + 1..])
                    }
                    None => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        });
    }
    assert!(!std::fs::read_to_string(fx.dir.join("nodes/cp1/iptables-save.txt")).unwrap().contains("--comment"));
    let r = fx.eval();
    assert!(of(&r, "service-rules-missing").is_empty(), "{:?}", ids(&r));
    // Now drop the web Service's jump on worker1: found missing by its hashed chain name.
    fx.text("nodes/worker1/iptables-save.txt", |t| {
        t.lines().filter(|l| !l.starts_with("-A KUBE-SERVICES -d 10.105.227.18/32")).collect::<Vec<_>>().join("\n") + "\n"
    });
    let r = fx.eval();
    assert_eq!(dataplane_ids(&r), vec!["service-no-ready-endpoints Service/kube-system/kube-dns", "service-rules-missing Node/worker1 -> Service/default/web"]);
    let f = of(&r, "service-rules-missing")[0];
    assert_eq!(f.evidence["missing"][0], "KUBE-SERVICES -d 10.105.227.18/32 -p tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL");
    assert_eq!(f.evidence["notes"][0], "chain KUBE-SVC-CDGGSHYLG3RE2FKL exists (DNAT to 10.244.0.2:80, 10.244.1.4:80) but no KUBE-SERVICES rule jumps to it");
}

#[test]
fn dataplane_rules_on_seed_003_and_004() {
    // seed 003: no BlockAffinity objects; server02's block is known from its own `blackhole ... proto bird`.
    let r = eval(&example("seed-003"));
    assert_eq!(dataplane_ids(&r), vec!["calico-block-route-missing Node/server03 -> Node//server02"]);
    assert!(r.skipped.iter().all(|s| !DATAPLANE_RULES.contains(&s.rule.as_str())), "{:?}", r.skipped);
    let f = of(&r, "calico-block-route-missing")[0];
    assert!(f.summary.contains("only the default route") && f.summary.contains("server02's Calico block 10.211.1.0/24"), "{}", f.summary);
    // FORWARD policy DROP there, but Felix's `-A cali-FORWARD -i cali+ -j ACCEPT` is reached.
    assert!(of(&r, "forward-policy-drop").is_empty());
    // seed 004 (kube-subnet-mgr): w4 routes w2's lease via the gateway instead of flannel.1.
    let r = eval(&example("seed-004"));
    assert_eq!(
        dataplane_ids(&r),
        vec!["flannel-route-missing Node/w4 -> FlannelLease//192.168.2.0/24", "service-no-ready-endpoints Service/kube-system/kube-dns"]
    );
    assert!(r.skipped.iter().all(|s| !DATAPLANE_RULES.contains(&s.rule.as_str())), "{:?}", r.skipped);
    let f = of(&r, "flannel-route-missing")[0];
    assert_eq!(f.evidence["peer_node"], "w2");
    assert_eq!(f.evidence["expected_route"], "192.168.2.0/24 via 192.168.2.0 dev flannel.1 onlink");
}

#[test]
fn dataplane_rules_on_the_other_healthy_captures_and_combined_faults() {
    for c in ["healthy-flannel", "healthy-calico", "healthy-flannel-hostgw", "healthy-extras"] {
        let r = eval(&example(c));
        assert_eq!(dataplane_ids(&r), Vec::<String>::new(), "{c}");
        // healthy-extras: only node3 (a Node with no folder) may be skipped.
        let skipped: Vec<_> = r.skipped.iter().filter(|s| DATAPLANE_RULES.contains(&s.rule.as_str()) && s.subject.name != "node3").collect();
        assert!(skipped.is_empty(), "{c}: {skipped:?}");
    }
    let r = eval(&example("combined-faults"));
    assert_eq!(
        dataplane_ids(&r),
        vec!["flannel-route-missing Node/n4 -> FlannelLease//10.244.3.0/24", "flannel-subnet-mismatch Node/n5", "flannel-vtep-mac-mismatch Node/cp",]
    );
    assert!(r.skipped.iter().all(|s| !DATAPLANE_RULES.contains(&s.rule.as_str())), "{:?}", r.skipped);
    let f = of(&r, "flannel-vtep-mac-mismatch")[0];
    assert!(f.related.is_none());
    assert_eq!(f.evidence["published_vtep_mac"], "d6:5c:0e:19:a3:10");
    assert_eq!(f.evidence["device_mac"], "4a:f0:8d:22:71:10");
}
