//! The rule API: the graph as registered Rust types with getters, plus native
//! helpers (route lookup, CIDR maths, index look-ups).
//!
//! Handles (`HostRef`, `PodRef`, ...) are an `Arc<Graph>` plus an index, so a
//! rule walking 150k pods copies no API objects. Small value objects (routes,
//! links, addresses) are registered types too; one-off answers are maps.
//! Every function registered here is listed in `docs/rules.md`.

use super::output::Ctx;
use crate::graph::{is_cni_agent, Graph, PodResolv};
use crate::model::*;
use crate::net;
use crate::route::Lookup;
use rhai::{Array, Dynamic, Engine, Map};
use std::net::IpAddr;
use std::sync::Arc;

thread_local! {
    /// `--explain`: (subject label, what was read → what it answered), when tracing.
    static TRACE: std::cell::RefCell<Option<Vec<(String, String)>>> = const { std::cell::RefCell::new(None) };
}

/// Starts recording the facts rules read on this thread.
pub fn start_trace() {
    TRACE.with(|t| *t.borrow_mut() = Some(Vec::new()));
}

/// Stops recording and returns what was read, in order.
pub fn take_trace() -> Vec<(String, String)> {
    TRACE.with(|t| t.borrow_mut().take()).unwrap_or_default()
}

/// Records that a rule read something about `subject` (a subject label such as `Node/n1`),
/// and what it got. Costs nothing unless `--explain` is tracing.
pub fn trace(subject: impl FnOnce() -> String, read: impl FnOnce() -> String) {
    TRACE.with(|t| {
        if let Some(v) = t.borrow_mut().as_mut() {
            v.push((subject(), read()));
        }
    });
}

/// A value as `--explain` shows it, cut at 300 bytes.
pub(super) fn short(d: &Dynamic) -> String {
    let s = match super::output::to_json(d) {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => "none".to_string(),
        v => v.to_string(),
    };
    if s.len() > 300 {
        format!("{}…", &s[..s.floor_char_boundary(300)])
    } else {
        s
    }
}

/// Records a host read for `--explain` (free unless tracing) and returns the answer.
pub(super) fn trace_host<T: Clone + Into<Dynamic>>(h: &HostRef, call: impl FnOnce() -> String, out: T) -> T {
    trace(|| format!("Node/{}", h.name()), || format!("{} → {}", call(), short(&out.clone().into())));
    out
}

fn trace_cluster<T: Clone + Into<Dynamic>>(call: impl FnOnce() -> String, out: T) -> T {
    trace(|| "Cluster/cluster".to_string(), || format!("{} → {}", call(), short(&out.clone().into())));
    out
}

/// A host or Node (catalogue "host").
#[derive(Clone)]
pub struct HostRef {
    pub g: Arc<Graph>,
    pub t: usize,
}

/// A Node object.
#[derive(Clone)]
pub struct NodeRef {
    pub g: Arc<Graph>,
    pub i: usize,
}

/// A Pod.
#[derive(Clone)]
pub struct PodRef {
    pub g: Arc<Graph>,
    pub i: usize,
}

/// A Service.
#[derive(Clone)]
pub struct ServiceRef {
    pub g: Arc<Graph>,
    pub i: usize,
}

/// A flannel lease.
#[derive(Clone)]
pub struct LeaseRef {
    pub g: Arc<Graph>,
    pub i: usize,
}

impl HostRef {
    /// The host (or Node) name.
    pub(super) fn name(&self) -> &str {
        &self.g.targets[self.t].name
    }
    /// The captured host facts, when the host was captured.
    pub(super) fn host(&self) -> Option<&Host> {
        self.g.targets[self.t].host.map(|h| &self.g.facts.hosts[h])
    }
}
impl NodeRef {
    fn n(&self) -> &Node {
        &self.g.facts.nodes[self.i]
    }
}
impl PodRef {
    fn p(&self) -> &Pod {
        &self.g.facts.pods[self.i]
    }
}
impl ServiceRef {
    fn s(&self) -> &Service {
        &self.g.facts.services[self.i]
    }
}
impl LeaseRef {
    fn l(&self) -> &FlannelLease {
        &self.g.leases[self.i]
    }
}

/// `()` for `None`.
pub(super) fn opt<T: rhai::Variant + Clone>(v: Option<T>) -> Dynamic {
    v.map_or(Dynamic::UNIT, Dynamic::from)
}

/// `()` for `None`, else the text.
pub(super) fn opt_str<S: AsRef<str>>(v: Option<S>) -> Dynamic {
    v.map_or(Dynamic::UNIT, |s| Dynamic::from(s.as_ref().to_string()))
}

/// An array of strings.
pub(super) fn strings<I: IntoIterator<Item = S>, S: ToString>(it: I) -> Array {
    it.into_iter().map(|s| Dynamic::from(s.to_string())).collect()
}

/// A map from literal pairs.
pub(super) fn map_of<const N: usize>(pairs: [(&str, Dynamic); N]) -> Map {
    pairs.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

/// A status condition as `#{type, status, reason, message, since}` (Node or Pod).
pub(super) fn condition_map(c: &Condition) -> Map {
    map_of([
        ("type", c.kind.clone().into()),
        ("status", c.status.clone().into()),
        ("reason", opt_str(c.reason.as_ref())),
        ("message", opt_str(c.message.as_ref())),
        ("since", opt_str(c.last_transition.as_ref())),
    ])
}

/// A subject map `#{kind, namespace, name, node}`.
pub fn subject_map(kind: &str, namespace: Option<&str>, name: &str, node: Option<&str>) -> Map {
    map_of([
        ("kind", kind.into()),
        ("namespace", opt(namespace.map(str::to_string))),
        ("name", name.into()),
        ("node", opt(node.map(str::to_string))),
    ])
}

fn cidr_list(v: Vec<(ipnet::IpNet, String)>, what: &str) -> Array {
    v.into_iter().map(|(c, s)| Dynamic::from_map(map_of([("cidr", c.to_string().into()), (what, s.into())]))).collect()
}

fn parse_ip_arg(s: &str) -> Result<IpAddr, Box<rhai::EvalAltResult>> {
    net::parse_ip(s).ok_or_else(|| format!("not an IP address: {s:?}").into())
}

fn parse_net_arg(s: &str) -> Result<ipnet::IpNet, Box<rhai::EvalAltResult>> {
    net::parse_net(s).ok_or_else(|| format!("not a CIDR or address: {s:?}").into())
}

const HOST_FACTS: &[&str] = &[
    "links",
    "addrs",
    "routes",
    "routes6",
    "rules",
    "neighbours",
    "fdb",
    "ipvs",
    "iptables",
    "resolv_conf",
    "kubelet_resolv_conf",
    "kubelet_config",
    "kubelet_args",
    "sysctl",
    "subnet_env",
];

/// (present, source, broken-message) of a host fact by its API name.
fn host_fact_state(h: &Host, fact: &str) -> Option<(bool, Option<String>, bool)> {
    fn st<T>(f: &Fact<T>) -> (bool, Option<String>, bool) {
        (f.is_present(), f.source().map(str::to_string), matches!(f, Fact::Broken { .. }))
    }
    Some(match fact {
        "links" => st(&h.links),
        "addrs" => st(&h.addrs),
        "routes" => st(&h.routes),
        "routes6" => st(&h.routes6),
        "rules" => st(&h.rules),
        "neighbours" => st(&h.neighbours),
        "fdb" => st(&h.fdb),
        "ipvs" => st(&h.ipvs),
        "iptables" => st(&h.iptables),
        "resolv_conf" => st(&h.resolv_conf),
        "kubelet_resolv_conf" => st(&h.kubelet_resolv_conf),
        "kubelet_config" => st(&h.kubelet_config),
        "kubelet_args" => st(&h.kubelet_args),
        "sysctl" => st(&h.sysctl),
        "subnet_env" => st(&h.subnet_env),
        _ => return None,
    })
}

/// The capture file that holds a host fact, for reasons.
fn host_fact_file(fact: &str) -> &'static str {
    match fact {
        "links" => "ip-link.json",
        "addrs" => "ip-addr.json",
        "routes" => "ip-route.json",
        "routes6" => "ip-route6.json",
        "rules" => "ip-rule.json",
        "neighbours" => "ip-neigh.json",
        "fdb" => "bridge-fdb.json",
        "ipvs" => "ipvs.txt",
        "iptables" => "iptables-save.txt",
        "resolv_conf" => "resolv.conf",
        "kubelet_resolv_conf" => "kubelet-resolv.conf",
        "kubelet_config" => "kubelet-config.yaml",
        "kubelet_args" => "kubelet-args.txt",
        "sysctl" => "sysctl.txt",
        "subnet_env" => "subnet.env",
        _ => "?",
    }
}

