//! Cluster collectors: [`k8s::K8sCollector`] (kube-rs watchers over the API
//! objects the rules read) and [`etcd::EtcdCollector`] (flannel's subnet
//! leases and network config, etcd v3 or v2).
//!
//! Both work in two modes:
//! - one-shot: [`Collector::collect`](netdoctor_engine::collector::Collector::collect)
//!   lists everything once and returns a `FactSet` (`eval`, `capture`);
//! - watching: `start_watching(on_change)` runs background tasks that keep a
//!   shared `FactSet` current and call `on_change` with the fact kinds that
//!   changed (`serve`); `collect()` then returns a clone of that set, or an
//!   error while the source is unreachable (so `record` keeps the last good
//!   facts, marked stale), and `status()` says up/down and why.
//!
//! Either can also write what it read as capture files (`capture(dir)`): the
//! raw objects and key/values as the API returned them, minus managedFields,
//! in the formats of `kubectl get -o json` and `etcdctl get -w json`.
//! [`crate::write::cluster::write_cluster`] writes the same files from facts.
//!
//! ```no_run
//! use netdoctor_collectors::live::cluster::{EtcdCollector, EtcdOptions, K8sCollector, K8sOptions, OnChange};
//! use netdoctor_engine::collector::{record, Collector};
//! use netdoctor_engine::store::FactStore;
//! use std::sync::{Arc, Mutex};
//! # async fn demo() -> Result<(), netdoctor_engine::Error> {
//! // One-shot (`eval`): collect once, record in the store.
//! let k8s = K8sCollector::new(K8sOptions { node: Some("node1".into()), ..Default::default() });
//! let mut store = FactStore::new();
//! let t = std::time::Instant::now();
//! let outcome = k8s.collect().await; // NoData without a kubeconfig, Err if unreachable
//! record(&mut store, &k8s.name(), outcome, 0, t.elapsed().as_secs_f64(), None);
//!
//! // Watching (`serve`): background tasks keep the facts current; on a change, collect()
//! // returns them (or the error while down) and record() puts them in the store.
//! let etcd = Arc::new(EtcdCollector::new(EtcdOptions { endpoints: vec!["https://10.0.0.1:2379".into()], ..Default::default() }));
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let on_change: OnChange = Arc::new(move |_kinds| { let _ = tx.send(()); });
//! let _handle = etcd.start_watching(on_change); // dropping the handle stops the tasks
//! let store = Arc::new(Mutex::new(store));
//! while rx.recv().await.is_some() {
//!     let outcome = etcd.collect().await;
//!     record(&mut store.lock().unwrap(), "etcd", outcome, 0, 0.0, None);
//! }
//! # Ok(()) }
//! ```

pub mod etcd;
pub mod k8s;

pub use etcd::{EtcdApi, EtcdCollector, EtcdOptions};
pub use k8s::{K8sCollector, K8sOptions};

use netdoctor_engine::kind::FactKind;
use netdoctor_engine::store::FactSet;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Called by a watching collector after each change of its facts, with the kinds that changed.
/// It runs on the collector's task: keep it short (send on a channel, bump a counter).
pub type OnChange = Arc<dyn Fn(&[FactKind]) + Send + Sync>;

/// How a watching collector fares now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchStatus {
    /// Every watch is connected (or was, and has not failed since).
    pub up: bool,
    /// Every watched kind has completed its first list.
    pub synced: bool,
    /// Why it is down (the first failing part), when it is.
    pub error: Option<String>,
}

