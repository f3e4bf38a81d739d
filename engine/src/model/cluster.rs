//! Cluster facts: Kubernetes objects reduced to the fields rules read (never
//! whole objects: a 150k-pod cluster must stay small), flannel's network
//! config and leases, the ConfigMaps netdoctor reads. Collectors build them
//! from kubectl output or API watches, with every value already typed.

use super::types::{L4Proto, MacAddr};
use crate::source::Source;
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// `True`, `False` or `Unknown`, as condition statuses are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// A `status.conditions[]` entry (Node or Pod). Kept compact: a cluster holds five per pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `type`: the well-known types are static strings, others are kept as read.
    pub kind: std::borrow::Cow<'static, str>,
    pub status: ConditionStatus,
    pub reason: Option<Box<str>>,
    pub message: Option<Box<str>>,
    /// lastTransitionTime, Unix seconds (shown in RFC 3339 UTC).
    pub since: Option<i64>,
}

/// The condition types Kubernetes sets on Pods and Nodes, shared instead of copied per object.
const CONDITION_TYPES: &[&str] = &[
    "Ready",
    "ContainersReady",
    "Initialized",
    "PodScheduled",
    "PodReadyToStartContainers",
    "DisruptionTarget",
    "MemoryPressure",
    "DiskPressure",
    "PIDPressure",
    "NetworkUnavailable",
];

impl Condition {
    /// The `type` as kept: a static string for the well-known types.
    pub fn kind_of(t: &str) -> std::borrow::Cow<'static, str> {
        match CONDITION_TYPES.iter().find(|k| **k == t) {
            Some(k) => std::borrow::Cow::Borrowed(k),
            None => std::borrow::Cow::Owned(t.to_string()),
        }
    }
}

/// Labels (or any string map of an object), sorted by key in one allocation: a `BTreeMap`
/// costs a 500-byte node even for four labels, and a cluster holds 150,000 pods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(Box<[(Box<str>, Box<str>)]>);

impl Labels {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(key)).ok().map(|i: usize| &*self.0[i].1)
    }
    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    /// A later duplicate key wins, as in a map.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(it: I) -> Labels {
        let map: BTreeMap<String, String> = it.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        Labels(map.into_iter().map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str())).collect())
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(m: BTreeMap<String, String>) -> Labels {
        Labels(m.into_iter().map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str())).collect())
    }
}

impl<K: Into<String>, V: Into<String>, const N: usize> From<[(K, V); N]> for Labels {
    fn from(a: [(K, V); N]) -> Labels {
        a.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (Box<str>, Box<str>)>, fn(&'a (Box<str>, Box<str>)) -> (&'a str, &'a str)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }
}

/// A `status.addresses[]` entry of a Node. InternalIP and ExternalIP are addresses; Hostname is a name.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeAddress {
    pub kind: String,
    pub address: String,
    /// The address when it is one (always for InternalIP / ExternalIP).
    pub ip: Option<IpAddr>,
}

/// A Node taint.
#[derive(Debug, Clone, PartialEq)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: String,
}

/// flannel's per-Node annotations (kube-subnet-mgr mode).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlannelAnnotations {
    pub public_ip: Option<IpAddr>,
    pub backend_type: Option<String>,
    /// `VtepMAC` from the `backend-data` annotation (vxlan).
    pub vtep_mac: Option<MacAddr>,
    pub kube_subnet_manager: bool,
}

/// A Kubernetes Node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Node {
    pub name: String,
    pub resource_version: u64,
    /// `status.addresses`, in API order.
    pub addresses: Vec<NodeAddress>,
    pub pod_cidrs: Vec<IpNet>,
    pub conditions: Vec<Condition>,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// flannel's `flannel.alpha.coreos.com/*` annotations.
    pub flannel: Option<FlannelAnnotations>,
}

impl Node {
    /// InternalIP addresses.
    pub fn internal_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.addresses.iter().filter(|a| a.kind == "InternalIP").filter_map(|a| a.ip)
    }
    /// The condition of that type.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
    /// The `Ready` condition is `True`.
    pub fn ready(&self) -> bool {
        self.condition("Ready").is_some_and(|c| c.status == ConditionStatus::True)
    }
}

/// A container's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Running,
    Waiting,
    Terminated,
}

impl ContainerState {
    /// `running`, `waiting`, `terminated`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerState::Running => "running",
            ContainerState::Waiting => "waiting",
            ContainerState::Terminated => "terminated",
        }
    }
}

