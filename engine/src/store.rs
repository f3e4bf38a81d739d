//! The fact store, modelled on kube-runtime's reflector `Store`: facts keyed by
//! kind and object key (or host), applied and removed one at a time or
//! replaced wholesale, each with its provenance. Collectors write; the
//! evaluation reads immutable, fully indexed [`Graph`] snapshots.
//!
//! A [`FactSet`] holds what one source knows (a capture directory, the k8s
//! watchers, one host's netlink). A [`FactStore`] keeps one `FactSet` per
//! collector, so a collector's update replaces only its own facts, and a failed
//! collection keeps the last good ones (its status says since when they are
//! stale). [`FactStore::snapshot`] merges the sets into a [`Graph`].
//!
//! Start at [`FactSet`] (what a collector fills) and [`FactStore`].

use crate::graph::{Graph, GraphOptions};
use crate::kind::{FactKind, Scope};
use crate::model::*;
use crate::source::{could_not_read, Fact, Source, SourceError};
use ipnet::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// `(namespace, name)`; the namespace is `""` for cluster-scoped objects.
pub type ObjKey = (String, String);

/// One cluster object, as collectors apply it.
#[derive(Debug, Clone)]
pub enum Object {
    Node(Node),
    Pod(Pod),
    Service(Service),
    /// An EndpointSlice or an Endpoints object.
    Endpoints(EndpointSet),
    Deployment(Deployment),
    ComponentStatus(ComponentStatus),
    IpPool(IpPool),
    BlockAffinity(BlockAffinity),
    /// A flannel lease (etcd).
    Lease(FlannelLease),
}

impl Object {
    /// The fact kind it belongs to.
    pub fn kind(&self) -> FactKind {
        match self {
            Object::Node(_) => FactKind::Nodes,
            Object::Pod(_) => FactKind::Pods,
            Object::Service(_) => FactKind::Services,
            Object::Endpoints(_) => FactKind::Endpoints,
            Object::Deployment(_) => FactKind::Deployments,
            Object::ComponentStatus(_) => FactKind::ComponentStatuses,
            Object::IpPool(_) => FactKind::IpPools,
            Object::BlockAffinity(_) => FactKind::BlockAffinities,
            Object::Lease(_) => FactKind::FlannelEtcd,
        }
    }
    /// Its key within its kind. EndpointSlices and Endpoints share a kind: the slice's key
    /// carries a `slice/` prefix in the namespace part so the two never collide.
    pub fn key(&self) -> ObjKey {
        match self {
            Object::Node(n) => (String::new(), n.name.clone()),
            Object::Pod(p) => (p.namespace.clone(), p.name.clone()),
            Object::Service(s) => (s.namespace.clone(), s.name.clone()),
            Object::Endpoints(e) => endpoints_key(e.slice, &e.namespace, &e.name),
            Object::Deployment(d) => (d.namespace.clone(), d.name.clone()),
            Object::ComponentStatus(c) => (String::new(), c.name.clone()),
            Object::IpPool(p) => (String::new(), p.name.clone()),
            Object::BlockAffinity(b) => (String::new(), b.name.clone()),
            Object::Lease(l) => (String::new(), l.subnet.to_string()),
        }
    }
    /// The object's resourceVersion (0 when it has none).
    pub fn resource_version(&self) -> u64 {
        match self {
            Object::Node(n) => n.resource_version,
            Object::Pod(p) => p.resource_version,
            Object::Service(s) => s.resource_version,
            Object::Endpoints(e) => e.resource_version,
            Object::Deployment(d) => d.resource_version,
            _ => 0,
        }
    }
}

/// The key of an EndpointSlice (`slice` true) or an Endpoints object.
pub fn endpoints_key(slice: bool, namespace: &str, name: &str) -> ObjKey {
    (format!("{}{namespace}", if slice { "slice/" } else { "" }), name.to_string())
}

/// What is known of one cluster kind's collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KindState {
    /// Where it was read (files, or the live collector).
    pub sources: Vec<Source>,
    /// Entries (objects, keys, whole files) that could not be read.
    pub broken: Vec<Broken>,
}

