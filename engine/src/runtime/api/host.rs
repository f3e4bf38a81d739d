//! The rule API of a host: its facts (links, addresses, routes, ip rules,
//! neighbours, FDB, sysctls, resolv.conf, subnet.env), their provenance, the
//! kernel-style route lookup, and the catalogue's host conventions (pod
//! bridges, host networks, pod subnets, the resolv.conf pods get).

use super::cluster::host_kind_arg;
use super::*;
use crate::graph::PodResolv;
use crate::kind::FactKind;
use crate::model::*;
use crate::route::Lookup;

/// A route lookup's answer with the host that asked, so that reading it is recorded under
/// that host for `--explain`.
#[derive(Clone)]
pub struct HostLookup {
    /// The asking host's subject label (`Node/<name>`).
    pub host: String,
    /// The answer.
    pub l: Lookup,
}

impl Traced for HostLookup {
    fn label(&self) -> String {
        self.host.clone()
    }
}

pub struct Routes;
impl Part for Routes {
    type T = Route;
    fn items(g: &Graph, of: usize) -> &[Route] {
        g.hosts()[of].routes.as_ref().map_or(&[], |t| t.routes())
    }
    fn owner(g: &Graph, of: usize) -> String {
        format!("Node/{}", g.host_name(of))
    }
}
macro_rules! host_part {
    ($name:ident, $t:ty, $field:ident) => {
        pub struct $name;
        impl Part for $name {
            type T = $t;
            fn items(g: &Graph, of: usize) -> &[$t] {
                g.host_facts(of).and_then(|h| h.$field.get()).map_or(&[], |v| v.as_slice())
            }
            fn owner(g: &Graph, of: usize) -> String {
                format!("Node/{}", g.host_name(of))
            }
        }
    };
}
host_part!(Links, Link, links);
host_part!(Addrs, Addr, addrs);
host_part!(IpRules, IpRule, rules);
host_part!(Neighbours, Neigh, neighbours);
host_part!(FdbEntries, FdbEntry, fdb);

pub struct Nameservers;
impl Part for Nameservers {
    type T = Nameserver;
    fn items(g: &Graph, of: usize) -> &[Nameserver] {
        g.host_facts(of).and_then(|h| h.resolv_conf.get()).map_or(&[], |r| r.nameservers.as_slice())
    }
    fn owner(g: &Graph, of: usize) -> String {
        format!("Node/{}", g.host_name(of))
    }
}

fn ns_map(n: &Nameserver) -> Dynamic {
    Dynamic::from_map(map_of([("address", n.ip.to_string().into()), ("line", (n.line as i64).into()), ("loopback", crate::net::is_loopback(&n.ip).into())]))
}

fn pod_resolv(h: &HostRef) -> Map {
    match h.g.pod_resolv_conf(h.t) {
        PodResolv::File { source, conf, how } => map_of([
            ("known", true.into()),
            ("file", opt_str(source)),
            ("how", how.into()),
            ("nameservers", conf.nameservers.iter().map(ns_map).collect::<Array>().into()),
            ("reason", "".into()),
        ]),
        PodResolv::Unknown(reason) => {
            map_of([("known", false.into()), ("file", Dynamic::UNIT), ("how", "".into()), ("nameservers", Array::new().into()), ("reason", reason.into())])
        }
    }
}

fn host_has(h: &HostRef, kind: &str) -> R<bool> {
    let k = host_kind_arg(kind)?;
    let unavailable = h.g.host_unavailable(h.t, k);
    let shown = || match &unavailable {
        Some(why) => why.clone(),
        None => h.facts().and_then(|f| f.state(k)).and_then(|s| s.source).map_or("collected".to_string(), |s| s.to_string()),
    };
    Ok(traced(|| h.label(), || format!("has({kind:?}) [{}]", shown()), unavailable.is_none()))
}

