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
use rhai::{Array, Dynamic, Engine, ImmutableString, Map};
use std::net::IpAddr;
use std::sync::Arc;

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
    fn name(&self) -> &str {
        &self.g.targets[self.t].name
    }
    fn host(&self) -> Option<&Host> {
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
fn opt<T: rhai::Variant + Clone>(v: Option<T>) -> Dynamic {
    v.map_or(Dynamic::UNIT, Dynamic::from)
}

fn opt_str(v: Option<&String>) -> Dynamic {
    opt(v.cloned())
}

fn strings<I: IntoIterator<Item = S>, S: ToString>(it: I) -> Array {
    it.into_iter().map(|s| Dynamic::from(s.to_string())).collect()
}

fn map_of<const N: usize>(pairs: [(&str, Dynamic); N]) -> Map {
    pairs.into_iter().map(|(k, v)| (k.into(), v)).collect()
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
        .register_fn("has", |c: &mut Ctx, kind: &str| c.g.has(kind))
        .register_fn("missing", |c: &mut Ctx, kind: &str| c.g.missing_reason(kind))
        .register_fn("pod_networks", |c: &mut Ctx| cidr_list(c.g.pod_networks(), "source"))
        .register_fn("corefile_forwards", |c: &mut Ctx| corefile_forwards(&c.g))
        .register_fn("service_cidrs", |c: &mut Ctx| -> Array { strings(&c.g.facts.config.kubeadm_service_subnets) })
        .register_fn("flannel_network", |c: &mut Ctx| -> Dynamic {
            opt(c.g.flannel_config.as_ref().and_then(|f| f.network).map(|n| n.to_string()))
        })
        .register_fn("proxy_mode", |c: &mut Ctx| c.g.cluster_proxy_mode())
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
        .register_fn("has", host_has)
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
            host.routes.get().into_iter().chain(host.routes6.get()).flatten().cloned().map(Dynamic::from).collect()
        })
        .register_fn("default_route", |h: &mut HostRef, family: &str| -> Dynamic {
            let v4 = family != "inet6";
            let host = h.host();
            let all = host.and_then(|x| x.routes.get()).into_iter().chain(host.and_then(|x| x.routes6.get())).flatten();
            opt(all.filter(|r| r.is_default && r.table == "main" && r.is_v4() == v4).min_by_key(|r| r.metric).cloned())
        })
        .register_fn("route_get", |h: &mut HostRef, ip: &str| -> Result<Dynamic, Box<rhai::EvalAltResult>> {
            let ip = parse_ip_arg(ip)?;
            Ok(h.g.route_get(h.name(), ip).map_or(Dynamic::UNIT, lookup_map))
        })
        .register_fn("sysctl", |h: &mut HostRef, key: &str| -> Dynamic {
            opt(h.host().and_then(|x| x.sysctl.get()).and_then(|m| m.get(key)).cloned())
        })
        .register_fn("sysctl_keys", |h: &mut HostRef, prefix: &str| -> Array {
            strings(h.host().and_then(|x| x.sysctl.get()).into_iter().flat_map(|m| m.keys()).filter(|k| k.starts_with(prefix)))
        })
        .register_fn("source", |h: &mut HostRef, fact: &str| -> Dynamic {
            opt(h.host().and_then(|x| host_fact_state(x, fact)).and_then(|(_, s, _)| s))
        })
        .register_fn("pod_resolv_conf", |h: &mut HostRef| -> Map {
            match h.g.pod_resolv_conf(h.name()) {
                PodResolv::File { source, conf, how } => map_of([
                    ("known", true.into()),
                    ("file", source.into()),
                    ("how", how.into()),
                    ("nameservers", resolv_map(&conf).into()),
                ]),
                PodResolv::Unknown(reason) => map_of([("known", false.into()), ("reason", reason.into())]),
            }
        })
        .register_fn("pod_subnets", |h: &mut HostRef| cidr_list(h.g.pod_subnets(h.name()), "source"))
        .register_fn("host_networks", |h: &mut HostRef| cidr_list(h.g.host_networks(h.name()), "what"))
        .register_fn("pod_bridges", |h: &mut HostRef| -> Dynamic {
            match h.g.pod_bridges(h.name()) {
                Some(v) => Dynamic::from_array(
                    v.into_iter().map(|(n, why)| Dynamic::from_map(map_of([("name", n.into()), ("why", why.into())]))).collect(),
                ),
                None => Dynamic::UNIT,
            }
        })
        .register_fn("proxy_mode", |h: &mut HostRef| h.g.host_proxy_mode(h.name()).to_string())
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
            opt(n.n().condition(kind).map(|c| {
                map_of([
                    ("type", c.kind.clone().into()),
                    ("status", c.status.clone().into()),
                    ("reason", opt_str(c.reason.as_ref())),
                    ("message", opt_str(c.message.as_ref())),
                    ("since", opt_str(c.last_transition.as_ref())),
                ])
            }))
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
        })
        .register_fn("to_string", |s: ImmutableString| s);
}
