//! The capture-directory reader (`capture-format.md`, v1), the first
//! [`Collector`]: every file is optional, a missing file means "not
//! collected", a file that cannot be read is an error naming the file and the
//! place while the rest is still read, and unknown files are noted, never
//! fatal. Only regular files are read, each under a size cap; memory stays
//! proportional to the facts kept (Lists and host arrays are streamed).
//!
//! Start at [`read`]. The one table mapping host facts to capture files is
//! [`host_file`]; no other part of netdoctor spells a capture path.

use crate::error::ParseError;
use crate::util::{escape_name, open_regular, read_text};
use crate::{etcd, iptables, ipvs, k8s, kubelet, netlink, resolv_conf, subnet_env, sysctl};
use netdoctor_engine::collector::{Collection, Collector};
use netdoctor_engine::kind::{FactKind, Scope};
use netdoctor_engine::model::{CollectorStatus, HostFacts};
use netdoctor_engine::store::{FactSet, Locator, Object};
use netdoctor_engine::{Fact, Source};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a whole capture could not be read (the run fails with exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The directory does not exist or is not a directory.
    #[error("{0}: not a capture directory (expected meta.json, cluster/, etcd/ or nodes/)")]
    NotADirectory(String),
    /// The directory could not be listed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// Limits of the reader.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Largest file under `cluster/` and `etcd/` (default 2 GiB).
    pub max_cluster_file: u64,
    /// Largest host file under `nodes/<host>/` and `meta.json` (default 256 MiB).
    pub max_host_file: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { max_cluster_file: 2 << 30, max_host_file: 256 << 20 }
    }
}

/// The capture file that holds a host fact kind (`None` for cluster kinds).
pub fn host_file(kind: FactKind) -> Option<&'static str> {
    use FactKind::*;
    Some(match kind {
        Links => "ip-link.json",
        Addrs => "ip-addr.json",
        Routes => "ip-route.json",
        Routes6 => "ip-route6.json",
        IpRules => "ip-rule.json",
        Neighbours => "ip-neigh.json",
        Fdb => "bridge-fdb.json",
        Ipvs => "ipvs.txt",
        Iptables => "iptables-save.txt",
        ResolvConf => "resolv.conf",
        KubeletResolvConf => "kubelet-resolv.conf",
        KubeletConfig => "kubelet-config.yaml",
        KubeletArgs => "kubelet-args.txt",
        Sysctl => "sysctl.txt",
        SubnetEnv => "subnet.env",
        Nodes | Pods | Services | Endpoints | Deployments | ComponentStatuses | IpPools | BlockAffinities | CorednsConfig | KubeProxyConfig | KubeadmConfig
        | FlannelNetConf | FlannelEtcd => return None,
    })
}

/// How a capture names the host facts it does not hold (skip reasons).
#[derive(Debug)]
pub struct CaptureLocator;

impl Locator for CaptureLocator {
    fn host_fact(&self, host: &str, kind: FactKind) -> String {
        format!("nodes/{host}/{}", host_file(kind).unwrap_or("?"))
    }
    fn no_host(&self, host: &str, kind: FactKind) -> String {
        format!("host {host} not captured (no nodes/{host}/ folder): {} not collected", host_file(kind).unwrap_or("?"))
    }
    fn host(&self, host: &str) -> String {
        format!("captured host nodes/{host}/")
    }
}

/// The capture directory as a [`Collector`] (`serve --capture` re-reads it on change).
#[derive(Debug, Clone)]
pub struct CaptureCollector {
    pub dir: PathBuf,
    pub opts: ReadOptions,
}

#[async_trait::async_trait]
impl Collector for CaptureCollector {
    fn name(&self) -> String {
        "capture".to_string()
    }
    /// Reads the directory (blocking file I/O: call from a blocking-capable context).
    async fn collect(&self) -> Result<Collection, netdoctor_engine::Error> {
        read(&self.dir, &self.opts)
            .map(|s| Collection::Facts(Box::new(s)))
            .map_err(|e| netdoctor_engine::Error::Collect { collector: "capture".into(), message: e.to_string() })
    }
}

/// Entries of a directory, sorted by name.
fn sorted_entries(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut v: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

/// True when the entry is a directory (following symlinks).
fn is_dir(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_dir())
}

