//! `nodes/<name>/`: what `ip -j -d link|addr|route|rule|neigh`, `bridge -j
//! fdb`, `ipvsadm -Ln`, `iptables-save`, `sysctl -a`, /etc/resolv.conf, the
//! kubelet config and flannel's subnet.env say on one host. Devices start
//! from the real `ip -j -d` lines of examples/captures/healthy-flannel
//! (templates/). What every host shares (the IPVS table, kube-proxy's nat
//! chains) is rendered once in [`Shared`].

use crate::kube::Out;
use crate::model::{Cluster, Node, Service, FLANNEL_MTU, GATEWAY, NODE_NET, NODE_PREFIX};
use crate::rng::{mix, Mac, Rng};
use crate::Proxy;
use sha2::Digest;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::Ipv4Addr;

const T_LINKS: &str = include_str!("templates/ip-link.tmpl");
const T_ADDRS: &str = include_str!("templates/ip-addr.tmpl");
const T_IPTABLES_IPVS: &str = include_str!("templates/iptables-ipvs.txt");
const T_SYSCTL: &str = include_str!("templates/sysctl-base.txt");
const T_SYSCTL_VETH: &str = include_str!("templates/sysctl-veth.txt");
const T_KUBELET: &str = include_str!("templates/kubelet-config.yaml");
const SAVED_ON: &str = "Mon May 20 08:30:00 2024";
const FOREVER: &str = r#""valid_life_time":4294967295,"preferred_life_time":4294967295"#;

fn device_template(file: &'static str, name: &str) -> &'static str {
    file.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('\t'))).expect("device template")
}

fn fill(t: &str, subs: &[(&str, &str)]) -> String {
    let mut s = t.to_string();
    for (k, v) in subs {
        s = s.replace(k, v);
    }
    s
}

