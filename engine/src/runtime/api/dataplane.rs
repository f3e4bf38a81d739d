//! The rule API of the data plane: kube-proxy's IPVS and iptables state mapped
//! to Services (`h.proxy_table()`), flannel (leases, devices, routes, VTEP
//! MACs), Calico (blocks, block routes), the filter FORWARD chain, overlay
//! devices and egress interfaces. The questions asked for every Service or
//! every lease at once (`t.missing_entries()`, `t.stale_backends()`,
//! `h.missing_flannel_routes()`, `h.missing_block_routes()`) are answered
//! natively in one pass, so rules stay linear at 5,000 nodes.

use super::*;
use crate::dataplane::{FlannelRoute, ServiceEntry, VsRole};
use crate::model::*;
use crate::runtime::output::Ctx;

/// A host's kube-proxy dataplane (`h.proxy_table()`).
#[derive(Clone)]
pub struct ProxyTableRef {
    pub g: Arc<Graph>,
    pub t: usize,
}

impl Traced for ProxyTableRef {
    fn label(&self) -> String {
        format!("Node/{}", self.g.host_name(self.t))
    }
}

/// The host's IPVS virtual servers.
pub struct VirtualServers;
impl Part for VirtualServers {
    type T = VirtualServer;
    fn items(g: &Graph, of: usize) -> &[VirtualServer] {
        g.host_facts(of).and_then(|h| h.ipvs.get()).map_or(&[], |v| v.as_slice())
    }
    fn owner(g: &Graph, of: usize) -> String {
        format!("Node/{}", g.host_name(of))
    }
}

/// kube-proxy's KUBE-SVC chains of a host.
pub struct ServiceChains;
impl Part for ServiceChains {
    type T = crate::dataplane::SvcChain;
    fn items(g: &Graph, of: usize) -> &[crate::dataplane::SvcChain] {
        g.proxy_index(of).iptables.as_ref().map_or(&[], |k| k.chains.as_slice())
    }
    fn owner(g: &Graph, of: usize) -> String {
        format!("Node/{}", g.host_name(of))
    }
}

/// One real server of a virtual server: `of` is the host, `i` encodes (virtual server, real server).
#[derive(Clone)]
pub struct RealServerRef {
    pub g: Arc<Graph>,
    pub t: usize,
    pub vs: usize,
    pub i: usize,
}

impl RealServerRef {
    fn get(&self) -> &RealServer {
        &VirtualServers::items(&self.g, self.t)[self.vs].real_servers[self.i]
    }
}

impl std::fmt::Display for RealServerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rs = self.get();
        write!(f, "{}:{} {} w{}", rs.addr, rs.port, rs.forward, rs.weight)
    }
}

impl Traced for RealServerRef {
    fn label(&self) -> String {
        format!("Node/{}", self.g.host_name(self.t))
    }
}

fn entry_map(e: ServiceEntry) -> Dynamic {
    Dynamic::from_map(map_of([
        ("want", e.want.into()),
        ("ip", e.ip.to_string().into()),
        ("protocol", e.protocol.to_string().into()),
        ("port", i64::from(e.port).into()),
        ("port_name", opt(e.port_name)),
        ("found", e.found.into()),
        ("via", opt(e.via)),
        ("chain", opt(e.chain)),
        ("notes", strings(e.notes).into()),
    ]))
}

fn mode_arg(t: &ProxyTableRef, mode: &str) -> R<&'static str> {
    match mode {
        "ipvs" => Ok("ipvs"),
        "iptables" => Ok("iptables"),
        "" => Ok(t.g.proxy_index(t.t).mode),
        other => Err(format!("proxy mode must be \"ipvs\" or \"iptables\", got {other:?}").into()),
    }
}

fn flannel_route_map(g: &Arc<Graph>, r: FlannelRoute) -> Map {
    let routes: Array = r.found.iter().map(|r| Dynamic::from(r.text())).collect();
    map_of([
        ("lease", Dynamic::from(LeaseRef { g: g.clone(), i: r.lease })),
        ("backend", r.backend.into()),
        ("expected", r.expected.into()),
        ("supported", r.supported.into()),
        ("ok", r.ok.into()),
        ("found", routes.into()),
    ])
}

