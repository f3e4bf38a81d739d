//! `scripts/capture.sh`: the capture made without the binary. Its host part
//! runs for real inside a network namespace built here; `--redact` is run on
//! every example capture and must give the same findings under the new names.
//! The kubectl part is not exercised here: this machine has no API server
//! kubectl could reach (the Kubernetes collector's own tests use an
//! in-process test server instead).

mod common;

use common::{copy_dir, netdoctor, root, Scratch};
use netdoctor_testkit::netns::Netns;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn script() -> String {
    root().join("scripts/capture.sh").display().to_string()
}

fn findings(capture: &str) -> Value {
    let o = netdoctor(&["eval", "--capture", capture, "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{capture}: {e}: {}", String::from_utf8_lossy(&o.stderr)));
    assert_eq!(v["errors"], Value::Array(vec![]), "{capture}");
    v["findings"].clone()
}

/// The redaction map the script wrote: node names and public /16 networks.
struct Map {
    nodes: BTreeMap<String, String>,
    nets: BTreeMap<String, String>,
}

impl Map {
    fn read(path: &Path) -> Map {
        let text = std::fs::read_to_string(path).unwrap();
        let mut m = Map { nodes: BTreeMap::new(), nets: BTreeMap::new() };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            match f[..] {
                ["node", from, to] => {
                    m.nodes.insert(from.into(), to.into());
                }
                ["net", from, to] => {
                    let prefix = |s: &str| s.trim_end_matches(".0.0/16").to_string() + ".";
                    m.nets.insert(prefix(from), prefix(to));
                }
                _ => panic!("unexpected map line {line:?}"),
            }
        }
        m
    }

    /// Applies the map to one string the way the script does: node names as
    /// whole tokens, public addresses by their first two octets.
    fn apply(&self, s: &str) -> String {
        let mut out = s.to_string();
        let mut names: Vec<_> = self.nodes.iter().collect();
        names.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        for (from, to) in names {
            let mut result = String::new();
            let mut i = 0;
            while let Some(j) = out[i..].find(from.as_str()) {
                let at = i + j;
                let end = at + from.len();
                let before_ok = out[..at].chars().last().is_none_or(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(c)));
                let mut next = out[end..].chars();
                let after_ok = match next.next() {
                    None => true,
                    Some('.') => next.next().is_none_or(|c| !c.is_ascii_alphanumeric()),
                    Some(c) => !(c.is_ascii_alphanumeric() || "_-".contains(c)),
                };
                result.push_str(&out[i..at]);
                result.push_str(if before_ok && after_ok { to } else { from });
                i = end;
            }
            result.push_str(&out[i..]);
            out = result;
        }
        // Folder names in paths (`nodes/admin/ip-route.json`): the script renames the folders.
        // (Output strings such as `Node/w2` are composed by the engine, so `/` counts as a boundary
        // here, unlike in the script, which leaves label keys such as `node-role.kubernetes.io/x` alone.)
        for (from, to) in &self.nodes {
            out = out.replace(&format!("nodes/{from}/"), &format!("nodes/{to}/"));
        }
        for (from, to) in &self.nets {
            out = replace_address_prefix(&out, from, to);
        }
        out
    }
}

/// Replaces `from` (e.g. `8.8.`) by `to` where it starts an IPv4 address.
fn replace_address_prefix(s: &str, from: &str, to: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(from) {
        let starts = rest[..i].chars().last().is_none_or(|c| !(c.is_ascii_digit() || c == '.'));
        out.push_str(&rest[..i]);
        out.push_str(if starts { to } else { from });
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

fn map_strings(v: &Value, m: &Map) -> Value {
    match v {
        Value::String(s) => Value::String(m.apply(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| map_strings(x, m)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), map_strings(x, m))).collect()),
        other => other.clone(),
    }
}