/// Reads a capture directory into facts.
pub fn read(dir: &Path, opts: &ReadOptions) -> Result<FactSet, CaptureError> {
    let shown = dir.display().to_string();
    if !is_dir(dir) {
        return Err(CaptureError::NotADirectory(shown));
    }
    let entries = sorted_entries(dir).map_err(|e| CaptureError::Io(shown.clone(), e))?;
    let known = entries.iter().any(|e| matches!(e.file_name().to_str(), Some("meta.json" | "cluster" | "etcd" | "nodes")));
    if !known {
        return Err(CaptureError::NotADirectory(shown));
    }
    let mut set = FactSet::new();
    set.locator = Some(Arc::new(CaptureLocator));
    for e in entries {
        let name = escape_name(&e.file_name());
        let path = e.path();
        match name.as_str() {
            "meta.json" => read_meta(&path, opts, &mut set),
            "cluster" if is_dir(&path) => read_cluster(&path, opts, &mut set),
            "etcd" if is_dir(&path) => read_etcd(&path, opts, &mut set),
            "nodes" if is_dir(&path) => read_nodes(&path, opts, &mut set),
            "cluster" | "etcd" | "nodes" => set.error(&name, "expected a directory"),
            // Captures document themselves; that is not an unknown file.
            "README.md" | "README" => {}
            _ => set.note(format!("ignored {name}: not part of the capture format")),
        }
    }
    Ok(set)
}

fn read_meta(path: &Path, opts: &ReadOptions, set: &mut FactSet) {
    let parsed = read_text(path, opts.max_host_file).and_then(|t| Ok(serde_json::from_str::<serde_json::Value>(&t)?));
    let v = match parsed {
        Ok(v) => v,
        Err(e) => return set.error("meta.json", e.to_string()),
    };
    let at = crate::util::At::root(&v, "$");
    if !v.is_object() {
        return set.error("meta.json", format!("$: expected an object, got {}", crate::util::kind_of(&v)));
    }
    let fields = (|| -> Result<_, ParseError> {
        Ok((at.str("format")?.map(str::to_string), at.str("captured_at")?.map(str::to_string), at.str("cluster")?.map(str::to_string)))
    })();
    match fields {
        Ok((format, captured_at, cluster)) => {
            if let Some(t) = &captured_at {
                if netdoctor_engine::time::parse_rfc3339(t).is_none() {
                    set.error("meta.json", format!("$.captured_at: expected an RFC 3339 time, got {t:?}"));
                    return;
                }
            }
            if let Some(f) = &format {
                if f != "netdoctor-capture/v1" {
                    set.note(format!("meta.json: format {f:?} is not netdoctor-capture/v1; reading it as v1"));
                }
            }
            set.meta.format = format;
            set.meta.captured_at = captured_at;
            set.meta.cluster = cluster;
        }
        Err(e) => return set.error("meta.json", e.to_string()),
    }
    // Extension: `collectors: {name: {up, last_success, stale_after_seconds, error}}` records how
    // live collectors fared when `netdoctor capture` wrote the directory.
    match at.obj("collectors") {
        Ok(Some(cs)) => {
            let mut out = Vec::new();
            for (name, c) in cs {
                let path = format!("$.collectors.{name}");
                let c = crate::util::At::root(c, &path);
                let st = (|| -> Result<CollectorStatus, ParseError> {
                    let last_success = match c.str("last_success")? {
                        None => None,
                        Some(t) => Some(
                            netdoctor_engine::time::parse_rfc3339(t)
                                .ok_or_else(|| crate::error::shape(format!("{path}.last_success"), format!("an RFC 3339 time, got {t:?}")))?,
                        ),
                    };
                    Ok(CollectorStatus {
                        name: name.clone(),
                        up: c.bool("up")?.unwrap_or(false),
                        last_success,
                        duration_seconds: 0.0,
                        stale_after_seconds: c.int("stale_after_seconds", 0, i64::MAX)?,
                        error: c.str("error")?.map(str::to_string),
                        no_data: c.bool("no_data")?.unwrap_or(false),
                    })
                })();
                match st {
                    Ok(s) => out.push(s),
                    Err(e) => set.error("meta.json", e.to_string()),
                }
            }
            set.set_collectors(out);
        }
        Ok(None) => {}
        Err(e) => set.error("meta.json", e.to_string()),
    }
}

