//! Live host collection against `ip`: a namespace with 5,000 routes and 10,000
//! neighbours (added with `ip -batch`), read by the live netlink collector and by
//! `ip -j route show table all` plus `ip -j neigh show` (the capture commands),
//! median of several runs each, and their ratio. Needs root; prints why not otherwise.
//!
//! `cargo bench -p netdoctor-collectors --bench netlink`

use netdoctor_collectors::live::host::netlink;
use netdoctor_testkit::netns::Netns;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ROUTES: u32 = 5_000;
const NEIGHBOURS: u32 = 10_000;
const RUNS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let ns = match Netns::new("bench") {
        Ok(ns) => ns,
        Err(e) => {
            println!("netlink bench skipped: {e}");
            return;
        }
    };
    // Permanent entries do not count toward the neighbour table's gc thresholds (which only
    // the initial namespace has), so 10,000 of them fit.
    ns.bridge("br0").unwrap();
    ns.addr_add("br0", "10.0.0.1/16").unwrap();
    ns.link_up("br0").unwrap();
    let mut batch = String::new();
    for i in 0..ROUTES {
        batch.push_str(&format!("route add 172.{}.{}.0/24 via 10.0.0.2 dev br0 proto static\n", 16 + i / 256, i % 256));
    }
    for i in 0..NEIGHBOURS {
        let (a, b) = (i / 250, 2 + i % 250);
        batch.push_str(&format!("neigh add 10.0.{a}.{b} lladdr 02:00:00:00:{:02x}:{:02x} dev br0 nud permanent\n", (i >> 8) & 0xff, i & 0xff));
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), batch).unwrap();
    let t = Instant::now();
    ns.ip(&["-batch", &file.path().display().to_string()]).unwrap();
    println!("setup: {ROUTES} routes and {NEIGHBOURS} neighbours added with ip -batch in {}", ms(t.elapsed()));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let path = ns.path();
    let facts = rt.block_on(netlink::collect(Some(&path), Path::new("/"))).unwrap();
    assert!(
        facts.routes.len() >= ROUTES as usize && facts.neighbours.len() == NEIGHBOURS as usize,
        "{} routes, {} neighbours",
        facts.routes.len(),
        facts.neighbours.len()
    );

    let live: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let f = rt.block_on(netlink::collect(Some(&path), Path::new("/"))).unwrap();
            let d = t.elapsed();
            assert_eq!(f.neighbours.len(), NEIGHBOURS as usize);
            d
        })
        .collect();
    let ip_run = |args: &[&str]| {
        let t = Instant::now();
        let out = Command::new("ip").arg("-n").arg(ns.name()).args(args).output().unwrap();
        assert!(out.status.success() && out.stdout.len() > 1000);
        t.elapsed()
    };
    let ip_route: Vec<Duration> = (0..RUNS).map(|_| ip_run(&["-j", "-d", "route", "show", "table", "all"])).collect();
    let ip_neigh: Vec<Duration> = (0..RUNS).map(|_| ip_run(&["-j", "neigh", "show"])).collect();
    let ip_both: Vec<Duration> = ip_route.iter().zip(&ip_neigh).map(|(a, b)| *a + *b).collect();
    // The capture reader's side of `ip`: parsing its JSON into the same facts.
    let route_text = ns.ip(&["-j", "-d", "route", "show", "table", "all"]).unwrap();
    let neigh_text = ns.ip(&["-j", "neigh", "show"]).unwrap();
    let parse: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let r = netdoctor_collectors::netlink::parse_routes(&route_text, false).unwrap();
            let n = netdoctor_collectors::netlink::parse_neigh(&neigh_text).unwrap();
            assert_eq!(n.len(), NEIGHBOURS as usize);
            assert!(r.len() >= ROUTES as usize);
            t.elapsed()
        })
        .collect();
    let (live, ip_route, ip_neigh, ip_both, parse) = (median(live), median(ip_route), median(ip_neigh), median(ip_both), median(parse));
    println!("live netlink collection (links, addrs, routes, rules, neighbours, fdb; typed facts): {} (median of {RUNS})", ms(live));
    println!(
        "ip -j -d route show table all: {}; ip -j neigh show: {}; together: {} (median of {RUNS}, JSON text only)",
        ms(ip_route),
        ms(ip_neigh),
        ms(ip_both)
    );
    println!("ip's JSON parsed into the same facts by the capture parsers: {}", ms(parse));
    println!("ratio live / ip (route+neigh): {:.2}", live.as_secs_f64() / ip_both.as_secs_f64());
    println!("ratio live / (ip route+neigh + parsing): {:.2}", live.as_secs_f64() / (ip_both + parse).as_secs_f64());
}
