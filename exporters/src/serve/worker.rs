//! The evaluation thread: the one place rules are loaded and run, off the
//! async executor, on a 64 MiB stack (unoptimised builds need it for the
//! nesting the sandbox allows). Start at [`spawn`]; it takes [`Job`]s from a
//! channel, coalescing what piled up while it was busy (a burst of changes is
//! one evaluation, a reload and an interval tick one full run).
//!
//! After each evaluation it publishes the metrics exposition
//! ([`Metrics::record_evaluation`] renders it once) together with the
//! evaluation and its JSON for the page and `/api/v1/findings`, then hands
//! the evaluation to the Alertmanager pusher.
//! Scrapes read the last published snapshot and never wait for this thread.

use crate::alertmanager::Pusher;
use crate::evaluation::{Evaluation, ReloadStatus};
use crate::metrics::Metrics;
use crate::report;
use crate::serve::evaluator::{collector_statuses, Evaluator, RuleFilter, Selection};
use crate::serve::loader::{Loader, Outcome, Sources};
use crate::serve::Facts;
use netdoctor_engine::pipeline::graph_options;
use netdoctor_engine::Graph;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::SystemTime;
use tokio::sync::oneshot;

/// Stack of the evaluation thread, as the CLI's (src/main.rs).
pub const STACK_SIZE: usize = 64 << 20;

/// What the evaluation thread is asked to do.
pub enum Job {
    /// Facts changed: run the rules that read a changed kind.
    Facts,
    /// The interval elapsed: run every rule.
    Tick,
    /// Reload the rules and the config; `explicit` (SIGHUP, `/-/reload`)
    /// records the reload even when nothing changed. The outcome goes to `reply`.
    Reload { explicit: bool, reply: Option<oneshot::Sender<Outcome>> },
    /// Finish: nothing more is evaluated.
    Stop,
}

/// One evaluation as the HTTP handlers serve it.
pub struct Published {
    pub evaluation: Arc<Evaluation>,
    /// `report::json` of it, rendered once.
    pub json: String,
}

/// What the evaluation thread publishes and the HTTP handlers read.
pub struct Shared {
    pub metrics: Metrics,
    pub published: RwLock<Option<Arc<Published>>>,
    pub reload: RwLock<ReloadStatus>,
    /// Set after the first full evaluation.
    pub ready: AtomicBool,
    /// Set on shutdown: the running evaluation stops between rules.
    pub stopping: AtomicBool,
}

impl Shared {
    /// The last published evaluation.
    pub fn latest(&self) -> Option<Arc<Published>> {
        self.published.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The last reload's status.
    pub fn reload_status(&self) -> ReloadStatus {
        self.reload.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What the thread needs besides the rule sources.
pub struct Context {
    pub facts: Facts,
    pub filter: RuleFilter,
    pub pusher: Option<Arc<Pusher>>,
    pub build: crate::evaluation::BuildInfo,
}

/// Logs one line on stderr.
pub fn log(line: impl std::fmt::Display) {
    eprintln!("netdoctor serve: {line}");
}

fn log_outcome(o: &Outcome, rules: usize) {
    if o.successful {
        log(format_args!("rules loaded: {rules} rules"));
    }
    for p in &o.errors {
        log(format_args!("rules: {}: {}", p.location, p.message));
    }
}

/// Starts the evaluation thread: it loads the rules (the start-up load,
/// whose error, a bad config, is returned), registers the metrics, and then
/// serves `jobs`, beginning with a full evaluation.
pub fn spawn(sources: Sources, ctx: Context, jobs: Receiver<Job>) -> Result<(Arc<Shared>, JoinHandle<()>), crate::Error> {
    let (tx, rx) = std::sync::mpsc::channel::<Result<Arc<Shared>, crate::Error>>();
    let handle = std::thread::Builder::new()
        .name("netdoctor-eval".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let started = SystemTime::now();
            let (loader, outcome) = match Loader::new(sources) {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(crate::Error::Load(e)));
                    return;
                }
            };
            let loaded = loader.current();
            log_outcome(&outcome, loaded.rules.len());
            let metrics = match Metrics::new(&ctx.build, &loaded.rules, started) {
                Ok(m) => m,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            if !outcome.successful {
                let _ = metrics.record_reload(false, started, &loaded.rules);
            }
            let shared = Arc::new(Shared {
                metrics,
                published: RwLock::new(None),
                reload: RwLock::new(ReloadStatus {
                    at: started,
                    successful: outcome.successful,
                    last_success: outcome.successful.then_some(started),
                    errors: outcome.errors,
                }),
                ready: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
            });
            let _ = tx.send(Ok(shared.clone()));
            let mut worker = Worker { loader, evaluator: Evaluator::new(ctx.filter.clone()), ctx, shared, evaluated: false };
            worker.evaluate(true);
            worker.serve(jobs);
        })
        .map_err(crate::Error::Thread)?;
    match rx.recv() {
        Ok(Ok(shared)) => Ok((shared, handle)),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => {
            let _ = handle.join();
            Err(crate::Error::Load("the evaluation thread ended during the start-up load".into()))
        }
    }
}

struct Worker {
    loader: Loader,
    evaluator: Evaluator,
    ctx: Context,
    shared: Arc<Shared>,
    /// A first evaluation has run.
    evaluated: bool,
}

impl Worker {
    fn serve(&mut self, jobs: Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let (mut full, mut facts, mut stop) = (false, false, false);
            let mut reload: Option<bool> = None;
            let mut replies = Vec::new();
            for job in std::iter::once(first).chain(jobs.try_iter()) {
                match job {
                    Job::Facts => facts = true,
                    Job::Tick => full = true,
                    Job::Reload { explicit, reply } => {
                        reload = Some(explicit || reload.unwrap_or(false));
                        replies.extend(reply);
                    }
                    Job::Stop => stop = true,
                }
            }
            if stop || self.shared.stopping.load(Ordering::SeqCst) {
                return;
            }
            // A reload's status is recorded after the evaluation it causes, so that the
            // metrics never drop a removed rule's series before its findings go.
            let reloaded = reload.map(|explicit| (self.loader.reload(), explicit));
            if let Some((outcome, _)) = &reloaded {
                full |= outcome.changed;
            }
            if full || facts {
                self.evaluate(full);
            }
            if let Some((outcome, explicit)) = reloaded {
                self.record_reload(&outcome, explicit);
                for r in replies {
                    let _ = r.send(outcome.clone());
                }
            }
        }
    }

