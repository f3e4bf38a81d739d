//! Writes one host's facts as `nodes/<name>/` files, each in the format the
//! standard tool prints (`capture-format.md`): iproute2's JSON as `ip -j`
//! prints it (one line, fields in `ip`'s order), `ipvsadm -Sn`,
//! `iptables-save`, `sysctl -a` lines, resolv.conf, kubelet config and flags,
//! flannel's subnet.env. Only facts that are present are written (a missing
//! file means "not collected"); the capture reader reads them back to the same
//! values.

use crate::capture::host_file;
use netdoctor_engine::kind::FactKind;
use netdoctor_engine::model::*;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// Writes `dir/nodes/<node>/` with one file per present fact of `host`.
pub fn write_host(dir: &Path, node: &str, host: &HostFacts) -> std::io::Result<()> {
    let d = dir.join("nodes").join(node);
    std::fs::create_dir_all(&d)?;
    let put = |kind: FactKind, text: String| std::fs::write(d.join(host_file(kind).expect("a host kind")), text);
    if let Some(l) = host.links.get() {
        put(FactKind::Links, json_lines(l.iter().map(link_json).collect()))?;
    }
    if let Some(a) = host.addrs.get() {
        put(FactKind::Addrs, json_lines(addr_json(host.links.get().map_or(&[], Vec::as_slice), a)))?;
    }
    if let Some(r) = host.routes.get() {
        put(FactKind::Routes, json_lines(r.iter().map(route_json).collect()))?;
    }
    if let Some(r) = host.routes6.get() {
        put(FactKind::Routes6, json_lines(r.iter().map(route_json).collect()))?;
    }
    if let Some(r) = host.rules.get() {
        put(FactKind::IpRules, json_lines(r.iter().map(rule_json).collect()))?;
    }
    if let Some(n) = host.neighbours.get() {
        put(FactKind::Neighbours, json_lines(n.iter().map(neigh_json).collect()))?;
    }
    if let Some(f) = host.fdb.get() {
        put(FactKind::Fdb, json_lines(f.iter().map(fdb_json).collect()))?;
    }
    if let Some(v) = host.ipvs.get() {
        put(FactKind::Ipvs, ipvsadm_save(v))?;
    }
    if let Some(t) = host.iptables.get() {
        put(FactKind::Iptables, iptables_save(t))?;
    }
    if let Some(r) = host.resolv_conf.get() {
        put(FactKind::ResolvConf, resolv_conf(r))?;
    }
    if let Some(r) = host.kubelet_resolv_conf.get() {
        put(FactKind::KubeletResolvConf, resolv_conf(r))?;
    }
    if let Some(k) = host.kubelet_config.get() {
        put(FactKind::KubeletConfig, kubelet_config(k))?;
    }
    if let Some(k) = host.kubelet_args.get() {
        put(FactKind::KubeletArgs, kubelet_args(k))?;
    }
    if let Some(s) = host.sysctl.get() {
        put(FactKind::Sysctl, sysctl(s))?;
    }
    if let Some(s) = host.subnet_env.get() {
        put(FactKind::SubnetEnv, subnet_env(s))?;
    }
    Ok(())
}

/// A JSON array on one line, as `ip -j` prints it.
fn json_lines(items: Vec<Value>) -> String {
    let mut s = serde_json::to_string(&Value::Array(items)).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

fn family(a: &IpAddr) -> &'static str {
    if a.is_ipv4() {
        "inet"
    } else {
        "inet6"
    }
}

/// The link fields of `ip -j -d link show`, in its order.
fn link_fields(l: &Link) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("ifindex".into(), json!(l.ifindex));
    o.insert("ifname".into(), json!(l.name));
    o.insert("flags".into(), json!(l.flags));
    o.insert("mtu".into(), json!(l.mtu));
    if let Some(m) = &l.master {
        o.insert("master".into(), json!(m));
    }
    if !l.operstate.is_empty() {
        o.insert("operstate".into(), json!(l.operstate));
    }
    if let Some(mac) = l.mac {
        o.insert("link_type".into(), json!(if l.flags.iter().any(|f| f == "LOOPBACK") { "loopback" } else { "ether" }));
        o.insert("address".into(), json!(mac.to_string()));
    }
    if !l.kind.is_empty() {
        let mut info = Map::new();
        info.insert("info_kind".into(), json!(l.kind));
        if let Some(v) = &l.vxlan {
            let mut d = Map::new();
            d.insert("id".into(), json!(v.id));
            if let Some(a) = v.local {
                d.insert("local".into(), json!(a.to_string()));
            }
            if let Some(dev) = &v.dev {
                d.insert("link".into(), json!(dev));
            }
            if let Some(p) = v.port {
                d.insert("port".into(), json!(p));
            }
            info.insert("info_data".into(), Value::Object(d));
        }
        o.insert("linkinfo".into(), Value::Object(info));
    }
    o
}

