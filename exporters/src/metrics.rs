//! The Prometheus metrics of `serve` (`interfaces.md`, "Metrics"), on a
//! private registry. Start at [`Metrics`]: one lives for the process;
//! [`Metrics::record_evaluation`] and [`Metrics::record_reload`] update it and
//! render the text exposition once, and `/metrics` serves that immutable
//! snapshot ([`Metrics::exposition`]), so a scrape never waits for an
//! evaluation nor sees half of one.
//!
//! Series lifecycle:
//! - a finding that clears loses its `netdoctor_finding` series;
//! - a rule that is no longer loaded (its file deleted) loses every series
//!   carrying its id: `netdoctor_finding`, `netdoctor_findings`,
//!   `netdoctor_rule_info`, `netdoctor_rule_evaluation_duration_seconds`,
//!   `netdoctor_rule_evaluation_failures_total`; findings of a rule that is
//!   not loaded are not exported at all;
//! - **stale findings**: when a rule fails, `serve` keeps its previous
//!   findings. Their series stay (an alert must not resolve because a rule
//!   broke) and `netdoctor_rule_evaluation_failures_total{rule}` rises, so
//!   `increase(netdoctor_rule_evaluation_failures_total[5m]) > 0` tells which
//!   rules' findings are stale. No label carries staleness or error text:
//!   label values stay bounded, and a series' identity does not flip when the
//!   rule recovers.
//!
//! `netdoctor_collector_last_success_timestamp_seconds` is 0 for a collector
//! that never succeeded, like `netdoctor_rules_last_reload_success_timestamp_seconds`
//! before the first successful load.