/// An entry that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub source: Source,
    pub error: String,
}

/// Where a source would have read a host fact it did not collect: the words skip reasons
/// use, so that "not collected" names the file or source that was missing (the engine
/// never spells a capture path itself).
pub trait Locator: Send + Sync + std::fmt::Debug {
    /// Where `kind` of `host` would be read (a capture file, a live source).
    fn host_fact(&self, host: &str, kind: FactKind) -> String;
    /// Why nothing at all was collected for a host known only from the cluster, naming `kind`
    /// (the capture reader names the folder and file it looked for).
    fn no_host(&self, host: &str, kind: FactKind) -> String;
    /// How the source names a host whose facts it holds (`captured host nodes/n1/`).
    fn host(&self, host: &str) -> String {
        format!("host {host}")
    }
    /// Why a cluster kind was not collected, when the source knows (a live collector that
    /// found no kubeconfig or no etcd configured); `None` gives "KIND not collected".
    fn cluster_kind(&self, _kind: FactKind) -> Option<String> {
        None
    }
}

/// Everything one source knows. Collectors fill it; [`Graph::build`] indexes it.
#[derive(Debug, Clone, Default)]
pub struct FactSet {
    pub meta: Meta,
    /// How this source names the host facts it did not collect.
    pub locator: Option<Arc<dyn Locator>>,
    pub(crate) kinds: BTreeMap<FactKind, KindState>,
    pub(crate) nodes: BTreeMap<ObjKey, Arc<Node>>,
    pub(crate) pods: BTreeMap<ObjKey, Arc<Pod>>,
    pub(crate) services: BTreeMap<ObjKey, Arc<Service>>,
    pub(crate) endpoints: BTreeMap<ObjKey, Arc<EndpointSet>>,
    pub(crate) deployments: BTreeMap<ObjKey, Arc<Deployment>>,
    pub(crate) component_statuses: BTreeMap<ObjKey, Arc<ComponentStatus>>,
    pub(crate) ip_pools: BTreeMap<ObjKey, Arc<IpPool>>,
    pub(crate) block_affinities: BTreeMap<ObjKey, Arc<BlockAffinity>>,
    pub(crate) leases: BTreeMap<ObjKey, Arc<FlannelLease>>,
    pub(crate) flannel_etcd_config: Option<FlannelConfig>,
    pub(crate) corefile: Fact<Corefile>,
    pub(crate) kube_proxy: Fact<KubeProxyConfig>,
    pub(crate) kubeadm: Fact<KubeadmConfig>,
    pub(crate) flannel_net_conf: Fact<FlannelConfig>,
    pub(crate) hosts: BTreeMap<String, HostFacts>,
    pub(crate) errors: Vec<SourceError>,
    pub(crate) notes: Vec<String>,
    /// The newest timestamp seen in the facts (Unix seconds): the capture time when meta has none.
    pub(crate) newest: Option<i64>,
    /// Collector statuses a capture recorded (the capture metadata `collectors` map).
    pub(crate) collectors: Vec<CollectorStatus>,
    /// Kinds changed since the set was last drained by the store.
    pub(crate) touched: BTreeSet<FactKind>,
}

macro_rules! objects_of {
    ($set:expr, $kind:expr, $f:ident) => {
        match $kind {
            FactKind::Nodes => $set.nodes.$f(),
            FactKind::Pods => $set.pods.$f(),
            FactKind::Services => $set.services.$f(),
            FactKind::Endpoints => $set.endpoints.$f(),
            FactKind::Deployments => $set.deployments.$f(),
            FactKind::ComponentStatuses => $set.component_statuses.$f(),
            FactKind::IpPools => $set.ip_pools.$f(),
            FactKind::BlockAffinities => $set.block_affinities.$f(),
            FactKind::FlannelEtcd => $set.leases.$f(),
            _ => Default::default(),
        }
    };
}

