//! Service data plane, flannel and Calico conventions computed over the graph
//! (see rules-catalogue.md), each as a native question rules ask per host or
//! per lease, linear in the facts it reads.
//!
//! - kube-proxy: [`ProxyIndex`] maps IPVS virtual servers (ClusterIP:port, and
//!   NodePorts on any local address of the host) and iptables chains to
//!   Services. iptables chains are mapped by chain name (kube-proxy names
//!   `KUBE-SVC-*` / `KUBE-SEP-*` after a SHA-256 of the service port name, see
//!   [`svc_chain_name`]), by `-d VIP --dport P` of the `KUBE-SERVICES` jump, and
//!   by DNAT target: never by comment (kube-proxy drops comments above 1,000
//!   endpoints). [`Graph::missing_service_entries`] and
//!   [`Graph::stale_backends`] answer for every Service at once.
//! - flannel: who runs it, its device, the route it programs for a peer lease
//!   ([`Graph::missing_flannel_routes`]), VTEP MACs peers hold ([`Graph::vtep_check`]).
//! - Calico: blocks and their owners, the route a host has for a block.
//! - the filter FORWARD chain: is an ACCEPT for NEW pod traffic reachable ([`Graph::forward_analysis`]).
//! - overlay devices and the underlay interface a route leaves by.

use crate::graph::{is_cni_agent, Graph};
use crate::kind::FactKind;
use crate::model::*;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

// ---------------------------------------------------------------------------
// kube-proxy chain names (SHA-256 + base32, as kube-proxy computes them)

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn base32(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buf, mut n) = (0u32, 0u32);
    for b in data {
        buf = (buf << 8) | u32::from(*b);
        n += 8;
        while n >= 5 {
            out.push(A[((buf >> (n - 5)) & 31) as usize] as char);
            n -= 5;
        }
    }
    if n > 0 {
        out.push(A[((buf << (5 - n)) & 31) as usize] as char);
    }
    out
}

/// kube-proxy's `portProtoHash`: the first 16 base32 characters of SHA-256(`ns/name[:port]` + protocol).
fn port_proto_hash(service_port_name: &str, protocol_lower: &str) -> String {
    base32(&sha256(format!("{service_port_name}{protocol_lower}").as_bytes()))[..16].to_string()
}

/// kube-proxy's service port name: `ns/name:port`, or `ns/name` for an unnamed port.
pub fn service_port_name(namespace: &str, name: &str, port_name: Option<&str>) -> String {
    match port_name.filter(|p| !p.is_empty()) {
        Some(p) => format!("{namespace}/{name}:{p}"),
        None => format!("{namespace}/{name}"),
    }
}

/// The `KUBE-SVC-*` chain kube-proxy (iptables mode) creates for a service port.
pub fn svc_chain_name(namespace: &str, name: &str, port_name: Option<&str>, protocol: L4Proto) -> String {
    format!("KUBE-SVC-{}", port_proto_hash(&service_port_name(namespace, name, port_name), &protocol.as_str().to_lowercase()))
}

/// The `KUBE-SEP-*` chain kube-proxy creates for one endpoint (`ip:port`) of a service port.
pub fn sep_chain_name(namespace: &str, name: &str, port_name: Option<&str>, protocol: L4Proto, endpoint: &str) -> String {
    let spn = format!("{}{}", service_port_name(namespace, name, port_name), protocol.as_str().to_lowercase());
    format!("KUBE-SEP-{}", port_proto_hash(&spn, endpoint))
}

// ---------------------------------------------------------------------------
// kube-proxy index of one host

/// What an IPVS virtual server is to Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VsRole {
    /// A Service's ClusterIP:port.
    ClusterIp,
    /// A NodePort on one of the host's local addresses.
    NodePort,
    /// No Service matches.
    Unknown,
}

impl VsRole {
    /// `cluster_ip`, `node_port`, or `""`.
    pub fn as_str(self) -> &'static str {
        match self {
            VsRole::ClusterIp => "cluster_ip",
            VsRole::NodePort => "node_port",
            VsRole::Unknown => "",
        }
    }
}

/// An IPVS virtual server mapped to the Service it implements.
#[derive(Debug, Clone)]
pub struct IpvsEntry {
    /// Index in the host's IPVS table.
    pub vs: usize,
    pub role: VsRole,
    pub service: Option<usize>,
    pub port_name: Option<String>,
}

/// A `-A KUBE-SERVICES ... -j KUBE-SVC-X` rule.
#[derive(Debug, Clone)]
pub struct SvcJump {
    pub ip: Option<IpAddr>,
    pub protocol: Option<L4Proto>,
    pub port: Option<u16>,
    pub chain: String,
    pub text: String,
}

/// A `KUBE-SVC-*` (or `KUBE-SVL-*`) chain: the endpoint chains it jumps to and their DNAT targets.
#[derive(Debug, Clone, Default)]
pub struct SvcChain {
    pub name: String,
    pub seps: Vec<String>,
    /// `ip:port` DNAT targets reached through the `KUBE-SEP-*` chains.
    pub endpoints: Vec<String>,
    /// `KUBE-SERVICES` rules jumping to it.
    pub jumped_from: Vec<String>,
}

/// kube-proxy's iptables state on one host (nat and filter tables).
#[derive(Debug, Clone, Default)]
pub struct KubeIptables {
    pub jumps: Vec<SvcJump>,
    pub jump_by_chain: HashMap<String, usize>,
    pub jump_by_vip: HashMap<(L4Proto, IpAddr, u16), usize>,
    pub chains: Vec<SvcChain>,
    pub chain_by_name: HashMap<String, usize>,
    /// Rules of `KUBE-SERVICES` (nat or filter) that REJECT / DROP a VIP:port.
    pub rejects: HashMap<(L4Proto, IpAddr, u16), String>,
}

