//! The graph's conventions (rules-catalogue.md), on facts built in code:
//! lease ownership, pod bridges, host networks, the resolv.conf pods get, and
//! the provenance of what could not be read.

use ipnet::IpNet;
use netdoctor_engine::graph::PodResolv;
use netdoctor_engine::model::*;
use netdoctor_engine::{FactKind, FactSet, Graph, Object, Source};
use std::net::IpAddr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn node(name: &str, internal: &str, pod_cidr: &str) -> Node {
    Node {
        name: name.into(),
        addresses: vec![NodeAddress { kind: "InternalIP".into(), address: internal.into(), ip: Some(ip(internal)) }],
        pod_cidrs: vec![net(pod_cidr)],
        ..Default::default()
    }
}

fn lease(subnet: &str, public_ip: &str) -> FlannelLease {
    FlannelLease {
        subnet: net(subnet),
        public_ip: Some(ip(public_ip)),
        backend_type: Some("vxlan".into()),
        vtep_mac: None,
        source: Source::at("etcd/flannel.json", format!("/coreos.com/network/subnets/{}", subnet.replace('/', "-"))),
        key: None,
    }
}

fn link(ifindex: u32, name: &str, kind: &str, master: Option<&str>) -> Link {
    Link {
        ifindex,
        name: name.into(),
        kind: kind.into(),
        mtu: 1500,
        mac: None,
        master: master.map(str::to_string),
        operstate: "UP".into(),
        flags: vec![],
        vxlan: None,
    }
}

fn addr(dev: &str, cidr: &str) -> Addr {
    let n: IpNet = cidr.parse().unwrap();
    Addr { dev: dev.into(), local: n.addr(), prefix_len: n.prefix_len(), scope: RouteScope::GLOBAL }
}

fn src(f: &str) -> Source {
    Source::file(f)
}

fn build(set: FactSet) -> Graph {
    Graph::build(set, Vec::new(), &Default::default())
}

#[test]
fn lease_ownership_prefers_nodes_then_hosts_with_the_address() {
    let mut s = FactSet::new();
    s.collected(FactKind::Nodes, src("cluster/nodes.json"));
    s.apply(Object::Node(node("n1", "192.168.56.11", "10.244.1.0/24")));
    s.collected(FactKind::FlannelEtcd, src("etcd/flannel.json"));
    s.apply(Object::Lease(lease("10.244.1.0/24", "192.168.56.11")));
    s.apply(Object::Lease(lease("10.244.7.0/24", "192.168.56.7")));
    s.apply(Object::Lease(lease("10.244.9.0/24", "192.168.56.99")));
    // A host that is no Node (flanneld on a master without a kubelet) owns by its address.
    s.set_host("master", FactKind::Addrs, |h| h.addrs = Fact::present(src("nodes/master/ip-addr.json"), vec![addr("eth0", "192.168.56.7/24")]));
    let g = build(s);
    let owner = |subnet: &str| g.leases()[g.lease_by_subnet(&net(subnet)).unwrap()].owner.as_ref().map(|o| (g.host_name(o.host).to_string(), o.via.clone()));
    assert_eq!(owner("10.244.1.0/24").unwrap(), ("n1".to_string(), "Node n1 has InternalIP 192.168.56.11".to_string()));
    let (h, via) = owner("10.244.7.0/24").unwrap();
    assert_eq!(h, "master");
    assert!(via.contains("not a registered Node"), "{via}");
    assert!(owner("10.244.9.0/24").is_none(), "nobody has 192.168.56.99");
    let master = g.host_index("master").unwrap();
    assert_eq!(g.leases_of(master).len(), 1);
}

