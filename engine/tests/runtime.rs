//! Rule runtime isolation: broken rules are reported with file:line:column and
//! cut off, and every other rule still runs.

use netdoctor_engine::{FactSet, Graph, Limits, Runtime};
use std::sync::Arc;
use std::time::Duration;

const GOOD: &str = r#"
const RULE = #{ id: "every-host", severity: "info", summary: "one per host", remediation: "none" };
fn evaluate(g) {
    for h in g.hosts {
        g.finding(#{ subject: h.subject(), summary: `host ${h.name}`, evidence: #{ n: 1 } });
    }
}
"#;

fn graph() -> Arc<Graph> {
    let mut f = FactSet::new();
    f.host_mut("n1");
    f.host_mut("n2");
    Arc::new(Graph::build(f, Vec::new(), &Default::default()))
}

fn eval(rules: &[(&str, &str)], limits: Limits) -> netdoctor_engine::Report {
    let rt = Runtime::new(limits);
    let set = rt.load(rules, &[]);
    rt.evaluate(&set, &graph(), &Default::default())
}

#[test]
fn syntax_error_is_located_and_others_run() {
    let bad = "const RULE = #{ id: \"bad\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {\n    let x = ;\n}\n";
    let r = eval(&[("rules/good.rhai", GOOD), ("rules/bad.rhai", bad)], Limits::default());
    assert_eq!(r.findings.len(), 2);
    assert_eq!(r.errors.len(), 1);
    assert_eq!(r.errors[0].source, "rules/bad.rhai:3:13");
    assert!(r.errors[0].message.contains("Unexpected ';'"), "{}", r.errors[0].message);
}

#[test]
fn endless_loop_is_cut_off_with_location() {
    let looping = "const RULE = #{ id: \"looper\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {\n    let n = 0;\n    loop { n += 1; }\n}\n";
    let limits = Limits { max_operations: 200_000, ..Limits::default() };
    let r = eval(&[("rules/good.rhai", GOOD), ("rules/loop.rhai", looping)], limits);
    assert_eq!(r.findings.len(), 2, "the good rule still reports");
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].source.starts_with("rules/loop.rhai:4:"), "{:?}", r.errors[0]);
    assert!(r.errors[0].message.contains("operations budget"), "{}", r.errors[0].message);
}

#[test]
fn wall_clock_budget_cuts_off_too() {
    let looping = "const RULE = #{ id: \"looper\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {\n    loop { let a = [1, 2, 3]; a.sort(); }\n}\n";
    let limits = Limits { max_operations: 0, timeout: Duration::from_millis(200), ..Limits::default() };
    let r = eval(&[("rules/loop.rhai", looping)], limits);
    assert_eq!(r.errors.len(), 1);
    assert!(r.errors[0].message.contains("time budget"), "{}", r.errors[0].message);
}

#[test]
fn runtime_error_discards_partial_output() {
    let half = "const RULE = #{ id: \"half\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {\n    for h in g.hosts { g.finding(#{ subject: h.subject(), summary: \"x\" }); }\n    let x = g.no_such_function();\n}\n";
    let r = eval(&[("rules/half.rhai", half)], Limits::default());
    assert!(r.findings.is_empty());
    assert_eq!(r.errors[0].source, "rules/half.rhai:4:15");
    assert!(r.errors[0].message.contains("no_such_function"), "{}", r.errors[0].message);
}

#[test]
fn malformed_finding_names_the_problem() {
    let bad = "const RULE = #{ id: \"badf\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {\n    g.finding(#{ subject: #{ kind: \"Node\" }, summary: \"x\" });\n}\n";
    let r = eval(&[("rules/badf.rhai", bad)], Limits::default());
    assert!(r.errors[0].message.contains("subject needs `name`"), "{}", r.errors[0].message);
    assert!(r.errors[0].source.starts_with("rules/badf.rhai:3:"), "{:?}", r.errors[0]);
}

#[test]
fn metadata_is_validated() {
    let rt = Runtime::default();
    let e = rt.compile("x.rhai", "const RULE = #{ id: \"x\", severity: \"loud\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {}\n").err().unwrap();
    assert!(e.message.contains("severity must be info, warning or critical"), "{}", e.message);
    let e = rt
        .compile("x.rhai", "const RULE = #{ id: \"x\", severity: \"info\", summary: \"s\", remediation: \"r\", colour: \"red\" };\nfn evaluate(g) {}\n")
        .err()
        .unwrap();
    assert!(e.message.contains("unknown field `colour`"), "{}", e.message);
    let e = rt.compile("x.rhai", "const RULE = #{ id: \"x\", severity: \"info\", summary: \"s\", remediation: \"r\" };\n").err().unwrap();
    assert!(e.message.contains("no `fn evaluate(g)`"), "{}", e.message);
}

#[test]
fn rules_cannot_import_or_eval() {
    let rt = Runtime::default();
    let imp = "import \"/etc/passwd\" as p;\nconst RULE = #{ id: \"x\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {}\n";
    assert!(rt.compile("x.rhai", imp).is_err());
    let ev = "const RULE = #{ id: \"x\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) { eval(\"1\"); }\n";
    assert!(rt.compile("x.rhai", ev).is_err());
}

#[test]
fn later_directory_overrides_and_duplicates_in_one_dir_error() {
    let dir = tempfile_dir();
    std::fs::write(dir.join("a.rhai"), GOOD.replace("one per host", "overridden")).unwrap();
    std::fs::write(dir.join("b.rhai"), GOOD).unwrap();
    let rt = Runtime::default();
    let set = rt.load(&[("rules/every-host.rhai", GOOD)], &[dir.as_path()]);
    assert_eq!(set.rules.len(), 1);
    assert_eq!(set.rules[0].meta.summary, "overridden");
    assert!(set.notes[0].contains("replaces rules/every-host.rhai"), "{:?}", set.notes);
    assert_eq!(set.errors.len(), 1);
    assert!(set.errors[0].message.contains("duplicate rule id \"every-host\""), "{:?}", set.errors);
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("netdoctor-rt-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
