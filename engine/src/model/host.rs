//! Host facts: what one host's kernel and files say (links, addresses, routes,
//! ip rules, neighbours, FDB, IPVS, iptables, resolv.conf, kubelet settings,
//! sysctls, flannel's subnet.env), each typed once by its collector.

use super::types::{L4Proto, MacAddr, Protocol, RouteScope, RouteType, Table};
use crate::source::Fact;
use ipnet::IpNet;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// VXLAN details of a link (`ip -d link` `linkinfo.info_data`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vxlan {
    pub id: u32,
    pub local: Option<IpAddr>,
    pub port: Option<u16>,
    /// The underlying device (`dev eth0`), when set.
    pub dev: Option<String>,
}

/// A network interface (`ip -d link`, merged with `ip addr` when only that was captured).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    /// `linkinfo.info_kind` (`bridge`, `veth`, `vxlan`, ...), empty for plain devices.
    pub kind: String,
    pub mtu: u32,
    pub mac: Option<MacAddr>,
    /// The bridge it is a port of.
    pub master: Option<String>,
    pub operstate: String,
    pub flags: Vec<String>,
    pub vxlan: Option<Vxlan>,
}

/// An interface address (`ip addr`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Addr {
    pub dev: String,
    pub local: IpAddr,
    pub prefix_len: u8,
    pub scope: RouteScope,
}

impl Addr {
    /// `10.244.1.1/24`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.local, self.prefix_len)
    }
    /// The subnet the address lives in.
    pub fn network(&self) -> IpNet {
        crate::net::network_of(self.local, self.prefix_len).unwrap_or_else(|| IpNet::from(self.local))
    }
}

/// A route (`ip -d route show table all`, or netlink).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    pub kind: RouteType,
    pub dst: IpNet,
    /// True for iproute2's `default`.
    pub is_default: bool,
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    pub table: Table,
    pub protocol: Protocol,
    pub scope: RouteScope,
    pub metric: u32,
    pub prefsrc: Option<IpAddr>,
    /// `onlink`, `linkdown`, ...
    pub flags: Vec<String>,
}

impl Route {
    /// True for IPv4 routes.
    pub fn is_v4(&self) -> bool {
        matches!(self.dst, IpNet::V4(_))
    }
    /// The route as `ip route` prints it (`blackhole 10.10.0.128/26 proto bird`).
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.kind != RouteType::UNICAST {
            s.push_str(&self.kind.to_string());
            s.push(' ');
        }
        if self.is_default {
            s.push_str("default");
        } else if self.dst.prefix_len() == self.dst.max_prefix_len() {
            s.push_str(&self.dst.addr().to_string());
        } else {
            s.push_str(&self.dst.to_string());
        }
        if let Some(gw) = self.gateway {
            s.push_str(&format!(" via {gw}"));
        }
        if let Some(dev) = &self.dev {
            s.push_str(&format!(" dev {dev}"));
        }
        if !self.table.is_main() {
            s.push_str(&format!(" table {}", self.table));
        }
        // `ip route` omits the default protocol `boot`.
        if self.protocol != Protocol::BOOT {
            s.push_str(&format!(" proto {}", self.protocol));
        }
        if self.scope != RouteScope::GLOBAL {
            s.push_str(&format!(" scope {}", self.scope));
        }
        if let Some(src) = self.prefsrc {
            s.push_str(&format!(" src {src}"));
        }
        if self.metric != 0 {
            s.push_str(&format!(" metric {}", self.metric));
        }
        for f in &self.flags {
            s.push(' ');
            s.push_str(f);
        }
        s
    }
}

/// What an ip rule does with a packet it matches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum RuleAction {
    /// `lookup TABLE`.
    Lookup(Table),
    /// `blackhole`, `unreachable`, `prohibit`: the packet is dropped.
    Drop(RouteType),
    /// `goto`, `nop` and others that do not decide.
    Other(String),
}

/// An ip rule (`ip rule show`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpRule {
    pub priority: u32,
    pub src: Option<IpNet>,
    pub dst: Option<IpNet>,
    pub action: RuleAction,
    /// True when the rule has a selector other than from/to (fwmark, iif, oif, uidrange, ...)
    /// that a packet the host itself originates does not reliably match.
    pub has_other_selector: bool,
    pub not: bool,
    /// The rule as `ip rule` prints it.
    pub text: String,
}

/// A neighbour entry (`ip neigh`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Neigh {
    pub dst: IpAddr,
    pub dev: String,
    pub lladdr: Option<MacAddr>,
    /// `PERMANENT`, `REACHABLE`, ...
    pub state: Vec<String>,
}

/// A bridge FDB entry (`bridge fdb`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FdbEntry {
    pub mac: MacAddr,
    pub dev: String,
    /// The VXLAN remote (`dst`), for tunnel entries.
    pub dst: Option<IpAddr>,
    pub flags: Vec<String>,
    pub state: Option<String>,
}

/// An IPVS virtual service's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum IpvsProto {
    L4(L4Proto),
    /// A firewall-mark service.
    Fwm,
}