/// A host's kube-proxy dataplane, indexed for per-Service questions.
#[derive(Debug, Clone, Default)]
pub struct ProxyIndex {
    /// The host's proxy mode ([`Graph::host_proxy_mode`]).
    pub mode: &'static str,
    /// IPVS virtual servers, when the IPVS table was collected.
    pub ipvs: Option<Vec<IpvsEntry>>,
    pub vs_by_key: HashMap<(L4Proto, IpAddr, u16), usize>,
    /// kube-proxy's iptables chains, when iptables-save was collected.
    pub iptables: Option<KubeIptables>,
    pub has_kube_ipvs0: bool,
}

impl ProxyIndex {
    /// Whether the host's dataplane holds any service entry at all (a virtual server or
    /// `kube-ipvs0`; a `KUBE-SVC-*` chain).
    pub fn has_any_service_entry(&self) -> bool {
        self.has_kube_ipvs0 || self.ipvs.as_ref().is_some_and(|v| !v.is_empty()) || self.iptables.as_ref().is_some_and(|t| !t.chains.is_empty())
    }
}

/// One (ClusterIP, port) of a Service and whether the host's dataplane has it.
#[derive(Debug, Clone)]
pub struct ServiceEntry {
    pub ip: IpAddr,
    pub protocol: L4Proto,
    pub port: u16,
    pub port_name: Option<String>,
    /// `TCP 10.96.0.1:443`.
    pub want: String,
    pub found: bool,
    /// The virtual server or iptables rule that implements it, when found.
    pub via: Option<String>,
    /// The `KUBE-SVC-*` chain kube-proxy would name for it (iptables mode).
    pub chain: Option<String>,
    /// What else the dataplane says about it (an orphan chain, a REJECT rule).
    pub notes: Vec<String>,
}

/// A virtual server whose real servers differ from its Service's ready endpoints.
#[derive(Debug, Clone)]
pub struct StaleBackend {
    /// Index in the host's IPVS table.
    pub vs: usize,
    pub role: VsRole,
    pub service: usize,
    /// Active (weight > 0) real server addresses, deduplicated, in table order.
    pub real_servers: Vec<IpAddr>,
    /// Real servers that are no ready endpoint.
    pub not_ready_endpoint: Vec<IpAddr>,
    /// Ready endpoints without a real server.
    pub missing: Vec<IpAddr>,
}

impl KubeIptables {
    fn build(t: &Iptables) -> KubeIptables {
        let mut out = KubeIptables::default();
        let mut sep_dnat: HashMap<&str, Vec<String>> = HashMap::new();
        for (chain, c) in t.chains("nat") {
            if chain.starts_with("KUBE-SEP-") {
                for r in c.rules.iter().filter(|r| r.target.as_deref() == Some("DNAT")) {
                    if let Some(d) = r.get(&["--to-destination"]) {
                        sep_dnat.entry(chain.as_str()).or_default().push(d.to_string());
                    }
                }
            }
        }
        for (chain, c) in t.chains("nat") {
            if !(chain.starts_with("KUBE-SVC-") || chain.starts_with("KUBE-SVL-")) {
                continue;
            }
            let mut entry = SvcChain { name: chain.clone(), ..Default::default() };
            for r in &c.rules {
                if let Some(sep) = r.target.as_deref().filter(|t| t.starts_with("KUBE-SEP-")) {
                    entry.seps.push(sep.to_string());
                    entry.endpoints.extend(sep_dnat.get(sep).cloned().unwrap_or_default());
                }
            }
            out.chain_by_name.insert(chain.clone(), out.chains.len());
            out.chains.push(entry);
        }
        let parse_jump = |r: &IptRule| {
            (
                r.get(&["-d", "--destination"]).and_then(crate::net::parse_ip),
                r.get(&["-p", "--protocol"]).and_then(|p| p.parse::<L4Proto>().ok()),
                r.get(&["--dport", "--destination-port"]).and_then(|p| p.parse::<u16>().ok()),
            )
        };
        for r in t.chain("nat", "KUBE-SERVICES").into_iter().flat_map(|c| &c.rules) {
            let Some(target) = r.target.as_deref() else { continue };
            if !(target.starts_with("KUBE-SVC-") || target.starts_with("KUBE-SVL-")) {
                continue;
            }
            let (ip, protocol, port) = parse_jump(r);
            let jump = SvcJump { ip, protocol, port, chain: target.to_string(), text: r.text.clone() };
            if let Some(&ci) = out.chain_by_name.get(target) {
                out.chains[ci].jumped_from.push(r.text.clone());
            }
            out.jump_by_chain.entry(jump.chain.clone()).or_insert(out.jumps.len());
            if let (Some(ip), Some(p), Some(port)) = (ip, protocol, port) {
                out.jump_by_vip.entry((p, ip, port)).or_insert(out.jumps.len());
            }
            out.jumps.push(jump);
        }
        for table in ["nat", "filter"] {
            for r in t.chain(table, "KUBE-SERVICES").into_iter().flat_map(|c| &c.rules) {
                if !matches!(r.target.as_deref(), Some("REJECT") | Some("DROP")) {
                    continue;
                }
                if let (Some(ip), Some(p), Some(port)) = parse_jump(r) {
                    out.rejects.insert((p, ip, port), r.text.clone());
                }
            }
        }
        out
    }
}

impl Graph {
    /// True when a Service port has ready endpoints: the Service has some, and the endpoints
    /// list that port (by name and protocol) or list no ports at all.
    pub fn port_has_ready_endpoints(&self, svc: usize, port: &ServicePort) -> bool {
        let Some(e) = self.endpoints(svc) else { return false };
        if e.ready.is_empty() {
            return false;
        }
        e.ports.is_empty() || e.ports.iter().any(|p| p.name.as_deref().unwrap_or("") == port.name.as_deref().unwrap_or("") && p.protocol == port.protocol)
    }

