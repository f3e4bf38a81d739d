//! Live collectors: the same facts the capture reader makes, read from the
//! running host (netlink, IPVS, iptables, files under a host root) and the
//! cluster it can reach (Kubernetes API watchers, flannel's etcd). Each is a
//! [`netdoctor_engine::collector::Collector`] named by the same noun as its
//! capture reader.

pub mod cluster;
pub mod host;