fn host_has(h: &mut HostRef, fact: &str) -> Result<bool, Box<rhai::EvalAltResult>> {
    let Some(host) = h.host() else {
        if HOST_FACTS.contains(&fact) {
            return Ok(false);
        }
        return Err(format!("unknown host fact {fact:?}; known: {}", HOST_FACTS.join(", ")).into());
    };
    host_fact_state(host, fact)
        .map(|(present, _, _)| present)
        .ok_or_else(|| format!("unknown host fact {fact:?}; known: {}", HOST_FACTS.join(", ")).into())
}

fn host_missing(h: &mut HostRef, fact: &str) -> String {
    let name = h.name().to_string();
    let file = host_fact_file(fact);
    match h.host().and_then(|host| host_fact_state(host, fact)) {
        None if h.host().is_none() => format!("host {name} not captured (no nodes/{name}/ folder): {file} not collected"),
        None => format!("unknown host fact {fact}"),
        Some((true, _, _)) => String::new(),
        Some((false, Some(src), true)) => format!("{src} could not be parsed (see errors)"),
        Some((false, _, _)) => format!("nodes/{name}/{file} not collected"),
    }
}

fn link_objs(h: &HostRef) -> Array {
    h.host().and_then(|x| x.links.get()).map(|ls| ls.iter().cloned().map(Dynamic::from).collect()).unwrap_or_default()
}

fn pod_resolv(h: &HostRef) -> Map {
    match h.g.pod_resolv_conf(h.name()) {
        PodResolv::File { source, conf, how } => map_of([
            ("known", true.into()),
            ("file", source.into()),
            ("how", how.into()),
            ("nameservers", resolv_map(&conf).into()),
        ]),
        PodResolv::Unknown(reason) => map_of([("known", false.into()), ("reason", reason.into())]),
    }
}

fn node_subject(name: &str) -> Map {
    subject_map("Node", None, name, Some(name))
}

fn corefile_forwards(g: &Graph) -> Array {
    let Some(cf) = &g.facts.config.corefile else { return Array::new() };
    let mut out = Array::new();
    let mut zone = String::new();
    for (i, raw) in cf.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.ends_with('{') && !line.starts_with("forward") && !line.starts_with("proxy") {
            zone = line.trim_end_matches('{').trim().to_string();
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(directive) = words.next() else { continue };
        if directive != "forward" && directive != "proxy" {
            continue;
        }
        let from = words.next().unwrap_or("").to_string();
        let targets: Vec<String> = words.take_while(|w| *w != "{").map(str::to_string).collect();
        let line = line.trim_end_matches('{').trim_end();
        out.push(Dynamic::from_map(map_of([
            ("server", zone.clone().into()),
            ("directive", directive.into()),
            ("from", from.into()),
            ("targets", strings(targets).into()),
            ("line", ((i + 1) as i64).into()),
            ("text", line.to_string().into()),
        ])));
    }
    out
}

fn resolv_map(conf: &ResolvConf) -> Array {
    conf.nameservers
        .iter()
        .map(|(line, ns)| {
            let ip = net::parse_ip(ns);
            Dynamic::from_map(map_of([
                ("address", ns.clone().into()),
                ("line", (*line as i64).into()),
                ("loopback", ip.is_some_and(|ip| net::is_loopback(&ip)).into()),
            ]))
        })
        .collect()
}

fn lookup_map(l: Lookup) -> Dynamic {
    Dynamic::from(l)
}

fn pod_containers(p: &Pod) -> Array {
    p.containers
        .iter()
        .map(|c| {
            Dynamic::from_map(map_of([
                ("name", c.name.clone().into()),
                ("ready", c.ready.into()),
                ("restart_count", c.restart_count.into()),
                ("state", c.state.clone().into()),
                ("reason", opt_str(c.reason.as_ref())),
                ("exit_code", opt(c.exit_code)),
                ("last_state", opt_str(c.last_state.as_ref())),
                ("last_reason", opt_str(c.last_reason.as_ref())),
            ]))
        })
        .collect()
}

fn string_map(m: &std::collections::BTreeMap<String, String>) -> Map {
    m.iter().map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone()))).collect()
}

fn endpoints_map(g: &Graph, s: &Service) -> Dynamic {
    match g.endpoints_by_service.get(&(s.namespace.clone(), s.name.clone())) {
        Some(i) => {
            let e = &g.facts.endpoints[*i];
            Dynamic::from_map(map_of([
                ("ready", strings(&e.ready).into()),
                ("not_ready", strings(&e.not_ready).into()),
                ("source", e.source_kind.clone().into()),
            ]))
        }
        None => Dynamic::UNIT,
    }
}

/// One documented function of the rule API (`docs/rules.md` is generated from these;
/// a test fails when a registered function has no entry).
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    /// The receiver type as rules see it (`Graph`, `Host`, `Pod`, ...), or `""` for a global function.
    pub on: &'static str,
    /// The function or property name (properties are documented under their plain name).
    pub name: &'static str,
    /// Call shape and result, e.g. `h.route_get(ip) -> Lookup | ()`.
    pub sig: &'static str,
    /// What it answers, one line.
    pub doc: &'static str,
    /// A one-line example.
    pub example: &'static str,
}

/// Every documented function of the rule API, all modules.
pub fn all_docs() -> impl Iterator<Item = &'static Doc> {
    DOCS.iter().chain(super::api_dataplane::DOCS).chain(super::api_cluster::DOCS)
}

