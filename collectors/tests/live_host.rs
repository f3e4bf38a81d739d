//! The live host collectors against real network namespaces (root and iproute2
//! needed; skipped with the reason otherwise). Each test builds what a flannel
//! node has (veth, bridge, vxlan `flannel.1`, blackhole and onlink routes,
//! several tables, ip rules, a neighbour and an FDB entry), collects it live,
//! and compares with what the capture reader makes of the real `ip -j` output
//! taken in the same namespace.

use netdoctor_collectors::live::host::{self, netlink, HostCollector, HostSource, HostTarget};
use netdoctor_engine::collector::{Collection, Collector};
use netdoctor_testkit::netns::Netns;
use netdoctor_testkit::require;
use std::path::Path;

/// A node namespace as flannel (vxlan) leaves it, with a peer host on eth0.
fn flannel_node() -> netdoctor_testkit::Result<(Netns, Netns)> {
    let node = Netns::new("lhnode")?;
    let peer = Netns::new("lhpeer")?;
    for ns in [&node, &peer] {
        // No duplicate address detection: addresses are final at once, so the two reads
        // below do not race a tentative -> permanent change.
        ns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
        ns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
    }
    node.veth("eth0", &peer, "eth0")?;
    node.addr_add("eth0", "192.168.56.11/24")?;
    node.addr_add("eth0", "fd00::11/64")?;
    node.link_up("eth0")?;
    peer.addr_add("eth0", "192.168.56.12/24")?;
    peer.link_up("eth0")?;
    node.bridge("cni0")?;
    node.addr_add("cni0", "10.244.1.1/24")?;
    node.link_up("cni0")?;
    // A pod's veth: one end on the bridge, the other (down) in the same namespace (M-DOWN).
    node.veth("veth1", &node, "vethpod")?;
    node.set_master("veth1", "cni0")?;
    node.link_up("veth1")?;
    node.vxlan("flannel.1", 1, "192.168.56.11", Some("eth0"))?;
    node.set_mac("flannel.1", "aa:bb:cc:00:00:01")?;
    node.addr_add("flannel.1", "10.244.1.0/32")?;
    node.link_up("flannel.1")?;
    node.route_add(&["10.244.2.0/24", "via", "10.244.2.0", "dev", "flannel.1", "onlink"])?;
    node.route_add(&["blackhole", "10.244.9.0/24"])?;
    node.route_add(&["default", "via", "192.168.56.1", "dev", "eth0", "table", "100"])?;
    node.route_add(&["unreachable", "10.99.0.0/16", "table", "100"])?;
    node.route_add(&["10.0.0.0/8", "dev", "eth0", "table", "200", "proto", "static", "metric", "50"])?;
    node.route_add(&["fd01::/64", "via", "fd00::1", "dev", "eth0"])?;
    node.route_add(&["prohibit", "10.98.0.0/16", "proto", "bird"])?;
    node.rule_add(&["from", "10.244.1.0/24", "table", "100", "priority", "100"])?;
    node.rule_add(&["to", "10.0.0.0/8", "table", "200", "priority", "200"])?;
    node.rule_add(&["fwmark", "0x10/0xff", "table", "100", "priority", "300"])?;
    node.rule_add(&["not", "from", "1.2.3.4", "lookup", "main", "priority", "400"])?;
    node.rule_add(&["iif", "lo", "blackhole", "priority", "500"])?;
    node.neigh_add("10.244.2.0", "aa:bb:cc:00:00:02", "flannel.1")?;
    node.fdb_add("aa:bb:cc:00:00:02", "flannel.1", "192.168.56.12")?;
    Ok((node, peer))
}

/// What the capture reader makes of the real capture commands run in `ns`.
fn captured(ns: &Netns) -> netlink::NetlinkFacts {
    captured_with(&|prog, args| ns.exec(prog, args).unwrap())
}

/// The same in this process's own namespace.
fn captured_here() -> netlink::NetlinkFacts {
    captured_with(&|prog, args| netdoctor_testkit::run(std::process::Command::new(prog).args(args)).unwrap())
}

fn captured_with(exec: &dyn Fn(&str, &[&str]) -> String) -> netlink::NetlinkFacts {
    use netdoctor_collectors::netlink as p;
    let ip = |args: &[&str]| exec("ip", args);
    netlink::NetlinkFacts {
        links: p::parse_links(&ip(&["-j", "-d", "link", "show"])).unwrap(),
        addrs: p::parse_addrs(&ip(&["-j", "-d", "addr", "show"])).unwrap().1,
        routes: p::parse_routes(&ip(&["-j", "-d", "route", "show", "table", "all"]), false).unwrap(),
        rules: p::parse_rules(&ip(&["-j", "rule", "show"])).unwrap(),
        neighbours: p::parse_neigh(&ip(&["-j", "neigh", "show"])).unwrap(),
        fdb: p::parse_fdb(&exec("bridge", &["-j", "fdb", "show"])).unwrap(),
    }
}

