//! The live iptables source: `iptables-save` run inside the host's network
//! namespace, its text read by the capture parser ([`crate::iptables::parse`]).
//!
//! The binary is the first installed of `iptables-save`, `iptables-nft-save`,
//! `iptables-legacy-save`. When the nft one warns that legacy tables are present
//! too (kube-proxy on an older image may still write them), the legacy tables are
//! saved as well and appended, so both backends' chains are seen.
//!
//! Another namespace: the command is spawned from a thread that entered it (a child
//! inherits the namespace of the thread that forks it), so no `nsenter` and no named
//! namespace are needed.

use super::netns;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What running `iptables-save` gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    /// None of the binaries is installed.
    NotInstalled,
    /// Its text, and the command(s) that printed it.
    Text { text: String, command: String },
}

/// Directories searched besides `PATH` (sbin is often missing from a service's PATH).
const SBIN: &[&str] = &["/usr/sbin", "/sbin", "/usr/local/sbin"];

/// Where `bin` is installed, if anywhere.
pub fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(SBIN.iter().map(PathBuf::from)).map(|d| d.join(bin)).find(|p| p.is_file())
}

/// Runs `iptables-save` in the namespace at `netns` (this process's own when `None`).
pub async fn collect(netns: Option<&Path>) -> Result<Saved, String> {
    let Some(bin) = ["iptables-save", "iptables-nft-save", "iptables-legacy-save"].iter().find_map(|b| which(b)) else {
        return Ok(Saved::NotInstalled);
    };
    let legacy = which("iptables-legacy-save");
    let ns: Option<PathBuf> = netns.map(Path::to_path_buf);
    let (saved, id) = netns::run_in(ns.clone(), move || {
        let (mut text, warn) = run(&bin)?;
        let mut command = bin.display().to_string();
        if warn.contains("iptables-legacy tables present") {
            if let Some(l) = legacy.filter(|l| *l != bin) {
                let (more, _) = run(&l)?;
                text.push_str("# netdoctor: legacy tables (iptables-legacy-save)\n");
                text.push_str(&more);
                command = format!("{command} + {}", l.display());
            }
        }
        Ok(Saved::Text { text, command })
    })
    .await?;
    if let Some(p) = &ns {
        netns::still_there(p, id)?;
    }
    Ok(saved)
}

/// Runs one binary: stdout, and stderr for warnings; a failure names the command.
fn run(bin: &Path) -> Result<(String, String), String> {
    let out = Command::new(bin).output().map_err(|e| format!("{}: {e}", bin.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!("{} failed ({}): {}", bin.display(), out.status, stderr.trim()));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| format!("{}: output is not UTF-8: {e}", bin.display()))?;
    Ok((text, stderr))
}
