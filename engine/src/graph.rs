//! The indexed fact graph every rule evaluates, and the catalogue conventions
//! (lease ownership, pod bridge, proxy mode, CNI-owned interfaces, which
//! resolv.conf the kubelet hands pods) computed once, in Rust, so every rule
//! applies them the same way.
//!
//! Build one with [`Graph::build`] from collected [`Facts`]; rules see it
//! through `runtime::api`.

use crate::model::*;
use crate::route::{self, Lookup};
use ipnet::IpNet;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// One "host" in the catalogue's sense: a Node, a captured host folder, or both.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// Index into `facts.nodes` when a Node of that name exists.
    pub node: Option<usize>,
    /// Index into `facts.hosts` when the host was captured.
    pub host: Option<usize>,
}

/// Who owns a flannel lease, and by which evidence.
#[derive(Debug, Clone)]
pub struct LeaseOwner {
    pub name: String,
    pub via: String,
}

/// The facts plus the indexes and derived conventions rules need.
#[derive(Debug, Default)]
pub struct Graph {
    pub facts: Facts,
    /// Every host or Node, sorted by name.
    pub targets: Vec<Target>,
    pub target_by_name: HashMap<String, usize>,
    pub node_by_name: HashMap<String, usize>,
    pub pods_by_node: HashMap<String, Vec<usize>>,
    /// Pod IP → pod, for pods not on the host network.
    pub pod_by_ip: HashMap<IpAddr, usize>,
    pub service_by_ip: HashMap<IpAddr, usize>,
    pub service_by_key: HashMap<(String, String), usize>,
    pub endpoints_by_service: HashMap<(String, String), usize>,
    /// etcd leases, or in kube-subnet-mgr mode leases derived from Node annotations.
    pub leases: Vec<FlannelLease>,
    pub lease_owner: Vec<Option<LeaseOwner>>,
    pub lease_by_subnet: HashMap<IpNet, usize>,
    pub leases_by_public_ip: HashMap<IpAddr, Vec<usize>>,
    /// Address on any captured host interface → host (target) names.
    pub host_by_addr: HashMap<IpAddr, Vec<String>>,
    /// The flannel network config in force (etcd first, then kube-flannel-cfg).
    pub flannel_config: Option<FlannelConfig>,
    /// Extra interface names to treat as CNI-owned (from `--config` params).
    pub extra_cni_interfaces: Vec<String>,
    /// Per captured host with routes: its routes indexed for longest-prefix match.
    pub route_tables: HashMap<String, route::RouteTable>,
}

/// Interface names owned by a CNI or kube-proxy, never host network
/// (catalogue conventions). A trailing `*` is a prefix match.
pub const CNI_INTERFACES: &[&str] = &[
    "cni0", "docker0", "cbr0", "flannel.*", "flannel-wg*", "cali*", "tunl0", "vxlan.calico", "wireguard.cali", "cilium_*",
    "lxc*", "kube-bridge", "kube-dummy-if", "kube-ipvs0", "nodelocaldns", "weave", "vxlan-*", "veth*",
];

fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Namespaces/DaemonSet name prefixes of CNI agents (catalogue conventions).
pub const CNI_AGENT_PREFIXES: &[&str] = &["calico-node", "kube-flannel", "flannel", "cilium", "kube-router", "weave-net", "canal"];

