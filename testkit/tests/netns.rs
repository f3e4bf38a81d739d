//! The netns harness builds a flannel-style node dataplane in real
//! namespaces, reads it back through `ip -j`, and leaves nothing behind,
//! also when the test panics.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;

use netdoctor_testkit::netns::Netns;
use netdoctor_testkit::{require, run, Error};
use serde_json::Value;

fn listed_namespaces() -> String {
    run(Command::new("ip").args(["netns", "list"])).unwrap()
}

fn is_listed(name: &str) -> bool {
    listed_namespaces().lines().any(|l| l.split_whitespace().next() == Some(name))
}

/// The entries of an `ip -j` array whose `key` is `value`.
fn with<'a>(entries: &'a Value, key: &str, value: &str) -> Vec<&'a Value> {
    entries.as_array().unwrap().iter().filter(|e| e[key] == value).collect()
}

#[test]
fn builds_a_flannel_node_and_reads_it_back() {
    let node = require!(Netns::new("node"));
    let peer = Netns::new("peer").unwrap();
    assert!(node.name().starts_with(&format!("ndt-node-{}-", std::process::id())));
    assert!(node.path().exists(), "{}", node.path().display());
    assert!(is_listed(node.name()) && is_listed(peer.name()));

    // Underlay: eth0 in the node, its peer in the other namespace.
    node.veth("eth0", &peer, "eth0").unwrap();
    node.addr_add("eth0", "192.168.56.11/24").unwrap();
    node.link_up("eth0").unwrap();
    peer.addr_add("eth0", "192.168.56.12/24").unwrap();
    peer.link_up("eth0").unwrap();

    // cni0 bridge with a pod-side veth enslaved to it.
    node.bridge("cni0").unwrap();
    node.addr_add("cni0", "10.244.1.1/24").unwrap();
    node.link_up("cni0").unwrap();
    node.veth("vethpod0", &node, "podeth0").unwrap();
    node.set_master("vethpod0", "cni0").unwrap();
    node.link_up("vethpod0").unwrap();

    // flannel.1 as flannel makes it, with a fixed VtepMAC.
    node.vxlan("flannel.1", 1, "192.168.56.11", Some("eth0")).unwrap();
    node.set_mac("flannel.1", "0a:58:0a:f4:01:00").unwrap();
    node.addr_add("flannel.1", "10.244.1.0/32").unwrap();
    node.link_up("flannel.1").unwrap();

    // Routes in the main table and table 100, a rule, neighbour and fdb.
    node.route_add(&["10.244.2.0/24", "via", "10.244.2.0", "dev", "flannel.1", "onlink"]).unwrap();
    node.route_add(&["blackhole", "10.244.9.0/24"]).unwrap();
    node.route_add(&["default", "via", "192.168.56.1", "dev", "eth0", "table", "100"]).unwrap();
    node.rule_add(&["from", "10.244.1.0/24", "table", "100", "priority", "100"]).unwrap();
    node.neigh_add("10.244.2.0", "0a:58:0a:f4:02:00", "flannel.1").unwrap();
    node.fdb_add("0a:58:0a:f4:02:00", "flannel.1", "192.168.56.12").unwrap();
    node.sysctl("net.ipv4.ip_forward", "1").unwrap();

    let links = node.ip_json(&["-d", "link", "show"]).unwrap();
    let vxlan = with(&links, "ifname", "flannel.1")[0];
    assert_eq!(vxlan["address"], "0a:58:0a:f4:01:00");
    let info = &vxlan["linkinfo"]["info_data"];
    assert_eq!(vxlan["linkinfo"]["info_kind"], "vxlan");
    assert_eq!(info["id"], 1);
    assert_eq!(info["local"], "192.168.56.11");
    assert_eq!(info["port"], 8472);
    assert_eq!(info["learning"], false);
    assert_eq!(with(&links, "ifname", "vethpod0")[0]["master"], "cni0");
    assert_eq!(with(&links, "ifname", "cni0")[0]["linkinfo"]["info_kind"], "bridge");

    let routes = node.ip_json(&["route", "show", "table", "all"]).unwrap();
    let overlay = with(&routes, "dst", "10.244.2.0/24");
    assert_eq!(overlay[0]["dev"], "flannel.1");
    assert_eq!(overlay[0]["flags"], serde_json::json!(["onlink"]));
    assert_eq!(with(&routes, "dst", "10.244.9.0/24")[0]["type"], "blackhole");
    let table100: Vec<_> = with(&routes, "table", "100");
    assert_eq!(table100.len(), 1);
    assert_eq!(table100[0]["dst"], "default");
    assert_eq!(table100[0]["gateway"], "192.168.56.1");

    let rules = node.ip_json(&["rule", "show"]).unwrap();
    let rule = rules.as_array().unwrap().iter().find(|r| r["priority"] == 100).expect("rule 100");
    assert_eq!(rule["src"], "10.244.1.0");
    assert_eq!(rule["srclen"], 24);
    assert_eq!(rule["table"], "100");

    let neigh = node.ip_json(&["neigh", "show", "dev", "flannel.1"]).unwrap();
    assert_eq!(neigh[0]["dst"], "10.244.2.0");
    assert_eq!(neigh[0]["lladdr"], "0a:58:0a:f4:02:00");
    assert_eq!(neigh[0]["state"], serde_json::json!(["PERMANENT"]));

    let fdb: Value = serde_json::from_str(&node.bridge_cmd(&["-j", "fdb", "show", "dev", "flannel.1"]).unwrap()).unwrap();
    let entry = with(&fdb, "mac", "0a:58:0a:f4:02:00")[0];
    assert_eq!(entry["dst"], "192.168.56.12");
    assert_eq!(entry["state"], "permanent");

    assert_eq!(node.exec("sysctl", &["-n", "net.ipv4.ip_forward"]).unwrap().trim(), "1");

    // The kernel routes by what was built: pod traffic to node2 goes over
    // the VXLAN, table 100 is used for sources the rule selects.
    let via = node.ip_json(&["route", "get", "10.244.2.5"]).unwrap();
    assert_eq!(via[0]["dev"], "flannel.1");
    let via = node.ip_json(&["route", "get", "8.8.8.8", "from", "10.244.1.5", "iif", "cni0"]).unwrap();
    assert_eq!(via[0]["gateway"], "192.168.56.1");

    let names = [node.name().to_string(), peer.name().to_string()];
    drop(node);
    drop(peer);
    for name in names {
        assert!(!is_listed(&name), "{name} still listed after drop");
    }
}

#[test]
fn errors_carry_the_command_and_its_stderr() {
    let ns = require!(Netns::new("err"));
    let err = ns.ip(&["link", "set", "nosuchdev", "up"]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("ip -n {} link set nosuchdev up", ns.name())), "{text}");
    assert!(text.to_lowercase().contains("cannot find device"), "{text}");
    assert!(matches!(ns.bridge("a-name-longer-than-15"), Err(Error::Invalid(_))));
}

#[test]
fn a_panicking_test_still_deletes_its_namespace() {
    require!(Netns::available());
    let mut name = String::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let ns = Netns::new("panic").unwrap();
        let other = Netns::new("panicpeer").unwrap();
        ns.veth("v0", &other, "v1").unwrap();
        name = ns.name().to_string();
        assert!(is_listed(&name));
        panic!("the test fails while the namespaces exist");
    }));
    assert!(outcome.is_err());
    assert!(!name.is_empty());
    assert!(!is_listed(&name), "{name} survived the panic");
}
