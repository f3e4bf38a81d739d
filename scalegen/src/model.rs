//! The cluster model every file is rendered from: nodes and their addresses,
//! leases, pods and their readiness, Services and their endpoints, and where
//! each injected fault sits. [`Cluster::build`] is the whole of the
//! randomness; the writers in `kube` and `host` only render it.

use crate::rng::{mix, Mac, Rng};
use crate::{Expected, Proxy, Spec};
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// `meta.json`'s captured_at, and "now" for every timestamp in the capture.
pub const CAPTURED_AT: &str = "2024-05-20T08:30:00Z";
/// [`CAPTURED_AT`] in Unix seconds.
pub const CAPTURED_AT_UNIX: i64 = 1_716_193_800;
/// When kubeadm init ran (healthy-flannel's master was created then).
pub const CLUSTER_CREATED_UNIX: i64 = 1_712_049_243;
/// kubeadm's default service CIDR, declared in kubeadm-config.
pub const SERVICE_CIDR: &str = "10.96.0.0/12";
/// The underlay every node sits on: one flat /16, outside 10/8 so it never
/// overlaps the pod or service networks.
pub const NODE_NET: Ipv4Addr = Ipv4Addr::new(172, 20, 0, 0);
pub const NODE_PREFIX: u8 = 16;
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(172, 20, 0, 1);
pub const FLANNEL_MTU: u32 = 1450;
/// Pods per node are capped below this so that `.251`–`.254` of every lease
/// stay free (the stale IPVS real server uses `.253`).
const MAX_PODS_PER_NODE: usize = 250;
/// The most nodes the address plan holds (10.128.0.0/9 has 32,768 /24s).
pub const MAX_NODES: usize = 32_000;

/// The pod network: 10.244.0.0/16 (flannel's default) while every lease
/// fits in it, else 10.128.0.0/9. Either stays clear of 10.96.0.0/12 and of
/// the node network.
#[derive(Debug, Clone, Copy)]
pub struct PodNet {
    base: u32,
    prefix: u8,
}

impl PodNet {
    fn for_leases(n: usize) -> PodNet {
        if n <= 256 {
            PodNet { base: u32::from(Ipv4Addr::new(10, 244, 0, 0)), prefix: 16 }
        } else {
            PodNet { base: u32::from(Ipv4Addr::new(10, 128, 0, 0)), prefix: 9 }
        }
    }

    /// The k-th /24 lease's network address.
    pub fn subnet(&self, k: usize) -> Ipv4Addr {
        Ipv4Addr::from(self.base + ((k as u32) << 8))
    }

