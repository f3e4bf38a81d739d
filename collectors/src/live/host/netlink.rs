//! The live netlink source (rtnetlink): links, addresses, routes of every table
//! (both families), ip rules, neighbours and bridge FDB entries, normalised into
//! exactly the facts the capture reader makes of `ip -j -d link show`,
//! `ip -j -d addr show`, `ip -j -d route show table all`, `ip -j rule show`,
//! `ip -j neigh show` and `bridge -j fdb show` (iproute2 6.1's `print_*`
//! functions are the reference: which entries they skip, how they name flags,
//! states, tables and protocols).
//!
//! Another namespace is read by opening the rtnetlink socket on a thread that
//! has entered it ([`super::netns`]); the socket is then driven from tokio.

use super::netns;
use crate::netlink as parse;
use futures::StreamExt;
use ipnet::IpNet;
use netdoctor_engine::model::*;
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoData, InfoVxlan, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::neighbour::{NeighbourAddress, NeighbourAttribute, NeighbourMessage};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteVia};
use rtnetlink::packet_route::rule::{RuleAction as NlRuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// Everything the netlink source reads from one namespace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetlinkFacts {
    pub links: Vec<Link>,
    pub addrs: Vec<Addr>,
    /// Both families, as `ip -j -d route show table all` prints them.
    pub routes: Vec<Route>,
    /// IPv4 rules, as `ip rule show` prints them (it defaults to IPv4).
    pub rules: Vec<IpRule>,
    pub neighbours: Vec<Neigh>,
    pub fdb: Vec<FdbEntry>,
}

/// Reads the netlink facts of the namespace at `netns` (this process's own when `None`).
/// Table and protocol names come from `<root>/etc/iproute2` as `ip` names them.
/// Errors: the namespace cannot be entered, vanished during the collection, or the kernel
/// refused a dump.
pub async fn collect(netns: Option<&Path>, root: &Path) -> Result<NetlinkFacts, String> {
    let names = RtNames::load(root);
    let rt = tokio::runtime::Handle::current();
    let ns: Option<PathBuf> = netns.map(Path::to_path_buf);
    // The socket is created on a thread inside the namespace and registered with this
    // runtime's reactor; it stays in that namespace whatever thread later polls it.
    let ((conn, mut handle), id) = netns::run_in(ns.clone(), move || {
        let _enter = rt.enter();
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| format!("cannot open a netlink socket: {e}"))?;
        Ok((conn, handle))
    })
    .await?;
    let task = tokio::spawn(conn);
    let result = read_all(&mut handle, &names).await;
    drop(handle);
    task.abort();
    if let Some(p) = &ns {
        netns::still_there(p, id)?;
    }
    result
}

async fn read_all(handle: &mut rtnetlink::Handle, names: &RtNames) -> Result<NetlinkFacts, String> {
    let links: Vec<LinkMessage> = dump(
        handle,
        "links",
        || RouteNetlinkMessage::GetLink(LinkMessage::default()),
        |m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        },
    )
    .await?;
    let addrs: Vec<AddressMessage> = dump(
        handle,
        "addresses",
        || RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        |m| match m {
            RouteNetlinkMessage::NewAddress(a) => Some(a),
            _ => None,
        },
    )
    .await?;
    let routes: Vec<RouteMessage> = dump(
        handle,
        "routes",
        || RouteNetlinkMessage::GetRoute(RouteMessage::default()),
        |m| match m {
            RouteNetlinkMessage::NewRoute(r) => Some(r),
            _ => None,
        },
    )
    .await?;
    let rules: Vec<RuleMessage> = dump(
        handle,
        "rules",
        || {
            let mut m = RuleMessage::default();
            m.header.family = AddressFamily::Inet;
            RouteNetlinkMessage::GetRule(m)
        },
        |m| match m {
            RouteNetlinkMessage::NewRule(r) => Some(r),
            _ => None,
        },
    )
    .await?;
    let neigh: Vec<NeighbourMessage> = dump(
        handle,
        "neighbours",
        || RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
        |m| match m {
            RouteNetlinkMessage::NewNeighbour(n) => Some(n),
            _ => None,
        },
    )
    .await?;
    let fdb: Vec<NeighbourMessage> = dump(
        handle,
        "bridge FDB",
        || {
            let mut m = NeighbourMessage::default();
            m.header.family = AddressFamily::Bridge;
            RouteNetlinkMessage::GetNeighbour(m)
        },
        |m| match m {
            RouteNetlinkMessage::NewNeighbour(n) => Some(n),
            _ => None,
        },
    )
    .await?;
    Ok(convert(&links, &addrs, &routes, &rules, &neigh, &fdb, names))
}

