//! Watches the rule directories and the config file with notify (inotify on
//! Linux) and pokes a [`Notify`] on every change that may matter; the serve
//! loop debounces and reloads. Start at [`watch`].
//!
//! Each directory is watched itself, not the files in it, so every way a file
//! changes is seen: written in place, replaced by rename (how most editors
//! save), added, removed, and the Kubernetes ConfigMap volume pattern, where
//! the files are symlinks through `..data`, a symlink to a timestamped
//! directory that the kubelet swaps atomically by renaming `..data_tmp` over
//! it. Events are only a hint: the reload reads everything again and acts on
//! what differs.

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Notify;

/// Whether an event about `path` in a watched directory may change what is
/// loaded: a rule file, the config file, or a ConfigMap's `..` entries.
fn relevant(path: &Path, names: &[OsString]) -> bool {
    let Some(name) = path.file_name() else {
        return true;
    };
    name.to_string_lossy().starts_with("..") || path.extension().is_some_and(|e| e == "rhai") || names.iter().any(|n| n == name)
}

/// Watches every rule directory and the config file's directory; `changed`
/// is poked on each relevant event. The watch ends when the watcher is dropped.
pub fn watch(dirs: &[PathBuf], config: Option<&Path>, changed: Arc<Notify>) -> notify::Result<RecommendedWatcher> {
    let mut targets: Vec<PathBuf> = dirs.to_vec();
    let mut names = Vec::new();
    if let Some(c) = config {
        let parent = c.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        targets.push(parent.to_path_buf());
        names.extend(c.file_name().map(|n| n.to_os_string()));
    }
    targets.sort();
    targets.dedup();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(ev) => {
            if matches!(ev.kind, EventKind::Access(_)) {
                return;
            }
            if ev.paths.is_empty() || ev.paths.iter().any(|p| relevant(p, &names)) {
                changed.notify_one();
            }
        }
        // An overflowed queue loses events: reload to be sure.
        Err(_) => changed.notify_one(),
    })?;
    for t in &targets {
        watcher.watch(t, RecursiveMode::NonRecursive)?;
    }
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_files_config_and_configmap_entries_are_relevant() {
        let names = vec![OsString::from("netdoctor.yaml")];
        for p in ["/r/a.rhai", "/r/..data", "/r/..data_tmp", "/r/..2024_01_01_00_00_00.1", "/etc/netdoctor.yaml"] {
            assert!(relevant(Path::new(p), &names), "{p}");
        }
        for p in ["/r/.a.rhai.swp", "/r/a.rhai~", "/r/4913", "/etc/passwd"] {
            assert!(!relevant(Path::new(p), &names), "{p}");
        }
    }
}
