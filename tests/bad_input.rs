//! Issue 7's reproductions, end to end through `netdoctor eval`: a healthy
//! capture with one value broken gives a clear error naming the file and the
//! place, and no finding (the rules that need the broken fact skip); a pipe
//! never hangs; a byte-order mark does not hide a fault.

mod common;

use common::{copy_dir, netdoctor, root};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn copy_of(name: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&root().join("examples/captures").join(name), t.path());
    t
}

fn edit_json(dir: &Path, rel: &str, f: impl FnOnce(&mut Value)) {
    let p = dir.join(rel);
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn eval(dir: &Path) -> Value {
    let t = Instant::now();
    let o = netdoctor(&["eval", "--capture", dir.to_str().unwrap(), "--format", "json", "--min-severity", "info"]);
    assert!(t.elapsed() < Duration::from_secs(20), "eval took {:?}", t.elapsed());
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)))
}

/// Asserts: no finding, an error for `source` containing `want`, and every skip says
/// "could not be read" or names a fact that is absent.
fn clean_but_reported(v: &Value, source: &str, want: &str) {
    let findings: Vec<String> = v["findings"].as_array().unwrap().iter().map(|f| format!("{} {}", f["rule"], f["summary"])).collect();
    assert!(findings.is_empty(), "a broken fact made rules fire: {findings:#?}");
    let errors = v["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["source"].as_str().unwrap().starts_with(source) && e["message"].as_str().unwrap().contains(want)),
        "want {source}: {want}; got {errors:#?}"
    );
    for s in v["skipped"].as_array().unwrap() {
        let r = s["reason"].as_str().unwrap();
        assert!(!r.contains(" not collected") || !r.contains(source), "a broken fact reads as not collected: {s}");
    }
}

