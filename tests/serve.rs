//! End-to-end: `netdoctor serve --capture DIR` as a process, with real servers
//! from Debian packages on loopback ports: Prometheus scrapes the findings of
//! a fault capture and answers them through its query API; Alertmanager
//! receives the alerts and their resolutions when the capture is switched to
//! a healthy one, also across an Alertmanager outage; hot reload through the
//! binary (edit, break, fix, ConfigMap `..data` swap, delete); a rule that
//! never ends; the page in headless chromium (`UPDATE_SCREENSHOT=1` refreshes
//! `docs/serve-page.png`); SIGTERM; `netdoctor alerts` through promtool.
//!
//! Every process a test starts is killed (by its own pid, `Child::kill`) when
//! its guard drops, a panic included. A test whose server is not installed
//! says "skipped" (scripts/setup.sh installs them all).

mod common;
#[path = "../exporters/tests/support/mod.rs"]
mod support;

use common::copy_dir;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{binary_or_skip, chromium, free_port, http_get, run_promtool, wait_for, Alertmanager};

/// The tests run one at a time: each starts servers and a debug build of
/// serve on a 2-core machine, and the reload ones assert "within 1 s".
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn capture(name: &str) -> PathBuf {
    root().join("examples/captures").join(name)
}

/// Replaces the capture in `dir` by `with` in place (the watched directory stays).
fn switch_capture(dir: &Path, with: &str) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
    copy_dir(&capture(with), dir);
}

/// `netdoctor serve` on a free port; killed on drop. Its stderr goes to `<dir>/serve.log`.
struct Serve {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

impl Serve {
    fn start(dir: &Path, args: &[&str]) -> Serve {
        let port = free_port();
        let log = dir.join(format!("serve-{port}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_netdoctor"))
            .arg("serve")
            .arg(format!("--listen=127.0.0.1:{port}"))
            .args(args)
            .current_dir(root())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start netdoctor serve");
        let mut s = Serve { port, child: Some(child), log };
        wait_for(120, "netdoctor serve to be ready", || {
            if let Some(status) = s.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("netdoctor serve exited with {status}: {}", s.log());
            }
            http_get(port, "/-/ready").filter(|(c, _)| *c == 200)
        });
        s
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str) -> String {
        let (code, body) = http_get(self.port, path).unwrap_or_else(|| panic!("GET {path}: no answer"));
        assert_eq!(code, 200, "GET {path}: {body}");
        body
    }

    fn findings(&self) -> Vec<serde_json::Value> {
        let v: serde_json::Value = serde_json::from_str(&self.get("/api/v1/findings")).unwrap();
        v["findings"].as_array().unwrap().clone()
    }

    fn sample(&self, prefix: &str) -> Option<f64> {
        self.get("/metrics").lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- netdoctor serve log ---\n{}", self.log());
        }
    }
}

/// A real Prometheus scraping `target` every second; killed on drop.
struct Prometheus {
    port: u16,
    child: Child,
}

impl Prometheus {
    fn start(dir: &Path, target: u16) -> Option<Prometheus> {
        let binary = binary_or_skip("/usr/bin/prometheus", "prometheus")?;
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: netdoctor\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\n"),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("start prometheus");
        let p = Prometheus { port, child };
        wait_for(60, "prometheus to be ready", || http_get(port, "/-/ready").filter(|(c, _)| *c == 200));
        Some(p)
    }

    /// The result vector of an instant query.
    fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let enc: String =
            q.bytes().map(|b| if b.is_ascii_alphanumeric() || b"_-.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
        let (code, body) = http_get(self.port, &format!("/api/v1/query?query={enc}")).expect("prometheus answers");
        assert_eq!(code, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_the_findings_of_a_fault_capture() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &["--capture", "examples/captures/seed-001"]);
    let metrics = serve.get("/metrics");
    let out = run_promtool(&["check", "metrics"], &metrics);
    assert!(out.status.success(), "promtool: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let Some(prom) = Prometheus::start(dir.path(), serve.port) else {
        return;
    };
    let want = serve.findings().len();
    assert!(want >= 7, "seed-001 has findings");
    let series = wait_for(60, "Prometheus to have every netdoctor_finding", || Some(prom.query("netdoctor_finding")).filter(|r| r.len() == want));
    let unroutable: Vec<_> = series.iter().filter(|s| s["metric"]["rule"] == "service-ip-unroutable").collect();
    assert_eq!(unroutable.len(), 2, "{series:?}");
    assert!(unroutable.iter().any(|s| s["metric"]["related"] == "Service/default/kubernetes" && s["metric"]["node"] == "admin"));
    let count = prom.query("netdoctor_findings{rule=\"service-ip-unroutable\"}");
    assert_eq!(count[0]["value"][1], "2", "{count:?}");
    assert_eq!(count[0]["metric"]["severity"], "critical");
    assert_eq!(prom.query("netdoctor_rules_loaded")[0]["value"][1], "25");
}

#[test]
fn alertmanager_gets_the_alerts_and_their_resolutions_even_across_an_outage() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let Some(mut am) = Alertmanager::start(dir.path()) else {
        return;
    };
    let cap = dir.path().join("capture");
    copy_dir(&capture("seed-001"), &cap);
    let serve = Serve::start(dir.path(), &["--capture", cap.to_str().unwrap(), "--alertmanager", &am.url(), "--interval", "2s", "--debounce", "200ms"]);
    let want = serve.findings().len();
    let alerts = wait_for(30, "every finding to fire in Alertmanager", || Some(am.alerts()).filter(|a| a.len() == want));
    let a = alerts.iter().find(|a| a["labels"]["rule"] == "service-ip-unroutable" && a["labels"]["related"] == "Service/default/kubernetes").unwrap();
    assert_eq!(a["labels"]["alertname"], "NetdoctorServiceIpUnroutable");
    assert_eq!((a["labels"]["severity"].as_str(), a["labels"]["kind"].as_str(), a["labels"]["name"].as_str()), (Some("critical"), Some("Node"), Some("admin")));

