//! `eval --explain RULE`: per subject, the facts the rule read and why it
//! fired, did not fire, or skipped.

use netdoctor_engine::runtime::{Explanation, RuleMeta};
use std::collections::BTreeMap;
use std::fmt::Write;

/// `Kind/name` or `Kind/namespace/name`.
fn key(kind: &str, ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

#[derive(Default)]
struct PerSubject {
    reads: Vec<String>,
    fired: Vec<String>,
    skipped: Vec<String>,
}

/// Renders an explanation; `only` keeps one subject (matched on subject or related party).
pub fn render(meta: &RuleMeta, ex: &Explanation, only: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "rule {} ({}) from {}\n  {}", meta.id, meta.severity, meta.source, meta.summary);
    let out_rule = match &ex.result {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(out, "\nthe rule failed: {}: {}", e.source, e.message);
            return out;
        }
    };
    let mut subjects: BTreeMap<String, PerSubject> = BTreeMap::new();
    for (s, read) in &ex.reads {
        let e = subjects.entry(s.clone()).or_default();
        if !e.reads.contains(read) {
            e.reads.push(read.clone());
        }
    }
    let mut related_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &out_rule.findings {
        let k = key(&f.subject.kind, f.subject.namespace.as_deref(), &f.subject.name);
        let rel = f.related.as_ref().map(|r| key(&r.kind, r.namespace.as_deref(), &r.name));
        if let Some(r) = &rel {
            related_of.entry(k.clone()).or_default().push(r.clone());
        }
        let mut line = format!("{} {}", f.severity, f.summary);
        if let Some(r) = rel {
            let _ = write!(line, " [related {r}]");
        }
        if let Some(obj) = f.evidence.as_object() {
            for (k, v) in obj {
                let _ = write!(line, "\n      evidence {k}: {}", v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
            }
        }
        subjects.entry(k).or_default().fired.push(line);
    }
    for s in &out_rule.skipped {
        subjects.entry(key(&s.subject.kind, s.subject.namespace.as_deref(), &s.subject.name)).or_default().skipped.push(s.reason.clone());
    }
    let mut shown = 0;
    for (subject, p) in &subjects {
        if let Some(o) = only {
            let rel_hit = related_of.get(subject).is_some_and(|rs| rs.iter().any(|r| r == o));
            if subject != o && !rel_hit {
                continue;
            }
        }
        shown += 1;
        let verdict = if !p.fired.is_empty() {
            format!("FIRED ({} finding{})", p.fired.len(), if p.fired.len() == 1 { "" } else { "s" })
        } else if !p.skipped.is_empty() {
            "SKIPPED".to_string()
        } else {
            "did not fire".to_string()
        };
        let _ = writeln!(out, "\n{}: {verdict}", crate::report::clean(subject));
        for r in &p.reads {
            let _ = writeln!(out, "  read    {}", crate::report::clean(r));
        }
        for s in &p.skipped {
            let _ = writeln!(out, "  skipped {}", crate::report::clean(s));
        }
        for f in &p.fired {
            let _ = writeln!(out, "  finding {}", crate::report::clean(f));
        }
        if p.fired.is_empty() && p.skipped.is_empty() {
            let _ = writeln!(out, "  => the facts above satisfy the rule: no finding");
        }
    }
    if shown == 0 {
        let _ = writeln!(
            out,
            "\n{}",
            match only {
                Some(o) => format!("the rule read nothing about {o} and reported nothing for it"),
                None => "the rule read nothing and reported nothing".to_string(),
            }
        );
    }
    out
}
