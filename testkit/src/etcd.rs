//! A real etcd on loopback for the etcd collector's tests: [`EtcdServer`]
//! runs `/usr/bin/etcd` with a temporary data dir on free `127.0.0.1` ports,
//! optionally with the v2 API (`--enable-v2`, what flannel's etcd backend
//! used) and with TLS client-certificate auth (a CA, a server certificate
//! for 127.0.0.1/localhost and a client certificate, generated per server).
//!
//! Start with [`EtcdServer::start`]; write keys with [`EtcdServer::put_v3`]
//! or [`EtcdServer::put_v2`] (or any `etcdctl` command from
//! [`EtcdServer::etcdctl`]), point the collector at
//! [`EtcdServer::endpoint`] and the PEM paths, and use
//! [`EtcdServer::stop`] / [`EtcdServer::restart`] to take it away and bring
//! it back on the same port with the same data. `Drop` kills and reaps the
//! process and removes the data dir.
//!
//! ```no_run
//! use netdoctor_testkit::etcd::{EtcdOptions, EtcdServer};
//! # fn main() -> netdoctor_testkit::Result<()> {
//! let etcd = EtcdServer::start(EtcdOptions { v2: true, tls: false })?;
//! etcd.put_v2(
//!     "/coreos.com/network/subnets/10.244.1.0-24",
//!     r#"{"PublicIP":"192.168.56.11","BackendType":"vxlan","BackendData":{"VtepMAC":"0a:58:0a:f4:01:00"}}"#,
//! )?;
//! let out = etcd.etcdctl_v2().args(["ls", "/coreos.com/network/subnets"]).output();
//! # Ok(()) }
//! ```

mod certs;
mod http;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};
use certs::Pki;

/// The etcd binary the harness runs (Debian's `etcd-server` package).
pub const ETCD_BIN: &str = "/usr/bin/etcd";
/// The etcdctl binary behind [`EtcdServer::etcdctl`] (Debian's `etcd-client`).
pub const ETCDCTL_BIN: &str = "/usr/bin/etcdctl";

/// How long [`EtcdServer::start`] and [`EtcdServer::restart`] wait for
/// `/health` to answer before giving up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with fresh ports when another process took a port between
/// choosing it and etcd binding it.
const PORT_ATTEMPTS: usize = 5;

/// What kind of etcd to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Serve the v2 API as well (`--enable-v2`).
    pub v2: bool,
    /// Serve clients over TLS and require a client certificate signed by the
    /// test CA (`--client-cert-auth`, `--trusted-ca-file`).
    pub tls: bool,
}