/// Documentation of the core API (`api_dataplane` and `api_cluster` have their own).
pub const DOCS: &[Doc] = &[
    Doc { on: "Graph", name: "hosts", sig: "g.hosts() -> [Host]", doc: "Every host: each Node and each captured host folder, sorted by name.", example: "for h in g.hosts() { ... }" },
    Doc { on: "Graph", name: "host", sig: "g.host(name) -> Host | ()", doc: "The host of that name.", example: "let h = g.host(\"node1\");" },
    Doc { on: "Graph", name: "nodes", sig: "g.nodes() -> [Node]", doc: "Every Node object.", example: "for n in g.nodes() { if !n.ready { ... } }" },
    Doc { on: "Graph", name: "node", sig: "g.node(name) -> Node | ()", doc: "The Node object of that name.", example: "let n = g.node(\"admin\");" },
    Doc { on: "Graph", name: "pods", sig: "g.pods() -> [Pod]", doc: "Every Pod, sorted by namespace and name.", example: "let dns = g.pods().filter(|p| p.label(\"k8s-app\") == \"kube-dns\");" },
    Doc { on: "Graph", name: "pods_on", sig: "g.pods_on(node) -> [Pod]", doc: "Pods scheduled on a node (index look-up).", example: "let here = g.pods_on(h.name);" },
    Doc { on: "Graph", name: "services", sig: "g.services() -> [Service]", doc: "Every Service.", example: "for s in g.services() { ... }" },
    Doc { on: "Graph", name: "service", sig: "g.service(namespace, name) -> Service | ()", doc: "A Service by namespace and name.", example: "let k = g.service(\"default\", \"kubernetes\");" },
    Doc { on: "Graph", name: "service_by_ip", sig: "g.service_by_ip(ip) -> Service | ()", doc: "The Service owning a ClusterIP (index look-up).", example: "let s = g.service_by_ip(\"10.96.0.10\");" },
    Doc { on: "Graph", name: "leases", sig: "g.leases() -> [Lease]", doc: "flannel subnet leases (etcd, or Node annotations in kube-subnet-mgr mode).", example: "for l in g.leases() { if l.owner == () { ... } }" },
    Doc { on: "Graph", name: "lease", sig: "g.lease(subnet) -> Lease | ()", doc: "The lease of a subnet (index look-up).", example: "let l = g.lease(\"10.244.1.0/24\");" },
    Doc { on: "Graph", name: "has", sig: "g.has(kind) -> bool", doc: "Whether a cluster fact kind was collected: nodes, pods, services, endpoints, componentstatuses, ippools, blockaffinities, configmap/coredns, configmap/kube-proxy, configmap/kubeadm-config, configmap/kube-flannel-cfg, etcd/flannel.", example: "if !g.has(\"services\") { ... }" },
    Doc { on: "Graph", name: "missing", sig: "g.missing(kind) -> string", doc: "Why a cluster fact kind is unavailable, for `g.skip` reasons.", example: "g.skip(h.subject(), g.missing(\"services\"));" },
    Doc { on: "Graph", name: "pod_networks", sig: "g.pod_networks() -> [#{cidr, source}]", doc: "The cluster's pod networks: flannel Network, Calico IPPools, kubeadm podSubnet, Nodes' podCIDRs.", example: "for p in g.pod_networks() { ... p.cidr ... }" },
    Doc { on: "Graph", name: "corefile_forwards", sig: "g.corefile_forwards() -> [#{server, directive, from, targets, line, text}]", doc: "The Corefile's `forward` / `proxy` lines.", example: "let to_file = g.corefile_forwards().filter(|f| f.targets.some(|t| t.starts_with(\"/\")));" },
    Doc { on: "Graph", name: "service_cidrs", sig: "g.service_cidrs() -> [string]", doc: "Declared service CIDRs (kubeadm serviceSubnet); empty when not declared.", example: "let cidrs = g.service_cidrs();" },
    Doc { on: "Graph", name: "flannel_network", sig: "g.flannel_network() -> string | ()", doc: "flannel's Network (etcd config, else kube-flannel-cfg net-conf.json).", example: "let net = g.flannel_network();" },
    Doc { on: "Graph", name: "proxy_mode", sig: "g.proxy_mode() -> string", doc: "The cluster's kube-proxy mode: `ipvs`, `iptables`, other ConfigMap modes, or \"\" when it cannot be told.", example: "if g.proxy_mode() == \"ipvs\" { ... }" },
    Doc { on: "Graph", name: "now", sig: "g.now() -> string | ()", doc: "The capture time (meta.json captured_at, else the newest timestamp in the facts).", example: "let t = g.now();" },
    Doc { on: "Graph", name: "finding", sig: "g.finding(#{subject, related, summary, evidence, severity, remediation})", doc: "Reports a finding; `related`, `evidence`, `severity` (overrides the rule's) and `remediation` are optional.", example: "g.finding(#{ subject: h.subject(), summary: `...`, evidence: #{ file: h.source(\"routes\") } });" },
    Doc { on: "Graph", name: "skip", sig: "g.skip(subject, reason)", doc: "Reports that the rule could not judge a subject because a fact is missing.", example: "g.skip(h.subject(), h.missing(\"sysctl\"));" },
    Doc { on: "Graph", name: "param", sig: "g.param(name, default) -> any", doc: "A value from `--config` params for this rule, else `default`.", example: "let limit = g.param(\"max_restarts\", 5);" },
    Doc { on: "Host", name: "name", sig: "h.name -> string", doc: "The host (Node or capture folder) name.", example: "h.name" },
    Doc { on: "Host", name: "is_node", sig: "h.is_node -> bool", doc: "Whether a Node object of that name exists.", example: "if !h.is_node { ... }" },
    Doc { on: "Host", name: "is_captured", sig: "h.is_captured -> bool", doc: "Whether host facts were captured (a nodes/<name>/ folder).", example: "if !h.is_captured { ... }" },
    Doc { on: "Host", name: "node", sig: "h.node -> Node | ()", doc: "The Node object of this host.", example: "let n = h.node;" },
    Doc { on: "Host", name: "subject", sig: "h.subject() -> #{kind, namespace, name, node}", doc: "The Node subject of this host.", example: "g.finding(#{ subject: h.subject(), ... });" },
    Doc { on: "Host", name: "has", sig: "h.has(fact) -> bool", doc: "Whether a host fact was collected and parsed: links, addrs, routes, routes6, rules, neighbours, fdb, ipvs, iptables, resolv_conf, kubelet_resolv_conf, kubelet_config, kubelet_args, sysctl, subnet_env.", example: "if !h.has(\"routes\") { g.skip(h.subject(), h.missing(\"routes\")); continue; }" },
    Doc { on: "Host", name: "missing", sig: "h.missing(fact) -> string", doc: "Why a host fact is unavailable (not collected, or could not be parsed).", example: "h.missing(\"sysctl\")" },
    Doc { on: "Host", name: "source", sig: "h.source(fact) -> string | ()", doc: "The capture file a host fact came from, for evidence.", example: "evidence: #{ file: h.source(\"routes\") }" },
    Doc { on: "Host", name: "links", sig: "h.links() -> [Link]", doc: "Network interfaces (`ip -d link`).", example: "for l in h.links() { ... }" },
    Doc { on: "Host", name: "link", sig: "h.link(name) -> Link | ()", doc: "One interface by name.", example: "let vx = h.link(\"flannel.1\");" },
    Doc { on: "Host", name: "addrs", sig: "h.addrs() -> [Addr]", doc: "Interface addresses (`ip addr`).", example: "let v4 = h.addrs().filter(|a| a.family == \"inet\");" },
    Doc { on: "Host", name: "routes", sig: "h.routes() -> [Route]", doc: "Routes of every table, both families (`ip route show table all`).", example: "let main = h.routes().filter(|r| r.table == \"main\");" },
    Doc { on: "Host", name: "default_route", sig: "h.default_route(family) -> Route | ()", doc: "The main table's default route for `inet` or `inet6` (lowest metric).", example: "if h.default_route(\"inet\") == () { ... }" },
    Doc { on: "Host", name: "route_get", sig: "h.route_get(ip) -> Lookup | ()", doc: "Kernel route lookup for a packet the host sends: ip rules (or local, main, default), longest prefix; () when routes were not collected.", example: "let l = h.route_get(\"10.96.0.1\"); if !l.routable { ... }" },
    Doc { on: "Host", name: "unroutable", sig: "h.unroutable(ips) -> [Lookup] | ()", doc: "Batch route lookup: the lookups of the given addresses that are not routable (native, for thousands of ClusterIPs); () when routes were not collected.", example: "for l in h.unroutable(all_cluster_ips) { ... l.dst ... }" },
    Doc { on: "Host", name: "sysctl", sig: "h.sysctl(key) -> string | ()", doc: "A sysctl value.", example: "if h.sysctl(\"net.ipv4.ip_forward\") == \"0\" { ... }" },
    Doc { on: "Host", name: "sysctl_keys", sig: "h.sysctl_keys(prefix) -> [string]", doc: "Sysctl keys starting with a prefix.", example: "h.sysctl_keys(\"net.bridge.\").is_empty()" },
    Doc { on: "Host", name: "pod_resolv_conf", sig: "h.pod_resolv_conf() -> #{known, file, how, nameservers: [#{address, line, loopback}], reason}", doc: "The resolv.conf the kubelet hands pods (kubelet-resolv.conf, --resolv-conf, resolvConf, default /etc/resolv.conf); `known` false with a `reason` when it cannot be told.", example: "let r = h.pod_resolv_conf(); if !r.known { g.skip(h.subject(), r.reason); }" },
    Doc { on: "Host", name: "pod_subnets", sig: "h.pod_subnets() -> [#{cidr, source}]", doc: "This host's pod subnets: owned flannel leases, the Node's podCIDRs, Calico blocks.", example: "h.pod_subnets().map(|s| s.cidr)" },
    Doc { on: "Host", name: "host_networks", sig: "h.host_networks() -> [#{cidr, what}]", doc: "Networks of addresses on non-CNI interfaces, plus the Node's InternalIP.", example: "for n in h.host_networks() { ... n.cidr ... }" },
    Doc { on: "Host", name: "pod_bridges", sig: "h.pod_bridges() -> [#{name, why}] | ()", doc: "Linux bridges with veth ports or an address in the host's pod subnets; () when links were not collected.", example: "let b = h.pod_bridges();" },
    Doc { on: "Host", name: "proxy_mode", sig: "h.proxy_mode() -> string", doc: "This host's service proxy mode: `ipvs`, `iptables` or \"\".", example: "if h.proxy_mode() == \"ipvs\" { ... }" },
    Doc { on: "Host", name: "pods", sig: "h.pods() -> [Pod]", doc: "Pods scheduled on this host.", example: "h.pods().len()" },
    Doc { on: "Host", name: "leases", sig: "h.leases() -> [Lease]", doc: "flannel leases owned by this host.", example: "if h.leases().is_empty() { ... }" },
    Doc { on: "Host", name: "is_cni_interface", sig: "h.is_cni_interface(name) -> bool", doc: "Whether an interface name is CNI- or kube-proxy-owned (catalogue list plus config `cni_interfaces`).", example: "h.is_cni_interface(\"cali12ab\")" },
    Doc { on: "Node", name: "name", sig: "n.name -> string", doc: "Node name.", example: "n.name" },
    Doc { on: "Node", name: "internal_ip", sig: "n.internal_ip -> string | ()", doc: "The first InternalIP.", example: "n.internal_ip" },
    Doc { on: "Node", name: "internal_ips", sig: "n.internal_ips -> [string]", doc: "Every InternalIP.", example: "n.internal_ips" },
    Doc { on: "Node", name: "addresses", sig: "n.addresses -> [#{type, address}]", doc: "status.addresses.", example: "n.addresses.filter(|a| a.type == \"ExternalIP\")" },
    Doc { on: "Node", name: "pod_cidrs", sig: "n.pod_cidrs -> [string]", doc: "spec.podCIDRs (or podCIDR).", example: "n.pod_cidrs" },
    Doc { on: "Node", name: "labels", sig: "n.labels -> map", doc: "Node labels.", example: "n.labels[\"kubernetes.io/os\"]" },
    Doc { on: "Node", name: "ready", sig: "n.ready -> bool", doc: "The Ready condition is True.", example: "if !n.ready { ... }" },
    Doc { on: "Node", name: "condition", sig: "n.condition(type) -> #{type, status, reason, message, since} | ()", doc: "One status condition.", example: "let dp = n.condition(\"DiskPressure\");" },
    Doc { on: "Node", name: "subject", sig: "n.subject() -> #{kind, namespace, name, node}", doc: "The Node subject.", example: "n.subject()" },
    Doc { on: "Pod", name: "namespace", sig: "p.namespace -> string", doc: "Namespace.", example: "p.namespace" },
    Doc { on: "Pod", name: "name", sig: "p.name -> string", doc: "Name.", example: "p.name" },
    Doc { on: "Pod", name: "node", sig: "p.node -> string | ()", doc: "spec.nodeName.", example: "p.node" },
    Doc { on: "Pod", name: "phase", sig: "p.phase -> string", doc: "status.phase.", example: "p.phase == \"Running\"" },
    Doc { on: "Pod", name: "reason", sig: "p.reason -> string | ()", doc: "status.reason, e.g. `Evicted`.", example: "p.reason == \"Evicted\"" },
    Doc { on: "Pod", name: "ready", sig: "p.ready -> bool", doc: "The Ready condition is True.", example: "if !p.ready { ... }" },
    Doc { on: "Pod", name: "ips", sig: "p.ips -> [string]", doc: "Pod IPs.", example: "p.ips" },
    Doc { on: "Pod", name: "host_network", sig: "p.host_network -> bool", doc: "spec.hostNetwork.", example: "p.host_network" },
    Doc { on: "Pod", name: "labels", sig: "p.labels -> map", doc: "Pod labels.", example: "p.labels" },
    Doc { on: "Pod", name: "label", sig: "p.label(key) -> string | ()", doc: "One label.", example: "p.label(\"k8s-app\") == \"kube-dns\"" },
    Doc { on: "Pod", name: "owner_kind", sig: "p.owner_kind -> string | ()", doc: "Controller owner kind (DaemonSet, ReplicaSet, Node, ...).", example: "p.owner_kind == \"DaemonSet\"" },
    Doc { on: "Pod", name: "owner_name", sig: "p.owner_name -> string | ()", doc: "Controller owner name.", example: "p.owner_name" },
    Doc { on: "Pod", name: "mirror", sig: "p.mirror -> bool", doc: "A static pod's mirror (config.source file or owned by a Node).", example: "p.mirror" },
    Doc { on: "Pod", name: "is_cni_agent", sig: "p.is_cni_agent -> bool", doc: "A CNI agent DaemonSet pod (calico-node, kube-flannel, flannel, cilium, kube-router, weave-net, canal).", example: "p.is_cni_agent" },
    Doc { on: "Pod", name: "containers", sig: "p.containers -> [#{name, ready, restart_count, state, reason, exit_code, last_state, last_reason}]", doc: "Container statuses.", example: "p.containers.filter(|c| c.reason == \"CrashLoopBackOff\")" },
    Doc { on: "Pod", name: "ports", sig: "p.ports -> [#{name, port, protocol}]", doc: "Container ports the pod declares (spec.containers[].ports).", example: "p.ports.some(|c| c.port == 8080)" },
    Doc { on: "Pod", name: "restarts", sig: "p.restarts -> int", doc: "Total container restarts.", example: "p.restarts" },
    Doc { on: "Pod", name: "subject", sig: "p.subject() -> #{kind, namespace, name, node}", doc: "The Pod subject (node: the pod's node).", example: "p.subject()" },
    Doc { on: "Service", name: "namespace", sig: "s.namespace -> string", doc: "Namespace.", example: "s.namespace" },
    Doc { on: "Service", name: "name", sig: "s.name -> string", doc: "Name.", example: "s.name" },
    Doc { on: "Service", name: "type", sig: "s.type -> string", doc: "spec.type.", example: "s.type == \"NodePort\"" },
    Doc { on: "Service", name: "cluster_ip", sig: "s.cluster_ip -> string | ()", doc: "The first ClusterIP (() for headless).", example: "s.cluster_ip" },
    Doc { on: "Service", name: "cluster_ips", sig: "s.cluster_ips -> [string]", doc: "Every ClusterIP.", example: "for ip in s.cluster_ips { ... }" },
    Doc { on: "Service", name: "selector", sig: "s.selector -> map", doc: "spec.selector.", example: "s.selector" },
    Doc { on: "Service", name: "has_selector", sig: "s.has_selector -> bool", doc: "Whether the Service has a selector.", example: "s.has_selector" },
    Doc { on: "Service", name: "ports", sig: "s.ports -> [#{name, protocol, port, target_port, node_port}]", doc: "spec.ports.", example: "s.ports.map(|p| p.port)" },
    Doc { on: "Service", name: "endpoints", sig: "s.endpoints() -> #{ready, not_ready, source} | ()", doc: "Endpoint addresses from EndpointSlices (else Endpoints); () when none exist.", example: "let e = s.endpoints();" },
    Doc { on: "Service", name: "subject", sig: "s.subject() -> #{kind, namespace, name, node}", doc: "The Service subject (no node).", example: "s.subject()" },
    Doc { on: "Service", name: "subject_on", sig: "s.subject_on(node) -> #{kind, namespace, name, node}", doc: "The Service subject concerning one node.", example: "s.subject_on(h.name)" },
    Doc { on: "Service", name: "related", sig: "s.related() -> #{kind, namespace, name}", doc: "The Service as a finding's related party.", example: "related: s.related()" },
    Doc { on: "Lease", name: "subnet", sig: "l.subnet -> string", doc: "The leased subnet (CIDR).", example: "l.subnet" },
    Doc { on: "Lease", name: "public_ip", sig: "l.public_ip -> string | ()", doc: "PublicIP.", example: "l.public_ip" },
    Doc { on: "Lease", name: "backend_type", sig: "l.backend_type -> string | ()", doc: "BackendType.", example: "l.backend_type" },
    Doc { on: "Lease", name: "vtep_mac", sig: "l.vtep_mac -> string | ()", doc: "BackendData.VtepMAC (vxlan).", example: "l.vtep_mac" },
    Doc { on: "Lease", name: "source", sig: "l.source -> string", doc: "Where the lease came from (etcd file and key, or Node/<name>).", example: "l.source" },
    Doc { on: "Lease", name: "key", sig: "l.key -> string | ()", doc: "The etcd key as spelled.", example: "l.key" },
    Doc { on: "Lease", name: "owner", sig: "l.owner -> string | ()", doc: "The owning Node or host (lease ownership convention).", example: "l.owner" },
    Doc { on: "Lease", name: "owner_via", sig: "l.owner_via -> string | ()", doc: "Why that host owns it.", example: "l.owner_via" },
    Doc { on: "Lease", name: "subject", sig: "l.subject() -> #{kind, namespace, name, node}", doc: "The FlannelLease subject.", example: "l.subject()" },
    Doc { on: "Lease", name: "related", sig: "l.related() -> #{kind, namespace, name}", doc: "The lease as a related party.", example: "related: l.related()" },
    Doc { on: "Route", name: "kind", sig: "r.kind -> string", doc: "unicast, local, broadcast, blackhole, unreachable, prohibit, throw, ...", example: "r.kind == \"blackhole\"" },
    Doc { on: "Route", name: "dst", sig: "r.dst -> string", doc: "Destination as iproute2 prints it (`default` or a CIDR).", example: "r.dst" },
    Doc { on: "Route", name: "dst_cidr", sig: "r.dst_cidr -> string", doc: "Destination as a CIDR (0.0.0.0/0 for default).", example: "r.dst_cidr" },
    Doc { on: "Route", name: "is_default", sig: "r.is_default -> bool", doc: "A default route.", example: "r.is_default" },
    Doc { on: "Route", name: "is_v4", sig: "r.is_v4 -> bool", doc: "An IPv4 route.", example: "r.is_v4" },
    Doc { on: "Route", name: "gateway", sig: "r.gateway -> string | ()", doc: "Gateway (via).", example: "r.gateway" },
    Doc { on: "Route", name: "dev", sig: "r.dev -> string | ()", doc: "Output device.", example: "r.dev" },
    Doc { on: "Route", name: "table", sig: "r.table -> string", doc: "Table: main, local, default or a number.", example: "r.table == \"main\"" },
    Doc { on: "Route", name: "protocol", sig: "r.protocol -> string | ()", doc: "Protocol (kernel, boot, dhcp, bird, ...).", example: "r.protocol == \"bird\"" },
    Doc { on: "Route", name: "scope", sig: "r.scope -> string | ()", doc: "Scope.", example: "r.scope" },
    Doc { on: "Route", name: "metric", sig: "r.metric -> int", doc: "Metric.", example: "r.metric" },
    Doc { on: "Route", name: "prefsrc", sig: "r.prefsrc -> string | ()", doc: "Preferred source.", example: "r.prefsrc" },
    Doc { on: "Route", name: "flags", sig: "r.flags -> [string]", doc: "Flags such as onlink, linkdown.", example: "r.flags.contains(\"onlink\")" },
    Doc { on: "Route", name: "text", sig: "r.text -> string", doc: "The route as `ip route` prints it.", example: "r.text" },
    Doc { on: "Link", name: "name", sig: "l.name -> string", doc: "Interface name.", example: "l.name" },
    Doc { on: "Link", name: "kind", sig: "l.kind -> string", doc: "linkinfo info_kind (bridge, veth, vxlan, ...), \"\" for plain devices.", example: "l.kind == \"bridge\"" },
    Doc { on: "Link", name: "mtu", sig: "l.mtu -> int", doc: "MTU.", example: "l.mtu" },
    Doc { on: "Link", name: "mac", sig: "l.mac -> string | ()", doc: "MAC address.", example: "l.mac" },
    Doc { on: "Link", name: "master", sig: "l.master -> string | ()", doc: "The bridge it is a port of.", example: "l.master == \"cni0\"" },
    Doc { on: "Link", name: "operstate", sig: "l.operstate -> string", doc: "UP, DOWN, UNKNOWN, ...", example: "l.operstate" },
    Doc { on: "Link", name: "flags", sig: "l.flags -> [string]", doc: "Link flags.", example: "l.flags.contains(\"UP\")" },
    Doc { on: "Link", name: "vxlan_id", sig: "l.vxlan_id -> int | ()", doc: "VNI of a vxlan device.", example: "l.vxlan_id" },
    Doc { on: "Link", name: "vxlan_local", sig: "l.vxlan_local -> string | ()", doc: "Local address of a vxlan device.", example: "l.vxlan_local" },
    Doc { on: "Addr", name: "dev", sig: "a.dev -> string", doc: "Interface.", example: "a.dev" },
    Doc { on: "Addr", name: "ip", sig: "a.ip -> string", doc: "Address.", example: "a.ip" },
    Doc { on: "Addr", name: "prefix_len", sig: "a.prefix_len -> int", doc: "Prefix length.", example: "a.prefix_len" },
    Doc { on: "Addr", name: "cidr", sig: "a.cidr -> string", doc: "Address with prefix (`10.244.1.1/24`).", example: "a.cidr" },
    Doc { on: "Addr", name: "network", sig: "a.network -> string", doc: "The subnet (`10.244.1.0/24`).", example: "a.network" },
    Doc { on: "Addr", name: "scope", sig: "a.scope -> string", doc: "Scope (global, link, host).", example: "a.scope" },
    Doc { on: "Addr", name: "family", sig: "a.family -> string", doc: "inet or inet6.", example: "a.family == \"inet\"" },
    Doc { on: "Lookup", name: "dst", sig: "l.dst -> string", doc: "The destination looked up.", example: "l.dst" },
    Doc { on: "Lookup", name: "routable", sig: "l.routable -> bool", doc: "Whether the packet would be sent or delivered locally.", example: "l.routable" },
    Doc { on: "Lookup", name: "route", sig: "l.route -> string | ()", doc: "The deciding route as `ip route` prints it.", example: "l.route" },
    Doc { on: "Lookup", name: "kind", sig: "l.kind -> string", doc: "The deciding route type, `none` when nothing matched.", example: "l.kind" },
    Doc { on: "Lookup", name: "table", sig: "l.table -> string | ()", doc: "The table of the deciding route.", example: "l.table" },
    Doc { on: "Lookup", name: "dev", sig: "l.dev -> string | ()", doc: "Output device.", example: "l.dev" },
    Doc { on: "Lookup", name: "gateway", sig: "l.gateway -> string | ()", doc: "Gateway.", example: "l.gateway" },
    Doc { on: "Lookup", name: "reason", sig: "l.reason -> string", doc: "One-line explanation.", example: "l.reason" },
    Doc { on: "Lookup", name: "tables", sig: "l.tables -> [string]", doc: "Tables consulted, in order.", example: "l.tables" },
    Doc { on: "", name: "cidr_contains", sig: "cidr_contains(cidr, ip) -> bool", doc: "Whether a CIDR contains an address.", example: "cidr_contains(\"10.96.0.0/12\", \"10.96.0.1\")" },
    Doc { on: "", name: "cidr_overlaps", sig: "cidr_overlaps(a, b) -> bool", doc: "Whether two CIDRs share an address.", example: "cidr_overlaps(\"10.0.0.0/8\", \"10.244.0.0/16\")" },
    Doc { on: "", name: "cidr_network", sig: "cidr_network(cidr) -> string", doc: "The network address of a CIDR.", example: "cidr_network(\"10.244.1.7/24\") == \"10.244.1.0/24\"" },
    Doc { on: "", name: "cidr_prefix_len", sig: "cidr_prefix_len(cidr) -> int", doc: "Prefix length.", example: "cidr_prefix_len(\"10.244.0.0/16\") == 16" },
    Doc { on: "", name: "is_ip", sig: "is_ip(s) -> bool", doc: "Whether a string is an IP address.", example: "is_ip(\"10.0.0.1\")" },
    Doc { on: "", name: "is_ipv4", sig: "is_ipv4(s) -> bool", doc: "Whether a string is an IPv4 address (or CIDR).", example: "is_ipv4(\"10.0.0.1\")" },
    Doc { on: "", name: "is_loopback", sig: "is_loopback(ip) -> bool", doc: "127.0.0.0/8 or ::1.", example: "is_loopback(\"127.0.0.53\")" },
    Doc { on: "", name: "join", sig: "join(array, sep) -> string", doc: "Joins array items as text.", example: "join(names, \", \")" },
];

