//! Small typed values shared by the facts: route type, table, protocol and
//! scope as the kernel numbers them, each printing what `ip` prints; MAC
//! addresses; L4 protocols. Collectors parse them once (from iproute2's JSON
//! names or from netlink numbers); rules and evidence see `ip`'s words.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A value that could not be parsed: the text and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub got: String,
    pub expected: &'static str,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, got {:?}", self.expected, self.got)
    }
}

impl std::error::Error for ValueError {}

fn bad(got: &str, expected: &'static str) -> ValueError {
    ValueError { got: got.to_string(), expected }
}

macro_rules! serialize_as_display {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

/// Names and numbers of one kernel enumeration, as iproute2 spells them.
struct Names(&'static [(u32, &'static str)]);

impl Names {
    fn name(&self, n: u32) -> Option<&'static str> {
        self.0.iter().find(|(v, _)| *v == n).map(|(_, s)| *s)
    }
    fn number(&self, s: &str) -> Option<u32> {
        self.0.iter().find(|(_, n)| *n == s).map(|(v, _)| *v)
    }
}

/// `RTN_*` route types (`ip route` prints the name first: `blackhole 10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteType(pub u8);

const ROUTE_TYPES: Names = Names(&[
    (0, "unspec"),
    (1, "unicast"),
    (2, "local"),
    (3, "broadcast"),
    (4, "anycast"),
    (5, "multicast"),
    (6, "blackhole"),
    (7, "unreachable"),
    (8, "prohibit"),
    (9, "throw"),
    (10, "nat"),
    (11, "xresolve"),
]);

impl RouteType {
    pub const UNICAST: RouteType = RouteType(1);
    pub const LOCAL: RouteType = RouteType(2);
    pub const BROADCAST: RouteType = RouteType(3);
    pub const BLACKHOLE: RouteType = RouteType(6);
    pub const UNREACHABLE: RouteType = RouteType(7);
    pub const PROHIBIT: RouteType = RouteType(8);
    pub const THROW: RouteType = RouteType(9);
    /// `blackhole`, `unreachable` and `prohibit` routes end a lookup as unroutable.
    pub fn is_unroutable(self) -> bool {
        matches!(self, RouteType::BLACKHOLE | RouteType::UNREACHABLE | RouteType::PROHIBIT)
    }
}

impl fmt::Display for RouteType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match ROUTE_TYPES.name(u32::from(self.0)) {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl FromStr for RouteType {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let n = ROUTE_TYPES.number(s).or_else(|| s.parse::<u8>().ok().map(u32::from)).ok_or_else(|| bad(s, "a route type (unicast, local, blackhole, ...)"))?;
        Ok(RouteType(n as u8))
    }
}
serialize_as_display!(RouteType);

/// A routing table: `local` (255), `main` (254), `default` (253) or a number;
/// a name from a host's own `rt_tables` is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    Id(u32),
    Named(String),
}

const TABLES: Names = Names(&[(255, "local"), (254, "main"), (253, "default"), (0, "unspec")]);

impl Table {
    pub const LOCAL: Table = Table::Id(255);
    pub const MAIN: Table = Table::Id(254);
    pub const DEFAULT: Table = Table::Id(253);
    /// True for the main table.
    pub fn is_main(&self) -> bool {
        *self == Table::MAIN
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Table::Id(n) => match TABLES.name(*n) {
                Some(s) => f.write_str(s),
                None => write!(f, "{n}"),
            },
            Table::Named(s) => f.write_str(s),
        }
    }
}

impl FromStr for Table {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if let Some(n) = TABLES.number(s) {
            return Ok(Table::Id(n));
        }
        if let Ok(n) = s.parse::<u32>() {
            return Ok(Table::Id(n));
        }
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Ok(Table::Named(s.to_string()));
        }
        Err(bad(s, "a routing table (main, local, default, a number or an rt_tables name)"))
    }
}
serialize_as_display!(Table);

/// A route's protocol (`RTPROT_*`): who installed it. Names as iproute2's
/// `rt_protos` prints them; a number without a name prints as the number
/// (Calico's Felix uses `80`); a host's own name is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Id(u8),
    Named(String),
}

const PROTOCOLS: Names = Names(&[
    (0, "unspec"),
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (8, "gated"),
    (9, "ra"),
    (10, "mrt"),
    (11, "zebra"),
    (12, "bird"),
    (13, "dnrouted"),
    (14, "xorp"),
    (15, "ntk"),
    (16, "dhcp"),
    (17, "mrouted"),
    (18, "keepalived"),
    (42, "babel"),
    (99, "openr"),
    (186, "bgp"),
    (187, "isis"),
    (188, "ospf"),
    (189, "rip"),
    (192, "eigrp"),
]);

