//! Test harnesses for netdoctor's live collectors: each one starts the real
//! thing a collector talks to, on loopback or inside namespaces it creates,
//! and cleans up on `Drop` (also when the test panics).
//!
//! - [`etcd::EtcdServer`]: a real `/usr/bin/etcd` on free loopback ports,
//!   optionally with the v2 API and with TLS client-certificate auth, for the
//!   etcd collector (flannel leases under `/coreos.com/network/subnets/`).
//!   `stop()`/`restart()` let a test take it away and bring it back.
//! - [`netns::Netns`]: a real network namespace with helpers named after the
//!   `ip` commands (veth, bridge, vxlan, routes, rules, neighbours, fdb,
//!   sysctl), for the netlink collector.
//! - [`apiserver::TestApiServer`]: an in-process test server that speaks the
//!   Kubernetes API's HTTP wire protocol (lists with pagination and selectors,
//!   watches with bookmarks and `410 Expired`) for the resources netdoctor
//!   reads; it is not a kube-apiserver. A `kube::Client` built from its
//!   [`kubeconfig`](apiserver::TestApiServer::kubeconfig) talks to it.
//!
//! Start with the harness your collector needs. When the host cannot run a
//! harness (not root, a binary missing) its constructor returns
//! [`Error::Unavailable`]; wrap it in [`require!`] (or [`or_skip`]) so the
//! test prints `skipped: <why>` and returns instead of failing, while any
//! other error still fails the test:
//!
//! ```no_run
//! use netdoctor_testkit::{etcd::{EtcdOptions, EtcdServer}, require};
//!
//! #[test]
//! fn reads_flannel_leases() {
//!     let etcd = require!(EtcdServer::start(EtcdOptions { v2: false, tls: true }));
//!     etcd.put_v3(
//!         "/coreos.com/network/subnets/10.244.1.0-24",
//!         r#"{"PublicIP":"192.168.56.11","BackendType":"vxlan"}"#,
//!     )
//!     .unwrap();
//!     // point the collector at etcd.endpoint(), etcd.ca_path(), ...
//! }
//! ```
//!
//! A [`netns::Netns`] test looks the same (`require!(Netns::new("fl"))`);
//! a [`apiserver::TestApiServer`] needs no privileges and runs its own Tokio
//! runtime on a thread of its own, so it serves plain `#[test]`s and
//! `#[tokio::test]`s of either flavour alike.

#![warn(missing_docs)]

pub mod apiserver;
pub mod etcd;
pub mod netns;

use std::io::Write;
use std::process::Command;

/// Everything that can go wrong in a harness.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host cannot run this harness (not root, a binary missing); tests
    /// report it as `skipped: <why>` through [`or_skip`] / [`require!`].
    #[error("{harness} unavailable: {reason}")]
    Unavailable {
        /// The harness, e.g. `etcd`.
        harness: &'static str,
        /// Why, e.g. `/usr/bin/etcd not found`.
        reason: String,
    },
    /// A file, socket or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, e.g. `writing ca.pem`.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A command ran but exited unsuccessfully.
    #[error("{command}: {status}: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// How it exited.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A server did not become ready in time, or exited while starting.
    #[error("{context}: {detail}")]
    NotReady {
        /// Which server, e.g. `starting etcd on 127.0.0.1:40123`.
        context: String,
        /// Why, with the tail of the server's log where there is one.
        detail: String,
    },
    /// An HTTP exchange failed or answered an unexpected status.
    #[error("{context}: {detail}")]
    Http {
        /// The request, e.g. `PUT /v2/keys/a`.
        context: String,
        /// The failure or the status and body.
        detail: String,
    },
    /// Generating test certificates failed.
    #[error("generating test certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    /// Building the TLS client configuration failed.
    #[error("TLS client configuration: {0}")]
    Tls(#[from] rustls::Error),
    /// JSON could not be read.
    #[error("{context}: {source}")]
    Json {
        /// What was being read, e.g. a file path.
        context: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// An argument the harness cannot use: an object the test API server does
    /// not serve, a device name longer than 15 bytes, and the like.
    #[error("{0}")]
    Invalid(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Why the harness cannot run on this host, when that is the error.
    pub fn unavailable_reason(&self) -> Option<String> {
        match self {
            Error::Unavailable { harness, reason } => Some(format!("{harness}: {reason}")),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// Returns the harness, or `None` after printing `skipped: <test>: <why>`
/// when the host cannot run it; panics on any other error so a broken
/// harness fails the test instead of skipping it.
///
/// The line goes straight to the process's standard error, past the test
/// runner's output capture, so a skip is visible in `cargo test` output.
pub fn or_skip<T>(result: Result<T>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(err) => match err.unavailable_reason() {
            Some(reason) => {
                let thread = std::thread::current();
                let test = thread.name().unwrap_or("test");
                let _ = writeln!(std::io::stderr().lock(), "skipped: {test}: {reason}");
                None
            }
            None => panic!("{err}"),
        },
    }
}

/// `let x = require!(Harness::start(..));` — the harness, or print
/// `skipped: <why>` and `return` from the test (see [`or_skip`]).
#[macro_export]
macro_rules! require {
    ($harness:expr) => {
        match $crate::or_skip($harness) {
            Some(value) => value,
            None => return,
        }
    };
}

/// Runs a command to completion: its stdout, or [`Error::Command`] with the
/// command line and its stderr when it fails. The harnesses use it for
/// `ip`, `bridge` and `etcdctl`; tests can too:
/// `run(etcd.etcdctl().args(["get", "--prefix", "/coreos.com"]))`.
pub fn run(cmd: &mut Command) -> Result<String> {
    let line = command_line(cmd);
    let out = cmd.output().map_err(Error::io(format!("running {line}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command { command: line, status: out.status.to_string(), stderr: String::from_utf8_lossy(&out.stderr).trim().to_string() })
    }
}

/// The command as a person would type it, for error messages.
pub(crate) fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|s| s.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// Whether this process runs with effective uid 0 (read from
/// `/proc/self/status`, as the workspace forbids the `unsafe` of `geteuid`).
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0")))
        .unwrap_or(false)
}

/// Copies the directory tree `from` into `to` (created): e.g. an example capture into a
/// scratch directory a test then edits.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> Error {
        Error::Unavailable { harness: "etcd", reason: "/usr/bin/etcd not found".into() }
    }

    #[test]
    fn an_unavailable_harness_is_a_skip() {
        assert_eq!(or_skip(Ok(7)), Some(7));
        assert_eq!(or_skip::<u32>(Err(unavailable())), None);
        let mut reached = false;
        let mut body = || {
            let _etcd: u32 = require!(Err(unavailable()));
            reached = true;
        };
        body();
        assert!(!reached, "require! returns before the test body");
    }

    #[test]
    #[should_panic(expected = "device name too long")]
    fn any_other_error_fails_the_test() {
        or_skip::<()>(Err(Error::Invalid("device name too long".into())));
    }

    #[test]
    fn run_reports_the_command_and_its_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        assert_eq!(err.to_string(), "sh -c echo oops >&2; exit 3: exit status: 3: oops");
        assert_eq!(run(Command::new("echo").arg("hi")).unwrap(), "hi\n");
    }
}
