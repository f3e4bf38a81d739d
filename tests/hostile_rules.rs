//! Issue 8 end to end: hostile and clumsy rule files, as a new user would
//! write them, through every `netdoctor` command. None makes a command exit
//! 101, hang, or take longer than its budgets; each broken file is one error;
//! every other rule still runs; `--strict` turns any error into exit 2.

mod common;

use common::{netdoctor, root, stdout, Scratch};
use serde_json::Value;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

/// How rules in these tests list pods (the rule API's spelling, in one place).
const PODS: &str = "g.pods";

fn rule(id: &str, body: &str) -> String {
    format!("const RULE = #{{ id: \"{id}\", severity: \"warning\", summary: \"s\", remediation: \"r\" }};\n{body}")
}

const GOOD: &str = "fn evaluate(g) {\n    g.finding(#{ subject: #{ kind: \"Cluster\", name: \"cluster\" }, summary: \"the good rule ran\" });\n}\n";

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

fn errors(v: &Value) -> Vec<String> {
    v["errors"].as_array().unwrap().iter().map(|e| format!("{}: {}", e["source"].as_str().unwrap(), e["message"].as_str().unwrap())).collect()
}

/// Never a Rust panic: no exit 101 and nothing of one on stderr.
fn no_panic(what: &str, o: &Output) {
    assert_ne!(o.status.code(), Some(101), "{what} exited 101: {}", stderr(o));
    assert!(!stderr(o).contains("panicked at"), "{what}: a panic reached stderr:\n{}", stderr(o));
}

/// A copy of an example capture with every pod repeated `times` times under new names.
fn large_capture(s: &Scratch, times: usize) -> String {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let dir = s.dir().join("large");
    copy(&root().join("examples/captures/healthy-flannel"), &dir);
    let p = dir.join("cluster/pods.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let items = v["items"].as_array().unwrap().clone();
    let mut out = Vec::new();
    for i in 0..times {
        for it in &items {
            let mut x = it.clone();
            x["metadata"]["name"] = Value::from(format!("{}-{i}", x["metadata"]["name"].as_str().unwrap()));
            out.push(x);
        }
    }
    v["items"] = Value::from(out);
    std::fs::write(&p, v.to_string()).unwrap();
    dir.display().to_string()
}

#[test]
fn top_level_sleep_crashes_no_command() {
    let s = Scratch::new("top-sleep");
    s.file("rules/good.rhai", &rule("good-one", GOOD));
    let top = s.file("rules/top.rhai", &rule("top-sleep", "sleep(1e300);\nfn evaluate(g) {}\n"));
    let dir = s.path("rules");
    let want = format!("{top}:2:1: at the top level: sleep is not available in rules");
    let t = Instant::now();
    let e = netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--rules", &dir, "--format", "json"]);
    no_panic("eval", &e);
    assert_eq!(e.status.code(), Some(1), "the good rule's warning");
    let v = json(&e);
    assert_eq!(v["findings"][0]["summary"], "the good rule ran");
    assert!(errors(&v).iter().any(|x| x.starts_with(&want)), "{:#?}", errors(&v));
    assert!(stderr(&e).contains(&format!("error: {want}")), "{}", stderr(&e));
    let c = netdoctor(&["rules", "check", &dir]);
    no_panic("rules check", &c);
    assert!(
        stdout(&c).contains(&format!("{top}:2:1: error: at the top level: sleep is not available")) && stdout(&c).ends_with("1 rules OK, 1 errors\n"),
        "{}",
        stdout(&c)
    );
    let l = netdoctor(&["rules", "list", "--rules", &dir]);
    no_panic("rules list", &l);
    assert_eq!(l.status.code(), Some(1));
    assert!(stdout(&l).contains("good-one") && stderr(&l).contains(&want), "{}{}", stdout(&l), stderr(&l));
    let r = netdoctor(&["rules", "test", "rules/tests/ip-forward-disabled.yaml", "--rules", &dir]);
    no_panic("rules test", &r);
    assert_eq!(r.status.code(), Some(1), "a rule that does not load is an error");
    assert!(stdout(&r).ends_with("3 passed, 0 failed; 1 rule file(s) failed to load\n"), "{}", stdout(&r));
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
}

#[test]
fn sleep_in_a_rule_fails_at_once() {
    let s = Scratch::new("sleep");
    let f = s.file("rules/s.rhai", &rule("sleeper", "fn evaluate(g) {\n    sleep(30);\n}\n"));
    let t = Instant::now();
    let o = netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--rules", &s.path("rules"), "--format", "json"]);
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    no_panic("eval", &o);
    assert!(errors(&json(&o))
        .contains(&format!("{f}:3:5: rule sleeper: sleep is not available in rules: a rule must not block (it runs under an operations budget)")));
}

fn looping_rule(id: &str) -> String {
    rule(id, &format!("fn evaluate(g) {{\n    let n = 0;\n    loop {{\n        for p in {PODS} {{\n            if p.name.len() > 3 {{ n += 1; }}\n        }}\n    }}\n}}\n"))
}

fn timed(args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let o = netdoctor(args);
    (o, t.elapsed())
}

/// A loop over a large capture is cut off by its operations budget, at the same
/// line on every run, well inside the time safety net, without a second run.
#[test]
fn a_loop_over_a_large_capture_is_cut_off_at_the_same_line_within_its_budget() {
    let s = Scratch::new("large");
    let capture = large_capture(&s, 300);
    let f = s.file("rules/loop.rhai", &looping_rule("looper"));
    let cfg = s.file("limits.yaml", "limits:\n  max_operations: 2000000\n  timeout_seconds: 60\n");
    let (_, baseline) = timed(&["eval", "--capture", &capture, "--no-builtin-rules", "--rules", &s.path("none"), "--config", &cfg]);
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (o, took) = timed(&["eval", "--capture", &capture, "--no-builtin-rules", "--rules", &s.path("rules"), "--config", &cfg, "--format", "json"]);
        no_panic("eval", &o);
        let errs = errors(&json(&o));
        assert_eq!(errs.len(), 1, "{errs:#?}");
        assert!(errs[0].contains("exceeded its operations budget (2000000 operations"), "cut off by operations, not time: {}", errs[0]);
        assert!(took < baseline + Duration::from_secs(30), "the run took {took:?} (capture alone {baseline:?}): within the budget, far from the 60 s net");
        seen.push(errs[0].clone());
    }
    assert!(seen[0].starts_with(&format!("{f}:")) && seen.iter().all(|e| *e == seen[0]), "{seen:#?}");
}