/// The background tasks of a watching collector; dropping the handle (or
/// [`stop`](WatchHandle::stop)) ends them. The facts gathered so far stay in
/// the collector.
#[derive(Debug)]
pub struct WatchHandle {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl WatchHandle {
    pub(crate) fn new(task: Option<tokio::task::JoinHandle<()>>) -> WatchHandle {
        WatchHandle { task }
    }
    /// Ends the background tasks.
    pub fn stop(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Part {
    synced: bool,
    error: Option<String>,
}

/// State shared between a watching collector and its tasks.
#[derive(Default)]
pub(crate) struct Shared {
    set: Mutex<FactSet>,
    parts: Mutex<BTreeMap<String, Part>>,
    on_change: Mutex<Option<OnChange>>,
    /// Set once the tasks run.
    pub(crate) watching: std::sync::atomic::AtomicBool,
    /// Why there is nothing to watch (no kubeconfig, no etcd configured).
    pub(crate) no_data: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// Changes the shared set; calls `on_change` with `kinds` afterwards (outside the lock).
    pub(crate) fn update<R>(&self, kinds: &[FactKind], f: impl FnOnce(&mut FactSet) -> R) -> R {
        let r = f(&mut lock(&self.set));
        self.changed(kinds);
        r
    }

    pub(crate) fn changed(&self, kinds: &[FactKind]) {
        let cb = lock(&self.on_change).clone();
        if let Some(cb) = cb {
            cb(kinds);
        }
    }

    pub(crate) fn set_on_change(&self, cb: OnChange) {
        *lock(&self.on_change) = Some(cb);
    }

    pub(crate) fn snapshot(&self) -> FactSet {
        lock(&self.set).clone()
    }

    /// Registers a part (one watched kind) as not yet synced.
    pub(crate) fn register(&self, part: &str) {
        lock(&self.parts).entry(part.to_string()).or_default();
    }

    /// A part listed or received an event: it is up. Returns true when that changed its state.
    pub(crate) fn part_ok(&self, part: &str, synced: bool) -> bool {
        let mut parts = lock(&self.parts);
        let p = parts.entry(part.to_string()).or_default();
        let changed = p.error.is_some() || (synced && !p.synced);
        p.error = None;
        p.synced |= synced;
        changed
    }

    /// A part failed; it stays down until it recovers.
    pub(crate) fn part_err(&self, part: &str, error: String) {
        let mut parts = lock(&self.parts);
        parts.entry(part.to_string()).or_default().error = Some(error);
    }

    pub(crate) fn status(&self) -> WatchStatus {
        let parts = lock(&self.parts);
        let error = parts.values().find_map(|p| p.error.clone());
        WatchStatus { up: error.is_none(), synced: !parts.is_empty() && parts.values().all(|p| p.synced), error }
    }

    /// What `collect()` returns while watching: a clone of the set once every part has listed,
    /// an error while one is down; waits up to `wait` for the first lists.
    pub(crate) async fn collect(&self, name: &str, wait: Duration) -> Result<FactSet, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let st = self.status();
            if let Some(e) = st.error {
                return Err(e);
            }
            if st.synced {
                let mut set = self.snapshot();
                set.meta.captured_at = Some(netdoctor_engine::time::format_rfc3339(unix_now()));
                return Ok(set);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!("{name}: the first list has not completed after {}s", wait.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Exponential backoff: 250 ms doubling to 30 s, reset after a success.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Backoff {
        Backoff { next: Duration::from_millis(250), max: Duration::from_secs(30) }
    }
    pub(crate) fn reset(&mut self) {
        self.next = Duration::from_millis(250);
    }
    pub(crate) fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
}

/// Writes a `kubectl get -o json`-style List one item at a time (memory stays that of one item).
pub(crate) struct ListWriter {
    out: std::io::BufWriter<std::fs::File>,
    kind: String,
    count: usize,
}

impl ListWriter {
    /// Starts `path` as a List of kind `list_kind` (`List`, or a typed list such as `PodList`,
    /// which says "collected, and empty" when it has no items).
    pub(crate) fn create(path: &std::path::Path, list_kind: &str) -> std::io::Result<ListWriter> {
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        write!(out, "{{\n    \"apiVersion\": \"v1\",\n    \"items\": [")?;
        Ok(ListWriter { out, kind: list_kind.to_string(), count: 0 })
    }

    pub(crate) fn item(&mut self, v: &serde_json::Value) -> std::io::Result<()> {
        use std::io::Write;
        self.out.write_all(if self.count == 0 { b"\n" } else { b",\n" })?;
        let mut ser = serde_json::Serializer::with_formatter(&mut self.out, serde_json::ser::PrettyFormatter::with_indent(b"    "));
        serde::Serialize::serialize(v, &mut ser)?;
        self.count += 1;
        Ok(())
    }

    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        use std::io::Write;
        let tail = if self.count == 0 { "],\n" } else { "\n    ],\n" };
        write!(
            self.out,
            "{tail}    \"kind\": {},\n    \"metadata\": {{\n        \"resourceVersion\": \"\"\n    }}\n}}\n",
            serde_json::Value::from(self.kind.as_str())
        )?;
        self.out.flush()
    }
}
