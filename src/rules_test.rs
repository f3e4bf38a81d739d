//! `netdoctor rules test FILE...`: rule unit tests from YAML (format in
//! docs/rule-tests.md). Each test evaluates a capture, optionally edited by
//! inline overrides in a temporary copy, and compares the findings of the
//! rules under test with the expectations, printing expected vs got.

use netdoctor_engine::config::{Config, Effective};
use netdoctor_engine::{Finding, Graph, Report, RuleSet, Runtime};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One YAML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Rule ids under test (default for every test of the file).
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    /// Extra rule directories to load, relative to the YAML file (custom rules under test).
    #[serde(default)]
    pub rule_dirs: Vec<String>,
    pub tests: Vec<TestCase>,
}

/// One test.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    pub name: String,
    /// Capture directory, relative to the YAML file.
    pub capture: String,
    #[serde(default)]
    pub rules: Option<Vec<String>>,
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// Inline `--config` (same schema as the config file).
    #[serde(default)]
    pub config: Option<Config>,
    #[serde(default)]
    pub expect: Vec<Expect>,
    #[serde(default)]
    pub exact: Option<bool>,
    #[serde(default)]
    pub expect_none: Vec<ExpectNone>,
    #[serde(default)]
    pub expect_skipped: Vec<ExpectSkipped>,
    #[serde(default)]
    pub expect_errors: Vec<ExpectError>,
}

/// An edit applied to the temporary copy of the capture.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub file: String,
    pub content: Option<String>,
    pub delete: Option<bool>,
    pub json_remove: Option<serde_json::Map<String, serde_json::Value>>,
    pub json_append: Option<Vec<serde_json::Value>>,
    pub json_set: Option<BTreeMap<String, serde_json::Value>>,
    pub sysctl: Option<BTreeMap<String, Option<String>>>,
    pub remove_lines: Option<String>,
    pub replace: Option<Replace>,
}

/// `replace: {from, to}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replace {
    pub from: String,
    pub to: String,
}

/// One or several strings.
#[derive(Debug, Deserialize, Default)]
#[serde(untagged)]
pub enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn items(&self) -> Vec<&str> {
        match self {
            OneOrMany::None => vec![],
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// A finding that must appear.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub rule: String,
    pub subject: String,
    pub severity: Option<String>,
    pub related: Option<String>,
    #[serde(default)]
    pub summary_contains: OneOrMany,
}

/// Findings that must not appear.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectNone {
    pub rule: String,
    pub subject: Option<String>,
}

/// A skip that must be reported.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectSkipped {
    pub rule: String,
    pub subject: String,
    pub reason_contains: Option<String>,
}

/// A source error that must be reported.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectError {
    pub source: String,
    pub message_contains: Option<String>,
}

/// The outcome of one test.
pub struct Outcome {
    pub file: String,
    pub name: String,
    /// Empty when it passed.
    pub failures: Vec<String>,
    /// Rule ids the test exercised.
    pub rules: Vec<String>,
}

/// `Kind/name` or `Kind/namespace/name` for a subject.
fn subject_key(kind: &str, ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) if !ns.is_empty() => format!("{kind}/{ns}/{name}"),
        _ => format!("{kind}/{name}"),
    }
}

fn finding_line(f: &Finding) -> String {
    let rel = f.related.as_ref().map(|r| format!(" -> {}", subject_key(&r.kind, r.namespace.as_deref(), &r.name))).unwrap_or_default();
    format!("{} {} {}{}: {}", f.severity, f.rule, subject_key(&f.subject.kind, f.subject.namespace.as_deref(), &f.subject.name), rel, f.summary)
}

fn matches(e: &Expect, f: &Finding) -> bool {
    let related_ok = match e.related.as_deref() {
        None => true,
        Some("none") => f.related.is_none(),
        Some(r) => f.related.as_ref().is_some_and(|x| subject_key(&x.kind, x.namespace.as_deref(), &x.name) == r),
    };
    f.rule == e.rule
        && subject_key(&f.subject.kind, f.subject.namespace.as_deref(), &f.subject.name) == e.subject
        && related_ok
        && e.severity.as_deref().is_none_or(|s| s == f.severity.as_str())
        && e.summary_contains.items().iter().all(|s| f.summary.contains(s))
}

