//! Global helper functions of the rule API: CIDR maths, address tests, time
//! and text. Addresses and CIDRs are strings, as rules hold them.

use super::*;
use crate::net;

/// Registers the helpers.
pub fn register(r: &mut Reg) {
    r.engine
        .register_fn("cidr_contains", |cidr: &str, ip: &str| -> R<bool> { Ok(parse_net_arg(cidr)?.contains(&parse_ip_arg(ip)?)) })
        .register_fn("cidr_overlaps", |a: &str, b: &str| -> R<bool> { Ok(net::overlaps(&parse_net_arg(a)?, &parse_net_arg(b)?)) })
        .register_fn("cidr_network", |cidr: &str| -> R<String> { Ok(parse_net_arg(cidr)?.trunc().to_string()) })
        .register_fn("cidr_base", |cidr: &str| -> R<String> { Ok(parse_net_arg(cidr)?.network().to_string()) })
        .register_fn("cidr_prefix_len", |cidr: &str| -> R<i64> { Ok(i64::from(parse_net_arg(cidr)?.prefix_len())) })
        .register_fn("is_ip", |s: &str| s.trim().parse::<std::net::IpAddr>().is_ok())
        .register_fn("is_ipv4", |s: &str| net::parse_ip(s).is_some_and(|i| i.is_ipv4()))
        .register_fn("is_loopback", |s: &str| -> R<bool> { Ok(net::is_loopback(&parse_ip_arg(s)?)) })
        .register_fn("rfc3339_seconds", |ts: &str| opt(crate::time::parse_rfc3339(ts)))
        .register_fn("human_duration", crate::time::human_duration)
        .register_fn("join", |a: Array, sep: &str| -> String { a.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(sep) })
        .register_fn("sample", |a: Array, n: i64| -> Array {
            let n = usize::try_from(n).unwrap_or(0);
            if a.len() <= n {
                return a;
            }
            let more = a.len() - n;
            let mut out: Array = a.into_iter().take(n).collect();
            out.push(Dynamic::from(format!("(+{more} more)")));
            out
        });
    r.doc("", "cidr_contains", "cidr_contains(cidr, ip) -> bool", "Whether a CIDR contains an address.", "cidr_contains(\"10.96.0.0/12\", \"10.96.0.1\")")
        .doc("", "cidr_overlaps", "cidr_overlaps(a, b) -> bool", "Whether two CIDRs share an address.", "cidr_overlaps(\"10.0.0.0/8\", \"10.244.0.0/16\")")
        .doc("", "cidr_network", "cidr_network(cidr) -> string", "The network of a CIDR, as a CIDR.", "cidr_network(\"10.244.1.7/24\") == \"10.244.1.0/24\"")
        .doc("", "cidr_base", "cidr_base(cidr) -> string", "The network address of a CIDR, as an address.", "cidr_base(\"10.244.1.7/24\") == \"10.244.1.0\"")
        .doc("", "cidr_prefix_len", "cidr_prefix_len(cidr) -> int", "Prefix length.", "cidr_prefix_len(\"10.244.0.0/16\") == 16")
        .doc("", "is_ip", "is_ip(s) -> bool", "Whether a string is an IP address.", "is_ip(\"10.0.0.1\")")
        .doc("", "is_ipv4", "is_ipv4(s) -> bool", "Whether a string is an IPv4 address (or CIDR).", "is_ipv4(\"10.0.0.1\")")
        .doc("", "is_loopback", "is_loopback(ip) -> bool", "127.0.0.0/8 or ::1.", "is_loopback(\"127.0.0.53\")")
        .doc(
            "",
            "rfc3339_seconds",
            "rfc3339_seconds(ts) -> int | ()",
            "Unix seconds of an RFC 3339 timestamp (fractions and offsets accepted); () when it does not parse.",
            "rfc3339_seconds(\"2024-05-20T08:30:00Z\") == 1716193800",
        )
        .doc(
            "",
            "human_duration",
            "human_duration(seconds) -> string",
            "A duration as kubectl prints ages: `45s`, `12m`, `3h12m`, `2d4h`.",
            "human_duration(11520) == \"3h12m\"",
        )
        .doc("", "join", "join(array, sep) -> string", "Joins array items as text.", "join(names, \", \")")
        .doc(
            "",
            "sample",
            "sample(array, n) -> array",
            "At most `n` items, then `\"(+K more)\"` when there were more: evidence stays readable on 5,000-node clusters.",
            "nodes: sample(g.nodes.map(|n| n.name), 20)",
        );
}
