//! Parser for the IPVS table in any of its three common forms, auto-detected:
//! `ipvsadm -Sn` (restore rules), `ipvsadm -Ln` (listing), and a copy of
//! `/proc/net/ip_vs` (hex addresses and ports). An empty text is an empty table.

use crate::error::{line, ParseError};
use netdoctor_engine::model::{Forward, IpvsProto, L4Proto, RealServer, VirtualServer};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Parses an IPVS table.
pub fn parse(text: &str) -> Result<Vec<VirtualServer>, ParseError> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        None => Ok(Vec::new()),
        Some(l) if l.starts_with("-A") || l.starts_with("-a") => parse_save(text),
        Some(_) => parse_listing(text),
    }
}

/// `ipvsadm -Sn`: `-A -t VIP:PORT -s rr` / `-a -t VIP:PORT -r RIP:PORT -m -w 1`.
fn parse_save(text: &str) -> Result<Vec<VirtualServer>, ParseError> {
    let mut out: Vec<VirtualServer> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = l.split_whitespace().collect();
        let flag = |f: &str| words.iter().position(|w| *w == f).and_then(|i| words.get(i + 1)).copied();
        let (protocol, service) = if let Some(s) = flag("-t") {
            (IpvsProto::L4(L4Proto::Tcp), s)
        } else if let Some(s) = flag("-u") {
            (IpvsProto::L4(L4Proto::Udp), s)
        } else if let Some(s) = flag("--sctp-service") {
            (IpvsProto::L4(L4Proto::Sctp), s)
        } else if let Some(s) = flag("-f") {
            (IpvsProto::Fwm, s)
        } else {
            return Err(line(n + 1, format!("expected -t/-u/-f service in {l:?}")));
        };
        let (addr, port, fwmark) = if protocol == IpvsProto::Fwm {
            (None, 0, Some(service.parse().map_err(|_| line(n + 1, format!("fwmark {service:?} is not a number 0-4294967295")))?))
        } else {
            let (a, p) = split_addr_port(service, false).ok_or_else(|| line(n + 1, format!("expected ADDR:PORT, got {service:?}")))?;
            (Some(a), p, None)
        };
        match words.first().copied() {
            Some("-A") => {
                out.push(VirtualServer { protocol, addr, port, fwmark, scheduler: flag("-s").unwrap_or("wlc").to_string(), real_servers: Vec::new() })
            }
            Some("-a") => {
                let r = flag("-r").ok_or_else(|| line(n + 1, "-a without -r REAL:PORT"))?;
                let (ra, rp) = split_addr_port(r, false).ok_or_else(|| line(n + 1, format!("expected ADDR:PORT after -r, got {r:?}")))?;
                let forward = if words.contains(&"-m") {
                    Forward::Masq
                } else if words.contains(&"-i") {
                    Forward::Tunnel
                } else {
                    // -g (gatewaying, ipvsadm's default)
                    Forward::Route
                };
                let weight = match flag("-w") {
                    None => 1,
                    Some(w) => w.parse().map_err(|_| line(n + 1, format!("weight {w:?} is not a number 0-4294967295")))?,
                };
                let vs = out
                    .iter_mut()
                    .rev()
                    .find(|v| v.protocol == protocol && v.addr == addr && v.port == port && v.fwmark == fwmark)
                    .ok_or_else(|| line(n + 1, format!("real server for {service} before its -A line")))?;
                vs.real_servers.push(RealServer { addr: ra, port: rp, forward, weight });
            }
            other => return Err(line(n + 1, format!("expected -A or -a, got {:?}", other.unwrap_or("")))),
        }
    }
    Ok(out)
}

