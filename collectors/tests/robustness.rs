//! Bad input: every parser gets its real fixture truncated at many points and
//! with bytes replaced, and must answer Ok or Err, never panic; a truncated
//! JSON file or iptables-save, and a value of the wrong type, must be an
//! error, not a smaller or defaulted fact. The k8s reader is among them.

use netdoctor_collectors::{etcd, iptables, ipvs, k8s, kubelet, netlink, resolv_conf, subnet_env, sysctl};
use netdoctor_engine::Source;

fn fixture(p: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn example(p: &str) -> String {
    std::fs::read_to_string(format!("{}/../examples/captures/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Deterministic truncations (strictly shorter than the text, at a point that leaves more than
/// whitespace out).
fn truncations(text: &str, n: usize) -> Vec<String> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let trimmed = text.trim_end().len();
    (0..n).map(|_| (r.next() as usize) % trimmed).map(|cut| String::from_utf8_lossy(&text.as_bytes()[..cut]).to_string()).collect()
}

/// Deterministic single-byte replacements.
fn flips(text: &str, n: usize) -> Vec<String> {
    let mut r = Rng(0x1234_5678_9abc_def1);
    (0..n)
        .map(|_| {
            let mut b = text.as_bytes().to_vec();
            let at = (r.next() as usize) % b.len();
            const POOL: &[u8] = b"{}[]\":,0-9a/ \n.";
            b[at] = POOL[(r.next() as usize) % POOL.len()];
            String::from_utf8_lossy(&b).to_string()
        })
        .collect()
}

type Parser = fn(&str) -> Result<(), String>;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<(), String> {
    r.map(drop).map_err(|e| e.to_string())
}

/// Parses every object of a kubectl List text through the k8s projection.
fn k8s_list(text: &str) -> Result<(), String> {
    let mut first_err: Option<String> = None;
    k8s::for_each_object(text.as_bytes(), false, &mut |path, v| {
        if let Err(e) = k8s::project(&v, path, &Source::file("x")) {
            first_err.get_or_insert(e.to_string());
        }
    })
    .map_err(|e| e.to_string())?;
    first_err.map_or(Ok(()), Err)
}

const JSON_CASES: &[(&str, Parser)] = &[
    ("ip/ip-link.json", |t| ok(netlink::parse_links(t))),
    ("ip/ip-addr.json", |t| ok(netlink::parse_addrs(t))),
    ("ip/ip-route.json", |t| ok(netlink::parse_routes(t, false))),
    ("ip/ip-rule.json", |t| ok(netlink::parse_rules(t))),
    ("ip/ip-neigh.json", |t| ok(netlink::parse_neigh(t))),
    ("ip/bridge-fdb.json", |t| ok(netlink::parse_fdb(t))),
    ("etcd/v3.json", |t| ok(etcd::parse(t, "x"))),
    ("etcd/v2.json", |t| ok(etcd::parse(t, "x"))),
];

#[test]
fn parsers_never_panic_on_mangled_real_output() {
    let text_cases: &[(&str, Parser)] = &[
        ("ipvs/ipvsadm-Ln.txt", |t| ok(ipvs::parse(t))),
        ("ipvs/ipvsadm-Sn.txt", |t| ok(ipvs::parse(t))),
        ("ipvs/proc-ip_vs.txt", |t| ok(ipvs::parse(t))),
        ("iptables/iptables-save.txt", |t| ok(iptables::parse(t))),
        ("sysctl/sysctl-full.txt", |t| ok(sysctl::parse(t))),
        ("resolv/stub-resolv.conf", |t| ok(resolv_conf::parse(t))),
    ];
    for (file, parse) in JSON_CASES.iter().chain(text_cases) {
        let text = fixture(file);
        assert!(parse(&text).is_ok(), "{file} must parse as it is");
        for v in truncations(&text, 100).into_iter().chain(flips(&text, 100)) {
            let _ = parse(&v);
        }
    }
    for v in flips("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /run/systemd/resolve/resolv.conf\n", 100) {
        let _ = kubelet::parse_config(&v);
        let _ = kubelet::parse_args(&v);
    }
    for v in flips("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n", 100) {
        let _ = subnet_env::parse(&v);
    }
    for f in [
        "healthy-flannel/cluster/pods.json",
        "healthy-flannel/cluster/services.json",
        "healthy-flannel/cluster/endpointslices.json",
        "healthy-flannel/cluster/nodes.json",
    ] {
        let text = example(f);
        assert!(k8s_list(&text).is_ok(), "{f} must read as it is");
        for v in truncations(&text, 60).into_iter().chain(flips(&text, 60)) {
            let _ = k8s_list(&v);
        }
    }
}

#[test]
fn truncated_files_are_errors_not_smaller_facts() {
    for (file, parse) in JSON_CASES {
        for v in truncations(&fixture(file), 60) {
            assert!(parse(&v).is_err(), "{file} truncated to {} bytes was accepted", v.len());
        }
    }
    for f in ["healthy-flannel/cluster/pods.json", "healthy-flannel/cluster/services.json"] {
        for v in truncations(&example(f), 40) {
            assert!(k8s_list(&v).is_err(), "{f} truncated to {} bytes was accepted", v.len());
        }
    }
    let ipt = fixture("iptables/iptables-save.txt");
    let last_commit = ipt.rfind("COMMIT").unwrap();
    for v in truncations(&ipt, 60).into_iter().filter(|v| v.len() <= last_commit) {
        assert!(iptables::parse(&v).is_err(), "iptables-save truncated to {} bytes was accepted", v.len());
    }
}

/// Replaces the first `"key": <value>` of a JSON text with `"key": <with>`.
fn swap(text: &str, key: &str, with: &str) -> String {
    let pat = format!("\"{key}\": ");
    let at = text.find(&pat).unwrap_or_else(|| panic!("no {key} in fixture")) + pat.len();
    let end = text[at..].find([',', '}', '\n']).map_or(text.len(), |e| at + e);
    format!("{}{with}{}", &text[..at], &text[end..])
}

#[test]
fn wrong_types_are_errors_never_defaults() {
    let cases: &[(&str, &str, &str, Parser)] = &[
        ("ip/ip-link.json", "mtu", "\"abc\"", |t| ok(netlink::parse_links(t))),
        ("ip/ip-link.json", "ifname", "42", |t| ok(netlink::parse_links(t))),
        ("ip/ip-addr.json", "prefixlen", "300", |t| ok(netlink::parse_addrs(t))),
        ("ip/ip-route.json", "dev", "42", |t| ok(netlink::parse_routes(t, false))),
        ("ip/ip-route.json", "metric", "-1", |t| ok(netlink::parse_routes(t, false))),
        ("ip/ip-route.json", "type", "\"weird\"", |t| ok(netlink::parse_routes(t, false))),
        ("ip/ip-neigh.json", "dst", "\"not-an-ip\"", |t| ok(netlink::parse_neigh(t))),
        ("ip/bridge-fdb.json", "mac", "\"zz:zz\"", |t| ok(netlink::parse_fdb(t))),
        ("ip/ip-rule.json", "priority", "\"x\"", |t| ok(netlink::parse_rules(t))),
    ];
    for (file, key, with, parse) in cases {
        let mangled = swap(&fixture(file), key, with);
        let e = parse(&mangled).expect_err(&format!("{file} with {key}: {with} was accepted"));
        assert!(e.contains(key), "{file}: the error names the field: {e}");
    }
    let k8s_cases: &[(&str, &str, &str)] = &[
        ("healthy-flannel/cluster/services.json", "port", "\"abc\""),
        ("healthy-flannel/cluster/nodes.json", "type", "true"),
        ("healthy-flannel/cluster/pods.json", "ready", "\"false\""),
        ("healthy-flannel/cluster/pods.json", "restartCount", "-3"),
        ("healthy-flannel/cluster/pods.json", "hostNetwork", "\"yes\""),
        ("healthy-flannel/cluster/endpointslices.json", "ready", "\"false\""),
    ];
    for (file, key, with) in k8s_cases {
        let text = example(file);
        if !text.contains(&format!("\"{key}\": ")) {
            continue;
        }
        let e = k8s_list(&swap(&text, key, with)).expect_err(&format!("{file} with {key}: {with} was accepted"));
        assert!(e.contains(key), "{file}: {e}");
    }
    assert!(ipvs::parse("-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 10.0.0.1:80 -m -w abc\n").is_err());
    assert!(sysctl::parse("garbage line\n").is_err());
    assert!(resolv_conf::parse("nameserver abc\n").is_err());
    assert!(subnet_env::parse("FLANNEL_IPMASQ=maybe\n").is_err());
    assert!(etcd::parse(&fixture("etcd/v3-bad-lease.json"), "x").unwrap().bad_keys.len() == 1);
}
