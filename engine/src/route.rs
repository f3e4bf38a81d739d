//! Route lookup as the kernel does it for a packet the host itself sends.
//!
//! `ip route get` semantics, restricted to what a capture holds: walk the ip
//! rules that apply to a locally generated packet (`from all` rules without
//! other selectors; the default `local` → `main` → `default` when no rules
//! were captured), longest-prefix match in each table (lowest metric breaks
//! ties), `throw` continues with the next rule, and `blackhole`,
//! `unreachable` and `prohibit` routes or rule actions end the lookup as
//! unroutable. Start at [`lookup`].

use crate::model::{IpRule, Route};
use serde::Serialize;
use std::net::IpAddr;

/// The answer of a route lookup.
#[derive(Debug, Clone, Serialize)]
pub struct Lookup {
    /// The destination that was looked up.
    pub dst: IpAddr,
    /// True when the packet would be sent (or delivered locally).
    pub routable: bool,
    /// The route that decided, as `ip route` prints it (None when nothing matched).
    pub route: Option<String>,
    /// The route type that decided (`unicast`, `local`, `blackhole`, ...), `none` when nothing matched.
    pub kind: String,
    /// The table of the deciding route or rule.
    pub table: Option<String>,
    /// The outgoing device.
    pub dev: Option<String>,
    /// The gateway.
    pub gateway: Option<IpAddr>,
    /// A one-line explanation a person can paste in a ticket.
    pub reason: String,
    /// The tables consulted, in order.
    pub tables: Vec<String>,
}

/// Route types that make a destination unroutable when they match.
pub const UNROUTABLE_KINDS: &[&str] = &["blackhole", "unreachable", "prohibit"];

fn table_alias(t: &str) -> &str {
    match t {
        "255" => "local",
        "254" => "main",
        "253" => "default",
        other => other,
    }
}

fn table_matches(route_table: &str, wanted: &str) -> bool {
    table_alias(route_table) == table_alias(wanted)
}

/// Longest-prefix match for `dst` in one table: most specific prefix, then lowest metric.
pub fn lpm<'a>(routes: &'a [Route], table: &str, dst: IpAddr) -> Option<&'a Route> {
    routes
        .iter()
        .filter(|r| table_matches(&r.table, table))
        .filter(|r| r.dst.contains(&dst))
        .max_by(|a, b| a.dst.prefix_len().cmp(&b.dst.prefix_len()).then(b.metric.cmp(&a.metric)))
}

/// A rule applies to a locally generated packet to `dst` when it has no
/// selector such a packet may lack (fwmark, iif other than lo, uid, ...), its
/// `from` is `all` and its `to` (if any) covers `dst`.
fn rule_applies(rule: &IpRule, dst: IpAddr) -> bool {
    if rule.has_other_selector || rule.src.is_some() {
        return false;
    }
    let to_matches = rule.dst.is_none_or(|d| d.contains(&dst));
    to_matches != rule.not
}

