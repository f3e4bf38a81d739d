//! Service dataplane, flannel and Calico conventions computed over the graph (see rules-catalogue.md).
//!
//! - kube-proxy: [`Graph::proxy_index`] maps IPVS virtual servers (ClusterIP:port, and NodePorts on
//!   any local address of the host) and iptables chains to Services. iptables chains are mapped by
//!   chain name (kube-proxy names `KUBE-SVC-*` / `KUBE-SEP-*` after a SHA-256 of the service port
//!   name, see [`svc_chain_name`]), by `-d VIP --dport P` of the `KUBE-SERVICES` jump, and by DNAT
//!   target: never by comment (kube-proxy drops comments above 1,000 endpoints).
//! - flannel: who runs it, its device, the route it programs for a peer lease.
//! - Calico: blocks and their owners (BlockAffinities, peers' `blackhole ... proto bird|80` routes),
//!   the route a host has for a block.
//! - the filter FORWARD chain: is an ACCEPT for NEW pod traffic reachable ([`Graph::forward_analysis`]).
//! - overlay devices and the underlay interface a route leaves by.

use crate::graph::{is_cni_agent, Graph};
use crate::model::*;
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

// ---------------------------------------------------------------------------
// iptables-save rules

/// One iptables rule, tokenised.
#[derive(Debug, Clone)]
pub struct IptRule {
    pub chain: String,
    /// `-A CHAIN ...` as iptables-save prints it.
    pub text: String,
    /// (negated, option, value) in order; the value is empty for options without one,
    /// several words are joined by a space (`--match-set KUBE-CLUSTER-IP dst,dst`).
    pub opts: Vec<(bool, String, String)>,
    /// The `-j` / `-g` target.
    pub target: Option<String>,
    /// True for `-g` (goto).
    pub goto: bool,
}

/// Splits a rule the way a shell would (double quotes group, `\"` escapes).
/// Each token says whether it was quoted (quoted tokens are always values).
fn tokenize(s: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_q = false;
    let mut has = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_q => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                in_q = !in_q;
                quoted = true;
                has = true;
            }
            c if c.is_whitespace() && !in_q => {
                if has {
                    out.push((std::mem::take(&mut cur), quoted));
                }
                quoted = false;
                has = false;
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        out.push((cur, quoted));
    }
    out
}

impl IptRule {
    /// Parses the text after `-A CHAIN `.
    pub fn parse(chain: &str, rule: &str) -> IptRule {
        let toks = tokenize(rule);
        let mut opts = Vec::new();
        let mut neg = false;
        let mut i = 0;
        while i < toks.len() {
            let (t, q) = &toks[i];
            if !q && t == "!" {
                neg = true;
                i += 1;
                continue;
            }
            if !q && t.starts_with('-') {
                let mut vals = Vec::new();
                let mut j = i + 1;
                while j < toks.len() {
                    let (v, vq) = &toks[j];
                    if !vq && (v.starts_with('-') || v == "!") {
                        break;
                    }
                    vals.push(v.clone());
                    j += 1;
                }
                opts.push((neg, t.clone(), vals.join(" ")));
                neg = false;
                i = j;
                continue;
            }
            i += 1;
        }
        let mut target = None;
        let mut goto = false;
        for (_, o, v) in &opts {
            if o == "-j" || o == "--jump" {
                target = Some(v.clone());
            } else if o == "-g" || o == "--goto" {
                target = Some(v.clone());
                goto = true;
            }
        }
        IptRule { chain: chain.to_string(), text: format!("-A {chain} {rule}"), opts, target, goto }
    }

    /// The value of the first non-negated option among `names`.
    pub fn get(&self, names: &[&str]) -> Option<&str> {
        self.opts.iter().find(|(n, o, _)| !n && names.contains(&o.as_str())).map(|(_, _, v)| v.as_str())
    }

    /// True when the rule has no match at all besides comments (only a target).
    pub fn unconditional(&self) -> bool {
        let target_opts: Vec<&String> = self.target_options().collect();
        self.opts.iter().all(|(_, o, v)| match o.as_str() {
            "-j" | "--jump" | "-g" | "--goto" | "--comment" => true,
            "-m" | "--match" => v == "comment",
            // the target's own options (`--reject-with`, `--set-xmark`, ...) come after -j
            _ => target_opts.contains(&o),
        })
    }

    /// Options that follow the `-j` target (its own arguments).
    fn target_options(&self) -> impl Iterator<Item = &String> {
        let pos = self.opts.iter().position(|(_, o, _)| o == "-j" || o == "--jump" || o == "-g" || o == "--goto");
        self.opts.iter().skip(pos.map_or(self.opts.len(), |p| p + 1)).map(|(_, o, _)| o)
    }
}

