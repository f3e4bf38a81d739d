//! flannel's etcd data: `etcdctl get --prefix <prefix> -w json` (v3, base64
//! keys and values) or the body of `GET /v2/keys/<prefix>?recursive=true`
//! (v2 node tree). The prefix is not fixed (flannel's `-etcd-prefix`): keys are
//! recognised as `<prefix>/config` and `<prefix>/subnets/<a.b.c.d-len>`.

use crate::error::{shape, ParseError};
use base64::Engine as _;
use netdoctor_engine::model::{FlannelConfig, FlannelLease};
use netdoctor_engine::net;
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
    let mut out = EtcdFlannel { api: api.to_string(), ..Default::default() };
    for (key, value) in kvs {
        if let Some(prefix) = key.strip_suffix("/config") {
            match parse_config(&value, &format!("{source} {key}")) {
                Ok(c) => {
                    out.config = Some(c);
                    out.prefixes.push(prefix.to_string());
                }
                Err(e) => out.bad_keys.push((key, e)),
            }
        } else if let Some((prefix, sub)) = key.rsplit_once("/subnets/") {
            let Some(subnet) = net::parse_net(&sub.replacen('-', "/", 1)) else {
                out.bad_keys.push((key.clone(), format!("subnet key {sub:?} is not a.b.c.d-len")));
                continue;
            };
            match parse_lease(&value) {
                Ok((public_ip, backend_type, vtep_mac)) => {
                    if !out.prefixes.iter().any(|p| p == prefix) {
                        out.prefixes.push(prefix.to_string());
                    }
                    out.leases.push(FlannelLease { subnet, public_ip, backend_type, vtep_mac, source: format!("{source} {key}"), key: Some(key) })
                }
                Err(e) => out.bad_keys.push((key, e)),
            }
        } else {
            out.other_keys += 1;
        }
    }
    Ok(out)
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

/// flannel's network config JSON (`{"Network": ..., "Backend": {"Type": ...}}`).
pub fn parse_config(value: &str, source: &str) -> Result<FlannelConfig, String> {
    let v: Value = serde_json::from_str(value).map_err(|e| format!("config is not JSON: {e}"))?;
    let network = match v.get("Network").and_then(Value::as_str) {
        Some(n) => Some(net::parse_net(n).ok_or_else(|| format!("Network {n:?} is not a CIDR"))?),
        None => None,
    };
    let backend = v.get("Backend");
    Ok(FlannelConfig {
        network,
        backend_type: backend.and_then(|b| b.get("Type")).and_then(Value::as_str).unwrap_or("udp").to_string(),
        vni: backend.and_then(|b| b.get("VNI")).and_then(Value::as_i64).unwrap_or(1),
        source: source.to_string(),
    })
}

type LeaseAttrs = (Option<std::net::IpAddr>, Option<String>, Option<String>);

fn parse_lease(value: &str) -> Result<LeaseAttrs, String> {
    let v: Value = serde_json::from_str(value).map_err(|e| format!("lease value is not JSON: {e}"))?;
    let public_ip = match v.get("PublicIP").and_then(Value::as_str) {
        Some(ip) => Some(ip.parse().map_err(|_| format!("PublicIP {ip:?} is not an IP address"))?),
        None => None,
    };
    let backend_type = v.get("BackendType").and_then(Value::as_str).map(str::to_string);
    let vtep_mac = v.get("BackendData").and_then(|d| d.get("VtepMAC")).and_then(Value::as_str).map(str::to_string);
    Ok((public_ip, backend_type, vtep_mac))
}
