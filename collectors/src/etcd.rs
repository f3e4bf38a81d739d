//! The etcd source: flannel's etcd data, `etcdctl get --prefix <prefix> -w json` (v3, base64
//! keys and values) or the body of `GET /v2/keys/<prefix>?recursive=true`
//! (v2 node tree). The prefix is not fixed (flannel's `-etcd-prefix`): keys are
//! recognised as `<prefix>/config` and `<prefix>/subnets/<a.b.c.d-len>`.

use crate::error::{shape, ParseError};
use base64::Engine as _;
use netdoctor_engine::model::{FlannelConfig, FlannelLease, MacAddr};
use netdoctor_engine::net;
use netdoctor_engine::Source;
use serde_json::Value;

/// What one etcd dump holds for flannel.
#[derive(Debug, Default)]
pub struct EtcdFlannel {
    /// `v3` or `v2`.
    pub api: String,
    pub prefixes: Vec<String>,
    pub config: Option<FlannelConfig>,
    pub leases: Vec<FlannelLease>,
    /// Keys whose value did not parse: (key, message). The rest of the dump is kept.
    pub bad_keys: Vec<(String, String)>,
    /// Keys that are neither config nor a subnet lease.
    pub other_keys: usize,
}

/// Parses an etcd dump; `source` names the file in lease provenance.
pub fn parse(text: &str, source: &str) -> Result<EtcdFlannel, ParseError> {
    let v: Value = serde_json::from_str(text)?;
    let kvs = key_values(&v)?;
    Ok(flannel_from(kvs, |key| Source::at(source, key)))
}

/// The key/value pairs of an etcdctl v3 dump or a v2 response.
pub fn key_values(v: &Value) -> Result<KeyValues, ParseError> {
    let mut kvs: Vec<(String, String)> = Vec::new();
    let api = if v.get("kvs").is_some() || v.get("header").is_some() {
        for (n, kv) in v.get("kvs").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let dec = |k: &str| -> Result<String, ParseError> {
                let b = kv.get(k).and_then(Value::as_str).ok_or_else(|| shape(format!("kvs[{n}].{k}"), "a base64 string"))?;
                let bytes = base64::engine::general_purpose::STANDARD.decode(b).map_err(|_| shape(format!("kvs[{n}].{k}"), "valid base64"))?;
                String::from_utf8(bytes).map_err(|_| shape(format!("kvs[{n}].{k}"), "UTF-8 text"))
            };
            let value = if kv.get("value").is_some() { dec("value")? } else { String::new() };
            kvs.push((dec("key")?, value));
        }
        "v3"
    } else if let Some(node) = v.get("node") {
        walk_v2(node, "node", &mut kvs)?;
        "v2"
    } else {
        return Err(shape("$", "etcdctl v3 JSON (`header`, `kvs`) or an etcd v2 response (`node`)"));
    };
    Ok((api, kvs))
}