impl std::fmt::Display for IpvsProto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpvsProto::L4(p) => write!(f, "{p}"),
            IpvsProto::Fwm => f.write_str("FWM"),
        }
    }
}

/// IPVS forwarding method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Forward {
    Masq,
    Route,
    Tunnel,
}

impl std::fmt::Display for Forward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Forward::Masq => "Masq",
            Forward::Route => "Route",
            Forward::Tunnel => "Tunnel",
        })
    }
}

/// One IPVS virtual service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    pub protocol: IpvsProto,
    /// Address for TCP/UDP/SCTP; `None` for fwmark services.
    pub addr: Option<IpAddr>,
    pub port: u16,
    pub fwmark: Option<u32>,
    pub scheduler: String,
    pub real_servers: Vec<RealServer>,
}

impl VirtualServer {
    /// `TCP 10.96.0.1:443` as ipvsadm shows it.
    pub fn text(&self) -> String {
        match (self.addr, self.fwmark) {
            (Some(IpAddr::V6(a)), _) => format!("{} [{a}]:{}", self.protocol, self.port),
            (Some(a), _) => format!("{} {a}:{}", self.protocol, self.port),
            (None, Some(m)) => format!("FWM {m}"),
            (None, None) => self.protocol.to_string(),
        }
    }
}

/// One IPVS real server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServer {
    pub addr: IpAddr,
    pub port: u16,
    pub forward: Forward,
    pub weight: u32,
}

/// One option of an iptables rule: `! -s 10.0.0.0/8` is (negated, `-s`, `10.0.0.0/8`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IptOpt {
    pub negated: bool,
    pub name: String,
    /// Several words joined by a space (`--match-set KUBE-CLUSTER-IP dst,dst`); empty for flags.
    pub value: String,
}

/// One iptables rule, tokenised when read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IptRule {
    pub chain: String,
    /// `-A CHAIN ...` as iptables-save prints it.
    pub text: String,
    pub opts: Vec<IptOpt>,
    /// The `-j` / `-g` target.
    pub target: Option<String>,
    /// True for `-g` (goto).
    pub goto: bool,
}

impl IptRule {
    /// The value of the first non-negated option among `names`.
    pub fn get(&self, names: &[&str]) -> Option<&str> {
        self.opts.iter().find(|o| !o.negated && names.contains(&o.name.as_str())).map(|o| o.value.as_str())
    }

    /// True when the rule has no match at all besides comments (only a target).
    pub fn unconditional(&self) -> bool {
        let pos = self.opts.iter().position(|o| matches!(o.name.as_str(), "-j" | "--jump" | "-g" | "--goto"));
        self.opts.iter().enumerate().all(|(i, o)| match o.name.as_str() {
            "-j" | "--jump" | "-g" | "--goto" | "--comment" => true,
            "-m" | "--match" => o.value == "comment",
            // the target's own options (`--reject-with`, `--set-xmark`, ...) come after -j
            _ => pos.is_some_and(|p| i > p),
        })
    }
}

/// One chain of an iptables table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Chain {
    /// The policy of a built-in chain (`ACCEPT`, `DROP`); `None` for user chains (`-`).
    pub policy: Option<String>,
    pub rules: Vec<IptRule>,
}

/// `iptables-save`: tables → chains, rules tokenised.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Iptables {
    pub tables: BTreeMap<String, BTreeMap<String, Chain>>,
}

impl Iptables {
    /// A chain of a table.
    pub fn chain(&self, table: &str, chain: &str) -> Option<&Chain> {
        self.tables.get(table)?.get(chain)
    }
    /// The chains of a table.
    pub fn chains(&self, table: &str) -> impl Iterator<Item = (&String, &Chain)> {
        self.tables.get(table).into_iter().flatten()
    }
}

/// A `nameserver` line of resolv.conf.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nameserver {
    /// Line number (1-based).
    pub line: usize,
    pub ip: IpAddr,
}

/// `resolv.conf`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResolvConf {
    pub nameservers: Vec<Nameserver>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The kubelet's `resolvConf` / `--resolv-conf` setting.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KubeletResolv {
    /// The path, `""` meaning "no host resolv.conf"; `None` when not set.
    pub resolv_conf: Option<String>,
}

/// flannel's `/run/flannel/subnet.env`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SubnetEnv {
    pub network: Option<IpNet>,
    /// FLANNEL_SUBNET: the bridge address with its prefix (`10.244.1.1/24`).
    pub subnet: Option<(IpAddr, u8)>,
    pub mtu: Option<u32>,
    pub ipmasq: Option<bool>,
}

/// Everything known about one host, each fact with its provenance.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub links: Fact<Vec<Link>>,
    pub addrs: Fact<Vec<Addr>>,
    pub routes: Fact<Vec<Route>>,
    pub routes6: Fact<Vec<Route>>,
    pub rules: Fact<Vec<IpRule>>,
    pub neighbours: Fact<Vec<Neigh>>,
    pub fdb: Fact<Vec<FdbEntry>>,
    pub ipvs: Fact<Vec<VirtualServer>>,
    pub iptables: Fact<Iptables>,
    pub resolv_conf: Fact<ResolvConf>,
    pub kubelet_resolv_conf: Fact<ResolvConf>,
    pub kubelet_config: Fact<KubeletResolv>,
    pub kubelet_args: Fact<KubeletResolv>,
    pub sysctl: Fact<BTreeMap<String, String>>,
    pub subnet_env: Fact<SubnetEnv>,
}

