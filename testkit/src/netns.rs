//! Real network namespaces for the netlink collector's tests: [`Netns`]
//! creates a uniquely named namespace (`ndt-<prefix>-<pid>-<n>`), builds the
//! dataplane a node would have inside it with helpers named after the `ip`
//! and `bridge` commands they run, and deletes it on `Drop` (veth peers in
//! other namespaces go with it), also when the test panics.
//!
//! Needs root and iproute2; [`Netns::available`] says why not otherwise.
//! This kernel has no `dummy`, `ipip` or IPVS modules: stand devices up with
//! veth pairs and bridges. Device names are at most 15 bytes (IFNAMSIZ).
//!
//! ```no_run
//! use netdoctor_testkit::netns::Netns;
//! # fn main() -> netdoctor_testkit::Result<()> {
//! let node = Netns::new("node")?;
//! let peer = Netns::new("peer")?;
//! node.veth("eth0", &peer, "eth0")?;
//! node.addr_add("eth0", "192.168.56.11/24")?;
//! node.link_up("eth0")?;
//! node.vxlan("flannel.1", 1, "192.168.56.11", Some("eth0"))?;
//! node.route_add(&["10.244.2.0/24", "via", "10.244.2.0", "dev", "flannel.1", "onlink"])?;
//! // the collector reads node.path(), i.e. /var/run/netns/ndt-node-<pid>-<n>
//! let routes = node.ip_json(&["route", "show"])?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use crate::{run, Error, Result};

/// Where `ip netns add` bind-mounts namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";
/// Every namespace this harness creates starts with this.
pub const NAME_PREFIX: &str = "ndt-";
/// Linux's limit on a network device name (IFNAMSIZ - 1).
pub const MAX_DEVICE_NAME: usize = 15;

static NEXT: AtomicUsize = AtomicUsize::new(0);
static SWEEP: Once = Once::new();