/// All rules of one iptables table, parsed, per chain in order.
pub fn table_rules(t: &Iptables, table: &str) -> BTreeMap<String, Vec<IptRule>> {
    let mut out: BTreeMap<String, Vec<IptRule>> = BTreeMap::new();
    for (chain, rule) in t.rules.get(table).into_iter().flatten() {
        out.entry(chain.clone()).or_default().push(IptRule::parse(chain, rule));
    }
    out
}

// ---------------------------------------------------------------------------
// kube-proxy chain names (SHA-256 + base32, as kube-proxy computes them)

/// SHA-256, from the `sha2` crate (kube-proxy hashes with crypto/sha256).
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
pub fn service_port_name(s: &Service, port_name: Option<&str>) -> String {
    match port_name.filter(|p| !p.is_empty()) {
        Some(p) => format!("{}/{}:{p}", s.namespace, s.name),
        None => format!("{}/{}", s.namespace, s.name),
    }
}

/// The `KUBE-SVC-*` chain kube-proxy (iptables mode) creates for a service port.
pub fn svc_chain_name(s: &Service, port_name: Option<&str>, protocol: &str) -> String {
    format!("KUBE-SVC-{}", port_proto_hash(&service_port_name(s, port_name), &protocol.to_lowercase()))
}

/// The `KUBE-SEP-*` chain kube-proxy creates for one endpoint (`ip:port`) of a service port.
pub fn sep_chain_name(s: &Service, port_name: Option<&str>, protocol: &str, endpoint: &str) -> String {
    format!("KUBE-SEP-{}", port_proto_hash(&format!("{}{}", service_port_name(s, port_name), protocol.to_lowercase()), endpoint))
}

// ---------------------------------------------------------------------------
// kube-proxy index of one host

/// An IPVS virtual server mapped to the Service it implements.
#[derive(Debug, Clone)]
pub struct IpvsEntry {
    pub vs: VirtualServer,
    /// `cluster_ip`, `node_port`, or `""` when no Service matches.
    pub kind: &'static str,
    pub service: Option<usize>,
    pub port_name: Option<String>,
}

/// A `-A KUBE-SERVICES ... -j KUBE-SVC-X` rule.
#[derive(Debug, Clone)]
pub struct SvcJump {
    pub ip: Option<IpAddr>,
    pub protocol: Option<String>,
    pub port: Option<i64>,
    pub chain: String,
    pub text: String,
}

/// A `KUBE-SVC-*` (or `KUBE-SVL-*`) chain: the endpoint chains it jumps to and their DNAT targets.
#[derive(Debug, Clone, Default)]
pub struct SvcChain {
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
    /// Index into `jumps` by target chain, and by (PROTOCOL, VIP, port).
    pub jump_by_chain: HashMap<String, usize>,
    pub jump_by_vip: HashMap<(String, IpAddr, i64), usize>,
    pub chains: BTreeMap<String, SvcChain>,
    /// Rules of `KUBE-SERVICES` (nat or filter) that REJECT / DROP a VIP:port: (protocol, ip, port) → rule.
    pub rejects: HashMap<(String, IpAddr, i64), String>,
}

/// A host's kube-proxy dataplane, indexed for per-Service questions.
#[derive(Debug, Clone, Default)]
pub struct ProxyIndex {
    pub host: String,
    /// The host's proxy mode ([`Graph::host_proxy_mode`]).
    pub mode: &'static str,
    /// IPVS virtual servers, when ipvs.txt was collected.
    pub ipvs: Option<Vec<IpvsEntry>>,
    pub vs_by_key: HashMap<(String, IpAddr, i64), usize>,
    /// kube-proxy's iptables chains, when iptables-save was collected.
    pub iptables: Option<KubeIptables>,
    pub has_kube_ipvs0: bool,
}

