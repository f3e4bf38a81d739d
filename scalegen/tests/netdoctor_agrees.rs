//! Generated captures against a real netdoctor: every injected fault is
//! found, nothing else fires, nothing errors, and the skips are the ones the
//! missing host folders explain. Set `NETDOCTOR_BIN` to a netdoctor binary
//! (e.g. the last release, built from 7dcc372); without it only the checks
//! that need no evaluator run.

use netdoctor_scalegen::{generate, report, Proxy, Spec};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn small(proxy: Proxy, faults: bool) -> Spec {
    Spec { nodes: 12, pods: 360, services: 24, hosts: 4, proxy, faults, outage_services: 0, seed: 7 }
}

/// Runs `$NETDOCTOR_BIN eval` on `dir` and compares with what the generator promised.
fn check_with_netdoctor(spec: &Spec, dir: &Path, g: &netdoctor_scalegen::Generated) {
    let Some(bin) = std::env::var_os("NETDOCTOR_BIN") else {
        eprintln!("skipped: set NETDOCTOR_BIN to a netdoctor binary to evaluate {spec:?}");
        return;
    };
    let out =
        Command::new(&bin).args(["eval", "--capture"]).arg(dir).args(["--format", "json", "--min-severity", "info"]).output().expect("running NETDOCTOR_BIN");
    // 0: no findings, 1: findings; anything else is a failure of the evaluation itself
    assert!(matches!(out.status.code(), Some(0 | 1)), "netdoctor eval: {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let r = report::parse(&String::from_utf8_lossy(&out.stdout)).expect("netdoctor's JSON report");
    assert!(r.errors.is_empty(), "{spec:?}: errors {:#?}", r.errors);
    let diff = report::diff(&g.expected, &r.findings);
    assert!(diff.is_empty(), "{spec:?}: findings differ from the injected faults:\n{}", diff.join("\n"));
    if !spec.faults {
        assert!(r.findings.is_empty());
    }
    let want: BTreeMap<String, usize> = g.expected_skips.iter().cloned().collect();
    assert_eq!(r.skips, want, "{spec:?}: skips");
}

fn run(spec: Spec) {
    let dir = tempfile::tempdir().expect("temp dir");
    let g = generate(&spec, dir.path()).expect("generate");
    if spec.faults {
        assert!(!g.expected.is_empty());
    } else {
        assert!(g.expected.is_empty(), "no faults, no findings: {:?}", g.expected);
    }
    // every JSON file parses (the evaluator may not be here to say so)
    for entry in walk(dir.path()) {
        if entry.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&entry).expect("read");
            serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{}: {e}", entry.display()));
        }
    }
    check_with_netdoctor(&spec, dir.path(), &g);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn ipvs_faults_are_found_exactly() {
    run(small(Proxy::Ipvs, true));
}

#[test]
fn iptables_faults_are_found_exactly() {
    run(small(Proxy::Iptables, true));
}

#[test]
fn healthy_ipvs_cluster_has_no_findings() {
    run(small(Proxy::Ipvs, false));
}

#[test]
fn healthy_iptables_cluster_has_no_findings() {
    run(small(Proxy::Iptables, false));
}

#[test]
fn outage_services_each_lack_ready_endpoints() {
    let spec = Spec { outage_services: 5, ..small(Proxy::Ipvs, true) };
    let dir = tempfile::tempdir().expect("temp dir");
    let g = generate(&spec, dir.path()).expect("generate");
    assert_eq!(g.expected.iter().filter(|e| e.rule == "service-no-ready-endpoints").count(), 6, "the fault and 5 of the outage");
    check_with_netdoctor(&spec, dir.path(), &g);
}

#[test]
fn every_host_captured_skips_nothing() {
    run(Spec { hosts: 12, ..small(Proxy::Ipvs, true) });
}

#[test]
fn same_spec_same_bytes() {
    let (a, b) = (tempfile::tempdir().expect("temp dir"), tempfile::tempdir().expect("temp dir"));
    let spec = small(Proxy::Iptables, true);
    generate(&spec, a.path()).expect("generate");
    generate(&spec, b.path()).expect("generate");
    let (fa, fb) = (walk(a.path()), walk(b.path()));
    assert_eq!(fa.len(), fb.len());
    for (x, y) in fa.iter().zip(&fb) {
        assert_eq!(x.strip_prefix(a.path()).ok(), y.strip_prefix(b.path()).ok());
        assert!(std::fs::read(x).ok() == std::fs::read(y).ok(), "{} differs between runs", x.display());
    }
}
