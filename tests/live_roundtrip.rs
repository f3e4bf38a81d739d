//! The live round trip, end to end through the binary: a three-node flannel
//! cluster built from real parts, with one fault, diagnosed live; then
//! `netdoctor capture` and `eval --capture` on what it wrote give the same
//! findings.
//!
//! The parts: each node is a real network namespace (eth0 on a shared lan
//! bridge, a vxlan `flannel.1` with its lease's VTEP MAC, `cni0`, routes,
//! neighbours and FDB entries to the peers, per-namespace sysctls) with its
//! files (resolv.conf, subnet.env, kubelet config) under its own host root;
//! the cluster objects are served by the in-process `TestApiServer` (a test
//! server speaking the Kubernetes API wire protocol, not a kube-apiserver),
//! loaded from `examples/captures/healthy-flannel/cluster`; flannel's leases
//! are in a real etcd v3. The fault: `net.ipv4.ip_forward = 0` on node2.

mod common;

use common::{root, Scratch};
use netdoctor_testkit::apiserver::{ApiServerOptions, TestApiServer};
use netdoctor_testkit::etcd::{EtcdOptions, EtcdServer};
use netdoctor_testkit::netns::Netns;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// healthy-flannel's nodes: name, address, pod subnet index, VTEP MAC (as in its etcd leases).
const NODES: &[(&str, &str, u8, &str)] = &[
    ("master", "192.168.56.10", 0, "6e:1b:a2:7c:4d:10"),
    ("node1", "192.168.56.11", 1, "c2:8f:05:d3:61:11"),
    ("node2", "192.168.56.12", 2, "fa:34:9b:2e:c8:12"),
];

fn base() -> PathBuf {
    root().join("examples/captures/healthy-flannel")
}

struct Cluster {
    _lan: Netns,
    nodes: Vec<(String, Netns)>,
    roots: Scratch,
    _api: TestApiServer,
    kubeconfig: tempfile::NamedTempFile,
    etcd: EtcdServer,
}

impl Cluster {
    fn build() -> Cluster {
        let lan = Netns::new("rtlan").unwrap();
        lan.bridge("br0").unwrap();
        lan.link_up("br0").unwrap();
        let roots = Scratch::new("roundtrip-roots");
        let mut nodes = Vec::new();
        for (i, (name, ip, idx, mac)) in NODES.iter().enumerate() {
            let ns = Netns::new(&format!("rt{i}")).unwrap();
            let port = format!("lan{i}");
            ns.veth("eth0", &lan, &port).unwrap();
            lan.set_master(&port, "br0").unwrap();
            lan.link_up(&port).unwrap();
            ns.addr_add("eth0", &format!("{ip}/24")).unwrap();
            ns.link_up("eth0").unwrap();
            ns.route_add(&["default", "via", "192.168.56.1", "dev", "eth0"]).unwrap();
            ns.vxlan("flannel.1", 1, ip, Some("eth0")).unwrap();
            ns.set_mac("flannel.1", mac).unwrap();
            ns.addr_add("flannel.1", &format!("10.244.{idx}.0/32")).unwrap();
            ns.ip(&["link", "set", "flannel.1", "mtu", "1450"]).unwrap();
            ns.link_up("flannel.1").unwrap();
            ns.bridge("cni0").unwrap();
            ns.addr_add("cni0", &format!("10.244.{idx}.1/24")).unwrap();
            ns.ip(&["link", "set", "cni0", "mtu", "1450"]).unwrap();
            ns.link_up("cni0").unwrap();
            for (_, peer_ip, peer_idx, peer_mac) in NODES.iter().filter(|n| n.0 != *name) {
                let gw = format!("10.244.{peer_idx}.0");
                ns.route_add(&[&format!("{gw}/24"), "via", &gw, "dev", "flannel.1", "onlink"]).unwrap();
                ns.neigh_add(&gw, peer_mac, "flannel.1").unwrap();
                ns.fdb_add(peer_mac, "flannel.1", peer_ip).unwrap();
            }
            // The fault: node2 does not forward.
            ns.sysctl("net.ipv4.ip_forward", if *name == "node2" { "0" } else { "1" }).unwrap();
            let from = base().join("nodes").join(name);
            let host_root = roots.dir().join(name);
            for (file, dest) in
                [("resolv.conf", "etc/resolv.conf"), ("subnet.env", "run/flannel/subnet.env"), ("kubelet-config.yaml", "var/lib/kubelet/config.yaml")]
            {
                let dest = host_root.join(dest);
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(from.join(file), dest).unwrap();
            }
            nodes.push((name.to_string(), ns));
        }
        let api = TestApiServer::start(ApiServerOptions::default()).unwrap();
        api.load_dir(base().join("cluster")).unwrap();
        let kubeconfig = api.write_kubeconfig().unwrap();
        let etcd = EtcdServer::start(EtcdOptions::default()).unwrap();
        let dump: Value = serde_json::from_str(&std::fs::read_to_string(base().join("etcd/flannel.json")).unwrap()).unwrap();
        use base64::Engine;
        let b64 = |v: &Value| String::from_utf8(base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap()).unwrap();
        for kv in dump["kvs"].as_array().unwrap() {
            etcd.put_v3(&b64(&kv["key"]), &b64(&kv["value"])).unwrap();
        }
        Cluster { _lan: lan, nodes, roots, _api: api, kubeconfig, etcd }
    }

