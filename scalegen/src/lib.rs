//! Generates realistic capture directories at scale, with injected faults and
//! the findings they must produce: the input of netdoctor's scale benchmarks.
//!
//! Start at [`generate`]: a [`Spec`] (nodes, pods, Services, how many node
//! folders, kube-proxy mode, faults, seed) becomes a capture directory in the
//! layout of `docs/` capture-format (kubectl Lists, `ip -j`, `ipvsadm -Ln`,
//! `iptables-save`, `etcdctl -w json`, `sysctl`), written as a stream so
//! 150,000 pods never sit in memory as one document, plus the exact list of
//! [`Expected`] findings. The same spec and seed always give the same bytes.
//!
//! - `model`: the cluster (addresses, pods, Services, endpoints, where each fault sits);
//! - `kube`: `cluster/`, `etcd/`, `meta.json`;
//! - `host`: `nodes/<name>/`;
//! - [`report`]: reads `netdoctor eval --format json` back into [`Expected`] findings, to compare.

mod host;
mod kube;
mod model;
pub mod report;
mod rng;

use std::path::Path;

/// kube-proxy's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proxy {
    Ipvs,
    Iptables,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Spec {
    pub nodes: usize,
    /// Every pod, system pods included (these come first; the rest are app replicas).
    pub pods: usize,
    /// Every Service, default/kubernetes, kube-dns and metrics-server included.
    pub services: usize,
    /// Node folders written: the first `hosts` nodes, the control plane first.
    pub hosts: usize,
    pub proxy: Proxy,
    /// Inject one of each fault, each on its own node or Service while there
    /// are enough (cluster-only faults on nodes without a folder, host faults
    /// on captured hosts, workers first); the finding each must produce:
    ///
    /// | fault | finding |
    /// |---|---|
    /// | captured host without IPv4 default route | `node-no-default-route` Node/H (iptables mode: also `service-ip-unroutable` Node/H → each Service; IPVS keeps ClusterIPs local on kube-ipvs0) |
    /// | etcd lease whose PublicIP is no node's | `flannel-lease-orphaned` FlannelLease/CIDR |
    /// | Node without a lease (peers dropped its routes) | `flannel-lease-missing` Node/L |
    /// | captured host without route, neighbour and FDB entry for one peer lease | `flannel-route-missing` Node/H → FlannelLease/CIDR |
    /// | captured peer holding a stale VTEP MAC (neighbour and FDB) for node X | `flannel-vtep-mac-mismatch` Node/X |
    /// | IPVS: a stale real server on one Service's virtual server; iptables: that Service's KUBE-SERVICES jumps missing | `ipvs-backends-stale` Service/ns/name @H; `service-rules-missing` Node/H → Service/ns/name |
    /// | Service whose pods all fail readiness | `service-no-ready-endpoints` Service/ns/name |
    /// | CoreDNS replica in CrashLoopBackOff | `coredns-not-ready` Pod/kube-system/coredns-… |
    /// | `net.ipv4.ip_forward = 0` on a captured host | `ip-forward-disabled` Node/H |
    /// | Node NotReady for 2 min (its pods marked not Ready) | `node-not-ready` Node/R and `cni-agent-not-ready` Pod/kube-flannel/kube-flannel-ds-… @R |
    /// | evicted kube-system pods (metrics-server) on a node | `node-disk-pressure-evictions` Node/E |
    /// | cni0 and veths at MTU 1500 over flannel.1 1450 | `overlay-mtu-mismatch` Node/H |
    ///
    /// Host faults need `hosts >= 1`; faults need `nodes >= 8`.
    pub faults: bool,
    /// Services whose pods all fail readiness (each gives service-no-ready-endpoints).
    pub outage_services: usize,
    pub seed: u64,
}

impl Spec {
    /// The benchmark shape: 30 pods and 2 Services per node, flannel vxlan and
    /// IPVS, cluster objects only, faults on.
    pub fn scaled(nodes: usize) -> Spec {
        Spec { nodes, pods: 30 * nodes, services: 2 * nodes, hosts: 0, proxy: Proxy::Ipvs, faults: true, outage_services: 0, seed: 1 }
    }

    /// A stable key for caching a generated capture (FNV-1a over the fields).
    pub fn key(&self) -> String {
        let text = format!("{self:?}/v1");
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in text.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("n{}-h{}-{}-{:016x}", self.nodes, self.hosts, if self.proxy == Proxy::Ipvs { "ipvs" } else { "iptables" }, h)
    }
}

/// One finding a fault must produce. Subjects are spelled
/// `Kind/[namespace/]name`: `Node/node-0042`, `Service/ns/name`,
/// `Pod/ns/name`, `FlannelLease/10.244.7.0/24`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Expected {
    pub rule: String,
    pub subject: String,
    /// The node the finding concerns (a Pod's node, the host of a
    /// `node + service` finding); None for Services and leases.
    pub node: Option<String>,
    pub related: Option<String>,
}

impl Expected {
    fn node(name: &str) -> Expected {
        Expected { rule: String::new(), subject: format!("Node/{name}"), node: Some(name.to_string()), related: None }
    }

    fn rule(mut self, rule: &str) -> Expected {
        self.rule = rule.to_string();
        self
    }

    fn related(mut self, related: String) -> Expected {
        self.related = Some(related);
        self
    }
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.rule, self.subject)?;
        if let Some(n) = &self.node {
            if !self.subject.starts_with("Node/") {
                write!(f, " @{n}")?;
            }
        }
        if let Some(r) = &self.related {
            write!(f, " -> {r}")?;
        }
        Ok(())
    }
}

/// Skipped subjects per rule: `(rule id, count)`, sorted.
pub type Skips = Vec<(String, usize)>;

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Every finding the capture must produce, and no other (sorted).
    pub expected: Vec<Expected>,
    /// Rules that must report skips, with how many subjects: host rules skip
    /// each Node without a folder.
    pub expected_skips: Skips,
    pub files: usize,
    pub bytes: u64,
}

/// Writes the capture for `spec` into `dir` (created if missing; existing
/// files of the same names are replaced).
pub fn generate(spec: &Spec, dir: &Path) -> std::io::Result<Generated> {
    let cluster = model::Cluster::build(spec)?;
    let mut out = kube::Out::new(dir);
    kube::write_cluster(&cluster, &mut out)?;
    if cluster.nodes.iter().any(|n| n.captured) {
        let shared = host::Shared::new(&cluster);
        for i in (0..cluster.nodes.len()).filter(|&i| cluster.nodes[i].captured) {
            host::write_host(&cluster, &shared, i, &mut out)?;
        }
    }
    Ok(Generated { expected: cluster.expected(), expected_skips: cluster.expected_skips(), files: out.files, bytes: out.bytes })
}

/// The findings and skips `spec` promises, without writing anything (for a
/// capture generated earlier with the same spec).
pub fn expected(spec: &Spec) -> std::io::Result<(Vec<Expected>, Skips)> {
    let cluster = model::Cluster::build(spec)?;
    Ok((cluster.expected(), cluster.expected_skips()))
}
