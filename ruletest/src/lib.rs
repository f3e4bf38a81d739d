//! netdoctor's rule unit-test runner (`netdoctor rules test FILE...`, format in
//! `docs/rule-tests.md`). Each test evaluates a capture, optionally edited by
//! inline [`overrides`] in a temporary copy (and never outside it), with the
//! rules under test, and compares their findings with the expectations,
//! printing expected vs got. Start at [`run_file`]; every evaluation goes
//! through [`evaluate_capture`].

pub mod overrides;

use netdoctor_engine::config::{Config, Effective};
use netdoctor_engine::{Finding, Report, RuleSet, Runtime};
use overrides::Override;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why a test could not be evaluated (its expectations were never compared).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An override could not be applied (bad path, operation, or target).
    #[error("override {what}: {message}")]
    Override { what: String, message: String },
    /// The capture could not be copied for editing.
    #[error("copying {capture}: {message}")]
    Copy { capture: String, message: String },
    /// The capture could not be read at all.
    #[error("{0}")]
    Capture(String),
    /// The test's config (or `--config`) does not validate against the loaded rules.
    #[error("config: {0}")]
    Config(String),
}

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

/// The outcomes of one YAML file, and the rules its `rule_dirs` loaded.
pub struct FileRun {
    pub outcomes: Vec<Outcome>,
    /// Ids of the rules loaded from the file's `rule_dirs` (the author's rules under test).
    pub rule_dir_rules: Vec<String>,
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

/// Copies a capture, following symbolic links (the copy holds none, so an
/// override cannot write through one); a link loop is refused by depth.
fn copy_dir(from: &Path, to: &Path, depth: usize) -> std::io::Result<()> {
    if depth > 32 {
        return Err(std::io::Error::other(format!("{}: nested too deep (a symbolic link loop?)", from.display())));
    }
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if std::fs::metadata(e.path())?.is_dir() {
            copy_dir(&e.path(), &dest, depth + 1)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

/// Evaluates `set` on the capture directory `dir` with the config `eff`: read
/// the capture, build the graph, run the rules. Every evaluation of the runner
/// goes through here.
pub fn evaluate_capture(rt: &Runtime, set: &RuleSet, dir: &Path, eff: &Effective) -> Result<Report, Error> {
    let facts = netdoctor_collectors::capture::read(dir, &Default::default()).map_err(|e| Error::Capture(e.to_string()))?;
    Ok(netdoctor_engine::pipeline::evaluate_facts(rt, set, facts, eff))
}

/// Runs every test of one file. `base` is the rule set loaded from the pack and
/// `--rules`; the file's `rule_dirs` add to it. A rule file that fails to load
/// is reported as a failed "(rule_dirs)" entry, and only the tests that need
/// its rule fail. `default_config` (from `--config`) applies to tests that
/// carry no `config` of their own.
pub fn run_file(rt: &Runtime, base: &RuleSet, path: &Path, default_config: Option<&Config>) -> FileRun {
    let file = path.display().to_string();
    let fail = |name: &str, msg: String| FileRun {
        outcomes: vec![Outcome { file: file.clone(), name: name.to_string(), failures: vec![msg], rules: vec![] }],
        rule_dir_rules: vec![],
    };
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
    let mut outcomes = Vec::new();
    let mut rule_dir_rules = Vec::new();
    if !tf.rule_dirs.is_empty() {
        let dirs: Vec<PathBuf> = tf.rule_dirs.iter().map(|d| dir.join(d)).collect();
        let extra = rt.load(&[], &dirs.iter().map(PathBuf::as_path).collect::<Vec<_>>());
        if !extra.errors.is_empty() {
            let failures = extra.errors.iter().map(|e| format!("{}: {}", e.source, e.message)).collect();
            outcomes.push(Outcome { file: file.clone(), name: "(rule_dirs)".to_string(), failures, rules: vec![] });
            set.errors.extend(extra.errors);
        }
        for r in extra.rules {
            rule_dir_rules.push(r.meta.id.clone());
            set.rules.retain(|x| x.meta.id != r.meta.id);
            set.rules.push(r);
        }
    }
    outcomes.extend(tf.tests.iter().map(|t| run_case(rt, &set, dir, &file, tf.rules.as_deref(), t, default_config)));
    FileRun { outcomes, rule_dir_rules }
}

fn run_case(rt: &Runtime, set: &RuleSet, dir: &Path, file: &str, file_rules: Option<&[String]>, t: &TestCase, default_config: Option<&Config>) -> Outcome {
    let mut out = Outcome { file: file.to_string(), name: t.name.clone(), failures: vec![], rules: vec![] };
    let under_test: Vec<String> =
        t.rules.as_deref().or(file_rules).map(<[String]>::to_vec).unwrap_or_else(|| set.rules.iter().map(|r| r.meta.id.clone()).collect());
    for id in &under_test {
        if !set.rules.iter().any(|r| &r.meta.id == id) {
            let why = if set.errors.is_empty() {
                String::new()
            } else {
                format!(" ({} rule file(s) failed to load; see the errors reported above)", set.errors.len())
            };
            out.failures.push(format!("rule {id} is not loaded{why}"));
        }
    }
    out.rules = under_test.clone();
    if !out.failures.is_empty() {
        return out;
    }
    match evaluate_case(rt, set, &under_test, &dir.join(&t.capture), t, default_config) {
        Ok(report) => out.failures = compare(t, &report),
        Err(e) => out.failures.push(e.to_string()),
    }
    out
}

/// Validates the test's config against every loaded rule, edits a copy of the
/// capture, and evaluates only the rules under test on it.
fn evaluate_case(rt: &Runtime, set: &RuleSet, under_test: &[String], capture: &Path, t: &TestCase, default_config: Option<&Config>) -> Result<Report, Error> {
    let eff: Effective = match t.config.as_ref().or(default_config) {
        Some(c) => c.validate(set).map_err(|es| Error::Config(es.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")))?,
        None => Effective::default(),
    };
    // Load errors and notes are reported once by the caller, not as this test's unexpected errors.
    let selected = RuleSet { rules: set.rules.iter().filter(|r| under_test.contains(&r.meta.id)).cloned().collect(), ..RuleSet::default() };
    if t.overrides.is_empty() {
        return evaluate_capture(rt, &selected, capture, &eff);
    }
    let shown = capture.display().to_string();
    let tmp = tempfile::Builder::new().prefix("netdoctor-test-").tempdir().map_err(|e| Error::Copy { capture: shown.clone(), message: e.to_string() })?;
    copy_dir(capture, tmp.path(), 0).map_err(|e| Error::Copy { capture: shown, message: e.to_string() })?;
    for o in &t.overrides {
        overrides::apply(tmp.path(), o)?;
    }
    evaluate_capture(rt, &selected, tmp.path(), &eff)
}

fn compare(t: &TestCase, r: &Report) -> Vec<String> {
    let mut failures = Vec::new();
    let got: Vec<String> = r.findings.iter().map(finding_line).collect();
    let got_block = || {
        if got.is_empty() {
            "    (no findings)".to_string()
        } else {
            got.iter().map(|g| format!("    {g}")).collect::<Vec<_>>().join("\n")
        }
    };
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
            failures.push(format!(
                "expected skip: {} {} (reason containing {:?})\n  got:\n{}",
                x.rule,
                x.subject,
                x.reason_contains,
                if got.is_empty() { "    (no skips)".into() } else { got.join("\n") }
            ));
        }
    }
    for x in &t.expect_errors {
        if !r.errors.iter().any(|e| e.source == x.source && x.message_contains.as_deref().is_none_or(|c| e.message.contains(c))) {
            let got: Vec<String> = r.errors.iter().map(|e| format!("    {}: {}", e.source, e.message)).collect();
            failures.push(format!(
                "expected error: {} containing {:?}\n  got:\n{}",
                x.source,
                x.message_contains,
                if got.is_empty() { "    (no errors)".into() } else { got.join("\n") }
            ));
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
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"netdoctor rules test\" tests=\"{}\" failures=\"{failures}\">\n",
        outcomes.len()
    );
    for (file, os) in by_file {
        let f = os.iter().filter(|o| !o.failures.is_empty()).count();
        let _ = writeln!(s, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{f}\">", xml(file), os.len());
        for o in os {
            let _ = write!(s, "    <testcase classname=\"{}\" name=\"{}\"", xml(file), xml(&o.name));
            if o.failures.is_empty() {
                s.push_str("/>\n");
            } else {
                let _ = writeln!(
                    s,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml(o.failures[0].lines().next().unwrap_or("")),
                    xml(&o.failures.join("\n"))
                );
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}
