//! The rule API of the cluster: the graph itself (`g`), Nodes, Pods,
//! Services, flannel leases, ComponentStatuses, Calico objects, the flannel
//! config, the Corefile, collectors; time arithmetic measured from the
//! capture time (`g.now`), never from the clock of the machine evaluating.

use super::*;
use crate::graph::{is_cni_agent, PodHealth, ServiceEndpoints};
use crate::kind::{FactKind, Scope};
use crate::model::*;
use crate::runtime::output::Ctx;

fn kind_arg(name: &str, scope: Scope) -> R<FactKind> {
    match FactKind::from_name(name) {
        Some(k) if k.scope() == scope => Ok(k),
        _ => Err(format!("unknown {} fact {name:?}; known: {}", if scope == Scope::Cluster { "cluster" } else { "host" }, FactKind::names(scope)).into()),
    }
}

pub(crate) fn host_kind_arg(name: &str) -> R<FactKind> {
    kind_arg(name, Scope::Host)
}

impl Traced for Ctx {
    fn label(&self) -> String {
        cluster_label()
    }
}

fn cluster_label() -> String {
    "Cluster/cluster".to_string()
}

fn hosts(g: &Arc<Graph>) -> Array {
    charge(g.hosts().len());
    (0..g.hosts().len()).map(|t| Dynamic::from(HostRef { g: g.clone(), t })).collect()
}
fn pods_of(g: &Arc<Graph>, idx: &[usize]) -> Array {
    charge(idx.len());
    idx.iter().map(|i| Dynamic::from(PodRef { g: g.clone(), i: *i })).collect()
}

/// Values inside objects.
pub struct NodeConditions;
impl Part for NodeConditions {
    type T = Condition;
    fn items(g: &Graph, of: usize) -> &[Condition] {
        &g.nodes()[of].conditions
    }
    fn owner(g: &Graph, of: usize) -> String {
        format!("Node/{}", g.nodes()[of].name)
    }
}
pub struct PodConditions;
impl Part for PodConditions {
    type T = Condition;
    fn items(g: &Graph, of: usize) -> &[Condition] {
        &g.pods()[of].conditions
    }
    fn owner(g: &Graph, of: usize) -> String {
        let p = &g.pods()[of];
        format!("Pod/{}/{}", p.namespace, p.name)
    }
}
pub struct NodeAddresses;
impl Part for NodeAddresses {
    type T = NodeAddress;
    fn items(g: &Graph, of: usize) -> &[NodeAddress] {
        &g.nodes()[of].addresses
    }
    fn owner(g: &Graph, of: usize) -> String {
        format!("Node/{}", g.nodes()[of].name)
    }
}
pub struct NodeTaints;
impl Part for NodeTaints {
    type T = Taint;
    fn items(g: &Graph, of: usize) -> &[Taint] {
        &g.nodes()[of].taints
    }
    fn owner(g: &Graph, of: usize) -> String {
        format!("Node/{}", g.nodes()[of].name)
    }
}
pub struct Containers;
impl Part for Containers {
    type T = ContainerStatus;
    fn items(g: &Graph, of: usize) -> &[ContainerStatus] {
        &g.pods()[of].containers
    }
    fn owner(g: &Graph, of: usize) -> String {
        PodConditions::owner(g, of)
    }
}
pub struct ContainerPorts;
impl Part for ContainerPorts {
    type T = ContainerPort;
    fn items(g: &Graph, of: usize) -> &[ContainerPort] {
        &g.pods()[of].ports
    }
    fn owner(g: &Graph, of: usize) -> String {
        PodConditions::owner(g, of)
    }
}
pub struct ServicePorts;
impl Part for ServicePorts {
    type T = ServicePort;
    fn items(g: &Graph, of: usize) -> &[ServicePort] {
        &g.services()[of].ports
    }
    fn owner(g: &Graph, of: usize) -> String {
        let s = &g.services()[of];
        format!("Service/{}/{}", s.namespace, s.name)
    }
}
pub struct PodHealths;
impl Part for PodHealths {
    type T = PodHealth;
    fn items(g: &Graph, of: usize) -> &[PodHealth] {
        std::slice::from_ref(g.pod_health(of))
    }
    fn owner(g: &Graph, of: usize) -> String {
        PodConditions::owner(g, of)
    }
}
pub struct EndpointsOf;
impl Part for EndpointsOf {
    type T = ServiceEndpoints;
    fn items(g: &Graph, of: usize) -> &[ServiceEndpoints] {
        g.endpoints(of).map(std::slice::from_ref).unwrap_or(&[])
    }
    fn owner(g: &Graph, of: usize) -> String {
        ServicePorts::owner(g, of)
    }
}
/// Cluster-wide lists: `of` is unused.
pub struct Deployments;
impl Part for Deployments {
    type T = Arc<Deployment>;
    fn items(g: &Graph, _: usize) -> &[Arc<Deployment>] {
        g.deployments()
    }
    fn owner(g: &Graph, of: usize) -> String {
        let _ = of;
        let _ = g;
        cluster_label()
    }
}
pub struct ComponentStatuses;
impl Part for ComponentStatuses {
    type T = Arc<ComponentStatus>;
    fn items(g: &Graph, _: usize) -> &[Arc<ComponentStatus>] {
        g.component_statuses()
    }
    fn owner(_: &Graph, _: usize) -> String {
        cluster_label()
    }
}
pub struct IpPools;
impl Part for IpPools {
    type T = Arc<IpPool>;
    fn items(g: &Graph, _: usize) -> &[Arc<IpPool>] {
        g.ip_pools()
    }
    fn owner(_: &Graph, _: usize) -> String {
        cluster_label()
    }
}
pub struct BlockAffinities;
impl Part for BlockAffinities {
    type T = Arc<BlockAffinity>;
    fn items(g: &Graph, _: usize) -> &[Arc<BlockAffinity>] {
        g.block_affinities()
    }
    fn owner(_: &Graph, _: usize) -> String {
        cluster_label()
    }
}
pub struct Collectors;
impl Part for Collectors {
    type T = CollectorStatus;
    fn items(g: &Graph, _: usize) -> &[CollectorStatus] {
        g.collectors()
    }
    fn owner(_: &Graph, _: usize) -> String {
        cluster_label()
    }
}
/// The flannel config in force (0 or 1 item).
pub struct FlannelConfigs;
impl Part for FlannelConfigs {
    type T = FlannelConfig;
    fn items(g: &Graph, _: usize) -> &[FlannelConfig] {
        g.flannel_config().map(std::slice::from_ref).unwrap_or(&[])
    }
    fn owner(_: &Graph, _: usize) -> String {
        cluster_label()
    }
}
pub struct CorefileForwards;
impl Part for CorefileForwards {
    type T = CorefileForward;
    fn items(g: &Graph, _: usize) -> &[CorefileForward] {
        g.corefile().map_or(&[], |c| c.forwards.as_slice())
    }
    fn owner(_: &Graph, _: usize) -> String {
        cluster_label()
    }
}

