//! A seeded PRNG (splitmix64) and the identifiers Kubernetes and Linux print:
//! pod name suffixes, UIDs, MACs, container IDs. Everything the generator
//! writes derives from one seed, so a spec always yields the same bytes.

/// splitmix64: tiny, fast, and good enough for spreading objects around.
#[derive(Debug, Clone)]
pub struct Rng(u64);

/// The alphabet of generated names (`k8s.io/apimachinery/pkg/util/rand`).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent stream for one purpose, so that adding draws in one
    /// place does not shift every later object.
    pub fn fork(&self, salt: u64) -> Rng {
        Rng(mix(self.0 ^ mix(salt)))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// A name suffix as the ReplicaSet / DaemonSet controllers make it.
    pub fn suffix(&mut self, len: usize) -> String {
        (0..len).map(|_| ALPHANUMS[self.below(ALPHANUMS.len())] as char).collect()
    }

    /// A pod-template-hash such as `5dd5756b68`.
    pub fn template_hash(&mut self) -> String {
        self.suffix(10)
    }

    /// A version-5-looking UUID (the API server's are random, v4; kubeadm
    /// fixtures in examples/ are v5).
    pub fn uid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!("{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xfff, 8 + (b >> 62), (b >> 48) & 0xfff, b & 0xffff_ffff_ffff)
    }

    /// `n` lowercase hex characters.
    pub fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n + 16);
        while s.len() < n {
            s.push_str(&format!("{:016x}", self.next_u64()));
        }
        s.truncate(n);
        s
    }

    /// A locally administered unicast MAC (what the kernel gives veths,
    /// bridges and vxlan devices).
    pub fn local_mac(&mut self) -> Mac {
        let v = self.next_u64().to_be_bytes();
        Mac([(v[0] & 0xfc) | 0x02, v[1], v[2], v[3], v[4], v[5]])
    }
}

/// The splitmix64 finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// An Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl Mac {
    /// The bridge-id spelling of `ip -d link` (`8000.2a:6f:e:91:b4:11`: no zero padding).
    pub fn bridge_id(&self) -> String {
        self.0.iter().map(|b| format!("{b:x}")).collect::<Vec<_>>().join(":")
    }

    /// The IPv6 link-local address the kernel derives from it (EUI-64).
    pub fn link_local(&self) -> std::net::Ipv6Addr {
        let m = self.0;
        std::net::Ipv6Addr::new(
            0xfe80,
            0,
            0,
            0,
            u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
            u16::from_be_bytes([m[2], 0xff]),
            u16::from_be_bytes([0xfe, m[3]]),
            u16::from_be_bytes([m[4], m[5]]),
        )
    }

    /// The MAC the CNI bridge plugin gives a pod's eth0: `0a:58` + its IPv4.
    pub fn of_pod_ip(ip: std::net::Ipv4Addr) -> Mac {
        let o = ip.octets();
        Mac([0x0a, 0x58, o[0], o[1], o[2], o[3]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        assert_eq!(a.uid(), b.uid());
        assert_eq!(a.suffix(5), b.suffix(5));
    }

    #[test]
    fn link_local_matches_the_kernel() {
        // healthy-flannel node1: eth0 52:54:00:3a:56:11 has fe80::5054:ff:fe3a:5611
        let m = Mac([0x52, 0x54, 0x00, 0x3a, 0x56, 0x11]);
        assert_eq!(m.link_local().to_string(), "fe80::5054:ff:fe3a:5611");
        assert_eq!(Mac([0x2a, 0x6f, 0x0e, 0x91, 0xb4, 0x11]).bridge_id(), "2a:6f:e:91:b4:11");
    }
}