/// The kernel marks a dump that raced with a change (`NLM_F_DUMP_INTR`); it is retried.
const NLM_F_DUMP_INTR: u16 = 0x10;

/// One netlink dump, retried (3 times) when the kernel says it was interrupted by a change.
async fn dump<T>(
    handle: &mut rtnetlink::Handle,
    what: &str,
    request: impl Fn() -> RouteNetlinkMessage,
    pick: impl Fn(RouteNetlinkMessage) -> Option<T>,
) -> Result<Vec<T>, String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut req = NetlinkMessage::from(request());
        req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        let mut stream = handle.request(req).map_err(|e| format!("netlink dump of {what}: {e}"))?;
        let mut out = Vec::new();
        let mut interrupted = false;
        while let Some(msg) = stream.next().await {
            interrupted |= msg.header.flags & NLM_F_DUMP_INTR != 0;
            match msg.payload {
                NetlinkPayload::InnerMessage(m) => out.extend(pick(m)),
                NetlinkPayload::Error(e) => {
                    let code = e.code.map_or(0, |c| -c.get());
                    // EAFNOSUPPORT / EOPNOTSUPP: the kernel has no such table (no bridge module).
                    if code == 97 || code == 95 {
                        return Ok(Vec::new());
                    }
                    return Err(format!("netlink dump of {what}: {}", std::io::Error::from_raw_os_error(code)));
                }
                _ => {}
            }
        }
        if !interrupted || attempt >= 3 {
            return Ok(out);
        }
    }
}

/// Turns the dumped messages into facts, as iproute2 prints them and the capture parsers read them.
pub fn convert(
    links: &[LinkMessage],
    addrs: &[AddressMessage],
    routes: &[RouteMessage],
    rules: &[RuleMessage],
    neigh: &[NeighbourMessage],
    fdb: &[NeighbourMessage],
    names: &RtNames,
) -> NetlinkFacts {
    let mut index: HashMap<u32, (String, u32)> = HashMap::new();
    for l in links {
        if let Some(name) = l.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        }) {
            index.insert(l.header.index, (name, l.header.flags.bits()));
        }
    }
    let name_of = |i: u32| index.get(&i).map_or_else(|| format!("if{i}"), |(n, _)| n.clone());
    let out_links: Vec<Link> = links.iter().filter_map(|l| link_of(l, &index)).collect();
    let mut out_addrs = Vec::new();
    for l in &out_links {
        for a in addrs.iter().filter(|a| a.header.index == l.ifindex) {
            if let Some(x) = addr_of(a, &l.name) {
                out_addrs.push(x);
            }
        }
    }
    NetlinkFacts {
        addrs: out_addrs,
        links: out_links,
        routes: routes.iter().filter_map(|r| route_of(r, &name_of, names)).collect(),
        rules: rules.iter().filter_map(|r| rule_of(r, names)).collect(),
        neighbours: neigh.iter().filter_map(|n| neigh_of(n, &name_of)).collect(),
        fdb: fdb.iter().filter_map(|n| fdb_of(n, &name_of)).collect(),
    }
}

const IFF_UP: u32 = 0x1;
const IFF_RUNNING: u32 = 0x40;
/// `print_link_flags`: the order and names `ip` prints.
const LINK_FLAGS: &[(u32, &str)] = &[
    (0x8, "LOOPBACK"),
    (0x2, "BROADCAST"),
    (0x10, "POINTOPOINT"),
    (0x1000, "MULTICAST"),
    (0x80, "NOARP"),
    (0x200, "ALLMULTI"),
    (0x100, "PROMISC"),
    (0x400, "MASTER"),
    (0x800, "SLAVE"),
    (0x4, "DEBUG"),
    (0x8000, "DYNAMIC"),
    (0x4000, "AUTOMEDIA"),
    (0x2000, "PORTSEL"),
    (0x20, "NOTRAILERS"),
    (0x1, "UP"),
    (0x10000, "LOWER_UP"),
    (0x20000, "DORMANT"),
    (0x40000, "ECHO"),
];
const OPER_STATES: &[&str] = &["UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP"];

