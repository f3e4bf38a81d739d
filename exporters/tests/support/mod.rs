//! Shared by the exporters' integration tests: the fixture evaluation, golden
//! files, and the real tools they run (promtool, Alertmanager, chromium).
//! Each helper starts what it needs on loopback / in a temp dir and cleans up.

#![allow(dead_code)]

use netdoctor_engine::finding::{Finding, Related, Report, Severity, Stats, Subject};
use netdoctor_exporters::{BuildInfo, CollectorStatus, Evaluation, Problem, ReloadStatus, RuleInfo};
use serde_json::json;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// 2026-12-05T12:00:00Z, when the fixture evaluation finished.
pub const AT: u64 = 1_796_472_000;

/// `AT` plus `secs` (negative: before).
pub fn t(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(AT.saturating_add_signed(secs))
}

/// The crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares with `tests/golden/NAME`, or rewrites it when UPDATE_GOLDEN is set.
pub fn golden(name: &str, actual: &str) {
    let p = crate_dir().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&p, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create)", p.display()));
    assert_eq!(actual, want, "{name} differs from its golden file (UPDATE_GOLDEN=1 refreshes it after review)");
}

pub fn build() -> BuildInfo {
    BuildInfo { version: "0.1.0".into(), revision: "7dcc372".into() }
}

fn rule(id: &str, severity: Severity, summary: &str, remediation: &str, docs: Option<&str>, source: &str) -> RuleInfo {
    RuleInfo {
        id: id.into(),
        severity,
        summary: summary.into(),
        remediation: remediation.into(),
        docs: docs.map(String::from),
        source: source.into(),
        sha256: RuleInfo::digest(id),
    }
}

/// Six rules: four built-in ones with findings, one without, one custom with a runbook URL.
pub fn rules() -> Vec<RuleInfo> {
    vec![
        rule(
            "cni-agent-not-ready",
            Severity::Critical,
            "The CNI agent pod on a node is not Ready",
            "`kubectl -n <namespace> logs <pod> --previous` tells why; fix the cause, then `kubectl delete pod` restarts it without waiting for the back-off.",
            Some("Seed 001. CNI agents are the DaemonSet pods of calico-node, kube-flannel, cilium."),
            "builtin:rules/cni-agent-not-ready.rhai",
        ),
        rule(
            "dns-upstream-loopback",
            Severity::Critical,
            "CoreDNS on this node would forward to a loopback nameserver (DNS loop)",
            "Point kubelet's resolvConf at the real upstream file (/run/systemd/resolve/resolv.conf) or forward CoreDNS to explicit upstreams.",
            None,
            "builtin:rules/dns-upstream-loopback.rhai",
        ),
        rule(
            "evicted-pods",
            Severity::Info,
            "Evicted pods are piling up in a namespace",
            "Delete them: `kubectl delete pod --field-selector=status.phase==Failed`.",
            Some("https://runbooks.example.com/netdoctor/evicted-pods"),
            "/etc/netdoctor/rules/evicted-pods.rhai",
        ),
        rule(
            "flannel-route-missing",
            Severity::Critical,
            "The host lacks flannel's route to a peer's pod subnet",
            "Restart kube-flannel on the host; check that the peer's lease and VTEP are current.",
            None,
            "builtin:rules/flannel-route-missing.rhai",
        ),
        rule(
            "node-not-ready",
            Severity::Critical,
            "A Node is not Ready",
            "Look at the kubelet: `journalctl -u kubelet` on the node.",
            None,
            "builtin:rules/node-not-ready.rhai",
        ),
        rule(
            "service-ip-unroutable",
            Severity::Critical,
            "A Service's ClusterIP has no route on the host",
            "Give the host a route that covers the service CIDR: restore the default route, or add `ip route add <service-cidr> dev <nic>`.",
            Some("Seed 001. Route lookup as the kernel does for a locally generated packet."),
            "builtin:rules/service-ip-unroutable.rhai",
        ),
    ]
}

fn subject(kind: &str, namespace: Option<&str>, name: &str, node: Option<&str>) -> Subject {
    Subject { kind: kind.into(), namespace: namespace.map(String::from), name: name.into(), node: node.map(String::from) }
}