    /// The kube-proxy dataplane of a host, indexed once (lazily) per snapshot.
    pub fn proxy_index(&self, t: usize) -> &ProxyIndex {
        self.hosts[t].proxy.get_or_init(|| self.build_proxy_index(t))
    }

    fn build_proxy_index(&self, t: usize) -> ProxyIndex {
        let mut idx = ProxyIndex { mode: self.host_proxy_mode(t), ..Default::default() };
        let Some(host) = self.host_facts(t) else { return idx };
        idx.has_kube_ipvs0 = host.links.get().is_some_and(|ls| ls.iter().any(|l| l.name == "kube-ipvs0"));
        if let Some(vss) = host.ipvs.get() {
            let local: BTreeSet<IpAddr> = host.addrs.get().into_iter().flatten().map(|a| a.local).collect();
            let mut entries = Vec::with_capacity(vss.len());
            for (i, vs) in vss.iter().enumerate() {
                let mut e = IpvsEntry { vs: i, role: VsRole::Unknown, service: None, port_name: None };
                if let (Some(addr), IpvsProto::L4(proto)) = (vs.addr, vs.protocol) {
                    let by_ip = self
                        .service_by_ip(addr)
                        .and_then(|si| self.services[si].ports.iter().find(|p| p.port == vs.port && p.protocol == proto).map(|p| (si, p.name.clone())));
                    if let Some((si, pn)) = by_ip {
                        e.role = VsRole::ClusterIp;
                        e.service = Some(si);
                        e.port_name = pn;
                    } else if local.contains(&addr) {
                        if let Some((si, pi)) = self.service_by_node_port(proto, vs.port) {
                            e.role = VsRole::NodePort;
                            e.service = Some(si);
                            e.port_name = self.services[si].ports[pi].name.clone();
                        }
                    }
                    idx.vs_by_key.insert((proto, addr, vs.port), i);
                }
                entries.push(e);
            }
            idx.ipvs = Some(entries);
        }
        if let Some(t) = host.iptables.get() {
            idx.iptables = Some(KubeIptables::build(t));
        }
        idx
    }

    /// The (IPv4 ClusterIP, port) pairs of a Service whose port has ready endpoints, checked
    /// against a host's dataplane in `mode` (`ipvs` or `iptables`).
    pub fn service_entries(&self, t: usize, svc: usize, mode: &str) -> Vec<ServiceEntry> {
        let idx = self.proxy_index(t);
        let vss = self.host_facts(t).and_then(|h| h.ipvs.get());
        let s = &self.services[svc];
        let mut out = Vec::new();
        for ip in s.cluster_ips.iter().filter(|i| i.is_ipv4()) {
            for p in &s.ports {
                if !self.port_has_ready_endpoints(svc, p) {
                    continue;
                }
                let mut e = ServiceEntry {
                    ip: *ip,
                    protocol: p.protocol,
                    port: p.port,
                    port_name: p.name.clone(),
                    want: format!("{} {ip}:{}", p.protocol, p.port),
                    found: false,
                    via: None,
                    chain: None,
                    notes: Vec::new(),
                };
                match mode {
                    "ipvs" => {
                        if let Some(i) = idx.vs_by_key.get(&(p.protocol, *ip, p.port)) {
                            e.found = true;
                            e.via = vss.map(|v| format!("IPVS virtual server {}", v[*i].text()));
                        }
                    }
                    "iptables" => {
                        let chain = svc_chain_name(&s.namespace, &s.name, p.name.as_deref(), p.protocol);
                        let svl = chain.replacen("KUBE-SVC-", "KUBE-SVL-", 1);
                        e.chain = Some(chain.clone());
                        if let Some(k) = &idx.iptables {
                            let by_name = k.jump_by_chain.get(&chain).or_else(|| k.jump_by_chain.get(&svl));
                            let by_vip = k.jump_by_vip.get(&(p.protocol, *ip, p.port));
                            if let Some(j) = by_name.or(by_vip).map(|i| &k.jumps[*i]) {
                                e.found = true;
                                e.via = Some(j.text.clone());
                            } else {
                                if let Some(c) = k.chain_by_name.get(&chain).or_else(|| k.chain_by_name.get(&svl)).map(|i| &k.chains[*i]) {
                                    e.notes.push(format!(
                                        "chain {chain} exists (DNAT to {}) but no KUBE-SERVICES rule jumps to it",
                                        if c.endpoints.is_empty() { "nothing".to_string() } else { c.endpoints.join(", ") }
                                    ));
                                }
                                if let Some(r) = k.rejects.get(&(p.protocol, *ip, p.port)) {
                                    e.notes.push(format!("kube-proxy rejects it as having no endpoints: {r}"));
                                }
                            }
                        }
                    }
                    _ => {}
                }
                out.push(e);
            }
        }
        out
    }

    /// ClusterIP Services (not ExternalName) with ready endpoints: the Services kube-proxy must program.
    pub fn services_with_ready_endpoints(&self) -> Vec<usize> {
        (0..self.services.len())
            .filter(|i| {
                let s = &self.services[*i];
                !s.cluster_ips.is_empty() && s.kind != ServiceType::ExternalName && !self.ready_endpoints(*i).is_empty()
            })
            .collect()
    }

    /// Every Service with ready endpoints whose entries are (partly) missing from a host's
    /// dataplane in `mode`: (service, all its entries), in Service order.
    pub fn missing_service_entries(&self, t: usize, mode: &str) -> Vec<(usize, Vec<ServiceEntry>)> {
        self.services_with_ready_endpoints()
            .into_iter()
            .filter_map(|s| {
                let es = self.service_entries(t, s, mode);
                es.iter().any(|e| !e.found).then_some((s, es))
            })
            .collect()
    }

