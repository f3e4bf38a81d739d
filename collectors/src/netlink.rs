//! The netlink source: iproute2's JSON (`ip -j -d link|addr|route|rule|neigh`,
//! `bridge -j fdb`, iproute2 5.x–6.x) parsed strictly into typed facts, one
//! entry at a time. A value of the wrong type or out of range is an error
//! with its JSON path (`$[12].mtu: expected an integer 0-4294967295, got
//! "abc"`), never a default. The live collector (rtnetlink) produces the same
//! facts.
//!
//! Each `*_from` function reads one entry; [`parse`] and [`read`] run one over
//! a whole array (text, or a reader streamed item by item).

use crate::error::{shape, ParseError};
use crate::util::{for_each_json_item, At, Errors};
use ipnet::IpNet;
use netdoctor_engine::model::*;
use serde_json::Value;
use std::io::Read;
use std::net::IpAddr;

const U32: i64 = u32::MAX as i64;

/// Runs `item` over every entry of a JSON array read from `reader`, collecting up to
/// [`Errors::CAP`] errors: any error makes the whole result an error.
pub fn read<T>(reader: impl Read, mut item: impl FnMut(At) -> Result<T, ParseError>) -> Result<Vec<T>, ParseError> {
    let mut out = Vec::new();
    let mut errors = Errors::default();
    for_each_json_item(reader, &mut |i, v| {
        let path = format!("$[{i}]");
        match item(At::root(&v, &path)) {
            Ok(x) => out.push(x),
            Err(e) => errors.push(e),
        }
        Ok(())
    })?;
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ParseError::Entries(errors.message()))
    }
}

/// [`read`] over text.
pub fn parse<T>(text: &str, item: impl FnMut(At) -> Result<T, ParseError>) -> Result<Vec<T>, ParseError> {
    read(text.as_bytes(), item)
}

fn mac(at: At, key: &str) -> Result<Option<MacAddr>, ParseError> {
    at.parsed::<MacAddr>(key, "a MAC address")
}

/// A link-layer address as a MAC when it is one (loopback, tunnels and IPIP print other forms).
fn lladdr(at: At, key: &str) -> Result<Option<MacAddr>, ParseError> {
    match at.str(key)? {
        Some(s) if s.split(':').count() == 6 => mac(at, key),
        _ => Ok(None),
    }
}

/// One link of `ip -j -d link show` (or the link part of `ip -j -d addr show`).
pub fn link_from(at: At) -> Result<Link, ParseError> {
    let info = at.obj("linkinfo")?;
    let info_v = at.get("linkinfo");
    let (kind, vxlan) = match info_v {
        Some(iv) => {
            let path = format!("{}.linkinfo", at.path);
            let i = At::root(iv, &path);
            let kind = i.str("info_kind")?.unwrap_or("").to_string();
            let vx = if kind == "vxlan" {
                match i.get("info_data") {
                    Some(d) => {
                        let dpath = format!("{path}.info_data");
                        let d = At::root(d, &dpath);
                        Some(Vxlan {
                            id: d.int("id", 0, (1 << 24) - 1)?.ok_or_else(|| shape(format!("{dpath}.id"), "a VXLAN id 0-16777215, got nothing"))? as u32,
                            local: d.parsed::<IpAddr>("local", "an IP address")?,
                            port: d.int("port", 0, 65535)?.map(|p| p as u16),
                            dev: d.str("link")?.map(str::to_string),
                        })
                    }
                    None => None,
                }
            } else {
                None
            };
            (kind, vx)
        }
        None => (String::new(), None),
    };
    let _ = info;
    Ok(Link {
        ifindex: at.int("ifindex", 0, U32)?.unwrap_or(0) as u32,
        name: at.req_str("ifname")?.to_string(),
        kind,
        mtu: at.int("mtu", 0, U32)?.ok_or_else(|| shape(format!("{}.mtu", at.path), "an integer, got nothing"))? as u32,
        mac: lladdr(at, "address")?,
        master: at.str("master")?.map(str::to_string),
        operstate: at.str("operstate")?.unwrap_or("").to_string(),
        flags: at.strs("flags")?,
        vxlan,
    })
}

/// One interface of `ip -j -d addr show`: its link and its addresses.
pub fn addr_entry_from(at: At) -> Result<(Link, Vec<Addr>), ParseError> {
    let link = link_from(at)?;
    let mut addrs = Vec::new();
    for (k, a) in at.arr("addr_info")?.iter().enumerate() {
        let path = format!("{}.addr_info[{k}]", at.path);
        let a = At::root(a, &path);
        // `ip -j addr` emits `{}` placeholders for some address-less entries.
        let Some(local) = a.parsed::<IpAddr>("local", "an IP address")? else { continue };
        let max = if local.is_ipv4() { 32 } else { 128 };
        let prefix = a.int("prefixlen", 0, max)?.ok_or_else(|| shape(format!("{path}.prefixlen"), format!("a prefix length 0-{max}, got nothing")))?;
        addrs.push(Addr {
            dev: link.name.clone(),
            local,
            prefix_len: prefix as u8,
            scope: a.parsed::<RouteScope>("scope", "a scope (global, link, host, ...)")?.unwrap_or(RouteScope::GLOBAL),
        });
    }
    Ok((link, addrs))
}

