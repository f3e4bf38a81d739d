//! Live collection for `eval` without `--capture`, for `capture` and for
//! `serve`: which collectors run (the cluster's k8s and etcd, and per host
//! netlink, ipvs, iptables, resolv_conf, sysctl, subnet_env, kubelet), running
//! them, and saying what each did: collected in how long, skipped and why, or
//! failed with what error.

use clap::Args;
use netdoctor_collectors::live::cluster::{EtcdApi, EtcdCollector, EtcdOptions, K8sCollector, K8sOptions};
use netdoctor_collectors::live::host::{host_collectors, HostTarget};
use netdoctor_collectors::live::LiveLocator;
use netdoctor_engine::collector::{record, Collection, Collector};
use netdoctor_engine::model::CollectorStatus;
use netdoctor_engine::store::{FactSet, FactStore};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one collection may take before it counts as failed.
pub const COLLECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Where live facts come from. Without any flag: this host (named by its
/// hostname, or --node) and the cluster the default kubeconfig reaches.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Live collection")]
pub struct LiveArgs {
    /// kubeconfig for the API server. Default: $KUBECONFIG, then ~/.kube/config, then the
    /// pod's service account (in-cluster). Without any, the cluster rules say skipped.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// This host's node name (default: the hostname). The DaemonSet mode: only this node's
    /// Pods are watched (a spec.nodeName field selector), e.g. --node "$NODE_NAME".
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// flannel's etcd, comma-separated (e.g. https://10.0.0.1:2379). Without it, etcd is not
    /// read (flannel with the kube subnet manager keeps its leases in Node annotations).
    #[arg(long, value_name = "URLS", value_delimiter = ',')]
    pub etcd_endpoints: Vec<String>,
    /// flannel's etcd prefix (its -etcd-prefix); /flannel/network is also common.
    #[arg(long, value_name = "PREFIX", default_value = "/coreos.com/network")]
    pub etcd_prefix: String,
    /// etcd API: v3 (flannel >= 0.18), v2 (older flannel, the HTTP keys API; etcd needs
    /// --enable-v2), or auto (v3 unless only v2 holds flannel's keys).
    #[arg(long, value_name = "API", default_value = "auto")]
    pub etcd_api: EtcdApi,
    /// CA certificate for etcd's TLS (flannel's -etcd-cafile).
    #[arg(long, value_name = "FILE")]
    pub etcd_cafile: Option<PathBuf>,
    /// Client certificate for etcd (flannel's -etcd-certfile).
    #[arg(long, value_name = "FILE")]
    pub etcd_certfile: Option<PathBuf>,
    /// Client key for etcd (flannel's -etcd-keyfile).
    #[arg(long, value_name = "FILE")]
    pub etcd_keyfile: Option<PathBuf>,
    /// Collect node NAME's host facts from a network namespace: a path (/proc/PID/ns/net of a
    /// kind or k3d node container, /var/run/netns/X) or a name under /var/run/netns.
    /// Repeatable; when given, this host itself is not collected.
    /// Example: --host kind-worker=/proc/4242/ns/net
    #[arg(long = "host", value_name = "NAME=NETNS", value_parser = parse_host)]
    pub hosts: Vec<(String, PathBuf)>,
    /// Where the host's files are (etc/resolv.conf, proc/sys, run/flannel/subnet.env,
    /// var/lib/kubelet): /host in a DaemonSet that mounts them there. NAME=DIR sets it for
    /// one --host. Repeatable. Default: /
    #[arg(long = "host-root", value_name = "[NAME=]DIR")]
    pub host_roots: Vec<String>,
    /// Do not read the cluster (API server, etcd): host facts only.
    #[arg(long)]
    pub no_cluster: bool,
    /// Do not read any host: cluster facts only.
    #[arg(long, conflicts_with = "hosts")]
    pub no_host: bool,
}

fn parse_host(s: &str) -> Result<(String, PathBuf), String> {
    let (name, ns) = s.split_once('=').ok_or_else(|| format!("{s:?}: expected NAME=NETNS, e.g. node2=/var/run/netns/node2"))?;
    if name.is_empty() || ns.is_empty() {
        return Err(format!("{s:?}: expected NAME=NETNS, e.g. node2=/var/run/netns/node2"));
    }
    let path = if ns.contains('/') { PathBuf::from(ns) } else { PathBuf::from("/var/run/netns").join(ns) };
    Ok((name.to_string(), path))
}

/// The collectors a run uses, and what it knows about them before running any.
pub struct Plan {
    /// The cluster's collectors (none with --no-cluster).
    pub k8s: Option<K8sCollector>,
    pub etcd: Option<EtcdCollector>,
    /// One collector per source per host.
    pub hosts: Vec<Box<dyn Collector>>,
    pub locator: LiveLocator,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "localhost".into())
}