/// Registers every type and function of the rule API on `engine`.
pub fn register(engine: &mut Engine) {
    register_ctx(engine);
    register_host(engine);
    register_node(engine);
    register_pod(engine);
    register_service(engine);
    register_lease(engine);
    register_values(engine);
    register_helpers(engine);
    super::api_dataplane::register(engine);
    super::api_cluster::register(engine);
}

fn register_ctx(engine: &mut Engine) {
    engine
        .register_type_with_name::<Ctx>("Graph")
        .register_fn("hosts", |c: &mut Ctx| -> Array {
            (0..c.g.targets.len()).map(|t| Dynamic::from(HostRef { g: c.g.clone(), t })).collect()
        })
        .register_fn("host", |c: &mut Ctx, name: &str| -> Dynamic {
            opt(c.g.target_by_name.get(name).map(|t| HostRef { g: c.g.clone(), t: *t }))
        })
        .register_fn("nodes", |c: &mut Ctx| -> Array {
            (0..c.g.facts.nodes.len()).map(|i| Dynamic::from(NodeRef { g: c.g.clone(), i })).collect()
        })
        .register_fn("node", |c: &mut Ctx, name: &str| -> Dynamic {
            opt(c.g.node_by_name.get(name).map(|i| NodeRef { g: c.g.clone(), i: *i }))
        })
        .register_fn("pods", |c: &mut Ctx| -> Array {
            (0..c.g.facts.pods.len()).map(|i| Dynamic::from(PodRef { g: c.g.clone(), i })).collect()
        })
        .register_fn("pods_on", |c: &mut Ctx, node: &str| -> Array {
            c.g.pods_on(node).iter().map(|i| Dynamic::from(PodRef { g: c.g.clone(), i: *i })).collect()
        })
        .register_fn("services", |c: &mut Ctx| -> Array {
            (0..c.g.facts.services.len()).map(|i| Dynamic::from(ServiceRef { g: c.g.clone(), i })).collect()
        })
        .register_fn("service", |c: &mut Ctx, ns: &str, name: &str| -> Dynamic {
            opt(c.g.service_by_key.get(&(ns.to_string(), name.to_string())).map(|i| ServiceRef { g: c.g.clone(), i: *i }))
        })
        .register_fn("service_by_ip", |c: &mut Ctx, ip: &str| -> Dynamic {
            opt(net::parse_ip(ip).and_then(|ip| c.g.service_by_ip.get(&ip)).map(|i| ServiceRef { g: c.g.clone(), i: *i }))
        })
        .register_fn("leases", |c: &mut Ctx| -> Array {
            (0..c.g.leases.len()).map(|i| Dynamic::from(LeaseRef { g: c.g.clone(), i })).collect()
        })
        .register_fn("lease", |c: &mut Ctx, subnet: &str| -> Dynamic {
            opt(net::parse_net(subnet).and_then(|s| c.g.lease_by_subnet.get(&s)).map(|i| LeaseRef { g: c.g.clone(), i: *i }))
        })
        .register_fn("has", |c: &mut Ctx, kind: &str| trace_cluster(|| format!("has({kind:?})"), c.g.has(kind)))
        .register_fn("missing", |c: &mut Ctx, kind: &str| c.g.missing_reason(kind))
        .register_fn("pod_networks", |c: &mut Ctx| trace_cluster(|| "pod_networks()".into(), cidr_list(c.g.pod_networks(), "source")))
        .register_fn("corefile_forwards", |c: &mut Ctx| trace_cluster(|| "corefile_forwards()".into(), corefile_forwards(&c.g)))
        .register_fn("service_cidrs", |c: &mut Ctx| -> Array { strings(&c.g.facts.config.kubeadm_service_subnets) })
        .register_fn("flannel_network", |c: &mut Ctx| -> Dynamic {
            opt(c.g.flannel_config.as_ref().and_then(|f| f.network).map(|n| n.to_string()))
        })
        .register_fn("proxy_mode", |c: &mut Ctx| trace_cluster(|| "proxy_mode()".into(), c.g.cluster_proxy_mode()))
        .register_fn("now", |c: &mut Ctx| -> Dynamic { opt(c.g.now().map(str::to_string)) })
        .register_fn("finding", |c: &mut Ctx, f: Map| c.emit(f))
        .register_fn("skip", |c: &mut Ctx, subject: Map, reason: &str| c.skip(subject, reason))
        .register_fn("param", |c: &mut Ctx, name: &str, default: Dynamic| c.param(name, default));
}

