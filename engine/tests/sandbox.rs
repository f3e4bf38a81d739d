//! The rule sandbox with hostile and clumsy rules (issue 8): every piece of a
//! rule file runs isolated, budgets are counted in operations and located
//! without a re-run, limits carry the line, loading never loses a good rule,
//! compiling is bounded, and `print` is capped.

use netdoctor_engine::config::Config;
use netdoctor_engine::{FactSet, Graph, Limits, Report, Runtime};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rule(id: &str, body: &str) -> String {
    format!("const RULE = #{{ id: \"{id}\", severity: \"info\", summary: \"s\", remediation: \"r\" }};\n{body}")
}

/// A rule that always reports one finding: proof that the others still run.
fn good() -> String {
    rule("good", "fn evaluate(g) {\n    g.finding(#{ subject: #{ kind: \"Cluster\", name: \"c\" }, summary: \"still here\" });\n}\n")
}

fn graph() -> Arc<Graph> {
    let mut f = FactSet::new();
    f.host_mut("n1");
    Arc::new(Graph::build(f, Vec::new(), &Default::default()))
}

fn eval_with(rt: &Runtime, rules: &[(&str, &str)]) -> Report {
    let set = rt.load(rules, &[]);
    rt.evaluate(&set, &graph(), &Default::default())
}

/// A scratch directory, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU64 = AtomicU64::new(0);
        let d = std::env::temp_dir().join(format!("netdoctor-sandbox-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn small(ops: u64) -> Limits {
    Limits { max_operations: ops, ..Limits::default() }
}

fn error_of<'a>(r: &'a Report, file: &str) -> &'a netdoctor_engine::SourceError {
    r.errors.iter().find(|e| e.source.starts_with(file)).unwrap_or_else(|| panic!("no error for {file}: {:#?}", r.errors))
}

#[test]
fn top_level_sleep_is_one_error_and_the_other_rules_load() {
    let bad = rule("top-sleep", "sleep(1e300);\nfn evaluate(g) {}\n");
    let rt = Runtime::default();
    let r = eval_with(&rt, &[("rules/good.rhai", &good()), ("rules/top.rhai", &bad)]);
    assert_eq!(r.findings.len(), 1, "the good rule ran");
    let e = error_of(&r, "rules/top.rhai");
    assert_eq!(e.source, "rules/top.rhai:2:1");
    assert!(e.message.contains("sleep is not available in rules"), "{}", e.message);
}

#[test]
fn sleep_in_evaluate_fails_at_once_at_its_line() {
    let t = Instant::now();
    let r = eval_with(&Runtime::default(), &[("rules/s.rhai", &rule("s", "fn evaluate(g) {\n    let x = 1;\n    sleep(30);\n}\n"))]);
    assert!(t.elapsed() < Duration::from_secs(5), "sleep must not block: {:?}", t.elapsed());
    let e = error_of(&r, "rules/s.rhai");
    assert_eq!(e.source, "rules/s.rhai:4:5");
    assert!(e.message.starts_with("rule s: sleep is not available in rules"), "{}", e.message);
}

#[test]
fn a_panic_in_a_native_is_reported_with_the_rule_and_line() {
    let mut rt = Runtime::default();
    rt.extend(|e| {
        e.register_fn("boom", |n: i64| -> i64 { panic!("boom {n}") });
    });
    let body = "fn helper(x) {\n    let y = x + 1;\n    boom(y)\n}\nfn evaluate(g) {\n    helper(1);\n}\n";
    let r = eval_with(&rt, &[("rules/good.rhai", &good()), ("rules/p.rhai", &rule("p", body))]);
    assert_eq!(r.findings.len(), 1, "the good rule ran");
    let e = error_of(&r, "rules/p.rhai");
    assert_eq!(e.message, "rule p: panicked: boom 2");
    assert!(e.source.starts_with("rules/p.rhai:4:"), "the line of the call that panicked: {e:?}");
    // The top level runs isolated too.
    let top = rule("pt", "let z = boom(7);\nfn evaluate(g) {}\n");
    let e = rt.compile("rules/pt.rhai", &top).err().unwrap();
    assert!(e.source.starts_with("rules/pt.rhai:2:") && e.message.contains("panicked: boom 7"), "{e:?}");
}