/// A running (or stopped) etcd owned by a test; see the [module docs](self).
pub struct EtcdServer {
    options: EtcdOptions,
    client_port: u16,
    peer_port: u16,
    pki: Option<Pki>,
    child: Option<Child>,
    // Declared last: dropped after the process is killed in `Drop`.
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for EtcdServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdServer")
            .field("endpoint", &self.endpoint())
            .field("options", &self.options)
            .field("running", &self.child.is_some())
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl EtcdServer {
    /// `Ok` when this host can run the harness (`/usr/bin/etcd` and
    /// `/usr/bin/etcdctl` present), else [`Error::Unavailable`] saying which
    /// is missing (`scripts/setup.sh` installs both).
    pub fn available() -> Result<()> {
        for bin in [ETCD_BIN, ETCDCTL_BIN] {
            if !Path::new(bin).is_file() {
                return Err(Error::Unavailable { harness: "etcd", reason: format!("{bin} not found (scripts/setup.sh installs it)") });
            }
        }
        Ok(())
    }

    /// Starts etcd and waits until `/health` answers. Ports are chosen free
    /// and chosen again when etcd loses a bind race; on a timeout or an early
    /// exit the error carries the tail of etcd's log.
    pub fn start(options: EtcdOptions) -> Result<EtcdServer> {
        Self::available()?;
        let dir = tempfile::Builder::new().prefix("ndt-etcd-").tempdir().map_err(Error::io("creating etcd temp dir"))?;
        let pki = match options.tls {
            true => Some(Pki::generate(&dir.path().join("certs"))?),
            false => None,
        };
        let mut server = EtcdServer { options, client_port: 0, peer_port: 0, pki, child: None, dir };
        let mut attempt = 0;
        loop {
            attempt += 1;
            (server.client_port, server.peer_port) = free_port_pair()?;
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(err) if attempt < PORT_ATTEMPTS && err.to_string().contains("address already in use") => {
                    server.kill();
                    let data = server.data_dir();
                    std::fs::remove_dir_all(&data)
                        .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
                        .map_err(Error::io(format!("removing {}", data.display())))?;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// The client URL, `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        let scheme = if self.options.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.client_port)
    }

    /// The client URLs as a list, the shape etcd clients take.
    pub fn endpoints(&self) -> Vec<String> {
        vec![self.endpoint()]
    }

    /// The client port on 127.0.0.1 (the same after [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.client_port
    }

    /// The options it was started with.
    pub fn options(&self) -> EtcdOptions {
        self.options
    }

    /// etcd's `--data-dir`, kept across [`restart`](Self::restart).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The CA certificate (PEM) that signed the server and client
    /// certificates; `None` without TLS.
    pub fn ca_path(&self) -> Option<&Path> {
        self.pki.as_ref().map(|p| p.ca.as_path())
    }

    /// The client certificate (PEM) etcd accepts; `None` without TLS.
    pub fn client_cert_path(&self) -> Option<&Path> {
        self.pki.as_ref().map(|p| p.client_cert.as_path())
    }

    /// The client certificate's private key (PKCS#8 PEM); `None` without TLS.
    pub fn client_key_path(&self) -> Option<&Path> {
        self.pki.as_ref().map(|p| p.client_key.as_path())
    }

    /// Whether the process is running (it is until [`stop`](Self::stop)).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `etcdctl` for the v3 API, with `ETCDCTL_API=3`, `--endpoints` and,
    /// with TLS, `--cacert`/`--cert`/`--key`; append the command:
    /// `etcd.etcdctl().args(["get", "--prefix", "/coreos.com"]).output()`.
    pub fn etcdctl(&self) -> Command {
        let mut cmd = Command::new(ETCDCTL_BIN);
        cmd.env("ETCDCTL_API", "3").arg(format!("--endpoints={}", self.endpoint()));
        if let Some(pki) = &self.pki {
            cmd.arg(format!("--cacert={}", pki.ca.display()))
                .arg(format!("--cert={}", pki.client_cert.display()))
                .arg(format!("--key={}", pki.client_key.display()));
        }
        cmd
    }

    /// `etcdctl` for the v2 API (needs [`EtcdOptions::v2`]), with
    /// `ETCDCTL_API=2`, `--no-sync`, `--endpoints` and, with TLS,
    /// `--ca-file`/`--cert-file`/`--key-file`; append the command:
    /// `etcd.etcdctl_v2().args(["get", "/coreos.com/network/config"])`.
    pub fn etcdctl_v2(&self) -> Command {
        let mut cmd = Command::new(ETCDCTL_BIN);
        cmd.env("ETCDCTL_API", "2").arg("--no-sync").arg(format!("--endpoints={}", self.endpoint()));
        if let Some(pki) = &self.pki {
            cmd.arg(format!("--ca-file={}", pki.ca.display()))
                .arg(format!("--cert-file={}", pki.client_cert.display()))
                .arg(format!("--key-file={}", pki.client_key.display()));
        }
        cmd
    }

    /// Sets a key through the v3 API (`etcdctl put -- KEY VALUE`).
    pub fn put_v3(&self, key: &str, value: &str) -> Result<()> {
        crate::run(self.etcdctl().args(["put", "--", key, value])).map(drop)
    }

    /// Deletes a key through the v3 API (`etcdctl del -- KEY`); deleting a
    /// missing key is not an error.
    pub fn delete_v3(&self, key: &str) -> Result<()> {
        crate::run(self.etcdctl().args(["del", "--", key])).map(drop)
    }

    /// Sets a key through the v2 API: `PUT /v2/keys/KEY` with `value=VALUE`
    /// (needs [`EtcdOptions::v2`]).
    pub fn put_v2(&self, key: &str, value: &str) -> Result<()> {
        let form = format!("value={}", http::percent_encode(value, false));
        self.v2_keys("PUT", key, Some(&form), &[200, 201]).map(drop)
    }

    /// Deletes a key through the v2 API: `DELETE /v2/keys/KEY`; a missing key
    /// is an error (etcd answers 404).
    pub fn delete_v2(&self, key: &str) -> Result<()> {
        self.v2_keys("DELETE", key, None, &[200]).map(drop)
    }

    /// Reads a key through the v2 API: `GET /v2/keys/KEY`'s `node.value`,
    /// `None` when the key does not exist.
    pub fn get_v2(&self, key: &str) -> Result<Option<String>> {
        let Some(body) = self.v2_keys("GET", key, None, &[200, 404])? else {
            return Ok(None);
        };
        let doc: serde_json::Value = serde_json::from_str(&body).map_err(|source| Error::Json { context: format!("GET /v2/keys{key}"), source })?;
        Ok(doc["node"]["value"].as_str().map(str::to_string))
    }

    /// Stops etcd (SIGKILL, then reaps it): clients see connections refused.
    /// Data written before stays in the data dir for [`restart`](Self::restart).
    pub fn stop(&mut self) -> Result<()> {
        self.kill();
        Ok(())
    }

    /// Starts etcd again with the same data dir and ports (stopping it first
    /// if it runs) and waits until it answers.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn_and_wait()
    }

    /// One `/v2/keys` request; the body for an expected status (`None` for
    /// 404 when 404 is expected), else an [`Error::Http`].
    fn v2_keys(&self, method: &str, key: &str, form: Option<&str>, ok: &[u16]) -> Result<Option<String>> {
        let path = format!("/v2/keys/{}", http::percent_encode(key.trim_start_matches('/'), true));
        let resp = self.http(method, &path, form)?;
        match resp.status {
            404 if ok.contains(&404) => Ok(None),
            s if ok.contains(&s) => Ok(Some(resp.body)),
            s => Err(Error::Http { context: format!("{method} {path} on {}", self.endpoint()), detail: format!("status {s}: {}", resp.body.trim()) }),
        }
    }

    fn http(&self, method: &str, path: &str, form: Option<&str>) -> Result<http::Response> {
        let tls = self.pki.as_ref().map(|p| &p.client_config);
        http::request(self.client_port, tls, method, path, form)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("etcd.log")
    }

    /// Spawns etcd with the current ports and waits for `/health`.
    fn spawn_and_wait(&mut self) -> Result<()> {
        let context = format!("starting etcd on 127.0.0.1:{}", self.client_port);
        let log_path = self.log_path();
        let mut log = File::options().create(true).append(true).open(&log_path).map_err(Error::io(format!("opening {}", log_path.display())))?;
        let log_start = log.seek(SeekFrom::End(0)).map_err(Error::io("seeking etcd.log"))?;
        let stderr = log.try_clone().map_err(Error::io("duplicating etcd.log"))?;

        let mut cmd = Command::new(ETCD_BIN);
        let client_url = self.endpoint();
        let peer_url = format!("http://127.0.0.1:{}", self.peer_port);
        cmd.arg("--name=ndt")
            .arg(format!("--data-dir={}", self.data_dir().display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=ndt={peer_url}"))
            .arg("--initial-cluster-state=new")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr");
        if self.options.v2 {
            cmd.arg("--enable-v2");
        }
        if let Some(pki) = &self.pki {
            cmd.arg(format!("--cert-file={}", pki.server_cert.display()))
                .arg(format!("--key-file={}", pki.server_key.display()))
                .arg("--client-cert-auth")
                .arg(format!("--trusted-ca-file={}", pki.ca.display()));
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::from(log)).stderr(Stdio::from(stderr));
        let child = cmd.spawn().map_err(Error::io(format!("spawning {ETCD_BIN}")))?;
        self.child = Some(child);

        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(Error::NotReady { context, detail: format!("etcd exited with {status}; log:\n{}", self.log_tail(log_start)) });
                }
            }
            let last = match self.http("GET", "/health", None) {
                Ok(resp) if resp.status == 200 && resp.body.contains("true") => return Ok(()),
                Ok(resp) => format!("/health answered {}: {}", resp.status, resp.body.trim()),
                Err(err) => err.to_string(),
            };
            if started.elapsed() > READY_TIMEOUT {
                self.kill();
                return Err(Error::NotReady {
                    context,
                    detail: format!("no healthy answer after {READY_TIMEOUT:?} ({last}); log:\n{}", self.log_tail(log_start)),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines etcd logged since `offset`.
    fn log_tail(&self, offset: u64) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.seek(SeekFrom::Start(offset));
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Kills and reaps the process, if any.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two distinct free loopback ports. Both listeners are held until both
/// ports are known so the kernel cannot hand out the same one twice; etcd
/// binds them a moment later, and [`EtcdServer::start`] retries on a lost race.
fn free_port_pair() -> Result<(u16, u16)> {
    let bind =
        || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| Ok((l.local_addr()?.port(), l))).map_err(Error::io("choosing a free port on 127.0.0.1"));
    let (a, _la) = bind()?;
    let (b, _lb) = bind()?;
    Ok((a, b))
}