fn link_json(l: &Link) -> Value {
    Value::Object(link_fields(l))
}

/// `ip -j -d addr show`: every link with its addresses. When the addresses do not follow
/// the links' order (files taken apart), they are grouped as they come, so that the order
/// of the addresses is kept.
fn addr_json(links: &[Link], addrs: &[Addr]) -> Vec<Value> {
    let info = |a: &Addr| json!({"family": family(&a.local), "local": a.local.to_string(), "prefixlen": a.prefix_len, "scope": a.scope.to_string()});
    let pos = |dev: &str| links.iter().position(|l| l.name == dev);
    let mut sorted: Vec<&Addr> = addrs.iter().collect();
    sorted.sort_by_key(|a| pos(&a.dev));
    let in_link_order = addrs.iter().all(|a| pos(&a.dev).is_some()) && sorted.iter().zip(addrs).all(|(x, y)| std::ptr::eq(*x, y));
    let mut out = Vec::new();
    if in_link_order {
        for l in links {
            let mut o = link_fields(l);
            o.insert("addr_info".into(), Value::Array(addrs.iter().filter(|a| a.dev == l.name).map(info).collect()));
            out.push(Value::Object(o));
        }
        return out;
    }
    let mut i = 0;
    while i < addrs.len() {
        let dev = &addrs[i].dev;
        let j = addrs[i..].iter().position(|a| &a.dev != dev).map_or(addrs.len(), |k| i + k);
        let mut o = match links.iter().find(|l| &l.name == dev) {
            Some(l) => link_fields(l),
            None => {
                let mut o = Map::new();
                o.insert("ifname".into(), json!(dev));
                o.insert("mtu".into(), json!(0));
                o
            }
        };
        o.insert("addr_info".into(), Value::Array(addrs[i..j].iter().map(info).collect()));
        out.push(Value::Object(o));
        i = j;
    }
    out
}

/// One route of `ip -j -d route show table all`.
fn route_json(r: &Route) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!(r.kind.to_string()));
    let dst = if r.is_default {
        "default".to_string()
    } else if r.dst.prefix_len() == r.dst.max_prefix_len() {
        r.dst.addr().to_string()
    } else {
        r.dst.to_string()
    };
    o.insert("dst".into(), json!(dst));
    if let Some(g) = r.gateway {
        // A gateway of the other family is printed as `via` (RTA_VIA).
        if g.is_ipv4() == r.is_v4() {
            o.insert("gateway".into(), json!(g.to_string()));
        } else {
            o.insert("via".into(), json!({"family": family(&g), "host": g.to_string()}));
        }
    }
    if let Some(d) = &r.dev {
        o.insert("dev".into(), json!(d));
    }
    o.insert("table".into(), json!(r.table.to_string()));
    o.insert("protocol".into(), json!(r.protocol.to_string()));
    o.insert("scope".into(), json!(r.scope.to_string()));
    if let Some(p) = r.prefsrc {
        o.insert("prefsrc".into(), json!(p.to_string()));
    }
    if r.metric != 0 {
        o.insert("metric".into(), json!(r.metric));
    }
    o.insert("flags".into(), json!(r.flags));
    Value::Object(o)
}

/// Keys of `ip -j rule` whose values are numbers.
const RULE_NUMBERS: &[&str] =
    &["srclen", "dstlen", "uid_start", "uid_end", "sport", "dport", "sport_start", "sport_end", "dport_start", "dport_end", "tun_id", "suppress_prefixlen"];

/// One rule of `ip -j rule show`, rebuilt from the rule's text (which is `ip`'s fields in
/// its order), else from its typed fields.
fn rule_json(r: &IpRule) -> Value {
    if let Some(v) = rule_from_text(r) {
        return v;
    }
    let mut o = Map::new();
    o.insert("priority".into(), json!(r.priority));
    if r.not {
        o.insert("not".into(), Value::Null);
    }
    let net = |o: &mut Map<String, Value>, key: &str, len: &str, n: &Option<ipnet::IpNet>| {
        if let Some(n) = n {
            o.insert(key.into(), json!(n.addr().to_string()));
            if n.prefix_len() != n.max_prefix_len() {
                o.insert(len.into(), json!(n.prefix_len()));
            }
        }
    };
    match &r.src {
        Some(_) => net(&mut o, "src", "srclen", &r.src),
        None => {
            o.insert("src".into(), json!("all"));
        }
    }
    net(&mut o, "dst", "dstlen", &r.dst);
    match &r.action {
        RuleAction::Lookup(t) => {
            o.insert("table".into(), json!(t.to_string()));
        }
        RuleAction::Drop(t) => {
            o.insert("action".into(), json!(t.to_string()));
        }
        RuleAction::Other(a) if a == "nop" => {
            o.insert("nop".into(), Value::Null);
        }
        RuleAction::Other(a) => {
            o.insert("action".into(), json!(a));
        }
    }
    Value::Object(o)
}

