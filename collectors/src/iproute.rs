//! Parsers for iproute2's JSON: `ip -j -d link|addr|route|rule|neigh` and
//! `bridge -j fdb`, as iproute2 5.x–6.x print them. Pure functions over text.

use crate::error::{shape, ParseError};
use ipnet::IpNet;
use netdoctor_engine::model::{Addr, FdbEntry, IpRule, Link, Neigh, Route};
use netdoctor_engine::net;
use serde_json::Value;
use std::net::IpAddr;

fn array(text: &str) -> Result<Vec<Value>, ParseError> {
    let v: Value = serde_json::from_str(text)?;
    match v {
        Value::Array(a) => Ok(a),
        _ => Err(shape("$", "a JSON array (the output of `ip -j ...`)")),
    }
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_string)
}

fn i(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn strs(v: &Value, k: &str) -> Vec<String> {
    v.get(k).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default()
}

fn need_str(v: &Value, k: &str, path: &str) -> Result<String, ParseError> {
    s(v, k).ok_or_else(|| shape(format!("{path}.{k}"), "a string"))
}

fn link_from(o: &Value, path: &str) -> Result<Link, ParseError> {
    let info = o.get("linkinfo");
    let kind = info.and_then(|l| s(l, "info_kind")).unwrap_or_default();
    let data = info.and_then(|l| l.get("info_data"));
    let vx = if kind == "vxlan" { data } else { None };
    Ok(Link {
        ifindex: i(o, "ifindex").unwrap_or(0),
        name: need_str(o, "ifname", path)?,
        kind,
        mtu: i(o, "mtu").unwrap_or(0),
        mac: s(o, "address"),
        master: s(o, "master"),
        operstate: s(o, "operstate").unwrap_or_default(),
        flags: strs(o, "flags"),
        vxlan_id: vx.and_then(|d| i(d, "id")),
        vxlan_local: vx.and_then(|d| s(d, "local")),
        vxlan_port: vx.and_then(|d| i(d, "port")),
    })
}

/// `ip -j -d link show`.
pub fn parse_links(text: &str) -> Result<Vec<Link>, ParseError> {
    array(text)?.iter().enumerate().map(|(n, o)| link_from(o, &format!("[{n}]"))).collect()
}

/// `ip -j -d addr show`: the addresses, and the links (the same objects carry link fields).
pub fn parse_addrs(text: &str) -> Result<(Vec<Link>, Vec<Addr>), ParseError> {
    let mut links = Vec::new();
    let mut addrs = Vec::new();
    for (n, o) in array(text)?.iter().enumerate() {
        let path = format!("[{n}]");
        let link = link_from(o, &path)?;
        for (k, a) in o.get("addr_info").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let apath = format!("{path}.addr_info[{k}]");
            // `ip -j addr` emits `{}` placeholders for some address-less entries.
            let Some(local) = s(a, "local") else { continue };
            let ip: IpAddr = local.parse().map_err(|_| shape(format!("{apath}.local"), "an IP address"))?;
            let prefix = i(a, "prefixlen").ok_or_else(|| shape(format!("{apath}.prefixlen"), "a number"))?;
            addrs.push(Addr { dev: link.name.clone(), local: ip, prefix_len: prefix as u8, scope: s(a, "scope").unwrap_or_default() });
        }
        links.push(link);
    }
    Ok((links, addrs))
}

/// Route address family: from dst / gateway / prefsrc, else the file's default.
fn route_is_v6(o: &Value, default_v6: bool) -> bool {
    let fam = |k: &str| s(o, k).filter(|v| v != "default").map(|v| v.contains(':'));
    if let Some(f) = s(o, "family") {
        return f == "inet6";
    }
    fam("dst").or_else(|| fam("gateway")).or_else(|| fam("prefsrc")).or_else(|| {
        o.get("via").and_then(|v| s(v, "family")).map(|f| f == "inet6")
    }).unwrap_or(default_v6)
}