fn live(ns: Option<&Path>) -> Result<netlink::NetlinkFacts, String> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(netlink::collect(ns, Path::new("/")))
}

/// Field-by-field comparison with a readable first difference.
fn diff(a: &netlink::NetlinkFacts, b: &netlink::NetlinkFacts) -> Option<String> {
    fn first<T: std::fmt::Debug + PartialEq>(what: &str, x: &[T], y: &[T]) -> Option<String> {
        if x == y {
            return None;
        }
        for (i, (p, q)) in x.iter().zip(y).enumerate() {
            if p != q {
                return Some(format!("{what}[{i}]:\n live: {p:?}\n   ip: {q:?}"));
            }
        }
        Some(format!("{what}: {} live vs {} from ip: {:?} / {:?}", x.len(), y.len(), x.get(y.len()..), y.get(x.len()..)))
    }
    first("links", &a.links, &b.links)
        .or_else(|| first("addrs", &a.addrs, &b.addrs))
        .or_else(|| first("routes", &a.routes, &b.routes))
        .or_else(|| first("rules", &a.rules, &b.rules))
        .or_else(|| first("neighbours", &a.neighbours, &b.neighbours))
        .or_else(|| first("fdb", &a.fdb, &b.fdb))
}

#[test]
fn live_netlink_equals_the_capture_of_ip_output_in_the_same_namespace() {
    let (node, _peer) = require!(flannel_node());
    // The kernel may still change something between two reads (a neighbour entry learned
    // from the peer's IPv6 traffic): read live, then ip, then live again, and require the
    // ip read to equal one of the live reads bracketing it. Nothing is normalised.
    let mut last = String::new();
    for _ in 0..3 {
        let before = live(Some(&node.path())).unwrap();
        let ip = captured(&node);
        let after = live(Some(&node.path())).unwrap();
        match diff(&before, &ip).and(diff(&after, &ip)) {
            None => {
                // Sanity: the setup is in there, as the rules will see it.
                let f = &after;
                let vx = f.links.iter().find(|l| l.name == "flannel.1").unwrap();
                assert_eq!(vx.kind, "vxlan");
                let v = vx.vxlan.as_ref().unwrap();
                assert_eq!((v.id, v.local.map(|a| a.to_string()), v.port, v.dev.as_deref()), (1, Some("192.168.56.11".into()), Some(8472), Some("eth0")));
                assert_eq!(f.links.iter().find(|l| l.name == "veth1").unwrap().master.as_deref(), Some("cni0"));
                assert!(f.links.iter().find(|l| l.name == "veth1").unwrap().flags.contains(&"M-DOWN".to_string()));
                let texts: Vec<String> = f.routes.iter().map(|r| r.text()).collect();
                for want in [
                    "blackhole 10.244.9.0/24",
                    "10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink",
                    "default via 192.168.56.1 dev eth0 table 100",
                    "unreachable 10.99.0.0/16 table 100",
                    "10.0.0.0/8 dev eth0 table 200 proto static scope link metric 50",
                    "prohibit 10.98.0.0/16 proto bird",
                ] {
                    assert!(texts.iter().any(|t| t.starts_with(want) || t == want), "no route {want:?} in {texts:#?}");
                }
                assert!(f.routes.iter().any(|r| !r.is_v4() && r.dst.to_string() == "fd01::/64"), "IPv6 routes come with the IPv4 ones");
                assert_eq!(f.rules.iter().map(|r| r.priority).collect::<Vec<_>>(), [0, 100, 200, 300, 400, 500, 32766, 32767]);
                assert!(f.neighbours.iter().any(|n| n.dst.to_string() == "10.244.2.0" && n.state == ["PERMANENT"]));
                assert!(f.fdb.iter().any(|e| e.dev == "flannel.1" && e.dst.map(|d| d.to_string()).as_deref() == Some("192.168.56.12")));
                return;
            }
            Some(d) => last = d,
        }
    }
    panic!("live netlink facts differ from `ip -j` in the same namespace:\n{last}");
}

#[test]
fn live_netlink_equals_ip_output_in_this_process_namespace() {
    if netdoctor_testkit::run(std::process::Command::new("ip").arg("-V")).is_err() {
        eprintln!("skipped: iproute2 is not installed");
        return;
    }
    let mut last = String::new();
    for _ in 0..3 {
        let before = live(None).unwrap();
        let ip = captured_here();
        let after = live(None).unwrap();
        match diff(&before, &ip).and(diff(&after, &ip)) {
            None => return,
            Some(d) => last = d,
        }
    }
    panic!("live netlink facts differ from `ip -j` in this namespace:\n{last}");
}