    /// IPVS virtual servers of a host whose active real servers differ from their Service's
    /// ready endpoints. Draining real servers (weight 0) are ignored; a NodePort virtual server
    /// whose real servers are exactly this node's own ready endpoints is
    /// externalTrafficPolicy: Local and not stale.
    pub fn stale_backends(&self, t: usize) -> Vec<StaleBackend> {
        let idx = self.proxy_index(t);
        let (Some(entries), Some(vss)) = (&idx.ipvs, self.host_facts(t).and_then(|h| h.ipvs.get())) else { return Vec::new() };
        let mut local_pod_ips: Option<BTreeSet<IpAddr>> = None;
        let mut out = Vec::new();
        for e in entries {
            let Some(svc) = e.service else { continue };
            let ready = self.ready_endpoints(svc);
            let mut rs: Vec<IpAddr> = Vec::new();
            for r in vss[e.vs].real_servers.iter().filter(|r| r.weight > 0) {
                if !rs.contains(&r.addr) {
                    rs.push(r.addr);
                }
            }
            let ready_set: BTreeSet<&IpAddr> = ready.iter().collect();
            let rs_set: BTreeSet<&IpAddr> = rs.iter().collect();
            let extra: Vec<IpAddr> = rs.iter().filter(|a| !ready_set.contains(a)).copied().collect();
            let missing: Vec<IpAddr> = ready.iter().filter(|a| !rs_set.contains(a)).copied().collect();
            if extra.is_empty() && missing.is_empty() {
                continue;
            }
            if e.role == VsRole::NodePort && extra.is_empty() {
                let name = self.host_name(t);
                let local = local_pod_ips.get_or_insert_with(|| {
                    self.pods_on(name).iter().map(|i| &self.pods[*i]).filter(|p| !p.host_network).flat_map(|p| p.ips.iter().copied()).collect()
                });
                if ready.iter().filter(|a| local.contains(a)).count() == rs.len() {
                    continue;
                }
            }
            out.push(StaleBackend { vs: e.vs, role: e.role, service: svc, real_servers: rs, not_ready_endpoint: extra, missing });
        }
        out
    }

    /// The Pod IPs of pods on a host that are not on the host network.
    pub fn local_pod_ips(&self, t: usize) -> Vec<IpAddr> {
        self.pods_on(self.host_name(t)).iter().map(|i| &self.pods[*i]).filter(|p| !p.host_network).flat_map(|p| p.ips.iter().copied()).collect()
    }
}

// ---------------------------------------------------------------------------
// flannel

/// flannel DaemonSet name prefixes (canal runs flannel too).
const FLANNEL_AGENTS: &[&str] = &["kube-flannel", "flannel", "canal"];

fn is_flannel_pod(p: &Pod) -> bool {
    is_cni_agent(p) && p.owner.as_ref().is_some_and(|o| FLANNEL_AGENTS.iter().any(|f| o.name.starts_with(f)))
}

/// What the flannel route check of one peer lease says.
#[derive(Debug, Clone)]
pub struct FlannelRoute {
    pub lease: usize,
    pub backend: String,
    /// The route flannel programs, as `ip route` prints it.
    pub expected: String,
    /// False for backends this check does not know (udp, wireguard, ...).
    pub supported: bool,
    pub ok: bool,
    /// The matching route when ok; else the routes for exactly that subnet (wrong gateway or device).
    pub found: Vec<Route>,
}

/// What is known of one lease's VXLAN MACs.
#[derive(Debug, Clone)]
pub struct VtepCheck {
    /// The VtepMAC the lease publishes.
    pub published: Option<MacAddr>,
    /// The owner's flannel device and its MAC.
    pub device: Option<(String, Option<MacAddr>)>,
    /// The MAC peers should use: the device's when known, else the published one.
    pub expected: Option<MacAddr>,
    /// Hosts running flannel, other than the owner, with a neighbour or FDB table.
    pub peers: usize,
    /// (peer host, entry text) of neighbour / FDB entries with another MAC.
    pub stale: Vec<(usize, String)>,
}

