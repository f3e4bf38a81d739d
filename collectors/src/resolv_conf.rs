//! The resolv_conf source: resolv.conf (the host's, or the one the kubelet
//! hands pods). A `nameserver` that is not an address is an error naming the line.

use crate::error::{line, ParseError};
use netdoctor_engine::model::{Nameserver, ResolvConf};
use std::net::IpAddr;

/// Parses resolv.conf text. A `nameserver` line without a valid address is an error.
pub fn parse(text: &str) -> Result<ResolvConf, ParseError> {
    let mut out = ResolvConf::default();
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let mut words = l.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                let addr = words.next().ok_or_else(|| line(n + 1, "nameserver without an address"))?;
                // Scoped IPv6 (fe80::1%eth0) is valid in resolv.conf.
                let bare = addr.split('%').next().unwrap_or(addr);
                let ip = bare.parse::<IpAddr>().map_err(|_| line(n + 1, format!("nameserver {addr:?} is not an IP address")))?;
                out.nameservers.push(Nameserver { line: n + 1, ip });
            }
            Some("search") | Some("domain") => out.search.extend(words.map(str::to_string)),
            Some("options") => out.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stub_resolver() {
        let r = super::parse("# This is /run/systemd/resolve/stub-resolv.conf\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n").unwrap();
        assert_eq!(r.nameservers, vec![super::Nameserver { line: 2, ip: "127.0.0.53".parse().unwrap() }]);
        assert_eq!(r.search, vec!["lan"]);
    }
    #[test]
    fn bad_nameserver_names_line() {
        let e = super::parse("search x\nnameserver nope\n").unwrap_err().to_string();
        assert_eq!(e, "line 2: nameserver \"nope\" is not an IP address");
    }
}
