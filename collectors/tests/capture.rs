//! The capture reader on bad input (issue 7's reproductions): every example
//! capture reads clean; a file that exists but cannot be used is a clear error
//! within a second; a broken entry breaks its kind ("could not be read"),
//! never "not collected"; names that are not UTF-8 stay distinct.

use netdoctor_collectors::capture::{read, ReadOptions};
use netdoctor_engine::kind::FactKind;
use netdoctor_engine::FactSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/captures")
}

/// A temporary copy of an example capture.
fn copy_of(name: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    netdoctor_testkit::copy_dir(&examples().join(name), t.path()).unwrap();
    t
}

/// Reads within a second (a pipe or a device must never hang the reader).
fn timed_read(dir: &Path, opts: &ReadOptions) -> FactSet {
    let t = Instant::now();
    let set = read(dir, opts).expect("capture readable");
    assert!(t.elapsed() < Duration::from_secs(1), "read took {:?}", t.elapsed());
    set
}

fn error_for<'a>(set: &'a FactSet, source: &str) -> &'a str {
    set.errors().iter().find(|e| e.source == source).map(|e| e.message.as_str()).unwrap_or_else(|| panic!("no error for {source}: {:#?}", set.errors()))
}

#[test]
fn every_example_capture_reads_without_errors() {
    for e in std::fs::read_dir(examples()).unwrap() {
        let e = e.unwrap();
        let set = read(&e.path(), &ReadOptions::default()).unwrap();
        assert!(set.errors().is_empty(), "{}: {:#?}", e.path().display(), set.errors());
    }
}

