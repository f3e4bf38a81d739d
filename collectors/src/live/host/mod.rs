//! Host collectors: netlink, ipvs, iptables, resolv_conf, sysctl, subnet_env,
//! kubelet. Each reads one source of one host and returns only that host's
//! facts of its kinds, typed by the same parsers as the capture reader, so a
//! live host and a capture of it give the same facts.
//!
//! A host is a [`HostTarget`]: the node name, the network namespace to read
//! (`None`: this process's own; `/var/run/netns/X` or `/proc/PID/ns/net` for
//! another, e.g. a kind node container) and the root its files are read under
//! (`--host-root`, `/` by default; a DaemonSet mounts the host's `/etc`,
//! `/proc/sys`, `/run` and `/var/lib/kubelet` elsewhere). Namespaced sources
//! (netlink, IPVS, iptables, `net.*` sysctls) are read from a thread inside the
//! namespace; the rest of the process never moves.
//!
//! Start at [`host_collectors`].

pub mod iptables;
pub mod ipvs;
pub mod netlink;
pub mod netns;

use crate::{kubelet, resolv_conf, subnet_env};
use netdoctor_engine::collector::{Collection, Collector};
use netdoctor_engine::kind::FactKind;
use netdoctor_engine::model::{HostFacts, KubeletResolv};
use netdoctor_engine::store::FactSet;
use netdoctor_engine::{Fact, Source};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One host to collect: its node name, network namespace and file root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTarget {
    /// The Node's `metadata.name`: the facts are this host's.
    pub node: String,
    /// The network namespace to read (`/var/run/netns/X`, `/proc/PID/ns/net`); `None` for
    /// this process's own.
    pub netns: Option<PathBuf>,
    /// Where the host's files are (`/`, or where a DaemonSet mounted them).
    pub root: PathBuf,
}

impl HostTarget {
    /// This machine: its own namespace, files under `/`.
    pub fn local(node: impl Into<String>) -> HostTarget {
        HostTarget { node: node.into(), netns: None, root: PathBuf::from("/") }
    }

    /// `<root>/<path>` for an absolute host path.
    pub fn path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
    }

    /// How the namespace is named in sources and errors.
    fn ns_label(&self) -> String {
        match &self.netns {
            Some(p) => p.display().to_string(),
            None => "own network namespace".to_string(),
        }
    }
}

/// The sources of a host, by the noun their capture reader and status use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSource {
    Netlink,
    Ipvs,
    Iptables,
    ResolvConf,
    Sysctl,
    SubnetEnv,
    Kubelet,
}

impl HostSource {
    /// Every host source, in collection order.
    pub const ALL: [HostSource; 7] =
        [HostSource::Netlink, HostSource::Ipvs, HostSource::Iptables, HostSource::ResolvConf, HostSource::Sysctl, HostSource::SubnetEnv, HostSource::Kubelet];

    /// The noun (`netlink`, `resolv_conf`, ...).
    pub fn noun(self) -> &'static str {
        match self {
            HostSource::Netlink => "netlink",
            HostSource::Ipvs => "ipvs",
            HostSource::Iptables => "iptables",
            HostSource::ResolvConf => "resolv_conf",
            HostSource::Sysctl => "sysctl",
            HostSource::SubnetEnv => "subnet_env",
            HostSource::Kubelet => "kubelet",
        }
    }

    /// The host fact kinds the source provides.
    pub fn kinds(self) -> &'static [FactKind] {
        use FactKind::*;
        match self {
            HostSource::Netlink => &[Links, Addrs, Routes, IpRules, Neighbours, Fdb],
            HostSource::Ipvs => &[Ipvs],
            HostSource::Iptables => &[Iptables],
            HostSource::ResolvConf => &[ResolvConf],
            HostSource::Sysctl => &[Sysctl],
            HostSource::SubnetEnv => &[SubnetEnv],
            HostSource::Kubelet => &[KubeletConfig, KubeletArgs, KubeletResolvConf],
        }
    }
}

/// One source of one host, as a [`Collector`] named `<noun>/<node>`.
#[derive(Debug, Clone)]
pub struct HostCollector {
    pub source: HostSource,
    pub target: HostTarget,
}

/// One collector per source of the host, each named `<noun>/<node>`.
pub fn host_collectors(target: &HostTarget) -> Vec<Box<dyn Collector>> {
    HostSource::ALL.iter().map(|s| Box::new(HostCollector { source: *s, target: target.clone() }) as Box<dyn Collector>).collect()
}

