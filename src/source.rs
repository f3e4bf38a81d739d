//! Where `serve` gets its facts: a [`FactSource`] fills the shared store and
//! pokes its change signal. [`Capture`] serves one capture directory,
//! re-read when its files change; the live collectors (k8s watchers,
//! netlink, IPVS, etcd) plug in here as further sources.

use netdoctor_engine::collector::{record, Collection};
use netdoctor_exporters::serve::Facts;
use notify::{RecursiveMode, Watcher};
use std::path::PathBuf;
use std::sync::mpsc;
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
