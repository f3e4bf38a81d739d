//! Rule authoring end to end: `rules test` (YAML), `rules check` error cases
//! with their exact messages, `--config` tuning, and `eval --explain`.

mod common;

use common::{netdoctor, root, stdout as out, Scratch};

#[test]
fn builtin_pack_tests_pass() {
    let o = netdoctor(&["rules", "test", "rules/tests", "--coverage"]);
    let s = out(&o);
    assert_eq!(o.status.code(), Some(0), "{s}");
    assert!(s.contains(&format!("coverage: every rule under test has a test ({} rules)", netdoctor_rules::BUILTIN.len())), "{s}");
    assert!(s.trim_end().ends_with(" 0 failed"), "{s}");
}

#[test]
fn failing_test_shows_expected_versus_got_and_exits_non_zero() {
    let d = Scratch::new("rt-fail");
    let capture = root().join("examples/captures/seed-001").display().to_string();
    let f = d.file(
        "t.yaml",
        &format!(
            "rules: [node-no-default-route]\ntests:\n  - name: wrong node\n    capture: {capture}\n    expect:\n      - rule: node-no-default-route\n        subject: Node/node1\n  - name: right node\n    capture: {capture}\n    expect:\n      - {{rule: node-no-default-route, subject: Node/admin}}\n"
        ),
    );
    let junit = d.dir().join("junit.xml");
    let o = netdoctor(&["rules", "test", &f, "--junit", junit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let s = out(&o);
    assert!(s.contains(&format!("FAIL  {f}: wrong node")), "{s}");
    assert!(
        s.contains(
            "  - expected: node-no-default-route Node/node1\n      got:\n        warning node-no-default-route Node/admin: admin has no IPv4 default route"
        ),
        "{s}"
    );
    assert!(s.contains("  - unexpected: warning node-no-default-route Node/admin"), "{s}");
    assert!(s.contains(&format!("ok    {f}: right node")), "{s}");
    assert!(s.ends_with("1 passed, 1 failed\n"), "{s}");
    let x = std::fs::read_to_string(junit).unwrap();
    assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
    assert!(
        x.contains("<testcase classname=")
            && x.contains("name=\"wrong node\"")
            && x.contains("<failure message=\"expected: node-no-default-route Node/node1\">"),
        "{x}"
    );
}

#[test]
fn coverage_lists_rules_without_tests() {
    let o = netdoctor(&["rules", "test", "rules/tests/ip-forward-disabled.yaml", "--coverage"]);
    let s = out(&o);
    assert!(s.contains("rule(s) without a test:") && s.contains("node-no-default-route") && !s.contains("without a test: ip-forward-disabled"), "{s}");
}

const META: &str = "const RULE = #{ id: \"ID\", severity: \"info\", summary: \"s\", remediation: \"r\" };\n";

fn rule(id: &str, body: &str) -> String {
    format!("{}fn evaluate(g) {{\n{body}}}\n", META.replace("ID", id))
}

#[test]
fn rules_check_error_cases_have_exact_messages() {
    let d = Scratch::new("check");
    let dir = d.dir().display().to_string();
    d.file("syntax.rhai", &rule("syntax", "    let x = ;\n"));
    d.file("meta.rhai", "const RULE = #{ id: \"meta\", severity: \"info\", summary: \"s\", remediation: \"r\", owner: \"me\" };\nfn evaluate(g) {}\n");
    d.file("dup-a.rhai", &rule("dup", ""));
    d.file("dup-b.rhai", &rule("dup", ""));
    d.file("fn.rhai", &rule("unknown-fn", "    if false {\n        g.fnding(#{});\n    }\n"));
    d.file("prop.rhai", &rule("unknown-prop", "    for h in g.hosts {\n        let n = h.nmae;\n    }\n"));
    let o = netdoctor(&["rules", "check", &dir]);
    assert_eq!(o.status.code(), Some(1));
    let s = out(&o);
    let want = [
        format!("{dir}/syntax.rhai:3:13: error: Unexpected ';'\n     3 |     let x = ;\n       |             ^\n"),
        format!("{dir}/meta.rhai:1:79: error: RULE has unknown field `owner` (known: id, severity, summary, remediation, docs, reads, tags, params)\n"),
        format!("{dir}/dup-b.rhai: error: duplicate rule id \"dup\": already defined in {dir}/dup-a.rhai\n"),
        format!("{dir}/fn.rhai:4:11: error: unknown function `fnding` (did you mean `finding`?)\n     4 |         g.fnding(#{{}});\n       |           ^\n"),
        format!("{dir}/prop.rhai:4:19: error: unknown property `.nmae`: no fact type has it and no map here has that key (did you mean `.name`?)\n"),
    ];
    for w in &want {
        assert!(s.contains(w.as_str()), "missing:\n{w}\nin:\n{s}");
    }
    assert!(s.ends_with("1 rules OK, 5 errors\n"), "{s}");
}

#[test]
fn unknown_getter_at_runtime_suggests_the_nearest_name() {
    // Dynamic access the static check cannot see: a property on a value read from a map.
    let d = Scratch::new("getter");
    d.file("r.rhai", &rule("dyn-prop", "    let hs = #{ first: g.hosts[0] };\n    let x = hs.first.nmae;\n"));
    let o = netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--rules", &d.dir().display().to_string(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let e = v["errors"].as_array().unwrap().iter().find(|e| e["source"].as_str().unwrap().contains("r.rhai")).unwrap();
    assert!(e["message"].as_str().unwrap().contains("did you mean `name`?"), "{e}");
}

#[test]
fn config_excludes_disables_overrides_and_is_validated() {
    let d = Scratch::new("cfg");
    let cfg = d.file(
        "netdoctor.yaml",
        "rules:\n  service-ip-unroutable:\n    exclude:\n      - {kind: Service, name: kube-dns}\n      - {kind: Node, name: \"adm.*\"}\n  node-no-default-route:\n    severity: critical\n  ip-forward-disabled:\n    enabled: false\n",
    );
    let mine = ["service-ip-unroutable", "node-no-default-route", "ip-forward-disabled"];
    let plain: serde_json::Value = serde_json::from_slice(&netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--format", "json"]).stdout).unwrap();
    let o = netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--config", &cfg, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f: Vec<&serde_json::Value> = v["findings"].as_array().unwrap().iter().filter(|f| mine.contains(&f["rule"].as_str().unwrap())).collect();
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0]["rule"], "node-no-default-route");
    assert_eq!(f[0]["severity"], "critical");
    assert_eq!(v["stats"]["rules"].as_i64().unwrap(), plain["stats"]["rules"].as_i64().unwrap() - 1, "the disabled rule does not run");
    let notes: Vec<&str> = v["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.contains(&"2 finding(s) excluded by config"), "{notes:?}");
    assert!(notes.contains(&"disabled by config: ip-forward-disabled"), "{notes:?}");
    // Validation: unknown rule id and unknown key.
    let bad = d.file("bad.yaml", "rules:\n  node-no-default-rout:\n    enabled: false\n");
    let c = netdoctor(&["rules", "check", "rules", "--config", &bad]);
    assert_eq!(c.status.code(), Some(1));
    assert!(
        out(&c).contains(&format!("{bad}: error: rules.node-no-default-rout: no loaded rule has this id (did you mean node-no-default-route?)")),
        "{}",
        out(&c)
    );
    let bad2 = d.file("bad2.yaml", "rules:\n  node-no-default-route:\n    enable: false\n");
    let c2 = netdoctor(&["rules", "check", "rules", "--config", &bad2]);
    assert_eq!(c2.status.code(), Some(1));
    assert!(out(&c2).contains("unknown field `enable`, expected one of `enabled`, `severity`, `exclude`, `params`"), "{}", out(&c2));
    let e = netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--config", &bad2]);
    assert_eq!(e.status.code(), Some(2), "a broken config refuses to run");
    // `rules test --config` applies to tests without their own config: disabling the rule fails its firing tests.
    let off = d.file("off.yaml", "rules:\n  node-no-default-route:\n    enabled: false\n");
    let t = netdoctor(&["rules", "test", "rules/tests/node-no-default-route.yaml", "--config", &off]);
    assert_eq!(t.status.code(), Some(1));
    assert!(out(&t).contains("  - expected: node-no-default-route Node/admin"), "{}", out(&t));
}

#[test]
fn params_reach_the_rule() {
    let d = Scratch::new("params");
    d.file(
        "p.rhai",
        &rule(
            "param-echo",
            "    let who = g.param(\"who\", \"nobody\");\n    g.finding(#{ subject: #{ kind: \"Cluster\", name: \"cluster\" }, summary: `hello ${who}` });\n",
        ),
    );
    let cfg = d.file("c.yaml", "rules:\n  param-echo:\n    params:\n      who: operators\n");
    let o = netdoctor(&[
        "eval",
        "--capture",
        "examples/captures/healthy-flannel",
        "--no-builtin-rules",
        "--rules",
        &d.dir().display().to_string(),
        "--config",
        &cfg,
        "--format",
        "json",
        "--min-severity",
        "info",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["findings"][0]["summary"], "hello operators");
}

#[test]
fn explain_shows_reads_and_verdict_per_subject() {
    let o = netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--explain", "node-no-default-route"]);
    let s = out(&o);
    assert!(s.contains("Node/admin: FIRED (1 finding)\n  read    has(\"routes\") [nodes/admin/ip-route.json] → true\n  read    default_route(\"inet\") → none\n  read    routes → [39 items]\n  read    table → main\n"), "{s}");
    assert!(s.contains("  finding warning admin has no IPv4 default route"), "{s}");
    assert!(s.contains("Node/node1: did not fire\n  read    has(\"routes\") [nodes/node1/ip-route.json] → true\n  read    default_route(\"inet\") → default via 192.168.31.1 dev enp0s3 proto dhcp metric 102"), "{s}");
    let one = out(&netdoctor(&[
        "eval",
        "--capture",
        "examples/captures/seed-001",
        "--explain",
        "service-ip-unroutable",
        "--subject",
        "Service/kube-system/kube-dns",
    ]));
    assert!(one.contains("Node/admin: FIRED") && !one.contains("Node/node1"), "{one}");
    let skip = out(&netdoctor(&["eval", "--capture", "examples/captures/seed-004-dns-loop", "--explain", "ip-forward-disabled", "--subject", "Node/cp1"]));
    assert!(skip.contains("Node/cp1: did not fire"), "{skip}");
    let typo = netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--explain", "node-no-default-rout"]);
    assert_eq!(typo.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("did you mean node-no-default-route?"));
}

#[test]
fn example_custom_rules_check_and_pass_their_tests() {
    let c = netdoctor(&["rules", "check", "examples/rules"]);
    assert_eq!(out(&c), "7 rules OK, 0 errors\n");
    let t = netdoctor(&["rules", "test", "examples/rules/tests"]);
    let s = out(&t);
    assert_eq!(t.status.code(), Some(0), "{s}");
    assert!(s.ends_with(" passed, 0 failed\n") && !s.starts_with("0 passed"), "{s}");
}

#[test]
fn api_fact_accessors() {
    // One Rhai-level test per accessor an author asked for: IPPool modes, flannel DirectRouting
    // (etcd and ConfigMap), Node taints and unschedulable, Deployment replicas, a port's container.
    let o = netdoctor(&["rules", "test", "tests/api-facts/facts.yaml", "--coverage"]);
    let s = out(&o);
    assert_eq!(o.status.code(), Some(0), "{s}");
    assert!(s.contains("coverage: every rule under test has a test (5 rules)"), "{s}");
    assert!(s.ends_with("9 passed, 0 failed\n"), "{s}");
}

/// The four rules the newcomer of issue 8 wrote, against the API as documented.
const NEWCOMER_RULES: [&str; 4] = ["running-pod-on-notready-node", "service-target-port-not-exposed", "pod-route-bypasses-overlay", "coredns-single-node"];

#[test]
fn newcomer_rules_pass_their_tests_and_are_quiet_on_healthy_captures() {
    let t = netdoctor(&["rules", "test", "examples/rules/tests", "--coverage"]);
    let s = out(&t);
    assert_eq!(t.status.code(), Some(0), "{s}");
    assert!(s.contains("coverage: every rule under test has a test (7 rules)"), "{s}");
    for id in NEWCOMER_RULES {
        let ok = s.lines().filter(|l| l.starts_with(&format!("ok    examples/rules/tests/{id}.yaml: "))).count();
        assert!(ok >= 2, "{id}: a firing and a healthy case at least ({ok} tests):\n{s}");
    }
    let mut healthy: Vec<_> = std::fs::read_dir(root().join("examples/captures"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("healthy-"))
        .collect();
    healthy.sort();
    assert!(healthy.len() >= 4, "{healthy:?}");
    for h in &healthy {
        let capture = format!("examples/captures/{h}");
        let o = netdoctor(&["eval", "--capture", &capture, "--rules", "examples/rules", "--format", "json", "--min-severity", "info"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{h}: {e}: {}", out(&o)));
        let mine: Vec<&serde_json::Value> =
            v["findings"].as_array().unwrap().iter().filter(|f| NEWCOMER_RULES.contains(&f["rule"].as_str().unwrap())).collect();
        assert!(mine.is_empty(), "{h}: {mine:#?}");
        let errors: Vec<&serde_json::Value> =
            v["errors"].as_array().unwrap().iter().filter(|e| e["source"].as_str().unwrap_or("").contains("examples/rules")).collect();
        assert!(errors.is_empty(), "{h}: {errors:#?}");
    }
}
