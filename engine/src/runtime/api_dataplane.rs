//! Rule API extension: service dataplane (IPVS, iptables), flannel and Calico helpers.
//! Every function registered here has an entry in [`DOCS`].

use super::api::{map_of, opt, strings, trace_host as traced, Doc, HostRef, LeaseRef, PodRef, ServiceRef};
use super::output::Ctx;
use crate::dataplane::{ForwardAccept, ProxyIndex};
use crate::graph::Graph;
use crate::model::Route;
use crate::net;
use rhai::{Array, Dynamic, Engine, Map};
use std::sync::Arc;

/// A host's kube-proxy dataplane (IPVS table and kube-proxy's iptables chains), indexed.
#[derive(Clone)]
pub struct ProxyTableRef {
    pub g: Arc<Graph>,
    pub idx: Arc<ProxyIndex>,
}

/// Documentation of every function registered by [`register`].
pub const DOCS: &[Doc] = &[
    Doc { on: "Graph", name: "flannel_in_use", sig: "g.flannel_in_use() -> array of strings", doc: "Why flannel is in use (etcd config, kube-flannel-cfg, Node annotations, flannel pods); empty when it is not.", example: "if g.flannel_in_use().is_empty() { return; }" },
    Doc { on: "Graph", name: "flannel_lease_source", sig: "g.flannel_lease_source() -> #{known, source, reason}", doc: "Where flannel leases come from: source `etcd` or `kube-subnet-mgr` (Node annotations + spec.podCIDR); known false with the reason when they cannot be told.", example: "let ls = g.flannel_lease_source(); if !ls.known { g.skip(h.subject(), ls.reason); }" },
    Doc { on: "Graph", name: "flannel_vni", sig: "g.flannel_vni() -> int", doc: "The VXLAN VNI of the flannel config (default 1): the device is flannel.<VNI>.", example: "let dev = `flannel.${g.flannel_vni()}`;" },
    Doc { on: "Graph", name: "calico_in_use", sig: "g.calico_in_use() -> array of strings", doc: "Why Calico is in use (IPPools, BlockAffinities, calico-node pods); empty when it is not.", example: "if g.calico_in_use().is_empty() { return; }" },
    Doc { on: "Graph", name: "calico_blocks", sig: "g.calico_blocks() -> array of #{cidr, node, source}", doc: "Calico blocks and their owners, from confirmed BlockAffinities and from captured hosts' own `blackhole BLOCK proto bird|80` routes.", example: "for b in g.calico_blocks() { if b.node != h.name { ... } }" },
    Doc { on: "Graph", name: "pod_by_ip", sig: "g.pod_by_ip(ip) -> Pod | ()", doc: "The (non-hostNetwork) pod that has this IP.", example: "let p = g.pod_by_ip(\"10.244.1.2\");" },
    Doc { on: "Host", name: "proxy_table", sig: "h.proxy_table() -> ProxyTable", doc: "The host's kube-proxy dataplane: IPVS virtual servers mapped to Services (ClusterIP:port, NodePorts on any local address) and kube-proxy's iptables chains mapped by chain name and DNAT target (never by comment).", example: "let t = h.proxy_table(); t.service_entries(svc)" },
    Doc { on: "Host", name: "forward_chain", sig: "h.forward_chain() -> #{policy, accepts, not_counted} | (), accepts and not_counted: [#{rule, path, why}]", doc: "The filter FORWARD chain as NEW pod traffic sees it, following -j/-g into user chains: `accepts` are reachable ACCEPT rules for pod traffic (pod CIDR as -s/-d, pod interface as -i/-o, or unconditional), `not_counted` the reachable ACCEPTs that do not count (ESTABLISHED/RELATED only, a mark no MARK rule of the filter table sets or kube-proxy's 0x4000, docker0, other networks); `path` is the chain walk from FORWARD. An unconditional DROP/REJECT/RETURN ends a chain. () when iptables-save was not collected or has no filter table.", example: "let f = h.forward_chain(); if f != () && f.policy == \"DROP\" && f.accepts.is_empty() { ... }" },
    Doc { on: "Host", name: "iptables_policy", sig: "h.iptables_policy(table, chain) -> string | ()", doc: "The policy of a built-in chain (`ACCEPT`, `DROP`), `-` for a user chain, () when the chain or the file is absent.", example: "h.iptables_policy(\"filter\", \"FORWARD\")" },
    Doc { on: "Host", name: "neighbours", sig: "h.neighbours() -> array of #{dst, dev, lladdr, state}", doc: "`ip neigh` entries (state is an array such as [\"PERMANENT\"]); empty when not collected (check h.has(\"neighbours\")).", example: "h.neighbours().filter(|n| n.dev == \"flannel.1\")" },
    Doc { on: "Host", name: "fdb", sig: "h.fdb() -> array of #{mac, dev, dst, flags, state}", doc: "`bridge fdb` entries; dst is () for local entries; empty when not collected (check h.has(\"fdb\")).", example: "h.fdb().filter(|e| e.dst == \"192.168.56.12\")" },
    Doc { on: "Host", name: "subnet_env", sig: "h.subnet_env() -> #{network, subnet, mtu, ipmasq} | ()", doc: "flannel's /run/flannel/subnet.env: FLANNEL_NETWORK, FLANNEL_SUBNET as written (an address with its prefix, `10.244.1.1/24`), FLANNEL_MTU, FLANNEL_IPMASQ; () when not collected.", example: "let env = h.subnet_env(); if env != () && env.subnet != () { ... }" },
    Doc { on: "Host", name: "flannel_device", sig: "h.flannel_device() -> Link | ()", doc: "The host's flannel VXLAN device: flannel.<VNI>, else any flannel.<n> link.", example: "let dev = h.flannel_device();" },
    Doc { on: "Host", name: "runs_flannel", sig: "h.runs_flannel() -> string | ()", doc: "Why the host runs flannel (owns a lease, has a flannel.<VNI> device, or runs a flannel pod), () when it does not.", example: "if h.runs_flannel() == () { continue; }" },
    Doc { on: "Host", name: "flannel_route", sig: "h.flannel_route(lease) -> #{backend, expected, supported, ok, found}", doc: "The route flannel programs on this host for a peer lease and whether it is there: vxlan `SUBNET via SUBNET_BASE dev flannel.<VNI> onlink` (DirectRouting `via PUBLIC_IP` accepted), host-gw `SUBNET via PUBLIC_IP`. `found` lists the matching route, or the routes for exactly that subnet that do not match.", example: "let r = h.flannel_route(l); if !r.ok { ... }" },
    Doc { on: "Host", name: "runs_calico", sig: "h.runs_calico() -> string | ()", doc: "Why the host runs Calico (calico-node pod, block affinity, its own block blackhole route, a cali*/vxlan.calico device), () when it does not.", example: "if h.runs_calico() == () { continue; }" },
    Doc { on: "Host", name: "block_route", sig: "h.block_route(cidr) -> #{kind, route}", doc: "The main-table route that covers a whole block (most specific): kind `route`, `default` (only the default route covers it), `blackhole` / `unreachable` / `prohibit`, or `none`.", example: "let r = h.block_route(\"10.10.0.192/26\");" },
    Doc { on: "Host", name: "overlay_device", sig: "h.overlay_device() -> Link | ()", doc: "The overlay device: flannel.<n>, vxlan.calico, cilium_vxlan, or tunl0 when it has an IPv4 address (Calico IPIP).", example: "let o = h.overlay_device();" },
    Doc { on: "Host", name: "route_egress", sig: "h.route_egress(route) -> string | ()", doc: "The host interface a route's packets finally leave by: the interface whose subnet holds the gateway (onlink IPIP routes), the underlay of a VXLAN device (its local address), else the route's non-CNI device.", example: "h.routes().filter(|r| h.route_egress(r) == \"eth1\")" },
    Doc { on: "Host", name: "addr_dev", sig: "h.addr_dev(ip) -> string | ()", doc: "The interface that holds this address on the host.", example: "h.addr_dev(node.internal_ip)" },
    Doc { on: "ProxyTable", name: "mode", sig: "t.mode -> string", doc: "The host's proxy mode: `ipvs`, `iptables`, or \"\" when its dataplane shows neither.", example: "if t.mode == \"\" { ... }" },
    Doc { on: "ProxyTable", name: "has_ipvs", sig: "t.has_ipvs -> bool", doc: "ipvs.txt was collected and parsed for the host.", example: "t.has_ipvs" },
    Doc { on: "ProxyTable", name: "has_iptables", sig: "t.has_iptables -> bool", doc: "iptables-save was collected and parsed for the host.", example: "t.has_iptables" },
    Doc { on: "ProxyTable", name: "kube_ipvs0", sig: "t.kube_ipvs0 -> bool", doc: "The host has a kube-ipvs0 link.", example: "t.kube_ipvs0" },
    Doc { on: "ProxyTable", name: "has_service_entries", sig: "t.has_service_entries -> bool", doc: "The dataplane holds any service entry at all: a virtual server or kube-ipvs0, or a KUBE-SVC-*/KUBE-SVL-* chain.", example: "if !t.has_service_entries { ... }" },
    Doc { on: "ProxyTable", name: "service_entries", sig: "t.service_entries(svc [, mode]) -> array of #{want, ip, protocol, port, port_name, found, via, chain, notes}", doc: "Each IPv4 ClusterIP:port of the Service whose port has ready endpoints, checked in the host's mode (or `mode`): IPVS virtual server PROTO VIP:PORT; iptables a KUBE-SERVICES rule jumping to its KUBE-SVC-* chain (named as kube-proxy hashes it, or matched by -d VIP --dport PORT). notes name an orphan KUBE-SVC chain or a REJECT rule.", example: "t.service_entries(svc).filter(|e| !e.found)" },
    Doc { on: "ProxyTable", name: "virtual_servers", sig: "t.virtual_servers() -> array of #{text, protocol, addr, port, kind, service, port_name, real_servers: [#{addr, port, weight, forward, text}]}", doc: "IPVS virtual servers with the Service each implements (kind `cluster_ip`, `node_port`, or \"\" with service ()); real_servers are the real servers with their weight (0: draining).", example: "t.virtual_servers().filter(|v| v.service != ())" },
    Doc { on: "ProxyTable", name: "svc_chains", sig: "t.svc_chains() -> array of #{chain, endpoints, jumped_from}", doc: "kube-proxy's KUBE-SVC-*/KUBE-SVL-* chains with the DNAT targets (`ip:port`) of their KUBE-SEP-* chains and the KUBE-SERVICES rules that jump to them.", example: "t.svc_chains().filter(|c| c.jumped_from.is_empty())" },
    Doc { on: "Service", name: "ready_endpoints", sig: "s.ready_endpoints -> array of strings", doc: "Ready endpoint addresses (EndpointSlices, else Endpoints); empty when none or not collected.", example: "s.ready_endpoints.len()" },
    Doc { on: "Service", name: "selected_pods", sig: "s.selected_pods() -> array of Pod", doc: "Pods in the Service's namespace whose labels match its selector (empty without a selector).", example: "s.selected_pods().filter(|p| !p.ready)" },
    Doc { on: "Lease", name: "backend", sig: "l.backend -> string", doc: "The lease's backend: its own BackendType, else the flannel config's (\"\" when neither is known).", example: "if l.backend == \"vxlan\" { ... }" },
];