fn describe(e: &Expect) -> String {
    let mut s = format!("{} {}", e.rule, e.subject);
    if let Some(r) = &e.related {
        let _ = write!(s, " -> {r}");
    }
    if let Some(sev) = &e.severity {
        let _ = write!(s, " ({sev})");
    }
    let c = e.summary_contains.items();
    if !c.is_empty() {
        let _ = write!(s, " with summary containing {c:?}");
    }
    s
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

/// A temporary copy of a capture, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_copy(from: &Path) -> Result<TempDir, String> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("netdoctor-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(from, &dir).map_err(|e| format!("copying {}: {e}", from.display()))?;
    Ok(TempDir(dir))
}

fn apply(dir: &Path, o: &Override) -> Result<(), String> {
    let path = dir.join(&o.file);
    let err = |m: String| format!("override {}: {m}", o.file);
    let read = || std::fs::read_to_string(&path).map_err(|e| err(format!("reading: {e}")));
    let write = |t: &str| {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| err(e.to_string()))?;
        }
        std::fs::write(&path, t).map_err(|e| err(format!("writing: {e}")))
    };
    let json = || -> Result<serde_json::Value, String> { serde_json::from_str(&read()?).map_err(|e| err(format!("not JSON: {e}"))) };
    let ops = [o.content.is_some(), o.delete.is_some(), o.json_remove.is_some(), o.json_append.is_some(), o.json_set.is_some(), o.sysctl.is_some(), o.remove_lines.is_some(), o.replace.is_some()];
    if ops.iter().filter(|x| **x).count() != 1 {
        return Err(err("needs exactly one operation (content, delete, json_remove, json_append, json_set, sysctl, remove_lines, replace)".into()));
    }
    if let Some(c) = &o.content {
        return write(c);
    }
    if o.delete == Some(true) {
        return std::fs::remove_file(&path).map_err(|e| err(format!("deleting: {e}")));
    }
    if let Some(m) = &o.json_remove {
        let mut v = json()?;
        let arr = v.as_array_mut().ok_or_else(|| err("json_remove needs a JSON array file".into()))?;
        let before = arr.len();
        arr.retain(|x| !m.iter().all(|(k, want)| x.get(k) == Some(want)));
        if arr.len() == before {
            return Err(err(format!("json_remove matched nothing: {}", serde_json::Value::Object(m.clone()))));
        }
        return write(&serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    if let Some(items) = &o.json_append {
        let mut v = json()?;
        v.as_array_mut().ok_or_else(|| err("json_append needs a JSON array file".into()))?.extend(items.iter().cloned());
        return write(&serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    if let Some(sets) = &o.json_set {
        let mut v = json()?;
        for (ptr, val) in sets {
            set_pointer(&mut v, ptr, val.clone()).map_err(err)?;
        }
        return write(&serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    if let Some(keys) = &o.sysctl {
        let text = read()?;
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (k, v) in keys {
            let is_key = |l: &String| l.split('=').next().map(str::trim) == Some(k.as_str());
            match v {
                None => lines.retain(|l| !is_key(l)),
                Some(v) => match lines.iter_mut().find(|l| is_key(l)) {
                    Some(l) => *l = format!("{k} = {v}"),
                    None => lines.push(format!("{k} = {v}")),
                },
            }
        }
        return write(&(lines.join("\n") + "\n"));
    }
    if let Some(prefix) = &o.remove_lines {
        let text = read()?;
        let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with(prefix.as_str())).collect();
        return write(&(kept.join("\n") + "\n"));
    }
    if let Some(r) = &o.replace {
        let text = read()?;
        if !text.contains(&r.from) {
            return Err(err(format!("replace: {:?} not found", r.from)));
        }
        return write(&text.replace(&r.from, &r.to));
    }
    Ok(())
}

fn set_pointer(v: &mut serde_json::Value, ptr: &str, val: serde_json::Value) -> Result<(), String> {
    if ptr.is_empty() {
        *v = val;
        return Ok(());
    }
    let mut cur = v;
    let parts: Vec<String> = ptr.trim_start_matches('/').split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect();
    for (i, p) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        cur = match cur {
            serde_json::Value::Object(m) => {
                if last {
                    m.insert(p.clone(), val);
                    return Ok(());
                }
                m.entry(p.clone()).or_insert_with(|| serde_json::Value::Object(Default::default()))
            }
            serde_json::Value::Array(a) => {
                let idx: usize = p.parse().map_err(|_| format!("json_set {ptr}: {p:?} is not an array index"))?;
                let len = a.len();
                let slot = a.get_mut(idx).ok_or_else(|| format!("json_set {ptr}: index {idx} out of range ({len})"))?;
                if last {
                    *slot = val;
                    return Ok(());
                }
                slot
            }
            _ => return Err(format!("json_set {ptr}: {p:?} is inside a scalar")),
        };
    }
    Ok(())
}

/// Runs every test of one file.
/// `default_config` (from `--config`) applies to tests that carry no `config` of their own.
pub fn run_file(rt: &Runtime, base: &RuleSet, path: &Path, default_config: Option<&Config>) -> Vec<Outcome> {
    let file = path.display().to_string();
    let fail = |name: &str, msg: String| vec![Outcome { file: file.clone(), name: name.to_string(), failures: vec![msg], rules: vec![] }];
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail("(file)", format!("reading {file}: {e}")),
    };
    let tf: TestFile = match serde_yaml::from_str(&text) {
        Ok(t) => t,
        Err(e) => return fail("(file)", format!("{file}: {e}")),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut set = base.clone();
    if !tf.rule_dirs.is_empty() {
        let dirs: Vec<PathBuf> = tf.rule_dirs.iter().map(|d| dir.join(d)).collect();
        let extra = rt.load(&[], &dirs.iter().map(PathBuf::as_path).collect::<Vec<_>>());
        if !extra.errors.is_empty() {
            return fail("(file)", extra.errors.iter().map(|e| format!("{}: {}", e.source, e.message)).collect::<Vec<_>>().join("; "));
        }
        for r in extra.rules {
            set.rules.retain(|x| x.meta.id != r.meta.id);
            set.rules.push(r);
        }
    }
    tf.tests.iter().map(|t| run_case(rt, &set, dir, &file, tf.rules.as_deref(), t, default_config)).collect()
}

fn run_case(rt: &Runtime, set: &RuleSet, dir: &Path, file: &str, file_rules: Option<&[String]>, t: &TestCase, default_config: Option<&Config>) -> Outcome {
    let mut out = Outcome { file: file.to_string(), name: t.name.clone(), failures: vec![], rules: vec![] };
    let under_test: Vec<String> = t.rules.as_deref().or(file_rules).map(<[String]>::to_vec).unwrap_or_else(|| set.rules.iter().map(|r| r.meta.id.clone()).collect());
    for id in &under_test {
        if !set.rules.iter().any(|r| &r.meta.id == id) {
            out.failures.push(format!("rule {id} is not loaded"));
        }
    }
    out.rules = under_test.clone();
    if !out.failures.is_empty() {
        return out;
    }
    let mut selected = set.clone();
    selected.rules.retain(|r| under_test.contains(&r.meta.id));
    let capture = dir.join(&t.capture);
    let report = match evaluate_case(rt, &selected, &capture, t, default_config) {
        Ok(r) => r,
        Err(e) => {
            out.failures.push(e);
            return out;
        }
    };
    out.failures = compare(t, &report);
    out
}

fn evaluate_case(rt: &Runtime, set: &RuleSet, capture: &Path, t: &TestCase, default_config: Option<&Config>) -> Result<Report, String> {
    let tmp;
    let dir = if t.overrides.is_empty() {
        capture
    } else {
        tmp = temp_copy(capture)?;
        for o in &t.overrides {
            apply(&tmp.0, o)?;
        }
        tmp.0.as_path()
    };
    let facts = netdoctor_collectors::capture::read(dir).map_err(|e| e.to_string())?;
    let eff: Effective = match t.config.as_ref().or(default_config) {
        Some(c) => c.validate(set).map_err(|es| es.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))?,
        None => Effective::default(),
    };
    let mut graph = Graph::build(facts);
    graph.extra_cni_interfaces = eff.cni_interfaces.clone();
    Ok(rt.evaluate(set, &Arc::new(graph), &eff))
}

fn compare(t: &TestCase, r: &Report) -> Vec<String> {
    let mut failures = Vec::new();
    let got: Vec<String> = r.findings.iter().map(finding_line).collect();
    let got_block = || if got.is_empty() { "    (no findings)".to_string() } else { got.iter().map(|g| format!("    {g}")).collect::<Vec<_>>().join("\n") };
    let mut used = vec![false; r.findings.len()];
    for e in &t.expect {
        match r.findings.iter().enumerate().find(|(i, f)| !used[*i] && matches(e, f)) {
            Some((i, _)) => used[i] = true,
            None => failures.push(format!("expected: {}\n  got:\n{}", describe(e), got_block())),
        }
    }
    if t.exact.unwrap_or(true) {
        for (i, f) in r.findings.iter().enumerate() {
            if !used[i] {
                failures.push(format!("unexpected: {}", finding_line(f)));
            }
        }
        for s in &r.skipped {
            let key = subject_key(&s.subject.kind, s.subject.namespace.as_deref(), &s.subject.name);
            if !t.expect_skipped.iter().any(|x| x.rule == s.rule && x.subject == key) {
                failures.push(format!("unexpected skip: {} {key}: {}", s.rule, s.reason));
            }
        }
        for e in &r.errors {
            if !t.expect_errors.iter().any(|x| x.source == e.source) {
                failures.push(format!("unexpected error: {}: {}", e.source, e.message));
            }
        }
    }
    for n in &t.expect_none {
        for f in &r.findings {
            let subj = subject_key(&f.subject.kind, f.subject.namespace.as_deref(), &f.subject.name);
            if f.rule == n.rule && n.subject.as_deref().is_none_or(|s| s == subj) {
                failures.push(format!("must not appear: {}", finding_line(f)));
            }
        }
    }
    for x in &t.expect_skipped {
        let hit = r.skipped.iter().any(|s| {
            s.rule == x.rule
                && subject_key(&s.subject.kind, s.subject.namespace.as_deref(), &s.subject.name) == x.subject
                && x.reason_contains.as_deref().is_none_or(|c| s.reason.contains(c))
        });
        if !hit {
            let got: Vec<String> = r.skipped.iter().map(|s| format!("    {} {}: {}", s.rule, s.subject.label(), s.reason)).collect();
            failures.push(format!("expected skip: {} {} (reason containing {:?})\n  got:\n{}", x.rule, x.subject, x.reason_contains, if got.is_empty() { "    (no skips)".into() } else { got.join("\n") }));
        }
    }
    for x in &t.expect_errors {
        if !r.errors.iter().any(|e| e.source == x.source && x.message_contains.as_deref().is_none_or(|c| e.message.contains(c))) {
            let got: Vec<String> = r.errors.iter().map(|e| format!("    {}: {}", e.source, e.message)).collect();
            failures.push(format!("expected error: {} containing {:?}\n  got:\n{}", x.source, x.message_contains, if got.is_empty() { "    (no errors)".into() } else { got.join("\n") }));
        }
    }
    failures
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A JUnit XML report (one testsuite per YAML file).
pub fn junit(outcomes: &[Outcome]) -> String {
    let mut by_file: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        by_file.entry(&o.file).or_default().push(o);
    }
    let failures = outcomes.iter().filter(|o| !o.failures.is_empty()).count();
    let mut s = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"netdoctor rules test\" tests=\"{}\" failures=\"{failures}\">\n", outcomes.len());
    for (file, os) in by_file {
        let f = os.iter().filter(|o| !o.failures.is_empty()).count();
        let _ = writeln!(s, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\">", xml(file), os.len());
        for o in os {
            let _ = write!(s, "    <testcase classname=\"{}\" name=\"{}\"", xml(file), xml(&o.name));
            if o.failures.is_empty() {
                s.push_str("/>\n");
            } else {
                let _ = writeln!(s, ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>", xml(o.failures[0].lines().next().unwrap_or("")), xml(&o.failures.join("\n")));
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}