/// Registers the data-plane API.
pub fn register(r: &mut Reg) {
    r.engine
        .register_fn("flannel_in_use", |c: &mut Ctx| traced(|| "Cluster/cluster".into(), || "flannel_in_use()".into(), strings(c.g.flannel_in_use())))
        .register_fn("flannel_lease_source", |c: &mut Ctx| -> Map {
            let m = match c.g.flannel_lease_source() {
                Ok(s) => map_of([("known", true.into()), ("source", s.into()), ("reason", "".into())]),
                Err(r) => map_of([("known", false.into()), ("source", Dynamic::UNIT), ("reason", r.into())]),
            };
            traced(|| "Cluster/cluster".into(), || "flannel_lease_source()".into(), m)
        })
        .register_fn("calico_in_use", |c: &mut Ctx| traced(|| "Cluster/cluster".into(), || "calico_in_use()".into(), strings(c.g.calico_in_use())))
        .register_fn("calico_blocks", |c: &mut Ctx| -> Array {
            let out: Array = c.g.calico_blocks().into_iter().map(|(cidr, node, src)| Dynamic::from_map(map_of([("cidr", cidr.to_string().into()), ("node", node.into()), ("source", src.into())]))).collect();
            traced(|| "Cluster/cluster".into(), || "calico_blocks()".into(), out)
        });
    r.doc("Graph", "flannel_in_use", "g.flannel_in_use() -> [string]", "Why flannel is in use (etcd config, kube-flannel-cfg, Node annotations, flannel pods); empty when it is not.", "if g.flannel_in_use().is_empty() { return; }")
        .doc("Graph", "flannel_lease_source", "g.flannel_lease_source() -> #{known, source, reason}", "Where flannel leases come from: `etcd` or `kube-subnet-mgr` (Node annotations + spec.podCIDR); known false with the reason when they cannot be told.", "let ls = g.flannel_lease_source(); if !ls.known { g.skip(h.subject(), ls.reason); }")
        .doc("Graph", "calico_in_use", "g.calico_in_use() -> [string]", "Why Calico is in use (IPPools, BlockAffinities, calico-node pods); empty when it is not.", "if g.calico_in_use().is_empty() { return; }")
        .doc("Graph", "calico_blocks", "g.calico_blocks() -> [#{cidr, node, source}]", "Calico blocks and their owners, from confirmed BlockAffinities and from hosts' own `blackhole BLOCK proto bird|80` routes.", "g.calico_blocks().filter(|b| b.node == h.name)");

    r.engine
        .register_fn("proxy_table", |h: &mut HostRef| {
            let idx = h.g.proxy_index(h.t);
            trace(
                || h.label(),
                || format!("proxy_table() → mode {:?}, {} IPVS virtual servers, {} KUBE-SVC chains", idx.mode, idx.ipvs.as_ref().map_or(0, Vec::len), idx.iptables.as_ref().map_or(0, |t| t.chains.len())),
            );
            ProxyTableRef { g: h.g.clone(), t: h.t }
        })
        .register_fn("proxy_mode", |h: &mut HostRef| traced(|| h.label(), || "proxy_mode()".into(), h.g.host_proxy_mode(h.t).to_string()))
        .register_fn("forward_chain", |h: &mut HostRef| -> Dynamic {
            let accepts = |v: &[crate::dataplane::ForwardAccept]| -> Array {
                v.iter().map(|a| Dynamic::from_map(map_of([("rule", a.rule.clone().into()), ("path", strings(&a.path).into()), ("why", a.why.clone().into())]))).collect()
            };
            let d = match h.g.forward_analysis(h.t) {
                Some(f) => Dynamic::from_map(map_of([("policy", f.policy.clone().into()), ("accepts", accepts(&f.accepts).into()), ("not_counted", accepts(&f.not_counted).into())])),
                None => Dynamic::UNIT,
            };
            traced(|| h.label(), || "forward_chain()".into(), d)
        })
        .register_fn("iptables_policy", |h: &mut HostRef, table: &str, chain: &str| {
            let p = h.facts().and_then(|x| x.iptables.get()).and_then(|t| t.chain(table, chain)).map(|c| c.policy.clone().unwrap_or_else(|| "-".into()));
            traced(|| h.label(), || format!("iptables_policy({table:?}, {chain:?})"), opt_str(p))
        })
        .register_fn("flannel_device", |h: &mut HostRef| {
            let i = h.g.flannel_device(h.t).and_then(|d| super::host::Links::items(&h.g, h.t).iter().position(|l| std::ptr::eq(l, d)));
            traced(|| h.label(), || "flannel_device()".into(), opt(i.map(|i| Item::<super::host::Links>::at(&h.g, h.t, i))))
        })
        .register_fn("runs_flannel", |h: &mut HostRef| traced(|| h.label(), || "runs_flannel()".into(), opt_str(h.g.runs_flannel(h.t))))
        .register_fn("flannel_route", |h: &mut HostRef, l: LeaseRef| {
            let m = flannel_route_map(&h.g, h.g.flannel_route(h.t, l.i));
            traced(|| h.label(), || format!("flannel_route({})", l.l().subnet), m)
        })
        .register_fn("missing_flannel_routes", |h: &mut HostRef| -> Map {
            charge(h.g.leases().len() + super::host::Routes::items(&h.g, h.t).len());
            let (missing, unsupported) = h.g.missing_flannel_routes(h.t);
            let m = map_of([
                ("missing", missing.into_iter().map(|r| Dynamic::from_map(flannel_route_map(&h.g, r))).collect::<Array>().into()),
                ("unsupported", strings(unsupported).into()),
            ]);
            traced(|| h.label(), || "missing_flannel_routes()".into(), m)
        })
        .register_fn("runs_calico", |h: &mut HostRef| traced(|| h.label(), || "runs_calico()".into(), opt_str(h.g.runs_calico(h.t))))
        .register_fn("block_route", |h: &mut HostRef, cidr: &str| -> R<Map> {
            let block = parse_net_arg(cidr)?;
            Ok(traced(|| h.label(), || format!("block_route({cidr})"), block_route_map(&h.g, h.t, block)))
        })
        .register_fn("missing_block_routes", |h: &mut HostRef| -> Array {
            let name = h.name().to_string();
            let mut out = Array::new();
            let blocks = h.g.calico_blocks();
            charge(blocks.len() * 4);
            for (block, node, src) in blocks {
                if node == name {
                    continue;
                }
                let m = block_route_map(&h.g, h.t, block);
                if m.get("type").is_some_and(|k| k.clone().into_string().is_ok_and(|k| k == "route")) {
                    continue;
                }
                let mut m = m;
                m.insert("block".into(), block.to_string().into());
                m.insert("node".into(), node.into());
                m.insert("source".into(), src.into());
                out.push(Dynamic::from_map(m));
            }
            traced(|| h.label(), || "missing_block_routes()".into(), out)
        })
        .register_fn("overlay_device", |h: &mut HostRef| {
            let i = h.g.overlay_device(h.t).and_then(|d| super::host::Links::items(&h.g, h.t).iter().position(|l| std::ptr::eq(l, d)));
            traced(|| h.label(), || "overlay_device()".into(), opt(i.map(|i| Item::<super::host::Links>::at(&h.g, h.t, i))))
        })
        .register_fn("route_egress", |h: &mut HostRef, r: Item<super::host::Routes>| traced(|| h.label(), || format!("route_egress({})", r.get().text()), opt(h.g.route_egress(h.t, r.get()))))
        .register_fn("addr_dev", |h: &mut HostRef, ip: &str| -> R<Dynamic> {
            let ip = parse_ip_arg(ip)?;
            Ok(traced(|| h.label(), || format!("addr_dev({ip})"), opt_str(h.g.addr_dev(h.t, ip))))
        })
        .register_fn("dataplane_state", |h: &mut HostRef| {
            let m = dataplane_state(&h.g, h.t);
            traced(|| h.label(), || "dataplane_state()".into(), m)
        });
    r.doc("Host", "proxy_table", "h.proxy_table() -> ProxyTable", "The host's kube-proxy dataplane: IPVS virtual servers mapped to Services (ClusterIP:port, NodePorts on any local address) and kube-proxy's iptables chains mapped by chain name and DNAT target (never by comment). Indexed once per evaluation.", "let t = h.proxy_table(); t.missing_entries()")
        .doc("Host", "proxy_mode", "h.proxy_mode() -> string", "This host's service proxy mode: `ipvs`, `iptables` or \"\".", "if h.proxy_mode() == \"ipvs\" { ... }")
        .doc("Host", "forward_chain", "h.forward_chain() -> #{policy, accepts, not_counted} | (), accepts and not_counted: [#{rule, path, why}]", "The filter FORWARD chain as NEW pod traffic sees it, following -j/-g into user chains: `accepts` are reachable ACCEPT rules for pod traffic, `not_counted` the reachable ACCEPTs that do not count (ESTABLISHED/RELATED only, kube-proxy's mark, docker0, other networks); () when iptables-save was not collected or has no filter table.", "let f = h.forward_chain(); if f != () && f.policy == \"DROP\" && f.accepts.is_empty() { ... }")
        .doc("Host", "iptables_policy", "h.iptables_policy(table, chain) -> string | ()", "The policy of a built-in chain (`ACCEPT`, `DROP`), `-` for a user chain, () when the chain or the file is absent.", "h.iptables_policy(\"filter\", \"FORWARD\")")
        .doc("Host", "flannel_device", "h.flannel_device() -> Link | ()", "The host's flannel VXLAN device: flannel.<VNI>, else any flannel.<n> link.", "let dev = h.flannel_device();")
        .doc("Host", "runs_flannel", "h.runs_flannel() -> string | ()", "Why the host runs flannel (owns a lease, has a flannel.<VNI> device, or runs a flannel pod), () when it does not.", "if h.runs_flannel() == () { continue; }")
        .doc("Host", "flannel_route", "h.flannel_route(lease) -> #{lease, backend, expected, supported, ok, found}", "The route flannel programs on this host for a peer lease and whether it is there: vxlan `SUBNET via SUBNET_BASE dev flannel.<VNI> onlink` (DirectRouting `via PUBLIC_IP` accepted), host-gw `SUBNET via PUBLIC_IP`. `found` lists (as `ip route` text) the matching route, or the routes for exactly that subnet that do not match.", "let r = h.flannel_route(l); if !r.ok { ... }")
        .doc("Host", "missing_flannel_routes", "h.missing_flannel_routes() -> #{missing: [flannel_route answers], unsupported: [string]}", "flannel_route for every IPv4 lease owned by another host, in one pass: the leases whose route is missing, and the backends not checked (not vxlan or host-gw).", "for r in h.missing_flannel_routes().missing { ... r.lease ... }")
        .doc("Host", "runs_calico", "h.runs_calico() -> string | ()", "Why the host runs Calico (calico-node pod, block affinity, its own block blackhole route, a cali*/vxlan.calico device), () when it does not.", "if h.runs_calico() == () { continue; }")
        .doc("Host", "block_route", "h.block_route(cidr) -> #{type, route}", "The main-table route that covers a whole block (most specific): type `route`, `default` (only the default route covers it), `blackhole` / `unreachable` / `prohibit`, or `none`; `route` is its text.", "let r = h.block_route(\"10.10.0.192/26\");")
        .doc("Host", "missing_block_routes", "h.missing_block_routes() -> [#{block, node, source, type, route}]", "block_route for every other node's Calico block (g.calico_blocks()), in one pass: the blocks this host has no proper route for.", "for b in h.missing_block_routes() { ... }")
        .doc("Host", "overlay_device", "h.overlay_device() -> Link | ()", "The overlay device: flannel.<n>, vxlan.calico, cilium_vxlan, or tunl0 when it has an IPv4 address (Calico IPIP).", "let o = h.overlay_device();")
        .doc("Host", "route_egress", "h.route_egress(route) -> string | ()", "The host interface a route's packets finally leave by: the interface whose subnet holds the gateway (onlink IPIP routes), the underlay of a VXLAN device (its local address), else the route's non-CNI device.", "h.routes.filter(|r| h.route_egress(r) == \"eth1\")")
        .doc("Host", "addr_dev", "h.addr_dev(ip) -> string | ()", "The interface that holds this address on the host.", "h.addr_dev(node.internal_ip)")
        .doc("Host", "dataplane_state", "h.dataplane_state() -> #{collected, routes, pod_routes, ipvs_virtual_servers, kube_svc_chains, proxy_mode}", "What of the data plane the host's kernel still holds: main-table unicast routes other than link-local, those into a pod network, IPVS virtual servers and KUBE-SVC chains (() when not collected). Tells whether pods keep serving while the control plane is away (seed 000).", "let d = h.dataplane_state(); d.pod_routes > 0");

    r.engine.register_type_with_name::<ProxyTableRef>("ProxyTable");
    r.get("ProxyTable", "mode", "t.mode -> string", "The host's proxy mode: `ipvs`, `iptables`, or \"\" when its dataplane shows neither.", |t: &ProxyTableRef| t.g.proxy_index(t.t).mode.to_string())
        .get("ProxyTable", "has_ipvs", "t.has_ipvs -> bool", "The IPVS table was collected and read.", |t: &ProxyTableRef| t.g.proxy_index(t.t).ipvs.is_some())
        .get("ProxyTable", "has_iptables", "t.has_iptables -> bool", "iptables-save was collected and read.", |t: &ProxyTableRef| t.g.proxy_index(t.t).iptables.is_some())
        .get("ProxyTable", "kube_ipvs0", "t.kube_ipvs0 -> bool", "The host has a kube-ipvs0 link.", |t: &ProxyTableRef| t.g.proxy_index(t.t).has_kube_ipvs0)
        .get("ProxyTable", "has_service_entries", "t.has_service_entries -> bool", "The dataplane holds any service entry at all: a virtual server or kube-ipvs0, or a KUBE-SVC-*/KUBE-SVL-* chain.", |t: &ProxyTableRef| t.g.proxy_index(t.t).has_any_service_entry())
        .get("ProxyTable", "virtual_servers", "t.virtual_servers -> [VirtualServer]", "IPVS virtual servers with the Service each implements.", |t: &ProxyTableRef| Item::<VirtualServers>::all(&t.g, t.t))
        .get("ProxyTable", "service_chains", "t.service_chains -> [ServiceChain]", "kube-proxy's KUBE-SVC-*/KUBE-SVL-* chains with their DNAT targets and the KUBE-SERVICES rules jumping to them.", |t: &ProxyTableRef| Item::<ServiceChains>::all(&t.g, t.t));
    r.engine
        .register_fn("entries", |t: &mut ProxyTableRef, s: ServiceRef| -> R<Array> {
            let mode = mode_arg(t, "")?;
            let es: Array = t.g.service_entries(t.t, s.i, mode).into_iter().map(entry_map).collect();
            Ok(traced(|| t.label(), || format!("entries({s}, {mode})", s = s.label()), es))
        })
        .register_fn("entries", |t: &mut ProxyTableRef, s: ServiceRef, mode: &str| -> R<Array> {
            let mode = mode_arg(t, mode)?;
            let es: Array = t.g.service_entries(t.t, s.i, mode).into_iter().map(entry_map).collect();
            Ok(traced(|| t.label(), || format!("entries({s}, {mode})", s = s.label()), es))
        })
        .register_fn("missing_entries", |t: &mut ProxyTableRef| -> R<Array> {
            let mode = mode_arg(t, "")?;
            charge(t.g.services().len());
            let out: Array = t
                .g
                .missing_service_entries(t.t, mode)
                .into_iter()
                .map(|(s, es)| Dynamic::from_map(map_of([("service", Dynamic::from(ServiceRef { g: t.g.clone(), i: s })), ("entries", es.into_iter().map(entry_map).collect::<Array>().into())])))
                .collect();
            Ok(traced(|| t.label(), || format!("missing_entries({mode})"), out))
        })
        .register_fn("stale_backends", |t: &mut ProxyTableRef| -> Array {
            charge(VirtualServers::items(&t.g, t.t).len());
            let out: Array = t
                .g
                .stale_backends(t.t)
                .into_iter()
                .map(|b| {
                    Dynamic::from_map(map_of([
                        ("virtual_server", Dynamic::from(Item::<VirtualServers>::at(&t.g, t.t, b.vs))),
                        ("type", b.role.as_str().into()),
                        ("service", Dynamic::from(ServiceRef { g: t.g.clone(), i: b.service })),
                        ("real_servers", strings(&b.real_servers).into()),
                        ("not_a_ready_endpoint", strings(&b.not_ready_endpoint).into()),
                        ("ready_endpoint_missing", strings(&b.missing).into()),
                    ]))
                })
                .collect();
            traced(|| t.label(), || "stale_backends()".into(), out)
        })
        .register_fn("to_string", |t: &mut ProxyTableRef| format!("ProxyTable({}, {})", t.g.host_name(t.t), t.g.proxy_index(t.t).mode));
    r.doc("ProxyTable", "entries", "t.entries(svc [, mode]) -> [#{want, ip, protocol, port, port_name, found, via, chain, notes}]", "Each IPv4 ClusterIP:port of the Service whose port has ready endpoints, checked in the host's mode (or `mode`): IPVS virtual server PROTO VIP:PORT; iptables a KUBE-SERVICES rule jumping to its KUBE-SVC-* chain (named as kube-proxy hashes it, or matched by -d VIP --dport PORT). notes name an orphan KUBE-SVC chain or a REJECT rule.", "t.entries(svc).filter(|e| !e.found)")
        .doc("ProxyTable", "missing_entries", "t.missing_entries() -> [#{service, entries}]", "`entries` for every ClusterIP Service with ready endpoints, in one pass, keeping the Services with at least one entry not found.", "for m in t.missing_entries() { ... m.service ... }")
        .doc("ProxyTable", "stale_backends", "t.stale_backends() -> [#{virtual_server, type, service, real_servers, not_a_ready_endpoint, ready_endpoint_missing}]", "IPVS virtual servers whose active real servers (weight > 0) differ from their Service's ready endpoints; a NodePort whose real servers are exactly this node's ready endpoints (externalTrafficPolicy: Local) is not stale.", "for b in t.stale_backends() { ... }");

    r.engine.register_type_with_name::<Item<VirtualServers>>("VirtualServer");
    r.get("VirtualServer", "text", "v.text -> string", "`TCP 10.96.0.1:443` as ipvsadm shows it.", |v: &Item<VirtualServers>| v.get().text())
        .get("VirtualServer", "protocol", "v.protocol -> string", "TCP, UDP, SCTP or FWM.", |v: &Item<VirtualServers>| v.get().protocol.to_string())
        .get("VirtualServer", "addr", "v.addr -> string | ()", "Address (() for fwmark services).", |v: &Item<VirtualServers>| opt_str(v.get().addr))
        .get("VirtualServer", "port", "v.port -> int", "Port.", |v: &Item<VirtualServers>| i64::from(v.get().port))
        .get("VirtualServer", "scheduler", "v.scheduler -> string", "rr, wrr, lc, ...", |v: &Item<VirtualServers>| v.get().scheduler.clone())
        .get("VirtualServer", "type", "v.type -> string", "`cluster_ip`, `node_port`, or \"\" when no Service matches.", |v: &Item<VirtualServers>| v.g.proxy_index(v.of).ipvs.as_ref().map_or(VsRole::Unknown, |e| e[v.i].role).as_str().to_string())
        .get("VirtualServer", "service", "v.service -> Service | ()", "The Service it implements.", |v: &Item<VirtualServers>| opt(v.g.proxy_index(v.of).ipvs.as_ref().and_then(|e| e[v.i].service).map(|i| ServiceRef { g: v.g.clone(), i })))
        .get("VirtualServer", "port_name", "v.port_name -> string | ()", "The Service port's name.", |v: &Item<VirtualServers>| opt_str(v.g.proxy_index(v.of).ipvs.as_ref().and_then(|e| e[v.i].port_name.clone())))
        .get("VirtualServer", "real_servers", "v.real_servers -> [RealServer]", "Its real servers.", |v: &Item<VirtualServers>| -> Array {
            (0..v.get().real_servers.len()).map(|i| Dynamic::from(RealServerRef { g: v.g.clone(), t: v.of, vs: v.i, i })).collect()
        });
    r.engine.register_fn("to_string", |v: &mut Item<VirtualServers>| v.get().text());

    r.engine.register_type_with_name::<RealServerRef>("RealServer");
    r.get("RealServer", "addr", "r.addr -> string", "Address.", |x: &RealServerRef| x.get().addr.to_string())
        .get("RealServer", "port", "r.port -> int", "Port.", |x: &RealServerRef| i64::from(x.get().port))
        .get("RealServer", "weight", "r.weight -> int", "Weight (0: draining).", |x: &RealServerRef| i64::from(x.get().weight))
        .get("RealServer", "forward", "r.forward -> string", "Masq, Route or Tunnel.", |x: &RealServerRef| x.get().forward.to_string());
    r.engine.register_fn("to_string", |x: &mut RealServerRef| x.to_string());

    r.engine.register_type_with_name::<Item<ServiceChains>>("ServiceChain");
    r.get("ServiceChain", "chain", "c.chain -> string", "The KUBE-SVC-* / KUBE-SVL-* chain.", |c: &Item<ServiceChains>| c.get().name.clone())
        .get("ServiceChain", "endpoints", "c.endpoints -> [string]", "`ip:port` DNAT targets of its KUBE-SEP-* chains.", |c: &Item<ServiceChains>| strings(&c.get().endpoints))
        .get("ServiceChain", "jumped_from", "c.jumped_from -> [string]", "KUBE-SERVICES rules that jump to it.", |c: &Item<ServiceChains>| strings(&c.get().jumped_from));
    r.engine.register_fn("to_string", |c: &mut Item<ServiceChains>| c.get().name.clone());

    r.engine.register_fn("vtep_check", |l: &mut LeaseRef| -> Map {
        let v = l.g.vtep_check(l.i);
        charge(v.stale.len() + 8);
        let mut peers: Vec<String> = Vec::new();
        for (h, _) in &v.stale {
            let n = l.g.host_name(*h).to_string();
            if !peers.contains(&n) {
                peers.push(n);
            }
        }
        let m = map_of([
            ("published", opt_str(v.published)),
            ("device", opt_str(v.device.as_ref().map(|d| &d.0))),
            ("device_mac", opt_str(v.device.as_ref().and_then(|d| d.1))),
            ("expected", opt_str(v.expected)),
            ("peers", (v.peers as i64).into()),
            ("stale_entries", strings(v.stale.iter().map(|s| &s.1)).into()),
            ("stale_peers", strings(peers).into()),
        ]);
        traced(|| l.label(), || "vtep_check()".into(), m)
    });
    r.doc("Lease", "vtep_check", "l.vtep_check() -> #{published, device, device_mac, expected, peers, stale_entries, stale_peers}", "The lease's VXLAN MACs: the VtepMAC it publishes, its owner's flannel device and MAC, the MAC peers should use (device, else published), how many peers running flannel have a neighbour or FDB table, and the peers' PERMANENT neighbour entries for its network address on flannel.* / FDB entries towards its PublicIP that carry another MAC (found through indexes, not by scanning every peer).", "let v = l.vtep_check(); if !v.stale_entries.is_empty() { ... }");
}

