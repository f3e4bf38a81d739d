//! Scale benchmark: generates captures (cached under target/scalegen-cache,
//! keyed by the spec) and evaluates each in a child process (this binary run
//! with `--child DIR`: the capture reader, the graph and the built-in pack,
//! in-process), so peak RSS is per spec. Prints read and rule time, the
//! slowest rules, peak RSS, and whether every injected fault was found and
//! nothing else; then the growth of rule time from the smallest to the
//! largest size against linear.
//!
//! `cargo bench -p netdoctor-scalegen --bench scale -- [--nodes 50,500] [--hosts 0,1,50] [--outage] [--full]`
//!
//! `--full` is the whole matrix: 50, 500, 1,500 and 5,000 nodes, each for
//! cluster objects only, plus one host, plus 50 and 200 hosts (at most one
//! per node), and the 150,000-pod outage (5,000 Services without a ready
//! endpoint at 5,000 nodes). Captures at 5,000 nodes are 1.5 GB, plus about
//! 19 MB per host.
//! The measuring is kept apart from the generator: only [`run_eval`] knows
//! how netdoctor is run.

use netdoctor_scalegen::{expected, generate, report, Expected, Skips, Spec};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Eval {
    wall_s: f64,
    read_ms: f64,
    rules_ms: f64,
    /// (rule, ms, failed), slowest first.
    per_rule: Vec<(String, f64, bool)>,
    peak_rss_kb: Option<u64>,
    report: Result<report::Report, String>,
}

/// Peak resident memory of this process (VmHWM), in KiB.
fn vm_hwm_kb() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status").ok()?.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// The child: read, index and evaluate one capture in-process; print one JSON line.
fn child(dir: &Path) {
    let rt = netdoctor_engine::Runtime::default();
    let set = rt.load(netdoctor_rules::BUILTIN, &[]);
    let t0 = Instant::now();
    let facts = netdoctor_collectors::capture::read(dir, &Default::default()).expect("capture readable");
    let graph = netdoctor_engine::pipeline::snapshot(facts, &Default::default());
    let read_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let report = netdoctor_engine::pipeline::evaluate(&rt, &set, &graph, &Default::default());
    let rules_ms = t1.elapsed().as_secs_f64() * 1e3;
    let per_rule: Vec<serde_json::Value> = report.timings.iter().map(|(id, s, failed)| serde_json::json!([id, s * 1e3, failed])).collect();
    let out = serde_json::json!({"read_ms": read_ms, "rules_ms": rules_ms, "per_rule": per_rule, "hwm_kb": vm_hwm_kb(), "report": report});
    println!("{out}");
}

/// One evaluation in a child process.
fn run_eval(dir: &Path) -> Eval {
    let start = Instant::now();
    let out = Command::new(std::env::current_exe().expect("this binary")).arg("--child").arg(dir).output();
    let wall_s = start.elapsed().as_secs_f64();
    let mut e = Eval { wall_s, read_ms: 0.0, rules_ms: 0.0, per_rule: Vec::new(), peak_rss_kb: None, report: Err(String::new()) };
    match out {
        Err(err) => e.report = Err(format!("running the child: {err}")),
        Ok(o) if !o.status.success() => e.report = Err(format!("{}: {}", o.status, String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default())),
        Ok(o) => match serde_json::from_slice::<serde_json::Value>(&o.stdout) {
            Err(err) => e.report = Err(format!("child output: {err}")),
            Ok(v) => {
                e.read_ms = v["read_ms"].as_f64().unwrap_or(0.0);
                e.rules_ms = v["rules_ms"].as_f64().unwrap_or(0.0);
                e.peak_rss_kb = v["hwm_kb"].as_u64();
                e.per_rule = v["per_rule"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|r| (r[0].as_str().unwrap_or("").to_string(), r[1].as_f64().unwrap_or(0.0), r[2].as_bool().unwrap_or(false)))
                    .collect();
                e.per_rule.sort_by(|a, b| b.1.total_cmp(&a.1));
                let _ = std::fs::write(dir.with_extension("eval.json"), v["report"].to_string());
                e.report = report::parse(&v["report"].to_string());
            }
        },
    }
    e
}

fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("scalegen-cache")
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// The capture of `spec`, generated unless a complete one is cached; the
/// generation time when it was generated now.
fn capture(spec: &Spec) -> std::io::Result<(PathBuf, Option<f64>)> {
    let dir = cache_dir().join(spec.key());
    let done = dir.join(".complete");
    if done.exists() {
        return Ok((dir, None));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let start = Instant::now();
    generate(spec, &dir)?;
    let secs = start.elapsed().as_secs_f64();
    std::fs::write(&done, b"")?;
    Ok((dir, Some(secs)))
}

fn list(arg: Option<String>) -> Vec<usize> {
    arg.map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect()).unwrap_or_default()
}

