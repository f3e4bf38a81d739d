//! The one registry of fact kinds: every fact netdoctor collects, by the name
//! rules use (`g.has("pods")`, `h.has("routes")`), its scope (cluster or one
//! host), and the live source that collects it (named by the same noun as its
//! capture reader in `collectors/`). A new source is one entry here; the
//! capture reader maps each kind to its file in one table of its own, so no
//! capture path is spelled in the engine.
//!
//! Start at [`FactKind`] and [`KINDS`].

use serde::Serialize;
use std::fmt;

/// Whether a fact describes the cluster or one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Kubernetes API objects, ConfigMaps, flannel's etcd data.
    Cluster,
    /// What one host's kernel and files say.
    Host,
}

/// Every kind of fact. The order is the order of [`KINDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum FactKind {
    Nodes,
    Pods,
    Services,
    Endpoints,
    Deployments,
    ComponentStatuses,
    IpPools,
    BlockAffinities,
    CorednsConfig,
    KubeProxyConfig,
    KubeadmConfig,
    FlannelNetConf,
    FlannelEtcd,
    Links,
    Addrs,
    Routes,
    Routes6,
    IpRules,
    Neighbours,
    Fdb,
    Ipvs,
    Iptables,
    ResolvConf,
    KubeletResolvConf,
    KubeletConfig,
    KubeletArgs,
    Sysctl,
    SubnetEnv,
}

/// What the registry knows of one kind.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub kind: FactKind,
    /// The name rules and the JSON output use (`pods`, `configmap/coredns`, `routes`).
    pub name: &'static str,
    pub scope: Scope,
    /// The collector that gathers it live, named as its capture reader (`k8s`, `etcd`, `netlink`, ...).
    pub collector: &'static str,
    /// What it is, for people (`--help`, docs, skip reasons).
    pub what: &'static str,
}

use FactKind::*;
use Scope::{Cluster, Host};