/// One (ClusterIP, port) of a Service and whether the host's dataplane has it.
#[derive(Debug, Clone)]
pub struct ServiceEntry {
    pub ip: IpAddr,
    pub protocol: String,
    pub port: i64,
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

fn ip_of_cidr(s: &str) -> Option<IpAddr> {
    crate::net::parse_ip(s)
}

impl KubeIptables {
    fn build(t: &Iptables) -> KubeIptables {
        let mut out = KubeIptables::default();
        let nat = table_rules(t, "nat");
        if let Some(chains) = t.chains.get("nat") {
            for c in chains.keys().filter(|c| c.starts_with("KUBE-SVC-") || c.starts_with("KUBE-SVL-")) {
                out.chains.insert(c.clone(), SvcChain::default());
            }
        }
        let mut sep_dnat: HashMap<&str, Vec<String>> = HashMap::new();
        for (chain, rules) in &nat {
            if chain.starts_with("KUBE-SEP-") {
                for r in rules {
                    if r.target.as_deref() == Some("DNAT") {
                        if let Some(d) = r.get(&["--to-destination"]) {
                            sep_dnat.entry(chain.as_str()).or_default().push(d.to_string());
                        }
                    }
                }
            }
        }
        for (chain, rules) in &nat {
            if !(chain.starts_with("KUBE-SVC-") || chain.starts_with("KUBE-SVL-")) {
                continue;
            }
            let entry = out.chains.entry(chain.clone()).or_default();
            for r in rules {
                if let Some(sep) = r.target.as_deref().filter(|t| t.starts_with("KUBE-SEP-")) {
                    entry.seps.push(sep.to_string());
                    entry.endpoints.extend(sep_dnat.get(sep).cloned().unwrap_or_default());
                }
            }
        }
        for r in nat.get("KUBE-SERVICES").into_iter().flatten() {
            let Some(target) = r.target.as_deref() else { continue };
            if target.starts_with("KUBE-SVC-") || target.starts_with("KUBE-SVL-") {
                let jump = SvcJump {
                    ip: r.get(&["-d", "--destination"]).and_then(ip_of_cidr),
                    protocol: r.get(&["-p", "--protocol"]).map(str::to_uppercase),
                    port: r.get(&["--dport", "--destination-port"]).and_then(|p| p.parse().ok()),
                    chain: target.to_string(),
                    text: r.text.clone(),
                };
                out.chains.entry(target.to_string()).or_default().jumped_from.push(r.text.clone());
                out.jump_by_chain.entry(jump.chain.clone()).or_insert(out.jumps.len());
                if let (Some(ip), Some(p), Some(port)) = (jump.ip, jump.protocol.clone(), jump.port) {
                    out.jump_by_vip.entry((p, ip, port)).or_insert(out.jumps.len());
                }
                out.jumps.push(jump);
            }
        }
        for table in ["nat", "filter"] {
            for r in table_rules(t, table).get("KUBE-SERVICES").into_iter().flatten() {
                if !matches!(r.target.as_deref(), Some("REJECT") | Some("DROP")) {
                    continue;
                }
                let (Some(ip), Some(p), Some(port)) = (
                    r.get(&["-d", "--destination"]).and_then(ip_of_cidr),
                    r.get(&["-p", "--protocol"]),
                    r.get(&["--dport", "--destination-port"]).and_then(|p| p.parse::<i64>().ok()),
                ) else {
                    continue;
                };
                out.rejects.insert((p.to_uppercase(), ip, port), r.text.clone());
            }
        }
        out
    }
}

impl ProxyIndex {
    /// Whether the host's dataplane holds any service entry at all (a virtual server or
    /// `kube-ipvs0`; a `KUBE-SVC-*` chain).
    pub fn has_any_service_entry(&self) -> bool {
        self.has_kube_ipvs0
            || self.ipvs.as_ref().is_some_and(|v| !v.is_empty())
            || self.iptables.as_ref().is_some_and(|t| !t.chains.is_empty())
    }
}

/// A Service port kube-proxy serves: ports whose protocol it programs.
fn proxied_protocol(p: &str) -> bool {
    matches!(p, "TCP" | "UDP" | "SCTP")
}

impl Graph {
    /// Ready endpoint addresses of a Service (empty when none or not collected).
    pub fn ready_endpoints(&self, svc: usize) -> &[IpAddr] {
        let s = &self.facts.services[svc];
        self.endpoints_by_service.get(&(s.namespace.clone(), s.name.clone())).map_or(&[], |i| self.facts.endpoints[*i].ready.as_slice())
    }

    /// True when a Service port has ready endpoints: the Service has some, and the endpoints list
    /// that port (by name and protocol) or list no ports at all.
    pub fn port_has_ready_endpoints(&self, svc: usize, port: &ServicePort) -> bool {
        let s = &self.facts.services[svc];
        let Some(e) = self.endpoints_by_service.get(&(s.namespace.clone(), s.name.clone())).map(|i| &self.facts.endpoints[*i]) else {
            return false;
        };
        if e.ready.is_empty() {
            return false;
        }
        e.ports.is_empty()
            || e.ports.iter().any(|(name, _, proto)| name.as_deref().unwrap_or("") == port.name.as_deref().unwrap_or("") && proto.eq_ignore_ascii_case(&port.protocol))
    }