#[test]
fn endpointslice_without_a_name_gives_an_error_and_no_false_warning() {
    let c = copy_of("healthy-flannel");
    edit_json(c.path(), "cluster/endpointslices.json", |v| {
        let s = v["items"].as_array_mut().unwrap().iter_mut().find(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns").unwrap();
        s["metadata"].as_object_mut().unwrap().remove("name");
    });
    let v = eval(c.path());
    clean_but_reported(&v, "cluster/endpointslices.json", "metadata.name: expected a string");
    assert!(v["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["rule"] == "service-no-ready-endpoints" && s["reason"].as_str().unwrap().starts_with("could not be read: cluster/endpointslices.json")));
}

#[test]
fn wrong_types_are_errors_never_false_findings() {
    type Edit = fn(&mut Value);
    let cases: &[(&str, &str, Edit, &str)] = &[
        ("healthy-flannel", "nodes/node1/ip-link.json", |v| v[1]["mtu"] = json!("abc"), "$[1].mtu: expected an integer"),
        (
            "healthy-flannel",
            "cluster/nodes.json",
            |v| {
                for c in v["items"][1]["status"]["conditions"].as_array_mut().unwrap() {
                    if c["type"] == "Ready" {
                        c["status"] = json!(true);
                    }
                }
            },
            "status: expected \"True\", \"False\" or \"Unknown\", got true",
        ),
        (
            "healthy-flannel",
            "cluster/services.json",
            |v| {
                let s = v["items"].as_array_mut().unwrap().iter_mut().find(|s| s["metadata"]["name"] == "kube-dns").unwrap();
                s["spec"]["ports"][0]["port"] = json!("abc");
            },
            "spec.ports[0].port: expected an integer 1-65535, got \"abc\"",
        ),
        (
            "healthy-flannel",
            "cluster/endpointslices.json",
            |v| {
                let s = v["items"].as_array_mut().unwrap().iter_mut().find(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns").unwrap();
                s["endpoints"][0]["addresses"][0] = json!(123);
            },
            "addresses[0]: expected an IP address, got 123",
        ),
        (
            "healthy-flannel",
            "nodes/node1/ip-route.json",
            |v| {
                let r = v.as_array_mut().unwrap().iter_mut().find(|r| r["dev"] == "flannel.1").unwrap();
                r["dev"] = json!(42);
            },
            ".dev: expected a string, got 42",
        ),
    ];
    for (capture, file, edit, want) in cases {
        let c = copy_of(capture);
        edit_json(c.path(), file, edit);
        clean_but_reported(&eval(c.path()), file, want);
    }
}

#[test]
fn truncated_iptables_save_is_an_error_not_a_missing_kube_proxy() {
    let c = copy_of("healthy-flannel-hostgw");
    let host = std::fs::read_dir(c.path().join("nodes")).unwrap().next().unwrap().unwrap().file_name().into_string().unwrap();
    let p = c.path().join(format!("nodes/{host}/iptables-save.txt"));
    let text = std::fs::read_to_string(&p).unwrap();
    let cut = text.find("COMMIT").unwrap();
    std::fs::write(&p, &text[..cut]).unwrap();
    clean_but_reported(&eval(c.path()), &format!("nodes/{host}/iptables-save.txt"), "truncated: table");
}

#[test]
fn a_lease_that_is_not_json_makes_flannel_rules_skip_not_fire() {
    let c = copy_of("healthy-flannel");
    edit_json(c.path(), "etcd/flannel.json", |v| {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD;
        let kv = v["kvs"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|kv| String::from_utf8(b.decode(kv["key"].as_str().unwrap()).unwrap()).unwrap().contains("/subnets/"))
            .unwrap();
        kv["value"] = json!(b.encode("{not json"));
    });
    let v = eval(c.path());
    clean_but_reported(&v, "etcd/flannel.json", "lease value is not JSON");
    assert!(v["skipped"].as_array().unwrap().iter().any(|s| s["rule"] == "flannel-lease-missing" || s["rule"] == "flannel-route-missing"));
}

#[test]
fn a_byte_order_mark_does_not_hide_ip_forward_0() {
    let c = copy_of("healthy-flannel");
    let p = c.path().join("nodes/node2/sysctl.txt");
    let text = std::fs::read_to_string(&p).unwrap().replace("net.ipv4.ip_forward = 1", "net.ipv4.ip_forward = 0");
    std::fs::write(&p, format!("\u{feff}{}", text.trim_start_matches("net.ipv4.ip_forward = 0\n"))).unwrap();
    std::fs::write(&p, format!("\u{feff}net.ipv4.ip_forward = 0\n{}", text.replace("net.ipv4.ip_forward = 0\n", ""))).unwrap();
    let v = eval(c.path());
    let rules: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, vec!["ip-forward-disabled"], "{v:#}");
}

#[test]
fn a_named_pipe_and_dev_zero_do_not_hang_or_exhaust_memory() {
    let c = copy_of("healthy-flannel");
    let n = c.path().join("nodes/node1");
    std::fs::remove_file(n.join("sysctl.txt")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(n.join("sysctl.txt")).status().unwrap().success());
    std::fs::remove_file(n.join("ip-neigh.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", n.join("ip-neigh.json")).unwrap();
    let v = eval(c.path());
    clean_but_reported(&v, "nodes/node1/sysctl.txt", "a named pipe");
    clean_but_reported(&v, "nodes/node1/ip-neigh.json", "a character device");
}

#[test]
fn control_characters_in_names_are_escaped_in_the_table() {
    let c = copy_of("seed-001");
    edit_json(c.path(), "cluster/pods.json", |v| {
        for p in v["items"].as_array_mut().unwrap() {
            if p["metadata"]["name"] == "calico-node-r5m2d" {
                p["metadata"]["name"] = json!("calico-node-\u{1b}[2Jevil\nFORGED LINE");
            }
        }
    });
    let o = netdoctor(&["eval", "--capture", c.path().to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(!out.contains('\u{1b}'), "raw escape sequence reached the table");
    assert!(!out.lines().any(|l| l.starts_with("FORGED LINE")), "a newline forged a line:\n{out}");
    assert!(out.contains("calico-node-\\x1b[2Jevil\\nFORGED LINE"), "{out}");
}