/// The flags as `ip link` prints them (`NO-CARRIER`, names, leftover bits in hex, `M-DOWN`).
pub fn link_flags(flags: u32, mdown: bool) -> Vec<String> {
    let mut out = Vec::new();
    if flags & IFF_UP != 0 && flags & IFF_RUNNING == 0 {
        out.push("NO-CARRIER".to_string());
    }
    let mut rest = flags & !IFF_RUNNING;
    for (bit, name) in LINK_FLAGS {
        if rest & bit != 0 {
            rest &= !bit;
            out.push((*name).to_string());
        }
    }
    if rest != 0 {
        out.push(format!("{rest:x}"));
    }
    if mdown {
        out.push("M-DOWN".to_string());
    }
    out
}

fn mac_of(b: &[u8]) -> Option<MacAddr> {
    <[u8; 6]>::try_from(b).ok().map(MacAddr)
}

fn link_of(l: &LinkMessage, index: &HashMap<u32, (String, u32)>) -> Option<Link> {
    let name_of = |i: u32| index.get(&i).map_or_else(|| format!("if{i}"), |(n, _)| n.clone());
    let mut name = None;
    let mut mtu = 0;
    let mut mac = None;
    let mut master = None;
    let mut operstate = String::new();
    let mut iflink = None;
    let mut link_netns = false;
    let mut kind = String::new();
    let mut vx: Option<&[InfoVxlan]> = None;
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => mtu = *m,
            LinkAttribute::Address(b) => mac = mac_of(b),
            LinkAttribute::Controller(m) => master = Some(name_of(*m)),
            LinkAttribute::OperState(s) => {
                let n = u8::from(*s) as usize;
                operstate = OPER_STATES.get(n).map_or_else(String::new, |s| s.to_string());
            }
            LinkAttribute::Link(i) => iflink = Some(*i),
            LinkAttribute::LinkNetNsId(_) => link_netns = true,
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    match i {
                        LinkInfo::Kind(k) => kind = k.to_string(),
                        LinkInfo::Data(InfoData::Vxlan(v)) => vx = Some(v),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let name = name?;
    // print_name_and_link: a lower device in this namespace that is down (or unknown: -1
    // means every flag) shows as M-DOWN.
    let mdown = match iflink {
        Some(i) if i != 0 && !link_netns => index.get(&i).is_some_and(|(_, f)| f & IFF_UP == 0),
        _ => false,
    };
    let vxlan = match (kind == "vxlan", vx) {
        (true, Some(v)) => {
            let mut x = Vxlan { id: 0, local: None, port: None, dev: None };
            for a in v {
                match a {
                    InfoVxlan::Id(i) => x.id = *i,
                    InfoVxlan::Local(a) if !a.is_unspecified() => x.local = Some(IpAddr::V4(*a)),
                    InfoVxlan::Port(p) => x.port = Some(*p),
                    InfoVxlan::Link(i) if *i != 0 => x.dev = Some(name_of(*i)),
                    _ => {}
                }
            }
            Some(x)
        }
        _ => None,
    };
    Some(Link { ifindex: l.header.index, name, kind, mtu, mac, master, operstate, flags: link_flags(l.header.flags.bits(), mdown), vxlan })
}

fn addr_of(a: &AddressMessage, dev: &str) -> Option<Addr> {
    let mut local = None;
    let mut address = None;
    for x in &a.attributes {
        match x {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            _ => {}
        }
    }
    Some(Addr { dev: dev.to_string(), local: local.or(address)?, prefix_len: a.header.prefix_len, scope: RouteScope(u8::from(a.header.scope)) })
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

const RTM_F_CLONED: u32 = 0x200;
/// `print_rt_flags`: the order and names `ip route` prints.
const ROUTE_FLAGS: &[(u32, &str)] = &[
    (1, "dead"),
    (4, "onlink"),
    (2, "pervasive"),
    (8, "offload"),
    (64, "trap"),
    (0x100, "notify"),
    (16, "linkdown"),
    (32, "unresolved"),
    (0x4000, "rt_offload"),
    (0x8000, "rt_trap"),
    (0x2000_0000, "rt_offload_failed"),
];

/// Route flags as `ip route` prints them.
pub fn route_flags(flags: u32) -> Vec<String> {
    ROUTE_FLAGS.iter().filter(|(b, _)| flags & b != 0).map(|(_, n)| n.to_string()).collect()
}

fn route_of(r: &RouteMessage, name_of: &impl Fn(u32) -> String, names: &RtNames) -> Option<Route> {
    let h = &r.header;
    let v6 = match h.address_family {
        AddressFamily::Inet => false,
        AddressFamily::Inet6 => true,
        // IPMR / MPLS tables: not part of the capture's routes.
        _ => return None,
    };
    let flags = h.flags.bits();
    if flags & RTM_F_CLONED != 0 {
        return None;
    }
    let mut dst = None;
    let mut gateway = None;
    let mut via = None;
    let mut dev = None;
    let mut table = u32::from(h.table);
    let mut metric = 0;
    let mut prefsrc = None;
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(d) => dst = route_addr(d),
            RouteAttribute::Gateway(g) => gateway = route_addr(g),
            RouteAttribute::Via(RouteVia::Inet(v)) => via = Some(IpAddr::V4(*v)),
            RouteAttribute::Via(RouteVia::Inet6(v)) => via = Some(IpAddr::V6(*v)),
            RouteAttribute::Oif(i) => dev = Some(name_of(*i)),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::PrefSource(p) => prefsrc = route_addr(p),
            _ => {}
        }
    }
    let len = h.destination_prefix_length;
    let unspecified = if v6 { IpAddr::V6(Ipv6Addr::UNSPECIFIED) } else { IpAddr::V4(Ipv4Addr::UNSPECIFIED) };
    let is_default = dst.is_none() && len == 0;
    let dst = IpNet::new(dst.unwrap_or(unspecified), len).ok()?;
    Some(Route {
        kind: RouteType(u8::from(h.kind)),
        dst,
        is_default,
        gateway: gateway.or(via),
        dev,
        table: names.table(table),
        protocol: names.protocol(u8::from(h.protocol)),
        scope: RouteScope(u8::from(h.scope)),
        metric,
        prefsrc,
        flags: route_flags(flags),
    })
}