impl FactSet {
    /// An empty set.
    pub fn new() -> FactSet {
        FactSet::default()
    }

    /// Records that a cluster kind was collected from `source` (even if it holds no object).
    pub fn collected(&mut self, kind: FactKind, source: Source) {
        let st = self.kinds.entry(kind).or_default();
        if !st.sources.contains(&source) {
            st.sources.push(source);
        }
        self.touched.insert(kind);
    }

    /// Records that an entry of a cluster kind could not be read (one object, one key, or a
    /// whole file), and reports the error. Rules that need the kind skip with this reason.
    pub fn broken(&mut self, kind: FactKind, source: Source, error: impl Into<String>) {
        let error = error.into();
        self.errors.push(SourceError::new(&source, error.clone()));
        self.kinds.entry(kind).or_default().broken.push(Broken { source, error });
        self.touched.insert(kind);
    }

    /// Replaces the broken entries of a cluster kind with `broken`, withdrawing the errors the
    /// old entries reported and reporting the new ones: a live collector's current view, where
    /// an object that was fixed or deleted is no longer broken.
    pub fn set_broken(&mut self, kind: FactKind, broken: Vec<Broken>) {
        let st = self.kinds.entry(kind).or_default();
        let old = std::mem::replace(&mut st.broken, broken);
        let withdrawn: Vec<SourceError> = old.iter().map(|b| SourceError::new(&b.source, b.error.clone())).collect();
        self.errors.retain(|e| !withdrawn.contains(e));
        let reported: Vec<SourceError> = st.broken.iter().map(|b| SourceError::new(&b.source, b.error.clone())).collect();
        self.errors.extend(reported);
        self.touched.insert(kind);
    }

    /// Keeps only the errors for which `keep` holds (a live collector withdrawing an error
    /// that no longer applies).
    pub fn retain_errors(&mut self, keep: impl FnMut(&SourceError) -> bool) {
        self.errors.retain(keep);
    }

    /// Applies (creates or replaces) one object; returns the resourceVersion of the object it
    /// replaced, if any.
    pub fn apply(&mut self, obj: Object) -> Option<u64> {
        let kind = obj.kind();
        self.touched.insert(kind);
        self.kinds.entry(kind).or_default();
        let key = obj.key();
        match obj {
            Object::Node(n) => self.nodes.insert(key, Arc::new(n)).map(|o| o.resource_version),
            Object::Pod(p) => self.pods.insert(key, Arc::new(p)).map(|o| o.resource_version),
            Object::Service(s) => self.services.insert(key, Arc::new(s)).map(|o| o.resource_version),
            Object::Endpoints(e) => self.endpoints.insert(key, Arc::new(e)).map(|o| o.resource_version),
            Object::Deployment(d) => self.deployments.insert(key, Arc::new(d)).map(|o| o.resource_version),
            Object::ComponentStatus(c) => self.component_statuses.insert(key, Arc::new(c)).map(|_| 0),
            Object::IpPool(p) => self.ip_pools.insert(key, Arc::new(p)).map(|_| 0),
            Object::BlockAffinity(b) => self.block_affinities.insert(key, Arc::new(b)).map(|_| 0),
            Object::Lease(l) => self.leases.insert(key, Arc::new(l)).map(|_| 0),
        }
    }

    /// The resourceVersion of the object of that kind and key, when present.
    pub fn resource_version(&self, kind: FactKind, key: &ObjKey) -> Option<u64> {
        match kind {
            FactKind::Nodes => self.nodes.get(key).map(|o| o.resource_version),
            FactKind::Pods => self.pods.get(key).map(|o| o.resource_version),
            FactKind::Services => self.services.get(key).map(|o| o.resource_version),
            FactKind::Endpoints => self.endpoints.get(key).map(|o| o.resource_version),
            FactKind::Deployments => self.deployments.get(key).map(|o| o.resource_version),
            FactKind::ComponentStatuses => self.component_statuses.get(key).map(|_| 0),
            FactKind::IpPools => self.ip_pools.get(key).map(|_| 0),
            FactKind::BlockAffinities => self.block_affinities.get(key).map(|_| 0),
            FactKind::FlannelEtcd => self.leases.get(key).map(|_| 0),
            _ => None,
        }
    }