    /// Records a reload (metrics, status, log) when something changed or it was asked for.
    fn record_reload(&mut self, outcome: &Outcome, explicit: bool) {
        if !(outcome.changed || explicit) {
            return;
        }
        let at = SystemTime::now();
        let loaded = self.loader.current();
        log_outcome(outcome, loaded.rules.len());
        if let Err(e) = self.shared.metrics.record_reload(outcome.successful, at, &loaded.rules) {
            log(e);
        }
        let mut st = self.shared.reload.write().unwrap_or_else(|p| p.into_inner());
        st.at = at;
        st.successful = outcome.successful;
        if outcome.successful {
            st.last_success = Some(at);
        }
        st.errors = outcome.errors.clone();
    }

    /// Evaluates (every rule when `full`, else those the changed kinds affect;
    /// nothing when no fact changed) and publishes the result.
    fn evaluate(&mut self, full: bool) {
        let loaded = self.loader.current();
        let (merged, changed, collectors) = {
            let mut store = self.ctx.facts.store.lock().unwrap_or_else(|p| p.into_inner());
            (store.merged(), store.take_changes(), store.collectors().cloned().collect::<Vec<_>>())
        };
        let selection = if full || !self.evaluated {
            Selection::Full
        } else if changed.is_empty() {
            return;
        } else {
            Selection::Changed(changed)
        };
        let graph = Arc::new(Graph::build(merged, collectors.clone(), &graph_options(&loaded.effective)));
        let stopping = &self.shared.stopping;
        let mut ev = self.evaluator.evaluate(self.loader.runtime(), &loaded, &graph, &selection, SystemTime::now(), &|| stopping.load(Ordering::SeqCst));
        ev.collectors = collector_statuses(&collectors);
        for (rule, _, failed) in &ev.report.timings {
            if *failed {
                let why = ev.report.errors.iter().find(|e| e.message.starts_with(&format!("rule {rule}:"))).map(|e| format!("{}: {}", e.source, e.message));
                log(format_args!("rule {rule} failed; its previous findings are kept (stale): {}", why.unwrap_or_default()));
            }
        }
        self.evaluated = true;
        let ev = Arc::new(ev);
        let json = report::json(&ev.report);
        {
            // The metrics and the findings change together: a reader that sees the new
            // metrics and then asks for the findings waits here for the same evaluation.
            let mut published = self.shared.published.write().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = self.shared.metrics.record_evaluation(&ev) {
                log(e);
            }
            *published = Some(Arc::new(Published { evaluation: ev.clone(), json }));
        }
        if let Some(p) = &self.ctx.pusher {
            p.push(ev);
        }
        if selection == Selection::Full {
            self.shared.ready.store(true, Ordering::SeqCst);
        }
    }
}