/// Unix seconds now.
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Largest host file read (the capture reader's default cap for host files).
const MAX_FILE: u64 = 256 << 20;

#[async_trait::async_trait]
impl Collector for HostCollector {
    fn name(&self) -> String {
        format!("{}/{}", self.source.noun(), self.target.node)
    }

    async fn collect(&self) -> Result<Collection, netdoctor_engine::Error> {
        let name = self.name();
        let err = |message: String| netdoctor_engine::Error::Collect { collector: name.clone(), message };
        let src = Source::live(name.clone(), now());
        let t = &self.target;
        let mut set = FactSet::new();
        let node = t.node.as_str();
        match self.source {
            HostSource::Netlink => {
                let f = netlink::collect(t.netns.as_deref(), &t.root).await.map_err(err)?;
                set_host(&mut set, node, FactKind::Links, |h| h.links = Fact::present(src.clone(), f.links));
                set_host(&mut set, node, FactKind::Addrs, |h| h.addrs = Fact::present(src.clone(), f.addrs));
                set_host(&mut set, node, FactKind::Routes, |h| h.routes = Fact::present(src.clone(), f.routes));
                set_host(&mut set, node, FactKind::IpRules, |h| h.rules = Fact::present(src.clone(), f.rules));
                set_host(&mut set, node, FactKind::Neighbours, |h| h.neighbours = Fact::present(src.clone(), f.neighbours));
                set_host(&mut set, node, FactKind::Fdb, |h| h.fdb = Fact::present(src.clone(), f.fdb));
            }
            HostSource::Ipvs => match ipvs::collect(t.netns.as_deref(), &t.root).await.map_err(err)? {
                ipvs::IpvsTable::Missing(why) => return Ok(Collection::NoData(why)),
                ipvs::IpvsTable::Read { table, .. } => set_host(&mut set, node, FactKind::Ipvs, |h| h.ipvs = Fact::present(src.clone(), table)),
                ipvs::IpvsTable::Broken { from, error } => {
                    set_host(&mut set, node, FactKind::Ipvs, |h| h.ipvs = Fact::Broken { source: src.clone(), error: format!("{from}: {error}") })
                }
            },
            HostSource::Iptables => match iptables::collect(t.netns.as_deref()).await.map_err(err)? {
                iptables::Saved::NotInstalled => return Ok(Collection::NoData("iptables-save is not installed".into())),
                iptables::Saved::Text { text, command } => {
                    let fact = match crate::iptables::parse(&text) {
                        Ok(v) => Fact::present(src.clone(), v),
                        Err(e) => Fact::Broken { source: src.clone(), error: format!("{command}: {e}") },
                    };
                    set_host(&mut set, node, FactKind::Iptables, |h| h.iptables = fact);
                }
            },
            HostSource::ResolvConf => {
                let p = t.path("/etc/resolv.conf");
                let Some(fact) = file_fact(&p, &src, resolv_conf::parse) else {
                    return Ok(Collection::NoData(format!("{} does not exist", p.display())));
                };
                set_host(&mut set, node, FactKind::ResolvConf, |h| h.resolv_conf = fact);
            }
            HostSource::SubnetEnv => {
                let p = t.path("/run/flannel/subnet.env");
                let Some(fact) = file_fact(&p, &src, subnet_env::parse) else {
                    return Ok(Collection::NoData(format!("no flannel on this host: {} does not exist", p.display())));
                };
                set_host(&mut set, node, FactKind::SubnetEnv, |h| h.subnet_env = fact);
            }
            HostSource::Sysctl => {
                let map = read_sysctls(t).await.map_err(err)?;
                set_host(&mut set, node, FactKind::Sysctl, |h| h.sysctl = Fact::present(src.clone(), map));
            }
            HostSource::Kubelet => {
                let k = read_kubelet(t, &src).await.map_err(err)?;
                if matches!(k.kubelet_config, Fact::Missing) && matches!(k.kubelet_args, Fact::Missing) {
                    return Ok(Collection::NoData(format!(
                        "no kubelet on this host: no {}, no kubelet process in {}, no {}",
                        t.path("/var/lib/kubelet/config.yaml").display(),
                        t.ns_label(),
                        t.path("/var/lib/kubelet/kubeadm-flags.env").display()
                    )));
                }
                set_host(&mut set, node, FactKind::KubeletConfig, |h| h.kubelet_config = k.kubelet_config);
                set_host(&mut set, node, FactKind::KubeletArgs, |h| h.kubelet_args = k.kubelet_args);
                if !matches!(k.kubelet_resolv_conf, Fact::Missing) {
                    set_host(&mut set, node, FactKind::KubeletResolvConf, |h| h.kubelet_resolv_conf = k.kubelet_resolv_conf);
                }
            }
        }
        Ok(Collection::Facts(Box::new(set)))
    }
}

fn set_host(set: &mut FactSet, node: &str, kind: FactKind, f: impl FnOnce(&mut HostFacts)) {
    set.set_host(node, kind, f);
}

/// A host file as a fact: `None` when it does not exist, Broken (naming the path) when it
/// cannot be read or parsed.
fn file_fact<T>(path: &Path, src: &Source, parse: impl FnOnce(&str) -> Result<T, crate::ParseError>) -> Option<Fact<T>> {
    if std::fs::symlink_metadata(path).is_err() {
        return None;
    }
    Some(match crate::util::read_text(path, MAX_FILE).and_then(|t| parse(&t)) {
        Ok(v) => Fact::present(src.clone(), v),
        Err(e) => Fact::Broken { source: src.clone(), error: format!("{}: {e}", path.display()) },
    })
}

/// Sysctls as `sysctl -a` names them: `net.*` from inside the host's network namespace
/// (the opener's namespace decides what `/proc/sys/net` shows), the others from
/// `<root>/proc/sys`.
pub async fn read_sysctls(t: &HostTarget) -> Result<BTreeMap<String, String>, String> {
    let proc_sys = t.path("/proc/sys");
    match &t.netns {
        None => {
            let (m, _) = netns::run_in(None, move || Ok(read_sysctl_tree(&proc_sys, &[]))).await?;
            Ok(m)
        }
        Some(ns) => {
            let ns = ns.clone();
            let (mut net, id) = netns::run_in(Some(ns.clone()), || Ok(read_sysctl_tree(Path::new("/proc/sys/net"), &["net".to_string()]))).await?;
            netns::still_there(&ns, id)?;
            let (rest, _) = netns::run_in(None, move || {
                let mut m = read_sysctl_tree(&proc_sys, &[]);
                m.retain(|k, _| !k.starts_with("net."));
                Ok(m)
            })
            .await?;
            net.extend(rest);
            Ok(net)
        }
    }
}

/// Reads every readable file under `dir` as `prefix.a.b = value` (a `.` inside a name is
/// written `/`, as `sysctl` does: `net.ipv4.conf.flannel/1.forwarding`). Unreadable and
/// write-only entries are skipped, as `sysctl -a` skips them.
pub fn read_sysctl_tree(dir: &Path, prefix: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk_sysctl(dir, prefix, &mut out, 0);
    out
}

fn walk_sysctl(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, String>, depth: usize) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    if depth > 8 {
        return;
    }
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().replace('.', "/");
        let Ok(ft) = e.file_type() else { continue };
        let mut key = prefix.to_vec();
        key.push(name);
        if ft.is_dir() {
            // binfmt_misc is a filesystem of its own mounted there, not sysctls.
            if key == ["fs", "binfmt_misc"] {
                continue;
            }
            walk_sysctl(&e.path(), &key, out, depth + 1);
        } else if ft.is_file() {
            if let Ok(bytes) = std::fs::read(e.path()) {
                let Ok(text) = String::from_utf8(bytes) else { continue };
                let text = text.trim_end_matches('\n');
                // A multi-line value prints as one `key = line` per line; a reader keeps the last.
                let v = text.rsplit('\n').next().unwrap_or("").trim();
                out.insert(key.join("."), v.to_string());
            }
        }
    }
}

