//! `cargo bench --bench eval`: times `eval --capture` end to end in-process
//! (read the capture, build the graph, run the built-in pack) on each example
//! capture, and prints the median, p90 and the ratio to the 100 ms budget.

use netdoctor_engine::Runtime;
use std::path::Path;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/captures");
    // `cargo bench` passes --bench; under `cargo test --all-targets` one pass proves it runs.
    let iterations = if std::env::args().any(|a| a == "--bench") { 200 } else { 1 };
    let t0 = Instant::now();
    let rt = Runtime::default();
    let set = rt.load(netdoctor_rules::BUILTIN, &[]);
    println!("engine start + compiling {} built-in rules: {:.2} ms (once per process)", set.rules.len(), t0.elapsed().as_secs_f64() * 1e3);
    println!("{:<20} {:>6} {:>6} {:>10} {:>10} {:>10} {:>10} {:>12}", "capture", "hosts", "pods", "read ms", "eval ms", "total p50", "total p90", "p50/100ms");
    for name in ["healthy-flannel", "healthy-calico", "seed-000", "seed-001", "seed-004", "combined-faults"] {
        let dir = root.join(name);
        let mut read = Vec::new();
        let mut evals = Vec::new();
        let mut total = Vec::new();
        let mut counts = (0, 0);
        for _ in 0..iterations {
            let a = Instant::now();
            let facts = netdoctor_collectors::capture::read(&dir, &Default::default()).expect("capture");
            let g = netdoctor_engine::pipeline::snapshot(facts, &Default::default());
            let b = Instant::now();
            let report = rt.evaluate(&set, &g, &Default::default());
            let c = Instant::now();
            std::hint::black_box(&report);
            counts = (g.hosts().len(), g.pods().len());
            read.push(b - a);
            evals.push(c - b);
            total.push(c - a);
        }
        for v in [&mut read, &mut evals, &mut total] {
            v.sort();
        }
        let p50 = percentile(&total, 0.5);
        println!(
            "{:<20} {:>6} {:>6} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>11.4}x",
            name,
            counts.0,
            counts.1,
            percentile(&read, 0.5).as_secs_f64() * 1e3,
            percentile(&evals, 0.5).as_secs_f64() * 1e3,
            p50.as_secs_f64() * 1e3,
            percentile(&total, 0.9).as_secs_f64() * 1e3,
            p50.as_secs_f64() / 0.1
        );
    }
    println!("\nScale (5,000 nodes, 150,000 pods, faults): cargo bench -p netdoctor-scalegen --bench scale");
}
