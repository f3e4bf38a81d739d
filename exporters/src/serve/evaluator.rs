//! One evaluation of `serve`: runs the selected rules ([`Selection`]) on a
//! graph, keeps every other rule's previous results, and builds the
//! [`Evaluation`] the exporters read. Start at [`Evaluator::evaluate`].
//!
//! Each rule runs on its own (under its operations and time budget), so its
//! outcome is its own: a rule that fails (an error, or cut off over budget)
//! keeps its previous findings, which stay exported and are marked stale
//! ([`Evaluation::failing`], the rule's failure counter); the rest still run.
//! A partial evaluation (after facts changed) runs only the rules whose
//! `reads` include a changed kind and keeps the others' results as they were.

use crate::evaluation::{CollectorStatus, Evaluation, FirstSeen};
use crate::serve::loader::Loaded;
use netdoctor_engine::config::Effective;
use netdoctor_engine::finding::{Finding, Report, Skip, Stats};
use netdoctor_engine::model::CollectorStatus as EngineCollectorStatus;
use netdoctor_engine::runtime::{RuleMeta, RuleSet, Runtime};
use netdoctor_engine::{FactKind, Graph, SourceError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which rules `serve` runs at all: every rule, or those a predicate admits
/// (a node agent runs the host-scoped rules, the cluster instance the rest).
#[derive(Clone, Default)]
pub struct RuleFilter(Option<Arc<Admit>>);

/// The predicate of a [`RuleFilter`].
type Admit = dyn Fn(&RuleMeta) -> bool + Send + Sync;

impl RuleFilter {
    /// Every rule.
    pub fn all() -> RuleFilter {
        RuleFilter(None)
    }

    /// The rules `admit` returns true for.
    pub fn only(admit: impl Fn(&RuleMeta) -> bool + Send + Sync + 'static) -> RuleFilter {
        RuleFilter(Some(Arc::new(admit)))
    }

    /// Whether the rule runs.
    pub fn admits(&self, meta: &RuleMeta) -> bool {
        self.0.as_ref().is_none_or(|f| f(meta))
    }
}

impl std::fmt::Debug for RuleFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "RuleFilter(only)" } else { "RuleFilter(all)" })
    }
}

/// Which of the admitted rules run in one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// All of them (on each interval tick, after a reload).
    Full,
    /// Those whose `reads` include one of these kinds (or that do not say what they read).
    Changed(BTreeSet<FactKind>),
}

impl Selection {
    /// Whether the rule runs in this evaluation.
    pub fn includes(&self, meta: &RuleMeta) -> bool {
        match self {
            Selection::Full => true,
            Selection::Changed(kinds) => meta.affected_by(kinds),
        }
    }
}

/// The last outcome of one rule.
#[derive(Debug, Clone, Default)]
struct RuleResult {
    findings: Vec<Finding>,
    skipped: Vec<Skip>,
    /// Its error in its last run.
    errors: Vec<SourceError>,
    /// What it printed in its last run, and exclusion counts.
    notes: Vec<String>,
    /// Its last run failed: `findings` are from the run before.
    failed: bool,
}

/// Results per rule across evaluations, and when each finding was first seen.
#[derive(Default)]
pub struct Evaluator {
    filter: RuleFilter,
    results: BTreeMap<String, RuleResult>,
    first_seen: FirstSeen,
}

/// Collector states as the exporters show them.
pub fn collector_statuses(statuses: &[EngineCollectorStatus]) -> Vec<CollectorStatus> {
    statuses
        .iter()
        .map(|c| CollectorStatus {
            name: c.name.clone(),
            up: c.up,
            duration_seconds: c.duration_seconds,
            last_success: c.last_success.and_then(|s| u64::try_from(s).ok()).map(|s| UNIX_EPOCH + Duration::from_secs(s)),
            last_error: c.error.clone(),
        })
        .collect()
}