/// A string or number field as text (iproute2 prints unnamed tables and protocols as numbers).
fn name_or_number(at: At, key: &str) -> Result<Option<String>, ParseError> {
    match at.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(Some(n.to_string())),
        Some(other) => Err(shape(crate::util::join(at.path, key), format!("a name or a number, got {}", crate::util::kind_of(other)))),
    }
}

/// Route address family: from `family`, dst / gateway / prefsrc, else the file's default.
fn route_is_v6(at: At, default_v6: bool) -> bool {
    if let Ok(Some(f)) = at.str("family") {
        return f == "inet6";
    }
    let fam = |k: &str| at.v.get(k).and_then(Value::as_str).filter(|v| *v != "default").map(|v| v.contains(':'));
    fam("dst")
        .or_else(|| fam("gateway"))
        .or_else(|| fam("prefsrc"))
        .or_else(|| at.v.get("via").and_then(|v| v.get("family")).and_then(Value::as_str).map(|f| f == "inet6"))
        .unwrap_or(default_v6)
}

/// One route of `ip -j -d route show table all`; `v6_file` for `ip -6 ...` output.
pub fn route_from(at: At, v6_file: bool) -> Result<Route, ParseError> {
    let dst_raw = at.req_str("dst")?;
    let v6 = route_is_v6(at, v6_file);
    let is_default = dst_raw == "default";
    let dst = if is_default {
        if v6 {
            IpNet::V6(Default::default())
        } else {
            IpNet::V4(Default::default())
        }
    } else {
        netdoctor_engine::net::parse_net(dst_raw).ok_or_else(|| shape(format!("{}.dst", at.path), format!("`default` or a CIDR, got {dst_raw:?}")))?
    };
    let gateway = match at.parsed::<IpAddr>("gateway", "an IP address")? {
        Some(g) => Some(g),
        None => match at.get("via") {
            Some(v) => {
                let path = format!("{}.via", at.path);
                At::root(v, &path).parsed::<IpAddr>("host", "an IP address")?
            }
            None => None,
        },
    };
    let bad = |key: &str, what: &str, got: String| shape(format!("{}.{key}", at.path), format!("{what}, got {got:?}"));
    let table = match name_or_number(at, "table")? {
        Some(t) => t.parse::<Table>().map_err(|_| bad("table", "a routing table", t))?,
        None => Table::MAIN,
    };
    let protocol = match name_or_number(at, "protocol")? {
        Some(p) => p.parse::<Protocol>().map_err(|_| bad("protocol", "a route protocol", p))?,
        None => Protocol::BOOT,
    };
    let kind = at.parsed::<RouteType>("type", "a route type (unicast, local, blackhole, ...)")?.unwrap_or(RouteType::UNICAST);
    Ok(Route {
        kind,
        dst,
        is_default,
        gateway,
        dev: at.str("dev")?.map(str::to_string),
        table,
        protocol,
        scope: at.parsed::<RouteScope>("scope", "a scope")?.unwrap_or(RouteScope::GLOBAL),
        metric: at.int("metric", 0, U32)?.unwrap_or(0) as u32,
        prefsrc: at.parsed::<IpAddr>("prefsrc", "an IP address")?,
        flags: at.strs("flags")?,
    })
}

