//! The indexed fact graph every rule evaluates: an immutable snapshot of the
//! fact store, with the indexes rules need and the catalogue's conventions
//! (lease ownership, pod bridges, host networks, proxy mode, CNI-owned
//! interfaces, which resolv.conf the kubelet hands pods) computed in Rust, so
//! every rule applies them the same way and no rule is worse than linear.
//!
//! Build one with [`crate::store::FactStore::snapshot`] (or [`Graph::build`]
//! from one [`FactSet`]); rules see it through `runtime::api`. Fields are
//! private: the invariants (sorted objects, consistent indexes) hold by
//! construction. Data-plane, flannel and Calico conventions are in
//! [`crate::dataplane`].

use crate::cidr::CidrSet;
use crate::kind::{FactKind, Scope};
use crate::model::*;
use crate::route::{Lookup, RouteTable};
use crate::source::{could_not_read, Fact, Source};
use crate::store::{FactSet, ObjKey};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// How to build a graph: settings from `--config` that change conventions.
#[derive(Debug, Clone, Default)]
pub struct GraphOptions {
    /// Extra interface names (a trailing `*` is a prefix) to treat as CNI-owned.
    pub extra_cni_interfaces: Vec<String>,
}

/// One "host" in the catalogue's sense: a Node, a host with collected facts, or both.
#[derive(Debug)]
pub struct HostEntry {
    pub(crate) name: String,
    /// Index into the nodes when a Node of that name exists.
    pub(crate) node: Option<usize>,
    /// The host's facts; `None` when nothing was collected for it (a Node without host facts).
    pub(crate) facts: Option<HostFacts>,
    /// Its routes indexed for longest-prefix match, when routes were collected.
    pub(crate) routes: Option<RouteTable>,
    /// Derived lazily: most rules at cluster scope never ask.
    pub(crate) proxy: OnceLock<crate::dataplane::ProxyIndex>,
    pub(crate) forward: OnceLock<Option<crate::dataplane::ForwardAnalysis>>,
}

/// Who owns a flannel lease, and by which evidence.
#[derive(Debug, Clone)]
pub struct LeaseOwner {
    /// The host (target) index.
    pub host: usize,
    pub via: String,
}

/// A lease with its owner.
#[derive(Debug)]
pub struct LeaseEntry {
    pub lease: Arc<FlannelLease>,
    pub owner: Option<LeaseOwner>,
}

/// The endpoints of one Service, merged from its EndpointSlices (preferred) or its Endpoints.
#[derive(Debug, Clone, Default)]
pub struct ServiceEndpoints {
    pub ready: Vec<IpAddr>,
    pub not_ready: Vec<IpAddr>,
    pub ports: Vec<EndpointPort>,
    /// `EndpointSlice` or `Endpoints`.
    pub source_kind: &'static str,
}

/// A pod's health as `kubectl get pods` shows it.
#[derive(Debug, Clone)]
pub struct PodHealth {
    /// False when the pod has no status at all (then judge nothing).
    pub known: bool,
    /// Not Ready, crash-looping or with a terminated container: false.
    pub ok: bool,
    pub ready: bool,
    /// kubectl's STATUS column (`CrashLoopBackOff`, `Completed`, `Evicted`, `Pending`, ...).
    pub status: String,
    pub crash_loop: bool,
    /// Containers whose current state is terminated.
    pub terminated: Vec<String>,
    /// The container that explains the status.
    pub container: Option<String>,
    pub restarts: u64,
    /// The culprit's last state reason (`Error`, `OOMKilled`).
    pub last_reason: Option<String>,
    pub exit_code: Option<i32>,
    /// `CrashLoopBackOff, last state Error, 57 restarts`.
    pub text: String,
}

impl PodHealth {
    /// The health of a pod (the STATUS column logic of `kubectl get pods`, simplified).
    pub fn of(p: &Pod) -> PodHealth {
        let known = p.phase.is_some() || !p.conditions.is_empty() || !p.containers.is_empty();
        let ready = p.ready();
        let is = |c: &ContainerStatus, s: ContainerState| c.state == Some(s);
        let crash_loop = p.containers.iter().any(|c| is(c, ContainerState::Waiting) && c.reason.as_deref() == Some("CrashLoopBackOff"));
        let terminated: Vec<String> = p.containers.iter().filter(|c| is(c, ContainerState::Terminated)).map(|c| c.name.clone()).collect();
        let restarts = p.restarts();
        let culprit = p
            .containers
            .iter()
            .find(|c| is(c, ContainerState::Waiting) || is(c, ContainerState::Terminated))
            .or_else(|| p.containers.iter().find(|c| !c.ready))
            .or_else(|| p.containers.first());
        let scheduled = p.conditions.iter().find(|c| c.kind == "PodScheduled" && c.status != ConditionStatus::True);
        let state_text = |c: &ContainerStatus| c.state.map_or("unknown", ContainerState::as_str).to_string();
        let status = if let Some(r) = &p.reason {
            r.clone()
        } else if let Some(c) = culprit.filter(|c| is(c, ContainerState::Waiting) || is(c, ContainerState::Terminated)) {
            match (&c.reason, c.exit_code) {
                (Some(r), _) => r.clone(),
                (None, Some(code)) => format!("ExitCode:{code}"),
                (None, None) => state_text(c),
            }
        } else if let Some(r) = scheduled.and_then(|c| c.reason.as_deref().map(str::to_string)) {
            r
        } else {
            p.phase.map_or("Unknown", PodPhase::as_str).to_string()
        };
        let ok = ready && !crash_loop && terminated.is_empty();
        let mut text = match culprit {
            Some(c) if is(c, ContainerState::Terminated) => {
                let code = c.exit_code.map(|e| format!(" (exit code {e})")).unwrap_or_default();
                format!("container {} terminated {status}{code}", c.name)
            }
            Some(c) if is(c, ContainerState::Waiting) => format!("container {} {status}", c.name),
            Some(c) if is(c, ContainerState::Running) && !ready => format!("{status}, container {} running but not Ready", c.name),
            _ if !ready => format!("{status}, not Ready"),
            _ => status.clone(),
        };
        let last_reason = culprit.and_then(|c| c.last_reason.clone());
        if let Some(r) = &last_reason {
            text.push_str(&format!(", last state {r}"));
        }
        text.push_str(&format!(", {restarts} restart{}", if restarts == 1 { "" } else { "s" }));
        PodHealth {
            known,
            ok,
            ready,
            status,
            crash_loop,
            terminated,
            container: culprit.map(|c| c.name.clone()),
            restarts,
            last_reason,
            exit_code: culprit.and_then(|c| c.exit_code),
            text,
        }
    }
}

