//! Findings, skips and the report of one evaluation, with the byte-stable
//! ordering and JSON shape of `interfaces.md`.

use crate::source::SourceError;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// How bad a finding is. Ordered so that `Critical > Warning > Info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// Parses `info`, `warning` or `critical`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding is about: kind + namespace + name, plus the host it concerns.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subject {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub node: Option<String>,
}

impl Subject {
    /// `Kind/namespace/name` (namespace omitted when absent), plus `@node` when it differs from the name.
    pub fn label(&self) -> String {
        let mut s = match &self.namespace {
            Some(ns) => format!("{}/{}/{}", self.kind, ns, self.name),
            None => format!("{}/{}", self.kind, self.name),
        };
        if let Some(node) = &self.node {
            if node != &self.name {
                s.push_str(&format!(" @{node}"));
            }
        }
        s
    }
}

/// The second party of a finding about a pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Related {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Related {
    /// `Kind/namespace/name` (the `related` metric label).
    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace.as_deref().unwrap_or(""), self.name)
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub subject: Subject,
    pub related: Option<Related>,
    pub summary: String,
    pub evidence: serde_json::Value,
    pub remediation: String,
}

impl Finding {
    /// The documented order: severity (critical first), rule, subject, related.
    pub fn order(&self, other: &Finding) -> Ordering {
        other
            .severity
            .cmp(&self.severity)
            .then_with(|| self.rule.cmp(&other.rule))
            .then_with(|| self.subject.kind.cmp(&other.subject.kind))
            .then_with(|| self.subject.namespace.cmp(&other.subject.namespace))
            .then_with(|| self.subject.name.cmp(&other.subject.name))
            .then_with(|| self.subject.node.cmp(&other.subject.node))
            .then_with(|| self.related.cmp(&other.related))
    }
    /// The identity (rule, subject, related).
    pub fn identity(&self) -> (&str, &Subject, Option<&Related>) {
        (&self.rule, &self.subject, self.related.as_ref())
    }
}

/// A rule that could not judge a subject because a fact it needs is absent.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Skip {
    pub rule: String,
    pub subject: Subject,
    pub reason: String,
}

/// Statistics of one evaluation.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Stats {
    pub rules: usize,
    pub facts: serde_json::Value,
    pub duration_ms: f64,
}

/// The result of one evaluation, as `eval --format json` prints it.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skip>,
    pub errors: Vec<SourceError>,
    pub notes: Vec<String>,
    pub stats: Stats,
    /// Per rule: (id, seconds it ran, whether it failed). Not part of the JSON output
    /// (it varies run to run); `serve` exports it as metrics.
    #[serde(skip)]
    pub timings: Vec<(String, f64, bool)>,
}

impl Report {
    /// Sorts findings, skips, errors and notes into their stable order and drops
    /// duplicate finding identities (the first emitted wins).
    pub fn normalise(&mut self) {
        self.findings.sort_by(|a, b| a.order(b));
        self.findings.dedup_by(|b, a| a.identity() == b.identity());
        self.skipped.sort();
        self.skipped.dedup();
        self.errors.sort();
        self.errors.dedup();
    }
    /// Keeps only findings at or above `min`.
    pub fn filter_min_severity(&mut self, min: Severity) {
        self.findings.retain(|f| f.severity >= min);
    }
}