fn specs() -> Vec<(String, Spec)> {
    let mut args = std::env::args().skip(1);
    let (mut nodes, mut hosts, mut outage, mut full) = (vec![50, 500], vec![0, 1], false, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--nodes" => nodes = list(args.next()),
            "--hosts" => hosts = list(args.next()),
            "--outage" => outage = true,
            "--full" => full = true,
            _ => {} // cargo bench passes --bench
        }
    }
    if full {
        nodes = vec![50, 500, 1500, 5000];
        hosts = vec![0, 1, 50, 200];
        outage = true;
    }
    let mut out: Vec<(String, Spec)> = Vec::new();
    for &n in &nodes {
        for &h in &hosts {
            let h = h.min(n);
            let what = match h {
                0 => "cluster only".to_string(),
                1 => "cluster + 1 host".to_string(),
                h => format!("cluster + {h} hosts"),
            };
            let spec = Spec { hosts: h, ..Spec::scaled(n) };
            if !out.iter().any(|(_, s)| *s == spec) {
                out.push((what, spec));
            }
        }
    }
    if outage {
        // 150,000 pods, 5,000 Services without a ready endpoint
        let n = if full { 5000 } else { *nodes.iter().max().unwrap_or(&500) };
        let spec = Spec::scaled(n);
        out.push(("outage".to_string(), Spec { outage_services: (spec.services / 2).min(5000), ..spec }));
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]));
        return;
    }
    // Under `cargo test --all-targets` one small spec proves the bench runs.
    let quick = !args.iter().any(|a| a == "--bench");
    println!(
        "{:<18} {:>6} {:>6} {:>7} {:>6} {:>8} {:>7} {:>8} {:>9} {:>8} {:>8}  verdict / slowest rules",
        "spec", "nodes", "hosts", "pods", "svcs", "size MB", "gen s", "read s", "rules ms", "wall s", "RSS MB"
    );
    let mut failed = false;
    let mut growth: Vec<(String, usize, f64)> = Vec::new();
    let specs = if quick { vec![("quick".to_string(), Spec { nodes: 12, pods: 360, services: 24, hosts: 4, ..Spec::scaled(12) })] } else { specs() };
    for (what, spec) in specs {
        let (dir, gen_s) = match capture(&spec) {
            Ok(c) => c,
            Err(e) => {
                println!("{what}: generating: {e}");
                failed = true;
                continue;
            }
        };
        let (want, want_skips) = expected(&spec).expect("the spec generated above");
        let e = run_eval(&dir);
        let verdict = match &e.report {
            Err(err) => format!("FAILED: {err}"),
            Ok(r) => verdict(&want, &want_skips, r),
        };
        let cut_off: Vec<&str> = e.per_rule.iter().filter(|r| r.2).map(|r| r.0.as_str()).collect();
        failed |= !verdict.starts_with("ok") || !cut_off.is_empty();
        println!(
            "{:<18} {:>6} {:>6} {:>7} {:>6} {:>8.1} {:>7} {:>8.2} {:>9.0} {:>8.2} {:>8}  {verdict}",
            what,
            spec.nodes,
            spec.hosts,
            spec.pods,
            spec.services,
            dir_size(&dir) as f64 / 1e6,
            gen_s.map(|s| format!("{s:.1}")).unwrap_or("cached".into()),
            e.read_ms / 1e3,
            e.rules_ms,
            e.wall_s,
            e.peak_rss_kb.map(|k| format!("{:.0}", k as f64 / 1024.0)).unwrap_or("-".into()),
        );
        let slow: Vec<String> = e.per_rule.iter().take(4).map(|(id, ms, f)| format!("{id} {ms:.0} ms{}", if *f { " CUT OFF" } else { "" })).collect();
        println!("{:<18} slowest rules: {}", "", slow.join(", "));
        if let Ok(r) = &e.report {
            for line in r.errors.iter().chain(report::diff(&want, &r.findings).iter()).take(8) {
                println!("    {line}");
            }
        }
        growth.push((what.clone(), spec.nodes, e.rules_ms));
    }
    // Rule time against linear growth, per workload, smallest to largest size.
    let mut kinds: Vec<&str> = Vec::new();
    for g in &growth {
        if !kinds.contains(&g.0.as_str()) {
            kinds.push(g.0.as_str());
        }
    }
    for k in kinds {
        let pts: Vec<&(String, usize, f64)> = growth.iter().filter(|g| g.0 == k).collect();
        if let (Some(a), Some(b)) = (pts.iter().filter(|p| p.1 >= 500).min_by_key(|p| p.1), pts.iter().max_by_key(|p| p.1)) {
            if b.1 > a.1 && a.2 > 0.0 {
                let size = b.1 as f64 / a.1 as f64;
                let time = b.2 / a.2;
                println!("{k}: {}→{} nodes ({size:.0}× larger): rule time ×{time:.1}, {:.2}× linear", a.1, b.1, time / size);
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}

fn verdict(want: &[Expected], want_skips: &Skips, r: &report::Report) -> String {
    let diff = report::diff(want, &r.findings);
    let missing = diff.iter().filter(|d| d.starts_with("missing")).count();
    let mut v = if diff.is_empty() {
        format!("ok: all {} expected found, none else", want.len())
    } else {
        format!("{missing} missing, {} unexpected", diff.len() - missing)
    };
    if !r.errors.is_empty() {
        v.push_str(&format!("; {} errors", r.errors.len()));
    }
    let skips: Skips = r.skips.iter().map(|(k, n)| (k.clone(), *n)).collect();
    if &skips != want_skips {
        v.push_str("; skips differ");
    }
    if let Some(first) = diff.first() {
        v.push_str(&format!(" (first: {first})"));
    }
    v
}