/// One rule of `ip -j rule show`.
pub fn rule_from(at: At) -> Result<IpRule, ParseError> {
    const PLAIN: &[&str] = &["priority", "src", "srclen", "dst", "dstlen", "table", "action", "flags", "family", "protocol", "not", "l3mdev"];
    let obj = at.v.as_object().ok_or_else(|| shape(at.path, format!("an object, got {}", crate::util::kind_of(at.v))))?;
    let net_of = |k: &str, len: &str| -> Result<Option<IpNet>, ParseError> {
        let Some(v) = at.str(k)? else { return Ok(None) };
        if v == "all" {
            return Ok(None);
        }
        let l = at.int(len, 0, 128)?;
        let text = match l {
            Some(l) => format!("{v}/{l}"),
            None => v.to_string(),
        };
        netdoctor_engine::net::parse_net(&text).map(Some).ok_or_else(|| shape(format!("{}.{k}", at.path), format!("an address or CIDR, got {text:?}")))
    };
    let has_other_selector = obj.keys().any(|k| !PLAIN.contains(&k.as_str()))
        && !(obj.get("iif").and_then(Value::as_str) == Some("lo") && obj.keys().filter(|k| !PLAIN.contains(&k.as_str())).count() == 1);
    let table = match name_or_number(at, "table")? {
        Some(t) => Some(t.parse::<Table>().map_err(|_| shape(format!("{}.table", at.path), format!("a routing table, got {t:?}")))?),
        None => None,
    };
    let action = match (at.str("action")?, table) {
        (Some("to_tbl") | None, Some(t)) => RuleAction::Lookup(t),
        (Some(a @ ("blackhole" | "unreachable" | "prohibit")), _) => {
            RuleAction::Drop(a.parse().map_err(|_| shape(format!("{}.action", at.path), "a rule action"))?)
        }
        (Some(a), _) => RuleAction::Other(a.to_string()),
        (None, None) => RuleAction::Other("nop".to_string()),
    };
    let priority = at.int("priority", 0, U32)?.unwrap_or(0);
    let text = std::iter::once(format!("{priority}:"))
        .chain(
            obj.iter()
                .filter(|(k, _)| k.as_str() != "priority")
                .map(|(k, v)| format!("{k} {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))),
        )
        .collect::<Vec<_>>()
        .join(" ");
    Ok(IpRule {
        priority: priority as u32,
        src: net_of("src", "srclen")?,
        dst: net_of("dst", "dstlen")?,
        action,
        has_other_selector,
        not: obj.contains_key("not"),
        text,
    })
}

/// One entry of `ip -j neigh show`.
pub fn neigh_from(at: At) -> Result<Neigh, ParseError> {
    Ok(Neigh {
        dst: at.parsed::<IpAddr>("dst", "an IP address")?.ok_or_else(|| shape(format!("{}.dst", at.path), "an IP address, got nothing"))?,
        dev: at.req_str("dev")?.to_string(),
        lladdr: lladdr(at, "lladdr")?,
        state: at.strs("state")?,
    })
}

/// One entry of `bridge -j fdb show`.
pub fn fdb_from(at: At) -> Result<FdbEntry, ParseError> {
    let dev = match (at.str("ifname")?, at.str("dev")?) {
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => at.req_str("ifname")?,
    };
    Ok(FdbEntry {
        mac: mac(at, "mac")?.ok_or_else(|| shape(format!("{}.mac", at.path), "a MAC address, got nothing"))?,
        dev: dev.to_string(),
        dst: at.parsed::<IpAddr>("dst", "an IP address")?,
        flags: at.strs("flags")?,
        state: at.str("state")?.map(str::to_string),
    })
}

/// `ip -j -d link show`.
pub fn parse_links(text: &str) -> Result<Vec<Link>, ParseError> {
    parse(text, link_from)
}

/// `ip -j -d addr show`: the links (the same objects carry link fields) and the addresses.
pub fn parse_addrs(text: &str) -> Result<(Vec<Link>, Vec<Addr>), ParseError> {
    split_addrs(parse(text, addr_entry_from)?)
}

/// Splits `ip addr` entries into links and addresses.
pub fn split_addrs(entries: Vec<(Link, Vec<Addr>)>) -> Result<(Vec<Link>, Vec<Addr>), ParseError> {
    let mut links = Vec::new();
    let mut addrs = Vec::new();
    for (l, a) in entries {
        links.push(l);
        addrs.extend(a);
    }
    Ok((links, addrs))
}

/// `ip -j -d route show table all` (both families), or `ip -j -d -6 route ...` when `v6_file`.
pub fn parse_routes(text: &str, v6_file: bool) -> Result<Vec<Route>, ParseError> {
    parse(text, |at| route_from(at, v6_file))
}

/// `ip -j rule show`.
pub fn parse_rules(text: &str) -> Result<Vec<IpRule>, ParseError> {
    parse(text, rule_from)
}

/// `ip -j neigh show`.
pub fn parse_neigh(text: &str) -> Result<Vec<Neigh>, ParseError> {
    parse(text, neigh_from)
}

/// `bridge -j fdb show`.
pub fn parse_fdb(text: &str) -> Result<Vec<FdbEntry>, ParseError> {
    parse(text, fdb_from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_types_are_errors_with_their_path() {
        let e = parse_links(r#"[{"ifname":"eth0","mtu":1500},{"ifname":"eth1","mtu":"abc"}]"#).unwrap_err().to_string();
        assert!(e.contains("$[1].mtu: expected an integer 0-4294967295, got \"abc\""), "{e}");
        let e = parse_addrs(r#"[{"ifname":"eth0","mtu":1500,"addr_info":[{"local":"10.0.0.1","prefixlen":300}]}]"#).unwrap_err().to_string();
        assert!(e.contains("$[0].addr_info[0].prefixlen: expected an integer 0-32, got 300"), "{e}");
        let e = parse_routes(r#"[{"dst":"10.0.0.0/8","dev":42}]"#, false).unwrap_err().to_string();
        assert!(e.contains("$[0].dev: expected a string, got 42"), "{e}");
        assert!(parse_routes(r#"[{"dst":"default","table":"254"}]"#, false).unwrap()[0].table.is_main());
        let e = parse_neigh(r#"[{"dst":"10.0.0.1","dev":"flannel.1","lladdr":"zz:bb:cc:dd:ee:ff"}]"#).unwrap_err().to_string();
        assert!(e.contains("lladdr: expected a MAC address"), "{e}");
    }
}