/// A host fact's state without its value: for `has`, reasons and counts.
#[derive(Debug, Clone, Copy)]
pub struct FactState<'a> {
    pub present: bool,
    pub source: Option<&'a crate::source::Source>,
    /// The error when the fact is broken.
    pub error: Option<&'a str>,
}

impl HostFacts {
    /// The first host fact whose value or presence differs from `other`'s, with both values;
    /// `None` when every one is the same. Sources are not compared: the same facts read live
    /// and from a capture differ only there.
    pub fn value_difference(&self, other: &HostFacts) -> Option<String> {
        macro_rules! cmp {
            ($($f:ident),*) => {$(
                if self.$f.get() != other.$f.get() || self.$f.is_present() != other.$f.is_present() {
                    return Some(format!("{}: {:?}\n  vs {:?}", stringify!($f), self.$f.get(), other.$f.get()));
                }
            )*};
        }
        cmp!(
            links,
            addrs,
            routes,
            routes6,
            rules,
            neighbours,
            fdb,
            ipvs,
            iptables,
            resolv_conf,
            kubelet_resolv_conf,
            kubelet_config,
            kubelet_args,
            sysctl,
            subnet_env
        );
        None
    }

    /// The state of one host fact kind; `None` for a cluster kind.
    pub fn state(&self, kind: crate::kind::FactKind) -> Option<FactState<'_>> {
        fn st<T>(f: &Fact<T>) -> FactState<'_> {
            FactState {
                present: f.is_present(),
                source: f.source(),
                error: match f {
                    Fact::Broken { error, .. } => Some(error.as_str()),
                    _ => None,
                },
            }
        }
        use crate::kind::FactKind as K;
        Some(match kind {
            K::Links => st(&self.links),
            K::Addrs => st(&self.addrs),
            K::Routes => st(&self.routes),
            K::Routes6 => st(&self.routes6),
            K::IpRules => st(&self.rules),
            K::Neighbours => st(&self.neighbours),
            K::Fdb => st(&self.fdb),
            K::Ipvs => st(&self.ipvs),
            K::Iptables => st(&self.iptables),
            K::ResolvConf => st(&self.resolv_conf),
            K::KubeletResolvConf => st(&self.kubelet_resolv_conf),
            K::KubeletConfig => st(&self.kubelet_config),
            K::KubeletArgs => st(&self.kubelet_args),
            K::Sysctl => st(&self.sysctl),
            K::SubnetEnv => st(&self.subnet_env),
            _ => return None,
        })
    }

    /// Moves every collected fact of `other` over this host's (a later collector wins per kind).
    pub fn merge(&mut self, other: HostFacts) {
        fn take<T>(into: &mut Fact<T>, from: Fact<T>) {
            if !matches!(from, Fact::Missing) {
                *into = from;
            }
        }
        take(&mut self.links, other.links);
        take(&mut self.addrs, other.addrs);
        take(&mut self.routes, other.routes);
        take(&mut self.routes6, other.routes6);
        take(&mut self.rules, other.rules);
        take(&mut self.neighbours, other.neighbours);
        take(&mut self.fdb, other.fdb);
        take(&mut self.ipvs, other.ipvs);
        take(&mut self.iptables, other.iptables);
        take(&mut self.resolv_conf, other.resolv_conf);
        take(&mut self.kubelet_resolv_conf, other.kubelet_resolv_conf);
        take(&mut self.kubelet_config, other.kubelet_config);
        take(&mut self.kubelet_args, other.kubelet_args);
        take(&mut self.sysctl, other.sysctl);
        take(&mut self.subnet_env, other.subnet_env);
    }

    /// Number of entries of a present host fact (routes, links, ...), for `stats.facts`.
    pub fn count(&self, kind: crate::kind::FactKind) -> usize {
        use crate::kind::FactKind as K;
        match kind {
            K::Links => self.links.get().map_or(0, Vec::len),
            K::Addrs => self.addrs.get().map_or(0, Vec::len),
            K::Routes => self.routes.get().map_or(0, Vec::len),
            K::Routes6 => self.routes6.get().map_or(0, Vec::len),
            K::IpRules => self.rules.get().map_or(0, Vec::len),
            K::Neighbours => self.neighbours.get().map_or(0, Vec::len),
            K::Fdb => self.fdb.get().map_or(0, Vec::len),
            K::Ipvs => self.ipvs.get().map_or(0, Vec::len),
            K::Iptables => self.iptables.get().map_or(0, |t| t.tables.values().flat_map(|c| c.values()).map(|c| c.rules.len()).sum()),
            K::Sysctl => self.sysctl.get().map_or(0, BTreeMap::len),
            other => usize::from(self.state(other).is_some_and(|s| s.present)),
        }
    }
}
