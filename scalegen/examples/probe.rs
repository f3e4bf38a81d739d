//! Per-rule timings on one capture, for profiling a slow rule:
//! `cargo run --release -p netdoctor-scalegen --example probe -- CAPTURE_DIR RULES_DIR`
//! prints each rule's milliseconds and finding count.
use std::path::Path;
use std::time::Instant;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 3 {
        eprintln!("usage: probe CAPTURE_DIR RULES_DIR");
        std::process::exit(2);
    }
    let rt = netdoctor_engine::Runtime::default();
    let set = rt.load(&[], &[Path::new(&a[2])]);
    let t0 = Instant::now();
    let facts = netdoctor_collectors::capture::read(Path::new(&a[1]), &Default::default()).expect("capture readable");
    let graph = netdoctor_engine::pipeline::snapshot(facts, &Default::default());
    eprintln!("read {:?}", t0.elapsed());
    for _ in 0..3 {
        let report = netdoctor_engine::pipeline::evaluate(&rt, &set, &graph, &Default::default());
        for (id, s, f) in &report.timings {
            eprintln!("{id} {:.1} ms {f}", s * 1e3);
        }
        eprintln!("findings {} skips {} errors {:?}", report.findings.len(), report.skipped.len(), report.errors.iter().take(3).collect::<Vec<_>>());
    }
}