    /// Removes one object; true when it existed.
    pub fn remove(&mut self, kind: FactKind, key: &ObjKey) -> bool {
        self.touched.insert(kind);
        match kind {
            FactKind::Nodes => self.nodes.remove(key).is_some(),
            FactKind::Pods => self.pods.remove(key).is_some(),
            FactKind::Services => self.services.remove(key).is_some(),
            FactKind::Endpoints => self.endpoints.remove(key).is_some(),
            FactKind::Deployments => self.deployments.remove(key).is_some(),
            FactKind::ComponentStatuses => self.component_statuses.remove(key).is_some(),
            FactKind::IpPools => self.ip_pools.remove(key).is_some(),
            FactKind::BlockAffinities => self.block_affinities.remove(key).is_some(),
            FactKind::FlannelEtcd => self.leases.remove(key).is_some(),
            _ => false,
        }
    }

    /// Forgets a cluster kind entirely: its objects, sources and broken entries (before a
    /// relist replaces it, or when its collector stops providing it).
    pub fn clear(&mut self, kind: FactKind) {
        self.touched.insert(kind);
        self.kinds.remove(&kind);
        match kind {
            FactKind::Nodes => self.nodes.clear(),
            FactKind::Pods => self.pods.clear(),
            FactKind::Services => self.services.clear(),
            FactKind::Endpoints => self.endpoints.clear(),
            FactKind::Deployments => self.deployments.clear(),
            FactKind::ComponentStatuses => self.component_statuses.clear(),
            FactKind::IpPools => self.ip_pools.clear(),
            FactKind::BlockAffinities => self.block_affinities.clear(),
            FactKind::FlannelEtcd => {
                self.leases.clear();
                self.flannel_etcd_config = None;
            }
            FactKind::CorednsConfig => self.corefile = Fact::Missing,
            FactKind::KubeProxyConfig => self.kube_proxy = Fact::Missing,
            FactKind::KubeadmConfig => self.kubeadm = Fact::Missing,
            FactKind::FlannelNetConf => self.flannel_net_conf = Fact::Missing,
            _ => {}
        }
    }

    /// The number of objects of a cluster kind.
    pub fn count(&self, kind: FactKind) -> usize {
        objects_of!(self, kind, len)
    }

    /// Keys of the objects of a cluster kind (for a relist to find what disappeared).
    pub fn keys(&self, kind: FactKind) -> Vec<ObjKey> {
        let keys: Vec<ObjKey> = match kind {
            FactKind::Nodes => self.nodes.keys().cloned().collect(),
            FactKind::Pods => self.pods.keys().cloned().collect(),
            FactKind::Services => self.services.keys().cloned().collect(),
            FactKind::Endpoints => self.endpoints.keys().cloned().collect(),
            FactKind::Deployments => self.deployments.keys().cloned().collect(),
            FactKind::ComponentStatuses => self.component_statuses.keys().cloned().collect(),
            FactKind::IpPools => self.ip_pools.keys().cloned().collect(),
            FactKind::BlockAffinities => self.block_affinities.keys().cloned().collect(),
            FactKind::FlannelEtcd => self.leases.keys().cloned().collect(),
            _ => Vec::new(),
        };
        keys
    }

    /// Copies of the objects of a cluster kind, in key order (for writing them out).
    pub fn objects(&self, kind: FactKind) -> Vec<Object> {
        fn all<T: Clone>(m: &BTreeMap<ObjKey, Arc<T>>, f: impl Fn(T) -> Object) -> Vec<Object> {
            m.values().map(|v| f(v.as_ref().clone())).collect()
        }
        match kind {
            FactKind::Nodes => all(&self.nodes, Object::Node),
            FactKind::Pods => all(&self.pods, Object::Pod),
            FactKind::Services => all(&self.services, Object::Service),
            FactKind::Endpoints => all(&self.endpoints, Object::Endpoints),
            FactKind::Deployments => all(&self.deployments, Object::Deployment),
            FactKind::ComponentStatuses => all(&self.component_statuses, Object::ComponentStatus),
            FactKind::IpPools => all(&self.ip_pools, Object::IpPool),
            FactKind::BlockAffinities => all(&self.block_affinities, Object::BlockAffinity),
            FactKind::FlannelEtcd => all(&self.leases, Object::Lease),
            _ => Vec::new(),
        }
    }

