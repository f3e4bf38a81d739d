//! The kubelet source: its config file and command line, for which
//! resolv.conf it hands pods (`resolvConf` / `--resolv-conf`).

use crate::error::{shape, ParseError};
use netdoctor_engine::model::KubeletResolv;

/// `/var/lib/kubelet/config.yaml` (a KubeletConfiguration).
pub fn parse_config(text: &str) -> Result<KubeletResolv, ParseError> {
    let v: serde_yaml::Value = serde_yaml::from_str(text)?;
    if v.is_null() {
        return Err(shape("$", "a KubeletConfiguration mapping, got an empty file"));
    }
    if !v.is_mapping() {
        return Err(shape("$", "a KubeletConfiguration mapping"));
    }
    let resolv_conf = match v.get("resolvConf") {
        None | Some(serde_yaml::Value::Null) => None,
        Some(serde_yaml::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(shape("resolvConf", "a string")),
    };
    Ok(KubeletResolv { resolv_conf })
}

/// The kubelet command line (`/proc/PID/cmdline` with NULs as spaces) or kubeadm-flags.env.
pub fn parse_args(text: &str) -> Result<KubeletResolv, ParseError> {
    let flat = text.replace('\0', " ");
    let mut words = flat.split_whitespace().map(|w| w.trim_matches(|c| c == '"' || c == '\''));
    let mut resolv_conf = None;
    while let Some(w) = words.next() {
        let w = w.split_once("ARGS=").map_or(w, |(_, rest)| rest);
        if let Some(v) = w.strip_prefix("--resolv-conf=") {
            resolv_conf = Some(v.to_string());
        } else if w == "--resolv-conf" {
            resolv_conf = words.next().map(str::to_string);
        }
    }
    Ok(KubeletResolv { resolv_conf })
}

#[cfg(test)]
mod tests {
    #[test]
    fn config_and_flags() {
        let c = super::parse_config("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /run/systemd/resolve/resolv.conf\n")
            .unwrap();
        assert_eq!(c.resolv_conf.as_deref(), Some("/run/systemd/resolve/resolv.conf"));
        let a =
            super::parse_args("KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///run/containerd/containerd.sock --resolv-conf=/etc/resolv.conf\"")
                .unwrap();
        assert_eq!(a.resolv_conf.as_deref(), Some("/etc/resolv.conf"));
        let b = super::parse_args("/usr/bin/kubelet --config /var/lib/kubelet/config.yaml --resolv-conf /x").unwrap();
        assert_eq!(b.resolv_conf.as_deref(), Some("/x"));
        assert!(super::parse_config("resolvConf: [1").is_err());
    }
}