impl Protocol {
    pub const KERNEL: Protocol = Protocol::Id(2);
    pub const BOOT: Protocol = Protocol::Id(3);
    pub const STATIC: Protocol = Protocol::Id(4);
    pub const BIRD: Protocol = Protocol::Id(12);
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Id(n) => match PROTOCOLS.name(u32::from(*n)) {
                Some(s) => f.write_str(s),
                None => write!(f, "{n}"),
            },
            Protocol::Named(s) => f.write_str(s),
        }
    }
}

impl FromStr for Protocol {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        if let Some(n) = PROTOCOLS.number(s) {
            return Ok(Protocol::Id(n as u8));
        }
        if let Ok(n) = s.parse::<u8>() {
            return Ok(Protocol::Id(n));
        }
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Ok(Protocol::Named(s.to_string()));
        }
        Err(bad(s, "a route protocol (kernel, boot, static, bird, a number, ...)"))
    }
}
serialize_as_display!(Protocol);

/// A route or address scope (`RT_SCOPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteScope(pub u8);

const SCOPES: Names = Names(&[(0, "global"), (200, "site"), (253, "link"), (254, "host"), (255, "nowhere")]);

impl RouteScope {
    pub const GLOBAL: RouteScope = RouteScope(0);
    pub const LINK: RouteScope = RouteScope(253);
    pub const HOST: RouteScope = RouteScope(254);
}

impl fmt::Display for RouteScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match SCOPES.name(u32::from(self.0)) {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl FromStr for RouteScope {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        // iproute2 prints `universe` for 0 in some versions.
        let s2 = if s == "universe" { "global" } else { s };
        let n = SCOPES
            .number(s2)
            .or_else(|| s.parse::<u8>().ok().map(u32::from))
            .ok_or_else(|| bad(s, "a scope (global, link, host, site, nowhere or a number)"))?;
        Ok(RouteScope(n as u8))
    }
}
serialize_as_display!(RouteScope);

/// An Ethernet MAC address; prints lowercase with colons, as `ip` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl FromStr for MacAddr {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(bad(s, "a MAC address (aa:bb:cc:dd:ee:ff)"));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(bad(s, "a MAC address (aa:bb:cc:dd:ee:ff)"));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| bad(s, "a MAC address (aa:bb:cc:dd:ee:ff)"))?;
        }
        Ok(MacAddr(out))
    }
}
serialize_as_display!(MacAddr);

/// A transport protocol of Services, container ports and IPVS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum L4Proto {
    Tcp,
    Udp,
    Sctp,
}

impl L4Proto {
    /// `TCP`, `UDP`, `SCTP` as Kubernetes and ipvsadm print them.
    pub fn as_str(self) -> &'static str {
        match self {
            L4Proto::Tcp => "TCP",
            L4Proto::Udp => "UDP",
            L4Proto::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for L4Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for L4Proto {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, ValueError> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(L4Proto::Tcp),
            "UDP" => Ok(L4Proto::Udp),
            "SCTP" => Ok(L4Proto::Sctp),
            _ => Err(bad(s, "TCP, UDP or SCTP")),
        }
    }
}
serialize_as_display!(L4Proto);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_as_ip_prints_them() {
        for s in ["unicast", "local", "blackhole", "unreachable", "prohibit", "throw", "broadcast", "multicast"] {
            assert_eq!(s.parse::<RouteType>().unwrap().to_string(), s);
        }
        assert_eq!("254".parse::<Table>().unwrap(), Table::MAIN);
        assert_eq!(Table::MAIN.to_string(), "main");
        assert_eq!("100".parse::<Table>().unwrap().to_string(), "100");
        assert_eq!("12".parse::<Protocol>().unwrap(), Protocol::BIRD);
        assert_eq!("80".parse::<Protocol>().unwrap().to_string(), "80");
        assert_eq!("bird".parse::<Protocol>().unwrap().to_string(), "bird");
        assert_eq!("link".parse::<RouteScope>().unwrap(), RouteScope::LINK);
        assert!("ab cd".parse::<Table>().is_err());
        assert!("300".parse::<RouteType>().is_err());
        let m: MacAddr = "AA:bb:0C:dd:ee:FF".parse().unwrap();
        assert_eq!(m.to_string(), "aa:bb:0c:dd:ee:ff");
        assert!("aa:bb:cc".parse::<MacAddr>().is_err());
        assert_eq!("udp".parse::<L4Proto>().unwrap(), L4Proto::Udp);
    }
}
