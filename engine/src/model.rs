//! The typed facts netdoctor reasons about, normalised from every source.
//!
//! Facts keep only the fields rules read, never whole API objects, so that a
//! 150k-pod cluster stays small in memory. Host facts are wrapped in [`Fact`]
//! so a rule can tell "not collected" from "collected but broken" from
//! "collected": rules never fire on absent data. Start at [`Facts`].

use ipnet::IpNet;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A host-level fact with its provenance.
#[derive(Debug, Clone, Default)]
pub enum Fact<T> {
    /// The source was not collected (the file is absent).
    #[default]
    Missing,
    /// The source exists but could not be parsed; the message says where and why.
    Broken { source: String, message: String },
    /// Parsed from `source` (a capture-relative path or a live source name).
    Present { source: String, value: T },
}

impl<T> Fact<T> {
    /// The value when present.
    pub fn get(&self) -> Option<&T> {
        match self {
            Fact::Present { value, .. } => Some(value),
            _ => None,
        }
    }
    /// The source path or name, when the fact was collected (even if broken).
    pub fn source(&self) -> Option<&str> {
        match self {
            Fact::Missing => None,
            Fact::Broken { source, .. } | Fact::Present { source, .. } => Some(source),
        }
    }
    /// True when the fact was parsed.
    pub fn is_present(&self) -> bool {
        matches!(self, Fact::Present { .. })
    }
}

/// `meta.json` of a capture.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Meta {
    pub format: Option<String>,
    pub captured_at: Option<String>,
    pub cluster: Option<String>,
}

/// A `status.conditions[]` entry (Node or Pod).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Condition {
    pub kind: String,
    pub status: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub last_transition: Option<String>,
}

/// A Kubernetes Node.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub name: String,
    pub resource_version: u64,
    /// `status.addresses` as (type, address) pairs, in API order.
    pub addresses: Vec<(String, String)>,
    pub pod_cidrs: Vec<IpNet>,
    pub conditions: Vec<Condition>,
    pub labels: BTreeMap<String, String>,
    /// flannel's `flannel.alpha.coreos.com/*` annotations (kube-subnet-mgr mode).
    pub flannel: Option<FlannelAnnotations>,
}

impl Node {
    /// InternalIP addresses that parse.
    pub fn internal_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.addresses.iter().filter(|(t, _)| t == "InternalIP").filter_map(|(_, a)| a.parse().ok())
    }
    /// The condition of that type.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
}

/// flannel's per-Node annotations.
#[derive(Debug, Clone, Default)]
pub struct FlannelAnnotations {
    pub public_ip: Option<IpAddr>,
    pub backend_type: Option<String>,
    pub backend_data: Option<String>,
    pub kube_subnet_manager: bool,
}

/// One container's status.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ContainerStatus {
    pub name: String,
    pub ready: bool,
    pub restart_count: i64,
    /// `running`, `waiting` or `terminated`.
    pub state: String,
    pub reason: Option<String>,
    pub exit_code: Option<i64>,
    pub last_state: Option<String>,
    pub last_reason: Option<String>,
}

/// A container port a pod exposes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: i64,
    pub protocol: String,
}

/// A Kubernetes Pod.
#[derive(Debug, Clone, Default)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub resource_version: u64,
    pub node: Option<String>,
    pub phase: String,
    /// `status.reason`, e.g. `Evicted`.
    pub reason: Option<String>,
    pub pod_ips: Vec<IpAddr>,
    pub host_network: bool,
    pub labels: BTreeMap<String, String>,
    pub owner_kind: Option<String>,
    pub owner_name: Option<String>,
    /// A static pod's mirror (`kubernetes.io/config.source: file` or owned by a Node).
    pub mirror: bool,
    pub conditions: Vec<Condition>,
    pub containers: Vec<ContainerStatus>,
    pub ports: Vec<ContainerPort>,
}

impl Pod {
    /// The `Ready` condition is `True`.
    pub fn ready(&self) -> bool {
        self.conditions.iter().any(|c| c.kind == "Ready" && c.status == "True")
    }
}

/// One port of a Service.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub protocol: String,
    pub port: i64,
    pub target_port: String,
    pub node_port: Option<i64>,
}

/// A Kubernetes Service.
#[derive(Debug, Clone, Default)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub resource_version: u64,
    pub kind: String,
    /// ClusterIPs that are addresses (`None` for headless is dropped).
    pub cluster_ips: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
    /// Empty when the Service has no selector.
    pub selector: BTreeMap<String, String>,
}

/// The endpoints of one Service, merged from its EndpointSlices (preferred)
/// or its Endpoints object.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub namespace: String,
    pub service: String,
    pub ready: Vec<IpAddr>,
    pub not_ready: Vec<IpAddr>,
    /// (name, port, protocol)
    pub ports: Vec<(Option<String>, i64, String)>,
    /// `EndpointSlice` or `Endpoints`.
    pub source_kind: String,
}

/// `kubectl get cs`.
#[derive(Debug, Clone, Default)]
pub struct ComponentStatus {
    pub name: String,
    pub healthy: bool,
    pub message: Option<String>,
}