    // The capture turns healthy: every alert resolves.
    switch_capture(&cap, "healthy-flannel");
    wait_for(30, "every alert to resolve", || Some(am.alerts()).filter(|a| a.is_empty()));
    assert!(am.received("resolved") >= want as f64);

    // Faulty again; then healthy while Alertmanager is down: the resolutions arrive once it is back.
    switch_capture(&cap, "seed-001");
    wait_for(30, "the alerts to fire again", || Some(am.alerts()).filter(|a| a.len() == want));
    am.stop();
    switch_capture(&cap, "healthy-flannel");
    wait_for(30, "serve to see the healthy capture", || Some(serve.findings()).filter(|f| f.is_empty()));
    std::thread::sleep(Duration::from_secs(3));
    am.restart();
    wait_for(30, "the resolutions to be delivered after the outage", || (am.received("resolved") >= want as f64).then_some(()));
    assert!(am.alerts().is_empty());
}

const LOOPING_RULE: &str = r#"const RULE = #{ id: "never-ends", severity: "warning", summary: "Loops forever", remediation: "none", reads: ["nodes"] };
fn evaluate(g) { let i = 0; loop { i += 1; } }
"#;

fn edited_rule(severity: &str) -> String {
    format!(
        "const RULE = #{{ id: \"every-node\", severity: \"{severity}\", summary: \"Every node\", remediation: \"none\", reads: [\"nodes\"] }};\n\
         fn evaluate(g) {{ for n in g.nodes {{ g.finding(#{{ subject: n.subject(), summary: `node ${{n.name}}` }}); }} }}\n"
    )
}

fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Polls every 10 ms; how long `check` took to hold (panics after `secs`).
fn within(secs: u64, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !check() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

#[test]
fn hot_reload_through_the_binary() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let file = rules.join("every-node.rhai");
    std::fs::write(&file, edited_rule("info")).unwrap();
    // A ConfigMap-style directory: files are symlinks through ..data, swapped atomically.
    let mapped = dir.path().join("mapped");
    std::fs::create_dir(&mapped).unwrap();
    let swap = |n: u32, text: &str| {
        let ts = mapped.join(format!("..2026_06_01_00_00_0{n}.1"));
        std::fs::create_dir(&ts).unwrap();
        std::fs::write(ts.join("mapped.rhai"), text).unwrap();
        let old = std::fs::read_link(mapped.join("..data")).ok();
        std::os::unix::fs::symlink(ts.file_name().unwrap(), mapped.join("..data_tmp")).unwrap();
        std::fs::rename(mapped.join("..data_tmp"), mapped.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(mapped.join(old)).unwrap();
        }
    };
    swap(1, &edited_rule("info").replace("every-node", "mapped"));
    std::os::unix::fs::symlink("..data/mapped.rhai", mapped.join("mapped.rhai")).unwrap();
    let serve =
        Serve::start(dir.path(), &["--capture", "examples/captures/healthy-flannel", "--rules", rules.to_str().unwrap(), "--rules", mapped.to_str().unwrap()]);
    let sev = |rule: &str, s: &str| serve.findings().iter().any(|f| f["rule"] == rule && f["severity"] == s);
    assert!(sev("every-node", "info") && sev("mapped", "info"));

    save(&file, &edited_rule("critical"));
    let took = within(10, "the edit", || sev("every-node", "critical"));
    assert!(took < Duration::from_secs(1), "the edit took {took:?}");

    std::fs::write(&file, "const RULE = #{ id: \"every-node\",\nfn evaluate(g) {}\n").unwrap();
    within(10, "the failed reload", || serve.sample("netdoctor_rules_last_reload_successful") == Some(0.0));
    assert!(sev("every-node", "critical"), "the old behaviour stays");
    assert_eq!(serve.sample("netdoctor_rules_reloads_total{result=\"failure\"}"), Some(1.0));
    let log = serve.log();
    let at = format!("{}:", file.display());
    let located = |l: &str| l.split_once(&at).is_some_and(|(_, rest)| rest.split(':').take(2).all(|n| n.parse::<u32>().is_ok()));
    assert!(log.lines().any(located), "a log line with file:line:column:\n{log}");

    save(&file, &edited_rule("warning"));
    within(10, "the fix", || sev("every-node", "warning") && serve.sample("netdoctor_rules_last_reload_successful") == Some(1.0));

    swap(2, &edited_rule("critical").replace("every-node", "mapped"));
    let took = within(10, "the ..data swap", || sev("mapped", "critical"));
    assert!(took < Duration::from_secs(1), "the swap took {took:?}");

    std::fs::remove_file(&file).unwrap();
    within(10, "the deleted rule's series to go", || !serve.get("/metrics").contains("rule=\"every-node\""));
    assert!(serve.findings().iter().all(|f| f["rule"] != "every-node"));
}