/// Looks `dst` up over `routes` (both families may be mixed) and the ip `rules`
/// when they were captured.
pub fn lookup(routes: &[Route], rules: Option<&[IpRule]>, dst: IpAddr) -> Lookup {
    let steps: Vec<(String, Option<String>)> = match rules {
        Some(rules) => {
            let mut rs: Vec<&IpRule> = rules.iter().filter(|r| rule_applies(r, dst)).collect();
            rs.sort_by_key(|r| r.priority);
            rs.iter().map(|r| (r.action.clone(), r.table.clone())).collect()
        }
        None => {
            ["local", "main", "default"].iter().map(|t| ("lookup".to_string(), Some(t.to_string()))).collect()
        }
    };
    let mut tables = Vec::new();
    for (action, table) in steps {
        match action.as_str() {
            "lookup" => {
                let Some(table) = table else { continue };
                tables.push(table.clone());
                let Some(route) = lpm(routes, &table, dst) else { continue };
                if route.kind == "throw" {
                    continue;
                }
                let routable = !UNROUTABLE_KINDS.contains(&route.kind.as_str());
                let reason = if routable {
                    format!("{dst} matches `{}` in table {table}", route.text())
                } else {
                    format!("{dst} matches {} route `{}` in table {table}", route.kind, route.text())
                };
                return Lookup {
                    dst,
                    routable,
                    route: Some(route.text()),
                    kind: route.kind.clone(),
                    table: Some(table),
                    dev: route.dev.clone(),
                    gateway: route.gateway,
                    reason,
                    tables,
                };
            }
            kind if UNROUTABLE_KINDS.contains(&kind) => {
                return Lookup {
                    dst,
                    routable: false,
                    route: None,
                    kind: kind.to_string(),
                    table: None,
                    dev: None,
                    gateway: None,
                    reason: format!("{dst} hits an ip rule with action {kind}"),
                    tables,
                };
            }
            _ => continue,
        }
    }
    Lookup {
        dst,
        routable: false,
        route: None,
        kind: "none".to_string(),
        table: None,
        dev: None,
        gateway: None,
        reason: format!("no route matches {dst} in tables {}", tables.join(", ")),
        tables,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::parse_net;

    fn r(kind: &str, dst: &str, table: &str, metric: i64) -> Route {
        Route {
            kind: kind.into(),
            dst: parse_net(dst).unwrap(),
            is_default: dst == "0.0.0.0/0",
            gateway: None,
            dev: Some("eth0".into()),
            table: table.into(),
            protocol: None,
            scope: None,
            metric,
            prefsrc: None,
            flags: vec![],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn no_default_route_is_unroutable() {
        let routes = vec![r("unicast", "192.168.56.0/24", "main", 0), r("blackhole", "10.10.0.128/26", "main", 0)];
        let l = lookup(&routes, None, ip("10.96.0.1"));
        assert!(!l.routable);
        assert_eq!(l.kind, "none");
        assert_eq!(l.tables, vec!["local", "main", "default"]);
    }

    #[test]
    fn local_table_wins_over_main() {
        let routes = vec![r("unicast", "0.0.0.0/0", "main", 0), r("local", "10.96.0.1/32", "local", 0)];
        let l = lookup(&routes, None, ip("10.96.0.1"));
        assert!(l.routable);
        assert_eq!(l.kind, "local");
    }

    #[test]
    fn longest_prefix_then_metric() {
        let routes = vec![
            r("unicast", "0.0.0.0/0", "main", 100),
            r("blackhole", "10.96.0.0/12", "main", 0),
            r("unicast", "10.96.0.0/12", "main", 10),
        ];
        let l = lookup(&routes, None, ip("10.96.0.1"));
        assert_eq!(l.kind, "blackhole");
        assert!(!l.routable);
    }

    #[test]
    fn throw_continues_to_next_rule() {
        let routes = vec![r("throw", "10.96.0.0/12", "100", 0), r("unicast", "0.0.0.0/0", "main", 0)];
        let rules = vec![
            IpRule { priority: 100, src: None, dst: None, action: "lookup".into(), table: Some("100".into()), has_other_selector: false, not: false, text: String::new() },
            IpRule { priority: 32766, src: None, dst: None, action: "lookup".into(), table: Some("main".into()), has_other_selector: false, not: false, text: String::new() },
        ];
        let l = lookup(&routes, Some(&rules), ip("10.96.0.1"));
        assert!(l.routable);
        assert_eq!(l.table.as_deref(), Some("main"));
        assert_eq!(l.tables, vec!["100", "main"]);
    }

    #[test]
    fn fwmark_rules_do_not_apply() {
        let routes = vec![r("blackhole", "0.0.0.0/0", "200", 0), r("unicast", "0.0.0.0/0", "main", 0)];
        let rules = vec![
            IpRule { priority: 10, src: None, dst: None, action: "lookup".into(), table: Some("200".into()), has_other_selector: true, not: false, text: String::new() },
            IpRule { priority: 32766, src: None, dst: None, action: "lookup".into(), table: Some("main".into()), has_other_selector: false, not: false, text: String::new() },
        ];
        assert!(lookup(&routes, Some(&rules), ip("10.96.0.1")).routable);
    }
}