    /// flannel's network config from etcd, when read.
    pub fn flannel_etcd_config(&self) -> Option<&FlannelConfig> {
        self.flannel_etcd_config.as_ref()
    }
    /// The Corefile fact (ConfigMap kube-system/coredns).
    pub fn corefile(&self) -> &Fact<Corefile> {
        &self.corefile
    }
    /// kube-proxy's config fact (ConfigMap kube-system/kube-proxy).
    pub fn kube_proxy(&self) -> &Fact<KubeProxyConfig> {
        &self.kube_proxy
    }
    /// kubeadm's ClusterConfiguration networking fact.
    pub fn kubeadm(&self) -> &Fact<KubeadmConfig> {
        &self.kubeadm
    }
    /// flannel's net-conf.json fact (ConfigMap kube-flannel-cfg).
    pub fn flannel_net_conf(&self) -> &Fact<FlannelConfig> {
        &self.flannel_net_conf
    }

    /// Sets flannel's network config from etcd (`<prefix>/config`).
    pub fn set_flannel_etcd_config(&mut self, config: Option<FlannelConfig>) {
        self.touched.insert(FactKind::FlannelEtcd);
        self.flannel_etcd_config = config;
    }

    /// Sets the Corefile (ConfigMap kube-system/coredns).
    pub fn set_corefile(&mut self, f: Fact<Corefile>) {
        self.set_config(FactKind::CorednsConfig, f, |s| &mut s.corefile)
    }
    /// Sets kube-proxy's config (ConfigMap kube-system/kube-proxy).
    pub fn set_kube_proxy(&mut self, f: Fact<KubeProxyConfig>) {
        self.set_config(FactKind::KubeProxyConfig, f, |s| &mut s.kube_proxy)
    }
    /// Sets kubeadm's ClusterConfiguration networking.
    pub fn set_kubeadm(&mut self, f: Fact<KubeadmConfig>) {
        self.set_config(FactKind::KubeadmConfig, f, |s| &mut s.kubeadm)
    }
    /// Sets flannel's net-conf.json (ConfigMap kube-flannel-cfg).
    pub fn set_flannel_net_conf(&mut self, f: Fact<FlannelConfig>) {
        self.set_config(FactKind::FlannelNetConf, f, |s| &mut s.flannel_net_conf)
    }

    fn set_config<T>(&mut self, kind: FactKind, f: Fact<T>, slot: impl FnOnce(&mut FactSet) -> &mut Fact<T>) {
        self.touched.insert(kind);
        if let Fact::Broken { source, error } = &f {
            self.errors.push(SourceError::new(source, error.clone()));
        }
        *slot(self) = f;
    }

    /// The facts of one host, created empty on first use.
    pub fn host_mut(&mut self, name: &str) -> &mut HostFacts {
        self.hosts.entry(name.to_string()).or_default()
    }

    /// Sets one host fact of `kind` from a closure over the host's facts, recording the
    /// change; a broken fact's error is reported.
    pub fn set_host(&mut self, host: &str, kind: FactKind, f: impl FnOnce(&mut HostFacts)) {
        debug_assert_eq!(kind.scope(), Scope::Host);
        self.touched.insert(kind);
        let h = self.hosts.entry(host.to_string()).or_default();
        f(h);
        if let Some(st) = h.state(kind) {
            if let (Some(src), Some(err)) = (st.source, st.error) {
                let e = SourceError::new(src, err.to_string());
                self.errors.push(e);
            }
        }
    }