#[test]
fn a_deleted_namespace_is_a_clear_error_not_a_panic() {
    let ns = require!(Netns::new("lhgone"));
    let path = ns.path();
    drop(ns);
    let e = live(Some(&path)).unwrap_err();
    assert!(e.contains(&path.display().to_string()) && e.contains("does not exist"), "{e}");
    // Through the Collector trait: an Err naming the collector, for `record` to keep stale facts.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let target = HostTarget { node: "n1".into(), netns: Some(path.clone()), root: "/".into() };
    for c in host::host_collectors(&target) {
        let name = c.name();
        match rt.block_on(c.collect()) {
            Err(e) => assert!(e.to_string().contains(&path.display().to_string()), "{name}: {e}"),
            // Sources that read files under the root, not the namespace.
            Ok(_) => assert!(["resolv_conf/n1", "subnet_env/n1", "kubelet/n1"].contains(&name.as_str()), "{name} read a deleted namespace"),
        }
    }
}

#[test]
fn a_namespace_deleted_during_collection_is_a_clear_error() {
    let ns = require!(Netns::new("lhdel"));
    // Enough routes that a collection takes a while.
    let mut batch = String::new();
    ns.ip(&["link", "add", "br0", "type", "bridge"]).unwrap();
    ns.link_up("br0").unwrap();
    for i in 0..4000u32 {
        batch.push_str(&format!("route add 10.{}.{}.0/24 dev br0\n", 100 + i / 256, i % 256));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), batch).unwrap();
    ns.ip(&["-batch", &file.path().display().to_string()]).unwrap();
    let path = ns.path();
    let name = ns.name().to_string();
    let deleter = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(3));
        netdoctor_testkit::run(std::process::Command::new("ip").args(["netns", "del", &name])).unwrap();
    });
    let r = live(Some(&path));
    deleter.join().unwrap();
    std::mem::forget(ns); // already deleted
    let e = r.expect_err("a namespace deleted during collection must not be reported as the host's");
    assert!(e.contains(&path.display().to_string()) && (e.contains("deleted during collection") || e.contains("does not exist")), "{e}");
}

#[test]
fn sysctls_are_read_for_the_namespace_being_collected() {
    let a = require!(Netns::new("lhsa"));
    let b = require!(Netns::new("lhsb"));
    a.sysctl("net.ipv4.ip_forward", "0").unwrap();
    b.sysctl("net.ipv4.ip_forward", "1").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let read = |ns: Option<&Path>| {
        let t = HostTarget { node: "n".into(), netns: ns.map(Path::to_path_buf), root: "/".into() };
        rt.block_on(host::read_sysctls(&t)).unwrap()
    };
    assert_eq!(read(Some(&a.path()))["net.ipv4.ip_forward"], "0");
    assert_eq!(read(Some(&b.path()))["net.ipv4.ip_forward"], "1");
    // This process's own value is what it reads itself, untouched by the namespaces.
    let own = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let mine = read(None);
    assert_eq!(mine["net.ipv4.ip_forward"], own.trim());
    // Non-net keys come from the root's /proc/sys.
    assert!(mine.contains_key("kernel.hostname"), "{} keys", mine.len());
    assert!(read(Some(&a.path())).contains_key("kernel.hostname"));
}