#[test]
fn kube_subnet_mgr_leases_come_from_node_annotations() {
    let mut s = FactSet::new();
    s.collected(FactKind::Nodes, src("cluster/nodes.json"));
    let mut n = node("n1", "192.168.56.11", "10.244.1.0/24");
    n.flannel = Some(FlannelAnnotations {
        public_ip: Some(ip("192.168.56.11")),
        backend_type: Some("vxlan".into()),
        vtep_mac: Some("aa:bb:cc:dd:ee:01".parse().unwrap()),
        kube_subnet_manager: true,
    });
    s.apply(Object::Node(n));
    let g = build(s);
    assert_eq!(g.leases().len(), 1);
    let l = &g.leases()[0];
    assert_eq!(l.lease.source.to_string(), "Node/n1");
    assert_eq!(l.lease.vtep_mac.unwrap().to_string(), "aa:bb:cc:dd:ee:01");
    assert_eq!(g.flannel_lease_source(), Ok("kube-subnet-mgr"));
}

#[test]
fn pod_bridges_have_veth_ports_or_a_pod_subnet_address() {
    let mut s = FactSet::new();
    s.collected(FactKind::Nodes, src("cluster/nodes.json"));
    s.apply(Object::Node(node("n1", "192.168.56.11", "10.244.1.0/24")));
    s.set_host("n1", FactKind::Links, |h| {
        h.links = Fact::present(
            src("nodes/n1/ip-link.json"),
            vec![
                link(1, "eth0", "", None),
                link(2, "cni0", "bridge", None),
                link(3, "vethabc", "veth", Some("cni0")),
                link(4, "docker0", "bridge", None),
                link(5, "br-idle", "bridge", None),
                link(6, "kube-ipvs0", "bridge", None),
            ],
        )
    });
    s.set_host("n1", FactKind::Addrs, |h| {
        h.addrs = Fact::present(
            src("nodes/n1/ip-addr.json"),
            vec![addr("eth0", "192.168.56.11/24"), addr("docker0", "172.17.0.1/16"), addr("br-idle", "10.244.1.200/24")],
        )
    });
    let g = build(s);
    let t = g.host_index("n1").unwrap();
    let bridges: Vec<String> = g.pod_bridges(t).unwrap().into_iter().map(|(n, _)| n).collect();
    // cni0 has a veth; br-idle's address lies in the node's podCIDR; the idle docker0 is not one.
    assert_eq!(bridges, vec!["cni0", "br-idle"]);
}

#[test]
fn host_networks_skip_cni_interfaces_and_add_the_internal_ip() {
    let mut s = FactSet::new();
    s.collected(FactKind::Nodes, src("cluster/nodes.json"));
    s.apply(Object::Node(node("n1", "10.0.0.5", "10.244.1.0/24")));
    s.set_host("n1", FactKind::Addrs, |h| {
        h.addrs = Fact::present(
            src("nodes/n1/ip-addr.json"),
            vec![addr("lo", "127.0.0.1/8"), addr("eth0", "192.168.56.11/24"), addr("cni0", "10.244.1.1/24"), addr("flannel.1", "10.244.1.0/32")],
        )
    });
    let g = build(s);
    let nets: Vec<IpNet> = g.host_networks(g.host_index("n1").unwrap()).into_iter().map(|(n, _)| n).collect();
    assert_eq!(nets, vec![net("192.168.56.0/24"), net("10.0.0.5/32")]);
}