const FIB_RULE_INVERT: u32 = 2;
const FIB_RULE_UNRESOLVED: u32 = 4;
const FIB_RULE_IIF_DETACHED: u32 = 8;
const FIB_RULE_OIF_DETACHED: u32 = 0x10;

/// The JSON object `ip -j rule show` prints for one rule (iproute2's `print_rule`), so that
/// the rule's `text` and selectors come out of [`parse::rule_from`] exactly as from a capture.
pub fn rule_json(r: &RuleMessage, names: &RtNames) -> Value {
    let h = &r.header;
    let host_len: u8 = match h.family {
        AddressFamily::Inet6 => 128,
        _ => 32,
    };
    let flags = h.flags.bits();
    let mut o = Map::new();
    let attr = |f: &dyn Fn(&RuleAttribute) -> bool| r.attributes.iter().find(|a| f(a));
    let prio = r.attributes.iter().find_map(|a| if let RuleAttribute::Priority(p) = a { Some(*p) } else { None }).unwrap_or(0);
    o.insert("priority".into(), json!(prio));
    if flags & FIB_RULE_INVERT != 0 {
        o.insert("not".into(), Value::Null);
    }
    match attr(&|a| matches!(a, RuleAttribute::Source(_))) {
        Some(RuleAttribute::Source(ip)) => {
            o.insert("src".into(), json!(ip.to_string()));
            if h.src_len != host_len {
                o.insert("srclen".into(), json!(h.src_len));
            }
        }
        _ if h.src_len != 0 => {
            o.insert("src".into(), json!("0"));
            o.insert("srclen".into(), json!(h.src_len));
        }
        _ => {
            o.insert("src".into(), json!("all"));
        }
    }
    match attr(&|a| matches!(a, RuleAttribute::Destination(_))) {
        Some(RuleAttribute::Destination(ip)) => {
            o.insert("dst".into(), json!(ip.to_string()));
            if h.dst_len != host_len {
                o.insert("dstlen".into(), json!(h.dst_len));
            }
        }
        _ if h.dst_len != 0 => {
            o.insert("dst".into(), json!("0"));
            o.insert("dstlen".into(), json!(h.dst_len));
        }
        _ => {}
    }
    if h.tos != 0 {
        o.insert("tos".into(), json!(format!("0x{:02x}", h.tos)));
    }
    let mark = r.attributes.iter().find_map(|a| if let RuleAttribute::FwMark(m) = a { Some(*m) } else { None });
    let mask = r.attributes.iter().find_map(|a| if let RuleAttribute::FwMask(m) = a { Some(*m) } else { None });
    if mark.is_some() || mask.is_some() {
        o.insert("fwmark".into(), json!(format!("{:#x}", mark.unwrap_or(0))));
        if let Some(m) = mask.filter(|m| *m != u32::MAX) {
            o.insert("fwmask".into(), json!(format!("{m:#x}")));
        }
    }
    for a in &r.attributes {
        if let RuleAttribute::Iifname(n) = a {
            o.insert("iif".into(), json!(n));
            if flags & FIB_RULE_IIF_DETACHED != 0 {
                o.insert("iif_detached".into(), Value::Null);
            }
        }
    }
    for a in &r.attributes {
        if let RuleAttribute::Oifname(n) = a {
            o.insert("oif".into(), json!(n));
            if flags & FIB_RULE_OIF_DETACHED != 0 {
                o.insert("oif_detached".into(), Value::Null);
            }
        }
    }
    for a in &r.attributes {
        match a {
            RuleAttribute::L3MDev(true) => {
                o.insert("l3mdev".into(), Value::Null);
            }
            RuleAttribute::UidRange(u) => {
                o.insert("uid_start".into(), json!(u.start));
                o.insert("uid_end".into(), json!(u.end));
            }
            _ => {}
        }
    }
    for a in &r.attributes {
        if let RuleAttribute::IpProtocol(p) = a {
            let n = u8::from(*p);
            let name = match n {
                1 => "icmp".to_string(),
                6 => "tcp".to_string(),
                17 => "udp".to_string(),
                58 => "ipv6-icmp".to_string(),
                132 => "sctp".to_string(),
                n => format!("ipproto-{n}"),
            };
            o.insert("ipproto".into(), json!(name));
        }
    }
    for (key, range) in r.attributes.iter().filter_map(|a| match a {
        RuleAttribute::SourcePortRange(p) => Some(("sport", p)),
        RuleAttribute::DestinationPortRange(p) => Some(("dport", p)),
        _ => None,
    }) {
        if range.start == range.end {
            o.insert(key.into(), json!(range.start));
        } else {
            o.insert(format!("{key}_start"), json!(range.start));
            o.insert(format!("{key}_end"), json!(range.end));
        }
    }
    for a in &r.attributes {
        if let RuleAttribute::TunId(t) = a {
            o.insert("tun_id".into(), json!(u64::from_be(*t)));
        }
    }
    let table = r.attributes.iter().find_map(|a| if let RuleAttribute::Table(t) = a { Some(*t) } else { None }).unwrap_or(u32::from(h.table));
    if table != 0 {
        o.insert("table".into(), json!(names.table_name(table)));
        for a in &r.attributes {
            match a {
                RuleAttribute::SuppressPrefixLen(p) if *p != u32::MAX => {
                    o.insert("suppress_prefixlen".into(), json!(*p as i32));
                }
                RuleAttribute::SuppressIfGroup(g) if *g != u32::MAX => {
                    o.insert("suppress_ifgroup".into(), json!(g.to_string()));
                }
                _ => {}
            }
        }
    }
    for a in &r.attributes {
        if let RuleAttribute::Realm(re) = a {
            if re.source != 0 {
                o.insert("flow_from".into(), json!(re.source.to_string()));
            }
            o.insert("flow_to".into(), json!(re.destination.to_string()));
        }
    }
    let action = u8::from(h.action);
    match h.action {
        NlRuleAction::Goto => {
            match r.attributes.iter().find_map(|a| if let RuleAttribute::Goto(g) = a { Some(*g) } else { None }) {
                Some(g) => o.insert("goto".into(), json!(g)),
                None => o.insert("goto".into(), json!("none")),
            };
            if flags & FIB_RULE_UNRESOLVED != 0 {
                o.insert("unresolved".into(), Value::Null);
            }
        }
        NlRuleAction::Nop => {
            o.insert("nop".into(), Value::Null);
        }
        NlRuleAction::ToTable => {}
        // RTN_NAT (10): map-to / masquerade, long gone from the kernel.
        _ if action == 10 => {
            o.insert("masquerade".into(), Value::Null);
        }
        _ => {
            o.insert("action".into(), json!(RouteType(action).to_string()));
        }
    }
    for a in &r.attributes {
        if let RuleAttribute::Protocol(p) = a {
            let p = u8::from(*p);
            if p != 0 && p != 2 {
                o.insert("protocol".into(), json!(names.protocol_name(p)));
            }
        }
    }
    Value::Object(o)
}