/// One container's status.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerStatus {
    pub name: String,
    pub ready: bool,
    pub restart_count: u32,
    /// `None` when the status has no state yet.
    pub state: Option<ContainerState>,
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub last_state: Option<ContainerState>,
    pub last_reason: Option<String>,
}

/// A container port a pod declares.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerPort {
    /// The container that declares it.
    pub container: String,
    pub name: Option<String>,
    pub port: u16,
    pub protocol: L4Proto,
}

/// A pod's controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    pub kind: String,
    pub name: String,
}

/// A Pod's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    /// The phase as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }
    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<PodPhase> {
        Some(match s {
            "Pending" => PodPhase::Pending,
            "Running" => PodPhase::Running,
            "Succeeded" => PodPhase::Succeeded,
            "Failed" => PodPhase::Failed,
            "Unknown" => PodPhase::Unknown,
            _ => return None,
        })
    }
}

/// A Kubernetes Pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub resource_version: u64,
    pub node: Option<String>,
    /// `None` when the pod has no status yet.
    pub phase: Option<PodPhase>,
    /// `status.reason`, e.g. `Evicted`.
    pub reason: Option<String>,
    pub ips: Vec<IpAddr>,
    pub host_network: bool,
    pub labels: Labels,
    /// The controller owner (else the first owner).
    pub owner: Option<Owner>,
    /// A static pod's mirror (`kubernetes.io/config.source: file` or owned by a Node).
    pub mirror: bool,
    pub conditions: Vec<Condition>,
    pub containers: Vec<ContainerStatus>,
    pub ports: Vec<ContainerPort>,
}

impl Pod {
    /// The `Ready` condition is `True`.
    pub fn ready(&self) -> bool {
        self.condition("Ready").is_some_and(|c| c.status == ConditionStatus::True)
    }
    /// The condition of that type.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
    /// `Succeeded` or `Failed`: it never runs again (e.g. Evicted).
    pub fn terminal(&self) -> bool {
        matches!(self.phase, Some(PodPhase::Succeeded) | Some(PodPhase::Failed))
    }
    /// Total container restarts.
    pub fn restarts(&self) -> u64 {
        self.containers.iter().map(|c| u64::from(c.restart_count)).sum()
    }
}

/// A Service port's `targetPort`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TargetPort {
    Number(u16),
    Name(String),
}

impl std::fmt::Display for TargetPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetPort::Number(n) => write!(f, "{n}"),
            TargetPort::Name(s) => f.write_str(s),
        }
    }
}

/// One port of a Service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicePort {
    pub name: Option<String>,
    pub protocol: L4Proto,
    pub port: u16,
    pub target_port: TargetPort,
    pub node_port: Option<u16>,
}

/// `spec.type` of a Service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
    ExternalName,
}

impl ServiceType {
    /// The type as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
            ServiceType::ExternalName => "ExternalName",
        }
    }
    /// Parses the API spelling.
    pub fn parse(s: &str) -> Option<ServiceType> {
        Some(match s {
            "ClusterIP" => ServiceType::ClusterIP,
            "NodePort" => ServiceType::NodePort,
            "LoadBalancer" => ServiceType::LoadBalancer,
            "ExternalName" => ServiceType::ExternalName,
            _ => return None,
        })
    }
}

/// A Kubernetes Service.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    pub resource_version: u64,
    pub kind: ServiceType,
    /// ClusterIPs that are addresses (`None` for headless is dropped).
    pub cluster_ips: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
    /// Empty when the Service has no selector.
    pub selector: BTreeMap<String, String>,
}

/// An endpoint port (EndpointSlice or Endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointPort {
    pub name: Option<String>,
    /// `None` in an EndpointSlice means "all ports".
    pub port: Option<u16>,
    pub protocol: L4Proto,
}

/// The endpoints of one Service from one object: an EndpointSlice, or the Endpoints object.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSet {
    pub namespace: String,
    /// The object's own name (the slice name, or the Service name for Endpoints).
    pub name: String,
    /// The Service it belongs to (`kubernetes.io/service-name`, or the Endpoints name).
    pub service: String,
    pub resource_version: u64,
    pub ready: Vec<IpAddr>,
    pub not_ready: Vec<IpAddr>,
    pub ports: Vec<EndpointPort>,
    /// True for an EndpointSlice, false for a v1 Endpoints object.
    pub slice: bool,
}