/// The registry, one entry per kind.
pub const KINDS: &[KindInfo] = &[
    KindInfo { kind: Nodes, name: "nodes", scope: Cluster, collector: "k8s", what: "Node objects" },
    KindInfo { kind: Pods, name: "pods", scope: Cluster, collector: "k8s", what: "Pod objects" },
    KindInfo { kind: Services, name: "services", scope: Cluster, collector: "k8s", what: "Service objects" },
    KindInfo { kind: Endpoints, name: "endpoints", scope: Cluster, collector: "k8s", what: "EndpointSlices (else Endpoints)" },
    KindInfo { kind: Deployments, name: "deployments", scope: Cluster, collector: "k8s", what: "Deployment objects" },
    KindInfo { kind: ComponentStatuses, name: "componentstatuses", scope: Cluster, collector: "k8s", what: "ComponentStatuses (`kubectl get cs`)" },
    KindInfo { kind: IpPools, name: "ippools", scope: Cluster, collector: "k8s", what: "Calico IPPools" },
    KindInfo { kind: BlockAffinities, name: "blockaffinities", scope: Cluster, collector: "k8s", what: "Calico BlockAffinities" },
    KindInfo { kind: CorednsConfig, name: "configmap/coredns", scope: Cluster, collector: "k8s", what: "the Corefile (ConfigMap kube-system/coredns)" },
    KindInfo {
        kind: KubeProxyConfig,
        name: "configmap/kube-proxy",
        scope: Cluster,
        collector: "k8s",
        what: "kube-proxy's config (ConfigMap kube-system/kube-proxy)",
    },
    KindInfo {
        kind: KubeadmConfig,
        name: "configmap/kubeadm-config",
        scope: Cluster,
        collector: "k8s",
        what: "kubeadm's ClusterConfiguration (ConfigMap kube-system/kubeadm-config)",
    },
    KindInfo {
        kind: FlannelNetConf,
        name: "configmap/kube-flannel-cfg",
        scope: Cluster,
        collector: "k8s",
        what: "flannel's net-conf.json (ConfigMap kube-flannel-cfg)",
    },
    KindInfo { kind: FlannelEtcd, name: "etcd/flannel", scope: Cluster, collector: "etcd", what: "flannel's config and subnet leases in etcd" },
    KindInfo { kind: Links, name: "links", scope: Host, collector: "netlink", what: "interfaces (`ip -d link`)" },
    KindInfo { kind: Addrs, name: "addrs", scope: Host, collector: "netlink", what: "interface addresses (`ip addr`)" },
    KindInfo { kind: Routes, name: "routes", scope: Host, collector: "netlink", what: "routes of every table (`ip route show table all`)" },
    KindInfo { kind: Routes6, name: "routes6", scope: Host, collector: "netlink", what: "IPv6 routes captured separately (`ip -6 route show table all`)" },
    KindInfo { kind: IpRules, name: "rules", scope: Host, collector: "netlink", what: "policy routing rules (`ip rule`)" },
    KindInfo { kind: Neighbours, name: "neighbours", scope: Host, collector: "netlink", what: "neighbour entries (`ip neigh`)" },
    KindInfo { kind: Fdb, name: "fdb", scope: Host, collector: "netlink", what: "bridge forwarding entries (`bridge fdb`)" },
    KindInfo { kind: Ipvs, name: "ipvs", scope: Host, collector: "ipvs", what: "the IPVS table (`ipvsadm -Ln`)" },
    KindInfo { kind: Iptables, name: "iptables", scope: Host, collector: "iptables", what: "iptables rules (`iptables-save`)" },
    KindInfo { kind: ResolvConf, name: "resolv_conf", scope: Host, collector: "resolv_conf", what: "the host's /etc/resolv.conf" },
    KindInfo { kind: KubeletResolvConf, name: "kubelet_resolv_conf", scope: Host, collector: "resolv_conf", what: "the resolv.conf the kubelet hands pods" },
    KindInfo { kind: KubeletConfig, name: "kubelet_config", scope: Host, collector: "kubelet", what: "the kubelet's config file" },
    KindInfo { kind: KubeletArgs, name: "kubelet_args", scope: Host, collector: "kubelet", what: "the kubelet's command line" },
    KindInfo { kind: Sysctl, name: "sysctl", scope: Host, collector: "sysctl", what: "kernel parameters (`sysctl -a`)" },
    KindInfo { kind: SubnetEnv, name: "subnet_env", scope: Host, collector: "subnet_env", what: "flannel's /run/flannel/subnet.env" },
];

impl FactKind {
    /// The registry entry.
    pub fn info(self) -> &'static KindInfo {
        &KINDS[self as usize]
    }
    /// The name rules use.
    pub fn name(self) -> &'static str {
        self.info().name
    }
    /// Cluster or host.
    pub fn scope(self) -> Scope {
        self.info().scope
    }
    /// The kind of that rule-facing name.
    pub fn from_name(name: &str) -> Option<FactKind> {
        KINDS.iter().find(|k| k.name == name).map(|k| k.kind)
    }
    /// Every kind, in registry order.
    pub fn all() -> impl Iterator<Item = FactKind> {
        KINDS.iter().map(|k| k.kind)
    }
    /// The kinds of one scope, in registry order.
    pub fn of(scope: Scope) -> impl Iterator<Item = FactKind> {
        KINDS.iter().filter(move |k| k.scope == scope).map(|k| k.kind)
    }
    /// The names of one scope's kinds, comma-separated (for error messages).
    pub fn names(scope: Scope) -> String {
        FactKind::of(scope).map(FactKind::name).collect::<Vec<_>>().join(", ")
    }
}

impl fmt::Display for FactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_is_in_enum_order_and_names_are_unique() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(k.kind as usize, i, "{} out of order", k.name);
            assert_eq!(FactKind::from_name(k.name), Some(k.kind));
        }
        let mut names: Vec<_> = KINDS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
    }
}