impl LiveArgs {
    /// The root for one host: `NAME=DIR` for it, else a plain `DIR`, else `/`.
    fn root_for(&self, node: &str) -> anyhow::Result<PathBuf> {
        let mut plain = None;
        for r in &self.host_roots {
            match r.split_once('=') {
                Some((n, dir)) if n == node => return Ok(PathBuf::from(dir)),
                Some((n, _)) if !self.hosts.iter().any(|(h, _)| h == n) => {
                    anyhow::bail!("--host-root {r}: no --host {n}=NETNS to apply it to")
                }
                Some(_) => {}
                None => plain = Some(PathBuf::from(r)),
            }
        }
        Ok(plain.unwrap_or_else(|| PathBuf::from("/")))
    }

    /// The collectors for these flags.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let mut hosts: Vec<Box<dyn Collector>> = Vec::new();
        let mut locator = LiveLocator::default();
        let (mut k8s, mut etcd) = (None, None);
        if self.no_cluster {
            locator.no_data.insert("k8s".into(), "not read (--no-cluster)".into());
            locator.no_data.insert("etcd".into(), "not read (--no-cluster)".into());
        } else {
            k8s = Some(K8sCollector::new(K8sOptions { kubeconfig: self.kubeconfig.clone(), node: self.node.clone(), ..Default::default() }));
            etcd = Some(EtcdCollector::new(EtcdOptions {
                endpoints: self.etcd_endpoints.clone(),
                prefix: self.etcd_prefix.clone(),
                api: self.etcd_api,
                ca_file: self.etcd_cafile.clone(),
                cert_file: self.etcd_certfile.clone(),
                key_file: self.etcd_keyfile.clone(),
            }));
        }
        let mut targets = Vec::new();
        if !self.no_host {
            if self.hosts.is_empty() {
                let node = self.node.clone().unwrap_or_else(hostname);
                targets.push(HostTarget { node, netns: None, root: self.root_for("")? });
            }
            for (node, ns) in &self.hosts {
                if targets.iter().any(|t: &HostTarget| &t.node == node) {
                    anyhow::bail!("--host {node}=...: given twice");
                }
                targets.push(HostTarget { node: node.clone(), netns: Some(ns.clone()), root: self.root_for(node)? });
            }
        }
        for t in &targets {
            let place = match &t.netns {
                Some(ns) => format!("network namespace {}", ns.display()),
                None => "this machine".to_string(),
            };
            let root = if t.root == std::path::Path::new("/") { String::new() } else { format!(", files under {}", t.root.display()) };
            locator.hosts.insert(t.node.clone(), format!("{place}{root}"));
            hosts.extend(host_collectors(t));
        }
        Ok(Plan { k8s, etcd, hosts, locator })
    }
}