/// A Deployment: its desired and observed replicas.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub namespace: String,
    pub name: String,
    pub resource_version: u64,
    /// spec.replicas (the API default 1 when absent).
    pub replicas: u32,
    pub ready_replicas: u32,
    pub available_replicas: u32,
    pub updated_replicas: u32,
    /// spec.selector.matchLabels.
    pub selector: BTreeMap<String, String>,
    pub labels: Labels,
}

/// `kubectl get cs`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentStatus {
    pub name: String,
    pub healthy: bool,
    pub message: Option<String>,
}

/// A Calico IPPool.
#[derive(Debug, Clone, PartialEq)]
pub struct IpPool {
    pub name: String,
    pub cidr: IpNet,
    /// `Always`, `CrossSubnet` or `Never` (absent: Never).
    pub ipip_mode: Option<String>,
    pub vxlan_mode: Option<String>,
    pub nat_outgoing: bool,
    pub disabled: bool,
}

/// A Calico BlockAffinity.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockAffinity {
    pub name: String,
    pub node: String,
    pub cidr: IpNet,
    pub state: String,
}

/// flannel's network config (`<prefix>/config` in etcd or `net-conf.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct FlannelConfig {
    pub network: Option<IpNet>,
    /// `vxlan`, `host-gw`, `udp`, `wireguard`, ... (default `udp`, as flannel's).
    pub backend_type: String,
    /// VXLAN VNI (default 1).
    pub vni: u32,
    /// VXLAN UDP port when set.
    pub port: Option<u16>,
    /// vxlan `DirectRouting`: host-gw style routes between nodes of one subnet.
    pub direct_routing: bool,
    /// Where it was read.
    pub source: Source,
}

/// A flannel subnet lease.
#[derive(Debug, Clone, PartialEq)]
pub struct FlannelLease {
    pub subnet: IpNet,
    pub public_ip: Option<IpAddr>,
    pub backend_type: Option<String>,
    pub vtep_mac: Option<MacAddr>,
    /// Where it came from: the etcd dump and key, or the Node in kube-subnet-mgr mode.
    pub source: Source,
    /// The etcd key as spelled (`/coreos.com/network/subnets/10.244.1.0-24`).
    pub key: Option<String>,
}

/// One `forward` / `proxy` directive of a Corefile.
#[derive(Debug, Clone, PartialEq)]
pub struct CorefileForward {
    /// The server block (`.:53`).
    pub server: String,
    /// `forward` or `proxy`.
    pub directive: String,
    /// The zone it applies to (`.`).
    pub from: String,
    /// Upstreams: addresses or a resolv.conf path.
    pub targets: Vec<String>,
    /// Line in the Corefile (1-based).
    pub line: usize,
    pub text: String,
}

/// The CoreDNS Corefile, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Corefile {
    /// The Corefile as written.
    pub text: String,
    pub forwards: Vec<CorefileForward>,
}

/// kube-proxy's config (`config.conf` of the kube-proxy ConfigMap).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeProxyConfig {
    /// `mode` as written (`""` is the Linux default, iptables); `None` when there is no config.conf.
    pub mode: Option<String>,
}

/// kubeadm's ClusterConfiguration networking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeadmConfig {
    pub pod_subnets: Vec<IpNet>,
    pub service_subnets: Vec<IpNet>,
}

/// flannel's view in etcd: the config key and the leases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlannelEtcd {
    pub config: Option<FlannelConfig>,
    pub leases: Vec<FlannelLease>,
}

/// The state of one live collector (`k8s`, `etcd`, `netlink/node2`, ...).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CollectorStatus {
    pub name: String,
    /// The last collection succeeded.
    pub up: bool,
    /// Unix time of the last successful collection.
    pub last_success: Option<i64>,
    /// How long the last collection took, in seconds.
    pub duration_seconds: f64,
    /// How old the last success may be before its facts count as stale, in seconds.
    pub stale_after_seconds: Option<i64>,
    /// The last error, for evidence and logs (never a metric label).
    pub error: Option<String>,
    /// True when the source does not exist here (no IPVS, no etcd configured): quiet, not a failure.
    pub no_data: bool,
}

/// A capture's metadata, or what a live run knows of itself.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Meta {
    pub format: Option<String>,
    /// RFC 3339.
    pub captured_at: Option<String>,
    pub cluster: Option<String>,
}
