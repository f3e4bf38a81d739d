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
    /// Why a collector collected nothing, by its name (`k8s`, `etcd`, `ipvs/node1`).
    pub no_data: BTreeMap<String, String>,
    /// The hosts collected, with where their facts come from (`network namespace /var/run/netns/x`).
    pub hosts: BTreeMap<String, String>,
}

impl Locator for LiveLocator {
    fn host_fact(&self, host: &str, kind: FactKind) -> String {
        let noun = KINDS.iter().find(|k| k.kind == kind).map_or("?", |k| k.collector);
        let name = format!("{noun}/{host}");
        match self.no_data.get(&name) {
            Some(why) => format!("{kind} of host {host} ({name}: {why})"),
            None => format!("{kind} of host {host} (collector {name})"),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_collector_and_why_it_had_no_data() {
        let mut l = LiveLocator::default();
        l.no_data.insert("k8s".into(), "no kubeconfig".into());
        l.no_data.insert("ipvs/n1".into(), "no IPVS in this kernel".into());
        l.hosts.insert("n1".into(), "network namespace /var/run/netns/n1".into());
        assert_eq!(l.cluster_kind(FactKind::Pods).as_deref(), Some("pods not collected: k8s: no kubeconfig"));
        assert_eq!(l.cluster_kind(FactKind::FlannelEtcd), None, "etcd had data: the plain wording");
        assert_eq!(l.host_fact("n1", FactKind::Ipvs), "ipvs of host n1 (ipvs/n1: no IPVS in this kernel)");
        assert_eq!(l.host_fact("n1", FactKind::Routes), "routes of host n1 (collector netlink/n1)");
        assert_eq!(l.host("n1"), "host n1 (network namespace /var/run/netns/n1)");
    }
}