/// A network namespace owned by a test; deleted on `Drop`.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// `Ok` when this host can create namespaces (root, iproute2 installed),
    /// else [`Error::Unavailable`] saying why.
    pub fn available() -> Result<()> {
        let unavailable = |reason: String| Error::Unavailable { harness: "netns", reason };
        if !crate::is_root() {
            return Err(unavailable("network namespaces need root".into()));
        }
        run(Command::new("ip").args(["netns", "list"])).map_err(|e| unavailable(format!("`ip netns list` failed: {e}")))?;
        run(Command::new("bridge").arg("-V")).map_err(|e| unavailable(format!("`bridge -V` failed: {e}")))?;
        Ok(())
    }

    /// Creates `ndt-<prefix>-<pid>-<n>` (`ip netns add`) with its loopback
    /// up. The first call in a process also deletes `ndt-*` namespaces left
    /// behind by test processes that no longer exist (killed, not unwound).
    pub fn new(prefix: &str) -> Result<Netns> {
        Self::available()?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::Invalid(format!("netns prefix {prefix:?}: use ASCII letters and digits")));
        }
        SWEEP.call_once(sweep_stale);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NAME_PREFIX}{prefix}-{}-{n}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]))?;
        let ns = Netns { name };
        ns.link_up("lo")?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns list` shows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/var/run/netns/NAME`, the path a collector opens to enter it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.name)
    }

    /// `ip -n NAME ARGS...`: its stdout, or an error with its stderr.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// `ip -j -n NAME ARGS...` parsed as JSON (an empty output is `[]`).
    pub fn ip_json(&self, args: &[&str]) -> Result<serde_json::Value> {
        let out = run(Command::new("ip").arg("-j").arg("-n").arg(&self.name).args(args))?;
        if out.trim().is_empty() {
            return Ok(serde_json::Value::Array(Vec::new()));
        }
        serde_json::from_str(&out).map_err(|source| Error::Json { context: format!("ip -j -n {} {}", self.name, args.join(" ")), source })
    }

    /// `bridge -n NAME ARGS...`: its stdout, or an error with its stderr.
    pub fn bridge_cmd(&self, args: &[&str]) -> Result<String> {
        run(Command::new("bridge").arg("-n").arg(&self.name).args(args))
    }

    /// `ip netns exec NAME PROGRAM ARGS...`: runs any command inside; its
    /// stdout, or an error with its stderr.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        run(Command::new("ip").args(["netns", "exec", &self.name, program]).args(args))
    }

    /// `ip link add NAME type veth peer name PEER_NAME netns PEER`: a veth
    /// pair from this namespace to `peer` (which may be `self`). Both ends
    /// start down.
    pub fn veth(&self, name: &str, peer: &Netns, peer_name: &str) -> Result<()> {
        check_device(name)?;
        check_device(peer_name)?;
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", peer_name, "netns", &peer.name]).map(drop)
    }

    /// `ip link add NAME type bridge`.
    pub fn bridge(&self, name: &str) -> Result<()> {
        check_device(name)?;
        self.ip(&["link", "add", name, "type", "bridge"]).map(drop)
    }

    /// `ip link set DEV master BRIDGE`: enslaves a device to a bridge.
    pub fn set_master(&self, dev: &str, bridge: &str) -> Result<()> {
        self.ip(&["link", "set", dev, "master", bridge]).map(drop)
    }

    /// `ip link add NAME type vxlan id VNI local LOCAL [dev DEV] dstport 8472
    /// nolearning`: a VXLAN device the way flannel creates `flannel.1`.
    pub fn vxlan(&self, name: &str, vni: u32, local: &str, dev: Option<&str>) -> Result<()> {
        check_device(name)?;
        let vni = vni.to_string();
        let mut args = vec!["link", "add", name, "type", "vxlan", "id", &vni, "local", local];
        if let Some(dev) = dev {
            args.extend(["dev", dev]);
        }
        args.extend(["dstport", "8472", "nolearning"]);
        self.ip(&args).map(drop)
    }

    /// `ip link set DEV address MAC`: a fixed MAC (e.g. flannel's VtepMAC).
    pub fn set_mac(&self, dev: &str, mac: &str) -> Result<()> {
        self.ip(&["link", "set", dev, "address", mac]).map(drop)
    }

    /// `ip link set DEV up`.
    pub fn link_up(&self, dev: &str) -> Result<()> {
        self.ip(&["link", "set", dev, "up"]).map(drop)
    }

    /// `ip addr add CIDR dev DEV`, e.g. `addr_add("cni0", "10.244.1.1/24")`.
    pub fn addr_add(&self, dev: &str, cidr: &str) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", dev]).map(drop)
    }

    /// `ip route add ARGS...`: any route `ip` can express, e.g.
    /// `["blackhole", "10.244.9.0/24"]`,
    /// `["10.244.2.0/24", "via", "10.244.2.0", "dev", "flannel.1", "onlink"]`,
    /// `["default", "via", "192.168.56.1", "table", "100"]`.
    pub fn route_add(&self, args: &[&str]) -> Result<()> {
        self.ip(&[&["route", "add"], args].concat()).map(drop)
    }

    /// `ip rule add ARGS...`, e.g. `["from", "10.244.1.0/24", "table", "100",
    /// "priority", "100"]`.
    pub fn rule_add(&self, args: &[&str]) -> Result<()> {
        self.ip(&[&["rule", "add"], args].concat()).map(drop)
    }

    /// `ip neigh add IP lladdr MAC dev DEV nud permanent`: a permanent
    /// neighbour entry, as flannel writes for each remote VTEP.
    pub fn neigh_add(&self, ip: &str, mac: &str, dev: &str) -> Result<()> {
        self.ip(&["neigh", "add", ip, "lladdr", mac, "dev", dev, "nud", "permanent"]).map(drop)
    }

    /// `bridge fdb append MAC dev DEV dst DST self permanent`: a forwarding
    /// entry sending a VTEP MAC to a remote host, as flannel writes them.
    pub fn fdb_add(&self, mac: &str, dev: &str, dst: &str) -> Result<()> {
        self.bridge_cmd(&["fdb", "append", mac, "dev", dev, "dst", dst, "self", "permanent"]).map(drop)
    }

    /// `ip netns exec NAME sysctl -w KEY=VALUE`, e.g.
    /// `sysctl("net.ipv4.ip_forward", "1")`.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.exec("sysctl", &["-w", &format!("{key}={value}")]).map(drop)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(err) = run(Command::new("ip").args(["netns", "del", &self.name])) {
            eprintln!("netdoctor-testkit: deleting netns {}: {err}", self.name);
        }
    }
}

/// Names longer than IFNAMSIZ fail in the kernel with a vaguer message.
fn check_device(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_DEVICE_NAME {
        return Err(Error::Invalid(format!("device name {name:?}: must be 1 to {MAX_DEVICE_NAME} bytes")));
    }
    Ok(())
}

/// Deletes `ndt-<prefix>-<pid>-<n>` namespaces whose process is gone.
fn sweep_stale() {
    let Ok(list) = run(Command::new("ip").args(["netns", "list"])) else {
        return;
    };
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        if let Some(pid) = owner_pid(name) {
            if pid != std::process::id() && !PathBuf::from(format!("/proc/{pid}")).exists() {
                let _ = run(Command::new("ip").args(["netns", "del", name]));
            }
        }
    }
}

/// The pid in a name this harness made, `ndt-<prefix>-<pid>-<n>`.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let mut parts = rest.rsplitn(3, '-');
    let _n: usize = parts.next()?.parse().ok()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next().filter(|p| !p.is_empty())?;
    Some(pid)
}

#[cfg(test)]
mod tests {
    use super::owner_pid;

    #[test]
    fn owner_pid_reads_only_names_this_harness_makes() {
        assert_eq!(owner_pid("ndt-node-1234-0"), Some(1234));
        assert_eq!(owner_pid("ndt-a1-77-12"), Some(77));
        assert_eq!(owner_pid("ndt-1234-0"), None);
        assert_eq!(owner_pid("other-node-1234-0"), None);
        assert_eq!(owner_pid("ndt-node-x-0"), None);
    }
}