fn rule_of(r: &RuleMessage, names: &RtNames) -> Option<IpRule> {
    let v = rule_json(r, names);
    parse::rule_from(crate::util::At::root(&v, "$")).ok()
}

const NUD_NOARP: u16 = 0x40;
/// `print_neigh_state`.
const NUD_NAMES: &[(u16, &str)] =
    &[(0x01, "INCOMPLETE"), (0x02, "REACHABLE"), (0x04, "STALE"), (0x08, "DELAY"), (0x10, "PROBE"), (0x20, "FAILED"), (0x40, "NOARP"), (0x80, "PERMANENT")];
const NTF_PROXY: u8 = 0x08;
const NTF_EXT_LEARNED: u8 = 0x10;

fn neigh_addr(a: &NeighbourAddress) -> Option<IpAddr> {
    match a {
        NeighbourAddress::Inet(v) => Some(IpAddr::V4(*v)),
        NeighbourAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        NeighbourAddress::Other(b) => match b.len() {
            4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(|b| IpAddr::V4(b.into())),
            16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(|b| IpAddr::V6(b.into())),
            _ => None,
        },
        _ => None,
    }
}

fn neigh_of(n: &NeighbourMessage, name_of: &impl Fn(u32) -> String) -> Option<Neigh> {
    let state = u16::from(n.header.state);
    let flags = n.header.flags.bits();
    // `ip neigh show` hides NOARP and NONE entries unless proxy or externally learned.
    let shown = 0xFF & !NUD_NOARP;
    if state & shown == 0 && flags & NTF_PROXY == 0 && flags & NTF_EXT_LEARNED == 0 {
        return None;
    }
    if n.header.ifindex == 0 {
        return None;
    }
    let mut dst = None;
    let mut lladdr = None;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::Destination(d) => dst = neigh_addr(d),
            NeighbourAttribute::LinkLayerAddress(b) => lladdr = mac_of(b),
            _ => {}
        }
    }
    Some(Neigh {
        dst: dst?,
        dev: name_of(n.header.ifindex),
        lladdr,
        state: NUD_NAMES.iter().filter(|(b, _)| state & b != 0).map(|(_, s)| s.to_string()).collect(),
    })
}