/// Five findings across the three severities; flannel-route-missing failed
/// this time (its finding is stale); one evidence value carries markup.
pub fn findings() -> Vec<Finding> {
    vec![
        Finding {
            rule: "service-ip-unroutable".into(),
            severity: Severity::Critical,
            subject: subject("Node", None, "admin", Some("admin")),
            related: Some(Related { kind: "Service".into(), namespace: Some("default".into()), name: "kubernetes".into() }),
            summary: "ClusterIP 10.96.0.1 (default/kubernetes) has no route on admin: no default route and no route covers 10.96.0.0/12".into(),
            evidence: json!({"cluster_ip": "10.96.0.1", "service_cidr": "10.96.0.0/12", "routes": ["172.18.0.0/16 dev eth0 proto kernel scope link src 172.18.0.2"], "default_route": false}),
            remediation: rules()[5].remediation.clone(),
        },
        Finding {
            rule: "cni-agent-not-ready".into(),
            severity: Severity::Critical,
            subject: subject("Pod", Some("kube-system"), "calico-node-r5m2d", Some("admin")),
            related: None,
            summary: "CNI agent kube-system/calico-node-r5m2d (DaemonSet calico-node) on admin is not Ready: container calico-node CrashLoopBackOff, last state Error, 57 restarts".into(),
            evidence: json!({"daemonset": "kube-system/calico-node", "status": "CrashLoopBackOff", "restarts": 57, "last_state_reason": "Error"}),
            remediation: rules()[0].remediation.clone(),
        },
        Finding {
            rule: "flannel-route-missing".into(),
            severity: Severity::Critical,
            subject: subject("Node", None, "worker-1", Some("worker-1")),
            related: Some(Related { kind: "FlannelLease".into(), namespace: None, name: "worker-2".into() }),
            summary: "worker-1 lacks flannel's route to worker-2's lease 10.244.2.0/24: expected '10.244.2.0/24 via 10.244.2.0 dev flannel.1 onlink', found none".into(),
            evidence: json!({"lease": "10.244.2.0/24", "vtep_mac": "a6:1f:4c:9e:02:11", "public_ip": "172.18.0.4"}),
            remediation: rules()[3].remediation.clone(),
        },
        Finding {
            rule: "dns-upstream-loopback".into(),
            severity: Severity::Warning,
            subject: subject("Node", None, "worker-2", Some("worker-2")),
            related: None,
            summary: "worker-2: pods get /etc/resolv.conf with loopback nameserver 127.0.0.53 while the Corefile says 'forward . /etc/resolv.conf'; no CoreDNS pod runs here yet".into(),
            evidence: json!({"resolv_conf": "/etc/resolv.conf", "nameservers": ["127.0.0.53"], "corefile": "forward . /etc/resolv.conf"}),
            remediation: rules()[1].remediation.clone(),
        },
        Finding {
            rule: "evicted-pods".into(),
            severity: Severity::Info,
            subject: subject("Cluster", None, "cluster", None),
            related: None,
            summary: "12 evicted pods in namespace shop".into(),
            evidence: json!({"count": 12, "newest": "web-7d9c-x2x (The node was low on resource: ephemeral-storage)", "annotation": "<script>alert('owned')</script>"}),
            remediation: rules()[2].remediation.clone(),
        },
    ]
}

/// The fixture evaluation, at `AT`.
pub fn evaluation() -> Evaluation {
    let mut report = Report {
        findings: findings(),
        stats: Stats { rules: 6, facts: json!({"nodes": 3, "hosts": 3, "pods": 40, "services": 12, "routes": 31}), duration_ms: 4.2 },
        timings: vec![
            ("cni-agent-not-ready".into(), 0.0004, false),
            ("dns-upstream-loopback".into(), 0.0012, false),
            ("evicted-pods".into(), 0.0002, false),
            ("flannel-route-missing".into(), 0.03, true),
            ("node-not-ready".into(), 0.0003, false),
            ("service-ip-unroutable".into(), 0.0071, false),
        ],
        errors: serde_json::from_value(
            json!([{"source": "builtin:rules/flannel-route-missing.rhai:41:17", "message": "rule flannel-route-missing: too many operations (limit 1000000)"}]),
        )
        .unwrap(),
        ..Report::default()
    };
    report.normalise();
    let since = |f: &Finding| match f.rule.as_str() {
        "service-ip-unroutable" | "cni-agent-not-ready" => t(-(3 * 3600 + 12 * 60)),
        "flannel-route-missing" => t(-(2 * 86_400 + 4 * 3600)),
        "dns-upstream-loopback" => t(-45),
        _ => t(-(26 * 60)),
    };
    Evaluation {
        at: t(0),
        first_seen: report.findings.iter().map(since).collect(),
        report,
        rules: rules(),
        collectors: vec![
            CollectorStatus {
                name: "etcd".into(),
                up: false,
                duration_seconds: 5.0,
                last_success: Some(t(-1800)),
                last_error: Some("etcd: dial tcp 10.0.0.5:2379: connect: connection refused".into()),
            },
            CollectorStatus { name: "k8s".into(), up: true, duration_seconds: 0.84, last_success: Some(t(-2)), last_error: None },
            CollectorStatus { name: "netlink".into(), up: true, duration_seconds: 0.031, last_success: Some(t(-1)), last_error: None },
        ],
        failing: Default::default(),
    }
}