/// The kubelet's facts of a host.
struct KubeletFacts {
    kubelet_config: Fact<KubeletResolv>,
    kubelet_args: Fact<KubeletResolv>,
    kubelet_resolv_conf: Fact<netdoctor_engine::model::ResolvConf>,
}

/// The kubelet's config file, its command line (the `kubelet` process whose network
/// namespace is the host's, else kubeadm-flags.env) and the resolv.conf they hand pods.
async fn read_kubelet(t: &HostTarget, src: &Source) -> Result<KubeletFacts, String> {
    let t = t.clone();
    let src = src.clone();
    let (k, _) = netns::run_in(None, move || Ok(read_kubelet_blocking(&t, &src))).await?;
    Ok(k)
}

fn read_kubelet_blocking(t: &HostTarget, src: &Source) -> KubeletFacts {
    let config = file_fact(&t.path("/var/lib/kubelet/config.yaml"), src, kubelet::parse_config).unwrap_or(Fact::Missing);
    let args = match kubelet_cmdline(t) {
        Some((pid, line)) => match kubelet::parse_args(&line) {
            Ok(v) => Fact::present(src.clone(), v),
            Err(e) => Fact::Broken { source: src.clone(), error: format!("/proc/{pid}/cmdline: {e}") },
        },
        None => file_fact(&t.path("/var/lib/kubelet/kubeadm-flags.env"), src, kubelet::parse_args).unwrap_or(Fact::Missing),
    };
    // A flag overrides the config file, as in the kubelet.
    let chosen = args.get().and_then(|a| a.resolv_conf.clone()).or_else(|| config.get().and_then(|c| c.resolv_conf.clone()));
    let resolv = match chosen.filter(|p| !p.is_empty()) {
        Some(p) => {
            let path = t.path(&p);
            file_fact(&path, src, resolv_conf::parse)
                .unwrap_or_else(|| Fact::Broken { source: src.clone(), error: format!("the kubelet's resolvConf {p} does not exist ({})", path.display()) })
        }
        None => Fact::Missing,
    };
    KubeletFacts { kubelet_config: config, kubelet_args: args, kubelet_resolv_conf: resolv }
}