fn read_cluster(dir: &Path, opts: &ReadOptions, set: &mut FactSet) {
    let entries = match sorted_entries(dir) {
        Ok(e) => e,
        Err(e) => {
            set.error("cluster", format!("cannot list directory: {e}"));
            for k in k8s::all_cluster_object_kinds() {
                mark_broken(set, k, Source::file("cluster"), &format!("cannot list directory: {e}"));
            }
            return;
        }
    };
    let mut reader = k8s::ClusterReader::default();
    for e in entries {
        let name = escape_name(&e.file_name());
        let rel = format!("cluster/{name}");
        let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if !(yaml || name.ends_with(".json")) {
            set.note(format!("ignored {rel}: not a .json or .yaml file"));
            continue;
        }
        // Objects are projected as they stream; they are applied only when the whole file
        // read, so a file broken half-way hands out no object.
        let mut projected: Vec<(String, Projected)> = Vec::new();
        let streamed = open_regular(&e.path(), opts.max_cluster_file).and_then(|r| {
            k8s::for_each_object(r, yaml, &mut |path, v| {
                if path == k8s::RESTART {
                    projected.clear();
                    return;
                }
                let src = Source::file(&rel);
                let res = k8s::project(&v, path, &src).map_err(|err| (k8s::kinds_of(&v), err.to_string()));
                if res.is_ok() && v.get("__empty_list").is_none() {
                    track(set, &v);
                }
                projected.push((path.to_string(), res));
            })
        });
        match streamed {
            Ok(()) => {
                let src = Source::file(&rel);
                for (path, res) in projected {
                    match res {
                        Ok(item) => reader.apply(set, &src, item),
                        Err((kinds, err)) => {
                            // The message carries the JSON path (`$.items[3].spec...`).
                            let _ = &path;
                            if kinds.is_empty() {
                                set.error(&rel, err.clone());
                            }
                            for k in kinds {
                                set.collected(k, src.clone());
                                mark_broken(set, k, src.clone(), &err);
                            }
                        }
                    }
                }
            }
            Err(err) => {
                // Nothing of the file is used: every kind it could have held is unknown.
                let msg = err.to_string();
                set.error(&rel, msg.clone());
                for k in k8s::all_cluster_object_kinds() {
                    mark_broken_quiet(set, k, Source::file(&rel), &msg);
                }
            }
        }
    }
    reader.finish(set);
}

/// One object of a cluster file: projected, or the kinds it could be and the error.
type Projected = Result<k8s::Item, (Vec<FactKind>, String)>;

/// Records timestamps of an object (the capture time when meta.json has none).
fn track(set: &mut FactSet, v: &serde_json::Value) {
    fn walk(set: &mut FactSet, v: &serde_json::Value, depth: usize) {
        if depth > 6 {
            return;
        }
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if matches!(k.as_str(), "creationTimestamp" | "lastTransitionTime" | "lastHeartbeatTime" | "startedAt" | "finishedAt" | "startTime") {
                        if let Some(t) = x.as_str() {
                            set.saw_timestamp(t);
                        }
                    } else if k != "managedFields" && k != "annotations" {
                        walk(set, x, depth + 1);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(set, x, depth + 1)),
            _ => {}
        }
    }
    walk(set, v, 0)
}

/// Marks a cluster kind broken (ConfigMap kinds through their fact), reporting the error.
fn mark_broken(set: &mut FactSet, k: FactKind, source: Source, err: &str) {
    if k8s::CONFIG_KINDS.contains(&k) {
        k8s::set_config(set, k, Fact::Broken { source, error: err.to_string() });
    } else {
        set.broken(k, source, err.to_string());
    }
}

/// Marks a cluster kind broken without reporting the error again (it was reported once).
fn mark_broken_quiet(set: &mut FactSet, k: FactKind, source: Source, err: &str) {
    let before = set.errors().len();
    mark_broken(set, k, source, err);
    set.truncate_errors(before);
}

fn read_etcd(dir: &Path, opts: &ReadOptions, set: &mut FactSet) {
    let entries = match sorted_entries(dir) {
        Ok(e) => e,
        Err(e) => {
            set.broken(FactKind::FlannelEtcd, Source::file("etcd"), format!("cannot list directory: {e}"));
            return;
        }
    };
    for e in entries {
        let name = escape_name(&e.file_name());
        let rel = format!("etcd/{name}");
        if !name.ends_with(".json") {
            set.note(format!("ignored {rel}: not a .json file"));
            continue;
        }
        match read_text(&e.path(), opts.max_cluster_file).and_then(|t| etcd::parse(&t, &rel)) {
            Ok(dump) => {
                if dump.config.is_none() && dump.leases.is_empty() && dump.bad_keys.is_empty() {
                    set.note(format!("{rel}: no flannel keys (<prefix>/config, <prefix>/subnets/...) found"));
                    continue;
                }
                set.collected(FactKind::FlannelEtcd, Source::file(&rel));
                for (key, msg) in &dump.bad_keys {
                    set.broken(FactKind::FlannelEtcd, Source::at(&rel, key), msg.clone());
                }
                if let Some(c) = dump.config {
                    set.set_flannel_etcd_config(Some(c));
                }
                for l in dump.leases {
                    set.apply(Object::Lease(l));
                }
            }
            Err(err) => set.broken(FactKind::FlannelEtcd, Source::file(&rel), err.to_string()),
        }
    }
}