fn register_host(engine: &mut Engine) {
    engine
        .register_type_with_name::<HostRef>("Host")
        .register_get("name", |h: &mut HostRef| h.name().to_string())
        .register_get("is_node", |h: &mut HostRef| h.g.targets[h.t].node.is_some())
        .register_get("is_captured", |h: &mut HostRef| h.g.targets[h.t].host.is_some())
        .register_get("node", |h: &mut HostRef| -> Dynamic { opt(h.g.targets[h.t].node.map(|i| NodeRef { g: h.g.clone(), i })) })
        .register_fn("subject", |h: &mut HostRef| node_subject(h.name()))
        .register_fn("has", |h: &mut HostRef, fact: &str| -> Result<bool, Box<rhai::EvalAltResult>> {
            let r = host_has(h, fact)?;
            Ok(trace_host(h, || format!("has({fact:?}) [{}]", h.host().and_then(|x| host_fact_state(x, fact)).and_then(|s| s.1).unwrap_or_else(|| "not collected".into())), r))
        })
        .register_fn("missing", host_missing)
        .register_fn("links", |h: &mut HostRef| link_objs(h))
        .register_fn("link", |h: &mut HostRef, name: &str| -> Dynamic {
            opt(h.host().and_then(|x| x.links.get()).and_then(|ls| ls.iter().find(|l| l.name == name)).cloned())
        })
        .register_fn("addrs", |h: &mut HostRef| -> Array {
            h.host().and_then(|x| x.addrs.get()).map(|a| a.iter().cloned().map(Dynamic::from).collect()).unwrap_or_default()
        })
        .register_fn("routes", |h: &mut HostRef| -> Array {
            let Some(host) = h.host() else { return Array::new() };
            let all: Array = host.routes.get().into_iter().chain(host.routes6.get()).flatten().cloned().map(Dynamic::from).collect();
            trace(|| format!("Node/{}", h.name()), || format!("routes() → {} routes", all.len()));
            all
        })
        .register_fn("default_route", |h: &mut HostRef, family: &str| -> Dynamic {
            let v4 = family != "inet6";
            let host = h.host();
            let all = host.and_then(|x| x.routes.get()).into_iter().chain(host.and_then(|x| x.routes6.get())).flatten();
            let d = opt(all.filter(|r| r.is_default && r.table == "main" && r.is_v4() == v4).min_by_key(|r| r.metric).cloned());
            trace_host(h, || format!("default_route({family:?})"), d)
        })
        .register_fn("route_get", |h: &mut HostRef, ip: &str| -> Result<Dynamic, Box<rhai::EvalAltResult>> {
            let ip = parse_ip_arg(ip)?;
            let l = h.g.route_get(h.name(), ip);
            trace(|| format!("Node/{}", h.name()), || format!("route_get({ip}) → {}", l.as_ref().map_or("routes not collected".to_string(), |l| l.reason.clone())));
            Ok(l.map_or(Dynamic::UNIT, lookup_map))
        })
        .register_fn("unroutable", |h: &mut HostRef, ips: Array| -> Result<Dynamic, Box<rhai::EvalAltResult>> {
            let mut failed = Array::new();
            for ip in &ips {
                let text = ip.clone().into_string().map_err(|t| format!("unroutable() takes an array of IP strings, got {t}"))?;
                let ip = parse_ip_arg(&text)?;
                match h.g.routable(h.name(), ip) {
                    None => return Ok(Dynamic::UNIT),
                    Some(false) => failed.extend(h.g.route_get(h.name(), ip).map(Dynamic::from)),
                    Some(true) => {}
                }
            }
            trace(|| format!("Node/{}", h.name()), || format!("unroutable({} addresses) → {} unroutable", ips.len(), failed.len()));
            Ok(Dynamic::from_array(failed))
        })
        .register_fn("sysctl", |h: &mut HostRef, key: &str| -> Dynamic {
            trace_host(h, || format!("sysctl({key:?})"), opt(h.host().and_then(|x| x.sysctl.get()).and_then(|m| m.get(key)).cloned()))
        })
        .register_fn("sysctl_keys", |h: &mut HostRef, prefix: &str| -> Array {
            let keys = strings(h.host().and_then(|x| x.sysctl.get()).into_iter().flat_map(|m| m.keys()).filter(|k| k.starts_with(prefix)));
            trace(|| format!("Node/{}", h.name()), || format!("sysctl_keys({prefix:?}) → {} keys", keys.len()));
            keys
        })
        .register_fn("source", |h: &mut HostRef, fact: &str| -> Dynamic {
            opt(h.host().and_then(|x| host_fact_state(x, fact)).and_then(|(_, s, _)| s))
        })
        .register_fn("pod_resolv_conf", |h: &mut HostRef| -> Map {
            let m = pod_resolv(h);
            trace_host(h, || "pod_resolv_conf()".into(), m)
        })
        .register_fn("pod_subnets", |h: &mut HostRef| trace_host(h, || "pod_subnets()".into(), cidr_list(h.g.pod_subnets(h.name()), "source")))
        .register_fn("host_networks", |h: &mut HostRef| trace_host(h, || "host_networks()".into(), cidr_list(h.g.host_networks(h.name()), "what")))
        .register_fn("pod_bridges", |h: &mut HostRef| -> Dynamic {
            let b = match h.g.pod_bridges(h.name()) {
                Some(v) => Dynamic::from_array(
                    v.into_iter().map(|(n, why)| Dynamic::from_map(map_of([("name", n.into()), ("why", why.into())]))).collect(),
                ),
                None => Dynamic::UNIT,
            };
            trace_host(h, || "pod_bridges()".into(), b)
        })
        .register_fn("proxy_mode", |h: &mut HostRef| trace_host(h, || "proxy_mode()".into(), h.g.host_proxy_mode(h.name()).to_string()))
        .register_fn("pods", |h: &mut HostRef| -> Array {
            h.g.pods_on(h.name()).iter().map(|i| Dynamic::from(PodRef { g: h.g.clone(), i: *i })).collect()
        })
        .register_fn("leases", |h: &mut HostRef| -> Array {
            h.g.leases_of(h.name()).into_iter().map(|i| Dynamic::from(LeaseRef { g: h.g.clone(), i })).collect()
        })
        .register_fn("is_cni_interface", |h: &mut HostRef, name: &str| h.g.is_cni_interface(name))
        .register_fn("to_string", |h: &mut HostRef| h.name().to_string())
        .register_fn("to_debug", |h: &mut HostRef| format!("Host({})", h.name()));
}

