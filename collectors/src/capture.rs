//! The capture-directory reader (`capture-format.md`, v1): every file is
//! optional, a missing file means "not collected", a broken file is an error
//! naming the file and place while the rest is still read, and unknown files
//! are noted, never fatal. Start at [`read`].

use crate::error::ParseError;
use crate::{etcd, iproute, ipvs, iptables, k8s, kubelet, resolv_conf, subnet_env, sysctl};
use netdoctor_engine::model::{Fact, Facts, Host};
use std::path::Path;

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

const NODE_FILES: &[&str] = &[
    "ip-link.json",
    "ip-addr.json",
    "ip-route.json",
    "ip-route6.json",
    "ip-rule.json",
    "ip-neigh.json",
    "bridge-fdb.json",
    "ipvs.txt",
    "iptables-save.txt",
    "resolv.conf",
    "kubelet-resolv.conf",
    "kubelet-config.yaml",
    "kubelet-args.txt",
    "sysctl.txt",
    "subnet.env",
];

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut v: Vec<_> = std::fs::read_dir(dir)?.filter_map(Result::ok).collect();
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

/// Reads a capture directory into facts.
pub fn read(dir: &Path) -> Result<Facts, CaptureError> {
    let shown = dir.display().to_string();
    if !dir.is_dir() {
        return Err(CaptureError::NotADirectory(shown));
    }
    let mut facts = Facts::default();
    let entries = sorted_entries(dir).map_err(|e| CaptureError::Io(shown.clone(), e))?;
    let known = entries.iter().any(|e| matches!(e.file_name().to_str(), Some("meta.json" | "cluster" | "etcd" | "nodes")));
    if !known {
        return Err(CaptureError::NotADirectory(shown));
    }
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let path = e.path();
        match name.as_str() {
            "meta.json" => read_meta(&path, &mut facts),
            "cluster" if path.is_dir() => read_cluster(&path, &mut facts),
            "etcd" if path.is_dir() => read_etcd(&path, &mut facts),
            "nodes" if path.is_dir() => read_nodes(&path, &mut facts),
            // Captures document themselves; that is not an unknown file.
            "README.md" | "README" => {}
            _ => facts.notes.push(format!("ignored {name}: not part of the capture format")),
        }
    }
    Ok(facts)
}

fn read_text(path: &Path) -> Result<String, ParseError> {
    Ok(std::fs::read_to_string(path)?)
}

fn read_meta(path: &Path, facts: &mut Facts) {
    let parsed = read_text(path).and_then(|t| Ok(serde_json::from_str::<serde_json::Value>(&t)?));
    match parsed {
        Ok(v) => {
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            facts.meta.format = s("format");
            facts.meta.captured_at = s("captured_at");
            facts.meta.cluster = s("cluster");
            // Extension: `collectors: {name: {up, last_success, stale_after_seconds, error}}`
            // records how live collectors fared when `netdoctor capture` wrote the directory.
            if let Some(cs) = v.get("collectors").and_then(|c| c.as_object()) {
                for (name, c) in cs {
                    facts.collectors.push(netdoctor_engine::model::CollectorStatus {
                        name: name.clone(),
                        up: c.get("up").and_then(|u| u.as_bool()).unwrap_or(false),
                        last_success: c.get("last_success").and_then(|x| x.as_str()).map(str::to_string),
                        stale_after_seconds: c.get("stale_after_seconds").and_then(|x| x.as_i64()),
                        error: c.get("error").and_then(|x| x.as_str()).map(str::to_string),
                    });
                }
            }
            if let Some(f) = &facts.meta.format {
                if f != "netdoctor-capture/v1" {
                    facts.notes.push(format!("meta.json: format {f:?} is not netdoctor-capture/v1; reading it as v1"));
                }
            }
        }
        Err(e) => facts.error("meta.json", e.to_string()),
    }
}

fn read_cluster(dir: &Path, facts: &mut Facts) {
    let mut reader = k8s::ClusterReader::default();
    let Ok(entries) = sorted_entries(dir) else {
        facts.error("cluster", "cannot list directory");
        return;
    };
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let rel = format!("cluster/{name}");
        let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if !(yaml || name.ends_with(".json")) || !e.path().is_file() {
            facts.notes.push(format!("ignored {rel}: not a .json or .yaml file"));
            continue;
        }
        let mut bad: Vec<(String, String)> = Vec::new();
        let streamed = k8s::for_each_object_in_file(&e.path(), yaml, &mut |path, obj| {
            if let Err(err) = reader.add(facts, &rel, path, &obj) {
                let kind = obj.get("kind").and_then(|k| k.as_str()).unwrap_or("?").to_lowercase();
                bad.push((format!("{kind}s"), err.to_string()));
            }
        });
        for (kind, err) in bad {
            facts.error(&rel, err);
            facts.mark_broken(&kind, &rel);
        }
        if let Err(err) = streamed {
            facts.error(&rel, err.to_string());
            facts.mark_broken("cluster", &rel);
        }
    }
    reader.finish(facts);
}