/// The API version (`v3`, `v2`) and the key/value pairs of a dump.
pub type KeyValues = (&'static str, Vec<(String, String)>);

/// flannel's config and leases among key/value pairs; `source` gives each key's provenance
/// (a capture file and key, or the live etcd collector).
pub fn flannel_from((api, kvs): KeyValues, source: impl Fn(&str) -> Source) -> EtcdFlannel {
    let mut out = EtcdFlannel { api: api.to_string(), ..Default::default() };
    for (key, value) in kvs {
        if let Some(prefix) = key.strip_suffix("/config") {
            match parse_config(&value, source(&key)) {
                Ok(c) => {
                    out.config = Some(c);
                    out.prefixes.push(prefix.to_string());
                }
                Err(e) => out.bad_keys.push((key, e)),
            }
        } else if let Some((prefix, sub)) = key.rsplit_once("/subnets/") {
            match lease_from(&key, sub, &value, source(&key)) {
                Ok(l) => {
                    if !out.prefixes.iter().any(|p| p == prefix) {
                        out.prefixes.push(prefix.to_string());
                    }
                    out.leases.push(l)
                }
                Err(e) => out.bad_keys.push((key, e)),
            }
        } else {
            out.other_keys += 1;
        }
    }
    out
}

/// One lease from its key's subnet part (`10.244.1.0-24`) and its JSON value.
pub fn lease_from(key: &str, sub: &str, value: &str, source: Source) -> Result<FlannelLease, String> {
    let subnet = net::parse_net(&sub.replacen('-', "/", 1)).filter(|_| sub.contains('-')).ok_or_else(|| format!("subnet key {sub:?} is not a.b.c.d-len"))?;
    let (public_ip, backend_type, vtep_mac) = parse_lease(value)?;
    Ok(FlannelLease { subnet, public_ip, backend_type, vtep_mac, source, key: Some(key.to_string()) })
}

fn walk_v2(node: &Value, path: &str, out: &mut Vec<(String, String)>) -> Result<(), ParseError> {
    if let Some(children) = node.get("nodes").and_then(Value::as_array) {
        for (i, c) in children.iter().enumerate() {
            walk_v2(c, &format!("{path}.nodes[{i}]"), out)?;
        }
        return Ok(());
    }
    if node.get("dir").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let key = node.get("key").and_then(Value::as_str).ok_or_else(|| shape(format!("{path}.key"), "a string"))?;
    let value = node.get("value").and_then(Value::as_str).unwrap_or("");
    out.push((key.to_string(), value.to_string()));
    Ok(())
}

/// flannel's network config JSON (`{"Network": ..., "Backend": {"Type": ..., "VNI": ..., "Port": ..., "DirectRouting": ...}}`).
pub fn parse_config(value: &str, source: Source) -> Result<FlannelConfig, String> {
    let v: Value = serde_json::from_str(value).map_err(|e| format!("config is not JSON: {e}"))?;
    let at = crate::util::At::root(&v, "");
    let network = match at.str("Network").map_err(|e| e.to_string())? {
        Some(n) => Some(net::parse_net(n).ok_or_else(|| format!("Network {n:?} is not a CIDR"))?),
        None => None,
    };
    let (backend_type, vni, port, direct_routing) = match v.get("Backend").filter(|b| !b.is_null()) {
        Some(b) => {
            let b = crate::util::At::root(b, "Backend");
            let e = |e: ParseError| e.to_string();
            (
                b.str("Type").map_err(e)?.unwrap_or("udp").to_string(),
                b.int("VNI", 0, (1 << 24) - 1).map_err(e)?.unwrap_or(1) as u32,
                b.int("Port", 0, 65535).map_err(e)?.map(|p| p as u16),
                b.bool("DirectRouting").map_err(e)?.unwrap_or(false),
            )
        }
        None => ("udp".to_string(), 1, None, false),
    };
    Ok(FlannelConfig { network, backend_type, vni, port, direct_routing, source })
}

type LeaseAttrs = (Option<std::net::IpAddr>, Option<String>, Option<MacAddr>);

fn parse_lease(value: &str) -> Result<LeaseAttrs, String> {
    let v: Value = serde_json::from_str(value).map_err(|e| format!("lease value is not JSON: {e}"))?;
    let at = crate::util::At::root(&v, "");
    let e = |e: ParseError| e.to_string();
    let public_ip = at.parsed::<std::net::IpAddr>("PublicIP", "an IP address").map_err(e)?;
    let backend_type = at.str("BackendType").map_err(e)?.map(str::to_string);
    let vtep_mac = match v.get("BackendData").filter(|d| !d.is_null()) {
        Some(d) => crate::util::At::root(d, "BackendData").parsed::<MacAddr>("VtepMAC", "a MAC address").map_err(e)?,
        None => None,
    };
    Ok((public_ip, backend_type, vtep_mac))
}