fn accept_list(v: &[ForwardAccept]) -> Array {
    v.iter()
        .map(|a| Dynamic::from_map(map_of([("rule", a.rule.clone().into()), ("path", strings(&a.path).into()), ("why", a.why.clone().into())])))
        .collect()
}

fn service_ref(g: &Arc<Graph>, i: Option<usize>) -> Dynamic {
    opt(i.map(|i| ServiceRef { g: g.clone(), i }))
}

fn entries(t: &ProxyTableRef, s: &ServiceRef, mode: &str) -> Array {
    let es = t.g.service_entries(&t.idx, s.i, mode);
    super::api::trace(
        || format!("Node/{}", t.idx.host),
        || {
            let svc = &t.g.facts.services[s.i];
            let missing: Vec<&str> = es.iter().filter(|e| !e.found).map(|e| e.want.as_str()).collect();
            format!("service_entries({}/{}, {mode}) → {} entries, missing [{}]", svc.namespace, svc.name, es.len(), missing.join(", "))
        },
    );
    es.into_iter()
        .map(|e| {
            Dynamic::from_map(map_of([
                ("want", e.want.into()),
                ("ip", e.ip.to_string().into()),
                ("protocol", e.protocol.into()),
                ("port", e.port.into()),
                ("port_name", opt(e.port_name)),
                ("found", e.found.into()),
                ("via", opt(e.via)),
                ("chain", opt(e.chain)),
                ("notes", strings(e.notes).into()),
            ]))
        })
        .collect()
}

