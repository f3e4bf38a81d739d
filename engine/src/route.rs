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
use ipnet::IpNet;
use std::collections::HashMap;
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


/// A host's routes indexed for longest-prefix match: per (table, family), the
/// prefix lengths present, longest first, each with a hash of networks. A
/// lookup costs one hash probe per distinct prefix length, not a scan.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// table alias → per family (0 IPv4, 1 IPv6): [(prefix length, network → route indexes)], longest first.
    index: HashMap<String, [Levels; 2]>,
}

type Levels = Vec<(u8, HashMap<IpAddr, Vec<usize>>)>;

impl RouteTable {
    /// Indexes the routes of one host (several slices, e.g. both-family and IPv6-only files).
    pub fn new(slices: &[&[Route]]) -> RouteTable {
        let routes: Vec<Route> = slices.iter().flat_map(|s| s.iter().cloned()).collect();
        let mut index: HashMap<String, [Levels; 2]> = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            let fam = usize::from(!r.dst.addr().is_ipv4());
            let levels = &mut index.entry(table_alias(&r.table).to_string()).or_default()[fam];
            let plen = r.dst.prefix_len();
            let pos = match levels.iter().position(|(l, _)| *l == plen) {
                Some(p) => p,
                None => {
                    levels.push((plen, HashMap::new()));
                    levels.len() - 1
                }
            };
            levels[pos].1.entry(r.dst.trunc().addr()).or_default().push(i);
        }
        for fams in index.values_mut() {
            for levels in fams.iter_mut() {
                levels.sort_by_key(|l| std::cmp::Reverse(l.0));
            }
        }
        RouteTable { routes, index }
    }

    /// Longest-prefix match for `dst` in one table: most specific prefix, then lowest metric.
    pub fn lpm(&self, table: &str, dst: IpAddr) -> Option<&Route> {
        let levels = &self.index.get(table_alias(table))?[usize::from(!dst.is_ipv4())];
        for (plen, nets) in levels {
            let net = IpNet::new(dst, *plen).ok()?.trunc().addr();
            if let Some(ids) = nets.get(&net) {
                return ids.iter().map(|i| &self.routes[*i]).min_by_key(|r| r.metric);
            }
        }
        None
    }

    /// Decides the fate of a packet the host sends to `dst`; `tables` receives the
    /// tables consulted. No strings are built: this runs per (host, ClusterIP).
    /// `tables`, when given, receives the tables consulted.
    pub fn decide<'a>(&'a self, rules: Option<&[IpRule]>, dst: IpAddr, mut tables: Option<&mut Vec<String>>) -> Decision<'a> {
        const DEFAULT_STEPS: [(&str, Option<&str>); 3] = [("lookup", Some("local")), ("lookup", Some("main")), ("lookup", Some("default"))];
        let mut rule_steps: Vec<&IpRule> = Vec::new();
        if let Some(rules) = rules {
            rule_steps = rules.iter().filter(|r| rule_applies(r, dst)).collect();
            rule_steps.sort_by_key(|r| r.priority);
        }
        let steps = rule_steps.iter().map(|r| (r.action.as_str(), r.table.as_deref()));
        let steps: Box<dyn Iterator<Item = (&str, Option<&str>)>> = if rules.is_some() { Box::new(steps) } else { Box::new(DEFAULT_STEPS.into_iter()) };
        for (action, table) in steps {
            match action {
                "lookup" => {
                    let Some(table) = table else { continue };
                    if let Some(t) = tables.as_deref_mut() {
                        t.push(table.to_string());
                    }
                    let Some(route) = self.lpm(table, dst) else { continue };
                    if route.kind == "throw" {
                        continue;
                    }
                    return Decision::Route(route, table.to_string());
                }
                kind if UNROUTABLE_KINDS.contains(&kind) => return Decision::RuleAction(kind.to_string()),
                _ => continue,
            }
        }
        Decision::Nothing
    }

    /// Whether `dst` is routable (the fast path of a batch check).
    pub fn routable(&self, rules: Option<&[IpRule]>, dst: IpAddr) -> bool {
        match self.decide(rules, dst, None) {
            Decision::Route(r, _) => !UNROUTABLE_KINDS.contains(&r.kind.as_str()),
            _ => false,
        }
    }

    /// The full answer with its explanation.
    pub fn lookup(&self, rules: Option<&[IpRule]>, dst: IpAddr) -> Lookup {
        let mut tables = Vec::new();
        let decision = self.decide(rules, dst, Some(&mut tables));
        let blank = |kind: &str, reason: String, tables: Vec<String>| Lookup {
            dst,
            routable: false,
            route: None,
            kind: kind.to_string(),
            table: None,
            dev: None,
            gateway: None,
            reason,
            tables,
        };
        match decision {
            Decision::Route(route, table) => {
                let routable = !UNROUTABLE_KINDS.contains(&route.kind.as_str());
                let reason = if routable {
                    format!("{dst} matches `{}` in table {table}", route.text())
                } else {
                    format!("{dst} matches {} route `{}` in table {table}", route.kind, route.text())
                };
                Lookup {
                    dst,
                    routable,
                    route: Some(route.text()),
                    kind: route.kind.clone(),
                    table: Some(table),
                    dev: route.dev.clone(),
                    gateway: route.gateway,
                    reason,
                    tables,
                }
            }
            Decision::RuleAction(kind) => blank(&kind, format!("{dst} hits an ip rule with action {kind}"), tables),
            Decision::Nothing => {
                let reason = format!("no route matches {dst} in tables {}", tables.join(", "));
                blank("none", reason, tables)
            }
        }
    }
}

/// What decided a lookup.
pub enum Decision<'a> {
    /// A route in a table (which may be a blackhole).
    Route(&'a Route, String),
    /// An ip rule action (blackhole, unreachable, prohibit).
    RuleAction(String),
    /// Nothing matched.
    Nothing,
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

/// Looks `dst` up over `routes` (slices; both families may be mixed) and the ip
/// `rules` when they were captured. Indexes the routes first: for one-off use.
pub fn lookup(routes: &[&[Route]], rules: Option<&[IpRule]>, dst: IpAddr) -> Lookup {
    RouteTable::new(routes).lookup(rules, dst)
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
        let l = lookup(&[&routes], None, ip("10.96.0.1"));
        assert!(!l.routable);
        assert_eq!(l.kind, "none");
        assert_eq!(l.tables, vec!["local", "main", "default"]);
    }

    #[test]
    fn local_table_wins_over_main() {
        let routes = vec![r("unicast", "0.0.0.0/0", "main", 0), r("local", "10.96.0.1/32", "local", 0)];
        let l = lookup(&[&routes], None, ip("10.96.0.1"));
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
        let l = lookup(&[&routes], None, ip("10.96.0.1"));
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
        let l = lookup(&[&routes], Some(&rules), ip("10.96.0.1"));
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
        assert!(lookup(&[&routes], Some(&rules), ip("10.96.0.1")).routable);
    }
}
