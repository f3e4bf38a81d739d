//! `cargo bench -p netdoctor-exporters --bench serve`: the three figures of
//! `serve` in BENCHMARKS.md, each with its ratio to the target:
//! - `/metrics` latency with 10,000 active findings while evaluations run
//!   back to back (a fact source pokes the store every 50 ms): p50 / p99 /
//!   max over fresh connections; target p99 < 50 ms;
//! - reload latency, from a rule file written (by rename, as editors save) to
//!   its new version exported (`netdoctor_rule_info` with the new sha256),
//!   with the built-in pack loaded; target < 1 s;
//! - compiling 100 rule files (the built-in pack's 25 rules, four times, under
//!   other ids) as `serve` loads a `--rules` directory; target < 100 ms.
//!
//! Without `--bench` (under `cargo test --all-targets`) each runs a few
//! iterations only, to prove it works.

#[path = "../tests/support/mod.rs"]
mod support;

use netdoctor_engine::model::Node;
use netdoctor_engine::{FactKind, FactSet, Object, Source};
use netdoctor_exporters::serve::loader::Loader;
use netdoctor_exporters::serve::{Facts, Options, Server, Sources};
use netdoctor_exporters::RuleInfo;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{build, http_get, wait_for};

/// Emits 10,000 findings, one per Pod-shaped subject; re-run whenever nodes change.
const MANY_FINDINGS: &str = r#"const RULE = #{ id: "ten-thousand", severity: "warning", summary: "Many findings", remediation: "none", reads: ["nodes"] };
fn evaluate(g) {
    let gen = g.nodes.len();
    for i in 0..10000 {
        g.finding(#{ subject: #{ kind: "Pod", namespace: "bench", name: `pod-${i}`, node: "n1" }, summary: `pod-${i} is slow (generation ${gen})`, evidence: #{ i: i } });
    }
}
"#;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn set_nodes(facts: &Facts, n: usize) {
    let mut set = FactSet::new();
    set.collected(FactKind::Nodes, Source::live("k8s", 1));
    for i in 0..n {
        set.apply(Object::Node(Node { name: format!("n{i}"), ..Default::default() }));
    }
    facts.update(|s| s.replace("k8s", set));
}

fn start(rt: &tokio::runtime::Runtime, sources: Sources, facts: &Facts) -> Server {
    let mut opts = Options::new(sources, build());
    opts.listen = "127.0.0.1:0".parse().unwrap();
    opts.interval = Duration::from_secs(3600);
    opts.debounce = Duration::from_millis(10);
    opts.signals = false;
    let server = rt.block_on(Server::start(opts, facts.clone())).expect("serve starts");
    let port = server.local_addr().port();
    wait_for(120, "/-/ready", || http_get(port, "/-/ready").filter(|(c, _)| *c == 200));
    server
}

fn metric(port: u16, prefix: &str) -> f64 {
    let (_, body) = http_get(port, "/metrics").unwrap();
    body.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}