/// Registers the host API.
pub fn register(r: &mut Reg) {
    r.engine.register_type_with_name::<HostRef>("Host");
    r.get("Host", "name", "h.name -> string", "The host (Node, or host with collected facts) name.", |h: &HostRef| h.name().to_string())
        .get("Host", "id", "h.id -> string", "`Node/<name>`: a key for maps of subjects (the same as its Node's).", |h: &HostRef| format!("Node/{}", h.name()))
        .get("Host", "is_node", "h.is_node -> bool", "Whether a Node object of that name exists.", |h: &HostRef| h.g.host_node(h.t).is_some())
        .get("Host", "collected", "h.collected -> bool", "Whether any host fact was collected for it (a capture folder, or a live host collector).", |h: &HostRef| h.facts().is_some())
        .get("Host", "node", "h.node -> Node | ()", "The Node object of this host.", |h: &HostRef| opt(h.g.host_node(h.t).and_then(|n| h.g.node_index(&n.name)).map(|i| NodeRef { g: h.g.clone(), i })))
        .get("Host", "pods", "h.pods -> [Pod]", "Pods scheduled on this host (index look-up).", |h: &HostRef| -> Array { h.g.pods_on(h.name()).iter().map(|i| Dynamic::from(PodRef { g: h.g.clone(), i: *i })).collect() })
        .get("Host", "leases", "h.leases -> [Lease]", "flannel leases this host owns (lease ownership convention).", |h: &HostRef| -> Array { h.g.leases_of(h.t).iter().map(|i| Dynamic::from(LeaseRef { g: h.g.clone(), i: *i })).collect() })
        .get("Host", "links", "h.links -> [Link]", "Interfaces (`ip -d link`); empty when not collected (check `h.has(\"links\")`).", |h: &HostRef| Item::<Links>::all(&h.g, h.t))
        .get("Host", "addrs", "h.addrs -> [Addr]", "Interface addresses (`ip addr`).", |h: &HostRef| Item::<Addrs>::all(&h.g, h.t))
        .get("Host", "routes", "h.routes -> [Route]", "Routes of every table, both families (`ip route show table all`).", |h: &HostRef| Item::<Routes>::all(&h.g, h.t))
        .get("Host", "rules", "h.rules -> [IpRule]", "Policy routing rules (`ip rule`).", |h: &HostRef| Item::<IpRules>::all(&h.g, h.t))
        .get("Host", "neighbours", "h.neighbours -> [Neighbour]", "Neighbour entries (`ip neigh`).", |h: &HostRef| Item::<Neighbours>::all(&h.g, h.t))
        .get("Host", "fdb", "h.fdb -> [FdbEntry]", "Bridge forwarding entries (`bridge fdb`).", |h: &HostRef| Item::<FdbEntries>::all(&h.g, h.t))
        .get("Host", "nameservers", "h.nameservers -> [#{address, line, loopback}]", "The host's /etc/resolv.conf nameservers.", |h: &HostRef| -> Array { Nameservers::items(&h.g, h.t).iter().map(ns_map).collect() })
        .get("Host", "subnet_env", "h.subnet_env -> #{network, subnet, mtu, ipmasq} | ()", "flannel's /run/flannel/subnet.env: FLANNEL_NETWORK, FLANNEL_SUBNET as written (an address with its prefix, `10.244.1.1/24`), FLANNEL_MTU, FLANNEL_IPMASQ.", |h: &HostRef| -> Dynamic {
            match h.facts().and_then(|x| x.subnet_env.get()) {
                Some(e) => Dynamic::from_map(map_of([
                    ("network", opt_str(e.network)),
                    ("subnet", opt_str(e.subnet.map(|(a, l)| format!("{a}/{l}")))),
                    ("mtu", opt(e.mtu.map(i64::from))),
                    ("ipmasq", opt(e.ipmasq)),
                ])),
                None => Dynamic::UNIT,
            }
        });

    r.engine
        .register_fn("subject", |h: &mut HostRef| subject_map("Node", None, h.name(), Some(h.name())))
        .register_fn("has", |h: &mut HostRef, kind: &str| host_has(h, kind))
        .register_fn("missing", |h: &mut HostRef, kind: &str| -> R<String> {
            let k = host_kind_arg(kind)?;
            Ok(traced(|| h.label(), || format!("missing({kind:?})"), h.g.host_unavailable(h.t, k).unwrap_or_default()))
        })
        .register_fn("source", |h: &mut HostRef, kind: &str| -> R<Dynamic> {
            let k = host_kind_arg(kind)?;
            Ok(traced(|| h.label(), || format!("source({kind:?})"), opt_str(h.facts().and_then(|f| f.state(k)).and_then(|s| s.source))))
        })
        .register_fn("stale", |h: &mut HostRef, kind: &str| -> R<Dynamic> {
            let k = host_kind_arg(kind)?;
            let v = opt(h.facts().and_then(|f| f.state(k)).and_then(|s| s.source).and_then(|s| h.g.stale(s)));
            Ok(traced(|| h.label(), || format!("stale({kind:?})"), v))
        })
        .register_fn("addrs_of", |h: &mut HostRef, dev: &str| {
            let out = Item::<Addrs>::filtered(&h.g, h.t, |a| a.dev == dev);
            traced(|| h.label(), || format!("addrs_of({dev:?})"), out)
        })
        .register_fn("link", |h: &mut HostRef, name: &str| -> Dynamic {
            let i = Links::items(&h.g, h.t).iter().position(|l| l.name == name);
            traced(|| h.label(), || format!("link({name:?})"), opt(i.map(|i| Item::<Links>::at(&h.g, h.t, i))))
        })
        .register_fn("sysctl", |h: &mut HostRef, key: &str| {
            let v = opt_str(h.facts().and_then(|x| x.sysctl.get()).and_then(|m| m.get(key)));
            traced(|| h.label(), || format!("sysctl({key:?})"), v)
        })
        .register_fn("sysctl_keys", |h: &mut HostRef, prefix: &str| {
            let keys = strings(
                h.facts()
                    .and_then(|x| x.sysctl.get())
                    .into_iter()
                    .flat_map(|m| m.range(prefix.to_string()..).map(|(k, _)| k).take_while(|k| k.starts_with(prefix))),
            );
            traced(|| h.label(), || format!("sysctl_keys({prefix:?})"), keys)
        })
        .register_fn("default_route", |h: &mut HostRef, family: &str| -> R<Dynamic> {
            let v4 = match family {
                "inet" => true,
                "inet6" => false,
                other => return Err(format!("default_route: family must be \"inet\" or \"inet6\", got {other:?}").into()),
            };
            let rt = h.g.default_route(h.t, v4).and_then(|r| Routes::items(&h.g, h.t).iter().position(|x| x == r));
            Ok(traced(|| h.label(), || format!("default_route({family:?})"), opt(rt.map(|i| Item::<Routes>::at(&h.g, h.t, i)))))
        })
        .register_fn("route_get", |h: &mut HostRef, ip: &str| -> R<Dynamic> {
            let ip = parse_ip_arg(ip)?;
            let l = h.g.route_get(h.t, ip);
            trace(|| h.label(), || format!("route_get({ip}) → {}", l.as_ref().map_or("routes not collected".to_string(), |l| l.reason.clone())));
            Ok(opt(l.map(|l| HostLookup { host: h.label(), l })))
        })
        .register_fn("unroutable", |h: &mut HostRef, ips: Array| -> R<Dynamic> {
            let mut failed = Array::new();
            charge(ips.len());
            for ip in &ips {
                let text = ip.clone().into_string().map_err(|t| format!("unroutable() takes an array of IP strings, got {t}"))?;
                let ip = parse_ip_arg(&text)?;
                match h.g.routable(h.t, ip) {
                    None => return Ok(Dynamic::UNIT),
                    Some(false) => failed.extend(h.g.route_get(h.t, ip).map(|l| Dynamic::from(HostLookup { host: h.label(), l }))),
                    Some(true) => {}
                }
            }
            trace(|| h.label(), || format!("unroutable({} addresses) → {} unroutable", ips.len(), failed.len()));
            Ok(Dynamic::from_array(failed))
        })
        .register_fn("pod_resolv_conf", |h: &mut HostRef| {
            let m = pod_resolv(h);
            traced(|| h.label(), || "pod_resolv_conf()".into(), m)
        })
        .register_fn("pod_subnets", |h: &mut HostRef| traced(|| h.label(), || "pod_subnets()".into(), cidr_list(&h.g.pod_subnets(h.t), "source")))
        .register_fn("host_networks", |h: &mut HostRef| traced(|| h.label(), || "host_networks()".into(), cidr_list(&h.g.host_networks(h.t), "what")))
        .register_fn("pod_network_overlaps", |h: &mut HostRef| -> Array {
            let mut out = Array::new();
            for (hn, what) in h.g.host_networks(h.t) {
                for (pn, src) in h.g.pod_network_set().overlapping(&hn) {
                    out.push(Dynamic::from_map(map_of([
                        ("host_network", what.clone().into()),
                        ("pod_network", pn.to_string().into()),
                        ("declared_by", src.clone().into()),
                    ])));
                }
            }
            traced(|| h.label(), || "pod_network_overlaps()".into(), out)
        })
        .register_fn("pod_bridges", |h: &mut HostRef| -> Dynamic {
            let b = match h.g.pod_bridges(h.t) {
                Some(v) => Dynamic::from_array(v.into_iter().map(|(n, why)| Dynamic::from_map(map_of([("name", n.into()), ("why", why.into())]))).collect()),
                None => Dynamic::UNIT,
            };
            traced(|| h.label(), || "pod_bridges()".into(), b)
        })
        .register_fn("cluster_network_routes", |h: &mut HostRef| -> Array {
            charge(Routes::items(&h.g, h.t).len());
            let out: Array = h.g.cluster_network_routes(h.t).into_iter().map(|i| Dynamic::from(Item::<Routes>::at(&h.g, h.t, i))).collect();
            traced(|| h.label(), || "cluster_network_routes()".into(), out)
        })
        .register_fn("is_cni_interface", |h: &mut HostRef, name: &str| {
            traced(|| h.label(), || format!("is_cni_interface({name:?})"), h.g.is_cni_interface(name))
        })
        .register_fn("to_string", |h: &mut HostRef| h.name().to_string())
        .register_fn("to_debug", |h: &mut HostRef| format!("Host({})", h.name()));
    r.doc("Host", "subject", "h.subject() -> #{kind, namespace, name, node}", "The Node subject of this host.", "g.finding(#{ subject: h.subject(), ... });")
        .doc("Host", "has", "h.has(fact) -> bool", "Whether a host fact was collected and could be read: links, addrs, routes, routes6, rules, neighbours, fdb, ipvs, iptables, resolv_conf, kubelet_resolv_conf, kubelet_config, kubelet_args, sysctl, subnet_env.", "if !h.has(\"routes\") { g.skip(h.subject(), h.missing(\"routes\")); continue; }")
        .doc("Host", "missing", "h.missing(fact) -> string", "Why a host fact is unavailable (`... not collected`, or `could not be read: SOURCE: ERROR`); \"\" when it is available.", "h.missing(\"sysctl\")")
        .doc("Host", "source", "h.source(fact) -> string | ()", "Where a host fact was read (a capture file, or a live collector and time), for evidence.", "evidence: #{ file: h.source(\"routes\") }")
        .doc("Host", "stale", "h.stale(fact) -> string | ()", "Why a live fact is stale (its collector's last run failed: since when, and the error); () when fresh or from a capture.", "if h.stale(\"routes\") != () { ... }")
        .doc("Host", "addrs_of", "h.addrs_of(dev) -> [Addr]", "The addresses on one interface (a host with kube-ipvs0 carries one address per ClusterIP: ask for the device you need).", "h.addrs_of(\"cni0\")")
        .doc("Host", "link", "h.link(name) -> Link | ()", "One interface by name.", "let vx = h.link(\"flannel.1\");")
        .doc("Host", "sysctl", "h.sysctl(key) -> string | ()", "A sysctl value.", "if h.sysctl(\"net.ipv4.ip_forward\") == \"0\" { ... }")
        .doc("Host", "sysctl_keys", "h.sysctl_keys(prefix) -> [string]", "Sysctl keys starting with a prefix.", "h.sysctl_keys(\"net.bridge.\").is_empty()")
        .doc("Host", "default_route", "h.default_route(family) -> Route | ()", "The main table's unicast default route for `inet` or `inet6` (lowest metric).", "if h.default_route(\"inet\") == () { ... }")
        .doc("Host", "route_get", "h.route_get(ip) -> Lookup | ()", "Kernel route lookup for a packet the host sends: ip rules (or local, main, default), longest prefix; () when routes were not collected.", "let l = h.route_get(\"10.96.0.1\"); if !l.routable { ... }")
        .doc("Host", "unroutable", "h.unroutable(ips) -> [Lookup] | ()", "Batch route lookup: the lookups of the given addresses that are not routable (native, for thousands of ClusterIPs); () when routes were not collected.", "for l in h.unroutable(ips) { ... l.dst ... }")
        .doc("Host", "pod_resolv_conf", "h.pod_resolv_conf() -> #{known, file, how, nameservers: [#{address, line, loopback}], reason}", "The resolv.conf the kubelet hands pods (kubelet-resolv.conf, --resolv-conf, resolvConf, default /etc/resolv.conf); `known` false with a `reason` when it cannot be told.", "let r = h.pod_resolv_conf(); if !r.known { g.skip(h.subject(), r.reason); }")
        .doc("Host", "pod_subnets", "h.pod_subnets() -> [#{cidr, source}]", "This host's pod subnets: owned flannel leases, the Node's podCIDRs, Calico blocks.", "h.pod_subnets().map(|s| s.cidr)")
        .doc("Host", "host_networks", "h.host_networks() -> [#{cidr, what}]", "Networks of addresses on non-CNI interfaces, plus the Node's InternalIP.", "for n in h.host_networks() { ... n.cidr ... }")
        .doc("Host", "pod_network_overlaps", "h.pod_network_overlaps() -> [#{host_network, pod_network, declared_by}]", "Every (host network, pod network) pair that shares an address (pod networks indexed, no scan).", "let hits = h.pod_network_overlaps();")
        .doc("Host", "pod_bridges", "h.pod_bridges() -> [#{name, why}] | ()", "Linux bridges with veth ports or an address in the host's pod subnets; () when links were not collected.", "let b = h.pod_bridges();")
        .doc("Host", "cluster_network_routes", "h.cluster_network_routes() -> [Route]", "Main-table IPv4 unicast routes (not default) into a pod network or a declared service CIDR, except those to this host's own pod subnets (pod networks indexed: linear in the routes).", "h.cluster_network_routes().filter(|r| h.route_egress(r) == \"eth1\")")
        .doc("Host", "is_cni_interface", "h.is_cni_interface(name) -> bool", "Whether an interface name is CNI- or kube-proxy-owned (catalogue list plus config `cni_interfaces`).", "h.is_cni_interface(\"cali12ab\")");

    r.engine.register_type_with_name::<Item<Routes>>("Route");
    r.get("Route", "type", "r.type -> string", "unicast, local, broadcast, blackhole, unreachable, prohibit, throw, ...", |x: &Item<Routes>| {
        x.get().kind.to_string()
    })
    .get("Route", "dst", "r.dst -> string", "Destination as iproute2 prints it (`default` or a CIDR).", |x: &Item<Routes>| {
        if x.get().is_default {
            "default".to_string()
        } else {
            x.get().dst.to_string()
        }
    })
    .get("Route", "dst_cidr", "r.dst_cidr -> string", "Destination as a CIDR (0.0.0.0/0 for default).", |x: &Item<Routes>| x.get().dst.to_string())
    .get("Route", "is_default", "r.is_default -> bool", "A default route.", |x: &Item<Routes>| x.get().is_default)
    .get("Route", "is_v4", "r.is_v4 -> bool", "An IPv4 route.", |x: &Item<Routes>| x.get().is_v4())
    .get("Route", "gateway", "r.gateway -> string | ()", "Gateway (via).", |x: &Item<Routes>| opt_str(x.get().gateway))
    .get("Route", "dev", "r.dev -> string | ()", "Output device.", |x: &Item<Routes>| opt_str(x.get().dev.as_ref()))
    .get("Route", "table", "r.table -> string", "Table as `ip` prints it: main, local, default or a number.", |x: &Item<Routes>| x.get().table.to_string())
    .get("Route", "protocol", "r.protocol -> string", "Protocol as `ip` prints it (kernel, boot, static, dhcp, bird, 80, ...).", |x: &Item<Routes>| {
        x.get().protocol.to_string()
    })
    .get("Route", "scope", "r.scope -> string", "Scope (global, link, host, ...).", |x: &Item<Routes>| x.get().scope.to_string())
    .get("Route", "metric", "r.metric -> int", "Metric.", |x: &Item<Routes>| i64::from(x.get().metric))
    .get("Route", "prefsrc", "r.prefsrc -> string | ()", "Preferred source.", |x: &Item<Routes>| opt_str(x.get().prefsrc))
    .get("Route", "flags", "r.flags -> [string]", "Flags such as onlink, linkdown.", |x: &Item<Routes>| strings(&x.get().flags))
    .get("Route", "text", "r.text -> string", "The route as `ip route` prints it.", |x: &Item<Routes>| x.get().text());
    r.engine
        .register_fn("to_string", |x: &mut Item<Routes>| x.get().text())
        .register_fn("to_debug", |x: &mut Item<Routes>| format!("Route({})", x.get().text()));

    r.engine.register_type_with_name::<Item<Links>>("Link");
    r.get("Link", "name", "l.name -> string", "Interface name.", |x: &Item<Links>| x.get().name.clone())
        .get("Link", "type", "l.type -> string", "linkinfo info_kind (bridge, veth, vxlan, ...), \"\" for plain devices.", |x: &Item<Links>| {
            x.get().kind.clone()
        })
        .get("Link", "mtu", "l.mtu -> int", "MTU.", |x: &Item<Links>| i64::from(x.get().mtu))
        .get("Link", "mac", "l.mac -> string | ()", "MAC address, lowercase.", |x: &Item<Links>| opt_str(x.get().mac))
        .get("Link", "master", "l.master -> string | ()", "The bridge it is a port of.", |x: &Item<Links>| opt_str(x.get().master.as_ref()))
        .get("Link", "operstate", "l.operstate -> string", "UP, DOWN, UNKNOWN, ...", |x: &Item<Links>| x.get().operstate.clone())
        .get("Link", "flags", "l.flags -> [string]", "Link flags.", |x: &Item<Links>| strings(&x.get().flags))
        .get("Link", "vxlan_id", "l.vxlan_id -> int | ()", "VNI of a vxlan device.", |x: &Item<Links>| opt(x.get().vxlan.as_ref().map(|v| i64::from(v.id))))
        .get("Link", "vxlan_local", "l.vxlan_local -> string | ()", "Local address of a vxlan device.", |x: &Item<Links>| {
            opt_str(x.get().vxlan.as_ref().and_then(|v| v.local))
        })
        .get("Link", "vxlan_port", "l.vxlan_port -> int | ()", "UDP port of a vxlan device.", |x: &Item<Links>| {
            opt(x.get().vxlan.as_ref().and_then(|v| v.port).map(i64::from))
        })
        .get("Link", "vxlan_dev", "l.vxlan_dev -> string | ()", "Underlying device of a vxlan device.", |x: &Item<Links>| {
            opt_str(x.get().vxlan.as_ref().and_then(|v| v.dev.as_ref()))
        });
    r.engine
        .register_fn("to_string", |x: &mut Item<Links>| x.get().name.clone())
        .register_fn("to_debug", |x: &mut Item<Links>| format!("Link({})", x.get().name));

    r.engine.register_type_with_name::<Item<Addrs>>("Addr");
    r.get("Addr", "dev", "a.dev -> string", "Interface.", |x: &Item<Addrs>| x.get().dev.clone())
        .get("Addr", "ip", "a.ip -> string", "Address.", |x: &Item<Addrs>| x.get().local.to_string())
        .get("Addr", "prefix_len", "a.prefix_len -> int", "Prefix length.", |x: &Item<Addrs>| i64::from(x.get().prefix_len))
        .get("Addr", "cidr", "a.cidr -> string", "Address with prefix (`10.244.1.1/24`).", |x: &Item<Addrs>| x.get().cidr())
        .get("Addr", "network", "a.network -> string", "The subnet (`10.244.1.0/24`).", |x: &Item<Addrs>| x.get().network().to_string())
        .get("Addr", "scope", "a.scope -> string", "Scope (global, link, host).", |x: &Item<Addrs>| x.get().scope.to_string())
        .get("Addr", "family", "a.family -> string", "inet or inet6.", |x: &Item<Addrs>| crate::net::family(&x.get().local).to_string());
    r.engine.register_fn("to_string", |x: &mut Item<Addrs>| format!("{} dev {}", x.get().cidr(), x.get().dev));

    r.engine.register_type_with_name::<Item<IpRules>>("IpRule");
    r.get("IpRule", "priority", "r.priority -> int", "Priority.", |x: &Item<IpRules>| i64::from(x.get().priority))
        .get("IpRule", "from", "r.from -> string | ()", "Source selector (() for `from all`).", |x: &Item<IpRules>| opt_str(x.get().src))
        .get("IpRule", "to", "r.to -> string | ()", "Destination selector.", |x: &Item<IpRules>| opt_str(x.get().dst))
        .get("IpRule", "table", "r.table -> string | ()", "The table it looks up.", |x: &Item<IpRules>| {
            opt_str(match &x.get().action {
                RuleAction::Lookup(t) => Some(t),
                _ => None,
            })
        })
        .get("IpRule", "action", "r.action -> string", "lookup, blackhole, unreachable, prohibit, goto, nop.", |x: &Item<IpRules>| match &x.get().action {
            RuleAction::Lookup(_) => "lookup".to_string(),
            RuleAction::Drop(k) => k.to_string(),
            RuleAction::Other(s) => s.clone(),
        })
        .get("IpRule", "text", "r.text -> string", "The rule as `ip rule` prints it.", |x: &Item<IpRules>| x.get().text.clone());
    r.engine.register_fn("to_string", |x: &mut Item<IpRules>| x.get().text.clone());

    r.engine.register_type_with_name::<Item<Neighbours>>("Neighbour");
    r.get("Neighbour", "dst", "n.dst -> string", "The neighbour's address.", |x: &Item<Neighbours>| x.get().dst.to_string())
        .get("Neighbour", "dev", "n.dev -> string", "Interface.", |x: &Item<Neighbours>| x.get().dev.clone())
        .get("Neighbour", "lladdr", "n.lladdr -> string | ()", "Link-layer address, lowercase.", |x: &Item<Neighbours>| opt_str(x.get().lladdr))
        .get("Neighbour", "state", "n.state -> [string]", "States such as PERMANENT, REACHABLE.", |x: &Item<Neighbours>| strings(&x.get().state));
    r.engine.register_fn("to_string", |x: &mut Item<Neighbours>| {
        let n = x.get();
        format!("{} dev {} lladdr {} {}", n.dst, n.dev, n.lladdr.map(|m| m.to_string()).unwrap_or_default(), n.state.join(","))
    });

    r.engine.register_type_with_name::<Item<FdbEntries>>("FdbEntry");
    r.get("FdbEntry", "mac", "e.mac -> string", "MAC, lowercase.", |x: &Item<FdbEntries>| x.get().mac.to_string())
        .get("FdbEntry", "dev", "e.dev -> string", "Device.", |x: &Item<FdbEntries>| x.get().dev.clone())
        .get("FdbEntry", "dst", "e.dst -> string | ()", "VXLAN remote (() for local entries).", |x: &Item<FdbEntries>| opt_str(x.get().dst))
        .get("FdbEntry", "flags", "e.flags -> [string]", "Flags (self, master, ...).", |x: &Item<FdbEntries>| strings(&x.get().flags))
        .get("FdbEntry", "state", "e.state -> string | ()", "State (permanent, ...).", |x: &Item<FdbEntries>| opt_str(x.get().state.as_ref()));
    r.engine.register_fn("to_string", |x: &mut Item<FdbEntries>| {
        let e = x.get();
        format!("{} dev {}{}", e.mac, e.dev, e.dst.map(|d| format!(" dst {d}")).unwrap_or_default())
    });

    r.engine.register_type_with_name::<HostLookup>("Lookup");
    r.get("Lookup", "dst", "l.dst -> string", "The destination looked up.", |x: &HostLookup| x.l.dst.to_string())
        .get("Lookup", "routable", "l.routable -> bool", "Whether the packet would be sent or delivered locally.", |x: &HostLookup| x.l.routable)
        .get("Lookup", "route", "l.route -> string | ()", "The deciding route as `ip route` prints it.", |x: &HostLookup| opt_str(x.l.route.as_ref()))
        .get("Lookup", "type", "l.type -> string", "The deciding route type, or the rule action; `none` when nothing matched.", |x: &HostLookup| {
            x.l.kind.clone()
        })
        .get("Lookup", "table", "l.table -> string | ()", "The table of the deciding route.", |x: &HostLookup| opt_str(x.l.table.as_ref()))
        .get("Lookup", "dev", "l.dev -> string | ()", "Output device.", |x: &HostLookup| opt_str(x.l.dev.as_ref()))
        .get("Lookup", "gateway", "l.gateway -> string | ()", "Gateway.", |x: &HostLookup| opt_str(x.l.gateway))
        .get("Lookup", "reason", "l.reason -> string", "One-line explanation.", |x: &HostLookup| x.l.reason.clone())
        .get("Lookup", "tables", "l.tables -> [string]", "Tables consulted, in order.", |x: &HostLookup| strings(&x.l.tables));
    r.engine.register_fn("to_string", |x: &mut HostLookup| x.l.reason.clone()).register_fn("to_debug", |x: &mut HostLookup| format!("Lookup({})", x.l.reason));
    let _ = FactKind::Links;
}