    pub fn cidr(&self) -> String {
        format!("{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// One machine: a Node object, and a host folder when captured.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub uid: String,
    pub ip: Ipv4Addr,
    /// Network address of its /24 (podCIDR, and its lease unless it lost it).
    pub subnet: Ipv4Addr,
    pub master: bool,
    pub ready: bool,
    pub has_lease: bool,
    pub captured: bool,
    pub eth_mac: Mac,
    pub vtep_mac: Mac,
    pub cni_mac: Mac,
    pub ipvs_mac: Mac,
    /// Unix seconds the node registered.
    pub created: i64,
    /// Pods with an address on the pod network, in IP order (the host's veths).
    pub local_pods: Vec<u32>,
    next_host: u8,
}

impl Node {
    pub fn cidr(&self) -> String {
        format!("{}/24", self.subnet)
    }

    pub fn subnet_host(&self, host: u8) -> Ipv4Addr {
        let o = self.subnet.octets();
        Ipv4Addr::new(o[0], o[1], o[2], host)
    }
}

/// What a pod is, which decides how it is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodKind {
    /// A kubeadm static pod on the control plane (mirror pod), by template name.
    Static(&'static str),
    Flannel,
    KubeProxy,
    CoreDns,
    /// metrics-server (a kube-system Deployment, the addon evicted on disk pressure).
    MetricsServer,
    /// A replica of app deployment `n`.
    App(u32),
}

/// Readiness as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodState {
    Ready,
    /// Running, readiness probe failing: container and pod not Ready.
    Unready,
    /// The node went NotReady: the node controller set the pod's Ready
    /// condition False; the containers last reported ready.
    NodeLost,
    /// Container waiting in CrashLoopBackOff.
    CrashLoop,
    /// phase Failed, reason Evicted, no IP.
    Evicted,
}

#[derive(Debug, Clone)]
pub struct Pod {
    pub ns: u32,
    pub name: String,
    pub uid: String,
    pub node: u32,
    /// None for hostNetwork pods (their IP is the node's) and evicted ones.
    pub ip: Option<Ipv4Addr>,
    pub kind: PodKind,
    pub state: PodState,
    /// Unix seconds it was created.
    pub created: i64,
}

impl Pod {
    pub fn ready(&self) -> bool {
        self.state == PodState::Ready
    }
}

#[derive(Debug, Clone)]
pub struct ContainerPort {
    pub name: &'static str,
    pub port: u16,
    pub proto: &'static str,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    pub ns: u32,
    pub name: String,
    pub rs_hash: String,
    pub rs_uid: String,
    pub image: &'static str,
    pub ports: Vec<ContainerPort>,
    pub pods: Vec<u32>,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct ServicePort {
    pub name: &'static str,
    pub port: u16,
    pub target: u16,
    pub proto: &'static str,
    pub node_port: Option<u16>,
}

/// One endpoint address of a Service (all its ports share it).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    pub ready: bool,
    pub pod: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub ns: u32,
    pub name: String,
    pub uid: String,
    pub ip: Ipv4Addr,
    pub ports: Vec<ServicePort>,
    /// `(key, value)` of a one-label selector; None for default/kubernetes.
    pub selector: Option<(&'static str, String)>,
    pub labels: Vec<(&'static str, String)>,
    pub annotations: Vec<(&'static str, &'static str)>,
    pub endpoints: Vec<Endpoint>,
    pub created: i64,
    /// App deployment it selects.
    pub deployment: Option<u32>,
}

impl Service {
    pub fn node_port(&self) -> bool {
        self.ports.iter().any(|p| p.node_port.is_some())
    }

    pub fn ready_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(|e| e.ready)
    }
}

/// Where the faults sit (node, pod and service indices).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Captured host with no IPv4 default route.
    pub no_default_route: Option<usize>,
    /// (captured host, peer whose lease it has no route, neighbour or FDB entry for).
    pub route_missing: Option<(usize, usize)>,
    /// (captured peer holding stale entries, node whose MAC they carry wrongly, the stale MAC).
    pub vtep_stale: Option<(usize, usize, Mac)>,
    /// (captured host, service): IPVS: one extra real server; iptables: its KUBE-SERVICES jumps are gone.
    pub proxy_stale: Option<(usize, usize)>,
    pub ip_forward_off: Option<usize>,
    pub mtu_too_big: Option<usize>,
    pub lease_missing: Option<usize>,
    pub not_ready: Option<usize>,
    pub evictions: Option<usize>,
    pub coredns_crash: Option<usize>,
    pub no_endpoints: Option<usize>,
    /// (subnet, PublicIP, VtepMAC) of a lease no host owns.
    pub orphan_lease: Option<(Ipv4Addr, Ipv4Addr, Mac)>,
    /// Services of the outage (only not-ready endpoints).
    pub outage: Vec<usize>,
}

/// The whole generated cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub spec: Spec,
    pub name: String,
    pub pod_net: PodNet,
    pub namespaces: Vec<String>,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub deployments: Vec<Deployment>,
    pub services: Vec<Service>,
    pub faults: Faults,
    /// UIDs of the DaemonSets / ReplicaSets the system pods belong to.
    pub flannel_ds_uid: String,
    pub proxy_ds_uid: String,
    pub coredns_rs: (String, String),
    pub metrics_rs: (String, String),
    pub metrics_old_rs: (String, String),
    pub seed: u64,
}

const NS_DEFAULT: u32 = 0;
const NS_KUBE_SYSTEM: u32 = 1;
const NS_KUBE_FLANNEL: u32 = 2;

const APP_WORDS: &[&str] = &[
    "api",
    "web",
    "cart",
    "checkout",
    "search",
    "auth",
    "billing",
    "catalog",
    "orders",
    "payments",
    "inventory",
    "shipping",
    "reviews",
    "profile",
    "notify",
    "gateway",
    "ledger",
    "media",
    "feed",
    "quotes",
    "pricing",
    "session",
    "export",
    "report",
];