/// Five looping rules cost five budgets: no re-run, no growth.
#[test]
fn five_looping_rules_cost_five_budgets() {
    let s = Scratch::new("five");
    let cfg = s.file("limits.yaml", "limits:\n  max_operations: 1000000\n");
    s.file("one/loop.rhai", &looping_rule("loop-0"));
    for i in 0..5 {
        s.file(&format!("five/loop{i}.rhai"), &looping_rule(&format!("loop-{i}")));
    }
    let run = |dir: &str| {
        timed(&["eval", "--capture", "examples/captures/healthy-flannel", "--no-builtin-rules", "--rules", &s.path(dir), "--config", &cfg, "--format", "json"])
    };
    let (_, base) = timed(&["eval", "--capture", "examples/captures/healthy-flannel", "--no-builtin-rules", "--rules", &s.path("none"), "--config", &cfg]);
    let (one, t1) = run("one");
    let (five, t5) = run("five");
    assert_eq!(errors(&json(&one)).len(), 1);
    assert_eq!(errors(&json(&five)).len(), 5);
    let per_rule = t1.saturating_sub(base);
    assert!(t5.saturating_sub(base) < per_rule * 5 * 3 / 2 + Duration::from_secs(2), "five rules {t5:?}, one rule {t1:?}, none {base:?}");
}

#[test]
fn junk_beside_a_good_rule_is_one_error_per_file() {
    let s = Scratch::new("junk");
    s.file("rules/good.rhai", &rule("good-one", GOOD));
    std::fs::write(s.dir().join("rules/binary.rhai"), [0x7f_u8, b'E', b'L', b'F', 0xff, 0x00, 0x01]).unwrap();
    let mut latin1 = b"// r\xe8gle\n".to_vec();
    latin1.extend_from_slice(rule("latin", "fn evaluate(g) {}\n").as_bytes());
    std::fs::write(s.dir().join("rules/latin1.rhai"), latin1).unwrap();
    std::fs::create_dir_all(s.dir().join("rules/x.rhai")).unwrap();
    std::os::unix::fs::symlink(s.dir().join("gone.rhai"), s.dir().join("rules/dangling.rhai")).unwrap();
    let dir = s.path("rules");
    let want = [
        format!("{dir}/binary.rhai:1:5: not UTF-8 text (byte 0xff)"),
        format!("{dir}/dangling.rhai: reading rule: "),
        format!("{dir}/latin1.rhai:1:5: not UTF-8 text (byte 0xe8)"),
        format!("{dir}/x.rhai: a directory, not a rule file"),
    ];
    let o = netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--rules", &dir, "--format", "json"]);
    no_panic("eval", &o);
    let v = json(&o);
    assert_eq!(v["findings"][0]["summary"], "the good rule ran", "every good rule of the directory loads");
    let errs = errors(&v);
    assert_eq!(errs.len(), 4, "{errs:#?}");
    for w in &want {
        assert!(errs.iter().any(|e| e.starts_with(w.as_str())), "missing {w}: {errs:#?}");
    }
    let c = netdoctor(&["rules", "check", &dir]);
    let out = stdout(&c);
    for w in &want {
        let (src, msg) = w.split_once(": ").unwrap();
        assert!(out.contains(&format!("{src}: error: {msg}")), "rules check reports every bad file: {w}\n{out}");
    }
    assert!(out.ends_with("1 rules OK, 4 errors\n"), "{out}");
}