#[test]
fn iptables_save_runs_inside_the_namespace() {
    if host::iptables::which("iptables-save").is_none() {
        eprintln!("skipped: iptables-save is not installed");
        return;
    }
    let ns = require!(Netns::new("lhipt"));
    let ipt = |args: &[&str]| ns.exec("iptables", args);
    if let Err(e) = ipt(&["-t", "nat", "-N", "KUBE-SERVICES"]) {
        eprintln!("skipped: iptables does not work in a namespace here: {e}");
        return;
    }
    ipt(&["-t", "nat", "-A", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]).unwrap();
    ipt(&["-t", "nat", "-N", "KUBE-SVC-NPX46M4PTMTKRN6Y"]).unwrap();
    ipt(&["-t", "nat", "-N", "KUBE-SEP-ABCDEF"]).unwrap();
    ipt(&[
        "-t",
        "nat",
        "-A",
        "KUBE-SERVICES",
        "-d",
        "10.96.0.1/32",
        "-p",
        "tcp",
        "-m",
        "comment",
        "--comment",
        "default/kubernetes:https cluster IP",
        "-m",
        "tcp",
        "--dport",
        "443",
        "-j",
        "KUBE-SVC-NPX46M4PTMTKRN6Y",
    ])
    .unwrap();
    ipt(&["-t", "nat", "-A", "KUBE-SVC-NPX46M4PTMTKRN6Y", "-j", "KUBE-SEP-ABCDEF"]).unwrap();
    ipt(&["-t", "nat", "-A", "KUBE-SEP-ABCDEF", "-p", "tcp", "-m", "tcp", "-j", "DNAT", "--to-destination", "192.168.56.11:6443"]).unwrap();
    ipt(&["-P", "FORWARD", "DROP"]).unwrap();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let target = HostTarget { node: "n1".into(), netns: Some(ns.path()), root: "/".into() };
    let c = HostCollector { source: HostSource::Iptables, target };
    assert_eq!(c.name(), "iptables/n1");
    let Collection::Facts(set) = rt.block_on(c.collect()).unwrap() else { panic!("iptables-save is installed") };
    let t = set.host("n1").unwrap().iptables.get().unwrap().clone();
    let svc = t.chain("nat", "KUBE-SERVICES").unwrap();
    assert_eq!(svc.rules[0].target.as_deref(), Some("KUBE-SVC-NPX46M4PTMTKRN6Y"));
    assert_eq!(svc.rules[0].get(&["-d"]), Some("10.96.0.1/32"));
    assert_eq!(t.chain("nat", "KUBE-SEP-ABCDEF").unwrap().rules[0].get(&["--to-destination"]), Some("192.168.56.11:6443"));
    assert_eq!(t.chain("filter", "FORWARD").unwrap().policy.as_deref(), Some("DROP"));
    // The same as the capture reader makes of `iptables-save` run there.
    let text = ns.exec("iptables-save", &[]).unwrap();
    assert_eq!(t, netdoctor_collectors::iptables::parse(&text).unwrap());
    // And nothing of it in this process's namespace.
    let own = netdoctor_testkit::run(&mut std::process::Command::new("iptables-save")).unwrap_or_default();
    assert!(!own.contains("KUBE-SEP-ABCDEF"));
}

#[test]
fn every_host_collector_of_a_namespace() {
    let (node, _peer) = require!(flannel_node());
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/resolv.conf"), "nameserver 10.96.0.10\nsearch cluster.local\n").unwrap();
    let target = HostTarget { node: "node1".into(), netns: Some(node.path()), root: root.path().to_path_buf() };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let cs = host::host_collectors(&target);
    let names: Vec<String> = cs.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["netlink/node1", "ipvs/node1", "iptables/node1", "resolv_conf/node1", "sysctl/node1", "subnet_env/node1", "kubelet/node1"]);
    for c in cs {
        let name = c.name();
        match rt.block_on(c.collect()).unwrap_or_else(|e| panic!("{name}: {e}")) {
            Collection::NoData(why) => {
                println!("{name}: no data: {why}");
                assert!(["ipvs/node1", "subnet_env/node1", "kubelet/node1", "iptables/node1"].contains(&name.as_str()), "{name}: {why}");
            }
            Collection::Facts(set) => {
                let h = set.host("node1").unwrap();
                let present: Vec<_> =
                    netdoctor_engine::kind::FactKind::of(netdoctor_engine::kind::Scope::Host).filter(|k| h.state(*k).is_some_and(|s| s.present)).collect();
                let src = h.state(present[0]).unwrap().source.unwrap().to_string();
                assert!(src.starts_with(&format!("{name} (live, ")), "{src}");
                println!("{name}: {present:?}");
                if name == "sysctl/node1" {
                    assert!(h.sysctl.get().unwrap().contains_key("net.ipv4.conf.flannel/1.forwarding"));
                }
            }
        }
    }
}

#[test]
fn a_live_host_written_as_a_capture_reads_back_the_same() {
    let (node, _peer) = require!(flannel_node());
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/resolv.conf"), "nameserver 10.96.0.10\nsearch cluster.local\noptions ndots:5\n").unwrap();
    let target = HostTarget { node: "node1".into(), netns: Some(node.path()), root: root.path().to_path_buf() };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut set = netdoctor_engine::store::FactSet::new();
    for c in host::host_collectors(&target) {
        if let Collection::Facts(s) = rt.block_on(c.collect()).unwrap() {
            set.merge(*s);
        }
    }
    let live = set.host("node1").unwrap();
    let out = tempfile::tempdir().unwrap();
    netdoctor_collectors::write::host::write_host(out.path(), "node1", live).unwrap();
    let back = netdoctor_collectors::capture::read(out.path(), &Default::default()).unwrap();
    assert!(back.errors().is_empty(), "{:?}", back.errors());
    let b = back.host("node1").unwrap();
    if let Some(d) = live.value_difference(b) {
        panic!("written and read back, a host fact differs: {d}");
    }
    assert!(live.links.is_present() && live.sysctl.is_present() && live.resolv_conf.is_present());
}

#[test]
fn netlink_collects_on_a_current_thread_runtime_too() {
    let ns = require!(Netns::new("lhcur"));
    ns.bridge("br0").unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let f = rt.block_on(netlink::collect(Some(&ns.path()), Path::new("/"))).unwrap();
    assert_eq!(f.links.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["lo", "br0"]);
}