#[test]
fn a_rule_that_never_ends_does_not_hold_up_the_others_or_the_scrapes() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("never-ends.rhai"), LOOPING_RULE).unwrap();
    let config = dir.path().join("netdoctor.yaml");
    std::fs::write(&config, "limits:\n  max_operations: 5000000\n").unwrap();
    let cap = dir.path().join("capture");
    copy_dir(&capture("healthy-flannel"), &cap);
    let serve = Serve::start(
        dir.path(),
        &["--capture", cap.to_str().unwrap(), "--rules", rules.to_str().unwrap(), "--config", config.to_str().unwrap(), "--debounce", "200ms"],
    );
    assert!(serve.sample("netdoctor_rule_evaluation_failures_total{rule=\"never-ends\"}").unwrap() >= 1.0);
    switch_capture(&cap, "seed-001");
    let mut slowest = Duration::ZERO;
    within(60, "the other rules' findings to update", || {
        let t = Instant::now();
        let m = serve.get("/metrics");
        slowest = slowest.max(t.elapsed());
        m.lines().any(|l| l.starts_with("netdoctor_finding{") && l.contains("rule=\"service-ip-unroutable\""))
    });
    for _ in 0..50 {
        let t = Instant::now();
        serve.get("/metrics");
        slowest = slowest.max(t.elapsed());
    }
    assert!(slowest < Duration::from_millis(250), "slowest scrape {slowest:?}");
    assert!(serve.sample("netdoctor_rule_evaluation_failures_total{rule=\"never-ends\"}").unwrap() >= 2.0);
}

#[test]
fn chromium_renders_the_page_of_a_fault_capture() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start(dir.path(), &["--capture", "examples/captures/seed-001"]);
    let url = format!("http://127.0.0.1:{}/", serve.port);
    let Some(out) = chromium(&["--dump-dom".into(), url.clone()]) else {
        return;
    };
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && dom.contains("</html>"), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let findings = serve.findings();
    for f in &findings {
        let summary = f["summary"].as_str().unwrap().replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert!(dom.contains(&summary), "missing {summary:?} in the DOM");
    }
    assert!(dom.contains(&format!("<h1>{} findings</h1>", findings.len())), "{dom}");
    assert!(dom.contains("rules/service-ip-unroutable.rhai") && dom.contains(">capture<"), "rules and the capture collector are listed");

    let png = dir.path().join("page.png");
    let out = chromium(&[format!("--screenshot={}", png.display()), "--window-size=412,1400".into(), url]).unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        std::fs::write(root().join("docs/serve-page.png"), &bytes).unwrap();
    }
}

#[test]
fn sighup_reloads_and_sigterm_stops_serve_within_seconds() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let mut serve = Serve::start(dir.path(), &["--capture", "examples/captures/seed-001"]);
    // SIGHUP reloads (counted even when nothing changed).
    let status = Command::new("kill").arg("-HUP").arg(serve.pid().to_string()).status().unwrap();
    assert!(status.success());
    wait_for(10, "the SIGHUP reload", || (serve.sample("netdoctor_rules_reloads_total{result=\"success\"}") == Some(1.0)).then_some(()));
    // A scrape in flight while the signal arrives still gets its answer.
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", serve.port)).unwrap();
    // Positive pid: this process only.
    let status = Command::new("kill").arg("-TERM").arg(serve.pid().to_string()).status().unwrap();
    assert!(status.success());
    write!(conn, "GET /-/healthy HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    let t = Instant::now();
    let child = serve.child.as_mut().unwrap();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(5), "still running 5s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(code.success(), "exit {code}: {}", serve.log());
    assert!(serve.log().contains("SIGTERM: shutting down"), "{}", serve.log());
}