#[test]
fn a_pipe_a_device_a_directory_and_a_symlink_loop_are_errors_not_hangs() {
    let c = copy_of("healthy-flannel");
    let d = c.path();
    let n1 = d.join("nodes/node1");
    std::fs::remove_file(n1.join("ip-route.json")).unwrap();
    std::fs::create_dir(n1.join("ip-route.json")).unwrap();
    std::fs::remove_file(n1.join("sysctl.txt")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(n1.join("sysctl.txt")).status().unwrap().success());
    std::fs::remove_file(n1.join("resolv.conf")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", n1.join("resolv.conf")).unwrap();
    std::fs::remove_file(n1.join("ip-link.json")).unwrap();
    std::os::unix::fs::symlink("ip-link.json", n1.join("ip-link.json")).unwrap();
    let fifo_cluster = d.join("cluster/pipe.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo_cluster).status().unwrap().success());
    let set = timed_read(d, &ReadOptions::default());
    assert!(error_for(&set, "nodes/node1/ip-route.json").contains("a directory: only regular files are read"));
    assert!(error_for(&set, "nodes/node1/sysctl.txt").contains("a named pipe"));
    assert!(error_for(&set, "nodes/node1/resolv.conf").contains("a character device"));
    assert!(error_for(&set, "nodes/node1/ip-link.json").contains("symbolic link loop"));
    assert!(error_for(&set, "cluster/pipe.json").contains("a named pipe"));
    // Each is a broken fact, never "not collected".
    let h = set.host("node1").unwrap();
    assert!(h.routes.is_broken() && h.sysctl.is_broken() && h.resolv_conf.is_broken() && h.links.is_broken());
}

#[test]
fn an_oversized_file_is_refused_by_the_cap() {
    let c = copy_of("healthy-flannel");
    let set = timed_read(c.path(), &ReadOptions { max_cluster_file: 2 << 30, max_host_file: 64 });
    assert!(error_for(&set, "nodes/node1/ip-route.json").contains("exceeds the 64 bytes cap"), "{:#?}", set.errors());
    let set = timed_read(c.path(), &ReadOptions { max_cluster_file: 100, max_host_file: 256 << 20 });
    assert!(error_for(&set, "cluster/pods.json").contains("exceeds the 100 bytes cap"));
    let why = set.cluster_unavailable(FactKind::Pods).unwrap();
    assert!(why.starts_with("could not be read: cluster/") && why.contains("cap"), "{why}");
}

#[test]
fn bom_is_stripped_and_truncated_iptables_is_refused() {
    let c = copy_of("seed-004");
    let d = c.path();
    let host = std::fs::read_dir(d.join("nodes")).unwrap().next().unwrap().unwrap().file_name().into_string().unwrap();
    let sysctl = d.join(format!("nodes/{host}/sysctl.txt"));
    std::fs::write(&sysctl, "\u{feff}net.ipv4.ip_forward = 0\nnet.bridge.bridge-nf-call-iptables = 1\n").unwrap();
    std::fs::write(d.join(format!("nodes/{host}/iptables-save.txt")), "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j KUBE-SERVICES\n").unwrap();
    let set = timed_read(d, &ReadOptions::default());
    assert_eq!(set.host(&host).unwrap().sysctl.get().unwrap()["net.ipv4.ip_forward"], "0");
    assert!(error_for(&set, &format!("nodes/{host}/iptables-save.txt")).contains("truncated: table nat"));
}

#[test]
fn an_unusable_meta_json_an_empty_yaml_and_a_non_json_lease_are_errors() {
    let c = copy_of("seed-000");
    let d = c.path();
    std::fs::write(d.join("meta.json"), "42").unwrap();
    std::fs::write(d.join("cluster/empty.yaml"), "").unwrap();
    let etcd = std::fs::read_dir(d.join("etcd")).unwrap().next().unwrap().unwrap().path();
    let text = std::fs::read_to_string(&etcd).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(v.get("node").is_some(), "seed-000 is etcd v2");
    // Replace the first lease's value with text that is not JSON.
    let mut v = v;
    fn first_lease(n: &mut serde_json::Value) -> Option<&mut serde_json::Value> {
        if n.get("key").and_then(|k| k.as_str()).is_some_and(|k| k.contains("/subnets/")) && n.get("value").is_some() {
            return n.get_mut("value");
        }
        n.get_mut("nodes")?.as_array_mut()?.iter_mut().find_map(first_lease)
    }
    *first_lease(v.get_mut("node").unwrap()).unwrap() = serde_json::Value::String("{not json".into());
    std::fs::write(&etcd, serde_json::to_string(&v).unwrap()).unwrap();
    let set = timed_read(d, &ReadOptions::default());
    assert_eq!(error_for(&set, "meta.json"), "$: expected an object, got 42");
    assert!(error_for(&set, "cluster/empty.yaml").contains("empty file"));
    let why = set.cluster_unavailable(FactKind::FlannelEtcd).unwrap();
    assert!(why.starts_with("could not be read: etcd/") && why.contains("lease value is not JSON"), "{why}");
}

#[test]
fn a_broken_object_breaks_its_kind_and_the_others_still_read() {
    let c = copy_of("healthy-flannel");
    let p = c.path().join("cluster/endpointslices.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let i = v["items"].as_array().unwrap().iter().position(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns").unwrap();
    v["items"][i]["metadata"].as_object_mut().unwrap().remove("name");
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
    let set = timed_read(c.path(), &ReadOptions::default());
    let why = set.cluster_unavailable(FactKind::Endpoints).unwrap();
    assert_eq!(why, format!("could not be read: cluster/endpointslices.json: $.items[{i}].metadata.name: expected a string, got nothing"));
    assert!(set.cluster_unavailable(FactKind::Pods).is_none());
    assert!(set.count(FactKind::Endpoints) > 0, "the other slices are read");
}

#[test]
fn host_folders_with_invalid_utf8_names_stay_distinct() {
    use std::os::unix::ffi::OsStrExt;
    let c = copy_of("healthy-flannel");
    let nodes = c.path().join("nodes");
    let src = nodes.join("node1");
    for name in [&b"n\xff1"[..], &b"n\xfe1"[..]] {
        let dst = nodes.join(std::ffi::OsStr::from_bytes(name));
        std::fs::create_dir(&dst).unwrap();
        std::fs::copy(src.join("sysctl.txt"), dst.join("sysctl.txt")).unwrap();
    }
    let set = timed_read(c.path(), &ReadOptions::default());
    let names: Vec<&String> = set.host_names().filter(|n| n.starts_with('n') && n.contains('\\')).collect();
    assert_eq!(names, vec!["n\\xfe1", "n\\xff1"]);
}

#[test]
fn wrong_types_in_host_files_break_the_fact_with_the_place() {
    let c = copy_of("healthy-flannel");
    let p = c.path().join("nodes/node1/ip-link.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    v[1]["mtu"] = serde_json::json!("abc");
    std::fs::write(&p, serde_json::to_string(&v).unwrap()).unwrap();
    let set = timed_read(c.path(), &ReadOptions::default());
    let e = error_for(&set, "nodes/node1/ip-link.json");
    assert!(e.contains("$[1].mtu: expected an integer 0-4294967295, got \"abc\""), "{e}");
    assert!(set.host("node1").unwrap().links.is_broken());
}