#[test]
fn huge_rule_files_are_refused_quickly() {
    let s = Scratch::new("huge");
    for (n, want) in [(40_000, "more than 1000 `let`/`const` declarations"), (400_000, "rule file too large")] {
        let dir = format!("r{n}");
        s.file(&format!("{dir}/big.rhai"), &rule("big", &format!("{}fn evaluate(g) {{}}\n", (0..n).map(|i| format!("let a{i} = {i};\n")).collect::<String>())));
        let (o, took) = timed(&["rules", "check", &s.path(&dir)]);
        assert!(took < Duration::from_secs(10), "{n} statements: {took:?}");
        assert!(stdout(&o).contains(want), "{}", stdout(&o));
        let (e, took) = timed(&["eval", "--capture", "examples/captures/healthy-flannel", "--rules", &s.path(&dir)]);
        assert!(took < Duration::from_secs(10), "{n} statements: {took:?}");
        no_panic("eval", &e);
    }
}

#[test]
fn a_printing_loop_keeps_a_hundred_lines() {
    let s = Scratch::new("print");
    s.file(
        "rules/p.rhai",
        &rule("printer", "fn evaluate(g) {\n    let i = 0;\n    loop {\n        print(`line ${i} ${\"x\".pad(2000, \"y\")}`);\n        i += 1;\n    }\n}\n"),
    );
    let cfg = s.file("limits.yaml", "limits:\n  max_operations: 300000\n");
    let o = netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--rules", &s.path("rules"), "--config", &cfg, "--format", "json"]);
    assert!(o.stdout.len() < 300_000, "the output stays small: {} bytes", o.stdout.len());
    let v = json(&o);
    let notes: Vec<&str> = v["notes"].as_array().unwrap().iter().filter_map(|n| n.as_str()).filter(|n| n.starts_with("rule printer printed")).collect();
    assert_eq!(notes.len(), 101, "{:?}", &notes[..2]);
    assert!(notes.iter().any(|n| n.contains("more line(s), not kept (at most 100 per rule per run)")), "{notes:?}");
    assert!(notes.iter().all(|n| n.len() < 1100), "each line is cut");
}

#[test]
fn strict_turns_any_error_into_exit_two() {
    let s = Scratch::new("strict");
    let f = s.file("rules/broken.rhai", &rule("broken", "fn evaluate(g) {\n    let x = g.no_such_thing();\n}\n"));
    let dir = s.path("rules");
    let plain = netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--rules", &dir]);
    assert_eq!(plain.status.code(), Some(0), "without --strict the contract stands: no finding, exit 0");
    assert!(stderr(&plain).contains(&format!("error: {f}:3:15: rule broken:")), "every error is on stderr: {}", stderr(&plain));
    let strict = netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--rules", &dir, "--strict"]);
    assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));
    assert!(stderr(&strict).contains("--strict: exit 2"), "{}", stderr(&strict));
    // A capture file that does not parse is an error too.
    let cap = s.dir().join("cap");
    std::fs::create_dir_all(cap.join("nodes/node1")).unwrap();
    std::fs::write(cap.join("meta.json"), "{}").unwrap();
    std::fs::write(cap.join("nodes/node1/ip-route.json"), "not json").unwrap();
    let cap = cap.display().to_string();
    assert_ne!(netdoctor(&["eval", "--capture", &cap]).status.code(), Some(2));
    assert_eq!(netdoctor(&["eval", "--capture", &cap, "--strict"]).status.code(), Some(2));
    assert_eq!(netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--strict"]).status.code(), Some(0), "a clean run stays 0");
}

#[test]
fn params_are_declared_and_checked() {
    let s = Scratch::new("params");
    let typo = s.file("typo.yaml", "rules:\n  nodeport-range-clashes-local-ports:\n    params: {node_port_rnge: \"40000-40100\"}\n");
    let c = netdoctor(&["rules", "check", "examples/rules", "--config", &typo]);
    assert_eq!(c.status.code(), Some(1));
    assert!(
        stdout(&c).contains(&format!("{typo}: error: rules.nodeport-range-clashes-local-ports.params.node_port_rnge: rule nodeport-range-clashes-local-ports has no param `node_port_rnge` (did you mean node_port_range?) (it reads: node_port_range)")),
        "{}",
        stdout(&c)
    );
    let wrong = s.file("wrong.yaml", "rules:\n  nodeport-range-clashes-local-ports:\n    params: {node_port_range: 30000}\n");
    let c = netdoctor(&["rules", "check", "examples/rules", "--config", &wrong]);
    assert!(
        stdout(&c).contains("params.node_port_range: expected a string (RULE.params.node_port_range.type of nodeport-range-clashes-local-ports), got 30000"),
        "{}",
        stdout(&c)
    );
    let e = netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--rules", "examples/rules", "--config", &typo]);
    assert_eq!(e.status.code(), Some(2), "eval refuses a config with an unknown param");
    let list = json(&netdoctor(&["rules", "list", "--rules", "examples/rules", "--format", "json"]));
    let r = list.as_array().unwrap().iter().find(|r| r["id"] == "nodeport-range-clashes-local-ports").unwrap();
    assert_eq!(
        r["params"]["node_port_range"],
        serde_json::json!({"type": "string", "default": "30000-32767", "doc": "kube-apiserver --service-node-port-range"})
    );
}