    /// The kube-proxy dataplane of a host, indexed. Empty (mode `""`, nothing collected) for a
    /// host that was not captured.
    pub fn proxy_index(&self, name: &str) -> ProxyIndex {
        let mut idx = ProxyIndex { host: name.to_string(), mode: self.host_proxy_mode(name), ..Default::default() };
        let Some(host) = self.host(name) else { return idx };
        idx.has_kube_ipvs0 = host.links.get().is_some_and(|ls| ls.iter().any(|l| l.name == "kube-ipvs0"));
        if let Some(vss) = host.ipvs.get() {
            let local: BTreeSet<IpAddr> = host.addrs.get().into_iter().flatten().map(|a| a.local).collect();
            let mut node_ports: HashMap<(String, i64), (usize, Option<String>)> = HashMap::new();
            for (i, s) in self.facts.services.iter().enumerate() {
                for p in &s.ports {
                    if let Some(np) = p.node_port {
                        node_ports.entry((p.protocol.to_uppercase(), np)).or_insert((i, p.name.clone()));
                    }
                }
            }
            let mut entries = Vec::new();
            for vs in vss {
                let mut e = IpvsEntry { vs: vs.clone(), kind: "", service: None, port_name: None };
                if let Some(addr) = vs.addr {
                    let by_ip = self.service_by_ip.get(&addr).and_then(|si| {
                        let s = &self.facts.services[*si];
                        s.ports.iter().find(|p| p.port == vs.port && p.protocol.eq_ignore_ascii_case(&vs.protocol)).map(|p| (*si, p.name.clone()))
                    });
                    if let Some((si, pn)) = by_ip {
                        e.kind = "cluster_ip";
                        e.service = Some(si);
                        e.port_name = pn;
                    } else if local.contains(&addr) {
                        if let Some((si, pn)) = node_ports.get(&(vs.protocol.to_uppercase(), vs.port)) {
                            e.kind = "node_port";
                            e.service = Some(*si);
                            e.port_name = pn.clone();
                        }
                    }
                    idx.vs_by_key.insert((vs.protocol.to_uppercase(), addr, vs.port), entries.len());
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
    pub fn service_entries(&self, idx: &ProxyIndex, svc: usize, mode: &str) -> Vec<ServiceEntry> {
        let s = &self.facts.services[svc];
        let mut out = Vec::new();
        for ip in s.cluster_ips.iter().filter(|i| i.is_ipv4()) {
            for p in s.ports.iter().filter(|p| proxied_protocol(&p.protocol.to_uppercase())) {
                if !self.port_has_ready_endpoints(svc, p) {
                    continue;
                }
                let proto = p.protocol.to_uppercase();
                let mut e = ServiceEntry {
                    ip: *ip,
                    protocol: proto.clone(),
                    port: p.port,
                    port_name: p.name.clone(),
                    want: format!("{proto} {ip}:{}", p.port),
                    found: false,
                    via: None,
                    chain: None,
                    notes: Vec::new(),
                };
                match mode {
                    "ipvs" => {
                        if let Some(i) = idx.vs_by_key.get(&(proto.clone(), *ip, p.port)) {
                            e.found = true;
                            e.via = idx.ipvs.as_ref().map(|v| format!("IPVS virtual server {}", v[*i].vs.text()));
                        }
                    }
                    "iptables" => {
                        let chain = svc_chain_name(s, p.name.as_deref(), &proto);
                        let svl = chain.replacen("KUBE-SVC-", "KUBE-SVL-", 1);
                        e.chain = Some(chain.clone());
                        if let Some(t) = &idx.iptables {
                            let by_name = t.jump_by_chain.get(&chain).or_else(|| t.jump_by_chain.get(&svl));
                            let by_vip = t.jump_by_vip.get(&(proto.clone(), *ip, p.port));
                            if let Some(j) = by_name.or(by_vip).map(|i| &t.jumps[*i]) {
                                e.found = true;
                                e.via = Some(j.text.clone());
                            } else {
                                if let Some(c) = t.chains.get(&chain).or_else(|| t.chains.get(&svl)) {
                                    e.notes.push(format!(
                                        "chain {chain} exists (DNAT to {}) but no KUBE-SERVICES rule jumps to it",
                                        if c.endpoints.is_empty() { "nothing".to_string() } else { c.endpoints.join(", ") }
                                    ));
                                }
                                if let Some(r) = t.rejects.get(&(proto.clone(), *ip, p.port)) {
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

    /// The node a pod IP belongs to (hostNetwork pods excluded), by linear scan.
    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<usize> {
        self.pod_by_ip.get(&ip).copied()
    }

    /// Pods in the Service's namespace whose labels match its selector.
    pub fn selected_pods(&self, svc: usize) -> Vec<usize> {
        let s = &self.facts.services[svc];
        if s.selector.is_empty() {
            return Vec::new();
        }
        (0..self.facts.pods.len())
            .filter(|i| {
                let p = &self.facts.pods[*i];
                p.namespace == s.namespace && s.selector.iter().all(|(k, v)| p.labels.get(k) == Some(v))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// flannel

/// flannel DaemonSet name prefixes (canal runs flannel too).
const FLANNEL_AGENTS: &[&str] = &["kube-flannel", "flannel", "canal"];

fn is_flannel_pod(p: &Pod) -> bool {
    is_cni_agent(p) && p.owner_name.as_deref().is_some_and(|o| FLANNEL_AGENTS.iter().any(|f| o.starts_with(f)))
}

/// What the flannel route check of one peer lease says.
#[derive(Debug, Clone)]
pub struct FlannelRoute {
    pub backend: String,
    /// The route flannel programs, as `ip route` prints it.
    pub expected: String,
    /// False for backends this check does not know (udp, wireguard, ...).
    pub supported: bool,
    pub ok: bool,
    /// The matching route when ok; else the routes for exactly that subnet (wrong gateway or device).
    pub found: Vec<Route>,
}

impl Graph {
    /// Why flannel is in use in this cluster (empty when it is not).
    pub fn flannel_in_use(&self) -> Vec<String> {
        let mut why = Vec::new();
        if let Some(c) = &self.facts.flannel_etcd_config {
            why.push(format!("flannel config in etcd ({})", c.source));
        }
        if let Some(c) = &self.facts.config.flannel_net_conf {
            why.push(format!("flannel net-conf.json ({})", c.source));
        }
        let annotated: Vec<&str> = self.facts.nodes.iter().filter(|n| n.flannel.is_some()).map(|n| n.name.as_str()).collect();
        if !annotated.is_empty() {
            why.push(format!("Nodes with flannel.alpha.coreos.com annotations: {}", annotated.join(", ")));
        }
        if let Some(p) = self.facts.pods.iter().find(|p| is_flannel_pod(p)) {
            why.push(format!("flannel pod {}/{}", p.namespace, p.name));
        }
        if why.is_empty() && !self.leases.is_empty() {
            why.push(format!("{} flannel leases", self.leases.len()));
        }
        why
    }

    /// Where leases come from: `Ok("etcd" | "kube-subnet-mgr")`, or why they cannot be known.
    pub fn flannel_lease_source(&self) -> Result<&'static str, String> {
        if self.has("etcd/flannel") {
            return Ok("etcd");
        }
        if self.facts.broken.contains_key("etcd/flannel") {
            return Err(self.missing_reason("etcd/flannel"));
        }
        // kube-flannel-cfg alone does not tell: etcd-mode deployments ship it too. flanneld in
        // kube-subnet-mgr mode annotates every Node it runs on.
        if self.has("nodes") && self.facts.nodes.iter().any(|n| n.flannel.as_ref().is_some_and(|f| f.kube_subnet_manager)) {
            return Ok("kube-subnet-mgr");
        }
        Err("flannel leases unknown: etcd/flannel not collected and no Node carries flannel's kube-subnet-manager annotation".to_string())
    }

    /// The VXLAN VNI in force (flannel config, default 1).
    pub fn flannel_vni(&self) -> i64 {
        self.flannel_config.as_ref().map_or(1, |c| c.vni)
    }

    /// The flannel backend of a lease: the lease's own `BackendType`, else the config's.
    pub fn lease_backend(&self, lease: usize) -> String {
        self.leases[lease].backend_type.clone().or_else(|| self.flannel_config.as_ref().map(|c| c.backend_type.clone())).unwrap_or_default()
    }

    /// The host's flannel VXLAN device: `flannel.<VNI>`, else any `flannel.<n>` link.
    pub fn flannel_device(&self, name: &str) -> Option<&Link> {
        let links = self.host(name)?.links.get()?;
        let want = format!("flannel.{}", self.flannel_vni());
        links.iter().find(|l| l.name == want).or_else(|| {
            links.iter().find(|l| l.name.strip_prefix("flannel.").is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit())))
        })
    }

    /// Why a host runs flannel (catalogue convention), or `None`.
    pub fn runs_flannel(&self, name: &str) -> Option<String> {
        if let Some(i) = self.leases_of(name).first() {
            return Some(format!("owns flannel lease {}", self.leases[*i].subnet));
        }
        if let Some(l) = self.flannel_device(name) {
            return Some(format!("has device {}", l.name));
        }
        self.pods_on(name).iter().map(|i| &self.facts.pods[*i]).find(|p| is_flannel_pod(p)).map(|p| format!("runs flannel pod {}/{}", p.namespace, p.name))
    }

    /// Main-table routes of a host for both families.
    fn main_routes(&self, name: &str) -> Vec<&Route> {
        let Some(h) = self.host(name) else { return Vec::new() };
        h.routes.get().into_iter().chain(h.routes6.get()).flatten().filter(|r| r.table == "main" || r.table == "254").collect()
    }

    /// The route flannel programs on `host` for a peer's lease, and whether it is there.
    /// vxlan: `SUBNET via SUBNET_BASE dev flannel.<VNI> onlink` (or, with DirectRouting,
    /// `SUBNET via PEER_PUBLIC_IP`); host-gw: `SUBNET via PEER_PUBLIC_IP`.
    pub fn flannel_route(&self, name: &str, lease: usize) -> FlannelRoute {
        let l = &self.leases[lease];
        let backend = self.lease_backend(lease);
        let dev = format!("flannel.{}", self.flannel_vni());
        let exact: Vec<&Route> = self.main_routes(name).into_iter().filter(|r| r.dst == l.subnet && !r.is_default).collect();
        let (expected, supported, ok) = match backend.as_str() {
            "vxlan" => {
                let base = l.subnet.network();
                let ok = exact.iter().find(|r| {
                    r.kind == "unicast" && ((r.gateway == Some(base) && r.dev.as_deref() == Some(dev.as_str())) || (l.public_ip.is_some() && r.gateway == l.public_ip))
                });
                (format!("{} via {base} dev {dev} onlink", l.subnet), true, ok.copied())
            }
            "host-gw" => {
                let gw = l.public_ip.map(|i| i.to_string()).unwrap_or_else(|| "<PublicIP>".to_string());
                let ok = exact.iter().find(|r| r.kind == "unicast" && l.public_ip.is_some() && r.gateway == l.public_ip);
                (format!("{} via {gw}", l.subnet), l.public_ip.is_some(), ok.copied())
            }
            other => (format!("(backend {other:?} is not checked)"), false, None),
        };
        FlannelRoute {
            backend,
            expected,
            supported,
            ok: ok.is_some(),
            found: match ok {
                Some(r) => vec![r.clone()],
                None => exact.into_iter().cloned().collect(),
            },
        }
    }

    // -----------------------------------------------------------------------
    // Calico

    /// Why Calico is in use (empty when it is not).
    pub fn calico_in_use(&self) -> Vec<String> {
        let mut why = Vec::new();
        if !self.facts.ip_pools.is_empty() {
            why.push(format!("Calico IPPools: {}", self.facts.ip_pools.iter().map(|p| format!("{} {}", p.name, p.cidr)).collect::<Vec<_>>().join(", ")));
        }
        if !self.facts.block_affinities.is_empty() {
            why.push(format!("{} Calico BlockAffinities", self.facts.block_affinities.len()));
        }
        if let Some(p) = self.facts.pods.iter().find(|p| is_cni_agent(p) && p.owner_name.as_deref().is_some_and(|o| o.starts_with("calico-node"))) {
            why.push(format!("calico-node pod {}/{}", p.namespace, p.name));
        }
        why
    }

    /// A captured host's own Calico block routes: `blackhole BLOCK proto bird` (BIRD) or `proto 80` (Felix).
    fn calico_blackholes(&self, name: &str) -> Vec<&Route> {
        let pools: Vec<IpNet> = self.facts.ip_pools.iter().map(|p| p.cidr).collect();
        self.main_routes(name)
            .into_iter()
            .filter(|r| r.kind == "blackhole" && matches!(r.protocol.as_deref(), Some("bird") | Some("12") | Some("80")))
            .filter(|r| pools.is_empty() || pools.iter().any(|p| p.contains(&r.dst)))
            .collect()
    }

    /// Why a host runs Calico, or `None`: a calico-node pod, a block affinity, its own block
    /// blackhole routes, or a Calico device.
    pub fn runs_calico(&self, name: &str) -> Option<String> {
        if let Some(p) = self.pods_on(name).iter().map(|i| &self.facts.pods[*i]).find(|p| is_cni_agent(p) && p.owner_name.as_deref().is_some_and(|o| o.starts_with("calico-node"))) {
            return Some(format!("runs calico-node pod {}/{}", p.namespace, p.name));
        }
        if let Some(b) = self.facts.block_affinities.iter().find(|b| b.node == name) {
            return Some(format!("has Calico block affinity {}", b.cidr));
        }
        if let Some(r) = self.calico_blackholes(name).first() {
            return Some(format!("has Calico block route `{}`", r.text()));
        }
        let links = self.host(name)?.links.get()?;
        links.iter().find(|l| l.name == "vxlan.calico" || l.name.starts_with("cali")).map(|l| format!("has Calico device {}", l.name))
    }

    /// Calico blocks and their owners: (block, node, evidence). From BlockAffinities (confirmed)
    /// and from captured hosts' own `blackhole BLOCK proto bird|80` routes.
    pub fn calico_blocks(&self) -> Vec<(IpNet, String, String)> {
        let mut out: Vec<(IpNet, String, String)> = Vec::new();
        for b in &self.facts.block_affinities {
            if b.state.is_empty() || b.state == "confirmed" {
                out.push((b.cidr, b.node.clone(), format!("BlockAffinity {} → {}", b.cidr, b.node)));
            }
        }
        for t in &self.targets {
            for r in self.calico_blackholes(&t.name) {
                if !out.iter().any(|(c, n, _)| *c == r.dst && *n == t.name) {
                    out.push((r.dst, t.name.clone(), format!("nodes/{}: `{}`", t.name, r.text())));
                }
            }
        }
        out.sort_by(|a, b| (a.0.addr(), a.0.prefix_len(), &a.1).cmp(&(b.0.addr(), b.0.prefix_len(), &b.1)));
        out
    }

    /// The main-table route a host uses for a whole block: the most specific route that covers
    /// it (lowest metric on ties). `None` when no route covers the block.
    pub fn block_route(&self, name: &str, block: IpNet) -> Option<Route> {
        self.main_routes(name)
            .into_iter()
            .filter(|r| r.dst.prefix_len() <= block.prefix_len() && r.dst.contains(&block.network()) && r.dst.addr().is_ipv4() == block.addr().is_ipv4())
            .max_by(|a, b| a.dst.prefix_len().cmp(&b.dst.prefix_len()).then(b.metric.cmp(&a.metric)))
            .cloned()
    }

    // -----------------------------------------------------------------------
    // Overlay devices and egress interfaces

    /// The host's overlay device: `flannel.<n>`, `vxlan.calico`, `cilium_vxlan`, or `tunl0` when
    /// it carries an IPv4 address (Calico IPIP; an idle tunl0 appears whenever the ipip module is loaded).
    pub fn overlay_device(&self, name: &str) -> Option<&Link> {
        let host = self.host(name)?;
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
    pub fn addr_dev(&self, name: &str, ip: IpAddr) -> Option<String> {
        self.host(name)?.addrs.get()?.iter().find(|a| a.local == ip).map(|a| a.dev.clone())
    }

    /// The host interface a route's packets finally leave by: the host interface whose subnet
    /// holds the gateway (onlink IPIP routes), the underlay of a VXLAN device (its `local`
    /// address), or the route's own device when it is not CNI-owned.
    pub fn route_egress(&self, name: &str, r: &Route) -> Option<String> {
        let host = self.host(name)?;
        let addrs = host.addrs.get().map(Vec::as_slice).unwrap_or(&[]);
        let is_host_if = |dev: &str| dev != "lo" && !self.is_cni_interface(dev);
        if let Some(gw) = r.gateway {
            if let Some(a) = addrs.iter().find(|a| is_host_if(&a.dev) && a.scope != "host" && a.network().contains(&gw) && a.prefix_len < a.network().max_prefix_len()) {
                return Some(a.dev.clone());
            }
        }
        let dev = r.dev.as_deref()?;
        if let Some(link) = host.links.get().and_then(|ls| ls.iter().find(|l| l.name == dev)) {
            if let Some(local) = link.vxlan_local.as_deref().and_then(crate::net::parse_ip) {
                return addrs.iter().find(|a| a.local == local).map(|a| a.dev.clone());
            }
        }
        is_host_if(dev).then(|| dev.to_string())
    }
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
        for (neg, o, v) in &r.opts {
            match o.as_str() {
                "-s" | "--source" | "-d" | "--destination" => {
                    let flag = if o.starts_with("-s") || o == "--source" { "-s" } else { "-d" };
                    let net = crate::net::parse_net(v.split(',').next().unwrap_or(""));
                    let pod = net.and_then(|n| pod_nets.iter().find(|(p, _)| crate::net::overlaps(p, &n)));
                    match (neg, pod) {
                        (false, Some((p, src))) => {
                            c.pod.get_or_insert(format!("{flag} {v} is pod network {p} ({src})"));
                        }
                        _ => {
                            c.other_selector.get_or_insert(format!("{}{flag} {v}", if *neg { "! " } else { "" }));
                        }
                    }
                }
                "-i" | "--in-interface" | "-o" | "--out-interface" => {
                    let flag = if o == "-i" || o == "--in-interface" { "-i" } else { "-o" };
                    if !neg && v == "docker0" {
                        c.docker.get_or_insert(format!("{flag} docker0 is Docker's own rule"));
                    } else if !neg && self.pod_iface_match(v) {
                        c.pod.get_or_insert(format!("{flag} {v} is a pod interface"));
                    } else if !neg || v != "docker0" {
                        c.other_selector.get_or_insert(format!("{}{flag} {v}", if *neg { "! " } else { "" }));
                    }
                }
                "--ctstate" | "--state" => {
                    let states: Vec<&str> = v.split(',').collect();
                    let new = states.contains(&"NEW");
                    if (!neg && !new) || (*neg && new) {
                        c.restricted.get_or_insert(format!("only {}conntrack state {v}", if *neg { "not " } else { "" }));
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
    /// `None` when iptables-save was not collected or has no filter table.
    pub fn forward_analysis(&self, name: &str) -> Option<ForwardAnalysis> {
        let t = self.host(name)?.iptables.get()?;
        let policy = t.chains.get("filter")?.get("FORWARD")?.clone();
        let rules = table_rules(t, "filter");
        let mut set_marks = BTreeSet::new();
        for r in rules.values().flatten() {
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
        let mut pod_nets = self.pod_networks();
        pod_nets.retain(|(n, _)| n.addr().is_ipv4());
        let mut out = ForwardAnalysis { policy, ..Default::default() };
        let mut path = vec!["FORWARD".to_string()];
        self.walk_forward(&rules, "FORWARD", FwdCtx::default(), &mut path, &pod_nets, &set_marks, &mut out);
        Some(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_forward(
        &self,
        rules: &BTreeMap<String, Vec<IptRule>>,
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
        for r in rules.get(chain).into_iter().flatten() {
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
        let hex: String = sha256(&[b'a'; 200]).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex.len(), 64);
        let s = Service { namespace: "default".into(), name: "kubernetes".into(), ..Default::default() };
        assert_eq!(svc_chain_name(&s, Some("https"), "TCP"), "KUBE-SVC-NPX46M4PTMTKRN6Y");
        assert_eq!(sep_chain_name(&s, Some("https"), "TCP", "192.168.56.3:6443"), "KUBE-SEP-G5V522HWZT6RKRAC");
        let w = Service { namespace: "default".into(), name: "web".into(), ..Default::default() };
        assert_eq!(svc_chain_name(&w, Some("http"), "tcp"), "KUBE-SVC-CDGGSHYLG3RE2FKL");
    }

    #[test]
    fn rule_tokens() {
        let r = IptRule::parse("KUBE-SERVICES", r#"-d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y"#);
        assert_eq!(r.get(&["-d"]), Some("10.96.0.1/32"));
        assert_eq!(r.get(&["--dport"]), Some("443"));
        assert_eq!(r.get(&["--comment"]), Some("default/kubernetes:https cluster IP"));
        assert_eq!(r.target.as_deref(), Some("KUBE-SVC-NPX46M4PTMTKRN6Y"));
        let r = IptRule::parse("KUBE-FIREWALL", r#"! -s 127.0.0.0/8 -d 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"#);
        assert_eq!(r.opts[0], (true, "-s".to_string(), "127.0.0.0/8".to_string()));
        assert!(r.opts.iter().any(|(n, o, v)| *n && o == "--ctstate" && v == "RELATED,ESTABLISHED,DNAT"));
        assert!(IptRule::parse("X", r#"-m comment --comment "x" -j RETURN"#).unconditional());
        assert!(IptRule::parse("X", "-j REJECT --reject-with icmp-host-prohibited").unconditional());
        assert!(!IptRule::parse("X", "-i docker0 -j ACCEPT").unconditional());
        let r = IptRule::parse("X", "-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT");
        assert_eq!(r.get(&["--match-set"]), Some("KUBE-CLUSTER-IP dst,dst"));
    }
}