    /// Sets every fact of one host at once (a collector that read the whole host), reporting
    /// the errors of its broken facts.
    pub fn set_host_facts(&mut self, host: &str, facts: HostFacts) {
        self.touched.extend(FactKind::of(Scope::Host));
        for k in FactKind::of(Scope::Host) {
            if let Some(st) = facts.state(k) {
                if let (Some(src), Some(err)) = (st.source, st.error) {
                    self.errors.push(SourceError::new(src, err.to_string()));
                }
            }
        }
        self.hosts.insert(host.to_string(), facts);
    }

    /// Drops errors reported after the first `len` (an error already reported once).
    pub fn truncate_errors(&mut self, len: usize) {
        self.errors.truncate(len);
    }

    /// Removes a host and all its facts.
    pub fn remove_host(&mut self, host: &str) {
        if self.hosts.remove(host).is_some() {
            self.touched.extend(FactKind::of(Scope::Host));
        }
    }

    /// Names of the hosts with facts.
    pub fn host_names(&self) -> impl Iterator<Item = &String> {
        self.hosts.keys()
    }

    /// The facts of one host.
    pub fn host(&self, name: &str) -> Option<&HostFacts> {
        self.hosts.get(name)
    }

    /// Reports an error of a source that is not tied to one fact (an unreadable directory).
    pub fn error(&mut self, source: impl std::fmt::Display, message: impl Into<String>) {
        self.errors.push(SourceError::new(source, message));
    }

    /// Adds a note for the report.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Records a timestamp seen in the facts (RFC 3339); the newest is the capture time when
    /// the metadata has none.
    pub fn saw_timestamp(&mut self, ts: &str) {
        if let Some(t) = crate::time::parse_rfc3339(ts) {
            if self.newest.is_none_or(|n| t > n) {
                self.newest = Some(t);
            }
        }
    }

    /// Records how live collectors fared when a capture was written (the capture metadata `collectors` map).
    pub fn set_collectors(&mut self, statuses: Vec<CollectorStatus>) {
        self.collectors = statuses;
    }

    /// Errors reported so far.
    pub fn errors(&self) -> &[SourceError] {
        &self.errors
    }

    /// Notes so far.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The state of a cluster kind: `None` when not collected.
    pub fn kind_state(&self, kind: FactKind) -> Option<&KindState> {
        self.kinds.get(&kind)
    }

    /// Why a cluster kind cannot be used, or `None` when it is fully read.
    pub fn cluster_unavailable(&self, kind: FactKind) -> Option<String> {
        let not_collected = || self.locator.as_ref().and_then(|l| l.cluster_kind(kind)).unwrap_or_else(|| format!("{kind} not collected"));
        let config = |f: Option<(&Source, &str)>, present: bool| match (f, present) {
            (_, true) => None,
            (Some((s, e)), _) => Some(could_not_read(s, e)),
            (None, _) => Some(not_collected()),
        };
        fn of<T>(f: &Fact<T>) -> (Option<(&Source, &str)>, bool) {
            match f {
                Fact::Broken { source, error } => (Some((source, error.as_str())), false),
                Fact::Present { .. } => (None, true),
                Fact::Missing => (None, false),
            }
        }
        match kind {
            FactKind::CorednsConfig => {
                let (b, p) = of(&self.corefile);
                config(b, p)
            }
            FactKind::KubeProxyConfig => {
                let (b, p) = of(&self.kube_proxy);
                config(b, p)
            }
            FactKind::KubeadmConfig => {
                let (b, p) = of(&self.kubeadm);
                config(b, p)
            }
            FactKind::FlannelNetConf => {
                let (b, p) = of(&self.flannel_net_conf);
                config(b, p)
            }
            _ => match self.kinds.get(&kind) {
                None => Some(not_collected()),
                Some(st) => st.broken.first().map(|b| {
                    let more = st.broken.len() - 1;
                    let tail = if more > 0 { format!(" (and {more} more)") } else { String::new() };
                    format!("{}{tail}", could_not_read(&b.source, &b.error))
                }),
            },
        }
    }