#[test]
fn pods_get_the_kubelet_resolv_conf_else_the_configured_else_the_host_one() {
    let ns = |addr: &str| ResolvConf { nameservers: vec![Nameserver { line: 1, ip: ip(addr) }], ..Default::default() };
    let mut s = FactSet::new();
    s.set_host("a", FactKind::ResolvConf, |h| h.resolv_conf = Fact::present(src("nodes/a/resolv.conf"), ns("127.0.0.53")));
    s.set_host("a", FactKind::KubeletResolvConf, |h| h.kubelet_resolv_conf = Fact::present(src("nodes/a/kubelet-resolv.conf"), ns("10.0.0.2")));
    s.set_host("b", FactKind::ResolvConf, |h| h.resolv_conf = Fact::present(src("nodes/b/resolv.conf"), ns("127.0.0.53")));
    s.set_host("b", FactKind::KubeletConfig, |h| {
        h.kubelet_config = Fact::present(src("nodes/b/kubelet-config.yaml"), KubeletResolv { resolv_conf: Some("/run/systemd/resolve/resolv.conf".into()) })
    });
    s.set_host("c", FactKind::ResolvConf, |h| h.resolv_conf = Fact::present(src("nodes/c/resolv.conf"), ns("127.0.0.53")));
    s.set_host("d", FactKind::ResolvConf, |h| {
        h.resolv_conf = Fact::Broken { source: src("nodes/d/resolv.conf"), error: "line 2: nameserver: expected an IP address".into() }
    });
    let g = build(s);
    let get = |n: &str| g.pod_resolv_conf(g.host_index(n).unwrap());
    match get("a") {
        PodResolv::File { conf, .. } => assert_eq!(conf.nameservers[0].ip, ip("10.0.0.2")),
        other => panic!("{other:?}"),
    }
    match get("b") {
        PodResolv::Unknown(why) => assert!(why.contains("/run/systemd/resolve/resolv.conf, which was not captured"), "{why}"),
        other => panic!("{other:?}"),
    }
    match get("c") {
        PodResolv::File { conf, how, .. } => {
            assert_eq!(conf.nameservers[0].ip, ip("127.0.0.53"));
            assert!(how.contains("assumed the kubelet default"), "{how}");
        }
        other => panic!("{other:?}"),
    }
    match get("d") {
        PodResolv::Unknown(why) => assert_eq!(why, "could not be read: nodes/d/resolv.conf: line 2: nameserver: expected an IP address"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_broken_entry_makes_the_kind_unavailable_with_its_reason_never_not_collected() {
    let mut s = FactSet::new();
    s.collected(FactKind::Endpoints, src("cluster/endpointslices.json"));
    s.broken(FactKind::Endpoints, Source::at("cluster/endpointslices.json", "$.items[1]"), "metadata.name: expected a string");
    let g = build(s);
    assert!(!g.has(FactKind::Endpoints));
    assert_eq!(g.unavailable(FactKind::Endpoints).unwrap(), "could not be read: cluster/endpointslices.json: $.items[1]: metadata.name: expected a string");
    assert_eq!(g.unavailable(FactKind::Services).unwrap(), "services not collected");
    assert_eq!(g.errors().len(), 1);
}

#[test]
fn selected_pods_use_the_label_index_and_the_namespace() {
    let mut s = FactSet::new();
    s.collected(FactKind::Pods, src("cluster/pods.json"));
    s.collected(FactKind::Services, src("cluster/services.json"));
    let pod = |ns: &str, name: &str, app: &str| Pod {
        namespace: ns.into(),
        name: name.into(),
        resource_version: 1,
        node: Some("n1".into()),
        phase: Some(PodPhase::Running),
        reason: None,
        ips: vec![],
        host_network: false,
        labels: [("app".to_string(), app.to_string()), ("tier".to_string(), "web".to_string())].into(),
        owner: None,
        mirror: false,
        conditions: vec![],
        containers: vec![],
        ports: vec![],
    };
    s.apply(Object::Pod(pod("default", "web-1", "web")));
    s.apply(Object::Pod(pod("default", "api-1", "api")));
    s.apply(Object::Pod(pod("other", "web-2", "web")));
    s.apply(Object::Service(Service {
        namespace: "default".into(),
        name: "web".into(),
        resource_version: 1,
        kind: ServiceType::ClusterIP,
        cluster_ips: vec![ip("10.96.0.20")],
        ports: vec![],
        selector: [("app".to_string(), "web".to_string()), ("tier".to_string(), "web".to_string())].into(),
    }));
    let g = build(s);
    let sel: Vec<String> = g.selected_pods(0).into_iter().map(|i| g.pods()[i].name.clone()).collect();
    assert_eq!(sel, vec!["web-1"]);
    assert_eq!(g.service_by_ip(ip("10.96.0.20")), Some(0));
}