/// Which resolv.conf pods on a host get.
#[derive(Debug, Clone)]
pub enum PodResolv {
    /// Known and collected: its source, the parsed file, and how it was chosen.
    File { source: Option<Source>, conf: ResolvConf, how: String },
    /// Cannot be told; the reason says why.
    Unknown(String),
}

/// Interface names owned by a CNI or kube-proxy, never host network
/// (catalogue conventions). A trailing `*` is a prefix match.
pub const CNI_INTERFACES: &[&str] = &[
    "cni0",
    "docker0",
    "cbr0",
    "flannel.*",
    "flannel-wg*",
    "cali*",
    "tunl0",
    "vxlan.calico",
    "wireguard.cali",
    "cilium_*",
    "lxc*",
    "kube-bridge",
    "kube-dummy-if",
    "kube-ipvs0",
    "nodelocaldns",
    "weave",
    "vxlan-*",
    "veth*",
];

pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// DaemonSet name prefixes of CNI agents (catalogue conventions).
pub const CNI_AGENT_PREFIXES: &[&str] = &["calico-node", "kube-flannel", "flannel", "cilium", "kube-router", "weave-net", "canal"];

/// True when a pod belongs to a CNI agent DaemonSet.
pub fn is_cni_agent(pod: &Pod) -> bool {
    pod.owner.as_ref().is_some_and(|o| o.kind == "DaemonSet" && CNI_AGENT_PREFIXES.iter().any(|p| o.name.starts_with(p)))
}

/// The facts plus the indexes and derived conventions rules need.
#[derive(Debug, Default)]
pub struct Graph {
    meta: Meta,
    now: Option<i64>,
    /// Why each cluster kind cannot be used (absent: fully read).
    unavailable: HashMap<FactKind, String>,
    cluster_sources: HashMap<FactKind, Vec<Source>>,
    pub(crate) nodes: Vec<Arc<Node>>,
    node_by_name: HashMap<String, usize>,
    pub(crate) pods: Vec<Arc<Pod>>,
    pub(crate) pod_health: Vec<PodHealth>,
    pods_by_node: HashMap<String, Vec<usize>>,
    pods_by_node_ns: HashMap<(String, String), Vec<usize>>,
    pods_by_label: HashMap<(String, String), Vec<usize>>,
    pods_by_ns: HashMap<String, Vec<usize>>,
    cni_agent_pods: Vec<usize>,
    mirror_pods: Vec<usize>,
    pod_by_ip: HashMap<IpAddr, usize>,
    pub(crate) services: Vec<Arc<Service>>,
    service_by_key: HashMap<ObjKey, usize>,
    service_by_ip: HashMap<IpAddr, usize>,
    /// (protocol, nodePort) → (service, port index).
    service_by_node_port: HashMap<(L4Proto, u16), (usize, usize)>,
    endpoints: Vec<Option<ServiceEndpoints>>,
    pub(crate) deployments: Vec<Arc<Deployment>>,
    deployment_by_key: HashMap<ObjKey, usize>,
    pub(crate) component_statuses: Vec<Arc<ComponentStatus>>,
    pub(crate) ip_pools: Vec<Arc<IpPool>>,
    pub(crate) block_affinities: Vec<Arc<BlockAffinity>>,
    corefile: Fact<Corefile>,
    kube_proxy: Fact<KubeProxyConfig>,
    kubeadm: Fact<KubeadmConfig>,
    flannel_etcd_config: Option<FlannelConfig>,
    flannel_net_conf: Option<FlannelConfig>,
    pub(crate) leases: Vec<LeaseEntry>,
    lease_by_subnet: HashMap<IpNet, usize>,
    leases_by_owner: HashMap<usize, Vec<usize>>,
    pub(crate) hosts: Vec<HostEntry>,
    host_by_name: HashMap<String, usize>,
    /// Address on any collected host interface → hosts.
    host_by_addr: HashMap<IpAddr, Vec<usize>>,
    /// The cluster's pod networks (source description each), indexed for overlap queries.
    pod_networks: CidrSet<String>,
    /// Neighbour entries by destination: (host, index in its neighbours).
    neigh_by_dst: HashMap<IpAddr, Vec<(usize, usize)>>,
    /// FDB entries by VXLAN remote: (host, index in its fdb).
    fdb_by_dst: HashMap<IpAddr, Vec<(usize, usize)>>,
    /// Hosts that run flannel and have a neighbour or FDB table collected (derived lazily).
    pub(crate) flannel_table_hosts: OnceLock<Vec<usize>>,
    collectors: Vec<CollectorStatus>,
    errors: Vec<crate::source::SourceError>,
    notes: Vec<String>,
    extra_cni_interfaces: Vec<String>,
    locator: Option<Arc<dyn crate::store::Locator>>,
}