fn block_route_map(g: &Arc<Graph>, t: usize, block: ipnet::IpNet) -> Map {
    let r = g.block_route(t, block);
    let kind = match r {
        None => "none".to_string(),
        Some(r) if r.kind != RouteType::UNICAST => r.kind.to_string(),
        Some(r) if r.is_default => "default".to_string(),
        Some(_) => "route".to_string(),
    };
    map_of([("type", kind.into()), ("route", opt(r.map(Route::text)))])
}

/// What of the data plane a host's kernel still holds.
fn dataplane_state(g: &Graph, t: usize) -> Map {
    let host = g.host_facts(t);
    let pod_nets = g.pod_networks();
    let routes = host.and_then(|h| h.routes.get()).map(|rs| {
        // Link-local fe80::/64 routes exist on every interface, pods or not: they prove nothing.
        let main: Vec<_> = rs.iter().filter(|r| r.table.is_main() && r.kind == RouteType::UNICAST && !is_link_local(&r.dst)).collect();
        // Routes into the pod network; without a known pod network, routes through a CNI-owned
        // interface other than an (often idle) docker0.
        let pod = main
            .iter()
            .filter(|r| {
                if pod_nets.is_empty() {
                    r.dev.as_deref().is_some_and(|d| d != "docker0" && g.is_cni_interface(d))
                } else {
                    !r.is_default && pod_nets.iter().any(|(n, _)| n.contains(&r.dst))
                }
            })
            .count();
        (main.len() as i64, pod as i64)
    });
    let vs = host.and_then(|h| h.ipvs.get()).map(|t| t.len() as i64);
    let svc = host.and_then(|h| h.iptables.get()).map(|t| t.chains("nat").filter(|(k, _)| k.starts_with("KUBE-SVC-")).count() as i64);
    map_of([
        ("collected", host.is_some().into()),
        ("routes", opt(routes.map(|r| r.0))),
        ("pod_routes", opt(routes.map(|r| r.1))),
        ("ipvs_virtual_servers", opt(vs)),
        ("kube_svc_chains", opt(svc)),
        ("proxy_mode", g.host_proxy_mode(t).into()),
    ])
}

fn is_link_local(n: &ipnet::IpNet) -> bool {
    match n.addr() {
        std::net::IpAddr::V4(a) => a.is_link_local(),
        std::net::IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}