/// `fdb_print_flags`.
const FDB_FLAGS: &[(u8, &str)] = &[(0x02, "self"), (0x80, "router"), (0x10, "extern_learn"), (0x20, "offload"), (0x04, "master"), (0x40, "sticky")];

/// `bridge fdb`'s `state_n2a`.
pub fn fdb_state(s: u16) -> String {
    if s & 0x80 != 0 {
        "permanent".into()
    } else if s & NUD_NOARP != 0 {
        "static".into()
    } else if s & 0x04 != 0 {
        "stale".into()
    } else if s & 0x02 != 0 {
        String::new()
    } else if s == 0 {
        // C's "%#x" of zero
        "0".into()
    } else {
        format!("{s:#x}")
    }
}

fn fdb_of(n: &NeighbourMessage, name_of: &impl Fn(u32) -> String) -> Option<FdbEntry> {
    if n.header.family != AddressFamily::Bridge {
        return None;
    }
    let mut mac = None;
    let mut dst = None;
    for a in &n.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(b) => mac = mac_of(b),
            NeighbourAttribute::Destination(d) => dst = neigh_addr(d),
            _ => {}
        }
    }
    let flags = n.header.flags.bits();
    Some(FdbEntry {
        mac: mac?,
        dev: if n.header.ifindex != 0 { name_of(n.header.ifindex) } else { return None },
        dst,
        flags: FDB_FLAGS.iter().filter(|(b, _)| flags & b != 0).map(|(_, s)| s.to_string()).collect(),
        state: Some(fdb_state(u16::from(n.header.state))),
    })
}

/// Routing table and protocol names as iproute2 reads them (`rt_tables`, `rt_protos` and
/// their `.d` folders under `<root>/etc/iproute2`, over its built-in names), so a table a
/// host named prints, and is typed, as `ip` shows it.
#[derive(Debug, Clone, Default)]
pub struct RtNames {
    tables: HashMap<u32, String>,
    protos: HashMap<u8, String>,
}

