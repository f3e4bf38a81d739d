//! IP and CIDR helpers shared by the graph, the route lookup and the rule API.
//!
//! Everything here is a pure function over `std::net` / `ipnet` values; the
//! Rhai bindings in `runtime::api` expose them under the same names.

use ipnet::IpNet;
use std::net::IpAddr;

/// Parses `a.b.c.d`, `a.b.c.d/len`, IPv6 forms, and iproute2's `default`
/// (whose family is unknown here: IPv4 unless `v6` says otherwise).
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Some(n);
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// Parses an address, accepting a trailing `/len` (the address part is kept).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    match s.split_once('/') {
        Some((a, _)) => a.parse().ok(),
        None => s.parse().ok(),
    }
}

/// True when `net` contains `ip` (families must match).
pub fn contains(net: &IpNet, ip: &IpAddr) -> bool {
    net.contains(ip)
}

/// True when two networks share at least one address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// 127.0.0.0/8 and ::1 (and IPv4-mapped loopback).
pub fn is_loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// The network of an address with a prefix length: `10.244.1.7/24` → `10.244.1.0/24`.
pub fn network_of(ip: IpAddr, prefix: u8) -> Option<IpNet> {
    IpNet::new(ip, prefix).ok().map(|n| n.trunc())
}

/// Family name as `ip` prints it.
pub fn family(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "inet"
    } else {
        "inet6"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        parse_net(s).unwrap()
    }

    #[test]
    fn overlap_is_symmetric_and_exact() {
        assert!(overlaps(&n("10.0.0.0/8"), &n("10.244.0.0/16")));
        assert!(overlaps(&n("10.244.0.0/16"), &n("10.0.0.0/8")));
        assert!(!overlaps(&n("10.244.0.0/16"), &n("10.245.0.0/16")));
        assert!(!overlaps(&n("10.0.0.0/8"), &n("fd00::/8")));
        assert!(overlaps(&n("192.168.56.4"), &n("192.168.56.0/24")));
    }

    #[test]
    fn loopback_and_network() {
        assert!(is_loopback(&"127.0.0.53".parse().unwrap()));
        assert!(is_loopback(&"::1".parse().unwrap()));
        assert!(!is_loopback(&"10.96.0.10".parse().unwrap()));
        assert_eq!(network_of("10.244.1.7".parse().unwrap(), 24), Some(n("10.244.1.0/24")));
        assert_eq!(parse_ip("10.244.1.1/24"), Some("10.244.1.1".parse().unwrap()));
        assert_eq!(parse_net(" 10.1.2.3 "), Some(n("10.1.2.3/32")));
    }
}
