//! Route lookup as the kernel does it for a packet the host itself sends.
//!
//! `ip route get` semantics, restricted to what a capture holds: walk the ip
//! rules that apply to a locally generated packet (`from all` rules without
//! other selectors; the default `local` → `main` → `default` when no rules
//! were captured), longest-prefix match in each table (lowest metric breaks
//! ties), `throw` continues with the next rule, and `blackhole`,
//! `unreachable` and `prohibit` routes or rule actions end the lookup as
//! unroutable. Start at [`lookup`].

use crate::model::{IpRule, Route, RouteType, RuleAction, Table};
use ipnet::IpNet;
use serde::Serialize;
use std::collections::HashMap;
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
    pub table: Option<Table>,
    /// The outgoing device.
    pub dev: Option<String>,
    /// The gateway.
    pub gateway: Option<IpAddr>,
    /// A one-line explanation a person can paste in a ticket.
    pub reason: String,
    /// The tables consulted, in order.
    pub tables: Vec<Table>,
}

/// A host's routes indexed for longest-prefix match: per (table, family), the
/// prefix lengths present, longest first, each with a hash of networks. A
/// lookup costs one hash probe per distinct prefix length, not a scan.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// table → per family (0 IPv4, 1 IPv6): [(prefix length, network → route indexes)], longest first.
    index: HashMap<Table, [Levels; 2]>,
}

type Levels = Vec<(u8, HashMap<IpAddr, Vec<usize>>)>;