fn register_node(engine: &mut Engine) {
    engine
        .register_type_with_name::<NodeRef>("Node")
        .register_get("name", |n: &mut NodeRef| n.n().name.clone())
        .register_get("internal_ip", |n: &mut NodeRef| -> Dynamic { opt(n.n().internal_ips().next().map(|i| i.to_string())) })
        .register_get("internal_ips", |n: &mut NodeRef| strings(n.n().internal_ips()))
        .register_get("addresses", |n: &mut NodeRef| -> Array {
            n.n().addresses.iter().map(|(t, a)| Dynamic::from_map(map_of([("type", t.clone().into()), ("address", a.clone().into())]))).collect()
        })
        .register_get("pod_cidrs", |n: &mut NodeRef| strings(&n.n().pod_cidrs))
        .register_get("labels", |n: &mut NodeRef| string_map(&n.n().labels))
        .register_get("ready", |n: &mut NodeRef| n.n().condition("Ready").is_some_and(|c| c.status == "True"))
        .register_fn("condition", |n: &mut NodeRef, kind: &str| -> Dynamic {
            opt(n.n().condition(kind).map(condition_map))
        })
        .register_fn("subject", |n: &mut NodeRef| node_subject(&n.n().name))
        .register_fn("to_string", |n: &mut NodeRef| n.n().name.clone())
        .register_fn("to_debug", |n: &mut NodeRef| format!("Node({})", n.n().name));
}

