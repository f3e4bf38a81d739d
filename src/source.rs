//! Where `serve` gets its facts: a [`FactSource`] fills the shared store and
//! pokes its change signal. [`Capture`] serves one capture directory,
//! re-read when its files change; [`Live`] runs the live collectors (k8s and
//! etcd watchers, the host collectors on an interval).

use netdoctor_engine::collector::{record, Collection};
use netdoctor_exporters::serve::Facts;
use notify::{RecursiveMode, Watcher};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of facts for `serve`.
pub trait FactSource {
    /// Fills the store once (an error here stops `serve` from starting), then
    /// keeps it current, poking `facts.changed` after each change, until the
    /// returned guard is dropped.
    fn start(self: Box<Self>, facts: Facts) -> anyhow::Result<Box<dyn Send>>;
}

/// The collector name a capture's facts go under in the store.
const NAME: &str = "capture";

/// One capture directory, watched recursively and read again (after `debounce`
/// of quiet) when anything in it changes.
pub struct Capture {
    dir: PathBuf,
    debounce: Duration,
}

impl Capture {
    pub fn new(dir: PathBuf, debounce: Duration) -> Capture {
        Capture { dir, debounce }
    }
}

/// Reads the capture into the store, replacing what it held; a failed read
/// keeps the previous facts and marks the `capture` collector down.
fn read_into(dir: &std::path::Path, facts: &Facts) -> Result<(), String> {
    let started = Instant::now();
    let outcome = netdoctor_collectors::capture::read(dir, &Default::default())
        .map(|set| Collection::Facts(Box::new(set)))
        .map_err(|e| netdoctor_engine::Error::Collect { collector: NAME.into(), message: format!("reading {}: {e}", dir.display()) });
    let failed = outcome.as_ref().err().map(|e| e.to_string());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    facts.update(|store| record(store, NAME, outcome, now, started.elapsed().as_secs_f64(), None));
    failed.map_or(Ok(()), Err)
}

impl FactSource for Capture {
    fn start(self: Box<Self>, facts: Facts) -> anyhow::Result<Box<dyn Send>> {
        read_into(&self.dir, &facts).map_err(|e| anyhow::anyhow!(e))?;
        let (tx, rx) = mpsc::channel::<()>();
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if res.as_ref().is_ok_and(|e| matches!(e.kind, notify::EventKind::Access(_))) {
                return;
            }
            let _ = tx.send(());
        })?;
        watcher.watch(&self.dir, RecursiveMode::Recursive)?;
        let Capture { dir, debounce } = *self;
        // The reader thread ends when the watcher (the guard) is dropped and the channel closes.
        std::thread::Builder::new().name("netdoctor-capture".into()).stack_size(crate::STACK_SIZE).spawn(move || {
            while rx.recv().is_ok() {
                // Let a burst of writes (a copy, an editor's save) settle.
                let deadline = Instant::now() + debounce * 10;
                while rx.recv_timeout(debounce).is_ok() && Instant::now() < deadline {}
                match read_into(&dir, &facts) {
                    Ok(()) => eprintln!("netdoctor serve: re-read {}", dir.display()),
                    Err(e) => eprintln!("netdoctor serve: {e}; keeping the previous facts"),
                }
            }
        })?;
        Ok(Box::new(watcher))
    }
}

/// Live collectors. The cluster's (k8s, etcd) watch their sources and are recorded again
/// after each change they report; every collector is also read again every `interval` (the
/// host collectors only then). One round completes before the first evaluation. A failed
/// collection keeps the collector's last good facts, marked with its error and the time of
/// its last success (`record`).
pub struct Live {
    plan: crate::live::Plan,
    interval: Duration,
}

impl Live {
    pub fn new(plan: crate::live::Plan, interval: Duration) -> Live {
        Live { plan, interval }
    }
}

/// Ends the collectors' tasks and watches when dropped.
struct Running {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _watches: Vec<netdoctor_collectors::live::cluster::WatchHandle>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Records one collection into the store, its facts marked with the live locator; returns the
/// line for people.
fn record_live((name, outcome, took): crate::live::Timed, locator: &Arc<netdoctor_collectors::live::LiveLocator>, facts: &Facts) -> String {
    let outcome = outcome.map(|o| match o {
        Collection::Facts(mut set) => {
            set.locator = Some(locator.clone());
            Collection::Facts(set)
        }
        other => other,
    });
    let line = crate::live::describe(&name, &outcome, took);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    facts.update(|store| record(store, &name, outcome, now, took.as_secs_f64(), None));
    line
}

impl FactSource for Live {
    fn start(self: Box<Self>, facts: Facts) -> anyhow::Result<Box<dyn Send>> {
        let Live { plan, interval } = *self;
        let crate::live::Plan { k8s, etcd, hosts, mut locator } = plan;
        let handle = tokio::runtime::Handle::current();
        // The cluster collectors watch; a change pokes the task that records them again.
        let (changed_tx, mut changed_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let on_change: netdoctor_collectors::live::cluster::OnChange = Arc::new(move |_| {
            let _ = changed_tx.send(());
        });
        let mut watches = Vec::new();
        let mut cluster: Vec<Arc<dyn netdoctor_engine::collector::Collector>> = Vec::new();
        if let Some(k) = k8s {
            let k = Arc::new(k);
            watches.push(tokio::task::block_in_place(|| handle.block_on(k.start_watching(on_change.clone())))?);
            cluster.push(k);
        }
        if let Some(e) = etcd {
            let e = Arc::new(e);
            watches.push(e.start_watching(on_change.clone()));
            cluster.push(e);
        }
        let hosts: Vec<Arc<dyn netdoctor_engine::collector::Collector>> = hosts.into_iter().map(Arc::from).collect();
        // The first round, before the first evaluation, also decides which cluster sources had
        // no data and why: the locator says so in skip reasons.
        let all: Vec<_> = cluster.iter().chain(hosts.iter()).cloned().collect();
        let first = tokio::task::block_in_place(|| handle.block_on(futures::future::join_all(all.iter().map(|c| crate::live::timed(c.name(), c.collect())))));
        crate::live::note_no_data(&mut locator, &first);
        let locator = Arc::new(locator);
        for one in first {
            eprintln!("netdoctor serve: {}", record_live(one, &locator, &facts));
        }
        let mut tasks = Vec::new();
        {
            let (facts, locator, cluster) = (facts.clone(), locator.clone(), cluster.clone());
            tasks.push(tokio::spawn(async move {
                while changed_rx.recv().await.is_some() {
                    // Let a burst of watch events settle into one update.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    while changed_rx.try_recv().is_ok() {}
                    for c in &cluster {
                        record_live(crate::live::timed(c.name(), c.collect()).await, &locator, &facts);
                    }
                }
            }));
        }
        for c in all {
            let (facts, locator) = (facts.clone(), locator.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(interval).await;
                    let line = record_live(crate::live::timed(c.name(), c.collect()).await, &locator, &facts);
                    if line.contains(": failed") {
                        eprintln!("netdoctor serve: {line}; keeping its last good facts");
                    }
                }
            }));
        }
        Ok(Box::new(Running { tasks, _watches: watches }))
    }
}