use crate::error::Error;
use crate::evaluation::{BuildInfo, Evaluation, RuleInfo};
use crate::labels::{finding_labels, FINDING_LABELS};
use crate::time::unix_seconds;
use prometheus::{Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The `Content-Type` of [`Metrics::exposition`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Buckets of `netdoctor_rule_evaluation_duration_seconds`: a rule runs in
/// well under a millisecond on a small cluster and up to its wall-clock
/// limit (seconds) on a broken or huge one.
const DURATION_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The metric families, by their interfaces.md name.
struct Families {
    finding: IntGaugeVec,
    findings: IntGaugeVec,
    rule_duration: HistogramVec,
    rule_failures: IntCounterVec,
    rules_loaded: IntGauge,
    reloads: IntCounterVec,
    last_reload_successful: IntGauge,
    last_reload_success_timestamp: Gauge,
    rule_info: IntGaugeVec,
    collector_up: IntGaugeVec,
    collector_duration: GaugeVec,
    collector_last_success: GaugeVec,
    facts: IntGaugeVec,
    evaluations: IntCounter,
    build_info: IntGaugeVec,
}

impl Families {
    fn register(registry: &Registry) -> Result<Families, Error> {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> Result<C, Error> {
            r.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let opts = |name: &str, help: &str| Opts::new(name, help);
        let r = registry;
        Ok(Families {
            finding: reg(
                r,
                IntGaugeVec::new(
                    opts("netdoctor_finding", "1 per active finding; related is Kind/namespace/name of the second party or empty."),
                    &FINDING_LABELS,
                )?,
            )?,
            findings: reg(
                r,
                IntGaugeVec::new(opts("netdoctor_findings", "Active findings per rule and severity; 0 for a loaded rule with none."), &["rule", "severity"])?,
            )?,
            rule_duration: reg(
                r,
                HistogramVec::new(
                    HistogramOpts::new("netdoctor_rule_evaluation_duration_seconds", "Time one rule took to evaluate.").buckets(DURATION_BUCKETS.to_vec()),
                    &["rule"],
                )?,
            )?,
            rule_failures: reg(
                r,
                IntCounterVec::new(
                    opts("netdoctor_rule_evaluation_failures_total", "Evaluations in which the rule failed; its previous findings stay exported (stale)."),
                    &["rule"],
                )?,
            )?,
            rules_loaded: reg(r, IntGauge::with_opts(opts("netdoctor_rules_loaded", "Rules currently loaded."))?)?,
            reloads: reg(r, IntCounterVec::new(opts("netdoctor_rules_reloads_total", "Rule and config reloads, by result."), &["result"])?)?,
            last_reload_successful: reg(
                r,
                IntGauge::with_opts(opts("netdoctor_rules_last_reload_successful", "Whether the last rule and config load succeeded (1) or failed (0)."))?,
            )?,
            last_reload_success_timestamp: reg(
                r,
                Gauge::with_opts(opts("netdoctor_rules_last_reload_success_timestamp_seconds", "Unix time of the last successful rule and config load."))?,
            )?,
            rule_info: reg(
                r,
                IntGaugeVec::new(
                    opts("netdoctor_rule_info", "1 per loaded rule: its severity, source file and the SHA-256 of its text."),
                    &["rule", "severity", "source", "sha256"],
                )?,
            )?,
            collector_up: reg(r, IntGaugeVec::new(opts("netdoctor_collector_up", "Whether the collector's last run succeeded."), &["collector"])?)?,
            collector_duration: reg(
                r,
                GaugeVec::new(opts("netdoctor_collector_duration_seconds", "How long the collector's last run took."), &["collector"])?,
            )?,
            collector_last_success: reg(
                r,
                GaugeVec::new(
                    opts("netdoctor_collector_last_success_timestamp_seconds", "Unix time the collector last succeeded; 0 if it never has."),
                    &["collector"],
                )?,
            )?,
            facts: reg(r, IntGaugeVec::new(opts("netdoctor_facts", "Facts of each kind in the last evaluation."), &["kind"])?)?,
            evaluations: reg(r, IntCounter::with_opts(opts("netdoctor_evaluations_total", "Evaluations completed."))?)?,
            build_info: reg(
                r,
                IntGaugeVec::new(
                    opts("netdoctor_build_info", "1, labelled with the version and git revision netdoctor was built from."),
                    &["version", "revision"],
                )?,
            )?,
        })
    }
}

/// What the gauges are rebuilt from.
#[derive(Default)]
struct State {
    /// The rules loaded now.
    rules: Vec<RuleInfo>,
    /// The last evaluation's findings, as `netdoctor_finding` label values.
    findings: Vec<[String; 7]>,
}

/// The process's metrics and the last rendered exposition.
pub struct Metrics {
    registry: Registry,
    families: Families,
    /// Serialises updates; never held by a scrape.
    state: Mutex<State>,
    exposition: RwLock<Arc<str>>,
}

impl Metrics {
    /// Registers every metric, with `rules` as loaded at `loaded_at` (the
    /// start-up load: successful, not counted as a reload).
    pub fn new(build: &BuildInfo, rules: &[RuleInfo], loaded_at: SystemTime) -> Result<Metrics, Error> {
        let registry = Registry::new();
        let families = Families::register(&registry)?;
        families.build_info.with_label_values(&[&build.version, &build.revision]).set(1);
        for result in ["success", "failure"] {
            families.reloads.with_label_values(&[result]);
        }
        families.last_reload_successful.set(1);
        families.last_reload_success_timestamp.set(unix_seconds(loaded_at));
        let metrics = Metrics { registry, families, state: Mutex::new(State::default()), exposition: RwLock::new(Arc::from("")) };
        {
            let mut state = metrics.lock();
            metrics.load_rules(&mut state, rules);
            metrics.publish(&state)?;
        }
        Ok(metrics)
    }

    /// The last rendered text exposition; what `/metrics` serves.
    pub fn exposition(&self) -> Arc<str> {
        self.exposition.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Updates everything one evaluation says (findings, per-rule durations
    /// and failures, the loaded rules, collectors, fact counts, the evaluation
    /// counter) and renders the exposition, which it also returns.
    pub fn record_evaluation(&self, ev: &Evaluation) -> Result<Arc<str>, Error> {
        let f = &self.families;
        let mut state = self.lock();
        self.load_rules(&mut state, &ev.rules);
        state.findings = ev.report.findings.iter().map(finding_labels).collect();
        for (rule, seconds, failed) in &ev.report.timings {
            if state.rules.iter().any(|r| &r.id == rule) {
                f.rule_duration.with_label_values(&[rule]).observe(*seconds);
                if *failed {
                    f.rule_failures.with_label_values(&[rule]).inc();
                }
            }
        }
        f.collector_up.reset();
        f.collector_duration.reset();
        f.collector_last_success.reset();
        for c in &ev.collectors {
            f.collector_up.with_label_values(&[&c.name]).set(i64::from(c.up));
            f.collector_duration.with_label_values(&[&c.name]).set(c.duration_seconds);
            f.collector_last_success.with_label_values(&[&c.name]).set(c.last_success.map_or(0.0, unix_seconds));
        }
        f.facts.reset();
        if let Some(facts) = ev.report.stats.facts.as_object() {
            for (kind, n) in facts {
                if let Some(n) = n.as_i64() {
                    f.facts.with_label_values(&[kind]).set(n);
                }
            }
        }
        f.evaluations.inc();
        self.publish(&state)
    }

    /// Records a rule and config reload: its result, and the rules loaded
    /// after it (the new set on success, the ones still running on failure).
    pub fn record_reload(&self, success: bool, at: SystemTime, rules: &[RuleInfo]) -> Result<Arc<str>, Error> {
        let f = &self.families;
        let mut state = self.lock();
        f.reloads.with_label_values(&[if success { "success" } else { "failure" }]).inc();
        f.last_reload_successful.set(i64::from(success));
        if success {
            f.last_reload_success_timestamp.set(unix_seconds(at));
        }
        self.load_rules(&mut state, rules);
        self.publish(&state)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `rules` the loaded set: the counter and histogram series of rules
    /// gone are removed, new rules start their failure counter at 0.
    fn load_rules(&self, state: &mut State, rules: &[RuleInfo]) {
        let f = &self.families;
        let now: BTreeSet<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        for gone in state.rules.iter().filter(|r| !now.contains(r.id.as_str())) {
            // Absent when the rule never ran (it was disabled): nothing to remove.
            let _ = f.rule_duration.remove_label_values(&[&gone.id]);
            let _ = f.rule_failures.remove_label_values(&[&gone.id]);
        }
        for r in rules {
            f.rule_failures.with_label_values(&[&r.id]);
        }
        state.rules = rules.to_vec();
    }

    /// Rebuilds the gauges derived from `state`, renders, and swaps the exposition.
    fn publish(&self, state: &State) -> Result<Arc<str>, Error> {
        let f = &self.families;
        let loaded: BTreeMap<&str, &RuleInfo> = state.rules.iter().map(|r| (r.id.as_str(), r)).collect();
        f.rules_loaded.set(state.rules.len() as i64);
        f.rule_info.reset();
        for r in &state.rules {
            f.rule_info.with_label_values(&[&r.id, r.severity.as_str(), &r.source, &r.sha256]).set(1);
        }
        f.finding.reset();
        f.findings.reset();
        let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for labels in state.findings.iter().filter(|l| loaded.contains_key(l[0].as_str())) {
            f.finding.with_label_values(&labels.each_ref().map(String::as_str)).set(1);
            *counts.entry((&labels[0], &labels[1])).or_default() += 1;
        }
        for r in &state.rules {
            if !counts.keys().any(|(rule, _)| *rule == r.id) {
                counts.insert((&r.id, r.severity.as_str()), 0);
            }
        }
        for ((rule, severity), n) in counts {
            f.findings.with_label_values(&[rule, severity]).set(n);
        }
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        let text: Arc<str> = Arc::from(String::from_utf8(buf)?);
        *self.exposition.write().unwrap_or_else(|p| p.into_inner()) = text.clone();
        Ok(text)
    }
}
