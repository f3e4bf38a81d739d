//! Parsers against real tool output (fixtures/ made by fixtures/make-fixtures.sh
//! with iproute2 6.1 in network namespaces, etcd 3.4 v3 and v2, iptables 1.8.9;
//! the IPVS tables are hand-made to ipvsadm's and the kernel's exact formats
//! because this kernel has no IPVS).

use netdoctor_collectors::{etcd, iptables, ipvs, netlink, resolv_conf, sysctl};
use netdoctor_engine::model::{RouteType, Table};
use netdoctor_engine::route;

fn fixture(p: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn ip_route_table_all_both_families() {
    let routes = netlink::parse_routes(&fixture("ip/ip-route.json"), false).unwrap();
    let text: Vec<String> = routes.iter().map(|r| r.text()).collect();
    let has = |s: &str| assert!(text.iter().any(|t| t == s), "missing {s:?} in {text:#?}");
    has("blackhole 10.10.0.128/26 proto bird");
    has("unreachable 10.99.0.0/16");
    has("prohibit 10.98.0.0/16");
    has("throw 10.97.0.0/16 table 100");
    has("10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink");
    has("local 10.96.0.1 dev kube-ipvs0 table local proto kernel scope host src 10.96.0.1");
    let def4 = routes.iter().find(|r| r.is_default && r.is_v4() && r.table.is_main()).unwrap();
    assert_eq!(def4.gateway.unwrap().to_string(), "192.168.56.1");
    assert_eq!(def4.metric, 100);
    let def6 = routes.iter().find(|r| r.is_default && !r.is_v4() && r.table.is_main()).unwrap();
    assert_eq!(def6.gateway.unwrap().to_string(), "2001:db8:56::1");
    assert!(routes.iter().any(|r| r.table == Table::Id(200) && r.is_default));
}

#[test]
fn ip_route_without_details_defaults_missing_keys() {
    let routes = netlink::parse_routes(&fixture("ip/ip-route.no-d.json"), false).unwrap();
    let def = routes.iter().find(|r| r.is_default && r.is_v4() && r.table.is_main()).unwrap();
    assert_eq!(def.kind, RouteType::UNICAST);
    assert!(routes.iter().any(|r| r.kind == RouteType::BLACKHOLE && r.dst.to_string() == "10.10.0.128/26"));
}

#[test]
fn ip_rules_and_lookup_follow_them() {
    let rules = netlink::parse_rules(&fixture("ip/ip-rule.json")).unwrap();
    assert_eq!(rules.len(), 7);
    let fw = rules.iter().find(|r| r.priority == 300).unwrap();
    assert!(fw.has_other_selector, "fwmark rules do not apply to locally generated packets");
    let from = rules.iter().find(|r| r.priority == 200).unwrap();
    assert_eq!(from.src.unwrap().to_string(), "10.0.0.4/32");
    let to = rules.iter().find(|r| r.priority == 150).unwrap();
    assert_eq!(to.dst.unwrap().to_string(), "10.96.0.0/12");
    let routes = netlink::parse_routes(&fixture("ip/ip-route.json"), false).unwrap();
    // 10.97.0.0/16 is thrown out of table 100 and lands on main's default route.
    let l = route::lookup(&[&routes], Some(&rules), "10.97.1.1".parse().unwrap());
    assert!(l.routable);
    assert_eq!(l.tables, vec![Table::LOCAL, Table::Id(100), Table::MAIN]);
    assert_eq!(l.gateway.unwrap().to_string(), "192.168.56.1");
    // ClusterIPs bound to kube-ipvs0 are local.
    assert_eq!(route::lookup(&[&routes], Some(&rules), "10.96.0.10".parse().unwrap()).kind, "local");
    // A blackhole decides even with a default route present.
    let bh = route::lookup(&[&routes], Some(&rules), "10.10.0.130".parse().unwrap());
    assert!(!bh.routable);
    assert_eq!(bh.route.as_deref(), Some("blackhole 10.10.0.128/26 proto bird"));
}

#[test]
fn ip_link_and_addr_with_vxlan_and_bridge_ports() {
    let links = netlink::parse_links(&fixture("ip/ip-link.json")).unwrap();
    let vx = links.iter().find(|l| l.name == "flannel.1").unwrap();
    assert_eq!((vx.kind.as_str(), vx.vxlan.as_ref().map(|v| v.id), vx.mtu), ("vxlan", Some(1), 1450));
    assert_eq!(vx.vxlan.as_ref().and_then(|v| v.local).map(|l| l.to_string()).as_deref(), Some("192.168.56.4"));
    let ports: Vec<_> = links.iter().filter(|l| l.master.as_deref() == Some("cni0")).map(|l| l.kind.as_str()).collect();
    assert_eq!(ports, vec!["veth", "veth"]);
    let (alinks, addrs) = netlink::parse_addrs(&fixture("ip/ip-addr.json")).unwrap();
    assert_eq!(alinks.len(), links.len());
    assert!(addrs.iter().any(|a| a.dev == "cni0" && a.cidr() == "10.244.1.1/24"));
    assert!(addrs.iter().any(|a| a.dev == "kube-ipvs0" && a.cidr() == "10.96.0.10/32"));
    assert!(addrs.iter().any(|a| a.dev == "eth0" && a.cidr() == "2001:db8:56::4/64"));
}

#[test]
fn neighbours_and_fdb() {
    let n = netlink::parse_neigh(&fixture("ip/ip-neigh.json")).unwrap();
    let p = n.iter().find(|e| e.dst.to_string() == "10.244.3.0").unwrap();
    assert_eq!((p.dev.as_str(), p.lladdr.map(|m| m.to_string()).as_deref(), p.state[0].as_str()), ("flannel.1", Some("6e:2c:d1:aa:bb:03"), "PERMANENT"));
    assert!(n.iter().any(|e| e.state == ["FAILED"] && e.lladdr.is_none()));
    let f = netlink::parse_fdb(&fixture("ip/bridge-fdb.json")).unwrap();
    let vt = f.iter().find(|e| e.dev == "flannel.1" && e.dst.is_some_and(|d| d.to_string() == "192.168.56.5")).unwrap();
    assert_eq!(vt.mac.to_string(), "6e:2c:d1:aa:bb:02");
    assert_eq!(vt.state.as_deref(), Some("permanent"));
}

#[test]
fn ipvs_three_formats_give_one_table() {
    let norm = |t: Vec<netdoctor_engine::model::VirtualServer>| {
        let mut v: Vec<String> = t
            .iter()
            .map(|vs| {
                let mut rs: Vec<String> = vs.real_servers.iter().map(|r| format!("{}:{}/{}/{}", r.addr, r.port, r.forward, r.weight)).collect();
                rs.sort();
                format!("{} {} -> {}", vs.text(), vs.scheduler, rs.join(","))
            })
            .collect();
        v.sort();
        v
    };
    let ln = norm(ipvs::parse(&fixture("ipvs/ipvsadm-Ln.txt")).unwrap());
    let proc = norm(ipvs::parse(&fixture("ipvs/proc-ip_vs.txt")).unwrap());
    let sn = norm(ipvs::parse(&fixture("ipvs/ipvsadm-Sn.txt")).unwrap());
    assert_eq!(ln, proc);
    assert_eq!(ln, sn);
    assert!(ln.contains(&"TCP 10.96.0.1:443 rr -> 192.168.56.3:6443/Masq/1".to_string()), "{ln:#?}");
    assert!(ln.contains(&"TCP 10.96.0.20:80 rr -> ".to_string()), "{ln:#?}");
    assert!(ln.contains(&"FWM 100 rr -> 10.244.1.5:8080/Masq/1".to_string()), "{ln:#?}");
    assert!(ipvs::parse(&fixture("ipvs/empty-Sn.txt")).unwrap().is_empty());
    assert!(ipvs::parse(&fixture("ipvs/ipvsadm-Ln-empty.txt")).unwrap().is_empty());
}

#[test]
fn etcd_v3_v2_and_custom_prefix() {
    let v3 = etcd::parse(&fixture("etcd/v3.json"), "etcd/v3.json").unwrap();
    assert_eq!(v3.api, "v3");
    assert_eq!(v3.prefixes, vec!["/coreos.com/network"]);
    assert_eq!(v3.config.as_ref().unwrap().network.unwrap().to_string(), "10.244.0.0/16");
    assert_eq!(v3.config.as_ref().unwrap().backend_type, "vxlan");
    let l1 = v3.leases.iter().find(|l| l.subnet.to_string() == "10.244.1.0/24").unwrap();
    assert_eq!(l1.public_ip.unwrap().to_string(), "192.168.56.4");
    assert_eq!(l1.vtep_mac.map(|m| m.to_string()).as_deref(), Some("6e:2c:d1:aa:bb:01"));

    let custom = etcd::parse(&fixture("etcd/v3-custom-prefix.json"), "x").unwrap();
    assert_eq!(custom.prefixes, vec!["/mycluster/flannel/network"]);
    assert_eq!(custom.leases.len(), 3);

    let hostgw = etcd::parse(&fixture("etcd/v3-hostgw.json"), "x").unwrap();
    assert_eq!(hostgw.config.unwrap().backend_type, "host-gw");
    assert!(hostgw.leases.iter().all(|l| l.vtep_mac.is_none()));

    let v2 = etcd::parse(&fixture("etcd/v2.json"), "etcd/v2.json").unwrap();
    assert_eq!(v2.api, "v2");
    assert_eq!(v2.config.unwrap().network.unwrap().to_string(), "172.17.0.0/16");
    let mut subnets: Vec<String> = v2.leases.iter().map(|l| l.subnet.to_string()).collect();
    subnets.sort();
    assert_eq!(subnets, vec!["172.17.83.0/24", "172.17.89.0/24", "172.17.9.0/24"]);
}

#[test]
fn etcd_bad_lease_is_reported_and_the_rest_kept() {
    let d = etcd::parse(&fixture("etcd/v3-bad-lease.json"), "x").unwrap();
    assert_eq!(d.leases.len(), 3);
    assert_eq!(d.bad_keys.len(), 1);
    assert_eq!(d.bad_keys[0].0, "/coreos.com/network/subnets/10.244.4.0-24");
    assert!(d.bad_keys[0].1.starts_with("lease value is not JSON"), "{}", d.bad_keys[0].1);
    let e = etcd::parse(&fixture("etcd/v2-key-not-found.json"), "x").unwrap_err().to_string();
    assert!(e.contains("expected etcdctl v3 JSON"), "{e}");
}

#[test]
fn iptables_save_both_backends() {
    for f in ["iptables/iptables-save.txt", "iptables/iptables-save-legacy.txt", "iptables/iptables-save-nft-legacy-warning.txt"] {
        let t = iptables::parse(&fixture(f)).unwrap();
        assert_eq!(t.chain("filter", "FORWARD").unwrap().policy.as_deref(), Some("DROP"), "{f}");
        assert!(t.chain("nat", "KUBE-SVC-NPX46M4PTMTKRN6Y").is_some(), "{f}");
        assert!(t.chain("nat", "KUBE-SERVICES").unwrap().rules.iter().any(|r| r.target.as_deref() == Some("KUBE-SVC-NPX46M4PTMTKRN6Y")), "{f}");
    }
    let ipvs_mode = iptables::parse(&fixture("iptables/iptables-save-ipvs-mode.txt")).unwrap();
    assert!(!ipvs_mode.chains("nat").any(|(c, _)| c.starts_with("KUBE-SVC-")));
    assert!(ipvs_mode.chain("nat", "KUBE-SERVICES").is_some());
}

#[test]
fn sysctl_and_resolv_conf_files() {
    let full = sysctl::parse(&fixture("sysctl/sysctl-full.txt")).unwrap();
    assert_eq!(full["net.ipv4.ip_forward"], "1");
    assert_eq!(full["net.bridge.bridge-nf-call-iptables"], "1");
    let nobr = sysctl::parse(&fixture("sysctl/sysctl-no-brnf.txt")).unwrap();
    assert!(!nobr.keys().any(|k| k.starts_with("net.bridge.")));
    assert_eq!(sysctl::parse(&fixture("sysctl/sysctl-forward0.txt")).unwrap()["net.ipv4.ip_forward"], "0");
    let stub = resolv_conf::parse(&fixture("resolv/stub-resolv.conf")).unwrap();
    assert_eq!(stub.nameservers.iter().map(|n| n.ip.to_string()).collect::<Vec<_>>(), vec!["127.0.0.53"]);
    let v6 = resolv_conf::parse(&fixture("resolv/ipv6-localhost.conf")).unwrap();
    assert!(v6.nameservers.iter().any(|n| n.ip.to_string() == "::1"));
    let two = resolv_conf::parse(&fixture("resolv/two-nameservers.conf")).unwrap();
    assert_eq!(two.nameservers.len(), 2);
}

#[test]
fn malformed_json_names_line_and_path() {
    let e = netlink::parse_routes("[\n{\"dst\": \"default\"},\n{\"dst\": 5}\n]", false).unwrap_err().to_string();
    assert_eq!(e, "$[1].dst: expected a string, got 5");
    let e = netlink::parse_routes("[\n{\"dst\": \"default\"\n", false).unwrap_err().to_string();
    assert!(e.starts_with("line 3 column 0: invalid JSON"), "{e}");
    let e = netlink::parse_links("{}").unwrap_err().to_string();
    assert!(e.contains("expected a JSON array"), "{e}");
}

#[test]
fn kubectl_lists_stream_one_object_at_a_time() {
    use netdoctor_collectors::k8s::for_each_object;
    let for_each_object_in_file =
        |p: &std::path::Path, yaml: bool, each: &mut dyn FnMut(&str, serde_json::Value)| for_each_object(std::fs::File::open(p).unwrap(), yaml, each);
    let dir = std::env::temp_dir().join(format!("netdoctor-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let collect = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        let mut seen = Vec::new();
        let r = for_each_object_in_file(&p, false, &mut |path, v| seen.push(format!("{path} {}", v["kind"].as_str().unwrap_or("?"))));
        (r.map_err(|e| e.to_string()), seen)
    };
    // A typed list whose items carry no kind (kubectl omits it): they get PodList's.
    let (r, seen) = collect(
        "typed.json",
        r#"{"apiVersion":"v1","items":[{"metadata":{"name":"a"}},{"kind":"Pod","metadata":{"name":"b"}}],"kind":"PodList","metadata":{}}"#,
    );
    assert!(r.is_ok());
    assert_eq!(seen, vec!["$.items[1] Pod", "$.items[0] Pod"]);
    // An empty typed list still says "collected, and empty".
    let (_, seen) = collect("empty.json", r#"{"apiVersion":"v1","items":[],"kind":"ServiceList","metadata":{}}"#);
    assert_eq!(seen, vec!["$.items Service"]);
    // A single object.
    let (_, seen) = collect("one.json", r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}"#);
    assert_eq!(seen, vec!["$ Node"]);
    // A file broken halfway is an error (the capture reader then uses none of its objects).
    let (r, _) = collect("broken.json", r#"{"apiVersion":"v1","items":[{"kind":"Pod","metadata":{"name":"a"}},{"kind":"Pod""#);
    assert!(r.unwrap_err().contains("invalid JSON"));
    std::fs::remove_dir_all(dir).unwrap();
}