fn read_nodes(dir: &Path, opts: &ReadOptions, set: &mut FactSet) {
    let entries = match sorted_entries(dir) {
        Ok(e) => e,
        Err(e) => return set.error("nodes", format!("cannot list directory: {e}")),
    };
    for e in entries {
        let name = escape_name(&e.file_name());
        if !is_dir(&e.path()) {
            set.note(format!("ignored nodes/{name}: not a host folder"));
            continue;
        }
        read_host(&e.path(), &name, opts, set);
    }
}

/// Reads one host file into a fact: missing → Missing, unreadable → Broken with the error.
fn fact<T>(dir: &Path, rel_dir: &str, kind: FactKind, parse: impl FnOnce(&Path) -> Result<T, ParseError>) -> Fact<T> {
    let file = host_file(kind).unwrap_or("?");
    let path = dir.join(file);
    if std::fs::symlink_metadata(&path).is_err() {
        return Fact::Missing;
    }
    let source = Source::file(format!("{rel_dir}/{file}"));
    match parse(&path) {
        Ok(value) => Fact::Present { source, value },
        Err(e) => Fact::Broken { source, error: e.to_string() },
    }
}

fn read_host(dir: &Path, name: &str, opts: &ReadOptions, set: &mut FactSet) {
    let rel = format!("nodes/{name}");
    match sorted_entries(dir) {
        Ok(entries) => {
            let known: Vec<&str> = FactKind::of(Scope::Host).filter_map(host_file).collect();
            for e in entries {
                let f = escape_name(&e.file_name());
                if !known.contains(&f.as_str()) {
                    set.note(format!("ignored {rel}/{f}: not part of the capture format"));
                }
            }
        }
        Err(e) => {
            set.error(&rel, format!("cannot list directory: {e}"));
            return;
        }
    }
    let cap = opts.max_host_file;
    let text = |p: &Path| read_text(p, cap);
    let stream = |p: &Path| open_regular(p, cap);
    let mut h = HostFacts {
        links: fact(dir, &rel, FactKind::Links, |p| netlink::read(stream(p)?, netlink::link_from)),
        routes: fact(dir, &rel, FactKind::Routes, |p| netlink::read(stream(p)?, |a| netlink::route_from(a, false))),
        routes6: fact(dir, &rel, FactKind::Routes6, |p| netlink::read(stream(p)?, |a| netlink::route_from(a, true))),
        rules: fact(dir, &rel, FactKind::IpRules, |p| netlink::read(stream(p)?, netlink::rule_from)),
        neighbours: fact(dir, &rel, FactKind::Neighbours, |p| netlink::read(stream(p)?, netlink::neigh_from)),
        fdb: fact(dir, &rel, FactKind::Fdb, |p| netlink::read(stream(p)?, netlink::fdb_from)),
        ipvs: fact(dir, &rel, FactKind::Ipvs, |p| ipvs::parse(&text(p)?)),
        iptables: fact(dir, &rel, FactKind::Iptables, |p| iptables::parse(&text(p)?)),
        resolv_conf: fact(dir, &rel, FactKind::ResolvConf, |p| resolv_conf::parse(&text(p)?)),
        kubelet_resolv_conf: fact(dir, &rel, FactKind::KubeletResolvConf, |p| resolv_conf::parse(&text(p)?)),
        kubelet_config: fact(dir, &rel, FactKind::KubeletConfig, |p| kubelet::parse_config(&text(p)?)),
        kubelet_args: fact(dir, &rel, FactKind::KubeletArgs, |p| kubelet::parse_args(&text(p)?)),
        sysctl: fact(dir, &rel, FactKind::Sysctl, |p| sysctl::parse(&text(p)?)),
        subnet_env: fact(dir, &rel, FactKind::SubnetEnv, |p| subnet_env::parse(&text(p)?)),
        ..Default::default()
    };
    // `ip -d addr` carries the link fields too: use them when ip-link.json is absent.
    match fact(dir, &rel, FactKind::Addrs, |p| netlink::split_addrs(netlink::read(stream(p)?, netlink::addr_entry_from)?)) {
        Fact::Present { source, value: (links, addrs) } => {
            if matches!(h.links, Fact::Missing) {
                h.links = Fact::Present { source: source.clone(), value: links };
            }
            h.addrs = Fact::Present { source, value: addrs };
        }
        Fact::Broken { source, error } => h.addrs = Fact::Broken { source, error },
        Fact::Missing => {}
    }
    // An IPv6-only ip-route6.json duplicates IPv6 routes the both-family file may already hold.
    if let (Some(v4), Fact::Present { value: v6, .. }) = (h.routes.get(), &mut h.routes6) {
        if v4.iter().any(|r| !r.is_v4()) {
            v6.retain(|r| !v4.iter().any(|x| x.dst == r.dst && x.table == r.table && x.kind == r.kind && x.dev == r.dev));
        }
    }
    set.set_host_facts(name, h);
}
