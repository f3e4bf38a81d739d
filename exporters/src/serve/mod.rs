//! `netdoctor serve`: the long-running exporter. Start at [`Server::start`]
//! and [`Server::run_until`]; the binary only parses flags and feeds facts.
//!
//! Structure:
//! - facts come in through [`Facts`]: the shared [`FactStore`] and a
//!   [`Notify`] its sources poke after each change (serve never reads facts
//!   itself);
//! - [`worker`]: the evaluation thread (64 MiB stack, off the async
//!   executor), the only place rules are loaded and run. It takes
//!   [`worker::Job`]s: `Facts` (debounced here, runs the rules whose `reads`
//!   include a changed kind, [`evaluator`]), `Tick` (every `interval`, all
//!   rules), `Reload` ([`loader`], per file: a broken file keeps its previous
//!   version), `Stop`;
//! - [`watch`]: notify on the rule directories and the config, debounced into
//!   `Reload` jobs, as are SIGHUP and `POST /-/reload`;
//! - [`http`]: axum, answering from the last published snapshot.
//!
//! Shutdown (SIGTERM, SIGINT, or the future given to [`Server::run_until`]):
//! the listener stops accepting and open requests finish, the evaluation
//! thread stops between two rules, and the Alertmanager queues stop; each
//! step is bounded so that the process ends within a few seconds.

pub mod evaluator;
pub mod http;
pub mod loader;
pub mod watch;
pub mod worker;

pub use evaluator::{RuleFilter, Selection};
pub use loader::Sources;

use crate::alertmanager::{self, Pusher};
use crate::evaluation::BuildInfo;
use crate::Error;
use netdoctor_engine::FactStore;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch as tokio_watch, Notify};
use tokio::task::JoinHandle;
use worker::{log, Job, Shared};

/// The default `--listen` address: loopback only (a pod sets `0.0.0.0:9958`), on a
/// port not taken by a well-known exporter.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9958";

/// How long rule and config changes settle before a reload (an editor's write
/// and rename, a ConfigMap swap, arrive as a burst).
const RELOAD_SETTLE: Duration = Duration::from_millis(50);

/// Each step of shutdown waits at most this long.
const SHUTDOWN_STEP: Duration = Duration::from_secs(2);

/// The fact store and the signal its sources poke after changing it.
#[derive(Clone, Default)]
pub struct Facts {
    pub store: Arc<Mutex<FactStore>>,
    pub changed: Arc<Notify>,
}

impl Facts {
    /// An empty store.
    pub fn new() -> Facts {
        Facts::default()
    }

    /// Changes the store and signals the change.
    pub fn update<R>(&self, f: impl FnOnce(&mut FactStore) -> R) -> R {
        let r = f(&mut self.store.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.notify_one();
        r
    }
}

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where HTTP listens (`127.0.0.1:0` picks a free port: see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// The rule pack, `--rules` directories and `--config`.
    pub sources: Sources,
    /// Every rule runs at least this often.
    pub interval: Duration,
    /// After facts change, how long they must settle before the affected rules run.
    pub debounce: Duration,
    /// `--alertmanager` base URLs.
    pub alertmanager: Vec<String>,
    /// netdoctor's own URL, linked from alerts.
    pub external_url: Option<String>,
    pub build: BuildInfo,
    /// Which rules this instance runs.
    pub filter: RuleFilter,
    /// Handle SIGTERM / SIGINT (shut down) and SIGHUP (reload).
    pub signals: bool,
    /// Watch the rule directories and the config for changes.
    pub watch: bool,
}

impl Options {
    /// Defaults: [`DEFAULT_LISTEN`], a 30 s interval, a 500 ms debounce,
    /// signals handled and files watched.
    pub fn new(sources: Sources, build: BuildInfo) -> Options {
        Options {
            listen: DEFAULT_LISTEN.parse().expect("a valid address"),
            sources,
            interval: Duration::from_secs(30),
            debounce: Duration::from_millis(500),
            alertmanager: Vec::new(),
            external_url: None,
            build,
            filter: RuleFilter::all(),
            signals: true,
            watch: true,
        }
    }
}

/// A running `serve`.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    jobs: Sender<Job>,
    worker: std::thread::JoinHandle<()>,
    http: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    /// Tells the HTTP server to stop accepting.
    stop_http: tokio_watch::Sender<bool>,
    pusher: Option<Arc<Pusher>>,
    _watcher: Option<notify::RecommendedWatcher>,
    signals: bool,
}