/// kube-proxy's `portProtoHash`-based chain suffix: the first 16 base32
/// characters of SHA-256(`ns/name:port` + protocol [+ endpoint]).
pub fn chain_hash(input: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = sha2::Sha256::digest(input.as_bytes());
    let mut out = String::with_capacity(16);
    let (mut buf, mut bits) = (0u32, 0u32);
    for b in digest {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 && out.len() < 16 {
            out.push(A[((buf >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
        if out.len() == 16 {
            break;
        }
    }
    out
}

/// A veth's name and MAC, derived from its pod so every run agrees.
fn veth_of(c: &Cluster, pod: u32) -> (String, Mac) {
    let h = mix(c.seed ^ mix(u64::from(pod) + 0x5eed));
    (format!("veth{:08x}", h as u32), Rng::new(h).local_mac())
}

/// One IPVS virtual server, its `ipvsadm -Ln` block.
struct Vs {
    key: (u8, u32, u16),
    text: String,
}

/// What every captured host shares.
pub struct Shared {
    cluster_ips: Vec<Ipv4Addr>,
    /// ClusterIP virtual servers, and the real-server block of each NodePort.
    vs: Vec<Vs>,
    node_ports: Vec<(u8, u16, String)>,
    /// iptables mode: kube-proxy's `KUBE-*` nat chains (declarations, rules) and filter rules.
    nat_decls: String,
    nat_rules: String,
    filter_services: String,
    filter_external: String,
}

fn proto_rank(p: &str) -> u8 {
    if p == "TCP" {
        0
    } else {
        1
    }
}

fn rs_block(eps: &[String]) -> String {
    let mut s = String::new();
    for e in eps {
        let _ = writeln!(s, "  -> {e:<28} {:<7} {:<6} {:<10} {:<10}", "Masq", 1, 0, 0);
    }
    s
}

fn ready_addrs(s: &Service, target: u16) -> Vec<String> {
    let mut ips: Vec<Ipv4Addr> = s.ready_endpoints().map(|e| e.ip).collect();
    ips.sort();
    ips.iter().map(|ip| format!("{ip}:{target}")).collect()
}

impl Shared {
    pub fn new(c: &Cluster) -> Shared {
        let mut cluster_ips: Vec<Ipv4Addr> = c.services.iter().map(|s| s.ip).collect();
        cluster_ips.sort();
        let mut vs = Vec::new();
        let mut node_ports = Vec::new();
        if c.proxy() == Proxy::Ipvs {
            for s in &c.services {
                for p in &s.ports {
                    let rs = rs_block(&ready_addrs(s, p.target));
                    let text = format!("{:<4} {}:{} rr\n{rs}", p.proto, s.ip, p.port);
                    vs.push(Vs { key: (proto_rank(p.proto), u32::from(s.ip), p.port), text });
                    if let Some(np) = p.node_port {
                        node_ports.push((proto_rank(p.proto), np, rs));
                    }
                }
            }
            vs.sort_by_key(|v| v.key);
        }
        let mut shared = Shared {
            cluster_ips,
            vs,
            node_ports,
            nat_decls: String::new(),
            nat_rules: String::new(),
            filter_services: String::new(),
            filter_external: String::new(),
        };
        if c.proxy() == Proxy::Iptables {
            shared.kube_proxy_chains(c);
        }
        shared
    }

    /// kube-proxy's iptables-mode chains (v1.28 layout), as `iptables-save` sorts them.
    fn kube_proxy_chains(&mut self, c: &Cluster) {
        let pod_net = c.pod_net.cidr();
        let mut chains: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for name in ["KUBE-KUBELET-CANARY", "KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-PROXY-CANARY", "KUBE-SERVICES"] {
            chains.insert(name.into(), Vec::new());
        }
        chains.get_mut("KUBE-MARK-MASQ").expect("declared").push("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000".into());
        chains.get_mut("KUBE-POSTROUTING").expect("declared").extend([
            "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN".to_string(),
            "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0".to_string(),
            "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully".to_string(),
        ]);
        let mut services: Vec<(String, String, String)> = Vec::new(); // (port name, nat line or "", filter line)
        let mut nodeports: Vec<(String, String)> = Vec::new();
        let mut external: Vec<(String, String)> = Vec::new();
        for s in &c.services {
            let ns = c.ns(s.ns);
            for p in &s.ports {
                let spn = format!("{ns}/{}:{}", s.name, p.name);
                let proto = p.proto.to_lowercase();
                let hash = chain_hash(&format!("{spn}{proto}"));
                let svc_chain = format!("KUBE-SVC-{hash}");
                let eps = ready_addrs(s, p.target);
                if eps.is_empty() {
                    services.push((
                        spn.clone(),
                        String::new(),
                        format!(
                            "-A KUBE-SERVICES -d {}/32 -p {proto} -m comment --comment \"{spn} has no endpoints\" -m {proto} --dport {} -j REJECT --reject-with icmp-port-unreachable",
                            s.ip, p.port
                        ),
                    ));
                    if let Some(np) = p.node_port {
                        external.push((spn.clone(), format!("-A KUBE-EXTERNAL-SERVICES -p {proto} -m comment --comment \"{spn} has no endpoints\" -m addrtype --dst-type LOCAL -m {proto} --dport {np} -j REJECT --reject-with icmp-port-unreachable")));
                    }
                    continue;
                }
                services.push((
                    spn.clone(),
                    format!(
                        "-A KUBE-SERVICES -d {}/32 -p {proto} -m comment --comment \"{spn} cluster IP\" -m {proto} --dport {} -j {svc_chain}",
                        s.ip, p.port
                    ),
                    String::new(),
                ));
                let mut rules = vec![format!(
                    "-A {svc_chain} ! -s {pod_net} -d {}/32 -p {proto} -m comment --comment \"{spn} cluster IP\" -m {proto} --dport {} -j KUBE-MARK-MASQ",
                    s.ip, p.port
                )];
                let mut sorted = eps.clone();
                sorted.sort();
                let n = sorted.len();
                for (i, ep) in sorted.iter().enumerate() {
                    let sep = format!("KUBE-SEP-{}", chain_hash(&format!("{spn}{proto}{ep}")));
                    let stat = if i + 1 < n { format!(" -m statistic --mode random --probability {:.11}", 1.0 / (n - i) as f64) } else { String::new() };
                    rules.push(format!("-A {svc_chain} -m comment --comment \"{spn} -> {ep}\"{stat} -j {sep}"));
                    let ip = ep.split(':').next().unwrap_or_default();
                    chains.insert(
                        sep.clone(),
                        vec![
                            format!("-A {sep} -s {ip}/32 -m comment --comment \"{spn}\" -j KUBE-MARK-MASQ"),
                            format!("-A {sep} -p {proto} -m comment --comment \"{spn}\" -m {proto} -j DNAT --to-destination {ep}"),
                        ],
                    );
                }
                chains.insert(svc_chain.clone(), rules);
                if let Some(np) = p.node_port {
                    let ext = format!("KUBE-EXT-{hash}");
                    chains.insert(
                        ext.clone(),
                        vec![
                            format!("-A {ext} -m comment --comment \"masquerade traffic for {spn} external destinations\" -j KUBE-MARK-MASQ"),
                            format!("-A {ext} -j {svc_chain}"),
                        ],
                    );
                    nodeports.push((spn.clone(), format!("-A KUBE-NODEPORTS -p {proto} -m comment --comment \"{spn}\" -m {proto} --dport {np} -j {ext}")));
                }
            }
        }
        services.sort();
        nodeports.sort();
        external.sort();
        let ks = chains.get_mut("KUBE-SERVICES").expect("declared");
        ks.extend(services.iter().filter(|s| !s.1.is_empty()).map(|s| s.1.clone()));
        ks.push("-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS".into());
        chains.get_mut("KUBE-NODEPORTS").expect("declared").extend(nodeports.into_iter().map(|n| n.1));
        for (name, rules) in &chains {
            let _ = writeln!(self.nat_decls, ":{name} - [0:0]");
            for r in rules {
                self.nat_rules.push_str(r);
                self.nat_rules.push('\n');
            }
        }
        for s in services.iter().filter(|s| !s.2.is_empty()) {
            self.filter_services.push_str(&s.2);
            self.filter_services.push('\n');
        }
        for e in external {
            self.filter_external.push_str(&e.1);
            self.filter_external.push('\n');
        }
    }
}

/// JSON array writer for `ip -j`: one line, objects joined by commas.
struct JsonArray {
    s: String,
}

impl JsonArray {
    fn new() -> JsonArray {
        JsonArray { s: String::from("[") }
    }

    fn push(&mut self, obj: &str) {
        if self.s.len() > 1 {
            self.s.push(',');
        }
        self.s.push_str(obj);
    }

    fn finish(mut self) -> String {
        self.s.push_str("]\n");
        self.s
    }
}

/// Everything a host's files are rendered from.
struct Host<'a> {
    c: &'a Cluster,
    i: usize,
    node: &'a Node,
    veths: Vec<(String, Mac, Ipv4Addr)>,
    mtu: u32,
    ipvs: bool,
}

pub fn write_host(c: &Cluster, shared: &Shared, i: usize, out: &mut Out) -> std::io::Result<()> {
    let node = &c.nodes[i];
    let veths = node.local_pods.iter().map(|&p| {
        let (name, mac) = veth_of(c, p);
        (name, mac, c.pods[p as usize].ip.expect("pods on the pod network have an IP"))
    });
    let h = Host { c, i, node, veths: veths.collect(), mtu: if c.faults.mtu_too_big == Some(i) { 1500 } else { FLANNEL_MTU }, ipvs: c.proxy() == Proxy::Ipvs };
    let dir = format!("nodes/{}", node.name);
    out.write_file(&format!("{dir}/ip-link.json"), h.links(false).as_bytes())?;
    out.write_file(&format!("{dir}/ip-addr.json"), h.links(true).as_bytes())?;
    out.write_file(&format!("{dir}/ip-route.json"), h.routes(shared).as_bytes())?;
    out.write_file(
        &format!("{dir}/ip-rule.json"),
        br#"[{"priority":0,"src":"all","table":"local"},{"priority":32766,"src":"all","table":"main"},{"priority":32767,"src":"all","table":"default"}]
"#,
    )?;
    out.write_file(&format!("{dir}/ip-neigh.json"), h.neighbours().as_bytes())?;
    out.write_file(&format!("{dir}/bridge-fdb.json"), h.fdb().as_bytes())?;
    if h.ipvs {
        let mut f = out.create(&format!("{dir}/ipvs.txt"))?;
        h.write_ipvs(shared, &mut f)?;
        f.flush()?;
    }
    {
        let mut f = out.create(&format!("{dir}/iptables-save.txt"))?;
        h.write_iptables(shared, &mut f)?;
        f.flush()?;
    }
    out.write_file(&format!("{dir}/sysctl.txt"), h.sysctl().as_bytes())?;
    out.write_file(&format!("{dir}/resolv.conf"), b"# Generated by NetworkManager\nsearch dc1.example.net\nnameserver 172.20.0.2\nnameserver 172.20.0.3\n")?;
    out.write_file(&format!("{dir}/kubelet-config.yaml"), T_KUBELET.as_bytes())?;
    let env = format!("FLANNEL_NETWORK={}\nFLANNEL_SUBNET={}/24\nFLANNEL_MTU={FLANNEL_MTU}\nFLANNEL_IPMASQ=true\n", c.pod_net.cidr(), node.subnet_host(1));
    out.write_file(&format!("{dir}/subnet.env"), env.as_bytes())
}

fn inet(local: Ipv4Addr, prefix: u8, broadcast: Option<Ipv4Addr>, scope: &str, label: &str) -> String {
    let b = broadcast.map(|b| format!(r#""broadcast":"{b}","#)).unwrap_or_default();
    format!(r#"{{"family":"inet","local":"{local}","prefixlen":{prefix},{b}"scope":"{scope}","label":"{label}",{FOREVER}}}"#)
}

fn inet6(local: &str, prefix: u8, scope: &str) -> String {
    format!(r#"{{"family":"inet6","local":"{local}","prefixlen":{prefix},"scope":"{scope}",{FOREVER}}}"#)
}

fn node_broadcast() -> Ipv4Addr {
    Ipv4Addr::from(u32::from(NODE_NET) | (u32::MAX >> NODE_PREFIX))
}

impl Host<'_> {
    /// `ip -j -d link show` (`with_addrs`: `ip -j -d addr show`).
    fn links(&self, with_addrs: bool) -> String {
        let file = if with_addrs { T_ADDRS } else { T_LINKS };
        let n = self.node;
        let mut a = JsonArray::new();
        let addrs = |t: &str, list: Vec<String>| t.replace("@ADDRS@", &list.join(","));
        let mtu = self.mtu.to_string();
        let brmac = n.cni_mac.bridge_id();
        a.push(&addrs(
            &fill(device_template(file, "lo"), &[("@IFINDEX@", "1")]),
            vec![inet(Ipv4Addr::LOCALHOST, 8, None, "host", "lo"), inet6("::1", 128, "host")],
        ));
        a.push(&addrs(
            &fill(device_template(file, "eth0"), &[("@IFINDEX@", "2"), ("@MAC@", &n.eth_mac.to_string())]),
            vec![inet(n.ip, NODE_PREFIX, Some(node_broadcast()), "global", "eth0"), inet6(&n.eth_mac.link_local().to_string(), 64, "link")],
        ));
        a.push(&addrs(
            &fill(
                device_template(file, "cni0"),
                &[("@IFINDEX@", "3"), ("@MAC@", &n.cni_mac.to_string()), ("@MTU@", &mtu), ("@BRMAC@", &brmac), ("@GCTIMER@", "297.28")],
            ),
            vec![inet(n.subnet_host(1), 24, Some(n.subnet_host(255)), "global", "cni0"), inet6(&n.cni_mac.link_local().to_string(), 64, "link")],
        ));
        let ip = n.ip.to_string();
        a.push(&addrs(
            &fill(device_template(file, "flannel"), &[("@IFINDEX@", "4"), ("@MAC@", &n.vtep_mac.to_string()), ("@NODE_IP@", &ip)]),
            vec![inet(n.subnet, 32, None, "global", "flannel.1"), inet6(&n.vtep_mac.link_local().to_string(), 64, "link")],
        ));
        let mut ifindex = 5;
        if self.ipvs {
            let list = self.c.services.iter().map(|s| inet(s.ip, 32, None, "global", "kube-ipvs0")).collect();
            a.push(&addrs(&fill(device_template(file, "kube-ipvs0"), &[("@IFINDEX@", "5"), ("@MAC@", &n.ipvs_mac.to_string())]), list));
            ifindex = 6;
        }
        let veth = device_template(file, "veth");
        for (k, (name, mac, _)) in self.veths.iter().enumerate() {
            let no = k + 1;
            let t = fill(
                veth,
                &[
                    ("@IFINDEX@", &(ifindex + k).to_string()),
                    ("@IFNAME@", name),
                    ("@MAC@", &mac.to_string()),
                    ("@MTU@", &mtu),
                    ("@NETNSID@", &no.to_string()),
                    ("@PORTID@", &format!("0x{:x}", 0x8000 + no)),
                    ("@PORTNO@", &format!("0x{no:x}")),
                    ("@DPORT@", &(0x8000 + no).to_string()),
                    ("@BRMAC@", &brmac),
                ],
            );
            a.push(&addrs(&t, vec![inet6(&mac.link_local().to_string(), 64, "link")]));
        }
        a.finish()
    }

    /// The leases this host programs (every lease but its own, minus the one its flanneld missed).
    fn peers(&self) -> Vec<(Ipv4Addr, Ipv4Addr, Mac, Option<usize>)> {
        let missing = self.c.faults.route_missing.filter(|(h, _)| *h == self.i).map(|(_, p)| p);
        let stale = self.c.faults.vtep_stale.filter(|(h, _, _)| *h == self.i);
        self.c
            .leases()
            .into_iter()
            .filter(|l| l.3 != Some(self.i) && (l.3.is_none() || l.3 != missing))
            .map(|(s, ip, mac, owner)| match stale {
                Some((_, x, m)) if owner == Some(x) => (s, ip, m, owner),
                _ => (s, ip, mac, owner),
            })
            .collect()
    }

    /// `ip -j -d route show table all`.
    fn routes(&self, shared: &Shared) -> String {
        let n = self.node;
        let mut main: Vec<(u32, u8, String)> = Vec::new();
        if self.c.faults.no_default_route != Some(self.i) {
            main.push((
                0,
                0,
                format!(
                    r#"{{"type":"unicast","dst":"default","gateway":"{GATEWAY}","dev":"eth0","table":"main","protocol":"boot","scope":"global","flags":[]}}"#
                ),
            ));
        }
        for (subnet, _, _, _) in self.peers() {
            main.push((
                u32::from(subnet),
                24,
                format!(r#"{{"type":"unicast","dst":"{subnet}/24","gateway":"{subnet}","dev":"flannel.1","table":"main","protocol":"boot","scope":"global","flags":["onlink"]}}"#),
            ));
        }
        main.push((
            u32::from(n.subnet),
            24,
            format!(
                r#"{{"type":"unicast","dst":"{}/24","dev":"cni0","table":"main","protocol":"kernel","scope":"link","prefsrc":"{}","flags":[]}}"#,
                n.subnet,
                n.subnet_host(1)
            ),
        ));
        main.push((
            u32::from(NODE_NET),
            NODE_PREFIX,
            format!(r#"{{"type":"unicast","dst":"{NODE_NET}/{NODE_PREFIX}","dev":"eth0","table":"main","protocol":"kernel","scope":"link","prefsrc":"{}","flags":[]}}"#, n.ip),
        ));
        main.sort_by_key(|r| (r.0, r.1));
        let local = |ty: &str, dst: &str, dev: &str, scope: &str, src: Ipv4Addr| {
            format!(r#"{{"type":"{ty}","dst":"{dst}","dev":"{dev}","table":"local","protocol":"kernel","scope":"{scope}","prefsrc":"{src}","flags":[]}}"#)
        };
        let mut locals: Vec<(u32, u8, String)> = Vec::new();
        if self.ipvs {
            for ip in &shared.cluster_ips {
                locals.push((u32::from(*ip), 32, local("local", &ip.to_string(), "kube-ipvs0", "host", *ip)));
            }
        }
        let lo = Ipv4Addr::LOCALHOST;
        locals.push((u32::from(n.subnet), 32, local("local", &n.subnet.to_string(), "flannel.1", "host", n.subnet)));
        locals.push((u32::from(n.subnet_host(1)), 32, local("local", &n.subnet_host(1).to_string(), "cni0", "host", n.subnet_host(1))));
        locals.push((u32::from(n.subnet_host(255)), 32, local("broadcast", &n.subnet_host(255).to_string(), "cni0", "link", n.subnet_host(1))));
        locals.push((u32::from(Ipv4Addr::new(127, 0, 0, 0)), 8, local("local", "127.0.0.0/8", "lo", "host", lo)));
        locals.push((u32::from(lo), 32, local("local", "127.0.0.1", "lo", "host", lo)));
        locals.push((u32::from(Ipv4Addr::new(127, 255, 255, 255)), 32, local("broadcast", "127.255.255.255", "lo", "link", lo)));
        locals.push((u32::from(n.ip), 32, local("local", &n.ip.to_string(), "eth0", "host", n.ip)));
        locals.push((u32::from(node_broadcast()), 32, local("broadcast", &node_broadcast().to_string(), "eth0", "link", n.ip)));
        locals.sort_by_key(|r| (r.0, r.1));
        let mut a = JsonArray::new();
        for r in main.iter().chain(locals.iter()) {
            a.push(&r.2);
        }
        let mut devs: Vec<(String, Mac)> = vec![("eth0".into(), n.eth_mac), ("flannel.1".into(), n.vtep_mac), ("cni0".into(), n.cni_mac)];
        devs.extend(self.veths.iter().map(|(name, mac, _)| (name.clone(), *mac)));
        for (dev, _) in &devs {
            a.push(&format!(r#"{{"type":"unicast","dst":"fe80::/64","dev":"{dev}","table":"main","protocol":"kernel","scope":"global","metric":256,"flags":[],"pref":"medium"}}"#));
        }
        a.push(r#"{"type":"local","dst":"::1","dev":"lo","table":"local","protocol":"kernel","scope":"global","metric":0,"flags":[],"pref":"medium"}"#);
        for (dev, mac) in &devs {
            a.push(&format!(
                r#"{{"type":"local","dst":"{}","dev":"{dev}","table":"local","protocol":"kernel","scope":"global","metric":0,"flags":[],"pref":"medium"}}"#,
                mac.link_local()
            ));
        }
        for (dev, _) in &devs {
            a.push(&format!(r#"{{"type":"multicast","dst":"ff00::/8","dev":"{dev}","table":"local","protocol":"kernel","scope":"global","metric":256,"flags":[],"pref":"medium"}}"#));
        }
        a.finish()
    }

    /// `ip -j neigh show`.
    fn neighbours(&self) -> String {
        let c = self.c;
        let mut a = JsonArray::new();
        let gw_mac = Mac([0x52, 0x54, 0x00, 0x14, 0x00, 0x01]);
        a.push(&format!(r#"{{"dst":"{GATEWAY}","dev":"eth0","lladdr":"{gw_mac}","state":["REACHABLE"]}}"#));
        // the last few nodes it talked to directly (API server, kubelets)
        let mut rng = Rng::new(c.seed ^ mix(self.i as u64 + 77));
        let mut seen = Vec::new();
        for _ in 0..c.nodes.len().min(4) {
            let j = if seen.is_empty() && self.i != 0 { 0 } else { rng.below(c.nodes.len()) };
            if j == self.i || seen.contains(&j) {
                continue;
            }
            seen.push(j);
            let p = &c.nodes[j];
            a.push(&format!(r#"{{"dst":"{}","dev":"eth0","lladdr":"{}","state":["STALE"]}}"#, p.ip, p.eth_mac));
        }
        for (_, _, ip) in self.veths.iter().take(24) {
            a.push(&format!(r#"{{"dst":"{ip}","dev":"cni0","lladdr":"{}","state":["STALE"]}}"#, Mac::of_pod_ip(*ip)));
        }
        for (subnet, _, mac, _) in self.peers() {
            a.push(&format!(r#"{{"dst":"{subnet}","dev":"flannel.1","lladdr":"{mac}","state":["PERMANENT"]}}"#));
        }
        a.finish()
    }

    /// `bridge -j fdb show`.
    fn fdb(&self) -> String {
        let n = self.node;
        let mut a = JsonArray::new();
        let solicited = |m: Mac| format!("33:33:ff:{:02x}:{:02x}:{:02x}", m.0[3], m.0[4], m.0[5]);
        let own = |mac: &str, dev: &str| format!(r#"{{"mac":"{mac}","ifname":"{dev}","flags":["self"],"state":"permanent"}}"#);
        for mac in ["33:33:00:00:00:01".to_string(), "01:00:5e:00:00:01".to_string(), solicited(n.eth_mac)] {
            a.push(&own(&mac, "eth0"));
        }
        for mac in ["33:33:00:00:00:01".to_string(), "01:00:5e:00:00:6a".into(), "33:33:00:00:00:6a".into(), "01:00:5e:00:00:01".into(), solicited(n.cni_mac)] {
            a.push(&own(&mac, "cni0"));
        }
        a.push(&format!(r#"{{"mac":"{}","ifname":"cni0","flags":[],"master":"cni0","state":"permanent"}}"#, n.cni_mac));
        for (_, ip, mac, _) in self.peers() {
            a.push(&format!(r#"{{"mac":"{mac}","ifname":"flannel.1","dst":"{ip}","flags":["self"],"state":"permanent"}}"#));
        }
        for (name, mac, _) in &self.veths {
            a.push(&format!(r#"{{"mac":"{mac}","ifname":"{name}","flags":[],"master":"cni0","state":"permanent"}}"#));
            for m in ["33:33:00:00:00:01".to_string(), "01:00:5e:00:00:01".to_string(), solicited(*mac)] {
                a.push(&own(&m, name));
            }
        }
        a.finish()
    }

    /// `ipvsadm -Ln`: every ClusterIP:port, and every NodePort on each local address.
    fn write_ipvs(&self, shared: &Shared, w: &mut impl Write) -> std::io::Result<()> {
        let n = self.node;
        w.write_all(b"IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")?;
        let mut entries: Vec<((u8, u32, u16), std::borrow::Cow<'_, str>)> =
            shared.vs.iter().map(|v| (v.key, std::borrow::Cow::Borrowed(v.text.as_str()))).collect();
        for addr in [n.ip, n.subnet_host(1), n.subnet] {
            for (proto, np, rs) in &shared.node_ports {
                let text = format!("{:<4} {addr}:{np} rr\n{rs}", if *proto == 0 { "TCP" } else { "UDP" });
                entries.push(((*proto, u32::from(addr), *np), std::borrow::Cow::Owned(text)));
            }
        }
        if let Some((h, t)) = self.c.faults.proxy_stale {
            if h == self.i {
                // kube-proxy missed the removal of a deleted pod: its address stays a real server
                let s = &self.c.services[t];
                let p = &s.ports[0];
                let key = (proto_rank(p.proto), u32::from(s.ip), p.port);
                let gone = s.endpoints.first().map(|e| e.ip).expect("the stale service has endpoints");
                let o = gone.octets();
                let stale = format!("{}:{}", Ipv4Addr::new(o[0], o[1], o[2], 253), p.target);
                let mut eps = ready_addrs(s, p.target);
                eps.push(stale);
                let text = format!("{:<4} {}:{} rr\n{}", p.proto, s.ip, p.port, rs_block(&eps));
                for e in entries.iter_mut().filter(|e| e.0 == key) {
                    e.1 = std::borrow::Cow::Owned(text.clone());
                }
            }
        }
        entries.sort_by_key(|e| e.0);
        for (_, text) in entries {
            w.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    /// `iptables-save`: kube-proxy (IPVS: ipset matches only; iptables: per-service chains) and flanneld.
    fn write_iptables(&self, shared: &Shared, w: &mut impl Write) -> std::io::Result<()> {
        let pod_net = self.c.pod_net.cidr();
        let cidr = self.node.cidr();
        if self.ipvs {
            return w.write_all(fill(T_IPTABLES_IPVS, &[("@POD_NET@", &pod_net), ("@NODE_CIDR@", &cidr)]).as_bytes());
        }
        let gen = format!("# Generated by iptables-save v1.8.9 (nf_tables) on {SAVED_ON}\n");
        let done = format!("COMMIT\n# Completed on {SAVED_ON}\n");
        write!(
            w,
            "{gen}*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-IPTABLES-HINT - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n{done}"
        )?;
        write!(
            w,
            "{gen}*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:FLANNEL-FWD - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FIREWALL - [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-PROXY-CANARY - [0:0]\n:KUBE-PROXY-FIREWALL - [0:0]\n:KUBE-SERVICES - [0:0]\n\
-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n\
-A INPUT -m comment --comment \"kubernetes health check service ports\" -j KUBE-NODEPORTS\n\
-A INPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n\
-A INPUT -j KUBE-FIREWALL\n\
-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n\
-A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n\
-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
-A FORWARD -m conntrack --ctstate NEW -m comment --comment \"kubernetes externally-visible service portals\" -j KUBE-EXTERNAL-SERVICES\n\
-A FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD\n\
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes load balancer firewall\" -j KUBE-PROXY-FIREWALL\n\
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
-A OUTPUT -j KUBE-FIREWALL\n\
-A FLANNEL-FWD -s {pod_net} -m comment --comment \"flanneld forward\" -j ACCEPT\n\
-A FLANNEL-FWD -d {pod_net} -m comment --comment \"flanneld forward\" -j ACCEPT\n\
{}\
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n\
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n\
-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n\
-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
{}{done}",
            shared.filter_external, shared.filter_services
        )?;
        write!(
            w,
            "{gen}*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:FLANNEL-POSTRTG - [0:0]\n{}\
-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
-A POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG\n\
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment \"flanneld masq\" -j RETURN\n\
-A FLANNEL-POSTRTG -s {cidr} -d {pod_net} -m comment --comment \"flanneld masq\" -j RETURN\n\
-A FLANNEL-POSTRTG -s {pod_net} -d {cidr} -m comment --comment \"flanneld masq\" -j RETURN\n\
-A FLANNEL-POSTRTG ! -s {pod_net} -d {cidr} -m comment --comment \"flanneld masq\" -j RETURN\n\
-A FLANNEL-POSTRTG -s {pod_net} ! -d 224.0.0.0/4 -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully\n\
-A FLANNEL-POSTRTG ! -s {pod_net} -d {pod_net} -m comment --comment \"flanneld masq\" -j MASQUERADE --random-fully\n",
            shared.nat_decls
        )?;
        match self.c.faults.proxy_stale {
            Some((h, t)) if h == self.i => {
                // a failed iptables-restore left this Service's KUBE-SERVICES jumps out
                let s = &self.c.services[t];
                let jumps: Vec<String> = s
                    .ports
                    .iter()
                    .map(|p| format!("-j KUBE-SVC-{}", chain_hash(&format!("{}/{}:{}{}", self.c.ns(s.ns), s.name, p.name, p.proto.to_lowercase()))))
                    .collect();
                for line in shared.nat_rules.lines() {
                    if line.starts_with("-A KUBE-SERVICES ") && jumps.iter().any(|j| line.ends_with(j.as_str())) {
                        continue;
                    }
                    w.write_all(line.as_bytes())?;
                    w.write_all(b"\n")?;
                }
            }
            _ => w.write_all(shared.nat_rules.as_bytes())?,
        }
        w.write_all(done.as_bytes())
    }

    /// `sysctl -a` (the `net.` keys), one block per interface, sorted as sysctl prints them.
    fn sysctl(&self) -> String {
        let off = self.c.faults.ip_forward_off == Some(self.i);
        let mut lines: Vec<String> = T_SYSCTL
            .lines()
            .filter(|l| self.ipvs || !l.contains(".kube-ipvs0."))
            .map(|l| {
                if off && (l == "net.ipv4.ip_forward = 1" || (l.starts_with("net.ipv4.conf.") && l.ends_with(".forwarding = 1"))) {
                    l.replace("= 1", "= 0")
                } else {
                    l.to_string()
                }
            })
            .collect();
        for (name, _, _) in &self.veths {
            for l in T_SYSCTL_VETH.lines() {
                let l = l.replace("{VETH}", name);
                lines.push(if off && l.ends_with(".forwarding = 1") && l.starts_with("net.ipv4.") { l.replace("= 1", "= 0") } else { l });
            }
        }
        lines.sort_by(|a, b| a.split(' ').next().cmp(&b.split(' ').next()));
        let mut s = lines.join("\n");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_match_kube_proxy() {
        // healthy-flannel-hostgw, written by kube-proxy v1.27
        assert_eq!(chain_hash("default/kubernetes:httpstcp"), "NPX46M4PTMTKRN6Y");
        assert_eq!(chain_hash("default/kubernetes:httpstcp192.168.57.10:6443"), "E2X7J4KSY5EYK4O6");
        assert_eq!(chain_hash("kube-system/kube-dns:dnsudp"), "TCOU7JCQXEZGVUNU");
    }
}