/// `ipvsadm -Ln` or `/proc/net/ip_vs` (the same layout; proc prints hex).
fn parse_listing(text: &str) -> Result<Vec<VirtualServer>, ParseError> {
    let hex = looks_hex(text);
    let mut out: Vec<VirtualServer> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with("IP Virtual Server") || l.starts_with("Prot ") || l.starts_with("-> RemoteAddress") {
            continue;
        }
        let words: Vec<&str> = l.split_whitespace().collect();
        if words[0] == "->" {
            let (Some(addr), Some(fwd)) = (words.get(1), words.get(2)) else {
                return Err(line(n + 1, format!("expected `-> ADDR:PORT Forward Weight ...`, got {l:?}")));
            };
            let (a, p) = split_addr_port(addr, hex).ok_or_else(|| line(n + 1, format!("expected ADDR:PORT, got {addr:?}")))?;
            let weight = words.get(3).and_then(|w| w.parse().ok()).ok_or_else(|| line(n + 1, format!("expected a weight 0-4294967295 in {l:?}")))?;
            let forward = match *fwd {
                "Masq" => Forward::Masq,
                "Route" | "Local" => Forward::Route,
                "Tunnel" => Forward::Tunnel,
                other => return Err(line(n + 1, format!("expected forwarding Masq, Route, Local or Tunnel, got {other:?}"))),
            };
            let vs = out.last_mut().ok_or_else(|| line(n + 1, "real server before any virtual server"))?;
            vs.real_servers.push(RealServer { addr: a, port: p, forward, weight });
            continue;
        }
        let proto = match words[0] {
            "TCP" => IpvsProto::L4(L4Proto::Tcp),
            "UDP" => IpvsProto::L4(L4Proto::Udp),
            "SCTP" => IpvsProto::L4(L4Proto::Sctp),
            "FWM" => IpvsProto::Fwm,
            _ => return Err(line(n + 1, format!("expected TCP/UDP/SCTP/FWM or `->`, got {l:?}"))),
        };
        let svc = words.get(1).ok_or_else(|| line(n + 1, "service without address"))?;
        let (addr, port, fwmark) = if proto == IpvsProto::Fwm {
            let m = if hex { u32::from_str_radix(svc, 16).ok() } else { svc.parse().ok() };
            (None, 0, Some(m.ok_or_else(|| line(n + 1, format!("fwmark {svc:?} is not a number")))?))
        } else {
            let (a, p) = split_addr_port(svc, hex).ok_or_else(|| line(n + 1, format!("expected ADDR:PORT, got {svc:?}")))?;
            (Some(a), p, None)
        };
        out.push(VirtualServer { protocol: proto, addr, port, fwmark, scheduler: words.get(2).unwrap_or(&"").to_string(), real_servers: Vec::new() });
    }
    Ok(out)
}

/// /proc/net/ip_vs prints IPv4 as 8 hex digits and IPv6 fully expanded.
fn looks_hex(text: &str) -> bool {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.first() {
                Some(&"TCP") | Some(&"UDP") | Some(&"SCTP") | Some(&"->") => w.get(1).copied(),
                _ => None,
            }
        })
        .any(|a| {
            let host = a.rsplit_once(':').map_or(a, |(h, _)| h);
            (host.len() == 8 && host.chars().all(|c| c.is_ascii_hexdigit())) || (host.starts_with('[') && host.len() == 41 && !host.contains("::"))
        })
}

fn split_addr_port(s: &str, hex: bool) -> Option<(IpAddr, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port = if hex { u16::from_str_radix(port, 16).ok()? } else { port.parse().ok()? };
    let addr = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        IpAddr::V6(v6.parse::<Ipv6Addr>().ok()?)
    } else if hex {
        IpAddr::V4(Ipv4Addr::from(u32::from_str_radix(host, 16).ok()?))
    } else {
        IpAddr::V4(host.parse().ok()?)
    };
    Some((addr, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_forms_agree_on_a_small_table() {
        let ln = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\nTCP  10.96.0.1:443 rr\n  -> 192.168.56.3:6443            Masq    1      0          0\nFWM  100 rr\n";
        let proc = "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\nTCP  0A600001:01BB rr\n  -> C0A83803:192B      Masq    1      0          0\nFWM  00000064 rr\n";
        let sn = "-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 192.168.56.3:6443 -m -w 1\n-A -f 100 -s rr\n";
        let a = parse(ln).unwrap();
        let b = parse(proc).unwrap();
        let c = parse(sn).unwrap();
        for t in [&a, &b, &c] {
            assert_eq!(t.len(), 2);
            assert_eq!(t[0].text(), "TCP 10.96.0.1:443");
            assert_eq!(t[0].real_servers[0].addr.to_string(), "192.168.56.3");
            assert_eq!(t[0].real_servers[0].port, 6443);
            assert_eq!(t[1].fwmark, Some(100));
        }
        assert!(parse("").unwrap().is_empty());
        assert!(parse("-A -t 10.96.0.1:443 -s rr\n-a -t 10.96.0.1:443 -r 10.0.0.1:80 -m -w abc\n").unwrap_err().to_string().contains("weight \"abc\""));
        assert!(parse("TCP 10.96.0.1:443 rr\n  -> 10.0.0.1:80 Masq abc 0 0\n").is_err());
        assert_eq!(parse("TCP 10.96.0.1 rr\n").unwrap_err().to_string(), "line 1: expected ADDR:PORT, got \"10.96.0.1\"");
    }
}