fn rule_from_text(r: &IpRule) -> Option<Value> {
    let rest = r.text.strip_prefix(&format!("{}:", r.priority))?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    if !words.len().is_multiple_of(2) {
        return None;
    }
    let mut o = Map::new();
    o.insert("priority".into(), json!(r.priority));
    for kv in words.chunks(2) {
        let (k, v) = (kv[0], kv[1]);
        let value = if v == "null" {
            Value::Null
        } else if RULE_NUMBERS.contains(&k) && v.parse::<i64>().is_ok() {
            json!(v.parse::<i64>().ok()?)
        } else if k == "goto" && v.parse::<u32>().is_ok() {
            json!(v.parse::<u32>().ok()?)
        } else {
            json!(v)
        };
        o.insert(k.to_string(), value);
    }
    // The text must give back the same rule, else the typed fields are used.
    let v = Value::Object(o);
    let back = crate::netlink::rule_from(crate::util::At::root(&v, "$")).ok()?;
    (back == *r).then_some(v)
}

fn neigh_json(n: &Neigh) -> Value {
    let mut o = Map::new();
    o.insert("dst".into(), json!(n.dst.to_string()));
    o.insert("dev".into(), json!(n.dev));
    if let Some(m) = n.lladdr {
        o.insert("lladdr".into(), json!(m.to_string()));
    }
    if !n.state.is_empty() {
        o.insert("state".into(), json!(n.state));
    }
    Value::Object(o)
}

fn fdb_json(f: &FdbEntry) -> Value {
    let mut o = Map::new();
    o.insert("mac".into(), json!(f.mac.to_string()));
    o.insert("ifname".into(), json!(f.dev));
    if let Some(d) = f.dst {
        o.insert("dst".into(), json!(d.to_string()));
    }
    o.insert("flags".into(), json!(f.flags));
    if let Some(s) = &f.state {
        o.insert("state".into(), json!(s));
    }
    Value::Object(o)
}

/// `ipvsadm -Sn`.
pub fn ipvsadm_save(table: &[VirtualServer]) -> String {
    let mut s = String::new();
    for vs in table {
        let svc = match (vs.protocol, vs.addr, vs.fwmark) {
            (IpvsProto::Fwm, _, m) => format!("-f {}", m.unwrap_or(0)),
            (IpvsProto::L4(p), a, _) => {
                let flag = match p {
                    L4Proto::Tcp => "-t",
                    L4Proto::Udp => "-u",
                    L4Proto::Sctp => "--sctp-service",
                };
                format!("{flag} {}", addr_port(a.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)), vs.port))
            }
        };
        s.push_str(&format!("-A {svc} -s {}\n", vs.scheduler));
        for r in &vs.real_servers {
            let fwd = match r.forward {
                Forward::Masq => "-m",
                Forward::Route => "-g",
                Forward::Tunnel => "-i",
            };
            s.push_str(&format!("-a {svc} -r {} {fwd} -w {}\n", addr_port(r.addr, r.port), r.weight));
        }
    }
    s
}

fn addr_port(a: IpAddr, port: u16) -> String {
    match a {
        IpAddr::V6(v) => format!("[{v}]:{port}"),
        v4 => format!("{v4}:{port}"),
    }
}

/// `iptables-save`: each table's chains (policy or `-`) and rules.
pub fn iptables_save(t: &Iptables) -> String {
    let mut s = String::from("# Generated by netdoctor capture (iptables-save format)\n");
    for (table, chains) in &t.tables {
        s.push_str(&format!("*{table}\n"));
        for (name, c) in chains {
            s.push_str(&format!(":{name} {} [0:0]\n", c.policy.as_deref().unwrap_or("-")));
        }
        for c in chains.values() {
            for r in &c.rules {
                s.push_str(&r.text);
                s.push('\n');
            }
        }
        s.push_str("COMMIT\n");
    }
    s
}

