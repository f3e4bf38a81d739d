//! What `serve` hands the exporters: plain structs, so the exporters depend on
//! nothing of the engine beyond [`Finding`] and [`Report`]. Start at
//! [`Evaluation`], built once per evaluation and shared (`Arc`) by the
//! metrics, the Alertmanager pusher and the page; [`FirstSeen`] stamps when
//! each finding appeared.

use netdoctor_engine::config::Effective;
use netdoctor_engine::finding::{Finding, Related, Report, Severity, Subject};
use netdoctor_engine::Rule;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::time::SystemTime;

/// One loaded rule, as `rules list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    pub id: String,
    /// The severity its findings get (after a config override).
    pub severity: Severity,
    pub summary: String,
    pub remediation: String,
    /// Free text or a URL: where a person reads more.
    pub docs: Option<String>,
    /// The file it came from (`rules/<id>.rhai` for the embedded pack).
    pub source: String,
    /// Lowercase hex SHA-256 of the rule's text ([`RuleInfo::digest`]).
    pub sha256: String,
}

impl RuleInfo {
    /// A loaded rule as the exporters show it, with the severity `cfg` gives it.
    pub fn of(rule: &Rule, cfg: &Effective) -> RuleInfo {
        let m = &rule.meta;
        RuleInfo {
            id: m.id.clone(),
            severity: cfg.severity.get(&m.id).copied().unwrap_or(m.severity),
            summary: m.summary.clone(),
            remediation: m.remediation.clone(),
            docs: m.docs.clone(),
            source: m.source.clone(),
            sha256: RuleInfo::digest(&rule.text),
        }
    }

    /// Lowercase hex SHA-256 of a rule's text, for [`RuleInfo::sha256`].
    pub fn digest(text: &str) -> String {
        sha256_hex(text.as_bytes())
    }
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The binary's identity, exported as `netdoctor_build_info`.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildInfo {
    /// `CARGO_PKG_VERSION`.
    pub version: String,
    /// The git commit it was built from (`unknown` when not known).
    pub revision: String,
}

/// One collector's state after the last collection.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorStatus {
    /// The collector's noun (`netlink`, `k8s`, `etcd`, ...): a bounded label value.
    pub name: String,
    /// Whether its last run succeeded.
    pub up: bool,
    /// How long its last run took.
    pub duration_seconds: f64,
    /// When it last succeeded; `None` when it never has.
    pub last_success: Option<SystemTime>,
    /// Its last error, shown on the page only (never a label).
    pub last_error: Option<String>,
}

/// An error with the place it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `file:line:column`, or the file alone when there is no position.
    pub location: String,
    pub message: String,
}

/// The outcome of the last rule (and config) load.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadStatus {
    /// When the last load was attempted (the start-up load counts).
    pub at: SystemTime,
    /// Whether it succeeded; when not, the previously loaded rules keep running.
    pub successful: bool,
    /// When a load last succeeded.
    pub last_success: Option<SystemTime>,
    /// Why the last load failed (empty when it succeeded).
    pub errors: Vec<Problem>,
}

/// One evaluation, as every exporter reads it.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// When the evaluation finished.
    pub at: SystemTime,
    /// The report, normalised. Its findings include those a failed rule kept
    /// from its previous run; `timings` says which rules failed (their findings
    /// are stale); `stats.facts` holds the fact counts.
    pub report: Report,
    /// When each of `report.findings` was first seen, same order ([`FirstSeen::stamp`]).
    pub first_seen: Vec<SystemTime>,
    /// The rules loaded for this evaluation.
    pub rules: Vec<RuleInfo>,
    /// The collectors' states.
    pub collectors: Vec<CollectorStatus>,
    /// Rules whose last run failed though they did not run in this (partial)
    /// evaluation: their findings are stale too. Rules that failed in this
    /// evaluation are in `report.timings`.
    pub failing: BTreeSet<String>,
}

impl Evaluation {
    /// Each finding with the time it was first seen (the evaluation's own time
    /// when `first_seen` is short).
    pub fn findings(&self) -> impl Iterator<Item = (&Finding, SystemTime)> {
        self.report.findings.iter().enumerate().map(|(i, f)| (f, self.first_seen.get(i).copied().unwrap_or(self.at)))
    }

    /// Rules that failed in this evaluation: their findings are the previous
    /// run's, kept (stale) rather than dropped.
    pub fn failed_rules(&self) -> BTreeSet<&str> {
        self.report.timings.iter().filter(|(_, _, failed)| *failed).map(|(id, _, _)| id.as_str()).chain(self.failing.iter().map(String::as_str)).collect()
    }
}

/// Remembers when each finding identity (rule, subject, related) was first
/// seen, across evaluations; an identity that clears is forgotten, so one
/// that returns starts again.
#[derive(Debug, Default)]
pub struct FirstSeen {
    seen: HashMap<(String, Subject, Option<Related>), SystemTime>,
}

impl FirstSeen {
    /// The first-seen time of each finding (in order), `now` for new ones;
    /// forgets identities absent from `findings`.
    pub fn stamp(&mut self, findings: &[Finding], now: SystemTime) -> Vec<SystemTime> {
        let mut next = HashMap::with_capacity(findings.len());
        let stamps = findings
            .iter()
            .map(|f| {
                let key = (f.rule.clone(), f.subject.clone(), f.related.clone());
                let t = self.seen.get(&key).copied().unwrap_or(now);
                next.insert(key, t);
                t
            })
            .collect();
        self.seen = next;
        stamps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::t;

    fn finding(rule: &str, name: &str) -> Finding {
        crate::fixture::finding(rule, Severity::Warning, name)
    }

    #[test]
    fn first_seen_survives_while_active_and_restarts_after_clearing() {
        let mut fs = FirstSeen::default();
        assert_eq!(fs.stamp(&[finding("r", "a")], t(10)), vec![t(10)]);
        assert_eq!(fs.stamp(&[finding("r", "a"), finding("r", "b")], t(20)), vec![t(10), t(20)]);
        assert_eq!(fs.stamp(&[finding("r", "b")], t(30)), vec![t(20)]);
        assert_eq!(fs.stamp(&[finding("r", "a"), finding("r", "b")], t(40)), vec![t(40), t(20)]);
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(RuleInfo::digest("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