impl Graph {
    /// Why flannel is in use in this cluster (empty when it is not).
    pub fn flannel_in_use(&self) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(c) = self.flannel_etcd_config() {
            why.push(format!("flannel config in etcd ({})", c.source));
        }
        if let Some(c) = self.flannel_net_conf() {
            why.push(format!("flannel net-conf.json ({})", c.source));
        }
        let annotated: Vec<&str> = self.nodes.iter().filter(|n| n.flannel.is_some()).map(|n| n.name.as_str()).collect();
        if !annotated.is_empty() {
            let shown: Vec<&str> = annotated.iter().take(5).copied().collect();
            let more = if annotated.len() > 5 { format!(" (+{} more)", annotated.len() - 5) } else { String::new() };
            why.push(format!("Nodes with flannel.alpha.coreos.com annotations: {}{more}", shown.join(", ")));
        }
        if let Some(p) = self.cni_agent_pods().iter().map(|i| &self.pods[*i]).find(|p| is_flannel_pod(p)) {
            why.push(format!("flannel pod {}/{}", p.namespace, p.name));
        }
        if why.is_empty() && !self.leases.is_empty() {
            why.push(format!("{} flannel leases", self.leases.len()));
        }
        why
    }

    /// Where leases come from: `Ok("etcd" | "kube-subnet-mgr")`, or why they cannot be known.
    pub fn flannel_lease_source(&self) -> Result<&'static str, String> {
        if self.has(FactKind::FlannelEtcd) {
            return Ok("etcd");
        }
        if let Some(why) = self.unavailable(FactKind::FlannelEtcd).filter(|w| w.starts_with("could not be read")) {
            return Err(format!("etcd/flannel {why}"));
        }
        // kube-flannel-cfg alone does not tell: etcd-mode deployments ship it too. flanneld in
        // kube-subnet-mgr mode annotates every Node it runs on.
        if self.has(FactKind::Nodes) && self.nodes.iter().any(|n| n.flannel.as_ref().is_some_and(|f| f.kube_subnet_manager)) {
            return Ok("kube-subnet-mgr");
        }
        Err("flannel leases unknown: etcd/flannel not collected and no Node carries flannel's kube-subnet-manager annotation".to_string())
    }

    /// The VXLAN VNI in force (flannel config, default 1).
    pub fn flannel_vni(&self) -> u32 {
        self.flannel_config().map_or(1, |c| c.vni)
    }

    /// The flannel backend of a lease: the lease's own `BackendType`, else the config's.
    pub fn lease_backend(&self, lease: usize) -> String {
        self.leases[lease].lease.backend_type.clone().or_else(|| self.flannel_config().map(|c| c.backend_type.clone())).unwrap_or_default()
    }

    /// The host's flannel VXLAN device: `flannel.<VNI>`, else any `flannel.<n>` link.
    pub fn flannel_device(&self, t: usize) -> Option<&Link> {
        let links = self.host_facts(t)?.links.get()?;
        let want = format!("flannel.{}", self.flannel_vni());
        links
            .iter()
            .find(|l| l.name == want)
            .or_else(|| links.iter().find(|l| l.name.strip_prefix("flannel.").is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))))
    }

    /// Why a host runs flannel (catalogue convention), or `None`.
    pub fn runs_flannel(&self, t: usize) -> Option<String> {
        if let Some(i) = self.leases_of(t).first() {
            return Some(format!("owns flannel lease {}", self.leases[*i].lease.subnet));
        }
        if let Some(l) = self.flannel_device(t) {
            return Some(format!("has device {}", l.name));
        }
        self.pods_on(self.host_name(t))
            .iter()
            .map(|i| &self.pods[*i])
            .find(|p| is_flannel_pod(p))
            .map(|p| format!("runs flannel pod {}/{}", p.namespace, p.name))
    }

    /// The route flannel programs on host `t` for a peer's lease, and whether it is there.
    /// vxlan: `SUBNET via SUBNET_BASE dev flannel.<VNI> onlink` (or, with DirectRouting,
    /// `SUBNET via PEER_PUBLIC_IP`); host-gw: `SUBNET via PEER_PUBLIC_IP`.
    pub fn flannel_route(&self, t: usize, lease: usize) -> FlannelRoute {
        let exact: Vec<&Route> = self.main_routes(t).into_iter().filter(|r| !r.is_default && r.dst == self.leases[lease].lease.subnet).collect();
        self.flannel_route_among(&exact, lease)
    }

    fn flannel_route_among(&self, exact: &[&Route], lease: usize) -> FlannelRoute {
        let l = &self.leases[lease].lease;
        let backend = self.lease_backend(lease);
        let dev = format!("flannel.{}", self.flannel_vni());
        let (expected, supported, ok) = match backend.as_str() {
            "vxlan" => {
                let base = l.subnet.network();
                let ok = exact.iter().find(|r| {
                    r.kind == RouteType::UNICAST
                        && ((r.gateway == Some(base) && r.dev.as_deref() == Some(dev.as_str())) || (l.public_ip.is_some() && r.gateway == l.public_ip))
                });
                (format!("{} via {base} dev {dev} onlink", l.subnet), true, ok.copied())
            }
            "host-gw" => {
                let gw = l.public_ip.map(|i| i.to_string()).unwrap_or_else(|| "<PublicIP>".to_string());
                let ok = exact.iter().find(|r| r.kind == RouteType::UNICAST && l.public_ip.is_some() && r.gateway == l.public_ip);
                (format!("{} via {gw}", l.subnet), l.public_ip.is_some(), ok.copied())
            }
            other => (format!("(backend {other:?} is not checked)"), false, None),
        };
        FlannelRoute {
            lease,
            backend,
            expected,
            supported,
            ok: ok.is_some(),
            found: match ok {
                Some(r) => vec![r.clone()],
                None => exact.iter().map(|r| (*r).clone()).collect(),
            },
        }
    }

    /// flannel's route check on host `t` for every IPv4 lease owned by another host: the
    /// leases whose route is missing, and the backends that are not checked. One pass over the
    /// host's routes and the leases.
    pub fn missing_flannel_routes(&self, t: usize) -> (Vec<FlannelRoute>, Vec<String>) {
        let mut by_dst: HashMap<IpNet, Vec<&Route>> = HashMap::new();
        for r in self.main_routes(t).into_iter().filter(|r| !r.is_default) {
            by_dst.entry(r.dst).or_default().push(r);
        }
        let mut missing = Vec::new();
        let mut unsupported: Vec<String> = Vec::new();
        for (i, l) in self.leases.iter().enumerate() {
            let Some(owner) = &l.owner else { continue };
            if owner.host == t || !l.lease.subnet.addr().is_ipv4() {
                continue;
            }
            let exact = by_dst.get(&l.lease.subnet).map(Vec::as_slice).unwrap_or(&[]);
            let r = self.flannel_route_among(exact, i);
            if !r.supported {
                if !unsupported.contains(&r.backend) {
                    unsupported.push(r.backend);
                }
            } else if !r.ok {
                missing.push(r);
            }
        }
        (missing, unsupported)
    }

    /// The VXLAN MACs of one lease: what it publishes, its owner's device MAC, and the peers'
    /// permanent neighbour entries for its network address on flannel.* and FDB entries towards
    /// its PublicIP that carry another MAC. Found through the graph's neighbour and FDB indexes.
    pub fn vtep_check(&self, lease: usize) -> VtepCheck {
        let entry = &self.leases[lease];
        let l = &entry.lease;
        let owner = entry.owner.as_ref().map(|o| o.host);
        let device = owner.and_then(|o| self.flannel_device(o)).map(|d| (d.name.clone(), d.mac));
        let dev_mac = device.as_ref().and_then(|d| d.1);
        let expected = dev_mac.or(l.vtep_mac);
        let is_peer = |h: usize| Some(h) != owner && self.runs_flannel(h).is_some();
        let tables = self.flannel_table_hosts.get_or_init(|| {
            (0..self.hosts.len())
                .filter(|h| self.host_facts(*h).is_some_and(|f| f.neighbours.is_present() || f.fdb.is_present()))
                .filter(|h| self.runs_flannel(*h).is_some())
                .collect()
        });
        let peers = tables.len() - owner.map_or(0, |o| usize::from(tables.binary_search(&o).is_ok()));
        let mut stale = Vec::new();
        if let Some(want) = expected {
            let base = l.subnet.network();
            for &(h, i) in self.neighbours_to(base) {
                let Some(n) = self.host_facts(h).and_then(|f| f.neighbours.get()).map(|v| &v[i]) else { continue };
                if n.dev.starts_with("flannel.") && n.state.iter().any(|s| s == "PERMANENT") && n.lladdr.is_some_and(|m| m != want) && is_peer(h) {
                    let mac = n.lladdr.map(|m| m.to_string()).unwrap_or_default();
                    stale.push((h, format!("{}: neigh {} lladdr {mac} dev {} PERMANENT", self.host_name(h), n.dst, n.dev)));
                }
            }
            if let Some(pip) = l.public_ip {
                for &(h, i) in self.fdb_to(pip) {
                    let Some(e) = self.host_facts(h).and_then(|f| f.fdb.get()).map(|v| &v[i]) else { continue };
                    if e.dev.starts_with("flannel.") && e.mac != want && is_peer(h) {
                        stale.push((h, format!("{}: fdb {} dev {} dst {pip}", self.host_name(h), e.mac, e.dev)));
                    }
                }
            }
        }
        stale.sort_by(|a, b| (self.host_name(a.0), &a.1).cmp(&(self.host_name(b.0), &b.1)));
        VtepCheck { published: l.vtep_mac, device, expected, peers, stale }
    }

    // -----------------------------------------------------------------------
    // Calico

    /// Why Calico is in use (empty when it is not).
    pub fn calico_in_use(&self) -> Vec<String> {
        let mut why = Vec::new();
        if !self.ip_pools.is_empty() {
            why.push(format!("Calico IPPools: {}", self.ip_pools.iter().map(|p| format!("{} {}", p.name, p.cidr)).collect::<Vec<_>>().join(", ")));
        }
        if !self.block_affinities.is_empty() {
            why.push(format!("{} Calico BlockAffinities", self.block_affinities.len()));
        }
        if let Some(p) = self.cni_agent_pods().iter().map(|i| &self.pods[*i]).find(|p| is_calico_node(p)) {
            why.push(format!("calico-node pod {}/{}", p.namespace, p.name));
        }
        why
    }

    /// A host's own Calico block routes: `blackhole BLOCK proto bird` (BIRD) or `proto 80` (Felix).
    fn calico_blackholes(&self, t: usize) -> Vec<&Route> {
        let felix = Protocol::Id(80);
        self.main_routes(t)
            .into_iter()
            .filter(|r| r.kind == RouteType::BLACKHOLE && (r.protocol == Protocol::BIRD || r.protocol == felix))
            .filter(|r| self.ip_pools.is_empty() || self.ip_pools.iter().any(|p| p.cidr.contains(&r.dst)))
            .collect()
    }

    /// Why a host runs Calico, or `None`: a calico-node pod, a block affinity, its own block
    /// blackhole routes, or a Calico device.
    pub fn runs_calico(&self, t: usize) -> Option<String> {
        let name = self.host_name(t);
        if let Some(p) = self.pods_on(name).iter().map(|i| &self.pods[*i]).find(|p| is_calico_node(p)) {
            return Some(format!("runs calico-node pod {}/{}", p.namespace, p.name));
        }
        if let Some(b) = self.block_affinities.iter().find(|b| b.node == name) {
            return Some(format!("has Calico block affinity {}", b.cidr));
        }
        if let Some(r) = self.calico_blackholes(t).first() {
            return Some(format!("has Calico block route `{}`", r.text()));
        }
        let links = self.host_facts(t)?.links.get()?;
        links.iter().find(|l| l.name == "vxlan.calico" || l.name.starts_with("cali")).map(|l| format!("has Calico device {}", l.name))
    }

    /// Calico blocks and their owners: (block, owner host name, evidence). From confirmed
    /// BlockAffinities and from hosts' own `blackhole BLOCK proto bird|80` routes.
    pub fn calico_blocks(&self) -> Vec<(IpNet, String, String)> {
        let mut out: Vec<(IpNet, String, String)> = Vec::new();
        let mut seen: BTreeSet<(IpNet, String)> = BTreeSet::new();
        for b in self.block_affinities.iter().filter(|b| b.state.is_empty() || b.state == "confirmed") {
            if seen.insert((b.cidr, b.node.clone())) {
                out.push((b.cidr, b.node.clone(), format!("BlockAffinity {} → {}", b.cidr, b.node)));
            }
        }
        for t in 0..self.hosts.len() {
            for r in self.calico_blackholes(t) {
                let name = self.host_name(t).to_string();
                if seen.insert((r.dst, name.clone())) {
                    let src = self.host_facts(t).and_then(|h| h.routes.source()).map(|s| s.to_string()).unwrap_or_default();
                    out.push((r.dst, name, format!("{src}: `{}`", r.text())));
                }
            }
        }
        out.sort_by(|a, b| (a.0.addr(), a.0.prefix_len(), &a.1).cmp(&(b.0.addr(), b.0.prefix_len(), &b.1)));
        out
    }

    /// The main-table route a host uses for a whole block: the most specific route that covers
    /// it (lowest metric on ties). `None` when no route covers the block.
    pub fn block_route(&self, t: usize, block: IpNet) -> Option<&Route> {
        self.main_routes(t)
            .into_iter()
            .filter(|r| r.dst.prefix_len() <= block.prefix_len() && r.dst.contains(&block.network()) && r.dst.addr().is_ipv4() == block.addr().is_ipv4())
            .max_by(|a, b| a.dst.prefix_len().cmp(&b.dst.prefix_len()).then(b.metric.cmp(&a.metric)))
    }

    // -----------------------------------------------------------------------
    // Overlay devices and egress interfaces

    /// The host's overlay device: `flannel.<n>`, `vxlan.calico`, `cilium_vxlan`, or `tunl0` when
    /// it carries an IPv4 address (Calico IPIP; an idle tunl0 appears whenever ipip is loaded).
    pub fn overlay_device(&self, t: usize) -> Option<&Link> {
        let host = self.host_facts(t)?;
        let links = host.links.get()?;
        if let Some(l) = links.iter().find(|l| l.name.starts_with("flannel.")) {
            return Some(l);
        }
        for n in ["vxlan.calico", "cilium_vxlan"] {
            if let Some(l) = links.iter().find(|l| l.name == n) {
                return Some(l);
            }
        }
        let tunl_addr = host.addrs.get().into_iter().flatten().any(|a| a.dev == "tunl0" && a.local.is_ipv4());
        links.iter().find(|l| l.name == "tunl0" && tunl_addr)
    }

    /// The interface that holds an address on a host.
    pub fn addr_dev(&self, t: usize, ip: IpAddr) -> Option<&str> {
        self.host_facts(t)?.addrs.get()?.iter().find(|a| a.local == ip).map(|a| a.dev.as_str())
    }

    /// The host interface a route's packets finally leave by: the host interface whose subnet
    /// holds the gateway (onlink IPIP routes), the underlay of a VXLAN device (its `local`
    /// address), or the route's own device when it is not CNI-owned.
    pub fn route_egress(&self, t: usize, r: &Route) -> Option<String> {
        let host = self.host_facts(t)?;
        let addrs = host.addrs.get().map(Vec::as_slice).unwrap_or(&[]);
        let is_host_if = |dev: &str| dev != "lo" && !self.is_cni_interface(dev);
        if let Some(gw) = r.gateway {
            if let Some(a) = addrs
                .iter()
                .find(|a| is_host_if(&a.dev) && a.scope != RouteScope::HOST && a.network().contains(&gw) && a.prefix_len < a.network().max_prefix_len())
            {
                return Some(a.dev.clone());
            }
        }
        let dev = r.dev.as_deref()?;
        if let Some(link) = host.links.get().and_then(|ls| ls.iter().find(|l| l.name == dev)) {
            if let Some(local) = link.vxlan.as_ref().and_then(|v| v.local) {
                return addrs.iter().find(|a| a.local == local).map(|a| a.dev.clone());
            }
        }
        is_host_if(dev).then(|| dev.to_string())
    }
}

