//! Builders the unit tests of every module share: a time, a finding, an
//! evaluation. (The integration tests' richer fixture is tests/support.)

use crate::evaluation::Evaluation;
use netdoctor_engine::finding::{Finding, Report, Severity, Subject};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `secs` after the Unix epoch.
pub fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A finding of `rule` about Node `name`: summary `<name> is broken`,
/// evidence `{"why": name}`, remediation `fix it`.
pub fn finding(rule: &str, severity: Severity, name: &str) -> Finding {
    Finding {
        rule: rule.into(),
        severity,
        subject: Subject { kind: "Node".into(), namespace: None, name: name.into(), node: Some(name.into()) },
        related: None,
        summary: format!("{name} is broken"),
        evidence: serde_json::json!({ "why": name }),
        remediation: "fix it".into(),
    }
}

/// An evaluation at `t(at)` of `findings` (normalised), each first seen at
/// `t(100)`, with no rules and no collectors.
pub fn evaluation(at: u64, findings: Vec<Finding>) -> Evaluation {
    let mut report = Report { findings, ..Report::default() };
    report.normalise();
    Evaluation { at: t(at), first_seen: vec![t(100); report.findings.len()], report, rules: vec![], collectors: vec![], failing: Default::default() }
}
