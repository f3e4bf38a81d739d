//! The subnet_env source: flannel's `/run/flannel/subnet.env`, typed.

use crate::error::{line, ParseError};
use netdoctor_engine::model::SubnetEnv;
use netdoctor_engine::net;

/// Parses `FLANNEL_NETWORK=... FLANNEL_SUBNET=... FLANNEL_MTU=... FLANNEL_IPMASQ=...`.
pub fn parse(text: &str) -> Result<SubnetEnv, ParseError> {
    let mut out = SubnetEnv::default();
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (k, v) = l.split_once('=').ok_or_else(|| line(n + 1, format!("expected KEY=VALUE, got {l:?}")))?;
        let v = v.trim().trim_matches('"');
        let bad = |what: &str| line(n + 1, format!("{k}={v:?} is not {what}"));
        match k.trim() {
            "FLANNEL_NETWORK" => out.network = Some(net::parse_net(v).ok_or_else(|| bad("a CIDR"))?),
            "FLANNEL_SUBNET" => {
                let n = net::parse_net(v).filter(|_| v.contains('/')).ok_or_else(|| bad("an address with its prefix (10.244.1.1/24)"))?;
                out.subnet = Some((n.addr(), n.prefix_len()));
            }
            "FLANNEL_MTU" => out.mtu = Some(v.parse().map_err(|_| bad("a number 0-4294967295"))?),
            "FLANNEL_IPMASQ" => {
                out.ipmasq = Some(match v {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("true or false")),
                })
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn subnet_env() {
        let s = super::parse("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n").unwrap();
        assert_eq!(s.subnet, Some(("10.244.1.1".parse().unwrap(), 24)));
        assert_eq!(s.mtu, Some(1450));
        assert_eq!(super::parse("FLANNEL_MTU=x").unwrap_err().to_string(), "line 1: FLANNEL_MTU=\"x\" is not a number 0-4294967295");
    }
}