fn read_etcd(dir: &Path, facts: &mut Facts) {
    let Ok(entries) = sorted_entries(dir) else {
        facts.error("etcd", "cannot list directory");
        return;
    };
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        let rel = format!("etcd/{name}");
        if !name.ends_with(".json") {
            facts.notes.push(format!("ignored {rel}: not a .json file"));
            continue;
        }
        match read_text(&e.path()).and_then(|t| etcd::parse(&t, &rel)) {
            Ok(dump) => {
                if dump.config.is_none() && dump.leases.is_empty() && dump.bad_keys.is_empty() {
                    facts.notes.push(format!("{rel}: no flannel keys (<prefix>/config, <prefix>/subnets/...) found"));
                    continue;
                }
                facts.mark_collected("etcd/flannel", &rel);
                for (key, msg) in &dump.bad_keys {
                    facts.error(&rel, format!("key {key}: {msg}"));
                    facts.mark_broken("etcd/flannel", &rel);
                }
                if let Some(c) = dump.config {
                    facts.flannel_etcd_config = Some(c);
                }
                facts.flannel_leases.extend(dump.leases);
            }
            Err(err) => {
                facts.error(&rel, err.to_string());
                facts.mark_broken("etcd/flannel", &rel);
            }
        }
    }
}

/// Parses one node file into its fact slot, recording errors.
fn fact<T>(facts: &mut Facts, dir: &Path, rel_dir: &str, file: &str, parse: impl Fn(&str) -> Result<T, ParseError>) -> Fact<T> {
    let path = dir.join(file);
    if !path.exists() {
        return Fact::Missing;
    }
    let source = format!("{rel_dir}/{file}");
    match read_text(&path).and_then(|t| parse(&t)) {
        Ok(value) => Fact::Present { source, value },
        Err(e) => {
            let message = e.to_string();
            facts.error(&source, &message);
            Fact::Broken { source, message }
        }
    }
}

fn read_nodes(dir: &Path, facts: &mut Facts) {
    let Ok(entries) = sorted_entries(dir) else {
        facts.error("nodes", "cannot list directory");
        return;
    };
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        if !e.path().is_dir() {
            facts.notes.push(format!("ignored nodes/{name}: not a host folder"));
            continue;
        }
        let host = read_host(&e.path(), &name, facts);
        facts.hosts.push(host);
    }
}

fn read_host(dir: &Path, name: &str, facts: &mut Facts) -> Host {
    let rel = format!("nodes/{name}");
    if let Ok(entries) = sorted_entries(dir) {
        for e in entries {
            let f = e.file_name().to_string_lossy().to_string();
            if !NODE_FILES.contains(&f.as_str()) {
                facts.notes.push(format!("ignored {rel}/{f}: not part of the capture format"));
            }
        }
    }
    let mut host = Host { name: name.to_string(), ..Default::default() };
    host.links = fact(facts, dir, &rel, "ip-link.json", iproute::parse_links);
    let addr = fact(facts, dir, &rel, "ip-addr.json", iproute::parse_addrs);
    // `ip -d addr` carries the link fields too: use them when ip-link.json is absent.
    host.addrs = match addr {
        Fact::Present { source, value: (links, addrs) } => {
            if matches!(host.links, Fact::Missing) {
                host.links = Fact::Present { source: source.clone(), value: links };
            }
            Fact::Present { source, value: addrs }
        }
        Fact::Broken { source, message } => Fact::Broken { source, message },
        Fact::Missing => Fact::Missing,
    };
    host.routes = fact(facts, dir, &rel, "ip-route.json", |t| iproute::parse_routes(t, false));
    host.routes6 = fact(facts, dir, &rel, "ip-route6.json", |t| iproute::parse_routes(t, true));
    host.rules = fact(facts, dir, &rel, "ip-rule.json", iproute::parse_rules);
    host.neighbours = fact(facts, dir, &rel, "ip-neigh.json", iproute::parse_neigh);
    host.fdb = fact(facts, dir, &rel, "bridge-fdb.json", iproute::parse_fdb);
    host.ipvs = fact(facts, dir, &rel, "ipvs.txt", ipvs::parse);
    host.iptables = fact(facts, dir, &rel, "iptables-save.txt", iptables::parse);
    host.resolv_conf = fact(facts, dir, &rel, "resolv.conf", resolv_conf::parse);
    host.kubelet_resolv_conf = fact(facts, dir, &rel, "kubelet-resolv.conf", resolv_conf::parse);
    host.kubelet_config = fact(facts, dir, &rel, "kubelet-config.yaml", kubelet::parse_config);
    host.kubelet_args = fact(facts, dir, &rel, "kubelet-args.txt", kubelet::parse_args);
    host.sysctl = fact(facts, dir, &rel, "sysctl.txt", sysctl::parse);
    host.subnet_env = fact(facts, dir, &rel, "subnet.env", subnet_env::parse);
    // An IPv6-only ip-route6.json duplicates IPv6 routes the both-family file may already hold.
    if let (Some(v4), Fact::Present { value: v6, .. }) = (host.routes.get(), &mut host.routes6) {
        let has_v6 = v4.iter().any(|r| !r.is_v4());
        if has_v6 {
            v6.retain(|r| !v4.iter().any(|x| x.dst == r.dst && x.table == r.table && x.kind == r.kind && x.dev == r.dev));
        }
    }
    host
}