#[test]
fn redaction_gives_the_same_findings_under_new_names_on_every_example_capture() {
    let scratch = Scratch::new("redact");
    let mut public_networks = 0;
    let mut nodes = 0;
    let mut total_findings = 0;
    for e in std::fs::read_dir(root().join("examples/captures")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        let copied = scratch.dir().join(&name);
        copy_dir(&e.path(), &copied);
        let o = Command::new("bash").arg(script()).arg("--redact").arg(&copied).output().unwrap();
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let map = Map::read(&scratch.dir().join(format!("{name}.redaction.txt")));
        public_networks += map.nets.len();
        nodes += map.nodes.len();
        let original = findings(e.path().to_str().unwrap());
        let redacted = findings(copied.to_str().unwrap());
        total_findings += original.as_array().unwrap().len();
        let expected = map_strings(&original, &map);
        if let Some((got, want)) = redacted.as_array().unwrap().iter().zip(expected.as_array().unwrap()).find(|(a, b)| a != b) {
            panic!("{name}: the redacted capture's findings are the original's under the map:\n{got:#}\n---\n{want:#}");
        }
        assert_eq!(redacted, expected, "{name}: as many findings");
        // Nothing of what was replaced is left in the redacted files.
        let text = |d: &Path| {
            let mut all = String::new();
            let mut stack = vec![d.to_path_buf()];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(d).unwrap() {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        stack.push(p)
                    } else {
                        all.push_str(&String::from_utf8_lossy(&std::fs::read(p).unwrap()));
                    }
                }
            }
            all
        };
        let after = text(&copied);
        for from in map.nets.keys() {
            assert!(!after.contains(&format!("\"{from}")) && !after.contains(&format!(" {from}")), "{name}: {from}x.y left in the redacted capture");
        }
        for from in map.nodes.keys() {
            assert!(!copied.join("nodes").join(from).exists() || map.nodes.values().any(|to| to == from), "{name}: folder {from} renamed");
        }
    }
    assert!(nodes > 10, "the examples have node names to redact ({nodes})");
    assert!(public_networks > 0, "some example has a public address to redact");
    assert!(total_findings > 10, "the comparison covers real findings ({total_findings})");
}

#[test]
fn host_part_runs_in_a_namespace_and_evaluates_cleanly() {
    if let Err(e) = Netns::available() {
        panic!("this test needs network namespaces: {e}");
    }
    let node = Netns::new("capsh").unwrap();
    let peer = Netns::new("capshpeer").unwrap();
    node.veth("eth0", &peer, "eth0").unwrap();
    node.addr_add("eth0", "192.168.77.11/24").unwrap();
    node.link_up("eth0").unwrap();
    node.route_add(&["default", "via", "192.168.77.1", "dev", "eth0"]).unwrap();
    node.route_add(&["10.244.9.0/24", "via", "192.168.77.12", "dev", "eth0", "table", "100"]).unwrap();
    let scratch = Scratch::new("capsh");
    let out = scratch.dir().join("capture");
    let run = |extra: &[&str]| {
        Command::new("ip")
            .args(["netns", "exec", node.name(), "bash", &script(), "--host-only", "--node", "worker-7", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = out.join("nodes/worker-7");
    for f in ["ip-link.json", "ip-addr.json", "ip-route.json", "ip-rule.json", "ip-neigh.json", "bridge-fdb.json", "sysctl.txt"] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    let routes: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("ip-route.json")).unwrap()).unwrap();
    assert!(routes.as_array().unwrap().iter().any(|r| r["dst"] == "10.244.9.0/24" && r["table"] == "100"), "every table: {routes}");
    let v: Value = serde_json::from_slice(&netdoctor(&["eval", "--capture", out.to_str().unwrap(), "--format", "json"]).stdout).unwrap();
    assert_eq!(v["errors"], Value::Array(vec![]), "the script's files read back without an error");
    assert!(!v["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "node-no-default-route"), "the namespace has a default route: {:#}", v["findings"]);
    // A second run refuses the non-empty directory unless --force.
    let again = run(&[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty; use --force"));
    assert!(run(&["--force"]).status.success());
}