/// resolv.conf with each nameserver on the line it was read from.
pub fn resolv_conf(r: &ResolvConf) -> String {
    let n = r.nameservers.iter().map(|x| x.line).max().unwrap_or(0);
    let mut lines: Vec<Option<String>> = vec![None; n];
    for ns in &r.nameservers {
        if ns.line >= 1 {
            lines[ns.line - 1] = Some(format!("nameserver {}", ns.ip));
        }
    }
    let mut extra = Vec::new();
    if !r.search.is_empty() {
        extra.push(format!("search {}", r.search.join(" ")));
    }
    if !r.options.is_empty() {
        extra.push(format!("options {}", r.options.join(" ")));
    }
    let mut extra = extra.into_iter();
    for l in lines.iter_mut().filter(|l| l.is_none()) {
        *l = Some(extra.next().unwrap_or_else(|| "#".to_string()));
    }
    let mut s: String = lines.into_iter().flatten().map(|l| l + "\n").collect();
    for l in extra {
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// A KubeletConfiguration with the one setting netdoctor reads.
pub fn kubelet_config(k: &KubeletResolv) -> String {
    let mut s = String::from("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n");
    if let Some(p) = &k.resolv_conf {
        s.push_str(&format!("resolvConf: {}\n", json!(p)));
    }
    s
}

/// The kubelet's flags that netdoctor reads.
pub fn kubelet_args(k: &KubeletResolv) -> String {
    match &k.resolv_conf {
        Some(p) => format!("kubelet --resolv-conf={p}\n"),
        None => "kubelet\n".to_string(),
    }
}

/// `sysctl -a` lines.
pub fn sysctl(m: &BTreeMap<String, String>) -> String {
    m.iter().map(|(k, v)| format!("{k} = {v}\n")).collect()
}

/// flannel's subnet.env.
pub fn subnet_env(s: &SubnetEnv) -> String {
    let mut out = String::new();
    if let Some(n) = s.network {
        out.push_str(&format!("FLANNEL_NETWORK={n}\n"));
    }
    if let Some((a, l)) = s.subnet {
        out.push_str(&format!("FLANNEL_SUBNET={a}/{l}\n"));
    }
    if let Some(m) = s.mtu {
        out.push_str(&format!("FLANNEL_MTU={m}\n"));
    }
    if let Some(b) = s.ipmasq {
        out.push_str(&format!("FLANNEL_IPMASQ={b}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{read, ReadOptions};

    #[test]
    fn every_example_host_round_trips_through_the_capture_reader() {
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/captures");
        let mut hosts = 0;
        for e in std::fs::read_dir(&examples).unwrap() {
            let dir = e.unwrap().path();
            if !dir.join("nodes").is_dir() {
                continue;
            }
            let set = read(&dir, &ReadOptions::default()).unwrap();
            for name in set.host_names().cloned().collect::<Vec<_>>() {
                let h = set.host(&name).unwrap();
                let out = tempfile::tempdir().unwrap();
                write_host(out.path(), &name, h).unwrap();
                let back = read(out.path(), &ReadOptions::default()).unwrap();
                assert!(back.errors().is_empty(), "{}/{name}: {:?}", dir.display(), back.errors());
                let b = back.host(&name).unwrap();
                if let Some(d) = h.value_difference(b) {
                    panic!("{}/nodes/{name}: {d}", dir.display());
                }
                hosts += 1;
            }
        }
        assert!(hosts >= 10, "only {hosts} example hosts");
    }

    #[test]
    fn only_present_facts_are_written_in_the_tools_formats() {
        let out = tempfile::tempdir().unwrap();
        let mut h = HostFacts::default();
        let src = netdoctor_engine::Source::live("ipvs/n1", 0);
        h.ipvs = netdoctor_engine::Fact::present(src.clone(), Vec::new());
        h.sysctl = netdoctor_engine::Fact::Broken { source: src, error: "x".into() };
        write_host(out.path(), "n1", &h).unwrap();
        let files: Vec<String> =
            std::fs::read_dir(out.path().join("nodes/n1")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        // An empty IPVS table is an empty file, as `ipvsadm -Sn` prints it.
        assert_eq!(files, ["ipvs.txt"]);
        assert_eq!(std::fs::read_to_string(out.path().join("nodes/n1/ipvs.txt")).unwrap(), "");
        let t = crate::ipvs::parse("-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 192.168.56.3:6443 -m -w 1\n-A -u [fd00::a]:53 -s rr\n-A -f 100 -s wlc\n")
            .unwrap();
        assert_eq!(
            ipvsadm_save(&t),
            "-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 192.168.56.3:6443 -m -w 1\n-A -u [fd00::a]:53 -s rr\n-A -f 100 -s wlc\n"
        );
        let r = crate::resolv_conf::parse("# c\n\nnameserver 10.0.0.1\nsearch a b\nnameserver 10.0.0.2\noptions ndots:5\n").unwrap();
        assert_eq!(crate::resolv_conf::parse(&resolv_conf(&r)).unwrap(), r);
    }
}