/// The panic hook keeps "panicked at" off stderr for rule panics only: checked
/// in a child process whose stderr is captured.
#[test]
fn rule_panics_do_not_reach_stderr() {
    if std::env::var_os("NETDOCTOR_PANIC_CHILD").is_some() {
        let mut rt = Runtime::default();
        rt.extend(|e| {
            e.register_fn("boom", || -> i64 { panic!("quiet please") });
        });
        let r = eval_with(&rt, &[("rules/p.rhai", &rule("p", "fn evaluate(g) {\n    boom();\n}\n"))]);
        assert!(r.errors[0].message.contains("quiet please"));
        eprintln!("child done");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let o = std::process::Command::new(exe)
        .args(["--exact", "rule_panics_do_not_reach_stderr", "--nocapture", "--test-threads=1"])
        .env("NETDOCTOR_PANIC_CHILD", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("child done"), "{err}");
    assert!(!err.contains("panicked at") && !err.contains("quiet please"), "a rule panic reached stderr:\n{err}");
}

const SPIN: &str = "fn spin(n) {\n    loop {\n        n += 1;\n    }\n}\nfn evaluate(g) {\n    spin(0);\n}\n";

#[test]
fn budget_cut_off_is_located_inside_nested_functions() {
    let r = eval_with(&Runtime::new(small(100_000)), &[("rules/good.rhai", &good()), ("rules/spin.rhai", &rule("spin", SPIN))]);
    assert_eq!(r.findings.len(), 1);
    let e = error_of(&r, "rules/spin.rhai");
    assert_eq!(e.source, "rules/spin.rhai:4:9");
    assert_eq!(e.message, "rule spin: exceeded its operations budget (100000 operations; a loop that never ends?); cut off");
}

#[test]
fn the_same_rule_is_cut_off_at_the_same_line_every_time() {
    let body = "fn evaluate(g) {\n    let total = 0;\n    for i in 0..1000000000 {\n        let a = [i, i + 1];\n        total += a.len();\n        if total % 7 == 3 { total += 1; }\n    }\n}\n";
    let rt = Runtime::new(small(250_001));
    let sources: Vec<String> = (0..3).map(|_| error_of(&eval_with(&rt, &[("rules/d.rhai", &rule("d", body))]), "rules/d.rhai").source.clone()).collect();
    assert!(sources.iter().all(|s| *s == sources[0]), "{sources:?}");
}

#[test]
fn a_cut_off_rule_runs_once() {
    static STARTS: AtomicU64 = AtomicU64::new(0);
    let mut rt = Runtime::new(small(50_000));
    rt.extend(|e| {
        e.register_fn("started", || {
            STARTS.fetch_add(1, Ordering::SeqCst);
        });
    });
    let body = "fn evaluate(g) {\n    started();\n    let n = 0;\n    loop { n += 1; }\n}\n";
    let r = eval_with(&rt, &[("rules/once.rhai", &rule("once", body))]);
    assert!(error_of(&r, "rules/once.rhai").message.contains("operations budget"));
    assert_eq!(STARTS.load(Ordering::SeqCst), 1, "never re-run to find the line");
}

#[test]
fn native_work_charged_to_the_budget_is_deterministic() {
    let mut rt = Runtime::new(small(1_000_000));
    rt.extend(|e| {
        e.register_fn("heavy", || netdoctor_engine::runtime::sandbox::charge(100_000));
    });
    let body = "fn evaluate(g) {\n    let calls = 0;\n    loop {\n        heavy();\n        calls += 1;\n    }\n}\n";
    let r = eval_with(&rt, &[("rules/h.rhai", &rule("h", body))]);
    let e = error_of(&r, "rules/h.rhai");
    assert_eq!(e.source, "rules/h.rhai:6:9", "stopped after ~10 calls, at the next variable read");
    assert!(e.message.contains("operations budget"), "{}", e.message);
}

#[test]
fn a_loop_that_reads_no_variable_is_still_placed() {
    let r = eval_with(&Runtime::new(small(10_000)), &[("rules/e.rhai", &rule("e", "fn evaluate(g) {\n    let x = 1;\n    loop { }\n}\n"))]);
    assert_eq!(error_of(&r, "rules/e.rhai").source, "rules/e.rhai:4:5");
}

#[test]
fn the_time_safety_net_still_cuts_off() {
    let limits = Limits { max_operations: 0, timeout: Duration::from_millis(200), ..Limits::default() };
    let t = Instant::now();
    let r =
        eval_with(&Runtime::new(limits), &[("rules/t.rhai", &rule("t", "fn evaluate(g) {\n    let a = [];\n    loop {\n        a = [1, 2, 3];\n    }\n}\n"))]);
    assert!(t.elapsed() < Duration::from_secs(5));
    let e = error_of(&r, "rules/t.rhai");
    assert!(e.message.contains("time budget"), "{}", e.message);
    assert_eq!(e.source, "rules/t.rhai:5:9");
}

#[test]
fn limit_errors_carry_the_line() {
    let cases = [
        (
            "string",
            "fn grow(s) {\n    s + s\n}\nfn evaluate(g) {\n    let s = \"x\";\n    loop { s = grow(s); }\n}\n",
            "rules/string.rhai:3:",
            "Length of string too large (the limit is 10000 bytes)",
        ),
        ("array", "fn evaluate(g) {\n    let a = [1];\n    loop {\n        a += a;\n    }\n}\n", "rules/array.rhai:5:", "too large (the limit is 10000 items)"),
        (
            "map",
            "fn evaluate(g) {\n    let m = #{};\n    let i = 0;\n    loop {\n        m[`k${i}`] = i;\n        i += 1;\n    }\n}\n",
            "rules/map.rhai:6:",
            "too large (the limit is 1000 entries)",
        ),
        (
            "recursion",
            "fn f(x) {\n    f(x + 1)\n}\nfn evaluate(g) {\n    f(0);\n}\n",
            "rules/recursion.rhai:3:",
            "too many nested function calls (more than 48",
        ),
        ("recursion-no-var", "fn f() {\n    f()\n}\nfn evaluate(g) {\n    f();\n}\n", "rules/recursion-no-var.rhai:3:", "too many nested function calls"),
    ];
    // Small sizes keep the test quick in unoptimised builds (Rhai re-measures a container on each change).
    let rt = Runtime::new(Limits { max_string_size: 10_000, max_array_size: 10_000, max_map_size: 1_000, ..Limits::default() });
    for (id, body, at, msg) in cases {
        let file = format!("rules/{id}.rhai");
        let r = eval_with(&rt, &[(file.as_str(), &rule(id, body))]);
        let e = error_of(&r, &file);
        assert!(e.source.starts_with(at), "{id}: want {at}, got {e:?}");
        assert!(e.message.contains(msg), "{id}: {}", e.message);
    }
}

#[test]
fn print_is_capped_per_rule_per_run() {
    let body = "fn evaluate(g) {\n    let i = 0;\n    loop {\n        print(`line ${i}`);\n        i += 1;\n    }\n}\n";
    let r = eval_with(&Runtime::new(small(200_000)), &[("rules/good.rhai", &good()), ("rules/printer.rhai", &rule("printer", body))]);
    let printed: Vec<&String> = r.notes.iter().filter(|n| n.starts_with("rule printer printed")).collect();
    assert_eq!(printed.len(), 101, "100 lines and one count: {:?}", &printed[..3]);
    assert!(r.notes.contains(&"rule printer printed: line 0".to_string()));
    assert!(printed.iter().any(|n| n.contains("more line(s), not kept (at most 100 per rule per run)")), "{printed:?}");
    assert_eq!(r.findings.len(), 1);
}

#[test]
fn compiling_is_bounded() {
    let rt = Runtime::default();
    for (n, want) in [(40_000, "more than 1000 `let`/`const` declarations"), (400_000, "rule file too large")] {
        let text = rule("big", &format!("{}fn evaluate(g) {{}}\n", (0..n).map(|i| format!("let a{i} = {i};\n")).collect::<String>()));
        let t = Instant::now();
        let e = rt.compile("rules/big.rhai", &text).err().unwrap();
        assert!(t.elapsed() < Duration::from_secs(2), "{n} statements took {:?}", t.elapsed());
        assert!(e.message.contains(want), "{n}: {}", e.message);
    }
    // Within the bounds, the worst case (every variable read among ~1000 declared) stays quick.
    let decls: String = (0..990).map(|i| format!("let abcdefgh{i:04} = {i};\n")).collect();
    let reads = "z = abcdefgh0000;\n".repeat(20_000);
    let text = rule("worst", &format!("fn evaluate(g) {{\nlet z = 0;\n{decls}{reads}}}\n"));
    let t = Instant::now();
    let _ = rt.compile("rules/worst.rhai", &text);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn an_unreadable_file_is_one_error_and_the_directory_still_loads() {
    let dir = Scratch::new();
    let d = dir.0.as_path();
    std::fs::write(d.join("good.rhai"), good()).unwrap();
    std::fs::write(d.join("binary.rhai"), [0xff_u8, 0xfe, 0x00, 0x13, 0x37]).unwrap();
    let mut latin1 = b"// caf\xe9\n".to_vec();
    latin1.extend_from_slice(rule("latin", "fn evaluate(g) {}\n").as_bytes());
    std::fs::write(d.join("latin1.rhai"), latin1).unwrap();
    std::fs::create_dir(d.join("dir.rhai")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/rule.rhai", d.join("dangling.rhai")).unwrap();
    let fifo = std::process::Command::new("mkfifo").arg(d.join("fifo.rhai")).status().is_ok_and(|s| s.success());
    let rt = Runtime::default();
    let set = rt.load(&[], &[d]);
    assert_eq!(set.rules.iter().map(|r| r.meta.id.as_str()).collect::<Vec<_>>(), ["good"]);
    let name = |f: &str| d.join(f).display().to_string();
    let want = [
        (format!("{}:1:1", name("binary.rhai")), "not UTF-8 text (byte 0xff)"),
        (name("dangling.rhai"), "a symbolic link to a missing file"),
        (name("dir.rhai"), "a directory, not a rule file"),
        (format!("{}:1:7", name("latin1.rhai")), "not UTF-8 text (byte 0xe9)"),
    ];
    for (source, msg) in &want {
        assert!(set.errors.iter().any(|e| e.source == *source && e.message.contains(msg)), "{source}: {msg}\n{:#?}", set.errors);
    }
    assert_eq!(set.errors.len(), want.len() + usize::from(fifo));
    if fifo {
        assert!(set.errors.iter().any(|e| e.source == name("fifo.rhai") && e.message.contains("not a regular file")), "{:#?}", set.errors);
    }
    // `rules check` reports every bad file in one run.
    let check = rt.check(&[d]);
    assert_eq!((check.files, check.ok, check.errors.len()), (want.len() + 1 + usize::from(fifo), 1, want.len() + usize::from(fifo)));
}

#[test]
fn metadata_errors_carry_line_and_column() {
    let rt = Runtime::default();
    let text = "// a rule\nconst RULE = #{\n    id: \"x\",\n    severity: \"loud\",\n    summary: \"s\",\n    remediation: \"r\",\n};\nfn evaluate(g) {}\n";
    let e = rt.compile("x.rhai", text).err().unwrap();
    assert_eq!(e.source, "x.rhai:4:5");
    let e = rt.compile("x.rhai", "\nconst RULE = #{ id: \"x\", severity: \"info\", summary: \"s\" };\nfn evaluate(g) {}\n").err().unwrap();
    assert_eq!((e.source.as_str(), e.message.as_str()), ("x.rhai:2:1", "RULE needs `remediation`"));
    let e = rt
        .compile("x.rhai", &rule("x", "fn evaluate(g) {}\n").replace("remediation: \"r\"", "remediation: \"r\", params: #{ p: #{ type: \"text\" } }"))
        .err()
        .unwrap();
    assert!(e.source.starts_with("x.rhai:1:") && e.message.contains("RULE.params.p.type must be one of string, int"), "{e:?}");
}

const PARAMS: &str = "const RULE = #{ id: \"p\", severity: \"info\", summary: \"s\", remediation: \"r\",\n    params: #{ limit: #{ type: \"int\", \"default\": 5, doc: \"how many\" }, ratio: #{ type: \"float\", \"default\": 0.5 } } };\nfn evaluate(g) {\n    g.finding(#{ subject: #{ kind: \"Cluster\", name: \"c\" }, summary: `${g.param(\"limit\")} ${g.param(\"ratio\")}` });\n}\n";

fn config(json: &str) -> Config {
    serde_json::from_str(json).unwrap()
}

#[test]
fn declared_params_answer_with_the_config_or_the_default() {
    let rt = Runtime::default();
    let set = rt.load(&[("rules/p.rhai", PARAMS)], &[]);
    assert!(set.errors.is_empty(), "{:?}", set.errors);
    let summary = |eff| rt.evaluate(&set, &graph(), &eff).findings[0].summary.clone();
    assert_eq!(summary(Default::default()), "5 0.5");
    let eff = config(r#"{"rules": {"p": {"params": {"limit": 7, "ratio": 2}}}}"#).validate(&set).unwrap();
    assert_eq!(summary(eff), "7 2.0", "an int given for a float param is a float");
    let errs = config(r#"{"rules": {"p": {"params": {"limt": 7, "ratio": "half"}}}}"#).validate(&set).err().unwrap();
    let errs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(errs.contains(&"rules.p.params.limt: rule p has no param `limt` (did you mean limit?) (it reads: limit, ratio)".to_string()), "{errs:#?}");
    assert!(errs.contains(&"rules.p.params.ratio: expected a float (RULE.params.ratio.type of p), got \"half\"".to_string()), "{errs:#?}");
    // Reading an undeclared param is an error at its line, in `rules check` and when it runs.
    let bad =
        PARAMS.replace("g.param(\\\"ratio\\\")", "g.param(\\\"ratoi\\\")").replace("`${g.param(\"limit\")} ${g.param(\"ratio\")}`", "`${g.param(\"ratoi\")}`");
    let r = rt.evaluate(&rt.load(&[("rules/p.rhai", &bad)], &[]), &graph(), &Default::default());
    assert!(
        r.errors[0].source.starts_with("rules/p.rhai:4:")
            && r.errors[0].message.contains("param `ratoi` is not declared in RULE.params (did you mean `ratio`?)"),
        "{:?}",
        r.errors
    );
    assert!(rt.lint("rules/p.rhai", &bad).iter().any(|e| e.message == "param `ratoi` is not declared in RULE.params (did you mean `ratio`?)"));
}

#[test]
fn undeclared_params_are_inferred_from_their_calls() {
    let old = rule("old", "fn evaluate(g) {\n    let who = g.param(\"who\", \"nobody\");\n}\n");
    let rt = Runtime::default();
    let set = rt.load(&[("rules/old.rhai", &old)], &[]);
    assert!(config(r#"{"rules": {"old": {"params": {"who": "ops"}}}}"#).validate(&set).is_ok());
    let e = config(r#"{"rules": {"old": {"params": {"whom": "ops"}}}}"#).validate(&set).err().unwrap();
    assert!(e[0].to_string().contains("rule old has no param `whom` (did you mean who?) (it reads: who)"), "{e:?}");
}

#[test]
fn lint_checks_finding_and_skip_maps_and_accepts_keys_the_rule_assigns() {
    let rt = Runtime::default();
    let body = "fn evaluate(g) {\n    let m = #{ a: 1 };\n    m.extra = 2;\n    let x = m.extra;\n    if false {\n        g.finding(#{ subject: #{ kind: \"Node\", nmae: \"n\" }, summary: \"s\", evidnce: #{} });\n        g.finding(#{ summary: \"no subject\" });\n        g.skip(#{ kind: \"Node\" }, \"why\");\n        sleep(1);\n    }\n}\n";
    let errs: Vec<String> = rt.lint("r.rhai", &rule("r", body)).iter().map(|e| format!("{}: {}", e.source, e.message)).collect();
    let want = [
        "r.rhai:7:48: subject has unknown key `nmae` (did you mean `name`?) (known: kind, namespace, name, node)",
        "r.rhai:7:31: subject needs `name`",
        "r.rhai:7:75: finding has unknown key `evidnce` (did you mean `evidence`?) (known: subject, related, summary, evidence, severity, remediation)",
        "r.rhai:8:19: finding needs `subject`",
        "r.rhai:9:16: skip subject needs `name`",
        "r.rhai:10:9: sleep is not available in rules: a rule must not block (it runs under an operations budget)",
    ];
    for w in want {
        assert!(errs.iter().any(|e| e == w), "missing {w}\n{errs:#?}");
    }
    assert_eq!(errs.len(), want.len(), "`m.extra` is a key the rule builds: {errs:#?}");
    let forever = rt.lint("l.rhai", &rule("l", "fn evaluate(g) {\n    loop {\n        let x = 1;\n    }\n}\n"));
    assert_eq!(forever.len(), 1);
    assert_eq!(forever[0].message, "this loop never ends: it has no `break`, `return` or `throw`");
    assert!(rt.lint("l.rhai", &rule("l", "fn evaluate(g) {\n    loop {\n        break;\n    }\n}\n")).is_empty());
}