    /// The live-collection flags for this cluster.
    fn flags(&self) -> Vec<String> {
        let mut f = vec!["--kubeconfig".to_string(), self.kubeconfig.path().display().to_string(), "--etcd-endpoints".into(), self.etcd.endpoint()];
        for (name, ns) in &self.nodes {
            f.push("--host".into());
            f.push(format!("{name}={}", ns.path().display()));
            f.push("--host-root".into());
            f.push(format!("{name}={}", self.roots.dir().join(name).display()));
        }
        f
    }
}

fn run(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netdoctor")).args(args).current_dir(root()).output().unwrap()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {} stderr {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// Evidence that names where a fact was read (`file`, `routes_file`, `lease_source`):
/// a live source in one run, the capture file in the other, by design. Everything else is
/// compared byte for byte.
fn without_sources(findings: &Value) -> Value {
    fn walk(v: &Value, key: Option<&str>) -> Value {
        match v {
            Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), walk(x, Some(k)))).collect()),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, key)).collect()),
            Value::String(_) if key.is_some_and(|k| k == "file" || k.ends_with("_file") || k.ends_with("source")) => Value::String("<source>".into()),
            other => other.clone(),
        }
    }
    walk(findings, None)
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

#[test]
fn live_eval_finds_the_fault_and_capture_then_eval_gives_the_same_findings() {
    for (harness, ok) in [("netns", Netns::available().map_err(|e| e.to_string())), ("etcd", EtcdServer::available().map_err(|e| e.to_string()))] {
        if let Err(e) = ok {
            panic!("the round trip needs {harness}: {e}");
        }
    }
    let cluster = Cluster::build();
    let flags = cluster.flags();

    let live = run(&[&["eval".to_string(), "--format".into(), "json".into()][..], &flags].concat());
    let stderr = String::from_utf8_lossy(&live.stderr).to_string();
    assert_eq!(live.status.code(), Some(1), "a finding: exit 1\n{stderr}");
    for source in ["k8s: collected", "etcd: collected", "netlink/node2: collected", "sysctl/node2: collected"] {
        assert!(stderr.contains(source), "live eval names its sources and how long each took: {source}\n{stderr}");
    }
    let live = json(&live);
    assert_eq!(live["errors"], Value::Array(vec![]), "{}", pretty(&live["errors"]));
    let findings = live["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(|f| f["rule"] == "ip-forward-disabled" && f["subject"]["name"] == "node2"),
        "live eval finds node2's ip_forward=0:\n{}",
        pretty(&live["findings"])
    );
    assert!(!findings.iter().any(|f| f["rule"] == "ip-forward-disabled" && f["subject"]["name"] != "node2"), "and only there");

    let scratch = Scratch::new("roundtrip");
    let out = scratch.dir().join("capture");
    let cap = run(&[&["capture".to_string(), "--out".into(), out.display().to_string()][..], &flags].concat());
    assert!(cap.status.success(), "{}", String::from_utf8_lossy(&cap.stderr));
    for f in ["meta.json", "nodes/node2/ip-route.json", "nodes/node2/ip-link.json", "nodes/node2/sysctl.txt", "nodes/master/resolv.conf"] {
        assert!(out.join(f).is_file(), "capture wrote {f}");
    }
    assert!(std::fs::read_dir(out.join("cluster")).unwrap().count() > 0 && std::fs::read_dir(out.join("etcd")).unwrap().count() > 0);
    let refused = run(&[&["capture".to_string(), "--out".into(), out.display().to_string()][..], &flags].concat());
    assert_eq!(refused.status.code(), Some(2), "a non-empty --out is refused without --force");

    let replay = run(&["eval".into(), "--capture".into(), out.display().to_string(), "--format".into(), "json".into()]);
    assert_eq!(replay.status.code(), Some(1), "{}", String::from_utf8_lossy(&replay.stderr));
    let replay = json(&replay);
    assert_eq!(replay["errors"], Value::Array(vec![]), "{}", pretty(&replay["errors"]));
    assert_eq!(
        pretty(&without_sources(&replay["findings"])),
        pretty(&without_sources(&live["findings"])),
        "the capture gives the same findings as the live run"
    );
    let skipped = |v: &Value| v["skipped"].as_array().unwrap().iter().map(|s| format!("{} {}", s["rule"], s["subject"])).collect::<Vec<_>>();
    assert_eq!(skipped(&replay), skipped(&live), "and skips the same rules for the same subjects");
}

#[test]
fn live_eval_without_a_cluster_says_why_the_cluster_rules_skip() {
    let scratch = Scratch::new("nokube");
    let o = Command::new(env!("CARGO_BIN_EXE_netdoctor"))
        .args(["eval", "--format", "json"])
        .env_remove("KUBECONFIG")
        .env("HOME", scratch.dir())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(matches!(o.status.code(), Some(0 | 1)), "exit 0 or 1 on this machine:\n{stderr}");
    assert!(stderr.contains("k8s: skipped:") && stderr.contains("etcd: skipped:"), "{stderr}");
    let v = json(&o);
    let skipped = v["skipped"].as_array().unwrap();
    let node_rule = skipped.iter().find(|s| s["rule"] == "node-not-ready").unwrap_or_else(|| panic!("node-not-ready skips: {}", pretty(&v["skipped"])));
    assert!(node_rule["reason"].as_str().unwrap().contains("k8s: "), "the reason says why the cluster was not read: {node_rule}");
}