#[test]
fn serve_collects_a_live_host_and_follows_its_changes() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let ns = netdoctor_testkit::netns::Netns::new("servelive").unwrap();
    ns.sysctl("net.ipv4.ip_forward", "0").unwrap();
    let host = format!("n1={}", ns.path().display());
    let serve = Serve::start(dir.path(), &["--no-cluster", "--host", &host, "--collect-interval", "500ms", "--debounce", "100ms"]);
    let fires = |serve: &Serve| serve.findings().iter().any(|f| f["rule"] == "ip-forward-disabled" && f["subject"]["name"] == "n1");
    assert!(fires(&serve), "the live host's ip_forward=0 is found: {:#?}", serve.findings());
    assert_eq!(serve.sample("netdoctor_collector_up{collector=\"netlink/n1\"}"), Some(1.0), "{}", serve.get("/metrics"));
    assert_eq!(serve.sample("netdoctor_collector_up{collector=\"sysctl/n1\"}"), Some(1.0));
    ns.sysctl("net.ipv4.ip_forward", "1").unwrap();
    wait_for(30, "the fixed host to clear the finding", || (!fires(&serve)).then_some(()));
    assert!(serve.log().contains("k8s: skipped: not read (--no-cluster)") || serve.log().contains("sysctl/n1: collected"), "{}", serve.log());
}

#[test]
fn serve_follows_the_cluster_through_its_watches() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let api = netdoctor_testkit::apiserver::TestApiServer::start(Default::default()).unwrap();
    api.load_dir(capture("healthy-flannel").join("cluster")).unwrap();
    let kubeconfig = api.write_kubeconfig().unwrap();
    // A long collect interval: what changes below reaches serve through the watch alone.
    let serve =
        Serve::start(dir.path(), &["--no-host", "--kubeconfig", kubeconfig.path().to_str().unwrap(), "--collect-interval", "1h", "--debounce", "100ms"]);
    let fires = |serve: &Serve| serve.findings().iter().any(|f| f["rule"] == "coredns-not-ready");
    assert!(!fires(&serve), "healthy at first: {:#?}", serve.findings());
    assert_eq!(serve.sample("netdoctor_collector_up{collector=\"k8s\"}"), Some(1.0), "{}", serve.get("/metrics"));
    let name = api.objects("Pod").into_iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).find(|n| n.starts_with("coredns-")).unwrap();
    let mut pod = api.get("Pod", Some("kube-system"), &name).unwrap();
    for c in pod["status"]["conditions"].as_array_mut().unwrap() {
        if c["type"] == "Ready" || c["type"] == "ContainersReady" {
            c["status"] = "False".into();
        }
    }
    for c in pod["status"]["containerStatuses"].as_array_mut().unwrap() {
        c["ready"] = false.into();
        c["restartCount"] = 12.into();
        c["state"] = serde_json::json!({ "waiting": { "reason": "CrashLoopBackOff" } });
    }
    api.apply(pod).unwrap();
    wait_for(30, "the watched change to raise coredns-not-ready", || fires(&serve).then_some(()));
}

#[test]
fn alerts_prints_a_rule_file_promtool_accepts_and_a_prometheusrule() {
    let _serial = serial();
    let out = Command::new(env!("CARGO_BIN_EXE_netdoctor")).arg("alerts").current_dir(root()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert_eq!(yaml.matches("- alert: Netdoctor").count(), 25);
    assert!(yaml.contains("alert: NetdoctorServiceIpUnroutable") && yaml.contains("runbook"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("netdoctor.rules.yml");
    std::fs::write(&file, &yaml).unwrap();
    let out = run_promtool(&["check", "rules", file.to_str().unwrap()], "");
    assert!(out.status.success(), "promtool: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    let config = dir.path().join("netdoctor.yaml");
    std::fs::write(&config, "rules:\n  node-not-ready:\n    enabled: false\n  node-no-default-route:\n    severity: critical\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_netdoctor"))
        .args(["alerts", "--format", "prometheusrule", "--config", config.to_str().unwrap()])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(v["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(v["kind"], "PrometheusRule");
    let rules = v["spec"]["groups"][0]["rules"].as_sequence().unwrap();
    assert_eq!(rules.len(), 24, "the disabled rule has no alert");
    let r = rules.iter().find(|r| r["alert"] == "NetdoctorNodeNoDefaultRoute").unwrap();
    assert_eq!(r["for"], "5m", "the config's severity sets the hold");
}