impl RtNames {
    /// Built-in names plus the host's files under `root`.
    pub fn load(root: &Path) -> RtNames {
        let dir = root.join("etc/iproute2");
        let mut n = RtNames::default();
        for (id, name) in [(255, "local"), (254, "main"), (253, "default"), (0, "unspec")] {
            n.tables.insert(id, name.to_string());
        }
        let read = |f: &Path, into: &mut dyn FnMut(u32, String)| {
            if let Ok(t) = crate::util::read_text(f, 1 << 20) {
                for l in t.lines() {
                    let l = l.trim_start();
                    if l.starts_with('#') || l.is_empty() {
                        continue;
                    }
                    let mut w = l.split_whitespace();
                    let (Some(id), Some(name)) = (w.next(), w.next()) else { return };
                    let id = match id.strip_prefix("0x") {
                        Some(h) => u32::from_str_radix(h, 16).ok(),
                        None => id.parse::<u32>().ok(),
                    };
                    match id {
                        Some(id) => into(id, name.to_string()),
                        None => return,
                    }
                }
            }
        };
        let with_d = |base: &str| {
            let mut files = vec![dir.join(base)];
            if let Ok(rd) = std::fs::read_dir(dir.join(format!("{base}.d"))) {
                let mut d: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "conf")).collect();
                d.sort();
                files.extend(d);
            }
            files
        };
        for f in with_d("rt_tables") {
            read(&f, &mut |id, name| {
                n.tables.insert(id, name);
            });
        }
        let mut protos = HashMap::new();
        for f in with_d("rt_protos") {
            read(&f, &mut |id, name| {
                if id < 256 {
                    protos.insert(id as u8, name);
                }
            });
        }
        n.protos = protos;
        n
    }

    /// The table's name as `ip` prints it (the number when unnamed).
    pub fn table_name(&self, id: u32) -> String {
        self.tables.get(&id).cloned().unwrap_or_else(|| id.to_string())
    }

    /// The table, typed as the capture parser types `ip`'s output.
    pub fn table(&self, id: u32) -> Table {
        self.table_name(id).parse().unwrap_or(Table::Id(id))
    }

    /// The protocol's name as `ip` prints it.
    pub fn protocol_name(&self, p: u8) -> String {
        match self.protos.get(&p) {
            Some(n) => n.clone(),
            None => Protocol::Id(p).to_string(),
        }
    }

    /// The protocol, typed as the capture parser types `ip`'s output.
    pub fn protocol(&self, p: u8) -> Protocol {
        self.protocol_name(p).parse().unwrap_or(Protocol::Id(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_print_as_ip_prints_them() {
        // UP without RUNNING: NO-CARRIER first; BROADCAST,MULTICAST,UP order.
        assert_eq!(link_flags(0x1 | 0x2 | 0x1000, false), ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"]);
        assert_eq!(link_flags(0x1 | 0x8 | 0x40 | 0x10000, false), ["LOOPBACK", "UP", "LOWER_UP"]);
        assert_eq!(link_flags(0x2 | 0x1000, true), ["BROADCAST", "MULTICAST", "M-DOWN"]);
        assert_eq!(route_flags(4 | 16), ["onlink", "linkdown"]);
        assert_eq!(fdb_state(0x80), "permanent");
        assert_eq!(fdb_state(0x02), "");
    }

    #[test]
    fn names_follow_rt_tables() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc/iproute2/rt_tables.d")).unwrap();
        std::fs::write(dir.path().join("etc/iproute2/rt_tables"), "255 local\n254 main\n# c\n0x64 cni\n").unwrap();
        std::fs::write(dir.path().join("etc/iproute2/rt_tables.d/x.conf"), "200 calico\n").unwrap();
        std::fs::write(dir.path().join("etc/iproute2/rt_protos"), "80 felix\n").unwrap();
        let n = RtNames::load(dir.path());
        assert_eq!(n.table(100), Table::Named("cni".into()));
        assert_eq!(n.table(200), Table::Named("calico".into()));
        assert_eq!(n.table(254), Table::MAIN);
        assert_eq!(n.table(7), Table::Id(7));
        assert_eq!(n.protocol(80), Protocol::Named("felix".into()));
        assert_eq!(n.protocol(12), Protocol::BIRD);
    }
}