fn is_calico_node(p: &Pod) -> bool {
    is_cni_agent(p) && p.owner.as_ref().is_some_and(|o| o.name.starts_with("calico-node"))
}

// ---------------------------------------------------------------------------
// filter FORWARD reachability

/// One ACCEPT rule reachable from FORWARD, with the chains that lead to it.
#[derive(Debug, Clone)]
pub struct ForwardAccept {
    pub rule: String,
    pub path: Vec<String>,
    /// Why it counts (or why not, in [`ForwardAnalysis::not_counted`]).
    pub why: String,
}

/// The filter table's FORWARD chain as new pod traffic sees it.
#[derive(Debug, Clone, Default)]
pub struct ForwardAnalysis {
    /// The FORWARD policy (`ACCEPT`, `DROP`).
    pub policy: String,
    /// ACCEPT rules that accept NEW pod traffic.
    pub accepts: Vec<ForwardAccept>,
    /// Reachable ACCEPT rules that do not (ESTABLISHED-only, kube-proxy's mark, docker0, unrelated).
    pub not_counted: Vec<ForwardAccept>,
}

#[derive(Debug, Clone, Default)]
struct FwdCtx {
    restricted: Option<String>,
    docker: Option<String>,
    pod: Option<String>,
    /// A source/destination/interface selector that is not pod traffic.
    other_selector: Option<String>,
}

