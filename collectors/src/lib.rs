//! netdoctor's fact sources. Each module is one source named by the noun an
//! operator knows (`iproute`, `ipvs`, `iptables`, `etcd`, `k8s`,
//! `resolv_conf`, `sysctl`, `kubelet`, `subnet_env`): a pure `parse(text)`
//! over what the real tool prints, tested on real tool output. [`capture`]
//! reads a whole capture directory with them; live collectors (later) feed
//! the same facts.

pub mod capture;
pub mod error;
pub mod etcd;
pub mod iproute;
pub mod iptables;
pub mod ipvs;
pub mod k8s;
pub mod kubelet;
pub mod resolv_conf;
pub mod subnet_env;
pub mod sysctl;

pub use error::ParseError;