fn sorted<K: Ord, T>(m: BTreeMap<K, Arc<T>>) -> Vec<Arc<T>> {
    m.into_values().collect()
}

impl Graph {
    /// Indexes one fact set and derives the conventions.
    pub fn build(mut set: FactSet, collectors: Vec<CollectorStatus>, options: &GraphOptions) -> Graph {
        let mut recorded = std::mem::take(&mut set.collectors);
        recorded.retain(|r| !collectors.iter().any(|c| c.name == r.name));
        recorded.extend(collectors);
        let mut g = Graph { extra_cni_interfaces: options.extra_cni_interfaces.clone(), collectors: recorded, ..Default::default() };
        g.meta = std::mem::take(&mut set.meta);
        // The locator stays in the set until the cluster kinds' reasons are worded (it may know why
        // a kind was not collected).
        g.locator = set.locator.clone();
        g.now = g.meta.captured_at.as_deref().and_then(crate::time::parse_rfc3339).or(set.newest);
        for k in FactKind::of(Scope::Cluster) {
            if let Some(why) = set.cluster_unavailable(k) {
                g.unavailable.insert(k, why);
            }
            let sources: Vec<Source> = match k {
                FactKind::CorednsConfig => set.corefile.source().cloned().into_iter().collect(),
                FactKind::KubeProxyConfig => set.kube_proxy.source().cloned().into_iter().collect(),
                FactKind::KubeadmConfig => set.kubeadm.source().cloned().into_iter().collect(),
                FactKind::FlannelNetConf => set.flannel_net_conf.source().cloned().into_iter().collect(),
                _ => set.kinds.get(&k).map(|s| s.sources.clone()).unwrap_or_default(),
            };
            g.cluster_sources.insert(k, sources);
        }
        g.corefile = std::mem::take(&mut set.corefile);
        g.kube_proxy = std::mem::take(&mut set.kube_proxy);
        g.kubeadm = std::mem::take(&mut set.kubeadm);
        g.flannel_net_conf = std::mem::take(&mut set.flannel_net_conf).get().cloned();
        g.flannel_etcd_config = set.flannel_etcd_config.take();
        g.errors = std::mem::take(&mut set.errors);
        g.notes = std::mem::take(&mut set.notes);
        g.nodes = sorted(std::mem::take(&mut set.nodes));
        g.pods = sorted(std::mem::take(&mut set.pods));
        g.services = sorted(std::mem::take(&mut set.services));
        g.deployments = sorted(std::mem::take(&mut set.deployments));
        for (i, d) in g.deployments.iter().enumerate() {
            g.deployment_by_key.insert((d.namespace.clone(), d.name.clone()), i);
        }
        g.component_statuses = sorted(std::mem::take(&mut set.component_statuses));
        g.ip_pools = sorted(std::mem::take(&mut set.ip_pools));
        g.block_affinities = sorted(std::mem::take(&mut set.block_affinities));
        g.block_affinities.sort_by(|a, b| (a.cidr.addr(), a.cidr.prefix_len(), &a.name).cmp(&(b.cidr.addr(), b.cidr.prefix_len(), &b.name)));
        g.index_cluster(std::mem::take(&mut set.endpoints));
        g.index_hosts(std::mem::take(&mut set.hosts));
        let etcd_collected = set.kinds.contains_key(&FactKind::FlannelEtcd);
        let etcd_leases = std::mem::take(&mut set.leases);
        g.index_leases(etcd_collected, etcd_leases);
        g.index_pod_networks();
        g
    }

    fn index_cluster(&mut self, endpoint_sets: BTreeMap<ObjKey, Arc<EndpointSet>>) {
        for (i, n) in self.nodes.iter().enumerate() {
            self.node_by_name.insert(n.name.clone(), i);
        }
        self.pod_health = self.pods.iter().map(|p| PodHealth::of(p)).collect();
        for (i, p) in self.pods.iter().enumerate() {
            if let Some(n) = &p.node {
                self.pods_by_node.entry(n.clone()).or_default().push(i);
                self.pods_by_node_ns.entry((n.clone(), p.namespace.clone())).or_default().push(i);
            }
            self.pods_by_ns.entry(p.namespace.clone()).or_default().push(i);
            for (k, v) in &p.labels {
                self.pods_by_label.entry((k.to_string(), v.to_string())).or_default().push(i);
            }
            if is_cni_agent(p) {
                self.cni_agent_pods.push(i);
            }
            if p.mirror {
                self.mirror_pods.push(i);
            }
            if !p.host_network {
                for ip in &p.ips {
                    self.pod_by_ip.insert(*ip, i);
                }
            }
        }
        for (i, s) in self.services.iter().enumerate() {
            self.service_by_key.insert((s.namespace.clone(), s.name.clone()), i);
            for ip in &s.cluster_ips {
                self.service_by_ip.insert(*ip, i);
            }
            for (pi, p) in s.ports.iter().enumerate() {
                if let Some(np) = p.node_port {
                    self.service_by_node_port.entry((p.protocol, np)).or_insert((i, pi));
                }
            }
        }
        // EndpointSlices win over the Endpoints object of the same Service.
        let mut merged: HashMap<ObjKey, ServiceEndpoints> = HashMap::new();
        let mut from_v1: HashMap<ObjKey, ServiceEndpoints> = HashMap::new();
        for e in endpoint_sets.values() {
            let key = (e.namespace.clone(), e.service.clone());
            let into = if e.slice { &mut merged } else { &mut from_v1 };
            let m =
                into.entry(key).or_insert_with(|| ServiceEndpoints { source_kind: if e.slice { "EndpointSlice" } else { "Endpoints" }, ..Default::default() });
            m.ready.extend(&e.ready);
            m.not_ready.extend(&e.not_ready);
            for p in &e.ports {
                if !m.ports.contains(p) {
                    m.ports.push(p.clone());
                }
            }
        }
        for (k, v) in from_v1 {
            merged.entry(k).or_insert(v);
        }
        self.endpoints = self
            .services
            .iter()
            .map(|s| {
                merged.remove(&(s.namespace.clone(), s.name.clone())).map(|mut e| {
                    e.ready.sort();
                    e.ready.dedup();
                    e.not_ready.sort();
                    e.not_ready.dedup();
                    e
                })
            })
            .collect();
    }