impl Graph {
    /// Indexes `facts` and derives the conventions.
    pub fn build(mut facts: Facts) -> Graph {
        facts.nodes.sort_by(|a, b| a.name.cmp(&b.name));
        facts.hosts.sort_by(|a, b| a.name.cmp(&b.name));
        facts.pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        facts.services.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let mut g = Graph { facts, ..Default::default() };
        for (i, n) in g.facts.nodes.iter().enumerate() {
            g.node_by_name.insert(n.name.clone(), i);
        }
        let mut names: BTreeSet<String> = g.facts.nodes.iter().map(|n| n.name.clone()).collect();
        names.extend(g.facts.hosts.iter().map(|h| h.name.clone()));
        for name in names {
            let node = g.node_by_name.get(&name).copied();
            let host = g.facts.hosts.iter().position(|h| h.name == name);
            g.target_by_name.insert(name.clone(), g.targets.len());
            g.targets.push(Target { name, node, host });
        }
        for (i, p) in g.facts.pods.iter().enumerate() {
            if let Some(n) = &p.node {
                g.pods_by_node.entry(n.clone()).or_default().push(i);
            }
            if !p.host_network {
                for ip in &p.pod_ips {
                    g.pod_by_ip.insert(*ip, i);
                }
            }
        }
        for (i, s) in g.facts.services.iter().enumerate() {
            g.service_by_key.insert((s.namespace.clone(), s.name.clone()), i);
            for ip in &s.cluster_ips {
                g.service_by_ip.insert(*ip, i);
            }
        }
        for (i, e) in g.facts.endpoints.iter().enumerate() {
            g.endpoints_by_service.insert((e.namespace.clone(), e.service.clone()), i);
        }
        for h in &g.facts.hosts {
            if let Some(v4) = h.routes.get() {
                let v6 = h.routes6.get().map(Vec::as_slice).unwrap_or(&[]);
                g.route_tables.insert(h.name.clone(), route::RouteTable::new(&[v4, v6]));
            }
            for a in h.addrs.get().into_iter().flatten() {
                g.host_by_addr.entry(a.local).or_default().push(h.name.clone());
            }
        }
        g.flannel_config = g.facts.flannel_etcd_config.clone().or_else(|| g.facts.config.flannel_net_conf.clone());
        g.leases = if g.facts.collected.contains_key("etcd/flannel") {
            g.facts.flannel_leases.clone()
        } else {
            leases_from_annotations(&g.facts.nodes)
        };
        g.leases.sort_by_key(|l| (l.subnet.addr(), l.subnet.prefix_len()));
        for (i, l) in g.leases.iter().enumerate() {
            g.lease_by_subnet.insert(l.subnet, i);
            if let Some(ip) = l.public_ip {
                g.leases_by_public_ip.entry(ip).or_default().push(i);
            }
        }
        g.lease_owner = (0..g.leases.len()).map(|i| g.compute_lease_owner(i)).collect();
        g
    }

    fn compute_lease_owner(&self, i: usize) -> Option<LeaseOwner> {
        let lease = &self.leases[i];
        let ip = lease.public_ip?;
        for n in &self.facts.nodes {
            if let Some((t, _)) = n.addresses.iter().find(|(_, a)| a.parse::<IpAddr>().ok() == Some(ip)) {
                return Some(LeaseOwner { name: n.name.clone(), via: format!("Node {} has {t} {ip}", n.name) });
            }
            if n.flannel.as_ref().and_then(|f| f.public_ip) == Some(ip) {
                return Some(LeaseOwner {
                    name: n.name.clone(),
                    via: format!("Node {} has annotation flannel.alpha.coreos.com/public-ip={ip}", n.name),
                });
            }
        }
        let host = self.host_by_addr.get(&ip)?.first()?;
        let dev = self.host(host).and_then(|h| h.addrs.get()).and_then(|a| a.iter().find(|a| a.local == ip)).map(|a| a.dev.clone());
        Some(LeaseOwner {
            name: host.clone(),
            via: format!("captured host {host} has {ip} on {} (not a registered Node)", dev.unwrap_or_default()),
        })
    }

    /// The captured host facts of that name.
    pub fn host(&self, name: &str) -> Option<&Host> {
        let t = &self.targets[*self.target_by_name.get(name)?];
        t.host.map(|h| &self.facts.hosts[h])
    }