/// Registers this module's functions.
pub fn register(engine: &mut Engine) {
    engine
        .register_fn("flannel_in_use", |c: &mut Ctx| strings(c.g.flannel_in_use()))
        .register_fn("flannel_lease_source", |c: &mut Ctx| -> Map {
            match c.g.flannel_lease_source() {
                Ok(s) => map_of([("known", true.into()), ("source", s.into()), ("reason", "".into())]),
                Err(r) => map_of([("known", false.into()), ("source", Dynamic::UNIT), ("reason", r.into())]),
            }
        })
        .register_fn("flannel_vni", |c: &mut Ctx| c.g.flannel_vni())
        .register_fn("calico_in_use", |c: &mut Ctx| strings(c.g.calico_in_use()))
        .register_fn("calico_blocks", |c: &mut Ctx| -> Array {
            c.g.calico_blocks()
                .into_iter()
                .map(|(cidr, node, src)| Dynamic::from_map(map_of([("cidr", cidr.to_string().into()), ("node", node.into()), ("source", src.into())])))
                .collect()
        })
        .register_fn("pod_by_ip", |c: &mut Ctx, ip: &str| -> Dynamic {
            opt(net::parse_ip(ip).and_then(|ip| c.g.pod_by_ip(ip)).map(|i| PodRef { g: c.g.clone(), i }))
        });

    engine
        .register_fn("proxy_table", |h: &mut HostRef| {
            let idx = h.g.proxy_index(h.name());
            super::api::trace(
                || format!("Node/{}", h.name()),
                || {
                    format!(
                        "proxy_table() → mode {:?}, {} IPVS virtual servers, {} KUBE-SVC chains",
                        idx.mode,
                        idx.ipvs.as_ref().map_or(0, Vec::len),
                        idx.iptables.as_ref().map_or(0, |t| t.chains.len())
                    )
                },
            );
            ProxyTableRef { g: h.g.clone(), idx: Arc::new(idx) }
        })
        .register_fn("forward_chain", |h: &mut HostRef| -> Dynamic {
            let f = h.g.forward_analysis(h.name());
            super::api::trace(
                || format!("Node/{}", h.name()),
                || match &f {
                    Some(f) => format!("forward_chain() → policy {}, {} pod ACCEPTs, {} other ACCEPTs", f.policy, f.accepts.len(), f.not_counted.len()),
                    None => "forward_chain() → none".to_string(),
                },
            );
            match f {
                Some(f) => Dynamic::from_map(map_of([
                    ("policy", f.policy.into()),
                    ("accepts", accept_list(&f.accepts).into()),
                    ("not_counted", accept_list(&f.not_counted).into()),
                ])),
                None => Dynamic::UNIT,
            }
        })
        .register_fn("iptables_policy", |h: &mut HostRef, table: &str, chain: &str| -> Dynamic {
            traced(h, || format!("iptables_policy({table:?}, {chain:?})"), opt(h.host().and_then(|x| x.iptables.get()).and_then(|t| t.chains.get(table)).and_then(|c| c.get(chain)).cloned()))
        })
        .register_fn("neighbours", |h: &mut HostRef| -> Array {
            h.host()
                .and_then(|x| x.neighbours.get())
                .into_iter()
                .flatten()
                .map(|n| {
                    Dynamic::from_map(map_of([
                        ("dst", n.dst.to_string().into()),
                        ("dev", n.dev.clone().into()),
                        ("lladdr", opt(n.lladdr.clone())),
                        ("state", strings(&n.state).into()),
                    ]))
                })
                .collect()
        })
        .register_fn("fdb", |h: &mut HostRef| -> Array {
            h.host()
                .and_then(|x| x.fdb.get())
                .into_iter()
                .flatten()
                .map(|e| {
                    Dynamic::from_map(map_of([
                        ("mac", e.mac.clone().into()),
                        ("dev", e.dev.clone().into()),
                        ("dst", opt(e.dst.map(|d| d.to_string()))),
                        ("flags", strings(&e.flags).into()),
                        ("state", opt(e.state.clone())),
                    ]))
                })
                .collect()
        })
        .register_fn("subnet_env", |h: &mut HostRef| -> Dynamic {
            match h.host().and_then(|x| x.subnet_env.get()) {
                Some(e) => Dynamic::from_map(map_of([
                    ("network", opt(e.network.map(|n| n.to_string()))),
                    ("subnet", opt(e.subnet.clone())),
                    ("mtu", opt(e.mtu)),
                    ("ipmasq", opt(e.ipmasq)),
                ])),
                None => Dynamic::UNIT,
            }
        })
        .register_fn("flannel_device", |h: &mut HostRef| traced(h, || "flannel_device()".to_string(), opt(h.g.flannel_device(h.name()).cloned())))
        .register_fn("runs_flannel", |h: &mut HostRef| traced(h, || "runs_flannel()".to_string(), opt(h.g.runs_flannel(h.name()))))
        .register_fn("flannel_route", |h: &mut HostRef, l: LeaseRef| -> Map {
            let r = h.g.flannel_route(h.name(), l.i);
            super::api::trace(
                || format!("Node/{}", h.name()),
                || format!("flannel_route({}) → {} ({})", h.g.leases[l.i].subnet, if r.ok { "present" } else { "missing" }, r.expected),
            );
            map_of([
                ("backend", r.backend.into()),
                ("expected", r.expected.into()),
                ("supported", r.supported.into()),
                ("ok", r.ok.into()),
                ("found", r.found.into_iter().map(Dynamic::from).collect::<Array>().into()),
            ])
        })
        .register_fn("runs_calico", |h: &mut HostRef| traced(h, || "runs_calico()".to_string(), opt(h.g.runs_calico(h.name()))))
        .register_fn("block_route", |h: &mut HostRef, cidr: &str| -> Result<Map, Box<rhai::EvalAltResult>> {
            let block = net::parse_net(cidr).ok_or_else(|| format!("not a CIDR: {cidr:?}"))?;
            let r = h.g.block_route(h.name(), block);
            let kind = match &r {
                None => "none".to_string(),
                Some(r) if r.kind != "unicast" => r.kind.clone(),
                Some(r) if r.is_default => "default".to_string(),
                Some(_) => "route".to_string(),
            };
            Ok(traced(h, || format!("block_route({cidr})"), map_of([("kind", kind.into()), ("route", opt(r))])))
        })
        .register_fn("overlay_device", |h: &mut HostRef| traced(h, || "overlay_device()".to_string(), opt(h.g.overlay_device(h.name()).cloned())))
        .register_fn("route_egress", |h: &mut HostRef, r: Route| traced(h, || format!("route_egress({})", r.text()), opt(h.g.route_egress(h.name(), &r))))
        .register_fn("addr_dev", |h: &mut HostRef, ip: &str| traced(h, || format!("addr_dev({ip})"), opt(net::parse_ip(ip).and_then(|ip| h.g.addr_dev(h.name(), ip)))));

    engine
        .register_type_with_name::<ProxyTableRef>("ProxyTable")
        .register_get("mode", |t: &mut ProxyTableRef| t.idx.mode.to_string())
        .register_get("has_ipvs", |t: &mut ProxyTableRef| t.idx.ipvs.is_some())
        .register_get("has_iptables", |t: &mut ProxyTableRef| t.idx.iptables.is_some())
        .register_get("kube_ipvs0", |t: &mut ProxyTableRef| t.idx.has_kube_ipvs0)
        .register_get("has_service_entries", |t: &mut ProxyTableRef| t.idx.has_any_service_entry())
        .register_fn("service_entries", |t: &mut ProxyTableRef, s: ServiceRef| {
            let mode = t.idx.mode;
            entries(t, &s, mode)
        })
        .register_fn("service_entries", |t: &mut ProxyTableRef, s: ServiceRef, mode: &str| entries(t, &s, mode))
        .register_fn("virtual_servers", |t: &mut ProxyTableRef| -> Array {
            t.idx
                .ipvs
                .iter()
                .flatten()
                .map(|e| {
                    let rs: Array = e
                        .vs
                        .real_servers
                        .iter()
                        .map(|r| {
                            Dynamic::from_map(map_of([
                                ("addr", r.addr.to_string().into()),
                                ("port", r.port.into()),
                                ("weight", r.weight.into()),
                                ("forward", r.forward.clone().into()),
                                ("text", format!("{}:{} {} w{}", r.addr, r.port, r.forward, r.weight).into()),
                            ]))
                        })
                        .collect();
                    Dynamic::from_map(map_of([
                        ("text", e.vs.text().into()),
                        ("protocol", e.vs.protocol.clone().into()),
                        ("addr", opt(e.vs.addr.map(|a| a.to_string()))),
                        ("port", e.vs.port.into()),
                        ("kind", e.kind.into()),
                        ("service", service_ref(&t.g, e.service)),
                        ("port_name", opt(e.port_name.clone())),
                        ("real_servers", rs.into()),
                    ]))
                })
                .collect()
        })
        .register_fn("svc_chains", |t: &mut ProxyTableRef| -> Array {
            t.idx
                .iptables
                .iter()
                .flat_map(|k| k.chains.iter())
                .map(|(name, c)| {
                    Dynamic::from_map(map_of([
                        ("chain", name.clone().into()),
                        ("endpoints", strings(&c.endpoints).into()),
                        ("jumped_from", strings(&c.jumped_from).into()),
                    ]))
                })
                .collect()
        })
        .register_fn("to_string", |t: &mut ProxyTableRef| format!("ProxyTable({}, {})", t.idx.host, t.idx.mode))
        .register_fn("to_debug", |t: &mut ProxyTableRef| format!("ProxyTable({}, {})", t.idx.host, t.idx.mode));

    engine
        .register_get("ready_endpoints", |s: &mut ServiceRef| strings(s.g.ready_endpoints(s.i)))
        .register_fn("selected_pods", |s: &mut ServiceRef| -> Array {
            s.g.selected_pods(s.i).into_iter().map(|i| Dynamic::from(PodRef { g: s.g.clone(), i })).collect()
        })
        .register_get("backend", |l: &mut LeaseRef| l.g.lease_backend(l.i));
}