/// A Calico IPPool.
#[derive(Debug, Clone, Default)]
pub struct IpPool {
    pub name: String,
    pub cidr: IpNet,
    pub ipip_mode: Option<String>,
    pub vxlan_mode: Option<String>,
    pub disabled: bool,
}

/// A Calico BlockAffinity.
#[derive(Debug, Clone, Default)]
pub struct BlockAffinity {
    pub node: String,
    pub cidr: IpNet,
    pub state: String,
}

/// flannel's network config (`<prefix>/config` or `net-conf.json`).
#[derive(Debug, Clone, Default)]
pub struct FlannelConfig {
    pub network: Option<IpNet>,
    pub backend_type: String,
    pub vni: i64,
    pub source: String,
}

/// A flannel subnet lease.
#[derive(Debug, Clone)]
pub struct FlannelLease {
    pub subnet: IpNet,
    pub public_ip: Option<IpAddr>,
    pub backend_type: Option<String>,
    pub vtep_mac: Option<String>,
    /// Where it came from: `etcd/<file>` key path, or `Node/<name>` in kube-subnet-mgr mode.
    pub source: String,
    /// The etcd key as spelled (`/coreos.com/network/subnets/10.244.1.0-24`).
    pub key: Option<String>,
}

/// Parsed ConfigMaps netdoctor reads.
#[derive(Debug, Clone, Default)]
pub struct ClusterConfig {
    /// The `Corefile` of kube-system/coredns.
    pub corefile: Option<String>,
    /// `mode` from kube-system/kube-proxy `config.conf` (`""` kept as `""`).
    pub kube_proxy_mode: Option<String>,
    /// kubeadm ClusterConfiguration networking.podSubnet (comma-separated when dual-stack).
    pub kubeadm_pod_subnets: Vec<IpNet>,
    pub kubeadm_service_subnets: Vec<IpNet>,
    /// kube-system/kube-flannel-cfg `net-conf.json`.
    pub flannel_net_conf: Option<FlannelConfig>,
}

/// A network interface (`ip -d link` merged with `ip addr`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Link {
    pub ifindex: i64,
    pub name: String,
    /// `linkinfo.info_kind` (`bridge`, `veth`, `vxlan`, ...), empty for plain devices.
    pub kind: String,
    pub mtu: i64,
    pub mac: Option<String>,
    pub master: Option<String>,
    pub operstate: String,
    pub flags: Vec<String>,
    /// vxlan id / local / port when `kind == "vxlan"`.
    pub vxlan_id: Option<i64>,
    pub vxlan_local: Option<String>,
    pub vxlan_port: Option<i64>,
}

/// An interface address (`ip addr`).
#[derive(Debug, Clone, Serialize)]
pub struct Addr {
    pub dev: String,
    pub local: IpAddr,
    pub prefix_len: u8,
    pub scope: String,
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

/// A route (`ip -d route show table all`).
#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// `unicast`, `local`, `broadcast`, `blackhole`, `unreachable`, `prohibit`, `throw`, ...
    pub kind: String,
    pub dst: IpNet,
    /// True for iproute2's `default`.
    pub is_default: bool,
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    /// `main`, `local`, `default` or the table number / name as printed.
    pub table: String,
    pub protocol: Option<String>,
    pub scope: Option<String>,
    pub metric: i64,
    pub prefsrc: Option<IpAddr>,
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
        if self.kind != "unicast" {
            s.push_str(&self.kind);
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
        if self.table != "main" {
            s.push_str(&format!(" table {}", self.table));
        }
        // `ip route` omits the default protocol `boot`.
        if let Some(p) = self.protocol.as_deref().filter(|p| *p != "boot") {
            s.push_str(&format!(" proto {p}"));
        }
        if let Some(sc) = &self.scope {
            if sc != "global" {
                s.push_str(&format!(" scope {sc}"));
            }
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

/// An ip rule (`ip rule show`).
#[derive(Debug, Clone, Serialize)]
pub struct IpRule {
    pub priority: i64,
    pub src: Option<IpNet>,
    pub dst: Option<IpNet>,
    /// `lookup`, `blackhole`, `unreachable`, `prohibit`, `goto`, `nop`.
    pub action: String,
    pub table: Option<String>,
    /// True when the rule has a selector other than from/to (fwmark, iif, oif, uidrange, ...)
    /// that a packet the host itself originates does not reliably match.
    pub has_other_selector: bool,
    pub not: bool,
    pub text: String,
}

/// A neighbour entry (`ip neigh`).
#[derive(Debug, Clone, Serialize)]
pub struct Neigh {
    pub dst: IpAddr,
    pub dev: String,
    pub lladdr: Option<String>,
    pub state: Vec<String>,
}

/// A bridge FDB entry (`bridge fdb`).
#[derive(Debug, Clone, Serialize)]
pub struct FdbEntry {
    pub mac: String,
    pub dev: String,
    pub dst: Option<IpAddr>,
    pub flags: Vec<String>,
    pub state: Option<String>,
}

/// One IPVS virtual service.
#[derive(Debug, Clone, Serialize)]
pub struct VirtualServer {
    /// `TCP`, `UDP`, `SCTP` or `FWM`.
    pub protocol: String,
    /// Address for TCP/UDP/SCTP; `None` for fwmark services.
    pub addr: Option<IpAddr>,
    pub port: i64,
    pub fwmark: Option<i64>,
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
            (None, None) => self.protocol.clone(),
        }
    }
}

/// One IPVS real server.
#[derive(Debug, Clone, Serialize)]
pub struct RealServer {
    pub addr: IpAddr,
    pub port: i64,
    pub forward: String,
    pub weight: i64,
}

/// What `iptables-save` says about kube-proxy and the filter table.
#[derive(Debug, Clone, Default)]
pub struct Iptables {
    /// Chains per table: table → chain → policy (`-` for user chains).
    pub chains: BTreeMap<String, BTreeMap<String, String>>,
    /// Rules per table in order: (chain, rule text after `-A CHAIN `).
    pub rules: BTreeMap<String, Vec<(String, String)>>,
}

/// `resolv.conf`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResolvConf {
    /// (line number, address as written).
    pub nameservers: Vec<(usize, String)>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// The kubelet's `resolvConf` / `--resolv-conf` setting.
#[derive(Debug, Clone, Default)]
pub struct KubeletResolv {
    pub resolv_conf: Option<String>,
}

/// flannel's `/run/flannel/subnet.env`.
#[derive(Debug, Clone, Default)]
pub struct SubnetEnv {
    pub network: Option<IpNet>,
    /// FLANNEL_SUBNET as written (`10.244.1.1/24`: an address with its prefix).
    pub subnet: Option<String>,
    pub mtu: Option<i64>,
    pub ipmasq: Option<bool>,
}

/// Everything known about one host.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// The capture folder name, which is the Node's name when it is one.
    pub name: String,
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

/// A problem with one source: it is reported and evaluation goes on without it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceError {
    /// Capture-relative file (`nodes/admin/ip-route.json`) or live source name.
    pub source: String,
    pub message: String,
}

