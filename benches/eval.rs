//! `cargo bench --bench eval`: times `eval --capture` end to end in-process
//! (read the capture, build the graph, run the built-in pack) on each example
//! capture, and prints the median, p90 and the ratio to the 100 ms budget.

use netdoctor_engine::{Graph, Runtime};
use std::path::Path;
use std::sync::Arc;
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
            let facts = netdoctor_collectors::capture::read(&dir).expect("capture");
            let g = Arc::new(Graph::build(facts));
            let b = Instant::now();
            let report = rt.evaluate(&set, &g, &Default::default());
            let c = Instant::now();
            std::hint::black_box(&report);
            counts = (g.targets.len(), g.facts.pods.len());
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
    // Scale: synthetic clusters built in memory (the graph, indexes and the pack;
    // reading 150k pods of kubectl JSON is measured separately by the reader).
    let sizes: &[(usize, usize, usize)] = if iterations > 1 { &[(50, 5_000, 500), (500, 150_000, 5_000)] } else { &[(5, 50, 5)] };
    println!("\n{:>6} {:>8} {:>9} {:>12} {:>12} {:>12} {:>9} {:>7}", "nodes", "pods", "services", "build ms", "eval ms", "graph MiB", "findings", "errors");
    for &(n, p, s) in sizes {
        scale(&rt, &set, n, p, s);
    }
}

/// Resident set size of this process, in MiB (Linux).
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A synthetic large cluster built directly as facts: `nodes` hosts with a
/// flannel-like route table, `pods` pods spread evenly, `services` Services
/// with two ready endpoints each.
fn synthetic(nodes: usize, pods: usize, services: usize) -> netdoctor_engine::Facts {
    use netdoctor_engine::model::*;
    let mut f = Facts::default();
    for k in ["nodes", "pods", "services", "endpoints"] {
        f.mark_collected(k, "synthetic");
    }
    let net = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
    for n in 0..nodes {
        let name = format!("node-{n:04}");
        let ip = format!("10.0.{}.{}", n / 250, n % 250 + 1);
        f.nodes.push(Node {
            name: name.clone(),
            addresses: vec![("InternalIP".into(), ip.clone())],
            pod_cidrs: vec![net(&format!("10.{}.{}.0/24", 64 + n / 256, n % 256))],
            conditions: vec![Condition { kind: "Ready".into(), status: "True".into(), ..Default::default() }],
            ..Default::default()
        });
        let route = |dst: &str, gw: Option<&str>, dev: &str, table: &str, kind: &str| Route {
            kind: kind.into(),
            dst: net(dst),
            is_default: dst == "0.0.0.0/0",
            gateway: gw.map(|g| g.parse().unwrap()),
            dev: Some(dev.into()),
            table: table.into(),
            protocol: None,
            scope: None,
            metric: 0,
            prefsrc: None,
            flags: vec![],
        };
        let mut routes = vec![route("0.0.0.0/0", Some("10.0.0.254"), "eth0", "main", "unicast"), route("10.0.0.0/16", None, "eth0", "main", "unicast")];
        for p in 0..nodes.min(64) {
            routes.push(route(&format!("10.{}.{}.0/24", 64 + p / 256, p % 256), Some("10.0.0.1"), "flannel.1", "main", "unicast"));
        }
        routes.push(route(&format!("{ip}/32"), None, "eth0", "local", "local"));
        f.hosts.push(Host {
            name,
            routes: Fact::Present { source: "synthetic".into(), value: routes },
            sysctl: Fact::Present { source: "synthetic".into(), value: [("net.ipv4.ip_forward".to_string(), "1".to_string())].into_iter().collect() },
            ..Default::default()
        });
    }
    for i in 0..pods {
        let n = i % nodes;
        f.pods.push(Pod {
            namespace: format!("ns-{}", i % 200),
            name: format!("app-{i}"),
            node: Some(format!("node-{n:04}")),
            phase: "Running".into(),
            pod_ips: vec![format!("10.{}.{}.{}", 64 + n / 256, n % 256, i / nodes % 250 + 2).parse().unwrap()],
            labels: [("app".to_string(), format!("app-{}", i % services))].into_iter().collect(),
            owner_kind: Some("ReplicaSet".into()),
            owner_name: Some(format!("app-{}", i % services)),
            conditions: vec![Condition { kind: "Ready".into(), status: "True".into(), ..Default::default() }],
            containers: vec![ContainerStatus { name: "app".into(), ready: true, state: "running".into(), ..Default::default() }],
            ..Default::default()
        });
    }
    for s in 0..services {
        let ip: std::net::IpAddr = format!("10.96.{}.{}", s / 250, s % 250 + 1).parse().unwrap();
        f.services.push(Service {
            namespace: format!("ns-{}", s % 200),
            name: format!("app-{s}"),
            kind: "ClusterIP".into(),
            cluster_ips: vec![ip],
            ports: vec![ServicePort { name: None, protocol: "TCP".into(), port: 80, target_port: "8080".into(), node_port: None }],
            selector: [("app".to_string(), format!("app-{s}"))].into_iter().collect(),
            ..Default::default()
        });
        f.endpoints.push(Endpoints {
            namespace: format!("ns-{}", s % 200),
            service: format!("app-{s}"),
            ready: vec!["10.64.0.2".parse().unwrap(), "10.64.1.2".parse().unwrap()],
            source_kind: "EndpointSlice".into(),
            ..Default::default()
        });
    }
    f
}

fn scale(rt: &Runtime, set: &netdoctor_engine::RuleSet, nodes: usize, pods: usize, services: usize) {
    let before = rss_mib();
    let a = Instant::now();
    let g = Arc::new(Graph::build(synthetic(nodes, pods, services)));
    let built = a.elapsed();
    let after_graph = rss_mib();
    let b = Instant::now();
    let report = rt.evaluate(set, &g, &Default::default());
    let evaluated = b.elapsed();
    println!(
        "{:>6} {:>8} {:>9} {:>12.1} {:>12.1} {:>12.1} {:>9} {:>7}",
        nodes,
        pods,
        services,
        built.as_secs_f64() * 1e3,
        evaluated.as_secs_f64() * 1e3,
        after_graph - before,
        report.findings.len(),
        report.errors.len()
    );
    let mut slow: Vec<&(String, f64, bool)> = report.timings.iter().collect();
    slow.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("       slowest rules: {}", slow.iter().take(4).map(|(r, t, _)| format!("{r} {:.0} ms", t * 1e3)).collect::<Vec<_>>().join(", "));
    for e in report.errors.iter().take(3) {
        println!("       error: {}: {}", e.source, e.message);
    }
}