fn first<P: Part>(g: &Arc<Graph>, of: usize, keep: impl Fn(&P::T) -> bool) -> Dynamic {
    P::items(g, of).iter().position(keep).map_or(Dynamic::UNIT, |i| Dynamic::from(Item::<P>::at(g, of, i)))
}

/// Seconds from `ts` (RFC 3339) to the capture time.
fn since(g: &Graph, ts: &str) -> Option<i64> {
    Some(g.now()? - crate::time::parse_rfc3339(ts)?)
}

/// Registers the cluster API.
pub fn register(r: &mut Reg) {
    register_graph(r);
    register_node(r);
    register_pod(r);
    register_service(r);
    register_lease(r);
    register_small(r);
}

fn register_graph(r: &mut Reg) {
    r.engine.register_type_with_name::<Ctx>("Graph");
    r.get("Graph", "hosts", "g.hosts -> [Host]", "Every host: each Node and each host with collected facts, sorted by name.", |c: &Ctx| hosts(&c.g))
        .get("Graph", "nodes", "g.nodes -> [Node]", "Every Node object, sorted by name.", |c: &Ctx| -> Array {
            charge(c.g.nodes().len());
            (0..c.g.nodes().len()).map(|i| Dynamic::from(NodeRef { g: c.g.clone(), i })).collect()
        })
        .get(
            "Graph",
            "pods",
            "g.pods -> [Pod]",
            "Every Pod, sorted by namespace and name. Prefer the indexed look-ups (`g.pods_with_label`, `g.pods_on`, `h.pods`) on large clusters.",
            |c: &Ctx| -> Array {
                charge(c.g.pods().len());
                (0..c.g.pods().len()).map(|i| Dynamic::from(PodRef { g: c.g.clone(), i })).collect()
            },
        )
        .get("Graph", "services", "g.services -> [Service]", "Every Service, sorted by namespace and name.", |c: &Ctx| -> Array {
            charge(c.g.services().len());
            (0..c.g.services().len()).map(|i| Dynamic::from(ServiceRef { g: c.g.clone(), i })).collect()
        })
        .get(
            "Graph",
            "leases",
            "g.leases -> [Lease]",
            "flannel subnet leases (etcd, or Node annotations in kube-subnet-mgr mode), sorted by subnet.",
            |c: &Ctx| -> Array {
                charge(c.g.leases().len());
                (0..c.g.leases().len()).map(|i| Dynamic::from(LeaseRef { g: c.g.clone(), i })).collect()
            },
        )
        .get(
            "Graph",
            "deployments",
            "g.deployments -> [Deployment]",
            "Deployments, sorted by namespace and name. Check `g.has(\"deployments\")` first.",
            |c: &Ctx| Item::<Deployments>::all(&c.g, 0),
        )
        .get(
            "Graph",
            "component_statuses",
            "g.component_statuses -> [ComponentStatus]",
            "`kubectl get componentstatuses`. Check `g.has(\"componentstatuses\")` first.",
            |c: &Ctx| Item::<ComponentStatuses>::all(&c.g, 0),
        )
        .get("Graph", "ip_pools", "g.ip_pools -> [IpPool]", "Calico IPPools.", |c: &Ctx| Item::<IpPools>::all(&c.g, 0))
        .get("Graph", "block_affinities", "g.block_affinities -> [BlockAffinity]", "Calico BlockAffinities, sorted by block.", |c: &Ctx| {
            Item::<BlockAffinities>::all(&c.g, 0)
        })
        .get(
            "Graph",
            "collectors",
            "g.collectors -> [Collector]",
            "How each live collector fared (`k8s`, `etcd`, `netlink`, ...); empty for a capture made without collector status.",
            |c: &Ctx| Item::<Collectors>::all(&c.g, 0),
        )
        .get(
            "Graph",
            "flannel_config",
            "g.flannel_config -> FlannelConfig | ()",
            "flannel's network config in force: etcd `<prefix>/config`, else the kube-flannel-cfg ConfigMap's net-conf.json.",
            |c: &Ctx| first::<FlannelConfigs>(&c.g, 0, |_| true),
        )
        .get(
            "Graph",
            "corefile_forwards",
            "g.corefile_forwards -> [CorefileForward]",
            "The Corefile's `forward` / `proxy` directives (ConfigMap kube-system/coredns).",
            |c: &Ctx| Item::<CorefileForwards>::all(&c.g, 0),
        )
        .get("Graph", "service_cidrs", "g.service_cidrs -> [string]", "Declared service CIDRs (kubeadm serviceSubnet); empty when not declared.", |c: &Ctx| {
            strings(c.g.service_cidrs())
        })
        .get(
            "Graph",
            "kube_proxy_mode",
            "g.kube_proxy_mode -> string | ()",
            "`mode` of the kube-proxy ConfigMap's config.conf as written (`\"\"` means iptables); () when not collected.",
            |c: &Ctx| opt_str(c.g.kube_proxy_mode()),
        )
        .get(
            "Graph",
            "now",
            "g.now -> string | ()",
            "The capture time (the capture's captured_at, else the newest timestamp in the facts) as RFC 3339.",
            |c: &Ctx| opt_str(c.g.now().map(crate::time::format_rfc3339)),
        );

    r.engine
        .register_fn("host", |c: &mut Ctx, name: &str| {
            traced(cluster_label, || format!("host({name:?})"), opt(c.g.host_index(name).map(|t| HostRef { g: c.g.clone(), t })))
        })
        .register_fn("node", |c: &mut Ctx, name: &str| {
            traced(cluster_label, || format!("node({name:?})"), opt(c.g.node_index(name).map(|i| NodeRef { g: c.g.clone(), i })))
        })
        .register_fn("deployment", |c: &mut Ctx, ns: &str, name: &str| {
            let d = opt(c.g.deployment_index(ns, name).map(|i| Item::<Deployments>::at(&c.g, 0, i)));
            traced(cluster_label, || format!("deployment({ns:?}, {name:?})"), d)
        })
        .register_fn("service", |c: &mut Ctx, ns: &str, name: &str| {
            let s = opt(c.g.service_index(ns, name).map(|i| ServiceRef { g: c.g.clone(), i }));
            traced(cluster_label, || format!("service({ns:?}, {name:?})"), s)
        })
        .register_fn("service_by_ip", |c: &mut Ctx, ip: &str| -> R<Dynamic> {
            let a = parse_ip_arg(ip)?;
            Ok(traced(cluster_label, || format!("service_by_ip({ip:?})"), opt(c.g.service_by_ip(a).map(|i| ServiceRef { g: c.g.clone(), i }))))
        })
        .register_fn("pod_by_ip", |c: &mut Ctx, ip: &str| -> R<Dynamic> {
            let a = parse_ip_arg(ip)?;
            Ok(traced(cluster_label, || format!("pod_by_ip({ip:?})"), opt(c.g.pod_by_ip(a).map(|i| PodRef { g: c.g.clone(), i }))))
        })
        .register_fn("lease", |c: &mut Ctx, subnet: &str| -> R<Dynamic> {
            let n = parse_net_arg(subnet)?;
            Ok(traced(cluster_label, || format!("lease({subnet:?})"), opt(c.g.lease_by_subnet(&n).map(|i| LeaseRef { g: c.g.clone(), i }))))
        })
        .register_fn("pods_on", |c: &mut Ctx, node: &str| traced(cluster_label, || format!("pods_on({node:?})"), pods_of(&c.g, c.g.pods_on(node))))
        .register_fn("pods_in", |c: &mut Ctx, ns: &str| traced(cluster_label, || format!("pods_in({ns:?})"), pods_of(&c.g, c.g.pods_in(ns))))
        .register_fn("pods_with_label", |c: &mut Ctx, k: &str, v: &str| {
            let out = pods_of(&c.g, c.g.pods_with_label(k, v));
            traced(cluster_label, || format!("pods_with_label({k:?}, {v:?})"), out)
        })
        .register_fn("cni_agent_pods", |c: &mut Ctx| traced(cluster_label, || "cni_agent_pods()".into(), pods_of(&c.g, c.g.cni_agent_pods())))
        .register_fn("services_with_ready_endpoints", |c: &mut Ctx| -> Array {
            let out: Array = c.g.services_with_ready_endpoints().into_iter().map(|i| Dynamic::from(ServiceRef { g: c.g.clone(), i })).collect();
            traced(cluster_label, || "services_with_ready_endpoints()".into(), out)
        })
        .register_fn("cluster_ips", |c: &mut Ctx| -> Array {
            let out = strings(c.g.services.iter().flat_map(|s| s.cluster_ips.iter()));
            traced(cluster_label, || "cluster_ips()".into(), out)
        })
        .register_fn("mirror_pods", |c: &mut Ctx| traced(cluster_label, || "mirror_pods()".into(), pods_of(&c.g, c.g.mirror_pods())))
        .register_fn("has", |c: &mut Ctx, kind: &str| -> R<bool> {
            let k = kind_arg(kind, Scope::Cluster)?;
            let has = c.g.has(k);
            let shown = || match c.g.unavailable(k) {
                Some(why) => why.to_string(),
                None => c.g.sources(k).iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "),
            };
            Ok(traced(cluster_label, || format!("has({kind:?}) [{}]", shown()), has))
        })
        .register_fn("missing", |c: &mut Ctx, kind: &str| -> R<String> {
            let k = kind_arg(kind, Scope::Cluster)?;
            Ok(traced(cluster_label, || format!("missing({kind:?})"), c.g.unavailable(k).unwrap_or("").to_string()))
        })
        .register_fn("source", |c: &mut Ctx, kind: &str| -> R<Dynamic> {
            let k = kind_arg(kind, Scope::Cluster)?;
            let s = c.g.sources(k);
            let v = if s.is_empty() { Dynamic::UNIT } else { s.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ").into() };
            Ok(traced(cluster_label, || format!("source({kind:?})"), v))
        })
        .register_fn("pod_networks", |c: &mut Ctx| traced(cluster_label, || "pod_networks()".into(), cidr_list(c.g.pod_networks(), "source")))
        .register_fn("pod_network_count", |c: &mut Ctx| traced(cluster_label, || "pod_network_count()".into(), c.g.pod_networks().len() as i64))
        .register_fn("pod_networks_overlapping", |c: &mut Ctx, cidr: &str| -> R<Array> {
            let q = parse_net_arg(cidr)?;
            let hits: Vec<(ipnet::IpNet, String)> = c.g.pod_network_set().overlapping(&q).into_iter().cloned().collect();
            Ok(traced(cluster_label, || format!("pod_networks_overlapping({cidr})"), cidr_list(&hits, "source")))
        })
        .register_fn("proxy_mode", |c: &mut Ctx| traced(cluster_label, || "proxy_mode()".into(), c.g.cluster_proxy_mode()))
        .register_fn("collector", |c: &mut Ctx, name: &str| {
            let d = first::<Collectors>(&c.g, 0, |s| s.name == name);
            traced(cluster_label, || format!("collector({name:?})"), d)
        })
        .register_fn("cluster_subject", |_: &mut Ctx| subject_map("Cluster", None, "cluster", None))
        .register_fn("since", |c: &mut Ctx, ts: &str| traced(cluster_label, || format!("since({ts:?})"), opt(since(&c.g, ts))))
        .register_fn("since", |_: &mut Ctx, _: ()| traced(cluster_label, || "since(())".into(), Dynamic::UNIT))
        .register_fn("finding", |c: &mut Ctx, f: Map| c.emit(f))
        .register_fn("skip", |c: &mut Ctx, subject: Map, reason: &str| c.skip(subject, reason))
        .register_fn("param", |c: &mut Ctx, name: &str, default: Dynamic| c.param(name, default));
    r.doc("Graph", "host", "g.host(name) -> Host | ()", "The host of that name.", "let h = g.host(\"node1\");")
        .doc("Graph", "node", "g.node(name) -> Node | ()", "The Node object of that name.", "let n = g.node(\"admin\");")
        .doc("Graph", "deployment", "g.deployment(namespace, name) -> Deployment | ()", "A Deployment by namespace and name.", "let d = g.deployment(\"kube-system\", \"coredns\");")
        .doc("Graph", "service", "g.service(namespace, name) -> Service | ()", "A Service by namespace and name.", "let k = g.service(\"default\", \"kubernetes\");")
        .doc("Graph", "service_by_ip", "g.service_by_ip(ip) -> Service | ()", "The Service owning a ClusterIP (index look-up).", "let s = g.service_by_ip(\"10.96.0.10\");")
        .doc("Graph", "pod_by_ip", "g.pod_by_ip(ip) -> Pod | ()", "The (non-hostNetwork) pod that has this IP (index look-up).", "let p = g.pod_by_ip(\"10.244.1.2\");")
        .doc("Graph", "lease", "g.lease(subnet) -> Lease | ()", "The lease of a subnet (index look-up).", "let l = g.lease(\"10.244.1.0/24\");")
        .doc("Graph", "pods_on", "g.pods_on(node) -> [Pod]", "Pods scheduled on a node (index look-up).", "g.pods_on(h.name)")
        .doc("Graph", "pods_in", "g.pods_in(namespace) -> [Pod]", "Pods of a namespace (index look-up).", "g.pods_in(\"kube-system\")")
        .doc("Graph", "pods_with_label", "g.pods_with_label(key, value) -> [Pod]", "Pods carrying the label `key=value`, in any namespace (index look-up).", "g.pods_with_label(\"k8s-app\", \"kube-dns\")")
        .doc("Graph", "cni_agent_pods", "g.cni_agent_pods() -> [Pod]", "Pods of CNI agent DaemonSets (calico-node, kube-flannel, flannel, cilium, kube-router, weave-net, canal) in any namespace.", "g.cni_agent_pods().filter(|p| !p.ready)")
        .doc("Graph", "services_with_ready_endpoints", "g.services_with_ready_endpoints() -> [Service]", "ClusterIP Services (not ExternalName, not headless) with at least one ready endpoint: those kube-proxy must program.", "let svcs = g.services_with_ready_endpoints();")
        .doc("Graph", "cluster_ips", "g.cluster_ips() -> [string]", "Every ClusterIP of every Service, in Service order (one native call instead of a `push` per Service: Rhai re-measures an array on each `push`).", "let failed = h.unroutable(g.cluster_ips());")
        .doc("Graph", "mirror_pods", "g.mirror_pods() -> [Pod]", "Static pods' mirrors (config.source file or owned by a Node).", "g.mirror_pods()")
        .doc("Graph", "has", "g.has(kind) -> bool", "Whether a cluster fact kind was collected and every entry of it could be read: nodes, pods, services, endpoints, deployments, componentstatuses, ippools, blockaffinities, configmap/coredns, configmap/kube-proxy, configmap/kubeadm-config, configmap/kube-flannel-cfg, etcd/flannel.", "if !g.has(\"services\") { ... }")
        .doc("Graph", "missing", "g.missing(kind) -> string", "Why a cluster fact kind is unavailable (`... not collected`, or `could not be read: SOURCE: ERROR`), for `g.skip` reasons; \"\" when it is available.", "g.skip(h.subject(), g.missing(\"services\"));")
        .doc("Graph", "source", "g.source(kind) -> string | ()", "Where a cluster fact kind was read (files or the live collector), for evidence.", "evidence: #{ endpoints: g.source(\"endpoints\") }")
        .doc("Graph", "pod_networks", "g.pod_networks() -> [#{cidr, source}]", "The cluster's pod networks: flannel Network, Calico IPPools, kubeadm podSubnet, Nodes' podCIDRs.", "for p in g.pod_networks() { ... p.cidr ... }")
        .doc("Graph", "pod_network_count", "g.pod_network_count() -> int", "How many pod networks are known (without building the list).", "if g.pod_network_count() == 0 { ... }")
        .doc("Graph", "pod_networks_overlapping", "g.pod_networks_overlapping(cidr) -> [#{cidr, source}]", "The pod networks that share an address with `cidr` (indexed: no scan of every Node's podCIDR).", "g.pod_networks_overlapping(\"10.96.0.0/12\")")
        .doc("Graph", "proxy_mode", "g.proxy_mode() -> string", "The cluster's kube-proxy mode: the ConfigMap's `mode` (`\"\"` → iptables), else the mode all hosts that can tell agree on; \"\" when unknown.", "if g.proxy_mode() == \"ipvs\" { ... }")
        .doc("Graph", "collector", "g.collector(name) -> Collector | ()", "One collector's status; () when it did not report (not configured, or a capture).", "let k = g.collector(\"k8s\"); if k == () { return; }")
        .doc("Graph", "cluster_subject", "g.cluster_subject() -> map", "The subject of a cluster-wide finding: `#{kind: \"Cluster\", name: \"cluster\"}`.", "g.finding(#{ subject: g.cluster_subject(), summary: \"...\" })")
        .doc("Graph", "since", "g.since(ts) -> int | ()", "Seconds from the RFC 3339 timestamp `ts` to the capture time `g.now`; () when either is unknown.", "let secs = g.since(n.condition(\"Ready\").since);")
        .doc("Graph", "finding", "g.finding(#{subject, related, summary, evidence, severity, remediation})", "Reports a finding; `related`, `evidence`, `severity` (overrides the rule's) and `remediation` are optional.", "g.finding(#{ subject: h.subject(), summary: `...`, evidence: #{ file: h.source(\"routes\") } });")
        .doc("Graph", "skip", "g.skip(subject, reason)", "Reports that the rule could not judge a subject because a fact is missing or could not be read.", "g.skip(h.subject(), h.missing(\"sysctl\"));")
        .doc("Graph", "param", "g.param(name) -> any, g.param(name, default) -> any", "A param of this rule: the `--config` value, else the default declared in `RULE.params` (or the `default` given, for undeclared params of older rules).", "let limit = g.param(\"max_restarts\");");
}

fn register_node(r: &mut Reg) {
    r.engine.register_type_with_name::<NodeRef>("Node");
    r.get("Node", "name", "n.name -> string", "Node name.", |n: &NodeRef| n.n().name.clone())
        .get("Node", "id", "n.id -> string", "`Node/<name>`: a key for maps of subjects (the same as its host's).", |n: &NodeRef| {
            format!("Node/{}", n.n().name)
        })
        .get("Node", "internal_ip", "n.internal_ip -> string | ()", "The first InternalIP.", |n: &NodeRef| opt_str(n.n().internal_ips().next()))
        .get("Node", "internal_ips", "n.internal_ips -> [string]", "Every InternalIP.", |n: &NodeRef| strings(n.n().internal_ips()))
        .get("Node", "addresses", "n.addresses -> [NodeAddress]", "status.addresses, in API order.", |n: &NodeRef| Item::<NodeAddresses>::all(&n.g, n.i))
        .get("Node", "pod_cidrs", "n.pod_cidrs -> [string]", "spec.podCIDRs (or podCIDR).", |n: &NodeRef| strings(&n.n().pod_cidrs))
        .get("Node", "labels", "n.labels -> map", "Node labels.", |n: &NodeRef| string_map(&n.n().labels))
        .get("Node", "ready", "n.ready -> bool", "The Ready condition is True.", |n: &NodeRef| n.n().ready())
        .get("Node", "conditions", "n.conditions -> [Condition]", "status.conditions.", |n: &NodeRef| Item::<NodeConditions>::all(&n.g, n.i))
        .get("Node", "taints", "n.taints -> [Taint]", "spec.taints.", |n: &NodeRef| Item::<NodeTaints>::all(&n.g, n.i))
        .get("Node", "unschedulable", "n.unschedulable -> bool", "spec.unschedulable (cordoned).", |n: &NodeRef| n.n().unschedulable)
        .get("Node", "flannel_public_ip", "n.flannel_public_ip -> string | ()", "flannel's `public-ip` annotation (kube-subnet-mgr mode).", |n: &NodeRef| {
            opt_str(n.n().flannel.as_ref().and_then(|f| f.public_ip))
        })
        .get("Node", "flannel_vtep_mac", "n.flannel_vtep_mac -> string | ()", "VtepMAC of flannel's `backend-data` annotation.", |n: &NodeRef| {
            opt_str(n.n().flannel.as_ref().and_then(|f| f.vtep_mac))
        });
    r.engine
        .register_fn("condition", |n: &mut NodeRef, kind: &str| {
            traced(|| n.label(), || format!("condition({kind:?})"), first::<NodeConditions>(&n.g, n.i, |c| c.kind == kind))
        })
        .register_fn("label", |n: &mut NodeRef, key: &str| traced(|| n.label(), || format!("label({key:?})"), opt_str(n.n().labels.get(key))))
        .register_fn("subject", |n: &mut NodeRef| subject_map("Node", None, &n.n().name, Some(&n.n().name)))
        .register_fn("to_string", |n: &mut NodeRef| n.n().name.clone())
        .register_fn("to_debug", |n: &mut NodeRef| format!("Node({})", n.n().name));
    r.doc(
        "Node",
        "condition",
        "n.condition(type) -> Condition | ()",
        "One status condition by type (`Ready`, `DiskPressure`, ...).",
        "let dp = n.condition(\"DiskPressure\");",
    )
    .doc("Node", "label", "n.label(key) -> string | ()", "One label.", "n.label(\"node-role.kubernetes.io/control-plane\")")
    .doc("Node", "subject", "n.subject() -> #{kind, namespace, name, node}", "The Node subject.", "n.subject()");
    r.engine.register_type_with_name::<Item<NodeAddresses>>("NodeAddress");
    r.get("NodeAddress", "type", "a.type -> string", "InternalIP, ExternalIP, Hostname, ...", |a: &Item<NodeAddresses>| a.get().kind.clone()).get(
        "NodeAddress",
        "address",
        "a.address -> string",
        "The address (or host name).",
        |a: &Item<NodeAddresses>| a.get().address.clone(),
    );
    r.engine.register_type_with_name::<Item<NodeTaints>>("Taint");
    r.get("Taint", "key", "t.key -> string", "Taint key.", |t: &Item<NodeTaints>| t.get().key.clone())
        .get("Taint", "value", "t.value -> string | ()", "Taint value.", |t: &Item<NodeTaints>| opt_str(t.get().value.as_ref()))
        .get("Taint", "effect", "t.effect -> string", "NoSchedule, PreferNoSchedule, NoExecute.", |t: &Item<NodeTaints>| t.get().effect.clone());
    register_condition::<NodeConditions>(r, true);
    register_condition::<PodConditions>(r, false);
}

fn register_condition<P: Part<T = Condition>>(r: &mut Reg, doc: bool) {
    r.engine.register_type_with_name::<Item<P>>("Condition");
    if doc {
        r.get("Condition", "type", "c.type -> string", "Ready, DiskPressure, PodScheduled, ...", |c: &Item<P>| c.get().kind.to_string())
            .get("Condition", "status", "c.status -> string", "True, False or Unknown.", |c: &Item<P>| c.get().status.as_str().to_string())
            .get("Condition", "reason", "c.reason -> string | ()", "Machine-readable reason.", |c: &Item<P>| opt_str(c.get().reason.as_ref()))
            .get("Condition", "message", "c.message -> string | ()", "Human-readable message.", |c: &Item<P>| opt_str(c.get().message.as_ref()))
            .get("Condition", "since", "c.since -> string | ()", "lastTransitionTime (RFC 3339).", |c: &Item<P>| {
                opt_str(c.get().since.map(crate::time::format_rfc3339))
            });
    } else {
        let n = r.docs.len();
        r.get("Condition", "type", "", "", |c: &Item<P>| c.get().kind.to_string())
            .get("Condition", "status", "", "", |c: &Item<P>| c.get().status.as_str().to_string())
            .get("Condition", "reason", "", "", |c: &Item<P>| opt_str(c.get().reason.as_ref()))
            .get("Condition", "message", "", "", |c: &Item<P>| opt_str(c.get().message.as_ref()))
            .get("Condition", "since", "", "", |c: &Item<P>| opt_str(c.get().since.map(crate::time::format_rfc3339)));
        r.docs.truncate(n);
    }
    r.engine.register_fn("to_string", |c: &mut Item<P>| format!("{}={}", c.get().kind, c.get().status.as_str()));
}

fn register_pod(r: &mut Reg) {
    r.engine.register_type_with_name::<PodRef>("Pod");
    r.get("Pod", "namespace", "p.namespace -> string", "Namespace.", |p: &PodRef| p.p().namespace.clone())
        .get("Pod", "name", "p.name -> string", "Name.", |p: &PodRef| p.p().name.clone())
        .get("Pod", "id", "p.id -> string", "`Pod/<namespace>/<name>`: a key for maps of subjects.", |p: &PodRef| {
            format!("Pod/{}/{}", p.p().namespace, p.p().name)
        })
        .get("Pod", "node", "p.node -> string | ()", "spec.nodeName.", |p: &PodRef| opt_str(p.p().node.as_ref()))
        .get("Pod", "phase", "p.phase -> string | ()", "status.phase (Pending, Running, Succeeded, Failed, Unknown); () without status.", |p: &PodRef| {
            opt_str(p.p().phase.map(PodPhase::as_str))
        })
        .get("Pod", "reason", "p.reason -> string | ()", "status.reason, e.g. `Evicted`.", |p: &PodRef| opt_str(p.p().reason.as_ref()))
        .get("Pod", "ready", "p.ready -> bool", "The Ready condition is True.", |p: &PodRef| p.p().ready())
        .get("Pod", "ips", "p.ips -> [string]", "Pod IPs.", |p: &PodRef| strings(&p.p().ips))
        .get("Pod", "host_network", "p.host_network -> bool", "spec.hostNetwork.", |p: &PodRef| p.p().host_network)
        .get("Pod", "labels", "p.labels -> map", "Pod labels.", |p: &PodRef| string_map(&p.p().labels))
        .get("Pod", "owner_kind", "p.owner_kind -> string | ()", "Controller owner kind (DaemonSet, ReplicaSet, Node, ...).", |p: &PodRef| {
            opt_str(p.p().owner.as_ref().map(|o| &o.kind))
        })
        .get("Pod", "owner_name", "p.owner_name -> string | ()", "Controller owner name.", |p: &PodRef| opt_str(p.p().owner.as_ref().map(|o| &o.name)))
        .get("Pod", "mirror", "p.mirror -> bool", "A static pod's mirror (config.source file or owned by a Node).", |p: &PodRef| p.p().mirror)
        .get(
            "Pod",
            "is_cni_agent",
            "p.is_cni_agent -> bool",
            "A CNI agent DaemonSet pod (calico-node, kube-flannel, flannel, cilium, kube-router, weave-net, canal).",
            |p: &PodRef| is_cni_agent(p.p()),
        )
        .get("Pod", "conditions", "p.conditions -> [Condition]", "status.conditions.", |p: &PodRef| Item::<PodConditions>::all(&p.g, p.i))
        .get("Pod", "containers", "p.containers -> [Container]", "Container statuses.", |p: &PodRef| Item::<Containers>::all(&p.g, p.i))
        .get(
            "Pod",
            "ports",
            "p.ports -> [ContainerPort]",
            "Container ports the pod declares (spec.containers[].ports), each with its container.",
            |p: &PodRef| Item::<ContainerPorts>::all(&p.g, p.i),
        )
        .get("Pod", "restarts", "p.restarts -> int", "Total container restarts.", |p: &PodRef| p.p().restarts() as i64)
        .get("Pod", "terminal", "p.terminal -> bool", "Phase Succeeded or Failed (e.g. Evicted): it never runs again.", |p: &PodRef| p.p().terminal())
        .get("Pod", "health", "p.health -> PodHealth", "The pod as `kubectl get pods` shows it.", |p: &PodRef| Item::<PodHealths>::at(&p.g, p.i, 0));
    r.engine
        .register_fn("label", |p: &mut PodRef, key: &str| traced(|| p.label(), || format!("label({key:?})"), opt_str(p.p().labels.get(key))))
        .register_fn("condition", |p: &mut PodRef, kind: &str| {
            traced(|| p.label(), || format!("condition({kind:?})"), first::<PodConditions>(&p.g, p.i, |c| c.kind == kind))
        })
        .register_fn("subject", |p: &mut PodRef| {
            let p = p.p();
            subject_map("Pod", Some(&p.namespace), &p.name, p.node.as_deref())
        })
        .register_fn("to_string", |p: &mut PodRef| format!("{}/{}", p.p().namespace, p.p().name))
        .register_fn("to_debug", |p: &mut PodRef| format!("Pod({}/{})", p.p().namespace, p.p().name));
    r.doc("Pod", "label", "p.label(key) -> string | ()", "One label.", "p.label(\"k8s-app\") == \"kube-dns\"")
        .doc(
            "Pod",
            "condition",
            "p.condition(type) -> Condition | ()",
            "One status condition by type (`Ready`, `PodScheduled`, ...).",
            "p.condition(\"PodScheduled\").reason == \"Unschedulable\"",
        )
        .doc("Pod", "subject", "p.subject() -> #{kind, namespace, name, node}", "The Pod subject (node: the pod's node).", "p.subject()");
    r.engine.register_type_with_name::<Item<Containers>>("Container");
    r.get("Container", "name", "c.name -> string", "Container name.", |c: &Item<Containers>| c.get().name.clone())
        .get("Container", "ready", "c.ready -> bool", "Ready.", |c: &Item<Containers>| c.get().ready)
        .get("Container", "restart_count", "c.restart_count -> int", "Restarts.", |c: &Item<Containers>| i64::from(c.get().restart_count))
        .get("Container", "state", "c.state -> string | ()", "running, waiting or terminated.", |c: &Item<Containers>| {
            opt_str(c.get().state.map(ContainerState::as_str))
        })
        .get("Container", "reason", "c.reason -> string | ()", "The current state's reason (CrashLoopBackOff, Completed, ...).", |c: &Item<Containers>| {
            opt_str(c.get().reason.as_ref())
        })
        .get("Container", "exit_code", "c.exit_code -> int | ()", "Exit code when terminated.", |c: &Item<Containers>| opt(c.get().exit_code.map(i64::from)))
        .get("Container", "last_state", "c.last_state -> string | ()", "The last state.", |c: &Item<Containers>| {
            opt_str(c.get().last_state.map(ContainerState::as_str))
        })
        .get("Container", "last_reason", "c.last_reason -> string | ()", "The last state's reason (Error, OOMKilled).", |c: &Item<Containers>| {
            opt_str(c.get().last_reason.as_ref())
        });
    r.engine.register_type_with_name::<Item<ContainerPorts>>("ContainerPort");
    r.get("ContainerPort", "container", "c.container -> string", "The container that declares the port.", |c: &Item<ContainerPorts>| c.get().container.clone())
        .get("ContainerPort", "name", "c.name -> string | ()", "Port name.", |c: &Item<ContainerPorts>| opt_str(c.get().name.as_ref()))
        .get("ContainerPort", "port", "c.port -> int", "containerPort.", |c: &Item<ContainerPorts>| i64::from(c.get().port))
        .get("ContainerPort", "protocol", "c.protocol -> string", "TCP, UDP or SCTP.", |c: &Item<ContainerPorts>| c.get().protocol.to_string());
    r.engine.register_type_with_name::<Item<PodHealths>>("PodHealth");
    r.get("PodHealth", "known", "h.known -> bool", "False when the pod has no status at all (then judge nothing).", |h: &Item<PodHealths>| h.get().known)
        .get("PodHealth", "ok", "h.ok -> bool", "Ready, not crash-looping, no terminated container.", |h: &Item<PodHealths>| h.get().ok)
        .get("PodHealth", "ready", "h.ready -> bool", "The Ready condition is True.", |h: &Item<PodHealths>| h.get().ready)
        .get(
            "PodHealth",
            "status",
            "h.status -> string",
            "kubectl's STATUS column (CrashLoopBackOff, Completed, Evicted, Pending, ...).",
            |h: &Item<PodHealths>| h.get().status.clone(),
        )
        .get("PodHealth", "crash_loop", "h.crash_loop -> bool", "A container waits in CrashLoopBackOff.", |h: &Item<PodHealths>| h.get().crash_loop)
        .get("PodHealth", "terminated", "h.terminated -> [string]", "Containers whose current state is terminated.", |h: &Item<PodHealths>| {
            strings(&h.get().terminated)
        })
        .get("PodHealth", "container", "h.container -> string | ()", "The container that explains the status.", |h: &Item<PodHealths>| {
            opt_str(h.get().container.as_ref())
        })
        .get("PodHealth", "restarts", "h.restarts -> int", "Total restarts.", |h: &Item<PodHealths>| h.get().restarts as i64)
        .get("PodHealth", "last_reason", "h.last_reason -> string | ()", "The culprit's last state reason (Error, OOMKilled).", |h: &Item<PodHealths>| {
            opt_str(h.get().last_reason.as_ref())
        })
        .get("PodHealth", "exit_code", "h.exit_code -> int | ()", "The culprit's exit code.", |h: &Item<PodHealths>| opt(h.get().exit_code.map(i64::from)))
        .get("PodHealth", "text", "h.text -> string", "A summary such as `CrashLoopBackOff, last state Error, 57 restarts`.", |h: &Item<PodHealths>| {
            h.get().text.clone()
        });
    r.engine.register_fn("to_string", |h: &mut Item<PodHealths>| h.get().text.clone());
}

fn register_service(r: &mut Reg) {
    r.engine.register_type_with_name::<ServiceRef>("Service");
    r.get("Service", "namespace", "s.namespace -> string", "Namespace.", |s: &ServiceRef| s.s().namespace.clone())
        .get("Service", "name", "s.name -> string", "Name.", |s: &ServiceRef| s.s().name.clone())
        .get("Service", "id", "s.id -> string", "`Service/<namespace>/<name>`: a key for maps of subjects.", |s: &ServiceRef| {
            format!("Service/{}/{}", s.s().namespace, s.s().name)
        })
        .get("Service", "type", "s.type -> string", "spec.type: ClusterIP, NodePort, LoadBalancer, ExternalName.", |s: &ServiceRef| {
            s.s().kind.as_str().to_string()
        })
        .get("Service", "cluster_ip", "s.cluster_ip -> string | ()", "The first ClusterIP (() for headless).", |s: &ServiceRef| {
            opt_str(s.s().cluster_ips.first())
        })
        .get("Service", "cluster_ips", "s.cluster_ips -> [string]", "Every ClusterIP.", |s: &ServiceRef| strings(&s.s().cluster_ips))
        .get("Service", "selector", "s.selector -> map", "spec.selector.", |s: &ServiceRef| string_map(&s.s().selector))
        .get("Service", "has_selector", "s.has_selector -> bool", "Whether the Service has a selector.", |s: &ServiceRef| !s.s().selector.is_empty())
        .get("Service", "ports", "s.ports -> [ServicePort]", "spec.ports.", |s: &ServiceRef| Item::<ServicePorts>::all(&s.g, s.i))
        .get(
            "Service",
            "endpoints",
            "s.endpoints -> Endpoints | ()",
            "Its endpoints, merged from its EndpointSlices (else its Endpoints object); () when none exists.",
            |s: &ServiceRef| first::<EndpointsOf>(&s.g, s.i, |_| true),
        )
        .get("Service", "ready_endpoints", "s.ready_endpoints -> [string]", "Ready endpoint addresses; empty when none or not collected.", |s: &ServiceRef| {
            strings(s.g.ready_endpoints(s.i))
        });
    r.engine
        .register_fn("selected_pods", |s: &mut ServiceRef| {
            let out = pods_of(&s.g, &s.g.selected_pods(s.i));
            charge(s.s().selector.len());
            traced(|| s.label(), || "selected_pods()".into(), out)
        })
        .register_fn("subject", |s: &mut ServiceRef| subject_map("Service", Some(&s.s().namespace), &s.s().name, None))
        .register_fn("subject_on", |s: &mut ServiceRef, node: &str| subject_map("Service", Some(&s.s().namespace), &s.s().name, Some(node)))
        .register_fn("related", |s: &mut ServiceRef| related_map("Service", Some(&s.s().namespace), &s.s().name))
        .register_fn("to_string", |s: &mut ServiceRef| format!("{}/{}", s.s().namespace, s.s().name))
        .register_fn("to_debug", |s: &mut ServiceRef| format!("Service({}/{})", s.s().namespace, s.s().name));
    r.doc(
        "Service",
        "selected_pods",
        "s.selected_pods() -> [Pod]",
        "Pods in the Service's namespace whose labels match its selector (through the label index; empty without a selector).",
        "s.selected_pods().filter(|p| !p.ready)",
    )
    .doc("Service", "subject", "s.subject() -> #{kind, namespace, name, node}", "The Service subject (no node).", "s.subject()")
    .doc("Service", "subject_on", "s.subject_on(node) -> #{kind, namespace, name, node}", "The Service subject concerning one node.", "s.subject_on(h.name)")
    .doc("Service", "related", "s.related() -> #{kind, namespace, name}", "The Service as a finding's related party.", "related: s.related()");
    r.engine.register_type_with_name::<Item<ServicePorts>>("ServicePort");
    r.get("ServicePort", "name", "p.name -> string | ()", "Port name.", |p: &Item<ServicePorts>| opt_str(p.get().name.as_ref()))
        .get("ServicePort", "protocol", "p.protocol -> string", "TCP, UDP or SCTP.", |p: &Item<ServicePorts>| p.get().protocol.to_string())
        .get("ServicePort", "port", "p.port -> int", "The Service port.", |p: &Item<ServicePorts>| i64::from(p.get().port))
        .get("ServicePort", "target_port", "p.target_port -> string", "targetPort: a number or a container port name, as text.", |p: &Item<ServicePorts>| {
            p.get().target_port.to_string()
        })
        .get("ServicePort", "node_port", "p.node_port -> int | ()", "nodePort.", |p: &Item<ServicePorts>| opt(p.get().node_port.map(i64::from)));
    r.engine.register_type_with_name::<Item<EndpointsOf>>("Endpoints");
    r.get("Endpoints", "ready", "e.ready -> [string]", "Ready addresses.", |e: &Item<EndpointsOf>| strings(&e.get().ready))
        .get("Endpoints", "not_ready", "e.not_ready -> [string]", "Addresses that are not ready.", |e: &Item<EndpointsOf>| strings(&e.get().not_ready))
        .get("Endpoints", "source", "e.source -> string", "`EndpointSlice` or `Endpoints`: which objects they came from.", |e: &Item<EndpointsOf>| {
            e.get().source_kind.to_string()
        });
}

fn register_lease(r: &mut Reg) {
    r.engine.register_type_with_name::<LeaseRef>("Lease");
    r.get("Lease", "subnet", "l.subnet -> string", "The leased subnet (CIDR).", |l: &LeaseRef| l.l().subnet.to_string())
        .get("Lease", "id", "l.id -> string", "`FlannelLease/<subnet>`: a key for maps of subjects.", |l: &LeaseRef| format!("FlannelLease/{}", l.l().subnet))
        .get("Lease", "public_ip", "l.public_ip -> string | ()", "PublicIP.", |l: &LeaseRef| opt_str(l.l().public_ip))
        .get(
            "Lease",
            "backend",
            "l.backend -> string",
            "The lease's flannel backend: its own BackendType, else the config's (\"\" when neither is known).",
            |l: &LeaseRef| l.g.lease_backend(l.i),
        )
        .get("Lease", "vtep_mac", "l.vtep_mac -> string | ()", "BackendData.VtepMAC (vxlan), lowercase.", |l: &LeaseRef| opt_str(l.l().vtep_mac))
        .get(
            "Lease",
            "source",
            "l.source -> string",
            "Where the lease came from (etcd dump and key, the live etcd collector, or Node/<name>).",
            |l: &LeaseRef| l.l().source.to_string(),
        )
        .get("Lease", "key", "l.key -> string | ()", "The etcd key as spelled.", |l: &LeaseRef| opt_str(l.l().key.as_ref()))
        .get("Lease", "owner", "l.owner -> string | ()", "The owning Node or host (lease ownership convention).", |l: &LeaseRef| {
            opt_str(l.g.leases()[l.i].owner.as_ref().map(|o| l.g.host_name(o.host)))
        })
        .get("Lease", "owner_via", "l.owner_via -> string | ()", "Why that host owns it.", |l: &LeaseRef| {
            opt_str(l.g.leases()[l.i].owner.as_ref().map(|o| &o.via))
        });
    r.engine
        .register_fn("subject", |l: &mut LeaseRef| subject_map("FlannelLease", None, &l.l().subnet.to_string(), None))
        .register_fn("related", |l: &mut LeaseRef| related_map("FlannelLease", None, &l.l().subnet.to_string()))
        .register_fn("to_string", |l: &mut LeaseRef| l.l().subnet.to_string())
        .register_fn("to_debug", |l: &mut LeaseRef| format!("Lease({})", l.l().subnet));
    r.doc("Lease", "subject", "l.subject() -> #{kind, namespace, name, node}", "The FlannelLease subject.", "l.subject()").doc(
        "Lease",
        "related",
        "l.related() -> #{kind, namespace, name}",
        "The lease as a related party.",
        "related: l.related()",
    );
}

fn register_small(r: &mut Reg) {
    r.engine.register_type_with_name::<Item<Deployments>>("Deployment");
    r.get("Deployment", "namespace", "d.namespace -> string", "Namespace.", |d: &Item<Deployments>| d.get().namespace.clone())
        .get("Deployment", "name", "d.name -> string", "Name.", |d: &Item<Deployments>| d.get().name.clone())
        .get("Deployment", "replicas", "d.replicas -> int", "spec.replicas (1 when absent, as the API defaults it).", |d: &Item<Deployments>| {
            i64::from(d.get().replicas)
        })
        .get("Deployment", "ready_replicas", "d.ready_replicas -> int", "status.readyReplicas.", |d: &Item<Deployments>| i64::from(d.get().ready_replicas))
        .get("Deployment", "available_replicas", "d.available_replicas -> int", "status.availableReplicas.", |d: &Item<Deployments>| {
            i64::from(d.get().available_replicas)
        })
        .get("Deployment", "updated_replicas", "d.updated_replicas -> int", "status.updatedReplicas.", |d: &Item<Deployments>| {
            i64::from(d.get().updated_replicas)
        })
        .get("Deployment", "selector", "d.selector -> map", "spec.selector.matchLabels.", |d: &Item<Deployments>| string_map(&d.get().selector))
        .get("Deployment", "labels", "d.labels -> map", "Labels.", |d: &Item<Deployments>| string_map(&d.get().labels));
    r.engine.register_fn("to_string", |d: &mut Item<Deployments>| format!("{}/{}", d.get().namespace, d.get().name));
    r.engine.register_type_with_name::<Item<ComponentStatuses>>("ComponentStatus");
    r.get("ComponentStatus", "name", "c.name -> string", "scheduler, controller-manager, etcd-0, ...", |c: &Item<ComponentStatuses>| c.get().name.clone())
        .get("ComponentStatus", "healthy", "c.healthy -> bool", "The Healthy condition is True.", |c: &Item<ComponentStatuses>| c.get().healthy)
        .get("ComponentStatus", "message", "c.message -> string | ()", "Its message or error.", |c: &Item<ComponentStatuses>| {
            opt_str(c.get().message.as_ref())
        });
    r.engine.register_type_with_name::<Item<IpPools>>("IpPool");
    r.get("IpPool", "name", "p.name -> string", "Pool name.", |p: &Item<IpPools>| p.get().name.clone())
        .get("IpPool", "cidr", "p.cidr -> string", "spec.cidr.", |p: &Item<IpPools>| p.get().cidr.to_string())
        .get("IpPool", "ipip_mode", "p.ipip_mode -> string", "spec.ipipMode: Always, CrossSubnet or Never (absent: Never).", |p: &Item<IpPools>| {
            p.get().ipip_mode.clone().unwrap_or_else(|| "Never".into())
        })
        .get("IpPool", "vxlan_mode", "p.vxlan_mode -> string", "spec.vxlanMode: Always, CrossSubnet or Never (absent: Never).", |p: &Item<IpPools>| {
            p.get().vxlan_mode.clone().unwrap_or_else(|| "Never".into())
        })
        .get("IpPool", "nat_outgoing", "p.nat_outgoing -> bool", "spec.natOutgoing.", |p: &Item<IpPools>| p.get().nat_outgoing)
        .get("IpPool", "disabled", "p.disabled -> bool", "spec.disabled.", |p: &Item<IpPools>| p.get().disabled);
    r.engine.register_type_with_name::<Item<BlockAffinities>>("BlockAffinity");
    r.get("BlockAffinity", "node", "b.node -> string", "The node the block is affine to.", |b: &Item<BlockAffinities>| b.get().node.clone())
        .get("BlockAffinity", "cidr", "b.cidr -> string", "The block.", |b: &Item<BlockAffinities>| b.get().cidr.to_string())
        .get("BlockAffinity", "state", "b.state -> string", "confirmed, pending, ...", |b: &Item<BlockAffinities>| b.get().state.clone());
    r.engine.register_type_with_name::<Item<Collectors>>("Collector");
    r.get("Collector", "name", "c.name -> string", "`k8s`, `etcd`, `netlink`, `netlink/<host>`, ...", |c: &Item<Collectors>| c.get().name.clone())
        .get("Collector", "up", "c.up -> bool", "Its last collection succeeded.", |c: &Item<Collectors>| c.get().up)
        .get("Collector", "no_data", "c.no_data -> bool", "The source does not exist here (quiet, not a failure).", |c: &Item<Collectors>| c.get().no_data)
        .get("Collector", "last_success", "c.last_success -> string | ()", "RFC 3339 time of its last success.", |c: &Item<Collectors>| {
            opt_str(c.get().last_success.map(crate::time::format_rfc3339))
        })
        .get("Collector", "age_seconds", "c.age_seconds -> int | ()", "Seconds from its last success to `g.now`.", |c: &Item<Collectors>| {
            opt(c.get().last_success.and_then(|t| Some(c.g.now()? - t)))
        })
        .get(
            "Collector",
            "stale_after_seconds",
            "c.stale_after_seconds -> int | ()",
            "How old its last success may be before its facts count as stale.",
            |c: &Item<Collectors>| opt(c.get().stale_after_seconds),
        )
        .get("Collector", "error", "c.error -> string | ()", "The last error (or why there is no data).", |c: &Item<Collectors>| {
            opt_str(c.get().error.as_ref())
        });
    r.engine.register_type_with_name::<Item<FlannelConfigs>>("FlannelConfig");
    r.get("FlannelConfig", "network", "f.network -> string | ()", "Network.", |f: &Item<FlannelConfigs>| opt_str(f.get().network))
        .get("FlannelConfig", "backend", "f.backend -> string", "Backend.Type (flannel's default: udp).", |f: &Item<FlannelConfigs>| {
            f.get().backend_type.clone()
        })
        .get("FlannelConfig", "vni", "f.vni -> int", "Backend.VNI (default 1): the device is flannel.<VNI>.", |f: &Item<FlannelConfigs>| i64::from(f.get().vni))
        .get("FlannelConfig", "port", "f.port -> int | ()", "Backend.Port (VXLAN UDP port).", |f: &Item<FlannelConfigs>| opt(f.get().port.map(i64::from)))
        .get(
            "FlannelConfig",
            "direct_routing",
            "f.direct_routing -> bool",
            "Backend.DirectRouting: host-gw style routes between nodes of one subnet.",
            |f: &Item<FlannelConfigs>| f.get().direct_routing,
        )
        .get("FlannelConfig", "source", "f.source -> string", "Where it was read.", |f: &Item<FlannelConfigs>| f.get().source.to_string());
    r.engine.register_type_with_name::<Item<CorefileForwards>>("CorefileForward");
    r.get("CorefileForward", "server", "f.server -> string", "The server block (`.:53`).", |f: &Item<CorefileForwards>| f.get().server.clone())
        .get("CorefileForward", "directive", "f.directive -> string", "`forward` or `proxy`.", |f: &Item<CorefileForwards>| f.get().directive.clone())
        .get("CorefileForward", "from", "f.from -> string", "The zone (`.`).", |f: &Item<CorefileForwards>| f.get().from.clone())
        .get("CorefileForward", "targets", "f.targets -> [string]", "Upstreams: addresses or a resolv.conf path.", |f: &Item<CorefileForwards>| {
            strings(&f.get().targets)
        })
        .get("CorefileForward", "line", "f.line -> int", "Line in the Corefile.", |f: &Item<CorefileForwards>| f.get().line as i64)
        .get("CorefileForward", "text", "f.text -> string", "The directive as written.", |f: &Item<CorefileForwards>| f.get().text.clone());
}
