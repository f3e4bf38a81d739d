//! `eval` output: the JSON report and the human table.

use netdoctor_engine::finding::{Report, Severity};
use std::fmt::Write;

/// The JSON report, pretty-printed, byte-stable for the same findings
/// (findings are sorted; only `stats.duration_ms` varies between runs).
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"serialising report: {e}\"}}"));
    s.push('\n');
    s
}

fn pad(s: &str, w: usize) -> String {
    format!("{s:<w$}")
}

/// Text safe for a terminal: control characters (newlines, escape sequences) are
/// shown escaped (`\n`, `\x1b`), so a name or summary can neither forge a line
/// nor drive the terminal. Names that are not UTF-8 arrive already escaped.
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The table: severity, rule, subject, summary; with `verbose`, each finding's
/// evidence and remediation under it. Skips, errors and notes follow as counts
/// (and in full with `verbose`, errors always in full).
pub fn table(report: &Report, verbose: bool) -> String {
    let mut out = String::new();
    if report.findings.is_empty() {
        out.push_str("No findings.\n");
    } else {
        let subj: Vec<String> = report
            .findings
            .iter()
            .map(|f| match &f.related {
                Some(r) => clean(&format!("{} -> {}", f.subject.label(), r.label().replace("//", "/"))).into_owned(),
                None => clean(&f.subject.label()).into_owned(),
            })
            .collect();
        let wr = report.findings.iter().map(|f| f.rule.len()).max().unwrap_or(4).max(4);
        let ws = subj.iter().map(String::len).max().unwrap_or(7).clamp(7, 60);
        let _ = writeln!(out, "{}  {}  {}  SUMMARY", pad("SEVERITY", 8), pad("RULE", wr), pad("SUBJECT", ws));
        for (f, s) in report.findings.iter().zip(&subj) {
            let _ = writeln!(out, "{}  {}  {}  {}", pad(f.severity.as_str(), 8), pad(&f.rule, wr), pad(s, ws), clean(&f.summary));
            if verbose {
                if let Some(obj) = f.evidence.as_object() {
                    for (k, v) in obj {
                        let v = match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        let _ = writeln!(out, "          evidence  {}: {}", clean(k), clean(&v));
                    }
                }
                let _ = writeln!(out, "          fix       {}", clean(&f.remediation));
            }
        }
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let _ = writeln!(
        out,
        "\n{} findings ({} critical, {} warning, {} info); {} rules; {} skipped; {} errors",
        report.findings.len(),
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info),
        report.stats.rules,
        report.skipped.len(),
        report.errors.len()
    );
    for e in &report.errors {
        let _ = writeln!(out, "error: {}: {}", clean(&e.source), clean(&e.message));
    }
    if verbose {
        for s in &report.skipped {
            let _ = writeln!(out, "skipped: {} on {}: {}", s.rule, clean(&s.subject.label()), clean(&s.reason));
        }
        for n in &report.notes {
            let _ = writeln!(out, "note: {}", clean(n));
        }
    } else if !report.skipped.is_empty() || !report.notes.is_empty() {
        let _ = writeln!(out, "({} skipped, {} notes: --verbose shows them)", report.skipped.len(), report.notes.len());
    }
    out
}
