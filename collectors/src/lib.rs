//! netdoctor's fact sources. Each module is one source, named by the noun an
//! operator knows and shared by its capture reader and its live collector
//! (`k8s`, `etcd`, `netlink`, `ipvs`, `iptables`, `resolv_conf`, `sysctl`,
//! `kubelet`, `subnet_env`): pure `parse` functions over what the real tool
//! prints, tested on real tool output. [`capture`] reads a whole capture
//! directory with them into a `FactSet`.

pub mod capture;
pub mod error;
pub mod etcd;
pub mod iptables;
pub mod ipvs;
pub mod k8s;
mod k8s_yaml;
pub mod kubelet;
pub mod live;
pub mod netlink;
pub mod resolv_conf;
pub mod subnet_env;
pub mod sysctl;
pub mod util;
pub mod write;

pub use error::ParseError;