    /// Moves every fact of `other` into this set (a later set wins per object, host fact and
    /// config); errors and notes are appended.
    pub fn merge(&mut self, other: FactSet) {
        fn meta_merge(into: &mut Meta, from: Meta) {
            into.format = into.format.take().or(from.format);
            into.captured_at = into.captured_at.take().or(from.captured_at);
            into.cluster = into.cluster.take().or(from.cluster);
        }
        meta_merge(&mut self.meta, other.meta);
        if self.locator.is_none() {
            self.locator = other.locator;
        }
        for (k, st) in other.kinds {
            let into = self.kinds.entry(k).or_default();
            into.sources.extend(st.sources);
            into.broken.extend(st.broken);
        }
        self.nodes.extend(other.nodes);
        self.pods.extend(other.pods);
        self.services.extend(other.services);
        self.endpoints.extend(other.endpoints);
        self.deployments.extend(other.deployments);
        self.component_statuses.extend(other.component_statuses);
        self.ip_pools.extend(other.ip_pools);
        self.block_affinities.extend(other.block_affinities);
        self.leases.extend(other.leases);
        if other.flannel_etcd_config.is_some() {
            self.flannel_etcd_config = other.flannel_etcd_config;
        }
        fn take<T>(into: &mut Fact<T>, from: Fact<T>) {
            if !matches!(from, Fact::Missing) {
                *into = from;
            }
        }
        take(&mut self.corefile, other.corefile);
        take(&mut self.kube_proxy, other.kube_proxy);
        take(&mut self.kubeadm, other.kubeadm);
        take(&mut self.flannel_net_conf, other.flannel_net_conf);
        for (name, h) in other.hosts {
            self.hosts.entry(name).or_default().merge(h);
        }
        self.collectors.extend(other.collectors);
        self.errors.extend(other.errors);
        self.notes.extend(other.notes);
        if other.newest > self.newest {
            self.newest = other.newest;
        }
        self.touched.extend(other.touched);
    }

    /// The leases of the set (etcd), for collectors that diff them.
    pub fn leases(&self) -> impl Iterator<Item = &FlannelLease> {
        self.leases.values().map(|l| l.as_ref())
    }

    /// The subnet key of a lease.
    pub fn lease_key(subnet: &IpNet) -> ObjKey {
        (String::new(), subnet.to_string())
    }
}

/// The shared store: one [`FactSet`] per collector, and each collector's status.
#[derive(Debug, Default)]
pub struct FactStore {
    parts: BTreeMap<String, FactSet>,
    collectors: BTreeMap<String, CollectorStatus>,
    generation: u64,
    changed: BTreeSet<FactKind>,
}

impl FactStore {
    /// An empty store.
    pub fn new() -> FactStore {
        FactStore::default()
    }

    /// Replaces everything collector `name` provides with `set` (a full re-read).
    pub fn replace(&mut self, name: &str, mut set: FactSet) {
        let old = self.parts.remove(name);
        self.changed.extend(set.touched.iter().copied());
        if let Some(old) = &old {
            self.changed.extend(old.kinds.keys().copied());
            if !old.hosts.is_empty() || !set.hosts.is_empty() {
                self.changed.extend(FactKind::of(Scope::Host));
            }
            self.changed.extend(FactKind::of(Scope::Cluster).filter(|k| old.cluster_unavailable(*k).is_none()));
        }
        set.touched.clear();
        self.parts.insert(name.to_string(), set);
        self.generation += 1;
    }

    /// Updates collector `name`'s facts in place (apply / remove objects).
    pub fn update<R>(&mut self, name: &str, f: impl FnOnce(&mut FactSet) -> R) -> R {
        let set = self.parts.entry(name.to_string()).or_default();
        let r = f(set);
        let touched = std::mem::take(&mut set.touched);
        if !touched.is_empty() {
            self.changed.extend(touched);
            self.generation += 1;
        }
        r
    }