fn register_pod(engine: &mut Engine) {
    engine
        .register_type_with_name::<PodRef>("Pod")
        .register_get("namespace", |p: &mut PodRef| p.p().namespace.clone())
        .register_get("name", |p: &mut PodRef| p.p().name.clone())
        .register_get("node", |p: &mut PodRef| opt_str(p.p().node.as_ref()))
        .register_get("phase", |p: &mut PodRef| p.p().phase.clone())
        .register_get("reason", |p: &mut PodRef| opt_str(p.p().reason.as_ref()))
        .register_get("ready", |p: &mut PodRef| p.p().ready())
        .register_get("ips", |p: &mut PodRef| strings(&p.p().pod_ips))
        .register_get("host_network", |p: &mut PodRef| p.p().host_network)
        .register_get("labels", |p: &mut PodRef| string_map(&p.p().labels))
        .register_get("owner_kind", |p: &mut PodRef| opt_str(p.p().owner_kind.as_ref()))
        .register_get("owner_name", |p: &mut PodRef| opt_str(p.p().owner_name.as_ref()))
        .register_get("mirror", |p: &mut PodRef| p.p().mirror)
        .register_get("is_cni_agent", |p: &mut PodRef| is_cni_agent(p.p()))
        .register_get("containers", |p: &mut PodRef| pod_containers(p.p()))
        .register_get("restarts", |p: &mut PodRef| p.p().containers.iter().map(|c| c.restart_count).sum::<i64>())
        .register_get("ports", |p: &mut PodRef| -> Array {
            p.p()
                .ports
                .iter()
                .map(|c| Dynamic::from_map(map_of([("name", opt_str(c.name.as_ref())), ("port", c.port.into()), ("protocol", c.protocol.clone().into())])))
                .collect()
        })
        .register_fn("label", |p: &mut PodRef, key: &str| opt_str(p.p().labels.get(key)))
        .register_fn("subject", |p: &mut PodRef| {
            let p = p.p();
            subject_map("Pod", Some(&p.namespace), &p.name, p.node.as_deref())
        })
        .register_fn("to_string", |p: &mut PodRef| format!("{}/{}", p.p().namespace, p.p().name))
        .register_fn("to_debug", |p: &mut PodRef| format!("Pod({}/{})", p.p().namespace, p.p().name));
}

fn register_service(engine: &mut Engine) {
    engine
        .register_type_with_name::<ServiceRef>("Service")
        .register_get("namespace", |s: &mut ServiceRef| s.s().namespace.clone())
        .register_get("name", |s: &mut ServiceRef| s.s().name.clone())
        .register_get("type", |s: &mut ServiceRef| s.s().kind.clone())
        .register_get("cluster_ip", |s: &mut ServiceRef| opt(s.s().cluster_ips.first().map(|i| i.to_string())))
        .register_get("cluster_ips", |s: &mut ServiceRef| strings(&s.s().cluster_ips))
        .register_get("selector", |s: &mut ServiceRef| string_map(&s.s().selector))
        .register_get("has_selector", |s: &mut ServiceRef| !s.s().selector.is_empty())
        .register_get("ports", |s: &mut ServiceRef| -> Array {
            s.s()
                .ports
                .iter()
                .map(|p| {
                    Dynamic::from_map(map_of([
                        ("name", opt_str(p.name.as_ref())),
                        ("protocol", p.protocol.clone().into()),
                        ("port", p.port.into()),
                        ("target_port", p.target_port.clone().into()),
                        ("node_port", opt(p.node_port)),
                    ]))
                })
                .collect()
        })
        .register_fn("endpoints", |s: &mut ServiceRef| endpoints_map(&s.g, s.s()))
        .register_fn("subject", |s: &mut ServiceRef| subject_map("Service", Some(&s.s().namespace), &s.s().name, None))
        .register_fn("subject_on", |s: &mut ServiceRef, node: &str| subject_map("Service", Some(&s.s().namespace), &s.s().name, Some(node)))
        .register_fn("related", |s: &mut ServiceRef| -> Map {
            map_of([("kind", "Service".into()), ("namespace", s.s().namespace.clone().into()), ("name", s.s().name.clone().into())])
        })
        .register_fn("to_string", |s: &mut ServiceRef| format!("{}/{}", s.s().namespace, s.s().name))
        .register_fn("to_debug", |s: &mut ServiceRef| format!("Service({}/{})", s.s().namespace, s.s().name));
}