/// Cluster-level fact kinds whose collection is tracked, as rules name them.
pub const CLUSTER_KINDS: &[&str] = &[
    "nodes",
    "pods",
    "services",
    "endpoints",
    "componentstatuses",
    "ippools",
    "blockaffinities",
    "configmap/coredns",
    "configmap/kube-proxy",
    "configmap/kubeadm-config",
    "configmap/kube-flannel-cfg",
    "etcd/flannel",
];

/// Every fact collected, before indexing. Collectors fill this; [`crate::Graph::build`] indexes it.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub meta: Meta,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub endpoints: Vec<Endpoints>,
    pub component_statuses: Vec<ComponentStatus>,
    pub ip_pools: Vec<IpPool>,
    pub block_affinities: Vec<BlockAffinity>,
    pub config: ClusterConfig,
    /// flannel config from etcd `<prefix>/config`.
    pub flannel_etcd_config: Option<FlannelConfig>,
    /// Leases from etcd (kube-subnet-mgr leases are derived from Nodes at build time).
    pub flannel_leases: Vec<FlannelLease>,
    pub hosts: Vec<Host>,
    /// Cluster kinds collected → the sources they came from (see [`CLUSTER_KINDS`]).
    pub collected: BTreeMap<String, Vec<String>>,
    /// Cluster kinds whose source failed to parse → the failing sources.
    pub broken: BTreeMap<String, Vec<String>>,
    pub errors: Vec<SourceError>,
    pub notes: Vec<String>,
    /// The newest timestamp seen in the facts (RFC 3339), used when meta has no `captured_at`.
    pub newest_timestamp: Option<String>,
    /// How each collector fared (live mode; a capture may record it in `meta.json` `collectors`).
    pub collectors: Vec<CollectorStatus>,
}

/// The state of one collector (`kubernetes`, `etcd`, `netlink`, ...).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CollectorStatus {
    pub name: String,
    /// The last collection succeeded.
    pub up: bool,
    /// RFC 3339 time of the last successful collection.
    pub last_success: Option<String>,
    /// How old the last success may be before the data counts as stale, in seconds.
    pub stale_after_seconds: Option<i64>,
    /// The last error, for evidence (never a metric label).
    pub error: Option<String>,
}

impl Facts {
    /// Records that `kind` was collected from `source`.
    pub fn mark_collected(&mut self, kind: &str, source: &str) {
        let v = self.collected.entry(kind.to_string()).or_default();
        if !v.iter().any(|s| s == source) {
            v.push(source.to_string());
        }
    }
    /// Records that `source`, which would have provided `kind`, is broken.
    pub fn mark_broken(&mut self, kind: &str, source: &str) {
        let v = self.broken.entry(kind.to_string()).or_default();
        if !v.iter().any(|s| s == source) {
            v.push(source.to_string());
        }
    }
    /// Records a source error.
    pub fn error(&mut self, source: impl Into<String>, message: impl Into<String>) {
        self.errors.push(SourceError { source: source.into(), message: message.into() });
    }
}