    fn index_hosts(&mut self, hosts: BTreeMap<String, HostFacts>) {
        let mut names: BTreeSet<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        names.extend(hosts.keys().cloned());
        let mut hosts = hosts;
        for name in names {
            let facts = hosts.remove(&name);
            let routes = facts.as_ref().and_then(|h| {
                let v4 = h.routes.get()?;
                let v6 = h.routes6.get().map(Vec::as_slice).unwrap_or(&[]);
                Some(RouteTable::new(&[v4, v6]))
            });
            let t = self.hosts.len();
            if let Some(h) = &facts {
                for a in h.addrs.get().into_iter().flatten() {
                    self.host_by_addr.entry(a.local).or_default().push(t);
                }
                for (i, n) in h.neighbours.get().into_iter().flatten().enumerate() {
                    self.neigh_by_dst.entry(n.dst).or_default().push((t, i));
                }
                for (i, e) in h.fdb.get().into_iter().flatten().enumerate() {
                    if let Some(d) = e.dst {
                        self.fdb_by_dst.entry(d).or_default().push((t, i));
                    }
                }
            }
            self.host_by_name.insert(name.clone(), t);
            let node = self.node_by_name.get(&name).copied();
            self.hosts.push(HostEntry { name, node, facts, routes, proxy: OnceLock::new(), forward: OnceLock::new() });
        }
    }