/// The last reload: a failed one, with the previous rules still running.
pub fn failed_reload() -> ReloadStatus {
    ReloadStatus {
        at: t(-300),
        successful: false,
        last_success: Some(t(-7200)),
        errors: vec![Problem {
            location: "/etc/netdoctor/rules/evicted-pods.rhai:12:5".into(),
            message: "syntax error: expecting ')' to close the parameters list".into(),
        }],
    }
}

/// Where scripts/setup.sh puts promtool; a missing one fails the test.
pub fn promtool() -> PathBuf {
    let p = PathBuf::from("/usr/bin/promtool");
    assert!(p.exists(), "{} is missing: run scripts/setup.sh (Debian package prometheus)", p.display());
    p
}

/// `promtool ARGS` with `stdin` fed in.
pub fn run_promtool(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(promtool()).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start promtool");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The binary at `path`, or `None` after printing why the test is skipped.
pub fn binary_or_skip(path: &str, package: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        Some(p)
    } else {
        println!("skipped: {path} is not installed (Debian package {package}; run scripts/setup.sh)");
        None
    }
}

/// A loopback port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `GET http://127.0.0.1:PORT/PATH` over HTTP/1.0: the status code and body
/// (`None` when nothing listens).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

/// Polls `check` every 100ms until it returns `Some`, or panics after `secs` with `what`.
pub fn wait_for<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A real Alertmanager on a loopback port, with its config and storage in
/// a directory it can be restarted on. Killed on drop.
pub struct Alertmanager {
    pub port: u16,
    binary: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

impl Alertmanager {
    /// Starts Alertmanager (one receiver that sends nowhere) in `dir`, or
    /// `None` (printed "skipped") when it is not installed.
    pub fn start(dir: &Path) -> Option<Alertmanager> {
        let binary = binary_or_skip("/usr/bin/prometheus-alertmanager", "prometheus-alertmanager")?;
        std::fs::write(dir.join("alertmanager.yml"), "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n").unwrap();
        let mut am = Alertmanager { port: free_port(), binary, dir: dir.to_path_buf(), child: None };
        am.restart();
        Some(am)
    }

    /// The base URL netdoctor is given.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills it (an outage: nothing listens on the port any more).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and storage; waits until ready.
    pub fn restart(&mut self) {
        self.stop();
        let log = std::fs::File::create(self.dir.join("alertmanager.log")).unwrap();
        let child = Command::new(&self.binary)
            .arg(format!("--config.file={}", self.dir.join("alertmanager.yml").display()))
            .arg(format!("--storage.path={}", self.dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start alertmanager");
        self.child = Some(child);
        let log = self.dir.join("alertmanager.log");
        wait_for(30, "alertmanager to answer /-/ready", || {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("alertmanager exited with {status}: {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            http_get(self.port, "/-/ready").filter(|(code, _)| *code == 200)
        });
    }

    /// The active alerts (`GET /api/v2/alerts`).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let (code, body) = http_get(self.port, "/api/v2/alerts").expect("alertmanager answers");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// `alertmanager_alerts_received_total{status=STATUS}` since it (re)started.
    pub fn received(&self, status: &str) -> f64 {
        let (_, body) = http_get(self.port, "/metrics").expect("alertmanager answers");
        body.lines()
            .filter(|l| l.starts_with("alertmanager_alerts_received_total{") && l.contains(&format!("status=\"{status}\"")))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs headless chromium with `args` (plus the flags that keep it offline
/// and quiet, and a fresh profile), killed after 90s. `None` (printed
/// "skipped") when chromium is not installed.
///
/// The wrapper script execs the browser, so the child is the browser
/// process; its helpers (zygote, renderer) exit when it does. Only that pid
/// is ever killed, with `Child::kill`: never `kill -SIG -PGID` through the
/// kill command, which procps-ng 4.0 reads (without `--`) as `kill(-1)`,
/// every process on the machine when run as root.
pub fn chromium(args: &[String]) -> Option<Output> {
    let binary = binary_or_skip("/usr/bin/chromium", "chromium")?;
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Some(Output { status, stdout: stdout.join().unwrap(), stderr: stderr.join().unwrap() })
}
