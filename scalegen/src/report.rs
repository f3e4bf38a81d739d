//! Reads what `netdoctor eval --format json` printed back into [`Expected`]
//! findings and skip counts, so a run can be compared with what
//! [`crate::generate`] promised.

use crate::Expected;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The parts of an evaluation report the comparison needs.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Sorted.
    pub findings: Vec<Expected>,
    /// Skipped subjects per rule.
    pub skips: BTreeMap<String, usize>,
    /// Errors, as printed.
    pub errors: Vec<String>,
    /// `stats.duration_ms`, when reported.
    pub duration_ms: Option<f64>,
}

/// `Kind/[namespace/]name` of a subject or related object.
fn object(v: &Value) -> Option<String> {
    let kind = v.get("kind")?.as_str()?;
    let name = v.get("name")?.as_str()?;
    Some(match v.get("namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => format!("{kind}/{ns}/{name}"),
        _ => format!("{kind}/{name}"),
    })
}

/// Parses the JSON report.
pub fn parse(text: &str) -> Result<Report, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("netdoctor's JSON report: {e}"))?;
    let mut r = Report::default();
    for f in v["findings"].as_array().ok_or("netdoctor's JSON report: no findings array")? {
        let subject = &f["subject"];
        r.findings.push(Expected {
            rule: f["rule"].as_str().unwrap_or_default().to_string(),
            subject: object(subject).ok_or_else(|| format!("finding without a subject: {f}"))?,
            node: subject.get("node").and_then(Value::as_str).map(str::to_string),
            related: f.get("related").and_then(object),
        });
    }
    r.findings.sort();
    for s in v["skipped"].as_array().map(Vec::as_slice).unwrap_or_default() {
        *r.skips.entry(s["rule"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    r.errors = v["errors"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(|e| e.to_string()).collect();
    r.duration_ms = v["stats"]["duration_ms"].as_f64();
    Ok(r)
}

/// What differs between the promised and the reported findings, one line each
/// (`missing: ...` / `unexpected: ...`); empty when they are equal.
pub fn diff(expected: &[Expected], got: &[Expected]) -> Vec<String> {
    let (want, have): (BTreeSet<&Expected>, BTreeSet<&Expected>) = (expected.iter().collect(), got.iter().collect());
    let mut out: Vec<String> = want.difference(&have).map(|e| format!("missing: {e}")).collect();
    out.extend(have.difference(&want).map(|g| format!("unexpected: {g}")));
    out
}