    /// Removes everything collector `name` provided.
    pub fn forget(&mut self, name: &str) {
        if let Some(old) = self.parts.remove(name) {
            self.changed.extend(old.kinds.keys().copied());
            if !old.hosts.is_empty() {
                self.changed.extend(FactKind::of(Scope::Host));
            }
            self.generation += 1;
        }
    }

    /// Records how a collector fared. Its facts are kept when it failed: the status says
    /// since when they are stale, and why.
    pub fn report(&mut self, status: CollectorStatus) {
        self.collectors.insert(status.name.clone(), status);
    }

    /// The status of every collector that reported.
    pub fn collectors(&self) -> impl Iterator<Item = &CollectorStatus> {
        self.collectors.values()
    }

    /// A counter that moves on every change of facts.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The kinds changed since the last call (for re-evaluating only the rules that read them).
    pub fn take_changes(&mut self) -> BTreeSet<FactKind> {
        std::mem::take(&mut self.changed)
    }

    /// A read-only view of one collector's facts.
    pub fn part(&self, name: &str) -> Option<&FactSet> {
        self.parts.get(name)
    }

    /// All facts merged into one set (objects are shared, not copied).
    pub fn merged(&self) -> FactSet {
        let mut out = FactSet::default();
        for set in self.parts.values() {
            out.merge(set.clone());
        }
        out
    }

    /// An immutable, fully indexed snapshot of everything known.
    pub fn snapshot(&self, options: &GraphOptions) -> Arc<Graph> {
        let collectors: Vec<CollectorStatus> = self.collectors.values().cloned().collect();
        Arc::new(Graph::build(self.merged(), collectors, options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, rv: u64) -> Node {
        Node { name: name.into(), resource_version: rv, ..Default::default() }
    }

    #[test]
    fn apply_remove_and_relist() {
        let mut s = FactSet::new();
        s.collected(FactKind::Nodes, Source::live("k8s", 1));
        assert_eq!(s.apply(Object::Node(node("a", 1))), None);
        assert_eq!(s.apply(Object::Node(node("a", 2))), Some(1));
        s.apply(Object::Node(node("b", 1)));
        assert_eq!(s.count(FactKind::Nodes), 2);
        assert!(s.remove(FactKind::Nodes, &(String::new(), "a".into())));
        assert_eq!(s.count(FactKind::Nodes), 1);
        assert!(s.cluster_unavailable(FactKind::Nodes).is_none());
        assert_eq!(s.cluster_unavailable(FactKind::Pods).unwrap(), "pods not collected");
        s.broken(FactKind::Nodes, Source::at("cluster/n", "$.items[2]"), "metadata.name: expected a string");
        assert_eq!(s.cluster_unavailable(FactKind::Nodes).unwrap(), "could not be read: cluster/n: $.items[2]: metadata.name: expected a string");
        assert_eq!(s.errors().len(), 1);
    }

    #[test]
    fn a_collector_replaces_only_its_own_facts_and_changes_are_tracked() {
        let mut store = FactStore::new();
        let mut k8s = FactSet::new();
        k8s.collected(FactKind::Nodes, Source::live("k8s", 1));
        k8s.apply(Object::Node(node("a", 1)));
        store.replace("k8s", k8s);
        let mut nl = FactSet::new();
        nl.set_host("a", FactKind::Sysctl, |h| h.sysctl = Fact::present(Source::live("netlink", 1), Default::default()));
        store.replace("netlink", nl);
        let ch = store.take_changes();
        assert!(ch.contains(&FactKind::Nodes) && ch.contains(&FactKind::Sysctl));
        store.update("k8s", |s| s.apply(Object::Node(node("b", 2))));
        assert_eq!(store.take_changes().into_iter().collect::<Vec<_>>(), vec![FactKind::Nodes]);
        let m = store.merged();
        assert_eq!(m.count(FactKind::Nodes), 2);
        assert!(m.host("a").is_some_and(|h| h.sysctl.is_present()));
        store.forget("netlink");
        assert!(store.merged().host("a").is_none());
    }
}