/// kube-proxy's masquerade and drop marks: accepts by these marks never count.
const KUBE_MARKS: &[&str] = &["0x4000/0x4000", "0x8000/0x8000"];

impl Graph {
    /// True when an iptables interface match (`cni0`, `cali+`) names pod interfaces
    /// (CNI-owned, not docker0 nor kube-ipvs0).
    fn pod_iface_match(&self, v: &str) -> bool {
        let name = v.trim_end_matches('+');
        if name.is_empty() || name == "docker0" || name == "kube-ipvs0" {
            return false;
        }
        if self.is_cni_interface(name) {
            return true;
        }
        // `cni+` / `cal+`: a wildcard some CNI interface name matches.
        v.ends_with('+')
            && crate::graph::CNI_INTERFACES.iter().filter(|p| !matches!(**p, "docker0" | "kube-ipvs0" | "nodelocaldns")).any(|p| match p.strip_suffix('*') {
                Some(pre) => pre.starts_with(name),
                None => p.starts_with(name),
            })
    }

    fn rule_ctx(&self, r: &IptRule, mut c: FwdCtx, pod_nets: &[(IpNet, String)], set_marks: &BTreeSet<String>) -> FwdCtx {
        for o in &r.opts {
            let (neg, v) = (o.negated, o.value.as_str());
            match o.name.as_str() {
                "-s" | "--source" | "-d" | "--destination" => {
                    let flag = if o.name == "-s" || o.name == "--source" { "-s" } else { "-d" };
                    let net = crate::net::parse_net(v.split(',').next().unwrap_or(""));
                    let pod = net.and_then(|n| pod_nets.iter().find(|(p, _)| crate::net::overlaps(p, &n)));
                    match (neg, pod) {
                        (false, Some((p, src))) => {
                            c.pod.get_or_insert(format!("{flag} {v} is pod network {p} ({src})"));
                        }
                        _ => {
                            c.other_selector.get_or_insert(format!("{}{flag} {v}", if neg { "! " } else { "" }));
                        }
                    }
                }
                "-i" | "--in-interface" | "-o" | "--out-interface" => {
                    let flag = if o.name == "-i" || o.name == "--in-interface" { "-i" } else { "-o" };
                    if !neg && v == "docker0" {
                        c.docker.get_or_insert(format!("{flag} docker0 is Docker's own rule"));
                    } else if !neg && self.pod_iface_match(v) {
                        c.pod.get_or_insert(format!("{flag} {v} is a pod interface"));
                    } else if !neg || v != "docker0" {
                        c.other_selector.get_or_insert(format!("{}{flag} {v}", if neg { "! " } else { "" }));
                    }
                }
                "--ctstate" | "--state" => {
                    let new = v.split(',').any(|s| s == "NEW");
                    if (!neg && !new) || (neg && new) {
                        c.restricted.get_or_insert(format!("only {}conntrack state {v}", if neg { "not " } else { "" }));
                    }
                }
                "--mark" if !neg => {
                    let m = v.to_lowercase();
                    if KUBE_MARKS.contains(&m.as_str()) || !set_marks.contains(&m) {
                        c.restricted.get_or_insert(format!("only packets marked {v}{}", if KUBE_MARKS.contains(&m.as_str()) { " (kube-proxy)" } else { "" }));
                    }
                }
                _ => {}
            }
        }
        c
    }