impl RouteTable {
    /// Indexes the routes of one host (several slices, e.g. both-family and IPv6-only files).
    pub fn new(slices: &[&[Route]]) -> RouteTable {
        let routes: Vec<Route> = slices.iter().flat_map(|s| s.iter().cloned()).collect();
        let mut index: HashMap<Table, [Levels; 2]> = HashMap::new();
        for (i, r) in routes.iter().enumerate() {
            let fam = usize::from(!r.dst.addr().is_ipv4());
            let levels = &mut index.entry(r.table.clone()).or_default()[fam];
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

    /// Every route indexed, in the order given (the both-family file first).
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Longest-prefix match for `dst` in one table: most specific prefix, then lowest metric.
    pub fn lpm(&self, table: &Table, dst: IpAddr) -> Option<&Route> {
        let levels = &self.index.get(table)?[usize::from(!dst.is_ipv4())];
        for (plen, nets) in levels {
            let net = IpNet::new(dst, *plen).ok()?.trunc().addr();
            if let Some(ids) = nets.get(&net) {
                return ids.iter().map(|i| &self.routes[*i]).min_by_key(|r| r.metric);
            }
        }
        None
    }

    /// Decides the fate of a packet the host sends to `dst`. No strings are built: this runs
    /// per (host, ClusterIP). `tables`, when given, receives the tables consulted.
    pub fn decide<'a>(&'a self, rules: Option<&'a [IpRule]>, dst: IpAddr, mut tables: Option<&mut Vec<Table>>) -> Decision<'a> {
        const DEFAULT_STEPS: [Table; 3] = [Table::LOCAL, Table::MAIN, Table::DEFAULT];
        let mut rule_steps: Vec<&IpRule> = Vec::new();
        if let Some(rules) = rules {
            rule_steps = rules.iter().filter(|r| rule_applies(r, dst)).collect();
            rule_steps.sort_by_key(|r| r.priority);
        }
        let owned: Vec<RuleAction>;
        let steps: Vec<&RuleAction> = if rules.is_some() {
            rule_steps.iter().map(|r| &r.action).collect()
        } else {
            owned = DEFAULT_STEPS.into_iter().map(RuleAction::Lookup).collect();
            owned.iter().collect()
        };
        for action in steps {
            match action {
                RuleAction::Lookup(table) => {
                    if let Some(t) = tables.as_deref_mut() {
                        t.push(table.clone());
                    }
                    let Some(route) = self.lpm(table, dst) else { continue };
                    if route.kind == RouteType::THROW {
                        continue;
                    }
                    return Decision::Route(route, table.clone());
                }
                RuleAction::Drop(kind) => return Decision::RuleAction(*kind),
                RuleAction::Other(_) => continue,
            }
        }
        Decision::Nothing
    }

    /// Whether `dst` is routable (the fast path of a batch check).
    pub fn routable(&self, rules: Option<&[IpRule]>, dst: IpAddr) -> bool {
        match self.decide(rules, dst, None) {
            Decision::Route(r, _) => !r.kind.is_unroutable(),
            _ => false,
        }
    }

    /// The full answer with its explanation.
    pub fn lookup(&self, rules: Option<&[IpRule]>, dst: IpAddr) -> Lookup {
        let mut tables = Vec::new();
        let decision = self.decide(rules, dst, Some(&mut tables));
        let blank = |kind: &str, reason: String, tables: Vec<Table>| Lookup {
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
                let routable = !route.kind.is_unroutable();
                let reason = if routable {
                    format!("{dst} matches `{}` in table {table}", route.text())
                } else {
                    format!("{dst} matches {} route `{}` in table {table}", route.kind, route.text())
                };
                Lookup {
                    dst,
                    routable,
                    route: Some(route.text()),
                    kind: route.kind.to_string(),
                    table: Some(table),
                    dev: route.dev.clone(),
                    gateway: route.gateway,
                    reason,
                    tables,
                }
            }
            Decision::RuleAction(kind) => blank(&kind.to_string(), format!("{dst} hits an ip rule with action {kind}"), tables),
            Decision::Nothing => {
                let names: Vec<String> = tables.iter().map(Table::to_string).collect();
                let reason = format!("no route matches {dst} in tables {}", names.join(", "));
                blank("none", reason, tables)
            }
        }
    }
}

/// What decided a lookup.
pub enum Decision<'a> {
    /// A route in a table (which may be a blackhole).
    Route(&'a Route, Table),
    /// An ip rule action (blackhole, unreachable, prohibit).
    RuleAction(RouteType),
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
    use crate::model::{Protocol, RouteScope};
    use crate::net::parse_net;

    fn r(kind: RouteType, dst: &str, table: Table, metric: u32) -> Route {
        Route {
            kind,
            dst: parse_net(dst).unwrap(),
            is_default: dst == "0.0.0.0/0",
            gateway: None,
            dev: Some("eth0".into()),
            table,
            protocol: Protocol::BOOT,
            scope: RouteScope::GLOBAL,
            metric,
            prefsrc: None,
            flags: vec![],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rule(priority: u32, table: Table, other: bool) -> IpRule {
        IpRule { priority, src: None, dst: None, action: RuleAction::Lookup(table), has_other_selector: other, not: false, text: String::new() }
    }

    #[test]
    fn no_default_route_is_unroutable() {
        let routes = vec![r(RouteType::UNICAST, "192.168.56.0/24", Table::MAIN, 0), r(RouteType::BLACKHOLE, "10.10.0.128/26", Table::MAIN, 0)];
        let l = lookup(&[&routes], None, ip("10.96.0.1"));
        assert!(!l.routable);
        assert_eq!(l.kind, "none");
        assert_eq!(l.tables, vec![Table::LOCAL, Table::MAIN, Table::DEFAULT]);
        assert_eq!(l.reason, "no route matches 10.96.0.1 in tables local, main, default");
    }

    #[test]
    fn local_table_wins_over_main() {
        let routes = vec![r(RouteType::UNICAST, "0.0.0.0/0", Table::MAIN, 0), r(RouteType::LOCAL, "10.96.0.1/32", Table::LOCAL, 0)];
        let l = lookup(&[&routes], None, ip("10.96.0.1"));
        assert!(l.routable);
        assert_eq!(l.kind, "local");
    }

    #[test]
    fn longest_prefix_then_metric() {
        let routes = vec![
            r(RouteType::UNICAST, "0.0.0.0/0", Table::MAIN, 100),
            r(RouteType::BLACKHOLE, "10.96.0.0/12", Table::MAIN, 0),
            r(RouteType::UNICAST, "10.96.0.0/12", Table::MAIN, 10),
        ];
        let l = lookup(&[&routes], None, ip("10.96.0.1"));
        assert_eq!(l.kind, "blackhole");
        assert!(!l.routable);
    }

    #[test]
    fn throw_continues_to_next_rule() {
        let routes = vec![r(RouteType::THROW, "10.96.0.0/12", Table::Id(100), 0), r(RouteType::UNICAST, "0.0.0.0/0", Table::MAIN, 0)];
        let rules = vec![rule(100, Table::Id(100), false), rule(32766, Table::MAIN, false)];
        let l = lookup(&[&routes], Some(&rules), ip("10.96.0.1"));
        assert!(l.routable);
        assert_eq!(l.table, Some(Table::MAIN));
        assert_eq!(l.tables, vec![Table::Id(100), Table::MAIN]);
    }

    #[test]
    fn fwmark_rules_do_not_apply() {
        let routes = vec![r(RouteType::BLACKHOLE, "0.0.0.0/0", Table::Id(200), 0), r(RouteType::UNICAST, "0.0.0.0/0", Table::MAIN, 0)];
        let rules = vec![rule(10, Table::Id(200), true), rule(32766, Table::MAIN, false)];
        assert!(lookup(&[&routes], Some(&rules), ip("10.96.0.1")).routable);
    }

    #[test]
    fn rule_actions_drop() {
        let routes = vec![r(RouteType::UNICAST, "0.0.0.0/0", Table::MAIN, 0)];
        let rules = vec![IpRule {
            priority: 5,
            src: None,
            dst: None,
            action: RuleAction::Drop(RouteType::PROHIBIT),
            has_other_selector: false,
            not: false,
            text: String::new(),
        }];
        let l = lookup(&[&routes], Some(&rules), ip("10.96.0.1"));
        assert!(!l.routable);
        assert_eq!(l.kind, "prohibit");
    }
}