const APP_IMAGES: &[&str] = &[
    "docker.io/library/nginx:1.25.4",
    "registry.example.com/shop/backend:2.14.1",
    "registry.example.com/shop/frontend:5.3.0",
    "registry.example.com/platform/api-gateway:1.9.7",
    "docker.io/library/python:3.12-slim",
    "registry.example.com/data/worker:0.31.2",
];

const STATIC_PODS: &[&str] = &["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

impl Cluster {
    pub fn build(spec: &Spec) -> std::io::Result<Cluster> {
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
        if spec.nodes == 0 || spec.nodes > MAX_NODES {
            return Err(invalid(format!("nodes must be 1..={MAX_NODES}, not {}", spec.nodes)));
        }
        if spec.faults && spec.nodes < 8 {
            return Err(invalid(format!("faults need at least 8 nodes (each fault sits on its own node), not {}", spec.nodes)));
        }
        let root = Rng::new(spec.seed);
        let n = spec.nodes;
        let hosts = spec.hosts.min(n);
        let pod_net = PodNet::for_leases(n + 1);
        let width = (n - 1).to_string().len().max(4);

        // -- nodes
        let mut rng = root.fork(1);
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| Node {
                name: format!("node-{i:0width$}"),
                uid: rng.uid(),
                ip: Ipv4Addr::from(u32::from(NODE_NET) + 10 + i as u32),
                subnet: pod_net.subnet(i),
                master: i == 0,
                ready: true,
                has_lease: true,
                captured: i < hosts,
                eth_mac: {
                    let v = rng.next_u64().to_be_bytes();
                    Mac([0x52, 0x54, 0x00, v[0], v[1], v[2]])
                },
                vtep_mac: rng.local_mac(),
                cni_mac: rng.local_mac(),
                ipvs_mac: rng.local_mac(),
                created: CLUSTER_CREATED_UNIX + if i == 0 { 0 } else { 400 + 60 * i as i64 + rng.below(50) as i64 },
                local_pods: Vec::new(),
                next_host: 2,
            })
            .collect();

        let mut faults = Faults::default();
        // cluster-only node faults go to nodes without a folder where there are any
        let mut frng = root.fork(2);
        let mut taken: Vec<usize> = vec![0];
        let uncaptured: Vec<usize> = (hosts.max(1)..n).collect();
        let captured_workers: Vec<usize> = (1..hosts).collect();
        let pick_node = |frng: &mut Rng, taken: &mut Vec<usize>| -> usize {
            for pool in [&uncaptured, &captured_workers] {
                let free: Vec<usize> = pool.iter().copied().filter(|i| !taken.contains(i)).collect();
                if !free.is_empty() {
                    let i = free[frng.below(free.len())];
                    taken.push(i);
                    return i;
                }
            }
            let free: Vec<usize> = (1..n).filter(|i| !taken.contains(i)).collect();
            let i = free[frng.below(free.len())];
            taken.push(i);
            i
        };
        if spec.faults {
            let l = pick_node(&mut frng, &mut taken);
            let r = pick_node(&mut frng, &mut taken);
            let e = pick_node(&mut frng, &mut taken);
            faults.lease_missing = Some(l);
            faults.not_ready = Some(r);
            faults.evictions = Some(e);
            nodes[l].has_lease = false;
            nodes[r].ready = false;
            let orphan_k = n; // the /24 right after the last node's
            faults.orphan_lease = Some((pod_net.subnet(orphan_k), Ipv4Addr::from(u32::from(NODE_NET) + 10 + n as u32 + 17), frng.local_mac()));
        }
        // CoreDNS and metrics-server run on healthy workers
        let healthy: Vec<usize> = (1..n).filter(|i| !taken.contains(i)).collect();
        let coredns_nodes: [usize; 2] = if healthy.len() >= 2 {
            let a = healthy[frng.below(healthy.len())];
            let rest: Vec<usize> = healthy.iter().copied().filter(|&i| i != a).collect();
            [a, rest[frng.below(rest.len())]]
        } else if n >= 3 {
            [1, 2]
        } else {
            [n - 1, 0]
        };
        let metrics_node = if healthy.is_empty() { n - 1 } else { healthy[frng.below(healthy.len())] };

        let mut c = Cluster {
            spec: spec.clone(),
            name: format!("scale-{n}"),
            pod_net,
            namespaces: vec!["default".into(), "kube-system".into(), "kube-flannel".into()],
            nodes,
            pods: Vec::new(),
            deployments: Vec::new(),
            services: Vec::new(),
            faults,
            flannel_ds_uid: root.fork(3).uid(),
            proxy_ds_uid: root.fork(4).uid(),
            coredns_rs: ("5dd5756b68".into(), root.fork(5).uid()),
            metrics_rs: (root.fork(6).template_hash(), root.fork(7).uid()),
            metrics_old_rs: (root.fork(8).template_hash(), root.fork(9).uid()),
            seed: spec.seed,
        };

        // -- system pods
        let mut prng = root.fork(10);
        let boot = CLUSTER_CREATED_UNIX + 2;
        for comp in STATIC_PODS {
            c.add_pod(NS_KUBE_SYSTEM, format!("{comp}-{}", c.nodes[0].name), 0, PodKind::Static(comp), false, boot);
        }
        for i in 0..n {
            let created = c.nodes[i].created + 52;
            let sfx = prng.suffix(5);
            c.add_pod(NS_KUBE_FLANNEL, format!("kube-flannel-ds-{sfx}"), i, PodKind::Flannel, false, created);
            let sfx = prng.suffix(5);
            c.add_pod(NS_KUBE_SYSTEM, format!("kube-proxy-{sfx}"), i, PodKind::KubeProxy, false, created);
        }
        for (k, &node) in coredns_nodes.iter().enumerate() {
            let sfx = prng.suffix(5);
            let p = c.add_pod(NS_KUBE_SYSTEM, format!("coredns-{}-{sfx}", c.coredns_rs.0), node, PodKind::CoreDns, true, boot + 400);
            if spec.faults && k == 0 {
                c.pods[p].state = PodState::CrashLoop;
                c.faults.coredns_crash = Some(p);
            }
        }
        let sfx = prng.suffix(5);
        let ms = c.add_pod(
            NS_KUBE_SYSTEM,
            format!("metrics-server-{}-{sfx}", c.metrics_rs.0),
            metrics_node,
            PodKind::MetricsServer,
            true,
            CAPTURED_AT_UNIX - 3 * 3600,
        );
        let _ = ms;
        if let Some(e) = c.faults.evictions {
            for _ in 0..2 {
                let sfx = prng.suffix(5);
                let p = c.add_pod(NS_KUBE_SYSTEM, format!("metrics-server-{}-{sfx}", c.metrics_old_rs.0), e, PodKind::MetricsServer, false, boot + 86_400);
                c.pods[p].state = PodState::Evicted;
            }
        }

        // -- app deployments and their pods
        let system_pods = c.pods.len();
        let app_pods = spec.pods.saturating_sub(system_pods);
        let app_services = spec.services.saturating_sub(3);
        let deployments = if app_pods == 0 { 0 } else { app_services.max(1) };
        let app_ns = (deployments / 100).max(1);
        let first_app_ns = c.namespaces.len() as u32;
        for k in 0..app_ns {
            c.namespaces.push(format!("team-{k:02}"));
        }
        let mut drng = root.fork(11);
        for d in 0..deployments {
            let name = format!("{}-{}", APP_WORDS[d % APP_WORDS.len()], d / APP_WORDS.len());
            let mut ports = vec![ContainerPort { name: "http", port: 8080, proto: "TCP" }];
            if drng.one_in(5) {
                ports.push(ContainerPort { name: "metrics", port: 9090, proto: "TCP" });
            }
            if drng.one_in(25) {
                ports.push(ContainerPort { name: "dns", port: 5353, proto: "UDP" });
            }
            c.deployments.push(Deployment {
                ns: first_app_ns + (d % app_ns) as u32,
                name,
                rs_hash: drng.template_hash(),
                rs_uid: drng.uid(),
                image: APP_IMAGES[drng.below(APP_IMAGES.len())],
                ports,
                pods: Vec::new(),
                created: CAPTURED_AT_UNIX - 6 * 86_400 - drng.below(30 * 86_400) as i64,
            });
        }
        let workers: Vec<usize> = (0..n).collect();
        let mut arng = root.fork(12);
        for d in 0..deployments {
            let replicas = (app_pods / deployments + usize::from(d < app_pods % deployments)).max(1);
            for _ in 0..replicas {
                // the less loaded of two random workers: realistic spread, no overfull node
                let a = workers[arng.below(workers.len())];
                let b = workers[arng.below(workers.len())];
                let node = if c.nodes[a].local_pods.len() <= c.nodes[b].local_pods.len() { a } else { b };
                let node = if c.nodes[node].local_pods.len() >= MAX_PODS_PER_NODE {
                    match workers.iter().copied().find(|&w| c.nodes[w].local_pods.len() < MAX_PODS_PER_NODE) {
                        Some(w) => w,
                        None => return Err(invalid(format!("{} pods do not fit {MAX_PODS_PER_NODE} per node on {n} nodes", spec.pods))),
                    }
                } else {
                    node
                };
                let dep = &c.deployments[d];
                let name = format!("{}-{}-{}", dep.name, dep.rs_hash, arng.suffix(5));
                let created = dep.created + arng.below(5 * 86_400) as i64;
                let ns = dep.ns;
                let p = c.add_pod(ns, name, node, PodKind::App(d as u32), true, created);
                c.deployments[d].pods.push(p as u32);
            }
        }
        // a node's veths in IP order
        for node in &mut c.nodes {
            node.local_pods.sort_by_key(|&p| c.pods[p as usize].ip);
        }
        if let Some(r) = c.faults.not_ready {
            for p in c.pods.iter_mut().filter(|p| p.node as usize == r) {
                p.state = PodState::NodeLost;
            }
        }

        // -- services
        let mut srng = root.fork(13);
        let mut used_ips: HashSet<u32> = HashSet::new();
        let svc_base = u32::from(Ipv4Addr::new(10, 96, 0, 0));
        used_ips.extend([svc_base, svc_base + 1, svc_base + 10, svc_base + (1 << 20) - 1]);
        let kubernetes = Service {
            ns: NS_DEFAULT,
            name: "kubernetes".into(),
            uid: srng.uid(),
            ip: Ipv4Addr::from(svc_base + 1),
            ports: vec![ServicePort { name: "https", port: 443, target: 6443, proto: "TCP", node_port: None }],
            selector: None,
            labels: vec![("component", "apiserver".into()), ("provider", "kubernetes".into())],
            annotations: vec![],
            endpoints: vec![Endpoint { ip: c.nodes[0].ip, ready: true, pod: None }],
            created: CLUSTER_CREATED_UNIX + 6,
            deployment: None,
        };
        c.services.push(kubernetes);
        c.services.push(Service {
            ns: NS_KUBE_SYSTEM,
            name: "kube-dns".into(),
            uid: srng.uid(),
            ip: Ipv4Addr::from(svc_base + 10),
            ports: vec![
                ServicePort { name: "dns", port: 53, target: 53, proto: "UDP", node_port: None },
                ServicePort { name: "dns-tcp", port: 53, target: 53, proto: "TCP", node_port: None },
                ServicePort { name: "metrics", port: 9153, target: 9153, proto: "TCP", node_port: None },
            ],
            selector: Some(("k8s-app", "kube-dns".into())),
            labels: vec![("k8s-app", "kube-dns".into()), ("kubernetes.io/cluster-service", "true".into()), ("kubernetes.io/name", "CoreDNS".into())],
            annotations: vec![("prometheus.io/port", "9153"), ("prometheus.io/scrape", "true")],
            endpoints: Vec::new(),
            created: CLUSTER_CREATED_UNIX + 8,
            deployment: None,
        });
        let ms_ip = c.random_service_ip(&mut srng, &mut used_ips);
        c.services.push(Service {
            ns: NS_KUBE_SYSTEM,
            name: "metrics-server".into(),
            uid: srng.uid(),
            ip: ms_ip,
            ports: vec![ServicePort { name: "https", port: 443, target: 10250, proto: "TCP", node_port: None }],
            selector: Some(("k8s-app", "metrics-server".into())),
            labels: vec![("k8s-app", "metrics-server".into())],
            annotations: vec![],
            endpoints: Vec::new(),
            created: boot + 86_400,
            deployment: None,
        });
        let mut next_node_port: u16 = 30000 + srng.below(100) as u16;
        for d in 0..app_services.min(deployments) {
            let dep = &c.deployments[d];
            let mut ports = vec![];
            let node_port = srng.one_in(20);
            for cp in &dep.ports {
                let port = match cp.name {
                    "http" => 80,
                    "dns" => 53,
                    _ => cp.port,
                };
                let np = if node_port && cp.proto == "TCP" && next_node_port < 32767 {
                    next_node_port += 1 + srng.below(3) as u16;
                    Some(next_node_port.min(32767))
                } else {
                    None
                };
                ports.push(ServicePort { name: cp.name, port, target: cp.port, proto: cp.proto, node_port: np });
            }
            let ip = c.random_service_ip(&mut srng, &mut used_ips);
            let dep = &c.deployments[d];
            c.services.push(Service {
                ns: dep.ns,
                name: dep.name.clone(),
                uid: srng.uid(),
                ip,
                ports,
                selector: Some(("app", dep.name.clone())),
                labels: vec![("app", dep.name.clone())],
                annotations: vec![],
                endpoints: Vec::new(),
                created: dep.created,
                deployment: Some(d as u32),
            });
        }

        // -- service faults: pods failing readiness
        let app_svcs: Vec<usize> = (3..c.services.len()).collect();
        let mut vrng = root.fork(14);
        let mut svc_taken: Vec<usize> = Vec::new();
        let pick_svc = |vrng: &mut Rng, taken: &mut Vec<usize>, ok: &dyn Fn(usize) -> bool| -> Option<usize> {
            let free: Vec<usize> = app_svcs.iter().copied().filter(|s| !taken.contains(s) && ok(*s)).collect();
            if free.is_empty() {
                return None;
            }
            let s = free[vrng.below(free.len())];
            taken.push(s);
            Some(s)
        };
        if spec.faults {
            c.faults.no_endpoints = pick_svc(&mut vrng, &mut svc_taken, &|_| true);
            // kept healthy: the stale-backend service must have ready endpoints elsewhere
            let svcs = &c.services;
            let pods = &c.pods;
            let deps = &c.deployments;
            let nr = c.faults.not_ready;
            let t = pick_svc(&mut vrng, &mut svc_taken, &|s| {
                let svc = &svcs[s];
                !svc.node_port() && deps[svc.deployment.unwrap() as usize].pods.iter().any(|&p| Some(pods[p as usize].node as usize) != nr)
            });
            if let Some(t) = t {
                c.faults.proxy_stale = Some((usize::MAX, t));
            }
        }
        for _ in 0..spec.outage_services {
            match pick_svc(&mut vrng, &mut svc_taken, &|_| true) {
                Some(s) => c.faults.outage.push(s),
                None => break,
            }
        }
        let unready: Vec<usize> = c.faults.no_endpoints.iter().chain(c.faults.outage.iter()).copied().collect();
        for s in unready {
            let d = c.services[s].deployment.unwrap() as usize;
            for &p in &c.deployments[d].pods {
                let pod = &mut c.pods[p as usize];
                if pod.state == PodState::Ready {
                    pod.state = PodState::Unready;
                }
            }
        }

        // -- endpoints (EndpointSlices list every pod with an IP, ready or not)
        for s in 1..c.services.len() {
            let eps: Vec<Endpoint> = match c.services[s].deployment {
                Some(d) => c.deployments[d as usize].pods.iter().map(|&p| c.endpoint_of(p as usize)).collect(),
                None => {
                    let want = if c.services[s].name == "kube-dns" { PodKind::CoreDns } else { PodKind::MetricsServer };
                    (0..c.pods.len()).filter(|&p| c.pods[p].kind == want && c.pods[p].ip.is_some()).map(|p| c.endpoint_of(p)).collect()
                }
            };
            c.services[s].endpoints = eps;
        }

        // -- host faults, on captured hosts (workers first, then the master), each on its own host while there are enough
        if spec.faults && hosts > 0 {
            // hosts no cluster fault sits on first, then the rest
            let all: Vec<usize> = (1..hosts).chain(std::iter::once(0)).collect();
            let mut order: Vec<usize> = all.iter().copied().filter(|i| !taken[1..].contains(i)).collect();
            order.extend(all.iter().copied().filter(|i| taken[1..].contains(i)));
            let host_faulty: Vec<usize> = order.iter().copied().take(6).collect();
            let at = |k: usize| order[k % order.len()];
            let mut hrng = root.fork(15);
            let l = c.faults.lease_missing;
            c.faults.no_default_route = Some(at(0));
            let hv = at(2);
            let x = {
                let free: Vec<usize> = (0..n).filter(|&i| i != hv && Some(i) != l && !taken.contains(&i) && !host_faulty.contains(&i)).collect();
                let free = if free.is_empty() { (0..n).filter(|&i| i != hv && Some(i) != l).collect() } else { free };
                free[hrng.below(free.len())]
            };
            let mut stale = hrng.local_mac();
            if stale == c.nodes[x].vtep_mac {
                stale.0[5] ^= 1;
            }
            c.faults.vtep_stale = Some((hv, x, stale));
            let hr = at(1);
            let p = {
                let free: Vec<usize> = (0..n).filter(|&i| i != hr && i != x && Some(i) != l).collect();
                free[hrng.below(free.len())]
            };
            c.faults.route_missing = Some((hr, p));
            if let Some((_, t)) = c.faults.proxy_stale {
                c.faults.proxy_stale = Some((at(3), t));
            }
            c.faults.ip_forward_off = Some(at(4));
            c.faults.mtu_too_big = Some(at(5));
        } else {
            c.faults.proxy_stale = None;
        }
        Ok(c)
    }

    fn add_pod(&mut self, ns: u32, name: String, node: usize, kind: PodKind, pod_network: bool, created: i64) -> usize {
        let idx = self.pods.len();
        let ip = if pod_network {
            let n = &mut self.nodes[node];
            let ip = n.subnet_host(n.next_host);
            n.next_host += 1;
            n.local_pods.push(idx as u32);
            Some(ip)
        } else {
            None
        };
        let uid = Rng::new(mix(self.seed ^ mix(idx as u64 + 0xa11c))).uid();
        self.pods.push(Pod { ns, name, uid, node: node as u32, ip, kind, state: PodState::Ready, created });
        idx
    }

    fn random_service_ip(&self, rng: &mut Rng, used: &mut HashSet<u32>) -> Ipv4Addr {
        let base = u32::from(Ipv4Addr::new(10, 96, 0, 0));
        loop {
            let ip = base + rng.below(1 << 20) as u32;
            if used.insert(ip) {
                return Ipv4Addr::from(ip);
            }
        }
    }

    fn endpoint_of(&self, p: usize) -> Endpoint {
        let pod = &self.pods[p];
        Endpoint { ip: pod.ip.expect("endpoints are pods with an IP"), ready: pod.ready(), pod: Some(p as u32) }
    }

    pub fn ns(&self, i: u32) -> &str {
        &self.namespaces[i as usize]
    }

    pub fn proxy(&self) -> Proxy {
        self.spec.proxy
    }

    /// The leases in etcd: (subnet, PublicIP, VtepMAC, owner node).
    pub fn leases(&self) -> Vec<(Ipv4Addr, Ipv4Addr, Mac, Option<usize>)> {
        let mut out: Vec<_> = self.nodes.iter().enumerate().filter(|(_, n)| n.has_lease).map(|(i, n)| (n.subnet, n.ip, n.vtep_mac, Some(i))).collect();
        if let Some((subnet, ip, mac)) = self.faults.orphan_lease {
            out.push((subnet, ip, mac, None));
        }
        out
    }

    /// The findings the faults must produce, sorted.
    pub fn expected(&self) -> Vec<Expected> {
        let f = &self.faults;
        let node = |i: usize| Expected::node(&self.nodes[i].name);
        let svc = |s: usize| format!("Service/{}/{}", self.ns(self.services[s].ns), self.services[s].name);
        let mut out = Vec::new();
        if let Some(h) = f.no_default_route {
            out.push(node(h).rule("node-no-default-route"));
            if self.proxy() == Proxy::Iptables {
                // no kube-ipvs0: every ClusterIP falls to the (missing) default route
                for s in 0..self.services.len() {
                    out.push(node(h).rule("service-ip-unroutable").related(svc(s)));
                }
            }
        }
        if let Some((h, p)) = f.route_missing {
            out.push(node(h).rule("flannel-route-missing").related(format!("FlannelLease/{}", self.nodes[p].cidr())));
        }
        if let Some((_, x, _)) = f.vtep_stale {
            out.push(node(x).rule("flannel-vtep-mac-mismatch"));
        }
        if let Some((h, t)) = f.proxy_stale {
            match self.proxy() {
                Proxy::Ipvs => {
                    out.push(Expected { rule: "ipvs-backends-stale".into(), subject: svc(t), node: Some(self.nodes[h].name.clone()), related: None })
                }
                Proxy::Iptables => out.push(node(h).rule("service-rules-missing").related(svc(t))),
            }
        }
        for (s, service) in self.services.iter().enumerate() {
            if service.selector.is_some() && service.ready_endpoints().next().is_none() {
                out.push(Expected { rule: "service-no-ready-endpoints".into(), subject: svc(s), node: None, related: None });
            }
        }
        for p in &self.pods {
            let pod = || Expected {
                rule: String::new(),
                subject: format!("Pod/{}/{}", self.ns(p.ns), p.name),
                node: Some(self.nodes[p.node as usize].name.clone()),
                related: None,
            };
            if p.kind == PodKind::CoreDns && !p.ready() {
                out.push(pod().rule("coredns-not-ready"));
            }
            if p.kind == PodKind::Flannel && !p.ready() {
                out.push(pod().rule("cni-agent-not-ready"));
            }
        }
        if let Some(h) = f.ip_forward_off {
            out.push(node(h).rule("ip-forward-disabled"));
        }
        if let Some(r) = f.not_ready {
            out.push(node(r).rule("node-not-ready"));
        }
        if let Some(e) = f.evictions {
            out.push(node(e).rule("node-disk-pressure-evictions"));
        }
        if let Some(h) = f.mtu_too_big {
            out.push(node(h).rule("overlay-mtu-mismatch"));
        }
        if let Some((subnet, _, _)) = f.orphan_lease {
            out.push(Expected { rule: "flannel-lease-orphaned".into(), subject: format!("FlannelLease/{subnet}/24"), node: None, related: None });
        }
        if let Some(l) = f.lease_missing {
            out.push(node(l).rule("flannel-lease-missing"));
        }
        out.sort();
        out.dedup();
        out
    }
}