fn register_lease(engine: &mut Engine) {
    engine
        .register_type_with_name::<LeaseRef>("Lease")
        .register_get("subnet", |l: &mut LeaseRef| l.l().subnet.to_string())
        .register_get("public_ip", |l: &mut LeaseRef| opt(l.l().public_ip.map(|i| i.to_string())))
        .register_get("backend_type", |l: &mut LeaseRef| opt_str(l.l().backend_type.as_ref()))
        .register_get("vtep_mac", |l: &mut LeaseRef| opt_str(l.l().vtep_mac.as_ref()))
        .register_get("source", |l: &mut LeaseRef| l.l().source.clone())
        .register_get("key", |l: &mut LeaseRef| opt_str(l.l().key.as_ref()))
        .register_get("owner", |l: &mut LeaseRef| opt(l.g.lease_owner[l.i].as_ref().map(|o| o.name.clone())))
        .register_get("owner_via", |l: &mut LeaseRef| opt(l.g.lease_owner[l.i].as_ref().map(|o| o.via.clone())))
        .register_fn("subject", |l: &mut LeaseRef| subject_map("FlannelLease", None, &l.l().subnet.to_string(), None))
        .register_fn("related", |l: &mut LeaseRef| -> Map {
            map_of([("kind", "FlannelLease".into()), ("namespace", Dynamic::UNIT), ("name", l.l().subnet.to_string().into())])
        })
        .register_fn("to_string", |l: &mut LeaseRef| l.l().subnet.to_string())
        .register_fn("to_debug", |l: &mut LeaseRef| format!("Lease({})", l.l().subnet));
}

fn register_values(engine: &mut Engine) {
    engine
        .register_type_with_name::<Route>("Route")
        .register_get("kind", |r: &mut Route| r.kind.clone())
        .register_get("dst", |r: &mut Route| if r.is_default { "default".to_string() } else { r.dst.to_string() })
        .register_get("dst_cidr", |r: &mut Route| r.dst.to_string())
        .register_get("is_default", |r: &mut Route| r.is_default)
        .register_get("is_v4", |r: &mut Route| r.is_v4())
        .register_get("gateway", |r: &mut Route| opt(r.gateway.map(|g| g.to_string())))
        .register_get("dev", |r: &mut Route| opt_str(r.dev.as_ref()))
        .register_get("table", |r: &mut Route| r.table.clone())
        .register_get("protocol", |r: &mut Route| opt_str(r.protocol.as_ref()))
        .register_get("scope", |r: &mut Route| opt_str(r.scope.as_ref()))
        .register_get("metric", |r: &mut Route| r.metric)
        .register_get("prefsrc", |r: &mut Route| opt(r.prefsrc.map(|g| g.to_string())))
        .register_get("flags", |r: &mut Route| strings(&r.flags))
        .register_get("text", |r: &mut Route| r.text())
        .register_fn("to_string", |r: &mut Route| r.text())
        .register_fn("to_debug", |r: &mut Route| format!("Route({})", r.text()));
    engine
        .register_type_with_name::<Link>("Link")
        .register_get("name", |l: &mut Link| l.name.clone())
        .register_get("kind", |l: &mut Link| l.kind.clone())
        .register_get("mtu", |l: &mut Link| l.mtu)
        .register_get("mac", |l: &mut Link| opt_str(l.mac.as_ref()))
        .register_get("master", |l: &mut Link| opt_str(l.master.as_ref()))
        .register_get("operstate", |l: &mut Link| l.operstate.clone())
        .register_get("flags", |l: &mut Link| strings(&l.flags))
        .register_get("vxlan_id", |l: &mut Link| opt(l.vxlan_id))
        .register_get("vxlan_local", |l: &mut Link| opt_str(l.vxlan_local.as_ref()))
        .register_fn("to_string", |l: &mut Link| l.name.clone())
        .register_fn("to_debug", |l: &mut Link| format!("Link({})", l.name));
    engine
        .register_type_with_name::<Addr>("Addr")
        .register_get("dev", |a: &mut Addr| a.dev.clone())
        .register_get("ip", |a: &mut Addr| a.local.to_string())
        .register_get("prefix_len", |a: &mut Addr| a.prefix_len as i64)
        .register_get("cidr", |a: &mut Addr| a.cidr())
        .register_get("network", |a: &mut Addr| a.network().to_string())
        .register_get("scope", |a: &mut Addr| a.scope.clone())
        .register_get("family", |a: &mut Addr| net::family(&a.local).to_string())
        .register_fn("to_string", |a: &mut Addr| format!("{} dev {}", a.cidr(), a.dev))
        .register_fn("to_debug", |a: &mut Addr| format!("Addr({} dev {})", a.cidr(), a.dev));
    engine
        .register_type_with_name::<Lookup>("Lookup")
        .register_get("dst", |l: &mut Lookup| l.dst.to_string())
        .register_get("routable", |l: &mut Lookup| l.routable)
        .register_get("route", |l: &mut Lookup| opt_str(l.route.as_ref()))
        .register_get("kind", |l: &mut Lookup| l.kind.clone())
        .register_get("table", |l: &mut Lookup| opt_str(l.table.as_ref()))
        .register_get("dev", |l: &mut Lookup| opt_str(l.dev.as_ref()))
        .register_get("gateway", |l: &mut Lookup| opt(l.gateway.map(|g| g.to_string())))
        .register_get("reason", |l: &mut Lookup| l.reason.clone())
        .register_get("tables", |l: &mut Lookup| strings(&l.tables))
        .register_fn("to_string", |l: &mut Lookup| l.reason.clone())
        .register_fn("to_debug", |l: &mut Lookup| format!("Lookup({})", l.reason));
}

fn register_helpers(engine: &mut Engine) {
    engine
        .register_fn("cidr_contains", |cidr: &str, ip: &str| -> Result<bool, Box<rhai::EvalAltResult>> {
            Ok(parse_net_arg(cidr)?.contains(&parse_ip_arg(ip)?))
        })
        .register_fn("cidr_overlaps", |a: &str, b: &str| -> Result<bool, Box<rhai::EvalAltResult>> {
            Ok(net::overlaps(&parse_net_arg(a)?, &parse_net_arg(b)?))
        })
        .register_fn("cidr_network", |cidr: &str| -> Result<String, Box<rhai::EvalAltResult>> {
            Ok(parse_net_arg(cidr)?.trunc().to_string())
        })
        .register_fn("cidr_prefix_len", |cidr: &str| -> Result<i64, Box<rhai::EvalAltResult>> {
            Ok(parse_net_arg(cidr)?.prefix_len() as i64)
        })
        .register_fn("is_ip", |s: &str| s.trim().parse::<IpAddr>().is_ok())
        .register_fn("is_ipv4", |s: &str| net::parse_ip(s).is_some_and(|i| i.is_ipv4()))
        .register_fn("is_loopback", |s: &str| -> Result<bool, Box<rhai::EvalAltResult>> { Ok(net::is_loopback(&parse_ip_arg(s)?)) })
        .register_fn("join", |a: Array, sep: &str| -> String {
            a.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(sep)
        });
}
