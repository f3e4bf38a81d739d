//! Scale benchmark: generates captures (cached under target/scalegen-cache,
//! keyed by the spec) and times one `netdoctor eval` of each in a child
//! process, so peak RSS is per spec. Prints wall time, peak RSS, findings and
//! whether every injected fault was found and nothing else.
//!
//! `NETDOCTOR_BIN=path cargo bench -p netdoctor-scalegen --bench scale -- [--nodes 50,500] [--hosts 0,1,50] [--outage] [--full]`
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
    peak_rss_kb: Option<u64>,
    report: Result<report::Report, String>,
}

/// One evaluation in a child process, under `/usr/bin/time` for its peak RSS.
fn run_eval(bin: &Path, dir: &Path) -> Eval {
    let rss_file = dir.with_extension("rss");
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.args(["eval", "--capture"]).arg(dir).args(["--format", "json", "--min-severity", "info"]);
    let start = Instant::now();
    let out = cmd.output();
    let wall_s = start.elapsed().as_secs_f64();
    let peak_rss_kb = std::fs::read_to_string(&rss_file).ok().and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    let report = match out {
        Err(e) => Err(format!("running {}: {e}", bin.display())),
        Ok(o) if !matches!(o.status.code(), Some(0 | 1)) => {
            Err(format!("{}: {}", o.status, String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default()))
        }
        Ok(o) => {
            // kept for a look at the findings and errors without another run
            let _ = std::fs::write(dir.with_extension("eval.json"), &o.stdout);
            report::parse(&String::from_utf8_lossy(&o.stdout))
        }
    };
    Eval { wall_s, peak_rss_kb, report }
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
    let Some(bin) = std::env::var_os("NETDOCTOR_BIN").map(PathBuf::from) else {
        println!("skipped: set NETDOCTOR_BIN to a netdoctor binary");
        return;
    };
    println!(
        "{:<20} {:>6} {:>6} {:>8} {:>7} {:>9} {:>8} {:>9} {:>9} {:>8} {:>9}  verdict",
        "spec", "nodes", "hosts", "pods", "svcs", "size MB", "gen s", "eval s", "rules ms", "RSS MB", "findings"
    );
    let mut failed = false;
    for (what, spec) in specs() {
        let (dir, gen_s) = match capture(&spec) {
            Ok(c) => c,
            Err(e) => {
                println!("{what}: generating: {e}");
                failed = true;
                continue;
            }
        };
        let (want, want_skips) = expected(&spec).expect("the spec generated above");
        let e = run_eval(&bin, &dir);
        let (findings, rules_ms, verdict) = match &e.report {
            Err(err) => (String::from("-"), String::from("-"), format!("FAILED: {err}")),
            Ok(r) => (r.findings.len().to_string(), r.duration_ms.map(|d| format!("{d:.0}")).unwrap_or("-".into()), verdict(&want, &want_skips, r)),
        };
        failed |= !verdict.starts_with("ok");
        println!(
            "{:<20} {:>6} {:>6} {:>8} {:>7} {:>9.1} {:>8} {:>9.2} {:>9} {:>8} {:>9}  {verdict}",
            what,
            spec.nodes,
            spec.hosts,
            spec.pods,
            spec.services,
            dir_size(&dir) as f64 / 1e6,
            gen_s.map(|s| format!("{s:.1}")).unwrap_or("cached".into()),
            e.wall_s,
            rules_ms,
            e.peak_rss_kb.map(|k| format!("{:.0}", k as f64 / 1024.0)).unwrap_or("-".into()),
            findings,
        );
        if let Ok(r) = &e.report {
            for line in r.errors.iter().chain(report::diff(&want, &r.findings).iter()).take(8) {
                println!("    {line}");
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
