//! `serve` in-process, with facts built in code: findings follow the facts
//! (only the rules that read a changed kind run again), hot reload (edit,
//! break, fix, ConfigMap `..data` swap, delete, a bad config), a rule over
//! its budget (its findings stay, stale; the others update; scrapes stay
//! fast), and the HTTP endpoints, with `promtool check metrics` on `/metrics`.
//! The binary's end-to-end tests (tests/serve.rs at the root) add real
//! captures, Prometheus, Alertmanager and chromium.

mod support;

use netdoctor_engine::model::Node;
use netdoctor_engine::{FactKind, FactSet, Object, Source};
use netdoctor_exporters::serve::{Facts, Options, Server, Sources};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

/// A rule that reports every Node (reads `nodes`), with `severity` and a summary prefix.
fn node_rule(id: &str, severity: &str, prefix: &str) -> String {
    format!(
        r#"const RULE = #{{ id: "{id}", severity: "{severity}", summary: "Nodes exist", remediation: "nothing to do", reads: ["nodes"] }};
fn evaluate(g) {{
    for n in g.nodes {{
        g.finding(#{{ subject: n.subject(), summary: `{prefix} ${{n.name}}`, evidence: #{{ name: n.name }} }});
    }}
}}
"#
    )
}

/// A rule that reads only `pods` and reports nothing.
const PODS_RULE: &str = r#"const RULE = #{ id: "pods-counted", severity: "info", summary: "Pods are counted", remediation: "none", reads: ["pods"] };
fn evaluate(g) { let n = g.pods.len(); }
"#;

/// Reports every Node, but loops forever when a Node is called `loop`.
const LOOPING_RULE: &str = r#"const RULE = #{ id: "loops-on-loop", severity: "critical", summary: "Loops on a node called loop", remediation: "none", reads: ["nodes"] };
fn evaluate(g) {
    for n in g.nodes {
        if n.name == "loop" { let i = 0; loop { i += 1; } }
        g.finding(#{ subject: n.subject(), summary: `looped over ${n.name}`, evidence: #{} });
    }
}
"#;

/// The tests run one at a time: two of them assert "within 1 s" on a 2-core machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running server on a free loopback port with its rules in a temp dir.
struct Harness {
    rt: tokio::runtime::Runtime,
    server: Option<Server>,
    port: u16,
    facts: Facts,
    dir: tempfile::TempDir,
}

impl Harness {
    /// Rules `(file, text)` in `<tmp>/rules`, the config (when given) in
    /// `<tmp>/netdoctor.yaml`, nodes `nodes`, no built-in pack.
    fn start(rules: &[(&str, &str)], config: Option<&str>, nodes: &[&str]) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let rules_dir = dir.path().join("rules");
        std::fs::create_dir(&rules_dir).unwrap();
        for (f, t) in rules {
            std::fs::write(rules_dir.join(f), t).unwrap();
        }
        let config_path = config.map(|c| {
            let p = dir.path().join("netdoctor.yaml");
            std::fs::write(&p, c).unwrap();
            p
        });
        Harness::start_with(dir, vec![rules_dir], config_path, nodes)
    }

    fn start_with(dir: tempfile::TempDir, dirs: Vec<PathBuf>, config: Option<PathBuf>, nodes: &[&str]) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let facts = Facts::new();
        set_nodes(&facts, nodes);
        let mut opts = Options::new(Sources { builtin: vec![], dirs, config }, build());
        opts.listen = "127.0.0.1:0".parse().unwrap();
        opts.interval = Duration::from_secs(3600);
        opts.debounce = Duration::from_millis(20);
        opts.signals = false;
        let server = rt.block_on(Server::start(opts, facts.clone())).expect("serve starts");
        let port = server.local_addr().port();
        let h = Harness { rt, server: Some(server), port, facts, dir };
        wait_for(20, "/-/ready", || h.get("/-/ready").0.eq(&200).then_some(()));
        h
    }

    fn rules_dir(&self) -> PathBuf {
        self.dir.path().join("rules")
    }

    fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path).unwrap_or_else(|| panic!("GET {path}: no answer"))
    }

    fn metrics(&self) -> String {
        self.get("/metrics").1
    }

    /// The `netdoctor_finding` lines of `rule`.
    fn findings(&self, rule: &str) -> Vec<String> {
        series(&self.metrics(), "netdoctor_finding{", rule)
    }

    /// The value of the one sample whose line starts with `prefix`.
    fn sample(&self, prefix: &str) -> Option<f64> {
        value(&self.metrics(), prefix)
    }

    fn set_nodes(&self, nodes: &[&str]) {
        set_nodes(&self.facts, nodes);
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

fn set_nodes(facts: &Facts, nodes: &[&str]) {
    let mut set = FactSet::new();
    set.collected(FactKind::Nodes, Source::live("k8s", 1));
    for n in nodes {
        set.apply(Object::Node(Node { name: n.to_string(), ..Default::default() }));
    }
    facts.update(|s| s.replace("k8s", set));
}

fn series(metrics: &str, metric: &str, rule: &str) -> Vec<String> {
    metrics.lines().filter(|l| l.starts_with(metric) && l.contains(&format!("rule=\"{rule}\""))).map(String::from).collect()
}

fn value(metrics: &str, prefix: &str) -> Option<f64> {
    metrics.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// `POST path` with an empty body: status and body.
fn http_post(port: u16, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_string())
}

/// Polls every 10 ms until `check` holds; the time it took, or a panic after `secs`.
fn within(secs: f64, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(start.elapsed().as_secs_f64() < secs, "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Writes a file by rename, as editors save.
fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn findings_follow_the_facts_and_only_the_rules_reading_them_run_again() {
    let _serial = serial();
    let h = Harness::start(&[("nodes.rhai", &node_rule("node-seen", "warning", "seen")), ("pods.rhai", PODS_RULE)], None, &["a", "b"]);
    assert_eq!(h.findings("node-seen").len(), 2, "{}", h.metrics());
    let runs = |rule: &str| h.sample(&format!("netdoctor_rule_evaluation_duration_seconds_count{{rule=\"{rule}\"}}")).unwrap_or(0.0);
    assert_eq!((runs("node-seen"), runs("pods-counted")), (1.0, 1.0));
    h.set_nodes(&["a"]);
    within(5.0, "node b's finding to clear", || h.findings("node-seen").len() == 1);
    assert!(h.findings("node-seen")[0].contains("name=\"a\""));
    assert_eq!((runs("node-seen"), runs("pods-counted")), (2.0, 1.0), "a nodes change does not run the pods rule");
    assert_eq!(h.sample("netdoctor_findings{rule=\"pods-counted\",severity=\"info\"}"), Some(0.0));
    assert_eq!(h.sample("netdoctor_facts{kind=\"nodes\"}"), Some(1.0));

    let (code, json) = h.get("/api/v1/findings");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["findings"][0]["summary"], "seen a");
    assert_eq!(v["findings"][0]["subject"], serde_json::json!({"kind": "Node", "namespace": null, "name": "a", "node": "a"}));
    assert_eq!(v["stats"]["rules"], 2);
    assert_eq!(h.get("/api/v1/findings?min_severity=critical").1.matches("\"rule\"").count(), 0);
    let (code, page) = h.get("/");
    assert!(code == 200 && page.contains("seen a") && page.contains("nodes.rhai"), "{page}");
    assert_eq!(h.get("/-/healthy").0, 200);
    assert_eq!(http_post(h.port, "/-/reload"), (200, "reloaded\n".to_string()));
    assert_eq!(h.sample("netdoctor_rules_reloads_total{result=\"success\"}"), Some(1.0));

    let out = run_promtool(&["check", "metrics"], &h.metrics());
    assert!(out.status.success(), "promtool: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn editing_breaking_fixing_and_deleting_a_rule_file() {
    let _serial = serial();
    let h = Harness::start(&[("r.rhai", &node_rule("edited", "warning", "v1")), ("other.rhai", PODS_RULE)], None, &["a"]);
    let file = h.rules_dir().join("r.rhai");
    let severity = |sev: &str| h.findings("edited").iter().any(|l| l.contains(&format!("severity=\"{sev}\"")));
    assert!(severity("warning"));

    save(&file, &node_rule("edited", "critical", "v2"));
    let took = within(5.0, "the edit to take effect", || severity("critical"));
    assert!(took < Duration::from_secs(1), "edit took {took:?}");
    assert!(h.get("/api/v1/findings").1.contains("\"v2 a\""));

    // Broken: the previous version keeps running, and the failure is exported and shown.
    std::fs::write(&file, "const RULE = #{ id: \"edited\", severity: \"info\"\nfn evaluate(g) {").unwrap();
    within(5.0, "the failed reload", || h.sample("netdoctor_rules_last_reload_successful") == Some(0.0));
    assert_eq!(h.sample("netdoctor_rules_reloads_total{result=\"failure\"}"), Some(1.0));
    assert!(severity("critical"), "the last good version still runs");
    let page = h.get("/").1;
    assert!(page.contains("Last reload failed") && page.contains(&format!("{}:", file.display())), "{page}");

    save(&file, &node_rule("edited", "info", "v3"));
    within(5.0, "the fix", || severity("info") && h.sample("netdoctor_rules_last_reload_successful") == Some(1.0));

    std::fs::remove_file(&file).unwrap();
    within(5.0, "the deleted rule's series to go", || !h.metrics().contains("rule=\"edited\""));
    assert_eq!(h.sample("netdoctor_rules_loaded"), Some(1.0));
}

#[test]
fn a_configmap_volume_swap_reloads_and_a_bad_one_keeps_the_rules() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    // The kubelet's layout: rules/..<timestamp>/r.rhai, rules/..data -> ..<timestamp>, rules/r.rhai -> ..data/r.rhai.
    let swap = |n: u32, text: &str| {
        let ts = rules.join(format!("..2026_01_01_00_00_0{n}.1"));
        std::fs::create_dir(&ts).unwrap();
        std::fs::write(ts.join("r.rhai"), text).unwrap();
        let tmp = rules.join("..data_tmp");
        std::os::unix::fs::symlink(ts.file_name().unwrap(), &tmp).unwrap();
        let old = std::fs::read_link(rules.join("..data")).ok();
        std::fs::rename(&tmp, rules.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(rules.join(old)).unwrap();
        }
    };
    swap(1, &node_rule("mapped", "warning", "v1"));
    std::os::unix::fs::symlink("..data/r.rhai", rules.join("r.rhai")).unwrap();
    let h = Harness::start_with(dir, vec![rules.clone()], None, &["a"]);
    assert!(h.findings("mapped")[0].contains("severity=\"warning\""));

    swap(2, &node_rule("mapped", "critical", "v2"));
    let took = within(5.0, "the swapped version", || h.findings("mapped").iter().any(|l| l.contains("severity=\"critical\"")));
    assert!(took < Duration::from_secs(1), "swap took {took:?}");

    swap(3, "fn evaluate(g) {}");
    within(5.0, "the failed reload", || h.sample("netdoctor_rules_last_reload_successful") == Some(0.0));
    assert!(h.findings("mapped")[0].contains("severity=\"critical\""), "the last good version still runs");
    swap(4, &node_rule("mapped", "info", "v4"));
    within(5.0, "recovery", || h.findings("mapped").iter().any(|l| l.contains("severity=\"info\"")));
    assert_eq!(h.sample("netdoctor_rules_last_reload_successful"), Some(1.0));
}

#[test]
fn a_bad_config_keeps_the_previous_one() {
    let _serial = serial();
    let h = Harness::start(
        &[("a.rhai", &node_rule("rule-a", "warning", "a")), ("b.rhai", &node_rule("rule-b", "warning", "b"))],
        Some("rules:\n  rule-b:\n    enabled: false\n"),
        &["n1"],
    );
    let config = h.dir.path().join("netdoctor.yaml");
    assert_eq!((h.findings("rule-a").len(), h.findings("rule-b").len()), (1, 0));
    save(&config, "rules:\n  rule-b:\n    enabeld: false\n");
    within(5.0, "the failed config reload", || h.sample("netdoctor_rules_last_reload_successful") == Some(0.0));
    assert_eq!(h.findings("rule-b").len(), 0, "rule-b stays disabled");
    save(&config, "rules:\n  rule-a:\n    severity: critical\n");
    within(5.0, "the new config", || h.findings("rule-b").len() == 1 && h.findings("rule-a")[0].contains("severity=\"critical\""));
    assert_eq!(h.sample("netdoctor_rules_last_reload_successful"), Some(1.0));
}

#[test]
fn a_rule_over_its_budget_keeps_its_findings_stale_while_the_rest_update() {
    let _serial = serial();
    let config = "limits:\n  max_operations: 2000000\n";
    let h = Harness::start(&[("loop.rhai", LOOPING_RULE), ("nodes.rhai", &node_rule("node-seen", "warning", "seen"))], Some(config), &["a"]);
    assert_eq!(h.findings("loops-on-loop").len(), 1);
    h.set_nodes(&["a", "loop"]);
    within(30.0, "the looping rule to fail", || h.sample("netdoctor_rule_evaluation_failures_total{rule=\"loops-on-loop\"}") == Some(1.0));
    assert_eq!(h.findings("loops-on-loop").len(), 1, "its previous finding stays exported");
    assert_eq!(h.findings("node-seen").len(), 2, "the other rule saw the new node");
    let page = h.get("/").1;
    assert!(page.contains(">stale<") && page.contains("exceeded its operations budget"), "{page}");

    // While the looping rule burns its budget on every change, the others keep updating and scrapes stay quick.
    let mut slowest = Duration::ZERO;
    for (i, extra) in ["b", "c", "d"].iter().enumerate() {
        h.set_nodes(&["a", "loop", extra]);
        within(30.0, "the other rule to see the new node", || {
            let t = Instant::now();
            let m = h.metrics();
            slowest = slowest.max(t.elapsed());
            series(&m, "netdoctor_finding{", "node-seen").iter().any(|l| l.contains(&format!("name=\"{extra}\"")))
        });
        assert_eq!(h.sample("netdoctor_rule_evaluation_failures_total{rule=\"loops-on-loop\"}"), Some(2.0 + i as f64));
    }
    assert!(slowest < Duration::from_millis(250), "slowest scrape {slowest:?}");
    h.set_nodes(&["b"]);
    within(30.0, "the looping rule to recover", || {
        h.findings("loops-on-loop").iter().any(|l| l.contains("name=\"b\"")) && h.findings("loops-on-loop").len() == 1
    });
}

#[test]
fn shutdown_ends_within_seconds_even_with_a_rule_running() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("loop.rhai"), LOOPING_RULE).unwrap();
    // No operations budget to speak of: only the 5 s wall-clock safety net ends the rule,
    // well after shutdown has returned (and soon enough not to slow the next test).
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "limits:\n  max_operations: 1000000000000\n  timeout_seconds: 5\n").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let facts = Facts::new();
    set_nodes(&facts, &["loop"]);
    let mut opts = Options::new(Sources { builtin: vec![], dirs: vec![dir.path().into()], config: Some(config) }, build());
    opts.listen = "127.0.0.1:0".parse().unwrap();
    opts.signals = false;
    let server = rt.block_on(Server::start(opts, facts)).unwrap();
    let port = server.local_addr().port();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(http_get(port, "/-/ready").unwrap().0, 503, "the first evaluation is still in the loop");
    assert!(t.elapsed() < Duration::from_millis(250), "a scrape does not wait for it");
    let t = Instant::now();
    rt.block_on(server.shutdown());
    rt.shutdown_timeout(Duration::from_secs(1));
    assert!(t.elapsed() < Duration::from_secs(4), "shutdown took {:?}", t.elapsed());
    assert!(http_get(port, "/-/healthy").is_none(), "nothing listens any more");
}
