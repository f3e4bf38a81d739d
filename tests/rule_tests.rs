//! `netdoctor rules test` end to end (issue 8): overrides confined to the copy,
//! object edits on real captures, broken rules failing only the tests that need
//! them, `--config` checked against every loaded rule, and `--coverage` over
//! the rules under test.

mod common;

use common::{netdoctor, root, stdout, Scratch};

fn capture(name: &str) -> String {
    root().join("examples/captures").join(name).display().to_string()
}

#[test]
fn an_override_outside_the_copy_is_an_error_and_touches_nothing() {
    let s = Scratch::new("escape");
    let victim = s.file("victim.txt", "keep me\n");
    let healthy = capture("healthy-flannel");
    // `../` from the capture copy, as deep as it takes to reach the victim's directory.
    let up = "../".repeat(16) + victim.trim_start_matches('/');
    let t = s.file(
        "t.yaml",
        &format!(
            "rules: [ip-forward-disabled]\ntests:\n  - name: absolute\n    capture: {healthy}\n    overrides:\n      - {{file: {victim}, content: pwned}}\n  - name: relative\n    capture: {healthy}\n    overrides:\n      - {{file: \"{up}\", delete: true}}\n  - name: through a subdirectory\n    capture: {healthy}\n    overrides:\n      - {{file: nodes/../../escape.txt, content: pwned}}\n"
        ),
    );
    let o = netdoctor(&["rules", "test", &t]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(&format!("FAIL  {t}: absolute\n  - override {victim}: {victim:?} is absolute (paths are relative to the capture directory)")),
        "{out}"
    );
    assert!(out.contains(&format!("FAIL  {t}: relative\n  - override {up}: {up:?} leaves the capture")), "{out}");
    assert!(out.contains("FAIL") && out.ends_with("0 passed, 3 failed\n"), "{out}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n", "nothing outside the copy changed");
    assert!(!root().join("examples/captures/escape.txt").exists() && !std::env::temp_dir().join("escape.txt").exists());
}

#[test]
fn object_edits_drive_a_rule_on_a_real_capture() {
    let s = Scratch::new("objects");
    let healthy = capture("healthy-flannel");
    let t = s.file(
        "t.yaml",
        &format!(
            r#"rules: [node-not-ready]
tests:
  - name: node1 turns NotReady
    capture: {healthy}
    overrides:
      - object: Node/node1
        set: {{"/status/conditions/3/status": "False", "/status/conditions/3/reason": KubeletNotReady}}
    expect:
      - {{rule: node-not-ready, subject: Node/node1, summary_contains: KubeletNotReady}}
  - name: without a Ready condition node2 is skipped, not judged
    capture: {healthy}
    overrides:
      - file: cluster/nodes.json
        object: Node/node2
        delete: ["/status/conditions/3"]
    expect_skipped:
      - {{rule: node-not-ready, subject: Node/node2, reason_contains: no Ready condition}}
  - name: a typo in the object names the nearest one
    capture: {healthy}
    overrides:
      - object: Node/nod1
        delete: true
"#
        ),
    );
    let o = netdoctor(&["rules", "test", &t]);
    let out = stdout(&o);
    assert!(out.contains(&format!("ok    {t}: node1 turns NotReady")), "{out}");
    assert!(out.contains(&format!("ok    {t}: without a Ready condition node2 is skipped, not judged")), "{out}");
    assert!(out.contains("  - override Node/nod1: object Node/nod1 not found in cluster/*.json|yaml (did you mean Node/node1?); Node there: Node/master, Node/node1, Node/node2"), "{out}");
    assert!(out.ends_with("2 passed, 1 failed\n"), "{out}");
}

#[test]
fn a_broken_rule_fails_only_the_tests_that_need_it() {
    let s = Scratch::new("broken");
    s.file(
        "mine/broken.rhai",
        "const RULE = #{ id: \"broken\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {\n    let x = ;\n}\n",
    );
    let healthy = capture("healthy-flannel");
    let tests = format!("tests:\n  - name: needs the broken rule\n    capture: {healthy}\n    rules: [broken]\n  - name: the pack still works\n    capture: {healthy}\n    rules: [ip-forward-disabled]\n");
    // Through --rules: an error on stderr, the other test runs.
    let t = s.file("t.yaml", &tests);
    let o = netdoctor(&["rules", "test", &t, "--rules", &s.path("mine")]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("error: {}:3:13: Unexpected ';'", s.path("mine/broken.rhai"))), "{:?}", o);
    assert!(
        out.contains(&format!(
            "FAIL  {t}: needs the broken rule\n  - rule broken is not loaded (1 rule file(s) failed to load; see the errors reported above)"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("ok    {t}: the pack still works")), "{out}");
    assert!(out.ends_with("1 passed, 1 failed; 1 rule file(s) failed to load\n"), "{out}");
    // Through the file's rule_dirs: a failed (rule_dirs) entry, the other test runs.
    let t2 = s.file("t2.yaml", &format!("rule_dirs: [mine]\n{tests}"));
    let out = stdout(&netdoctor(&["rules", "test", &t2]));
    assert!(out.contains(&format!("FAIL  {t2}: (rule_dirs)\n  - {}:3:13: Unexpected ';'", s.path("mine/broken.rhai"))), "{out}");
    assert!(out.contains(&format!("ok    {t2}: the pack still works")), "{out}");
    assert!(out.ends_with("1 passed, 2 failed\n"), "{out}");
}

#[test]
fn config_is_checked_against_every_loaded_rule() {
    let s = Scratch::new("cfg-all");
    // node-no-default-route is loaded but not under test in this file.
    let cfg = s.file("c.yaml", "rules:\n  node-no-default-route:\n    severity: info\n");
    let o = netdoctor(&["rules", "test", "rules/tests/ip-forward-disabled.yaml", "--config", &cfg]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let bad = s.file("bad.yaml", "rules:\n  node-no-default-rout:\n    severity: info\n");
    let out = stdout(&netdoctor(&["rules", "test", "rules/tests/ip-forward-disabled.yaml", "--config", &bad]));
    assert!(out.contains("config: rules.node-no-default-rout: no loaded rule has this id (did you mean node-no-default-route?)"), "{out}");
}

#[test]
fn coverage_counts_the_rules_under_test() {
    let s = Scratch::new("coverage");
    let rule = |id: &str| format!("const RULE = #{{ id: \"{id}\", severity: \"info\", summary: \"s\", remediation: \"r\" }};\nfn evaluate(g) {{}}\n");
    s.file("mine/a.rhai", &rule("mine-a"));
    s.file("mine/b.rhai", &rule("mine-b"));
    let t = s.file("t.yaml", &format!("rule_dirs: [mine]\nrules: [mine-a]\ntests:\n  - name: a\n    capture: {}\n", capture("healthy-flannel")));
    let out = stdout(&netdoctor(&["rules", "test", &t, "--coverage"]));
    assert!(out.contains("coverage: 1 of 2 rule(s) without a test: mine-b\n"), "only the author's rules count, not the 25 built-in ones: {out}");
}
