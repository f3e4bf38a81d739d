//! Shared helpers for the built-in pack's tests: evaluate a capture with the
//! embedded rules, and derive a fixture from a real capture by editing a few
//! files in a temporary copy (so a firing fixture differs from the healthy one
//! by exactly the fault under test).

#![allow(dead_code)]

use netdoctor_engine::{Report, Runtime};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// An example capture shipped in `examples/captures/`.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/captures").join(name)
}

/// Evaluates a capture with the built-in pack.
pub fn eval(dir: &Path) -> Report {
    let rt = Runtime::default();
    let set = rt.load(netdoctor_rules::BUILTIN, &[]);
    assert!(set.errors.is_empty(), "built-in pack must compile: {:?}", set.errors);
    let facts = netdoctor_collectors::capture::read(dir, &Default::default()).expect("capture readable");
    netdoctor_engine::pipeline::evaluate_facts(&rt, &set, facts, &Default::default())
}

/// `(rule, subject, related)` of every finding, as `rule Kind/ns/name -> Kind/ns/name`.
pub fn ids(r: &Report) -> Vec<String> {
    r.findings
        .iter()
        .map(|f| match &f.related {
            Some(rel) => format!("{} {} -> {}", f.rule, f.subject.label(), rel.label()),
            None => format!("{} {}", f.rule, f.subject.label()),
        })
        .collect()
}

/// Findings of one rule.
pub fn of<'a>(r: &'a Report, rule: &str) -> Vec<&'a netdoctor_engine::Finding> {
    r.findings.iter().filter(|f| f.rule == rule).collect()
}

/// Asserts a report has no findings, skips or errors: "no finding" is a verdict.
pub fn assert_clean(r: &Report) {
    assert!(r.findings.is_empty(), "false positives: {:#?}", ids(r));
    assert!(r.skipped.is_empty(), "skipped on a capture that has every fact: {:#?}", r.skipped);
    assert!(r.errors.is_empty(), "errors: {:#?}", r.errors);
}

/// A temporary copy of a capture, edited in place, removed on drop.
pub struct Fixture {
    pub dir: PathBuf,
    /// Removes the copy on drop.
    _tmp: tempfile::TempDir,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

impl Fixture {
    /// Copies `examples/captures/<base>` into a fresh temporary directory.
    pub fn from(base: &str) -> Fixture {
        let tmp = tempfile::Builder::new().prefix("netdoctor-fx-").tempdir().unwrap();
        let dir = tmp.path().join("capture");
        copy_dir(&example(base), &dir);
        Fixture { dir, _tmp: tmp }
    }
    /// Rewrites a text file.
    pub fn text(&self, rel: &str, f: impl FnOnce(String) -> String) -> &Self {
        let p = self.dir.join(rel);
        let t = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{rel}: {e}"));
        std::fs::write(&p, f(t)).unwrap();
        self
    }
    /// Rewrites a JSON file.
    pub fn json(&self, rel: &str, f: impl FnOnce(&mut Value)) -> &Self {
        self.text(rel, |t| {
            let mut v: Value = serde_json::from_str(&t).unwrap();
            f(&mut v);
            serde_json::to_string_pretty(&v).unwrap()
        })
    }
    /// Keeps only the JSON array elements for which `keep` is true.
    pub fn retain(&self, rel: &str, keep: impl Fn(&Value) -> bool) -> &Self {
        self.json(rel, |v| v.as_array_mut().unwrap().retain(|x| keep(x)))
    }
    /// Writes (or replaces) a file.
    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
        self
    }
    /// Removes a file.
    pub fn remove(&self, rel: &str) -> &Self {
        std::fs::remove_file(self.dir.join(rel)).unwrap();
        self
    }
    /// Sets `key = value` in a sysctl.txt (adding the line if absent).
    pub fn sysctl(&self, node: &str, key: &str, value: &str) -> &Self {
        self.text(&format!("nodes/{node}/sysctl.txt"), |t| {
            let mut found = false;
            let mut out: Vec<String> = t
                .lines()
                .map(|l| {
                    if l.split('=').next().map(str::trim) == Some(key) {
                        found = true;
                        format!("{key} = {value}")
                    } else {
                        l.to_string()
                    }
                })
                .collect();
            if !found {
                out.push(format!("{key} = {value}"));
            }
            out.join("\n") + "\n"
        })
    }
    /// Evaluates the edited capture.
    pub fn eval(&self) -> Report {
        eval(&self.dir)
    }
}

/// True for a route object that is the IPv4 default route of table main.
pub fn is_v4_default(r: &Value) -> bool {
    r["dst"] == "default" && r.get("gateway").and_then(Value::as_str).is_some_and(|g| g.contains('.')) && r.get("table").is_none_or(|t| t == "main")
}
