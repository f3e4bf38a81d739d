//! A set of CIDRs answering "which members overlap this network?" without a
//! scan: members that contain the query are found by one hash probe per
//! prefix length present, members inside it by a range search over their
//! start addresses. Used for pod networks against host networks at 5,000
//! nodes (each Node's podCIDR is a member).

use ipnet::IpNet;
use std::collections::HashMap;
use std::net::IpAddr;

fn family(n: &IpNet) -> usize {
    usize::from(!n.addr().is_ipv4())
}

fn start(n: &IpNet) -> u128 {
    match n.network() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn end(n: &IpNet) -> u128 {
    match n.broadcast() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// CIDRs with a payload each.
#[derive(Debug, Clone)]
pub struct CidrSet<T> {
    entries: Vec<(IpNet, T)>,
    /// Per family: prefix lengths present, ascending.
    lens: [Vec<u8>; 2],
    by_net: HashMap<IpNet, Vec<usize>>,
    /// Per family: (start address, entry), sorted.
    starts: [Vec<(u128, usize)>; 2],
}

impl<T> Default for CidrSet<T> {
    fn default() -> Self {
        CidrSet { entries: Vec::new(), lens: [Vec::new(), Vec::new()], by_net: HashMap::new(), starts: [Vec::new(), Vec::new()] }
    }
}

impl<T> CidrSet<T> {
    /// Indexes the entries (networks are truncated to their network address).
    pub fn new(entries: impl IntoIterator<Item = (IpNet, T)>) -> CidrSet<T> {
        let mut set = CidrSet::default();
        for (n, t) in entries {
            let n = n.trunc();
            let i = set.entries.len();
            let f = family(&n);
            if !set.lens[f].contains(&n.prefix_len()) {
                set.lens[f].push(n.prefix_len());
            }
            set.by_net.entry(n).or_default().push(i);
            set.starts[f].push((start(&n), i));
            set.entries.push((n, t));
        }
        for f in 0..2 {
            set.lens[f].sort_unstable();
            set.starts[f].sort_unstable();
        }
        set
    }

    /// Every member.
    pub fn entries(&self) -> &[(IpNet, T)] {
        &self.entries
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Members sharing at least one address with `q`, in insertion order.
    pub fn overlapping(&self, q: &IpNet) -> Vec<&(IpNet, T)> {
        let q = q.trunc();
        let f = family(&q);
        let mut hits: Vec<usize> = Vec::new();
        // Members that contain q (or equal it).
        for &len in self.lens[f].iter().take_while(|l| **l <= q.prefix_len()) {
            if let Ok(anc) = IpNet::new(q.addr(), len) {
                if let Some(v) = self.by_net.get(&anc.trunc()) {
                    hits.extend(v);
                }
            }
        }
        // Members strictly inside q.
        let (lo, hi) = (start(&q), end(&q));
        let s = &self.starts[f];
        let from = s.partition_point(|(a, _)| *a < lo);
        for (a, i) in &s[from..] {
            if *a > hi {
                break;
            }
            if self.entries[*i].0.prefix_len() > q.prefix_len() {
                hits.push(*i);
            }
        }
        hits.sort_unstable();
        hits.dedup();
        hits.into_iter().map(|i| &self.entries[i]).collect()
    }

    /// Members that contain the address.
    pub fn containing(&self, ip: IpAddr) -> Vec<&(IpNet, T)> {
        self.overlapping(&IpNet::from(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn finds_ancestors_descendants_and_equals_only() {
        let set =
            CidrSet::new([(n("10.0.0.0/8"), "a"), (n("10.244.0.0/16"), "b"), (n("10.244.3.0/24"), "c"), (n("192.168.0.0/16"), "d"), (n("fd00::/8"), "e")]);
        let names = |q: &str| set.overlapping(&n(q)).iter().map(|e| e.1).collect::<Vec<_>>();
        assert_eq!(names("10.244.3.7/32"), vec!["a", "b", "c"]);
        assert_eq!(names("10.244.0.0/14"), vec!["a", "b", "c"]);
        assert_eq!(names("10.245.0.0/16"), vec!["a"]);
        assert_eq!(names("192.168.56.0/24"), vec!["d"]);
        assert_eq!(names("172.16.0.0/12"), Vec::<&str>::new());
        assert_eq!(names("0.0.0.0/0"), vec!["a", "b", "c", "d"]);
        assert_eq!(names("fd12::/16"), vec!["e"]);
    }

    #[test]
    fn agrees_with_a_scan() {
        let mut nets = Vec::new();
        let mut x: u32 = 12345;
        for _ in 0..300 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let len = 8 + (x % 25) as u8;
            let addr = std::net::Ipv4Addr::from(x.rotate_left(7));
            nets.push(IpNet::new(IpAddr::V4(addr), len).unwrap().trunc());
        }
        let set = CidrSet::new(nets.iter().map(|n| (*n, ())));
        for q in &nets {
            let got: Vec<IpNet> = set.overlapping(q).iter().map(|e| e.0).collect();
            let want: Vec<IpNet> = nets.iter().filter(|m| crate::net::overlaps(m, q)).copied().collect();
            assert_eq!(got, want, "{q}");
        }
    }
}
