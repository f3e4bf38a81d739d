//! The `Collector` trait: how a source feeds the fact store. The capture
//! reader is the first implementation; the live collectors (k8s, etcd,
//! netlink, ipvs, iptables, resolv_conf, sysctl, kubelet, subnet_env) follow
//! the same contract. No I/O crate is needed here: collectors live in
//! `collectors/`, and drive their own I/O.
//!
//! One collection returns a [`FactSet`] with everything the source knows now;
//! [`record`] puts it in the store in place of the collector's previous facts
//! and records its status. A failed collection keeps the last good facts and
//! marks the collector down with the time of its last success and the error,
//! so rules can tell stale facts from fresh ones. A source that does not exist
//! on this host is quiet [`Collection::NoData`], not a failure.

use crate::error::Error;
use crate::model::CollectorStatus;
use crate::store::{FactSet, FactStore};

/// What one collection produced.
#[derive(Debug)]
pub enum Collection {
    /// The source's facts, replacing what it provided before.
    Facts(Box<FactSet>),
    /// The source does not exist here (no IPVS, no etcd configured, not installed); the reason.
    NoData(String),
}

/// A source of facts.
#[async_trait::async_trait]
pub trait Collector: Send + Sync {
    /// The instance name: the source noun, with the host for per-host instances
    /// (`k8s`, `etcd`, `netlink/node2`). It names the collector's facts in the store.
    fn name(&self) -> String;
    /// Reads the source once.
    async fn collect(&self) -> Result<Collection, Error>;
}

/// Records one collection's outcome in the store: facts replace the collector's previous
/// ones; an error keeps them and marks the collector down. `now` is Unix seconds,
/// `duration` the time the collection took.
pub fn record(
    store: &mut FactStore,
    name: &str,
    outcome: Result<Collection, Error>,
    now: i64,
    duration: f64,
    stale_after_seconds: Option<i64>,
) -> CollectorStatus {
    let previous = store.collectors().find(|c| c.name == name).cloned();
    let mut status = CollectorStatus { name: name.to_string(), duration_seconds: duration, stale_after_seconds, ..Default::default() };
    match outcome {
        Ok(Collection::Facts(set)) => {
            store.replace(name, *set);
            status.up = true;
            status.last_success = Some(now);
        }
        Ok(Collection::NoData(why)) => {
            store.forget(name);
            status.up = true;
            status.no_data = true;
            status.last_success = Some(now);
            status.error = Some(why);
        }
        Err(e) => {
            status.up = false;
            status.last_success = previous.and_then(|p| p.last_success);
            status.error = Some(e.to_string());
        }
    }
    store.report(status.clone());
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::FactKind;
    use crate::source::{Fact, Source};

    fn sysctl_set(v: &str) -> FactSet {
        let mut s = FactSet::new();
        s.set_host("n1", FactKind::Sysctl, |h| {
            h.sysctl = Fact::present(Source::live("sysctl", 1), [("net.ipv4.ip_forward".to_string(), v.to_string())].into())
        });
        s
    }

    #[test]
    fn a_failure_keeps_the_last_good_facts_marked_stale() {
        let mut store = FactStore::new();
        let st = record(&mut store, "sysctl", Ok(Collection::Facts(Box::new(sysctl_set("1")))), 100, 0.1, None);
        assert!(st.up && st.last_success == Some(100));
        let st = record(&mut store, "sysctl", Err(Error::Collect { collector: "sysctl".into(), message: "permission denied".into() }), 200, 0.1, None);
        assert!(!st.up);
        assert_eq!(st.last_success, Some(100));
        let g = store.snapshot(&Default::default());
        let t = g.host_index("n1").unwrap();
        let src = g.host_facts(t).unwrap().sysctl.source().unwrap().clone();
        assert!(g.stale(&src).unwrap().contains("permission denied"));
        record(&mut store, "sysctl", Ok(Collection::Facts(Box::new(sysctl_set("0")))), 300, 0.1, None);
        let g = store.snapshot(&Default::default());
        let t = g.host_index("n1").unwrap();
        let h = g.host_facts(t).unwrap();
        assert_eq!(h.sysctl.get().unwrap()["net.ipv4.ip_forward"], "0");
        assert!(g.stale(h.sysctl.source().unwrap()).is_none());
    }

    #[test]
    fn no_data_is_quiet() {
        let mut store = FactStore::new();
        let st = record(&mut store, "ipvs", Ok(Collection::NoData("no IPVS module".into())), 100, 0.0, None);
        assert!(st.up && st.no_data);
    }
}