    /// The Node of that name.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.node_by_name.get(name).map(|i| &self.facts.nodes[*i])
    }

    /// True when the cluster kind was collected (see [`CLUSTER_KINDS`]).
    pub fn has(&self, kind: &str) -> bool {
        self.facts.collected.contains_key(kind)
    }

    /// Why a cluster kind is not available, for `skipped` reasons.
    pub fn missing_reason(&self, kind: &str) -> String {
        match self.facts.broken.get(kind) {
            Some(srcs) => format!("{kind}: {} could not be parsed (see errors)", srcs.join(", ")),
            None => format!("{kind} not collected"),
        }
    }

    /// Pod indexes on a node.
    pub fn pods_on(&self, node: &str) -> &[usize] {
        self.pods_by_node.get(node).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Evaluation time: `meta.captured_at`, else the newest timestamp in the facts.
    pub fn now(&self) -> Option<&str> {
        self.facts.meta.captured_at.as_deref().or(self.facts.newest_timestamp.as_deref())
    }

    /// True when the interface name is CNI- or kube-proxy-owned.
    pub fn is_cni_interface(&self, name: &str) -> bool {
        CNI_INTERFACES.iter().any(|p| name_matches(p, name)) || self.extra_cni_interfaces.iter().any(|p| name_matches(p, name))
    }

    /// Leases owned by a host / node name.
    pub fn leases_of(&self, name: &str) -> Vec<usize> {
        (0..self.leases.len()).filter(|i| self.lease_owner[*i].as_ref().is_some_and(|o| o.name == name)).collect()
    }

    /// The pod subnets of a host: its flannel leases, its Node's podCIDRs, its Calico blocks.
    pub fn pod_subnets(&self, name: &str) -> Vec<(IpNet, String)> {
        let mut out = Vec::new();
        for i in self.leases_of(name) {
            out.push((self.leases[i].subnet, format!("flannel lease {}", self.leases[i].source)));
        }
        if let Some(n) = self.node(name) {
            for c in &n.pod_cidrs {
                out.push((*c, format!("Node {name} spec.podCIDR")));
            }
        }
        for b in self.facts.block_affinities.iter().filter(|b| b.node == name) {
            out.push((b.cidr, format!("Calico block affinity {}", b.cidr)));
        }
        out
    }

    /// The cluster's pod networks: flannel Network, Calico IPPools, Nodes' podCIDRs, kubeadm podSubnet.
    pub fn pod_networks(&self) -> Vec<(IpNet, String)> {
        let mut out: Vec<(IpNet, String)> = Vec::new();
        if let Some(fc) = &self.flannel_config {
            if let Some(n) = fc.network {
                out.push((n, format!("flannel Network ({})", fc.source)));
            }
        }
        for p in self.facts.ip_pools.iter().filter(|p| !p.disabled) {
            out.push((p.cidr, format!("Calico IPPool {}", p.name)));
        }
        for n in &self.facts.config.kubeadm_pod_subnets {
            out.push((*n, "kubeadm-config networking.podSubnet".to_string()));
        }
        for node in &self.facts.nodes {
            for c in &node.pod_cidrs {
                out.push((*c, format!("Node {} spec.podCIDR", node.name)));
            }
        }
        out
    }

    /// Pod bridges of a host: Linux bridges with veth ports, or whose address lies in one of
    /// the host's pod subnets. `None` when links were not collected.
    pub fn pod_bridges(&self, name: &str) -> Option<Vec<(String, String)>> {
        let host = self.host(name)?;
        let links = host.links.get()?;
        let subnets = self.pod_subnets(name);
        let mut out = Vec::new();
        for l in links.iter().filter(|l| l.kind == "bridge" && l.name != "kube-ipvs0") {
            let ports: Vec<&str> =
                links.iter().filter(|p| p.master.as_deref() == Some(&l.name) && (p.kind == "veth" || p.name.starts_with("veth"))).map(|p| p.name.as_str()).collect();
            if !ports.is_empty() {
                out.push((l.name.clone(), format!("bridge {} has veth ports {}", l.name, ports.join(", "))));
                continue;
            }
            let in_subnet = host.addrs.get().into_iter().flatten().filter(|a| a.dev == l.name).find_map(|a| {
                subnets.iter().find(|(s, _)| s.contains(&a.local)).map(|(s, src)| (a.cidr(), *s, src.clone()))
            });
            if let Some((addr, subnet, src)) = in_subnet {
                out.push((l.name.clone(), format!("bridge {} address {addr} lies in pod subnet {subnet} ({src})", l.name)));
            }
        }
        Some(out)
    }

    /// Host network of a target: subnets of addresses on non-CNI interfaces (not `lo`,
    /// not link/host scope) plus the Node's InternalIPs. Each entry: (network, description).
    pub fn host_networks(&self, name: &str) -> Vec<(IpNet, String)> {
        let mut out = Vec::new();
        if let Some(addrs) = self.host(name).and_then(|h| h.addrs.get()) {
            for a in addrs {
                if a.dev == "lo" || self.is_cni_interface(&a.dev) || a.scope == "host" || a.scope == "link" {
                    continue;
                }
                out.push((a.network(), format!("{} on {} ({})", a.cidr(), a.dev, a.network())));
            }
        }
        if let Some(n) = self.node(name) {
            for ip in n.internal_ips() {
                if !out.iter().any(|(net, _)| net.contains(&ip)) {
                    out.push((IpNet::from(ip), format!("Node {name} InternalIP {ip}")));
                }
            }
        }
        out
    }

    /// Route lookup on a host over both families, honouring ip rules when captured.
    /// `None` when the host's routes were not collected.
    pub fn route_get(&self, name: &str, dst: IpAddr) -> Option<Lookup> {
        let table = self.route_tables.get(name)?;
        Some(table.lookup(self.host(name)?.rules.get().map(Vec::as_slice), dst))
    }

    /// Fast path of [`Graph::route_get`]: only whether `dst` is routable.
    pub fn routable(&self, name: &str, dst: IpAddr) -> Option<bool> {
        let table = self.route_tables.get(name)?;
        Some(table.routable(self.host(name)?.rules.get().map(Vec::as_slice), dst))
    }

    /// The service proxy mode of a host: `ipvs`, `iptables`, or `""` when it cannot be told.
    pub fn host_proxy_mode(&self, name: &str) -> &'static str {
        let Some(host) = self.host(name) else { return "" };
        let has_ipvs_link = host.links.get().is_some_and(|ls| ls.iter().any(|l| l.name == "kube-ipvs0"));
        let ipvs_non_empty = host.ipvs.get().is_some_and(|t| !t.is_empty());
        if has_ipvs_link || ipvs_non_empty {
            return "ipvs";
        }
        if host.iptables.get().is_some_and(|t| t.chains.get("nat").is_some_and(|c| c.keys().any(|k| k.starts_with("KUBE-SVC-")))) {
            return "iptables";
        }
        ""
    }

    /// The cluster's proxy mode: kube-proxy ConfigMap `mode` (`""` → iptables), else the mode all
    /// hosts that can tell agree on; `""` when unknown or disagreeing.
    pub fn cluster_proxy_mode(&self) -> String {
        if let Some(mode) = &self.facts.config.kube_proxy_mode {
            return if mode.is_empty() { "iptables".to_string() } else { mode.clone() };
        }
        let modes: BTreeSet<&str> = self.targets.iter().map(|t| self.host_proxy_mode(&t.name)).filter(|m| !m.is_empty()).collect();
        if modes.len() == 1 {
            modes.into_iter().next().unwrap_or_default().to_string()
        } else {
            String::new()
        }
    }

    /// Which resolv.conf the kubelet hands pods on this host (catalogue `dns-upstream-loopback`).
    pub fn pod_resolv_conf(&self, name: &str) -> PodResolv {
        let Some(host) = self.host(name) else {
            return PodResolv::Unknown(format!("host {name} not captured (no nodes/{name}/ folder)"));
        };
        match &host.kubelet_resolv_conf {
            Fact::Present { source, value } => {
                return PodResolv::File { source: source.clone(), conf: value.clone(), how: format!("{source} is the file the kubelet hands pods") }
            }
            Fact::Broken { source, .. } => return PodResolv::Unknown(format!("{source} could not be parsed (see errors)")),
            Fact::Missing => {}
        }
        let setting = [(&host.kubelet_args, "--resolv-conf in"), (&host.kubelet_config, "resolvConf in")].into_iter().find_map(|(f, what)| {
            let src = f.source()?;
            f.get()?.resolv_conf.clone().map(|p| (p, format!("{what} {src}")))
        });
        let any_kubelet_fact = host.kubelet_args.is_present() || host.kubelet_config.is_present();
        let (path, how) = match setting {
            Some((p, how)) => (p.clone(), format!("{how} names {}", if p.is_empty() { "\"\" (no host resolv.conf)".to_string() } else { p })),
            None if any_kubelet_fact => ("/etc/resolv.conf".to_string(), "the kubelet sets no resolv.conf; its default /etc/resolv.conf applies".to_string()),
            None => ("/etc/resolv.conf".to_string(), "no kubelet config or args captured: assumed the kubelet default /etc/resolv.conf".to_string()),
        };
        if path.is_empty() {
            return PodResolv::File { source: String::new(), conf: ResolvConf::default(), how };
        }
        if path != "/etc/resolv.conf" {
            return PodResolv::Unknown(format!("{how}, which was not captured (add nodes/{name}/kubelet-resolv.conf)"));
        }
        match &host.resolv_conf {
            Fact::Present { source, value } => PodResolv::File { source: source.clone(), conf: value.clone(), how },
            Fact::Broken { source, .. } => PodResolv::Unknown(format!("{source} could not be parsed (see errors)")),
            Fact::Missing => PodResolv::Unknown(format!("{how}, but nodes/{name}/resolv.conf was not collected")),
        }
    }

    /// Fact counts for `stats.facts`.
    pub fn fact_counts(&self) -> serde_json::Value {
        json!({
            "nodes": self.facts.nodes.len(),
            "hosts": self.facts.hosts.len(),
            "pods": self.facts.pods.len(),
            "services": self.facts.services.len(),
            "endpoints": self.facts.endpoints.len(),
            "flannel_leases": self.leases.len(),
            "calico_blocks": self.facts.block_affinities.len(),
            "routes": self.facts.hosts.iter().map(|h| h.routes.get().map_or(0, Vec::len)).sum::<usize>(),
        })
    }
}