impl Cluster {
    /// Rules that report a skip per Node without a host folder (as the
    /// released netdoctor does), with how many.
    pub fn expected_skips(&self) -> Vec<(String, usize)> {
        let uncaptured = self.nodes.iter().filter(|n| !n.captured).count();
        if uncaptured == 0 {
            return Vec::new();
        }
        let leased = self.nodes.iter().filter(|n| !n.captured && n.has_lease).count();
        let mut out: Vec<(String, usize)> = HOST_RULES.iter().map(|r| (r.to_string(), uncaptured)).collect();
        // flannel-subnet-mismatch only looks at nodes that own a lease
        if leased > 0 {
            out.push(("flannel-subnet-mismatch".into(), leased));
            // with no host captured no MAC can be compared, for any lease
            if uncaptured == self.nodes.len() {
                out.push(("flannel-vtep-mac-mismatch".into(), leased));
            }
        }
        out.sort();
        out
    }
}

/// Rules that skip every Node whose host was not captured.
const HOST_RULES: &[&str] = &[
    "bridge-nf-call-iptables-disabled",
    "dns-upstream-loopback",
    "flannel-route-missing",
    "ip-forward-disabled",
    "multi-homed-node-asymmetric",
    "node-no-default-route",
    "service-ip-unroutable",
    "service-rules-missing",
];

/// RFC 3339 UTC (`2024-05-20T08:30:00Z`) of Unix seconds.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days (H. Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_the_capture_time() {
        assert_eq!(rfc3339(CAPTURED_AT_UNIX), CAPTURED_AT);
        assert_eq!(rfc3339(CLUSTER_CREATED_UNIX), "2024-04-02T09:14:03Z");
    }

    #[test]
    fn pod_network_fits_5000_leases_outside_the_service_cidr() {
        let p = PodNet::for_leases(5001);
        assert_eq!(p.cidr(), "10.128.0.0/9");
        assert_eq!(p.subnet(5000).to_string(), "10.147.136.0");
        assert_eq!(PodNet::for_leases(13).subnet(12).to_string(), "10.244.12.0");
    }
}
