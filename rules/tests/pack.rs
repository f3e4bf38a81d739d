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
            "service-ip-unroutable Node/admin -> Service/default/kubernetes",
            "service-ip-unroutable Node/admin -> Service/kube-system/kube-dns",
            "node-no-default-route Node/admin",
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
    assert_eq!(ids(&r), vec!["dns-upstream-loopback Node/worker1"]);
    let f = &r.findings[0];
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
    assert!(r.skipped.iter().any(|s| s.rule == "node-no-default-route" && s.subject.name == "node2" && s.reason == "nodes/node2/ip-route.json not collected"), "{:?}", r.skipped);
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
    assert!(f.summary.starts_with("pod network 192.168.0.0/16 (Calico IPPool default-ipv4-ippool) overlaps host network 192.168.56.10/24 on eth0"), "{}", f.summary);
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