/// What one live run collected.
pub struct Collected {
    /// Every collector's facts merged, with the live locator.
    pub facts: FactSet,
    pub statuses: Vec<CollectorStatus>,
    /// One line per collector for people: collected in how long, skipped and why, failed.
    pub lines: Vec<String>,
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// One collection: the collector's name, its outcome, how long it took.
pub type Timed = (String, Result<Collection, netdoctor_engine::Error>, Duration);

/// Runs one collection within [`COLLECT_TIMEOUT`]; running past it is a failure.
pub async fn timed(name: String, f: impl std::future::Future<Output = Result<Collection, netdoctor_engine::Error>>) -> Timed {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(COLLECT_TIMEOUT, f).await {
        Ok(o) => o,
        Err(_) => Err(netdoctor_engine::Error::Collect { collector: name.clone(), message: format!("no answer within {}s", COLLECT_TIMEOUT.as_secs()) }),
    };
    (name, outcome, started.elapsed())
}

/// Remembers, for skip reasons, why each collector that had no data had none.
pub fn note_no_data(locator: &mut LiveLocator, outcomes: &[Timed]) {
    for (name, outcome, _) in outcomes {
        if let Ok(Collection::NoData(why)) = outcome {
            locator.no_data.insert(name.clone(), why.clone());
        }
    }
}

/// Runs every collector of the plan once, concurrently, each within [`COLLECT_TIMEOUT`].
/// With `capture`, the cluster collectors also write what they read there (the objects as
/// the API returned them).
pub fn collect_once(plan: Plan, capture: Option<&std::path::Path>) -> anyhow::Result<Collected> {
    use futures::future::{FutureExt, LocalBoxFuture};
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let Plan { k8s, etcd, hosts, mut locator } = plan;
    let mut runs: Vec<LocalBoxFuture<'_, Timed>> = Vec::new();
    if let Some(c) = &k8s {
        runs.push(match capture {
            Some(dir) => timed(c.name(), c.capture(dir)).boxed_local(),
            None => timed(c.name(), c.collect()).boxed_local(),
        });
    }
    if let Some(c) = &etcd {
        runs.push(match capture {
            Some(dir) => timed(c.name(), c.capture(dir)).boxed_local(),
            None => timed(c.name(), c.collect()).boxed_local(),
        });
    }
    runs.extend(hosts.iter().map(|c| timed(c.name(), c.collect()).boxed_local()));
    let outcomes = rt.block_on(futures::future::join_all(runs));
    rt.shutdown_timeout(Duration::from_millis(100));
    let mut store = FactStore::new();
    let mut lines = Vec::new();
    let now = unix_now();
    note_no_data(&mut locator, &outcomes);
    for (name, outcome, took) in outcomes {
        lines.push(describe(&name, &outcome, took));
        record(&mut store, &name, outcome, now, took.as_secs_f64(), None);
    }
    for (noun, why) in &locator.no_data {
        if why.contains("--no-cluster") {
            lines.push(format!("{noun}: skipped: {why}"));
        }
    }
    let statuses: Vec<CollectorStatus> = store.collectors().cloned().collect();
    let mut facts = store.merged();
    facts.locator = Some(Arc::new(locator));
    if facts.meta.captured_at.is_none() {
        facts.meta.captured_at = Some(netdoctor_engine::time::format_rfc3339(now));
    }
    Ok(Collected { facts, statuses, lines })
}

/// One line for people on one collection: collected in how long, skipped and why, failed.
pub fn describe(name: &str, outcome: &Result<Collection, netdoctor_engine::Error>, took: Duration) -> String {
    let secs = took.as_secs_f64();
    match outcome {
        Ok(Collection::Facts(_)) => format!("{name}: collected in {secs:.2}s"),
        Ok(Collection::NoData(why)) => format!("{name}: skipped: {why}"),
        Err(e) => {
            let e = e.to_string();
            format!("{name}: failed after {secs:.2}s: {}", e.strip_prefix(&format!("{name}: ")).unwrap_or(&e))
        }
    }
}

/// Prints the per-source lines to stderr, under a heading.
pub fn print_sources(lines: &[String]) {
    eprintln!("sources:");
    for l in lines {
        eprintln!("  {l}");
    }
}

/// Counts by outcome, for a one-line summary.
pub fn summary(statuses: &[CollectorStatus]) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for s in statuses {
        *by.entry(if !s.up {
            "failed"
        } else if s.no_data {
            "skipped"
        } else {
            "collected"
        })
        .or_default() += 1;
    }
    by.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
}

/// What `netdoctor capture` writes at the top of a capture: everything but these is left
/// alone, and with `--force` these are replaced.
const CAPTURE_ENTRIES: &[&str] = &["meta.json", "cluster", "etcd", "nodes"];

/// Makes `out` ready for a capture: created, or empty, or (with `force`) rid of a previous
/// capture's files.
pub fn prepare_capture_dir(out: &std::path::Path, force: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    match std::fs::read_dir(out) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                if !force {
                    anyhow::bail!("{}: not empty; use --force to write into it (its capture files are replaced)", out.display());
                }
                for e in CAPTURE_ENTRIES {
                    let p = out.join(e);
                    match std::fs::symlink_metadata(&p) {
                        Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?,
                        Ok(_) => std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?,
                        Err(_) => {}
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?,
        Err(e) => return Err(e).with_context(|| format!("{}: not a directory netdoctor can write", out.display())),
    }
    Ok(())
}

/// Writes the rest of a capture after [`collect_once`] with `capture` set (which wrote the
/// cluster's files): meta.json and each host's files.
pub fn finish_capture(c: &Collected, out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    // How each collector fared, in meta.json's `collectors` extension (capture-format.md),
    // so that the capture says what was not collected and why.
    let collectors: serde_json::Map<String, serde_json::Value> = c
        .statuses
        .iter()
        .map(|s| {
            let mut o = serde_json::json!({ "up": s.up, "no_data": s.no_data });
            if let Some(t) = s.last_success {
                o["last_success"] = netdoctor_engine::time::format_rfc3339(t).into();
            }
            if let Some(e) = &s.error {
                o["error"] = e.clone().into();
            }
            (s.name.clone(), o)
        })
        .collect();
    let mut meta = serde_json::json!({ "format": "netdoctor-capture/v1", "captured_at": c.facts.meta.captured_at, "collectors": collectors });
    if let Some(cluster) = &c.facts.meta.cluster {
        meta["cluster"] = cluster.clone().into();
    }
    let meta_path = out.join("meta.json");
    std::fs::write(&meta_path, serde_json::to_string_pretty(&meta)? + "\n").with_context(|| format!("writing {}", meta_path.display()))?;
    for name in c.facts.host_names() {
        if let Some(h) = c.facts.host(name) {
            netdoctor_collectors::write::host::write_host(out, name, h).with_context(|| format!("writing {}/nodes/{name}", out.display()))?;
        }
    }
    Ok(())
}
