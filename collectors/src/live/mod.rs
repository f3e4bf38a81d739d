//! Live collectors: the same facts the capture reader makes, read from the
//! running host (netlink, IPVS, iptables, files under a host root) and the
//! cluster it can reach (Kubernetes API watchers, flannel's etcd). Each is a
//! [`netdoctor_engine::collector::Collector`] named by the same noun as its
//! capture reader.

pub mod cluster;
pub mod host;

use netdoctor_engine::kind::{FactKind, KINDS};
use netdoctor_engine::store::Locator;
use std::collections::BTreeMap;

/// How live collection names what it did not collect, for skip reasons: a
/// cluster kind whose collector had no data says why ("no kubeconfig ..."), a
/// host fact names the collector instance that reads it.
#[derive(Debug, Clone, Default)]
pub struct LiveLocator {
    /// Why a collector (by source noun: `k8s`, `etcd`) collected nothing.
    pub no_data: BTreeMap<String, String>,
    /// The hosts collected, with where their facts come from (`network namespace /var/run/netns/x`).
    pub hosts: BTreeMap<String, String>,
}

impl Locator for LiveLocator {
    fn host_fact(&self, host: &str, kind: FactKind) -> String {
        let noun = KINDS.iter().find(|k| k.kind == kind).map_or("?", |k| k.collector);
        format!("{kind} of host {host} (collector {noun}/{host})")
    }
    fn no_host(&self, host: &str, kind: FactKind) -> String {
        format!("host {host} is not one this run collects (this host, or --host NAME=NETNS): {kind} not collected")
    }
    fn host(&self, host: &str) -> String {
        match self.hosts.get(host) {
            Some(place) => format!("host {host} ({place})"),
            None => format!("host {host}"),
        }
    }
    fn cluster_kind(&self, kind: FactKind) -> Option<String> {
        let noun = KINDS.iter().find(|k| k.kind == kind)?.collector;
        self.no_data.get(noun).map(|why| format!("{kind} not collected: {noun}: {why}"))
    }
}