/// `ip -j -d route show table all` (both families) or `ip -j -d -6 route ...` when `v6_file`.
pub fn parse_routes(text: &str, v6_file: bool) -> Result<Vec<Route>, ParseError> {
    let mut out = Vec::new();
    for (n, o) in array(text)?.iter().enumerate() {
        let path = format!("[{n}]");
        let dst_raw = need_str(o, "dst", &path)?;
        let v6 = route_is_v6(o, v6_file);
        let is_default = dst_raw == "default";
        let dst = if is_default {
            if v6 {
                "::/0".parse::<IpNet>().expect("literal")
            } else {
                "0.0.0.0/0".parse::<IpNet>().expect("literal")
            }
        } else {
            net::parse_net(&dst_raw).ok_or_else(|| shape(format!("{path}.dst"), "`default` or a CIDR"))?
        };
        let gateway = s(o, "gateway").or_else(|| o.get("via").and_then(|v| s(v, "host")));
        let gateway = match gateway {
            Some(g) => Some(g.parse().map_err(|_| shape(format!("{path}.gateway"), "an IP address"))?),
            None => None,
        };
        let table = match o.get("table") {
            Some(Value::String(t)) => t.clone(),
            Some(Value::Number(t)) => t.to_string(),
            _ => "main".to_string(),
        };
        out.push(Route {
            kind: s(o, "type").unwrap_or_else(|| "unicast".to_string()),
            dst,
            is_default,
            gateway,
            dev: s(o, "dev"),
            table,
            protocol: o.get("protocol").map(|p| p.as_str().map(str::to_string).unwrap_or_else(|| p.to_string())),
            scope: s(o, "scope"),
            metric: i(o, "metric").unwrap_or(0),
            prefsrc: s(o, "prefsrc").and_then(|p| p.parse().ok()),
            flags: strs(o, "flags"),
        });
    }
    Ok(out)
}

/// `ip -j rule show`.
pub fn parse_rules(text: &str) -> Result<Vec<IpRule>, ParseError> {
    const PLAIN: &[&str] = &["priority", "src", "srclen", "dst", "dstlen", "table", "action", "flags", "family", "protocol", "not", "l3mdev"];
    let mut out = Vec::new();
    for (n, o) in array(text)?.iter().enumerate() {
        let path = format!("[{n}]");
        let obj = o.as_object().ok_or_else(|| shape(&path, "an object"))?;
        let net_of = |k: &str, len: &str| -> Option<IpNet> {
            let v = s(o, k)?;
            if v == "all" {
                return None;
            }
            match i(o, len) {
                Some(l) => net::parse_net(&format!("{v}/{l}")),
                None => net::parse_net(&v),
            }
        };
        let has_other_selector = obj.keys().any(|k| !PLAIN.contains(&k.as_str()))
            && !(obj.get("iif").and_then(Value::as_str) == Some("lo") && obj.keys().filter(|k| !PLAIN.contains(&k.as_str())).count() == 1);
        let action = match s(o, "action") {
            Some(a) => a,
            None if obj.contains_key("table") => "lookup".to_string(),
            None => "nop".to_string(),
        };
        let table = o.get("table").map(|t| t.as_str().map(str::to_string).unwrap_or_else(|| t.to_string()));
        let text = std::iter::once(format!("{}:", i(o, "priority").unwrap_or(0)))
            .chain(obj.iter().filter(|(k, _)| k.as_str() != "priority").map(|(k, v)| format!("{k} {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))))
            .collect::<Vec<_>>()
            .join(" ");
        out.push(IpRule {
            priority: i(o, "priority").unwrap_or(0),
            src: net_of("src", "srclen"),
            dst: net_of("dst", "dstlen"),
            action: if action == "to_tbl" { "lookup".to_string() } else { action },
            table,
            has_other_selector,
            not: obj.contains_key("not"),
            text,
        });
    }
    Ok(out)
}

/// `ip -j neigh show`.
pub fn parse_neigh(text: &str) -> Result<Vec<Neigh>, ParseError> {
    let mut out = Vec::new();
    for (n, o) in array(text)?.iter().enumerate() {
        let path = format!("[{n}]");
        let dst = need_str(o, "dst", &path)?;
        out.push(Neigh {
            dst: dst.parse().map_err(|_| shape(format!("{path}.dst"), "an IP address"))?,
            dev: need_str(o, "dev", &path)?,
            lladdr: s(o, "lladdr"),
            state: strs(o, "state"),
        });
    }
    Ok(out)
}

/// `bridge -j fdb show`.
pub fn parse_fdb(text: &str) -> Result<Vec<FdbEntry>, ParseError> {
    let mut out = Vec::new();
    for (n, o) in array(text)?.iter().enumerate() {
        let path = format!("[{n}]");
        let dst = match s(o, "dst") {
            Some(d) => Some(d.parse().map_err(|_| shape(format!("{path}.dst"), "an IP address"))?),
            None => None,
        };
        out.push(FdbEntry {
            mac: need_str(o, "mac", &path)?,
            dev: s(o, "ifname").or_else(|| s(o, "dev")).ok_or_else(|| shape(format!("{path}.ifname"), "a string"))?,
            dst,
            flags: strs(o, "flags"),
            state: s(o, "state"),
        });
    }
    Ok(out)
}