fn scrape_latency(rt: &tokio::runtime::Runtime, scrapes: usize) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("many.rhai"), MANY_FINDINGS).unwrap();
    let facts = Facts::new();
    set_nodes(&facts, 1);
    let server = start(rt, Sources { builtin: vec![], dirs: vec![dir.path().to_path_buf()], config: None }, &facts);
    let port = server.local_addr().port();
    let active = metric(port, "netdoctor_findings{rule=\"ten-thousand\"");
    // Facts change every 50 ms, so evaluations (each rendering 10,000 series) run back to back.
    let stop = Arc::new(AtomicBool::new(false));
    let poker = {
        let (facts, stop) = (facts.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 1;
            while !stop.load(Ordering::SeqCst) {
                n = n % 5 + 1;
                set_nodes(&facts, n);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let evals_before = metric(port, "netdoctor_evaluations_total");
    let mut times = Vec::with_capacity(scrapes);
    let mut bytes = 0;
    let t0 = Instant::now();
    for _ in 0..scrapes {
        let t = Instant::now();
        let (code, body) = http_get(port, "/metrics").expect("scrape");
        times.push(t.elapsed());
        assert_eq!(code, 200);
        bytes = body.len();
    }
    let wall = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    poker.join().unwrap();
    let evals = metric(port, "netdoctor_evaluations_total") - evals_before;
    rt.block_on(server.shutdown());
    times.sort();
    let p99 = percentile(&times, 0.99);
    println!(
        "/metrics with {active} active findings ({:.1} MB), {scrapes} scrapes in {:.1}s while {evals} evaluations ran: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; p99/50ms = {:.2}",
        bytes as f64 / 1e6,
        wall.as_secs_f64(),
        ms(percentile(&times, 0.5)),
        ms(p99),
        ms(*times.last().unwrap()),
        ms(p99) / 50.0
    );
}

fn save(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn reload_latency(rt: &tokio::runtime::Runtime, iterations: usize) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edited.rhai");
    let rule = |n: usize| {
        format!("const RULE = #{{ id: \"edited\", severity: \"warning\", summary: \"version {n}\", remediation: \"none\", reads: [\"nodes\"] }};\nfn evaluate(g) {{ }}\n")
    };
    std::fs::write(&file, rule(0)).unwrap();
    let facts = Facts::new();
    set_nodes(&facts, 3);
    let builtin = netdoctor_rules::BUILTIN.iter().map(|(f, t)| (f.to_string(), t.to_string())).collect();
    let server = start(rt, Sources { builtin, dirs: vec![dir.path().to_path_buf()], config: None }, &facts);
    let port = server.local_addr().port();
    let mut times = Vec::new();
    for n in 1..=iterations {
        let text = rule(n);
        let want = format!("sha256=\"{}\"", RuleInfo::digest(&text));
        let t = Instant::now();
        save(&file, &text);
        loop {
            let (_, body) = http_get(port, "/metrics").unwrap();
            if body.lines().any(|l| l.starts_with("netdoctor_rule_info{") && l.contains(&want)) {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "reload {n} not seen");
            std::thread::sleep(Duration::from_millis(2));
        }
        times.push(t.elapsed());
        // Let the full evaluation that follows a reload finish before the next write.
        std::thread::sleep(Duration::from_millis(200));
    }
    rt.block_on(server.shutdown());
    times.sort();
    let max = *times.last().unwrap();
    println!(
        "reload, file written to new rule exported (26 rules loaded), {iterations} edits: p50 {:.1} ms, max {:.1} ms; max/1s = {:.2}",
        ms(percentile(&times, 0.5)),
        ms(max),
        max.as_secs_f64()
    );
}

/// 100 rule files: the built-in pack four times over, each copy under its own id.
fn hundred_rules(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for copy in 0..4 {
        for (name, text) in netdoctor_rules::BUILTIN {
            let id = Path::new(name).file_stem().unwrap().to_string_lossy().to_string();
            let text = text.replacen(&format!("id: \"{id}\""), &format!("id: \"{id}-{copy}\""), 1);
            let f = dir.join(format!("{id}-{copy}.rhai"));
            std::fs::write(&f, text).unwrap();
            files.push(f);
        }
    }
    files
}

fn compile_hundred(iterations: usize) {
    let dir = tempfile::tempdir().unwrap();
    let files = hundred_rules(dir.path());
    let mut times = Vec::new();
    let mut loaded = 0;
    for _ in 0..iterations {
        let t = Instant::now();
        let (loader, outcome) = Loader::new(Sources { builtin: vec![], dirs: vec![dir.path().to_path_buf()], config: None }).unwrap();
        times.push(t.elapsed());
        assert!(outcome.successful, "{:?}", outcome.errors);
        loaded = loader.current().set.rules.len();
    }
    times.sort();
    let p50 = percentile(&times, 0.5);
    println!(
        "compiling {} rule files ({loaded} rules, engine start included): p50 {:.1} ms, max {:.1} ms; p50/100ms = {:.2}",
        files.len(),
        ms(p50),
        ms(*times.last().unwrap()),
        ms(p50) / 100.0
    );
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    // Rules compile and run on a 64 MiB stack in serve; the compile bench loads on this thread.
    let child = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            compile_hundred(if bench { 20 } else { 1 });
            reload_latency(&rt, if bench { 20 } else { 2 });
            scrape_latency(&rt, if bench { 5000 } else { 20 });
        })
        .unwrap();
    child.join().unwrap();
}
