//! `netdoctor-scalegen`: writes a generated capture directory and prints the
//! findings it must produce, one per line.

use netdoctor_scalegen::{generate, Proxy, Spec};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str =
    "usage: netdoctor-scalegen --nodes N [--hosts H] [--pods P] [--services S] [--proxy ipvs|iptables] [--outage K] [--no-faults] [--seed S] --out DIR";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netdoctor-scalegen: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut spec: Option<Spec> = None;
    let (mut hosts, mut pods, mut services, mut proxy, mut outage, mut faults, mut seed, mut out) = (0, None, None, Proxy::Ipvs, 0, true, 1, None);
    let num =
        |v: Option<String>, flag: &str| -> Result<usize, String> { v.ok_or(format!("{flag} needs a value"))?.parse().map_err(|e| format!("{flag}: {e}")) };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--nodes" => spec = Some(Spec::scaled(num(args.next(), "--nodes")?)),
            "--hosts" => hosts = num(args.next(), "--hosts")?,
            "--pods" => pods = Some(num(args.next(), "--pods")?),
            "--services" => services = Some(num(args.next(), "--services")?),
            "--outage" => outage = num(args.next(), "--outage")?,
            "--seed" => seed = num(args.next(), "--seed")? as u64,
            "--no-faults" => faults = false,
            "--proxy" => {
                proxy = match args.next().as_deref() {
                    Some("ipvs") => Proxy::Ipvs,
                    Some("iptables") => Proxy::Iptables,
                    other => return Err(format!("--proxy: expected ipvs or iptables, not {other:?}")),
                }
            }
            "--out" => out = args.next().map(PathBuf::from),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let mut spec = spec.ok_or("--nodes is required")?;
    let out = out.ok_or("--out is required")?;
    spec.hosts = hosts;
    spec.pods = pods.unwrap_or(spec.pods);
    spec.services = services.unwrap_or(spec.services);
    spec.proxy = proxy;
    spec.outage_services = outage;
    spec.faults = faults;
    spec.seed = seed;
    let start = std::time::Instant::now();
    let g = generate(&spec, &out).map_err(|e| format!("writing {}: {e}", out.display()))?;
    for e in &g.expected {
        println!("{e}");
    }
    for (rule, n) in &g.expected_skips {
        println!("skip {rule} x{n}");
    }
    eprintln!("{} files, {:.1} MB in {:.2}s", g.files, g.bytes as f64 / 1e6, start.elapsed().as_secs_f64());
    Ok(())
}