/// Waits for `notify`, then until it stays quiet for `quiet` (at most `max`).
async fn settle(notify: &Notify, quiet: Duration, max: Duration) {
    notify.notified().await;
    let deadline = tokio::time::Instant::now() + max;
    loop {
        tokio::select! {
            () = notify.notified() => {}
            () = tokio::time::sleep(quiet) => return,
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}

impl Server {
    /// Loads the rules (an invalid config is an error; a broken rule file is
    /// reported and the rest run), binds the listener, and starts the
    /// evaluation thread, the watchers, the Alertmanager queues and HTTP.
    /// Must run inside a tokio runtime.
    pub async fn start(opts: Options, facts: Facts) -> Result<Server, Error> {
        let pusher = if opts.alertmanager.is_empty() {
            None
        } else {
            let mut cfg = alertmanager::Config::new(opts.alertmanager.clone(), opts.interval);
            cfg.external_url = opts.external_url.clone();
            Some(Arc::new(Pusher::start(cfg)?))
        };
        let listener = tokio::net::TcpListener::bind(opts.listen).await.map_err(|e| Error::Listen { addr: opts.listen.to_string(), source: e })?;
        let addr = listener.local_addr().map_err(|e| Error::Listen { addr: opts.listen.to_string(), source: e })?;
        let (jobs, rx) = std::sync::mpsc::channel();
        let ctx = worker::Context { facts: facts.clone(), filter: opts.filter.clone(), pusher: pusher.clone(), build: opts.build.clone() };
        let sources = opts.sources.clone();
        let (shared, worker) = tokio::task::spawn_blocking(move || worker::spawn(sources, ctx, rx)).await.map_err(|e| Error::Load(e.to_string()))??;

        let mut tasks = Vec::new();
        // Facts: debounced, then the affected rules run.
        let (j, changed, debounce) = (jobs.clone(), facts.changed.clone(), opts.debounce);
        tasks.push(tokio::spawn(async move {
            loop {
                settle(&changed, debounce, debounce * 10).await;
                if j.send(Job::Facts).is_err() {
                    return;
                }
            }
        }));
        // The interval: every rule.
        let (j, interval) = (jobs.clone(), opts.interval);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if j.send(Job::Tick).is_err() {
                    return;
                }
            }
        }));
        // Rule and config files.
        let watcher = if opts.watch && (!opts.sources.dirs.is_empty() || opts.sources.config.is_some()) {
            let poked = Arc::new(Notify::new());
            let w = watch::watch(&opts.sources.dirs, opts.sources.config.as_deref(), poked.clone()).map_err(Error::Watch)?;
            let j = jobs.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    settle(&poked, RELOAD_SETTLE, RELOAD_SETTLE * 10).await;
                    if j.send(Job::Reload { explicit: false, reply: None }).is_err() {
                        return;
                    }
                }
            }));
            Some(w)
        } else {
            None
        };
        if opts.signals {
            use tokio::signal::unix::{signal, SignalKind};
            let mut hup = signal(SignalKind::hangup()).map_err(Error::Signal)?;
            let j = jobs.clone();
            tasks.push(tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    log("SIGHUP: reloading rules and config");
                    if j.send(Job::Reload { explicit: true, reply: None }).is_err() {
                        return;
                    }
                }
            }));
        }
        let (stop_http, mut stop_rx) = tokio_watch::channel(false);
        let app = http::router(shared.clone(), jobs.clone());
        let http = tokio::spawn(async move {
            let stopped = async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
                log(format_args!("HTTP server: {e}"));
            }
        });
        log(format_args!("listening on http://{addr}/ (metrics at /metrics)"));
        Ok(Server { addr, shared, jobs, worker, http, tasks, stop_http, pusher, _watcher: watcher, signals: opts.signals })
    }

    /// The address HTTP listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the first full evaluation has been published.
    pub fn ready(&self) -> bool {
        self.shared.ready.load(Ordering::SeqCst)
    }

    /// Runs until `shutdown` completes (or, with signals handled, SIGTERM or
    /// SIGINT arrives), then shuts down.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let signalled = async {
            if !self.signals {
                return std::future::pending::<()>().await;
            }
            use tokio::signal::unix::{signal, SignalKind};
            match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
                (Ok(mut term), Ok(mut int)) => {
                    let name = tokio::select! {
                        _ = term.recv() => "SIGTERM",
                        _ = int.recv() => "SIGINT",
                    };
                    log(format_args!("{name}: shutting down"));
                }
                _ => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = shutdown => {}
            () = signalled => {}
        }
        self.shutdown().await;
    }

    /// Stops everything, each step bounded by a couple of seconds: HTTP stops
    /// accepting and finishes open requests, the evaluation thread stops
    /// between two rules, the Alertmanager queues end.
    pub async fn shutdown(self) {
        let _ = self.stop_http.send(true);
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = self.jobs.send(Job::Stop);
        for t in &self.tasks {
            t.abort();
        }
        let mut http = self.http;
        if tokio::time::timeout(SHUTDOWN_STEP, &mut http).await.is_err() {
            log("HTTP connections still open after 2s: closing them");
            http.abort();
        }
        let worker = self.worker;
        let joined = tokio::task::spawn_blocking(move || worker.join());
        if tokio::time::timeout(SHUTDOWN_STEP, joined).await.is_err() {
            // A rule is still running (it stops at its budget); the process may exit without it.
            log("the evaluation thread is still in a rule after 2s; leaving it");
        }
        drop(self.pusher);
        log("stopped");
    }
}