/// The command line of a `kubelet` process in the host's network namespace, NULs as spaces.
fn kubelet_cmdline(t: &HostTarget) -> Option<(u32, String)> {
    let proc_dir = t.path("/proc");
    let want = match &t.netns {
        Some(p) => netns::ns_id(p).ok()?,
        None => netns::ns_id(&proc_dir.join("self/ns/net")).or_else(|_| netns::ns_id(Path::new("/proc/self/ns/net"))).ok()?,
    };
    let rd = std::fs::read_dir(&proc_dir).ok()?;
    let mut pids: Vec<u32> = rd.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    pids.sort_unstable();
    for pid in pids {
        let dir = proc_dir.join(pid.to_string());
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else { continue };
        if comm.trim() != "kubelet" {
            continue;
        }
        if netns::ns_id(&dir.join("ns/net")).ok() != Some(want) {
            continue;
        }
        if let Ok(b) = std::fs::read(dir.join("cmdline")) {
            return Some((pid, String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(c: Collection) -> FactSet {
        match c {
            Collection::Facts(s) => *s,
            Collection::NoData(w) => panic!("no data: {w}"),
        }
    }

    #[tokio::test]
    async fn files_under_a_root_and_no_data_when_absent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let t = HostTarget { node: "n1".into(), netns: None, root: root.to_path_buf() };
        let by = |s: HostSource| HostCollector { source: s, target: t.clone() };
        assert_eq!(by(HostSource::ResolvConf).name(), "resolv_conf/n1");
        for s in [HostSource::ResolvConf, HostSource::SubnetEnv, HostSource::Kubelet] {
            match by(s).collect().await.unwrap() {
                Collection::NoData(why) => assert!(why.contains("does not exist") || why.contains("no kubelet"), "{why}"),
                Collection::Facts(_) => panic!("{s:?} found data in an empty root"),
            }
        }
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("run/flannel")).unwrap();
        std::fs::create_dir_all(root.join("var/lib/kubelet")).unwrap();
        std::fs::create_dir_all(root.join("run/systemd/resolve")).unwrap();
        std::fs::write(root.join("etc/resolv.conf"), "nameserver 127.0.0.53\n").unwrap();
        std::fs::write(root.join("run/systemd/resolve/resolv.conf"), "nameserver 10.0.0.2\n").unwrap();
        std::fs::write(root.join("run/flannel/subnet.env"), "FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\n").unwrap();
        std::fs::write(root.join("var/lib/kubelet/config.yaml"), "kind: KubeletConfiguration\nresolvConf: /run/systemd/resolve/resolv.conf\n").unwrap();
        let s = facts(by(HostSource::ResolvConf).collect().await.unwrap());
        assert_eq!(s.host("n1").unwrap().resolv_conf.get().unwrap().nameservers[0].ip.to_string(), "127.0.0.53");
        let s = facts(by(HostSource::SubnetEnv).collect().await.unwrap());
        assert_eq!(s.host("n1").unwrap().subnet_env.get().unwrap().subnet.unwrap().1, 24);
        let s = facts(by(HostSource::Kubelet).collect().await.unwrap());
        let h = s.host("n1").unwrap();
        assert_eq!(h.kubelet_config.get().unwrap().resolv_conf.as_deref(), Some("/run/systemd/resolve/resolv.conf"));
        assert_eq!(h.kubelet_resolv_conf.get().unwrap().nameservers[0].ip.to_string(), "10.0.0.2");
        // Only the collector's own kinds are set.
        assert!(matches!(h.resolv_conf, Fact::Missing));
        // A broken file is a broken fact naming the path, not a failed collection.
        std::fs::write(root.join("etc/resolv.conf"), "nameserver nope\n").unwrap();
        let s = facts(by(HostSource::ResolvConf).collect().await.unwrap());
        let e = s.host("n1").unwrap().resolv_conf.unavailable("resolv.conf").unwrap();
        assert!(e.contains("etc/resolv.conf: line 1"), "{e}");
    }

    #[test]
    fn sysctl_names_as_sysctl_prints_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("net/ipv4/conf/flannel.1");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("forwarding"), "1\n").unwrap();
        std::fs::write(dir.path().join("net/ipv4/tcp_rmem"), "4096\t131072\t6291456\n").unwrap();
        let m = read_sysctl_tree(dir.path(), &[]);
        assert_eq!(m["net.ipv4.conf.flannel/1.forwarding"], "1");
        assert_eq!(m["net.ipv4.tcp_rmem"], "4096\t131072\t6291456");
    }
}