/// Which resolv.conf pods on a host get.
#[derive(Debug, Clone)]
pub enum PodResolv {
    /// Known and captured.
    File { source: String, conf: ResolvConf, how: String },
    /// Cannot be told; the reason says why.
    Unknown(String),
}

/// kube-subnet-mgr mode: a lease per Node with flannel annotations, subnet = spec.podCIDR.
fn leases_from_annotations(nodes: &[Node]) -> Vec<FlannelLease> {
    let mut out = Vec::new();
    for n in nodes {
        let Some(f) = &n.flannel else { continue };
        let vtep_mac = f
            .backend_data
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .and_then(|v| v.get("VtepMAC").and_then(|m| m.as_str()).map(str::to_string));
        for cidr in n.pod_cidrs.iter().filter(|c| c.addr().is_ipv4()) {
            out.push(FlannelLease {
                subnet: *cidr,
                public_ip: f.public_ip,
                backend_type: f.backend_type.clone(),
                vtep_mac: vtep_mac.clone(),
                source: format!("Node/{}", n.name),
                key: None,
            });
        }
    }
    out
}

/// True when a pod name / owner belongs to a CNI agent DaemonSet.
pub fn is_cni_agent(pod: &Pod) -> bool {
    pod.owner_kind.as_deref() == Some("DaemonSet")
        && pod.owner_name.as_deref().is_some_and(|o| CNI_AGENT_PREFIXES.iter().any(|p| o.starts_with(p)))
}