    fn index_leases(&mut self, etcd_collected: bool, etcd: BTreeMap<ObjKey, Arc<FlannelLease>>) {
        let mut leases: Vec<Arc<FlannelLease>> = if etcd_collected { etcd.into_values().collect() } else { leases_from_annotations(&self.nodes) };
        leases.sort_by_key(|l| (l.subnet.addr(), l.subnet.prefix_len()));
        // Node addresses and flannel public-ip annotations → node, for lease ownership.
        let mut by_node_addr: HashMap<IpAddr, (usize, String)> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for a in &n.addresses {
                if let Some(ip) = a.ip {
                    by_node_addr.entry(ip).or_insert((i, format!("Node {} has {} {ip}", n.name, a.kind)));
                }
            }
            if let Some(ip) = n.flannel.as_ref().and_then(|f| f.public_ip) {
                by_node_addr.entry(ip).or_insert((i, format!("Node {} has annotation flannel.alpha.coreos.com/public-ip={ip}", n.name)));
            }
        }
        for (i, lease) in leases.into_iter().enumerate() {
            let owner = lease.public_ip.and_then(|ip| {
                if let Some((n, via)) = by_node_addr.get(&ip) {
                    let host = self.host_by_name[&self.nodes[*n].name];
                    return Some(LeaseOwner { host, via: via.clone() });
                }
                let host = *self.host_by_addr.get(&ip)?.first()?;
                let dev = self.hosts[host]
                    .facts
                    .as_ref()
                    .and_then(|h| h.addrs.get())
                    .and_then(|a| a.iter().find(|a| a.local == ip))
                    .map(|a| a.dev.clone())
                    .unwrap_or_default();
                Some(LeaseOwner { host, via: format!("host {} has {ip} on {dev} (not a registered Node)", self.hosts[host].name) })
            });
            if let Some(o) = &owner {
                self.leases_by_owner.entry(o.host).or_default().push(i);
            }
            self.lease_by_subnet.insert(lease.subnet, i);
            self.leases.push(LeaseEntry { lease, owner });
        }
    }

    fn index_pod_networks(&mut self) {
        let mut out: Vec<(IpNet, String)> = Vec::new();
        if let Some(fc) = self.flannel_config() {
            if let Some(n) = fc.network {
                out.push((n, format!("flannel Network ({})", fc.source)));
            }
        }
        for p in self.ip_pools.iter().filter(|p| !p.disabled) {
            out.push((p.cidr, format!("Calico IPPool {}", p.name)));
        }
        if let Some(k) = self.kubeadm.get() {
            for n in &k.pod_subnets {
                out.push((*n, "kubeadm-config networking.podSubnet".to_string()));
            }
        }
        for node in &self.nodes {
            for c in &node.pod_cidrs {
                out.push((*c, format!("Node {} spec.podCIDR", node.name)));
            }
        }
        self.pod_networks = CidrSet::new(out);
    }

    // -----------------------------------------------------------------------
    // Provenance and state

    /// Capture metadata.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Evaluation time (Unix seconds): `captured_at`, else the newest timestamp in the facts.
    pub fn now(&self) -> Option<i64> {
        self.now
    }

    /// True when a cluster kind was collected and every entry of it could be read.
    pub fn has(&self, kind: FactKind) -> bool {
        kind.scope() == Scope::Cluster && !self.unavailable.contains_key(&kind)
    }

    /// Why a cluster kind cannot be used ("... not collected", "could not be read: ..."), or
    /// `None` when it can.
    pub fn unavailable(&self, kind: FactKind) -> Option<&str> {
        self.unavailable.get(&kind).map(String::as_str)
    }

    /// Where a cluster kind was read.
    pub fn sources(&self, kind: FactKind) -> &[Source] {
        self.cluster_sources.get(&kind).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Collector statuses (live mode, or as a capture recorded them).
    pub fn collectors(&self) -> &[CollectorStatus] {
        &self.collectors
    }

    /// Source errors of the facts.
    pub fn errors(&self) -> &[crate::source::SourceError] {
        &self.errors
    }

    /// Notes of the facts (ignored files, duplicates).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Why a live fact is stale (its collector's last run failed), or `None`.
    pub fn stale(&self, source: &Source) -> Option<String> {
        let Source::Live { collector, .. } = source else { return None };
        let st = self.collectors.iter().find(|c| &c.name == collector)?;
        if st.up {
            return None;
        }
        let since = st.last_success.map_or("never".to_string(), crate::time::format_rfc3339);
        Some(format!("{collector} is down (last success {since}): {}", st.error.as_deref().unwrap_or("unknown error")))
    }

    // -----------------------------------------------------------------------
    // Objects and indexes

    /// Every Node, sorted by name.
    pub fn nodes(&self) -> &[Arc<Node>] {
        &self.nodes
    }
    /// The index of the Node of that name.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.node_by_name.get(name).copied()
    }
    /// The Node of that name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.node_index(name).map(|i| self.nodes[i].as_ref())
    }
    /// Every Pod, sorted by namespace and name.
    pub fn pods(&self) -> &[Arc<Pod>] {
        &self.pods
    }
    /// A pod's health (kubectl STATUS).
    pub fn pod_health(&self, i: usize) -> &PodHealth {
        &self.pod_health[i]
    }
    /// Pods scheduled on a node.
    pub fn pods_on(&self, node: &str) -> &[usize] {
        self.pods_by_node.get(node).map(Vec::as_slice).unwrap_or(&[])
    }
    /// Pods of one namespace scheduled on a node.
    pub fn pods_on_in(&self, node: &str, namespace: &str) -> &[usize] {
        self.pods_by_node_ns.get(&(node.to_string(), namespace.to_string())).map(Vec::as_slice).unwrap_or(&[])
    }
    /// Pods of a namespace.
    pub fn pods_in(&self, namespace: &str) -> &[usize] {
        self.pods_by_ns.get(namespace).map(Vec::as_slice).unwrap_or(&[])
    }
    /// Pods carrying the label `key=value`.
    pub fn pods_with_label(&self, key: &str, value: &str) -> &[usize] {
        self.pods_by_label.get(&(key.to_string(), value.to_string())).map(Vec::as_slice).unwrap_or(&[])
    }
    /// Pods of CNI agent DaemonSets.
    pub fn cni_agent_pods(&self) -> &[usize] {
        &self.cni_agent_pods
    }
    /// Static pods' mirrors.
    pub fn mirror_pods(&self) -> &[usize] {
        &self.mirror_pods
    }
    /// The (non-hostNetwork) pod that has this IP.
    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<usize> {
        self.pod_by_ip.get(&ip).copied()
    }
    /// Every Service, sorted by namespace and name.
    pub fn services(&self) -> &[Arc<Service>] {
        &self.services
    }
    /// A Service by namespace and name.
    pub fn service_index(&self, namespace: &str, name: &str) -> Option<usize> {
        self.service_by_key.get(&(namespace.to_string(), name.to_string())).copied()
    }
    /// The Service owning a ClusterIP.
    pub fn service_by_ip(&self, ip: IpAddr) -> Option<usize> {
        self.service_by_ip.get(&ip).copied()
    }
    /// The Service and port with that nodePort.
    pub fn service_by_node_port(&self, proto: L4Proto, port: u16) -> Option<(usize, usize)> {
        self.service_by_node_port.get(&(proto, port)).copied()
    }
    /// The merged endpoints of a Service, `None` when no EndpointSlice or Endpoints exists.
    pub fn endpoints(&self, svc: usize) -> Option<&ServiceEndpoints> {
        self.endpoints[svc].as_ref()
    }
    /// Ready endpoint addresses of a Service (empty when none).
    pub fn ready_endpoints(&self, svc: usize) -> &[IpAddr] {
        self.endpoints(svc).map_or(&[], |e| e.ready.as_slice())
    }
    /// Pods in the Service's namespace whose labels match its selector (through the label index).
    pub fn selected_pods(&self, svc: usize) -> Vec<usize> {
        let s = &self.services[svc];
        let Some(shortest) = s.selector.iter().map(|(k, v)| self.pods_with_label(k, v)).min_by_key(|l| l.len()) else {
            return Vec::new();
        };
        shortest
            .iter()
            .copied()
            .filter(|i| {
                let p = &self.pods[*i];
                p.namespace == s.namespace && s.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
            })
            .collect()
    }
    /// Deployments, sorted by namespace and name.
    pub fn deployments(&self) -> &[Arc<Deployment>] {
        &self.deployments
    }
    /// A Deployment by namespace and name.
    pub fn deployment_index(&self, namespace: &str, name: &str) -> Option<usize> {
        self.deployment_by_key.get(&(namespace.to_string(), name.to_string())).copied()
    }
    /// ComponentStatuses, sorted by name.
    pub fn component_statuses(&self) -> &[Arc<ComponentStatus>] {
        &self.component_statuses
    }
    /// Calico IPPools.
    pub fn ip_pools(&self) -> &[Arc<IpPool>] {
        &self.ip_pools
    }
    /// Calico BlockAffinities, sorted by block.
    pub fn block_affinities(&self) -> &[Arc<BlockAffinity>] {
        &self.block_affinities
    }
    /// The Corefile, when collected.
    pub fn corefile(&self) -> Option<&Corefile> {
        self.corefile.get()
    }
    /// kube-proxy's `mode` as written in its ConfigMap, when collected.
    pub fn kube_proxy_mode(&self) -> Option<&str> {
        self.kube_proxy.get().and_then(|k| k.mode.as_deref())
    }
    /// kubeadm's ClusterConfiguration networking, when collected.
    pub fn kubeadm(&self) -> Option<&KubeadmConfig> {
        self.kubeadm.get()
    }
    /// The flannel network config in force: etcd first, then kube-flannel-cfg.
    pub fn flannel_config(&self) -> Option<&FlannelConfig> {
        self.flannel_etcd_config.as_ref().or(self.flannel_net_conf.as_ref())
    }
    /// flannel's config from etcd, when collected.
    pub fn flannel_etcd_config(&self) -> Option<&FlannelConfig> {
        self.flannel_etcd_config.as_ref()
    }
    /// flannel's config from the kube-flannel-cfg ConfigMap, when collected.
    pub fn flannel_net_conf(&self) -> Option<&FlannelConfig> {
        self.flannel_net_conf.as_ref()
    }
    /// Leases (etcd, or derived from Node annotations in kube-subnet-mgr mode), sorted by subnet.
    pub fn leases(&self) -> &[LeaseEntry] {
        &self.leases
    }
    /// The lease of a subnet.
    pub fn lease_by_subnet(&self, subnet: &IpNet) -> Option<usize> {
        self.lease_by_subnet.get(subnet).copied()
    }
    /// Leases owned by a host.
    pub fn leases_of(&self, host: usize) -> &[usize] {
        self.leases_by_owner.get(&host).map(Vec::as_slice).unwrap_or(&[])
    }
    /// Neighbour entries across hosts whose destination is `ip`: (host, index).
    pub fn neighbours_to(&self, ip: IpAddr) -> &[(usize, usize)] {
        self.neigh_by_dst.get(&ip).map(Vec::as_slice).unwrap_or(&[])
    }
    /// FDB entries across hosts whose VXLAN remote is `ip`: (host, index).
    pub fn fdb_to(&self, ip: IpAddr) -> &[(usize, usize)] {
        self.fdb_by_dst.get(&ip).map(Vec::as_slice).unwrap_or(&[])
    }
    /// The cluster's pod networks, indexed (flannel Network, IPPools, kubeadm podSubnet, podCIDRs).
    pub fn pod_network_set(&self) -> &CidrSet<String> {
        &self.pod_networks
    }
    /// The cluster's pod networks with where each is declared.
    pub fn pod_networks(&self) -> &[(IpNet, String)] {
        self.pod_networks.entries()
    }
    /// Declared service CIDRs (kubeadm serviceSubnet).
    pub fn service_cidrs(&self) -> &[IpNet] {
        self.kubeadm.get().map_or(&[], |k| k.service_subnets.as_slice())
    }

    // -----------------------------------------------------------------------
    // Hosts

    /// Every host (each Node and each host with collected facts), sorted by name.
    pub fn hosts(&self) -> &[HostEntry] {
        &self.hosts
    }
    /// The index of the host of that name.
    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.host_by_name.get(name).copied()
    }
    /// A host's name.
    pub fn host_name(&self, t: usize) -> &str {
        &self.hosts[t].name
    }
    /// The Node of a host.
    pub fn host_node(&self, t: usize) -> Option<&Node> {
        self.hosts[t].node.map(|i| self.nodes[i].as_ref())
    }
    /// A host's facts; `None` when nothing was collected for it.
    pub fn host_facts(&self, t: usize) -> Option<&HostFacts> {
        self.hosts[t].facts.as_ref()
    }
    /// Hosts with an address.
    pub fn hosts_with_addr(&self, ip: IpAddr) -> &[usize] {
        self.host_by_addr.get(&ip).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Why a host fact is unavailable, or `None` when it can be used.
    pub fn host_unavailable(&self, t: usize, kind: FactKind) -> Option<String> {
        let name = &self.hosts[t].name;
        let Some(facts) = self.host_facts(t) else {
            return Some(match &self.locator {
                Some(l) => l.no_host(name, kind),
                None => format!("no host facts collected for {name}: {kind} not collected"),
            });
        };
        let st = facts.state(kind)?;
        match (st.present, st.source, st.error) {
            (true, _, _) => None,
            (false, Some(src), Some(err)) => Some(could_not_read(src, err)),
            _ => Some(format!("{} not collected", self.host_fact_place(t, kind))),
        }
    }

    /// How the facts' source names a host (`captured host ...`, `host n1`).
    pub fn host_place(&self, t: usize) -> String {
        let name = &self.hosts[t].name;
        match &self.locator {
            Some(l) => l.host(name),
            None => format!("host {name}"),
        }
    }

    /// Where a host fact is read, in the collector's words (a capture file), or
    /// `routes of n2` when no source said.
    pub fn host_fact_place(&self, t: usize, kind: FactKind) -> String {
        let name = &self.hosts[t].name;
        match &self.locator {
            Some(l) => l.host_fact(name, kind),
            None => format!("{kind} of {name}"),
        }
    }

    /// True when the interface name is CNI- or kube-proxy-owned.
    pub fn is_cni_interface(&self, name: &str) -> bool {
        CNI_INTERFACES.iter().any(|p| name_matches(p, name)) || self.extra_cni_interfaces.iter().any(|p| name_matches(p, name))
    }

    /// The pod subnets of a host: its flannel leases, its Node's podCIDRs, its Calico blocks.
    pub fn pod_subnets(&self, t: usize) -> Vec<(IpNet, String)> {
        let mut out = Vec::new();
        for i in self.leases_of(t) {
            let l = &self.leases[*i].lease;
            out.push((l.subnet, format!("flannel lease {}", l.source)));
        }
        if let Some(n) = self.host_node(t) {
            for c in &n.pod_cidrs {
                out.push((*c, format!("Node {} spec.podCIDR", n.name)));
            }
        }
        let name = self.host_name(t);
        for b in self.block_affinities.iter().filter(|b| b.node == name) {
            out.push((b.cidr, format!("Calico block affinity {}", b.cidr)));
        }
        out
    }

    /// Pod bridges of a host: Linux bridges with veth ports, or whose address lies in one of
    /// the host's pod subnets. `None` when links were not collected.
    pub fn pod_bridges(&self, t: usize) -> Option<Vec<(String, String)>> {
        let host = self.host_facts(t)?;
        let links = host.links.get()?;
        let subnets = self.pod_subnets(t);
        let mut ports: HashMap<&str, Vec<&str>> = HashMap::new();
        for p in links.iter().filter(|p| p.kind == "veth" || p.name.starts_with("veth")) {
            if let Some(m) = &p.master {
                ports.entry(m.as_str()).or_default().push(p.name.as_str());
            }
        }
        let mut out = Vec::new();
        for l in links.iter().filter(|l| l.kind == "bridge" && l.name != "kube-ipvs0") {
            if let Some(ps) = ports.get(l.name.as_str()) {
                out.push((l.name.clone(), format!("bridge {} has veth ports {}", l.name, ps.join(", "))));
                continue;
            }
            let in_subnet = host
                .addrs
                .get()
                .into_iter()
                .flatten()
                .filter(|a| a.dev == l.name)
                .find_map(|a| subnets.iter().find(|(s, _)| s.contains(&a.local)).map(|(s, src)| (a.cidr(), *s, src.clone())));
            if let Some((addr, subnet, src)) = in_subnet {
                out.push((l.name.clone(), format!("bridge {} address {addr} lies in pod subnet {subnet} ({src})", l.name)));
            }
        }
        Some(out)
    }

    /// Host network of a host: subnets of addresses on non-CNI interfaces (not `lo`, not
    /// link/host scope) plus the Node's InternalIPs. Each entry: (network, description).
    pub fn host_networks(&self, t: usize) -> Vec<(IpNet, String)> {
        let mut out: Vec<(IpNet, String)> = Vec::new();
        if let Some(addrs) = self.host_facts(t).and_then(|h| h.addrs.get()) {
            for a in addrs {
                if a.dev == "lo" || self.is_cni_interface(&a.dev) || a.scope == RouteScope::HOST || a.scope == RouteScope::LINK {
                    continue;
                }
                out.push((a.network(), format!("{} on {} ({})", a.cidr(), a.dev, a.network())));
            }
        }
        if let Some(n) = self.host_node(t) {
            for ip in n.internal_ips() {
                if !out.iter().any(|(net, _)| net.contains(&ip)) {
                    out.push((IpNet::from(ip), format!("Node {} InternalIP {ip}", n.name)));
                }
            }
        }
        out
    }

    /// Route lookup on a host over both families, honouring ip rules when collected.
    /// `None` when the host's routes were not collected.
    pub fn route_get(&self, t: usize, dst: IpAddr) -> Option<Lookup> {
        let table = self.hosts[t].routes.as_ref()?;
        Some(table.lookup(self.host_facts(t)?.rules.get().map(Vec::as_slice), dst))
    }

    /// Fast path of [`Graph::route_get`]: only whether `dst` is routable.
    pub fn routable(&self, t: usize, dst: IpAddr) -> Option<bool> {
        let table = self.hosts[t].routes.as_ref()?;
        Some(table.routable(self.host_facts(t)?.rules.get().map(Vec::as_slice), dst))
    }

    /// Main-table IPv4 unicast routes (not default) into a pod network or a declared service
    /// CIDR, except routes to the host's own pod subnets: as indexes into the host's route
    /// table ([`RouteTable::routes`]). Pod networks are indexed, so this is linear in the routes.
    pub fn cluster_network_routes(&self, t: usize) -> Vec<usize> {
        let Some(table) = self.hosts[t].routes.as_ref() else { return Vec::new() };
        let own: Vec<IpNet> = self.pod_subnets(t).into_iter().map(|(n, _)| n).collect();
        let services: Vec<IpNet> = self.service_cidrs().iter().filter(|n| n.addr().is_ipv4()).copied().collect();
        table
            .routes()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_v4() && !r.is_default && r.kind == RouteType::UNICAST && r.table.is_main())
            .filter(|(_, r)| !self.pod_networks.overlapping(&r.dst).is_empty() || services.iter().any(|s| crate::net::overlaps(s, &r.dst)))
            .filter(|(_, r)| !own.iter().any(|o| o.contains(&r.dst.network())))
            .map(|(i, _)| i)
            .collect()
    }

    /// Main-table routes of a host for both families.
    pub fn main_routes(&self, t: usize) -> Vec<&Route> {
        let Some(h) = self.host_facts(t) else { return Vec::new() };
        h.routes.get().into_iter().chain(h.routes6.get()).flatten().filter(|r| r.table.is_main()).collect()
    }

    /// The main table's default route of a family (lowest metric).
    pub fn default_route(&self, t: usize, v4: bool) -> Option<&Route> {
        self.main_routes(t).into_iter().filter(|r| r.is_default && r.kind == RouteType::UNICAST && r.is_v4() == v4).min_by_key(|r| r.metric)
    }

    /// The service proxy mode of a host: `ipvs`, `iptables`, or `""` when it cannot be told.
    pub fn host_proxy_mode(&self, t: usize) -> &'static str {
        let Some(host) = self.host_facts(t) else { return "" };
        let has_ipvs_link = host.links.get().is_some_and(|ls| ls.iter().any(|l| l.name == "kube-ipvs0"));
        let ipvs_non_empty = host.ipvs.get().is_some_and(|t| !t.is_empty());
        if has_ipvs_link || ipvs_non_empty {
            return "ipvs";
        }
        if host.iptables.get().is_some_and(|t| t.chains("nat").any(|(k, _)| k.starts_with("KUBE-SVC-"))) {
            return "iptables";
        }
        ""
    }

    /// The cluster's proxy mode: kube-proxy ConfigMap `mode` (`""` → iptables), else the mode all
    /// hosts that can tell agree on; `""` when unknown or disagreeing.
    pub fn cluster_proxy_mode(&self) -> String {
        if let Some(mode) = self.kube_proxy_mode() {
            return if mode.is_empty() { "iptables".to_string() } else { mode.to_string() };
        }
        let modes: BTreeSet<&str> = (0..self.hosts.len()).map(|t| self.host_proxy_mode(t)).filter(|m| !m.is_empty()).collect();
        if modes.len() == 1 {
            modes.into_iter().next().unwrap_or_default().to_string()
        } else {
            String::new()
        }
    }

    /// Which resolv.conf the kubelet hands pods on this host (catalogue `dns-upstream-loopback`).
    pub fn pod_resolv_conf(&self, t: usize) -> PodResolv {
        let Some(host) = self.host_facts(t) else {
            return PodResolv::Unknown(self.host_unavailable(t, FactKind::ResolvConf).unwrap_or_default());
        };
        match &host.kubelet_resolv_conf {
            Fact::Present { source, value } => {
                return PodResolv::File { source: Some(source.clone()), conf: value.clone(), how: format!("{source} is the file the kubelet hands pods") }
            }
            Fact::Broken { source, error } => return PodResolv::Unknown(could_not_read(source, error)),
            Fact::Missing => {}
        }
        for f in [&host.kubelet_args, &host.kubelet_config] {
            if let Fact::Broken { source, error } = f {
                return PodResolv::Unknown(could_not_read(source, error));
            }
        }
        let setting = [(&host.kubelet_args, "--resolv-conf in"), (&host.kubelet_config, "resolvConf in")].into_iter().find_map(|(f, what)| {
            let src = f.source()?;
            f.get()?.resolv_conf.clone().map(|p| (p, format!("{what} {src}")))
        });
        let any_kubelet_fact = host.kubelet_args.is_present() || host.kubelet_config.is_present();
        let (path, how) = match setting {
            Some((p, how)) => (p.clone(), format!("{how} names {}", if p.is_empty() { "\"\" (no host resolv.conf)".to_string() } else { p })),
            None if any_kubelet_fact => ("/etc/resolv.conf".to_string(), "the kubelet sets no resolv.conf; its default /etc/resolv.conf applies".to_string()),
            None => ("/etc/resolv.conf".to_string(), "no kubelet config or args collected: assumed the kubelet default /etc/resolv.conf".to_string()),
        };
        if path.is_empty() {
            return PodResolv::File { source: None, conf: ResolvConf::default(), how };
        }
        if path != "/etc/resolv.conf" {
            return PodResolv::Unknown(format!("{how}, which was not captured ({} not collected)", self.host_fact_place(t, FactKind::KubeletResolvConf)));
        }
        match &host.resolv_conf {
            Fact::Present { source, value } => PodResolv::File { source: Some(source.clone()), conf: value.clone(), how },
            Fact::Broken { source, error } => PodResolv::Unknown(could_not_read(source, error)),
            Fact::Missing => PodResolv::Unknown(format!("{how}, but {} was not collected", self.host_fact_place(t, FactKind::ResolvConf))),
        }
    }

    /// Fact counts for `stats.facts` and the `netdoctor_facts` metric, in a stable order.
    pub fn fact_counts(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("nodes", self.nodes.len()),
            ("hosts", self.hosts.iter().filter(|h| h.facts.is_some()).count()),
            ("pods", self.pods.len()),
            ("services", self.services.len()),
            ("endpoints", self.endpoints.iter().filter(|e| e.is_some()).count()),
            ("flannel_leases", self.leases.len()),
            ("calico_blocks", self.block_affinities.len()),
            ("routes", self.hosts.iter().filter_map(|h| h.facts.as_ref()).map(|h| h.count(FactKind::Routes)).sum()),
        ]
    }
}

/// kube-subnet-mgr mode: a lease per Node with flannel annotations, subnet = spec.podCIDR.
fn leases_from_annotations(nodes: &[Arc<Node>]) -> Vec<Arc<FlannelLease>> {
    let mut out = Vec::new();
    for n in nodes {
        let Some(f) = &n.flannel else { continue };
        for cidr in n.pod_cidrs.iter().filter(|c| c.addr().is_ipv4()) {
            out.push(Arc::new(FlannelLease {
                subnet: *cidr,
                public_ip: f.public_ip,
                backend_type: f.backend_type.clone(),
                vtep_mac: f.vtep_mac,
                source: Source::Object(format!("Node/{}", n.name)),
                key: None,
            }));
        }
    }
    out
}
