//! End-to-end: the `netdoctor` binary on example captures. Exit codes, the JSON
//! schema of interfaces.md, byte-stable output (golden files; refresh with
//! `UPDATE_GOLDEN=1 cargo test --test cli`), and bad input of every kind: a
//! malformed file of each capture format, a rule with a syntax error and a rule
//! that loops forever, each reported while everything else still evaluates.

mod common;

use serde_json::Value;
use std::process::Output;

use common::{copy_dir, netdoctor, root, stdout};

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", stdout(o), String::from_utf8_lossy(&o.stderr)))
}

/// Compares with a golden file, or rewrites it when UPDATE_GOLDEN is set.
fn golden(name: &str, actual: &str) {
    let p = root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&p, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1 to create)", p.display()));
    assert_eq!(actual, want, "{name} differs from its golden file (UPDATE_GOLDEN=1 refreshes it after review)");
}

/// JSON with the run-dependent duration removed.
fn stable_json(o: &Output) -> String {
    let mut v = json_of(o);
    v["stats"]["duration_ms"] = Value::from(0);
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

/// A copy of an example capture in a temporary directory (removed on drop).
struct TempCapture(tempfile::TempDir);

impl TempCapture {
    fn from(name: &str) -> TempCapture {
        let dst = tempfile::Builder::new().prefix(&format!("netdoctor-cli-{name}-")).tempdir().unwrap();
        copy_dir(&root().join("examples/captures").join(name), dst.path());
        TempCapture(dst)
    }
    fn path(&self) -> &str {
        self.0.path().to_str().unwrap()
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.0.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn seed_001_json_matches_golden_and_schema() {
    let o = netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1), "findings exit 1");
    let v = json_of(&o);
    for key in ["findings", "skipped", "errors", "notes", "stats"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let f = v["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "service-ip-unroutable").unwrap();
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["subject"], serde_json::json!({"kind": "Node", "namespace": null, "name": "admin", "node": "admin"}));
    assert_eq!(f["related"], serde_json::json!({"kind": "Service", "namespace": "default", "name": "kubernetes"}));
    assert!(f["remediation"].as_str().unwrap().len() > 20);
    let nd = v["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "node-no-default-route").unwrap();
    assert_eq!(nd["related"], Value::Null, "related is null when absent");
    assert_eq!(v["stats"]["rules"].as_u64().unwrap() as usize, netdoctor_rules::BUILTIN.len());
    golden("seed-001.json", &stable_json(&o));
}

#[test]
fn output_is_byte_stable_across_runs() {
    let a = stable_json(&netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--format", "json"]));
    let b = stable_json(&netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--format", "json"]));
    assert_eq!(a, b);
}

#[test]
fn table_output_matches_golden() {
    let o = netdoctor(&["eval", "--capture", "examples/captures/seed-001"]);
    assert_eq!(o.status.code(), Some(1));
    golden("seed-001.table", &stdout(&o));
    let v = netdoctor(&["eval", "--capture", "examples/captures/seed-004-dns-loop", "--verbose"]);
    golden("seed-004-dns-loop.verbose.table", &stdout(&v));
}

#[test]
fn healthy_capture_exits_zero() {
    let o = netdoctor(&["eval", "--capture", "examples/captures/healthy-flannel", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let v = json_of(&o);
    assert_eq!(v["findings"].as_array().unwrap().len(), 0);
    assert_eq!(v["skipped"].as_array().unwrap().len(), 0);
    assert_eq!(v["errors"].as_array().unwrap().len(), 0);
}

#[test]
fn min_severity_filters_output_and_exit_code() {
    let all = json_of(&netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--format", "json", "--min-severity", "info"]));
    let criticals = all["findings"].as_array().unwrap().iter().filter(|f| f["severity"] == "critical").count();
    assert!(criticals > 0 && criticals < all["findings"].as_array().unwrap().len(), "seed-001 has critical and warning findings");
    let v = json_of(&netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--format", "json", "--min-severity", "critical"]));
    assert!(v["findings"].as_array().unwrap().iter().all(|f| f["severity"] == "critical"));
    assert_eq!(v["findings"].as_array().unwrap().len(), criticals);
    let fx = TempCapture::from("healthy-flannel");
    // Only a warning-level fault: --min-severity critical exits 0.
    let routes = std::fs::read_to_string(fx.0.path().join("nodes/node1/ip-route.json")).unwrap();
    let mut r: Value = serde_json::from_str(&routes).unwrap();
    r.as_array_mut().unwrap().retain(|x| !(x["dst"] == "default" && x["gateway"].as_str().is_some_and(|g| g.contains('.'))));
    fx.write("nodes/node1/ip-route.json", &r.to_string());
    assert_eq!(netdoctor(&["eval", "--capture", fx.path(), "--min-severity", "critical"]).status.code(), Some(0));
    assert_eq!(netdoctor(&["eval", "--capture", fx.path()]).status.code(), Some(1));
}

#[test]
fn unreadable_capture_exits_two_with_a_clear_error() {
    let o = netdoctor(&["eval", "--capture", "/nonexistent/capture"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/capture: not a capture directory"), "{err}");
    let o = netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--no-builtin-rules"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no rule loaded"));
}

/// One malformed file of each format: each gets an error naming the file and the
/// place, and the rest of the capture still yields its findings.
#[test]
fn malformed_file_of_each_format_is_reported_and_the_rest_evaluates() {
    let cases: &[(&str, &str, &str)] = &[
        ("nodes/admin/ip-link.json", "[{\"ifname\": 3}]", "[0].ifname: expected a string"),
        (
            "nodes/node1/ip-addr.json",
            "[{\"ifname\":\"eth0\",\"mtu\":1500,\"addr_info\":[{\"local\":\"x\",\"prefixlen\":24}]}]",
            "[0].addr_info[0].local: expected an IP address",
        ),
        ("nodes/node1/ip-route.json", "[\n  {\"dst\": \"default\",\n", "line 3 column 0: invalid JSON"),
        ("nodes/node1/ip-rule.json", "{}", "$: expected a JSON array"),
        ("nodes/node1/ip-neigh.json", "[{\"dst\":\"nope\",\"dev\":\"eth0\"}]", "[0].dst: expected an IP address"),
        ("nodes/node1/bridge-fdb.json", "[{\"mac\":\"aa:bb:cc:dd:ee:ff\"}]", "[0].ifname: expected a string"),
        ("nodes/node1/ipvs.txt", "TCP  10.96.0.1 rr\n", "line 1: expected ADDR:PORT"),
        ("nodes/node1/iptables-save.txt", "*nat\n-X bogus\nCOMMIT\n", "line 2: expected `:CHAIN POLICY`"),
        ("nodes/node1/resolv.conf", "search lan\nnameserver localhost\n", "line 2: nameserver \"localhost\" is not an IP address"),
        ("nodes/node1/kubelet-resolv.conf", "nameserver 1.1.1.1.1\n", "line 1: nameserver"),
        ("nodes/node1/kubelet-config.yaml", "resolvConf: [unclosed\n", "invalid YAML"),
        ("nodes/node1/sysctl.txt", "net.ipv4.ip_forward = 1\nthis is not sysctl\n", "line 2: expected `key = value`"),
        ("nodes/node1/subnet.env", "FLANNEL_SUBNET=10.244.1.1/99\n", "line 1: FLANNEL_SUBNET="),
        ("cluster/broken.json", "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [", "line 1 column 47: invalid JSON: EOF while parsing a list"),
        ("cluster/broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: [\n", "invalid YAML"),
        ("cluster/noname.json", "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{}}", "$.metadata.name: expected a string"),
        ("etcd/bad.json", "{\"foo\": 1}", "$: expected etcdctl v3 JSON"),
        ("meta.json", "{", "invalid JSON"),
    ];
    for (file, text, want) in cases {
        let fx = TempCapture::from("seed-001");
        fx.write(file, text);
        let o = netdoctor(&["eval", "--capture", fx.path(), "--format", "json"]);
        assert_eq!(o.status.code(), Some(1), "{file}: a broken file does not turn findings into exit 2");
        let v = json_of(&o);
        let errs = v["errors"].as_array().unwrap();
        assert!(
            errs.iter().any(|e| e["source"] == *file && e["message"].as_str().unwrap().contains(want)),
            "{file}: want error containing {want:?}, got {errs:#?}"
        );
        // The admin host's facts still evaluate (except when its own links file is the broken one).
        let rules: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
        assert!(rules.contains(&"node-no-default-route"), "{file}: other facts still evaluated: {rules:?}");
    }
}

#[test]
fn a_rule_that_needs_a_broken_fact_says_so() {
    let fx = TempCapture::from("seed-001");
    fx.write("nodes/admin/ip-route.json", "not json");
    let v = json_of(&netdoctor(&["eval", "--capture", fx.path(), "--format", "json"]));
    let skipped = v["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["rule"] == "node-no-default-route"
            && s["subject"]["name"] == "admin"
            && s["reason"].as_str().unwrap().starts_with("could not be read: nodes/admin/ip-route.json: line 1 column 2: invalid JSON")),
        "{skipped:#?}"
    );
    assert!(!v["findings"].as_array().unwrap().iter().any(|f| f["subject"]["name"] == "admin"), "never guesses on broken data");
}

#[test]
fn broken_user_rules_are_reported_and_the_pack_still_runs() {
    let scratch = tempfile::Builder::new().prefix("netdoctor-rules-").tempdir().unwrap();
    let dir = scratch.path();
    std::fs::write(
        dir.join("syntax.rhai"),
        "const RULE = #{ id: \"my-syntax\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {\n    let x = ;\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("spin.rhai"),
        "const RULE = #{ id: \"my-spin\", severity: \"info\", summary: \"s\", remediation: \"r\" };\nfn evaluate(g) {\n    loop { }\n}\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let o = netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--rules", d, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v = json_of(&o);
    let errs: Vec<String> =
        v["errors"].as_array().unwrap().iter().map(|e| format!("{}: {}", e["source"].as_str().unwrap(), e["message"].as_str().unwrap())).collect();
    assert!(errs.iter().any(|e| e.starts_with(&format!("{d}/syntax.rhai:3:13: Unexpected ';'"))), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with(&format!("{d}/spin.rhai:3:")) && e.contains("operations budget")), "{errs:#?}");
    let plain = json_of(&netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--format", "json"]));
    assert_eq!(v["findings"], plain["findings"], "the built-in findings still appear, all of them");
    let check = netdoctor(&["rules", "check", d]);
    assert_eq!(check.status.code(), Some(1));
    assert!(stdout(&check).contains(&format!("{d}/syntax.rhai:3:13: error: Unexpected ';'")), "{}", stdout(&check));
}

#[test]
fn user_rule_overrides_builtin_by_id() {
    let scratch = tempfile::Builder::new().prefix("netdoctor-override-").tempdir().unwrap();
    let dir = scratch.path();
    std::fs::write(
        dir.join("quiet.rhai"),
        "const RULE = #{ id: \"node-no-default-route\", severity: \"info\", summary: \"silenced\", remediation: \"r\" };\nfn evaluate(g) { }\n",
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let v = json_of(&netdoctor(&["eval", "--capture", "examples/captures/seed-001", "--rules", d, "--format", "json"]));
    assert!(!v["findings"].as_array().unwrap().iter().any(|f| f["rule"] == "node-no-default-route"));
    assert!(v["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("replaces rules/node-no-default-route.rhai")));
}

#[test]
fn rules_list_and_check_on_the_builtin_pack() {
    let o = netdoctor(&["rules", "list"]);
    assert_eq!(o.status.code(), Some(0));
    golden("rules-list.table", &stdout(&o));
    let c = netdoctor(&["rules", "check", "rules"]);
    assert_eq!(c.status.code(), Some(0), "{}", stdout(&c));
    assert_eq!(stdout(&c), format!("{} rules OK, 0 errors\n", netdoctor_rules::BUILTIN.len()));
}

#[test]
fn unknown_files_are_noted_not_errors() {
    let fx = TempCapture::from("healthy-flannel");
    fx.write("nodes/node1/ethtool.txt", "whatever");
    fx.write("nodes/not-a-node/ip-route.json", "[]");
    fx.write("screenshots/a.png", "x");
    let o = netdoctor(&["eval", "--capture", fx.path(), "--format", "json"]);
    let v = json_of(&o);
    let notes: Vec<&str> = v["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(notes.contains(&"ignored nodes/node1/ethtool.txt: not part of the capture format"), "{notes:?}");
    assert!(notes.contains(&"ignored screenshots: not part of the capture format"), "{notes:?}");
    assert!(v["errors"].as_array().unwrap().is_empty());
}

#[test]
fn help_teaches() {
    let o = netdoctor(&["eval", "--help"]);
    let h = stdout(&o);
    for needle in ["--capture", "--min-severity", "--rules", "--format", "Exit code"] {
        assert!(h.contains(needle), "eval --help lacks {needle}: {h}");
    }
}
