//! No panics on bad input: every parser gets its real fixture truncated at many
//! points and with bytes replaced, and must answer Ok or Err, never panic.

use netdoctor_collectors::{etcd, iproute, iptables, ipvs, kubelet, resolv_conf, subnet_env, sysctl};

fn fixture(p: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{p}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Deterministic variants of a text: truncations and single-byte replacements.
fn variants(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..150 {
        let cut = (next() as usize) % (bytes.len() + 1);
        out.push(String::from_utf8_lossy(&bytes[..cut]).to_string());
        let mut b = bytes.to_vec();
        if !b.is_empty() {
            let at = (next() as usize) % b.len();
            const POOL: &[u8] = b"{}[]\":,0-9a/ \n.";
            b[at] = POOL[(next() as usize) % POOL.len()];
        }
        out.push(String::from_utf8_lossy(&b).to_string());
    }
    out
}

#[test]
fn parsers_never_panic_on_mangled_real_output() {
    type Parser = fn(&str);
    let cases: &[(&str, Parser)] = &[
        ("ip/ip-link.json", |t| drop(iproute::parse_links(t))),
        ("ip/ip-addr.json", |t| drop(iproute::parse_addrs(t))),
        ("ip/ip-route.json", |t| drop(iproute::parse_routes(t, false))),
        ("ip/ip-rule.json", |t| drop(iproute::parse_rules(t))),
        ("ip/ip-neigh.json", |t| drop(iproute::parse_neigh(t))),
        ("ip/bridge-fdb.json", |t| drop(iproute::parse_fdb(t))),
        ("ipvs/ipvsadm-Ln.txt", |t| drop(ipvs::parse(t))),
        ("ipvs/ipvsadm-Sn.txt", |t| drop(ipvs::parse(t))),
        ("ipvs/proc-ip_vs.txt", |t| drop(ipvs::parse(t))),
        ("iptables/iptables-save.txt", |t| drop(iptables::parse(t))),
        ("etcd/v3.json", |t| drop(etcd::parse(t, "x"))),
        ("etcd/v2.json", |t| drop(etcd::parse(t, "x"))),
        ("sysctl/sysctl-full.txt", |t| drop(sysctl::parse(t))),
        ("resolv/stub-resolv.conf", |t| drop(resolv_conf::parse(t))),
    ];
    for (file, parse) in cases {
        for v in variants(&fixture(file)) {
            parse(&v);
        }
    }
    for v in variants("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /run/systemd/resolve/resolv.conf\n") {
        drop(kubelet::parse_config(&v));
        drop(kubelet::parse_args(&v));
    }
    for v in variants("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n") {
        drop(subnet_env::parse(&v));
    }
}