    /// Walks the filter table from FORWARD (following `-j`/`-g` into user chains) and sorts the
    /// reachable ACCEPT rules into those that accept NEW pod traffic and those that do not.
    /// `None` when iptables-save was not collected or has no filter table. Computed once per host.
    pub fn forward_analysis(&self, t: usize) -> Option<&ForwardAnalysis> {
        self.hosts[t].forward.get_or_init(|| self.build_forward_analysis(t)).as_ref()
    }

    fn build_forward_analysis(&self, t: usize) -> Option<ForwardAnalysis> {
        let ipt = self.host_facts(t)?.iptables.get()?;
        let policy = ipt.chain("filter", "FORWARD")?.policy.clone().unwrap_or_else(|| "-".to_string());
        let rules: BTreeMap<&str, &[IptRule]> = ipt.chains("filter").map(|(n, c)| (n.as_str(), c.rules.as_slice())).collect();
        let mut set_marks = BTreeSet::new();
        for r in rules.values().flat_map(|rs| rs.iter()) {
            if r.target.as_deref() == Some("MARK") {
                if let Some(m) = r.get(&["--set-xmark", "--set-mark", "--or-mark"]) {
                    let m = m.to_lowercase();
                    let value = m.split('/').next().unwrap_or("");
                    if u64::from_str_radix(value.trim_start_matches("0x"), 16).unwrap_or(0) != 0 {
                        set_marks.insert(if m.contains('/') { m.clone() } else { format!("{m}/0xffffffff") });
                        set_marks.insert(m);
                    }
                }
            }
        }
        let pod_nets: Vec<(IpNet, String)> = self.pod_networks().iter().filter(|(n, _)| n.addr().is_ipv4()).cloned().collect();
        let mut out = ForwardAnalysis { policy, ..Default::default() };
        let mut path = vec!["FORWARD".to_string()];
        self.walk_forward(&rules, "FORWARD", FwdCtx::default(), &mut path, &pod_nets, &set_marks, &mut out);
        Some(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_forward(
        &self,
        rules: &BTreeMap<&str, &[IptRule]>,
        chain: &str,
        ctx: FwdCtx,
        path: &mut Vec<String>,
        pod_nets: &[(IpNet, String)],
        set_marks: &BTreeSet<String>,
        out: &mut ForwardAnalysis,
    ) {
        if path.len() > 32 {
            return;
        }
        for r in rules.get(chain).copied().unwrap_or(&[]) {
            let c = self.rule_ctx(r, ctx.clone(), pod_nets, set_marks);
            let target = r.target.as_deref().unwrap_or("");
            // Every packet that reaches an unconditional rule takes it: nothing after it is reachable.
            let plain = r.unconditional();
            match target {
                "ACCEPT" => {
                    let verdict = if let Some(why) = &c.restricted {
                        Err(why.clone())
                    } else if let Some(why) = &c.docker {
                        Err(why.clone())
                    } else if let Some(why) = &c.pod {
                        Ok(why.clone())
                    } else if let Some(sel) = &c.other_selector {
                        Err(format!("{sel} matches neither the pod network nor a pod interface"))
                    } else {
                        Ok("accepts every forwarded packet".to_string())
                    };
                    let a = |why: String| ForwardAccept { rule: r.text.clone(), path: path.clone(), why };
                    match verdict {
                        Ok(why) => out.accepts.push(a(why)),
                        Err(why) => out.not_counted.push(a(why)),
                    }
                    if plain {
                        return;
                    }
                }
                "DROP" | "REJECT" | "RETURN" if plain => return,
                t if rules.contains_key(t) => {
                    if path.iter().any(|p| p == t) {
                        continue;
                    }
                    path.push(t.to_string());
                    self.walk_forward(rules, t, c, path, pod_nets, set_marks, out);
                    path.pop();
                    if r.goto && plain {
                        return;
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_and_kube_proxy_chain_names() {
        let hex: String = sha256(b"abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(svc_chain_name("default", "kubernetes", Some("https"), L4Proto::Tcp), "KUBE-SVC-NPX46M4PTMTKRN6Y");
        assert_eq!(sep_chain_name("default", "kubernetes", Some("https"), L4Proto::Tcp, "192.168.56.3:6443"), "KUBE-SEP-G5V522HWZT6RKRAC");
        assert_eq!(svc_chain_name("default", "web", Some("http"), L4Proto::Tcp), "KUBE-SVC-CDGGSHYLG3RE2FKL");
    }
}
