//! Running a piece of work inside another network namespace without moving the
//! rest of the process: a dedicated std thread opens the namespace file
//! (`/var/run/netns/X` or `/proc/PID/ns/net`), `setns(CLONE_NEWNET)`s itself
//! into it, does the work and ends. Sockets it creates stay in that namespace
//! for their whole life (the kernel binds a socket to the namespace of its
//! creator), `/proc/sys/net` read from it shows that namespace's sysctls, and
//! children it spawns inherit it. The thread is never reused, so no other task
//! ever runs in the wrong namespace (a tokio blocking-pool thread would be).

use nix::sched::{setns, CloneFlags};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Identity of a namespace file: the nsfs device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsId {
    dev: u64,
    ino: u64,
}

/// The identity of the namespace `path` names now.
pub fn ns_id(path: &Path) -> std::io::Result<NsId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok(NsId { dev: m.dev(), ino: m.ino() })
}

/// Why a namespace could not be entered or read.
pub fn open_error(path: &Path, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("network namespace {}: does not exist (deleted, or the process is gone)", path.display())
    } else {
        format!("network namespace {}: cannot open: {e}", path.display())
    }
}

/// Runs `work` on a fresh thread inside the network namespace at `netns` (in the
/// caller's namespace when `None`) and returns its result with the identity of the
/// namespace it ran in. Never blocks the async runtime: the result comes back over a
/// oneshot channel.
pub async fn run_in<T, F>(netns: Option<PathBuf>, work: F) -> Result<(T, Option<NsId>), String>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, String> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("netdoctor-netns".into()).spawn(move || {
        let _ = tx.send(enter_and_run(netns.as_deref(), work));
    });
    if let Err(e) = spawned {
        return Err(format!("cannot start a thread: {e}"));
    }
    rx.await.map_err(|_| "the namespace thread ended without an answer (it panicked)".to_string())?
}

/// The same, blocking the calling thread (for tests, benches and blocking contexts).
pub fn run_in_blocking<T, F>(netns: Option<PathBuf>, work: F) -> Result<(T, Option<NsId>), String>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, String> + Send + 'static,
{
    std::thread::Builder::new()
        .name("netdoctor-netns".into())
        .spawn(move || enter_and_run(netns.as_deref(), work))
        .map_err(|e| format!("cannot start a thread: {e}"))?
        .join()
        .map_err(|_| "the namespace thread panicked".to_string())?
}

fn enter_and_run<T>(netns: Option<&Path>, work: impl FnOnce() -> Result<T, String>) -> Result<(T, Option<NsId>), String> {
    let id = match netns {
        None => None,
        Some(path) => {
            let f = File::open(path).map_err(|e| open_error(path, &e))?;
            let id = {
                use std::os::unix::fs::MetadataExt;
                let m = f.metadata().map_err(|e| open_error(path, &e))?;
                NsId { dev: m.dev(), ino: m.ino() }
            };
            setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| match e {
                nix::errno::Errno::EINVAL => format!("{}: not a network namespace", path.display()),
                nix::errno::Errno::EPERM => format!("network namespace {}: entering it needs CAP_SYS_ADMIN (run as root)", path.display()),
                e => format!("network namespace {}: setns: {e}", path.display()),
            })?;
            Some(id)
        }
    };
    Ok((work()?, id))
}

/// After a collection: an error when `path` no longer names the namespace that was read
/// (deleted, or replaced by another), so facts of a vanished namespace are never reported
/// as the host's.
pub fn still_there(path: &Path, id: Option<NsId>) -> Result<(), String> {
    let Some(id) = id else { return Ok(()) };
    match ns_id(path) {
        Ok(now) if now == id => Ok(()),
        Ok(_) => Err(format!("network namespace {}: replaced by another namespace during collection", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("network namespace {}: deleted during collection (what was read belongs to a namespace that is gone)", path.display()))
        }
        Err(e) => Err(format!("network namespace {}: {e}", path.display())),
    }
}