impl Evaluator {
    /// A fresh evaluator of the rules `filter` admits: the first evaluation
    /// should be [`Selection::Full`].
    pub fn new(filter: RuleFilter) -> Evaluator {
        Evaluator { filter, ..Evaluator::default() }
    }

    /// Runs the rules of `loaded` that the filter admits and `selection`
    /// includes on `graph`, merges their results with the other rules'
    /// previous ones, and returns the evaluation as of `now` (with no
    /// collectors: the caller adds them). `stop` is
    /// checked between rules: when it returns true the rules not run yet keep
    /// their previous results.
    pub fn evaluate(
        &mut self,
        rt: &Runtime,
        loaded: &Loaded,
        graph: &Arc<Graph>,
        selection: &Selection,
        now: SystemTime,
        stop: &dyn Fn() -> bool,
    ) -> Evaluation {
        let started = Instant::now();
        let cfg = &loaded.effective;
        // Disabled rules are left out here; the rest run with the config's params,
        // severities and exclusions.
        let run_cfg = Effective { disabled: Vec::new(), ..cfg.clone() };
        let enabled: Vec<_> = loaded.set.rules.iter().filter(|r| !cfg.disabled.contains(&r.meta.id) && self.filter.admits(&r.meta)).collect();
        let graph_errors: BTreeSet<&SourceError> = graph.errors().iter().collect();
        let graph_notes: BTreeSet<&String> = graph.notes().iter().collect();
        let mut timings = Vec::new();
        for rule in enabled.iter().filter(|r| selection.includes(&r.meta)) {
            if stop() {
                break;
            }
            let one = RuleSet { rules: vec![(*rule).clone()], errors: Vec::new(), notes: Vec::new() };
            let report = rt.evaluate(&one, graph, &run_cfg);
            let failed = report.timings.first().is_some_and(|t| t.2);
            timings.extend(report.timings);
            let entry = self.results.entry(rule.meta.id.clone()).or_default();
            entry.errors = report.errors.into_iter().filter(|e| !graph_errors.contains(e)).collect();
            entry.notes = report.notes.into_iter().filter(|n| !graph_notes.contains(n)).collect();
            entry.failed = failed;
            if !failed {
                entry.findings = report.findings;
                entry.skipped = report.skipped;
            }
        }
        // Rules no longer loaded, enabled or admitted take their results with them.
        let ids: BTreeSet<&str> = enabled.iter().map(|r| r.meta.id.as_str()).collect();
        self.results.retain(|id, _| ids.contains(id.as_str()));

        let ran: BTreeSet<&str> = timings.iter().map(|t| t.0.as_str()).collect();
        let failing = self.results.iter().filter(|(id, r)| r.failed && !ran.contains(id.as_str())).map(|(id, _)| id.clone()).collect();
        let mut report = Report {
            errors: graph.errors().iter().chain(&loaded.set.errors).cloned().collect(),
            notes: graph.notes().iter().chain(&loaded.set.notes).cloned().collect(),
            ..Report::default()
        };
        for r in self.results.values() {
            report.findings.extend(r.findings.iter().cloned());
            report.skipped.extend(r.skipped.iter().cloned());
            report.errors.extend(r.errors.iter().cloned());
            report.notes.extend(r.notes.iter().cloned());
        }
        if !cfg.disabled.is_empty() {
            report.notes.push(format!("disabled by config: {}", cfg.disabled.join(", ")));
        }
        report.timings = timings;
        report.stats = Stats {
            rules: enabled.len(),
            facts: serde_json::Value::Object(graph.fact_counts().into_iter().map(|(k, v)| (k.to_string(), v.into())).collect()),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        report.normalise();
        let first_seen = self.first_seen.stamp(&report.findings, now);
        Evaluation {
            at: now,
            report,
            first_seen,
            rules: loaded.rules.iter().filter(|r| ids.contains(r.id.as_str())).cloned().collect(),
            collectors: Vec::new(),
            failing,
        }
    }
}
