//! The etcd live collector: flannel's network config (`<prefix>/config`) and
//! subnet leases (`<prefix>/subnets/<a.b.c.d-len>`), read with the same
//! functions as the capture reader ([`crate::etcd::flannel_from`]).
//!
//! v3 through etcd-client (a prefix get; in watching mode a watch on the
//! prefix from the get's revision), v2 through its HTTP keys API
//! (`GET /v2/keys<prefix>?recursive=true`; in watching mode a long poll with
//! `wait=true&waitIndex=`), TLS for both from flannel's own flags
//! (`--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`). [`EtcdApi::Auto`]
//! uses v3 unless v3 holds no flannel keys under the prefix and v2 does (old
//! flannel writes the v2 store, which v3 does not see).
//!
//! While watching, any failure (etcd stopped, a watch cancelled by a
//! compaction) marks the collector down and keeps the last good leases; it
//! retries with backoff, re-reads the whole prefix and swaps it in.

use super::{unix_now, Backoff, OnChange, Shared, WatchHandle, WatchStatus};
use crate::etcd::{flannel_from, EtcdFlannel};
use base64::Engine as _;
use netdoctor_engine::collector::{Collection, Collector};
use netdoctor_engine::kind::FactKind;
use netdoctor_engine::store::{Broken, FactSet, Object};
use netdoctor_engine::Source;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Which etcd API flannel's data is read with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum EtcdApi {
    /// v3, unless only v2 holds flannel keys under the prefix.
    #[default]
    Auto,
    V3,
    V2,
}

impl std::str::FromStr for EtcdApi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(EtcdApi::Auto),
            "v3" | "3" => Ok(EtcdApi::V3),
            "v2" | "2" => Ok(EtcdApi::V2),
            _ => Err(format!("etcd API {s:?}: expected auto, v3 or v2")),
        }
    }
}

/// Where flannel's etcd is, with flannel's own flag names.
#[derive(Debug, Clone)]
pub struct EtcdOptions {
    /// `--etcd-endpoints` (comma-separated on the command line), e.g. `https://10.0.0.1:2379`.
    pub endpoints: Vec<String>,
    /// `--etcd-prefix`, default `/coreos.com/network` (`/flannel/network` is also common).
    pub prefix: String,
    pub api: EtcdApi,
    /// `--etcd-cafile`: the CA that signed etcd's server certificate.
    pub ca_file: Option<PathBuf>,
    /// `--etcd-certfile` / `--etcd-keyfile`: a client certificate, when etcd requires one.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions { endpoints: Vec::new(), prefix: DEFAULT_PREFIX.to_string(), api: EtcdApi::Auto, ca_file: None, cert_file: None, key_file: None }
    }
}

/// flannel's default `--etcd-prefix`.
pub const DEFAULT_PREFIX: &str = "/coreos.com/network";
/// What `collect()` says when no etcd is configured.
pub const NO_ETCD: &str = "no etcd configured (--etcd-endpoints)";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A v2 long poll ends after this long without changes (then the prefix is read again).
const V2_WAIT: Duration = Duration::from_secs(60);
const FIRST_SYNC: Duration = Duration::from_secs(30);

fn err(message: impl Into<String>) -> netdoctor_engine::Error {
    netdoctor_engine::Error::Collect { collector: "etcd".into(), message: message.into() }
}

/// What one read of the prefix returned.
struct Dump {
    api: &'static str,
    kvs: Vec<(String, String)>,
    /// As `etcdctl get -w json` prints it (v3) or the v2 response body.
    raw: Value,
    /// The v3 revision or the v2 `X-Etcd-Index` the read saw.
    index: i64,
}

/// flannel's etcd as a collector (`etcd`). See the [module docs](self).
pub struct EtcdCollector {
    opts: EtcdOptions,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EtcdCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdCollector").field("opts", &self.opts).field("status", &self.status()).finish()
    }
}

fn prefix(opts: &EtcdOptions) -> String {
    let p = opts.prefix.trim_end_matches('/');
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

fn endpoints(opts: &EtcdOptions) -> String {
    opts.endpoints.join(",")
}

fn read_file(p: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("reading {what} {}: {e}", p.display()))
}

// ---------------------------------------------------------------------------
// v3

/// A client for one endpoint. etcd-client balances requests over all the endpoints it is
/// given and fails a request sent to a dead one instead of trying the next, so the endpoints
/// are tried one by one (a cluster with one member down is common).
async fn connect_v3(opts: &EtcdOptions, endpoint: &str) -> Result<etcd_client::Client, String> {
    let mut co = etcd_client::ConnectOptions::new().with_connect_timeout(CONNECT_TIMEOUT).with_timeout(REQUEST_TIMEOUT);
    let tls_wanted = opts.ca_file.is_some() || opts.cert_file.is_some() || opts.endpoints.iter().any(|e| e.starts_with("https://"));
    if tls_wanted {
        let mut tls = etcd_client::TlsOptions::new();
        if let Some(ca) = &opts.ca_file {
            tls = tls.ca_certificate(etcd_client::Certificate::from_pem(read_file(ca, "--etcd-cafile")?));
        }
        match (&opts.cert_file, &opts.key_file) {
            (Some(c), Some(k)) => tls = tls.identity(etcd_client::Identity::from_pem(read_file(c, "--etcd-certfile")?, read_file(k, "--etcd-keyfile")?)),
            (None, None) => {}
            _ => return Err("--etcd-certfile and --etcd-keyfile go together".into()),
        }
        co = co.with_tls(tls);
    }
    // etcd-client refuses TLS options with http:// URLs; flannel accepts either spelling.
    let ep = if tls_wanted { endpoint.replacen("http://", "https://", 1) } else { endpoint.to_string() };
    etcd_client::Client::connect([ep], Some(co)).await.map_err(|e| format!("etcd {endpoint}: {e}"))
}

/// A v3 prefix get on the first endpoint that answers, and the client that got it.
async fn read_v3(opts: &EtcdOptions) -> Result<(Dump, etcd_client::Client), String> {
    let p = prefix(opts);
    let mut failures = Vec::new();
    for ep in &opts.endpoints {
        let got = async {
            let mut client = connect_v3(opts, ep).await?;
            let resp = client.get(p.as_str(), Some(etcd_client::GetOptions::new().with_prefix())).await.map_err(|e| format!("etcd {ep}: v3 get {p}: {e}"))?;
            Ok::<_, String>((resp, client))
        };
        match got.await {
            Ok((resp, client)) => return Ok((dump_v3(&resp), client)),
            Err(e) => failures.push(e),
        }
    }
    Err(if failures.is_empty() { "no etcd endpoints".to_string() } else { failures.join("; ") })
}

fn dump_v3(resp: &etcd_client::GetResponse) -> Dump {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut kvs = Vec::new();
    let mut raw_kvs = Vec::new();
    for kv in resp.kvs() {
        kvs.push((String::from_utf8_lossy(kv.key()).into_owned(), String::from_utf8_lossy(kv.value()).into_owned()));
        raw_kvs.push(json!({
            "key": b64(kv.key()),
            "create_revision": kv.create_revision(),
            "mod_revision": kv.mod_revision(),
            "version": kv.version(),
            "value": b64(kv.value()),
        }));
    }
    let header = resp.header();
    let index = header.map_or(0, |h| h.revision());
    let raw = json!({
        "header": {
            "cluster_id": header.map_or(0, |h| h.cluster_id()),
            "member_id": header.map_or(0, |h| h.member_id()),
            "revision": index,
            "raft_term": header.map_or(0, |h| h.raft_term()),
        },
        "kvs": raw_kvs,
        "count": resp.count(),
    });
    Dump { api: "v3", kvs, raw, index }
}

// ---------------------------------------------------------------------------
// v2 (HTTP keys API)

fn tls_config(opts: &EtcdOptions) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let ca = opts.ca_file.as_ref().ok_or("an https:// etcd endpoint needs --etcd-cafile")?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| format!("reading --etcd-cafile {}: {e}", ca.display()))? {
        let c = c.map_err(|e| format!("reading --etcd-cafile {}: {e}", ca.display()))?;
        roots.add(c).map_err(|e| format!("--etcd-cafile {}: {e}", ca.display()))?;
    }
    // ring is the provider kube and tonic already bring in (the post-quantum one is aws-lc's).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().map_err(|e| e.to_string())?.with_root_certificates(roots);
    let config = match (&opts.cert_file, &opts.key_file) {
        (Some(c), Some(k)) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(c)
                .and_then(|i| i.collect::<Result<_, _>>())
                .map_err(|e| format!("reading --etcd-certfile {}: {e}", c.display()))?;
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| format!("reading --etcd-keyfile {}: {e}", k.display()))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| format!("client certificate: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("--etcd-certfile and --etcd-keyfile go together".into()),
    };
    Ok(Arc::new(config))
}

/// One HTTP/1.1 GET; the status, the `X-Etcd-Index` header and the body.
async fn http_get(opts: &EtcdOptions, endpoint: &str, path: &str, timeout: Duration) -> Result<(u16, Option<i64>, String), String> {
    use http_body_util::BodyExt;
    let url = format!("{}{path}", endpoint.trim_end_matches('/'));
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(2379);
    let fail = |e: &dyn std::fmt::Display| format!("etcd {endpoint}: GET {path}: {e}");
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| fail(&"connect timed out"))?
        .map_err(|e| fail(&e))?;
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let req = hyper::Request::get(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
        .header(hyper::header::HOST, authority)
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .map_err(|e| fail(&e))?;
    let exchange = async {
        let resp = if https {
            let name = rustls::pki_types::ServerName::try_from(host.clone()).map_err(|e| fail(&e))?;
            let tls = tokio_rustls::TlsConnector::from(tls_config(opts)?).connect(name, tcp).await.map_err(|e| fail(&e))?;
            let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.map_err(|e| fail(&e))?;
            tokio::spawn(conn);
            send.send_request(req).await.map_err(|e| fail(&e))?
        } else {
            let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp)).await.map_err(|e| fail(&e))?;
            tokio::spawn(conn);
            send.send_request(req).await.map_err(|e| fail(&e))?
        };
        let status = resp.status().as_u16();
        let index = resp.headers().get("x-etcd-index").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        let body = resp.into_body().collect().await.map_err(|e| fail(&e))?.to_bytes();
        Ok::<_, String>((status, index, String::from_utf8_lossy(&body).into_owned()))
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| fail(&format!("no answer in {}s", timeout.as_secs())))?
}

/// GET on the first endpoint that answers.
async fn v2_get(opts: &EtcdOptions, path: &str, timeout: Duration) -> Result<(u16, Option<i64>, String), String> {
    let mut last = String::from("no endpoints");
    for ep in &opts.endpoints {
        match http_get(opts, ep, path, timeout).await {
            Ok(r) => return Ok(r),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn read_v2(opts: &EtcdOptions) -> Result<Dump, String> {
    let p = prefix(opts);
    let path = format!("/v2/keys{p}?recursive=true&sorted=true");
    let (status, index, body) = v2_get(opts, &path, REQUEST_TIMEOUT).await?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("etcd {}: GET {path}: HTTP {status}, not JSON: {e}", endpoints(opts)))?;
    let index = index.unwrap_or(0);
    // 404 with errorCode 100: the prefix does not exist (no flannel keys).
    if status == 404 && v.get("errorCode").and_then(Value::as_i64) == Some(100) {
        return Ok(Dump { api: "v2", kvs: Vec::new(), raw: v, index });
    }
    if status != 200 {
        let msg = v.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("etcd {}: GET {path}: HTTP {status} {msg}", endpoints(opts)));
    }
    let (api, kvs) = crate::etcd::key_values(&v).map_err(|e| format!("etcd {}: GET {path}: {e}", endpoints(opts)))?;
    Ok(Dump { api, kvs, raw: v, index })
}

/// Reads the prefix with the configured API (or the one that holds flannel's keys).
async fn read(opts: &EtcdOptions) -> Result<(Dump, Option<etcd_client::Client>), String> {
    let has_flannel = |d: &Dump| d.kvs.iter().any(|(k, _)| k.ends_with("/config") || k.contains("/subnets/"));
    match opts.api {
        EtcdApi::V3 => read_v3(opts).await.map(|(d, c)| (d, Some(c))),
        EtcdApi::V2 => read_v2(opts).await.map(|d| (d, None)),
        EtcdApi::Auto => match read_v3(opts).await {
            Ok((d, c)) if has_flannel(&d) => Ok((d, Some(c))),
            Ok((d, c)) => match read_v2(opts).await {
                Ok(d2) if has_flannel(&d2) => Ok((d2, None)),
                _ => Ok((d, Some(c))),
            },
            Err(e3) => match read_v2(opts).await {
                Ok(d2) => Ok((d2, None)),
                Err(_) => Err(e3),
            },
        },
    }
}

/// The facts of one read; broken keys by key.
fn facts(d: &Dump, source: &Source, prefix: &str) -> (FactSet, BTreeMap<String, String>) {
    let f: EtcdFlannel = flannel_from((d.api, d.kvs.clone()), |_| source.clone());
    let mut set = FactSet::new();
    let mut broken = BTreeMap::new();
    if f.config.is_none() && f.leases.is_empty() && f.bad_keys.is_empty() {
        // As the capture reader: no flannel keys is "not collected", with a note.
        set.note(format!("etcd: no flannel keys (<prefix>/config, <prefix>/subnets/...) under {prefix} ({})", d.api));
        return (set, broken);
    }
    set.collected(FactKind::FlannelEtcd, source.clone());
    if let Some(c) = f.config {
        set.set_flannel_etcd_config(Some(c));
    }
    for l in f.leases {
        set.apply(Object::Lease(l));
    }
    for (k, e) in f.bad_keys {
        broken.insert(k, e);
    }
    publish(&mut set, &broken, source);
    (set, broken)
}

fn publish(set: &mut FactSet, broken: &BTreeMap<String, String>, source: &Source) {
    set.set_broken(FactKind::FlannelEtcd, broken.iter().map(|(k, e)| Broken { source: source.clone(), error: format!("{k}: {e}") }).collect());
}

impl EtcdCollector {
    /// A collector for flannel's etcd (nothing is contacted yet).
    /// Endpoints are normalised as flannel reads them: a comma-separated entry is split,
    /// an endpoint without a scheme gets `http://` (`https://` when a CA or client
    /// certificate is given, which also turns `http://` into `https://`).
    pub fn new(mut opts: EtcdOptions) -> EtcdCollector {
        let tls = opts.ca_file.is_some() || opts.cert_file.is_some();
        opts.endpoints = opts
            .endpoints
            .iter()
            .flat_map(|e| e.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|e| match (e.split_once("://"), tls) {
                (None, false) => format!("http://{e}"),
                (None, true) => format!("https://{e}"),
                (Some(("http", rest)), true) => format!("https://{rest}"),
                (Some(_), _) => e.to_string(),
            })
            .collect();
        EtcdCollector { opts, shared: Arc::new(Shared::default()) }
    }

    /// The options.
    pub fn options(&self) -> &EtcdOptions {
        &self.opts
    }

    async fn read_once(&self) -> Result<Option<Dump>, netdoctor_engine::Error> {
        if self.opts.endpoints.is_empty() {
            return Ok(None);
        }
        read(&self.opts).await.map(|(d, _)| Some(d)).map_err(err)
    }

    /// Reads the prefix once and writes it as `dir/etcd/flannel.json` (`etcdctl get --prefix
    /// -w json` for v3, the v2 response body for v2), returning the same facts as `collect()`.
    pub async fn capture(&self, dir: &Path) -> Result<Collection, netdoctor_engine::Error> {
        let Some(d) = self.read_once().await? else { return Ok(Collection::NoData(NO_ETCD.into())) };
        let out = dir.join("etcd");
        std::fs::create_dir_all(&out).map_err(|e| err(format!("creating {}: {e}", out.display())))?;
        let text = serde_json::to_string_pretty(&d.raw).unwrap_or_default() + "\n";
        std::fs::write(out.join("flannel.json"), text).map_err(|e| err(format!("writing etcd/flannel.json: {e}")))?;
        Ok(Collection::Facts(Box::new(facts(&d, &Source::live("etcd", unix_now()), &prefix(&self.opts)).0)))
    }

    /// Starts watching (see the module docs); `on_change` is called after each change.
    /// With no endpoints configured the handle does nothing and `collect()` says so.
    pub fn start_watching(&self, on_change: OnChange) -> WatchHandle {
        if self.shared.watching.load(std::sync::atomic::Ordering::SeqCst) {
            // Already watching: the running tasks keep the set current.
            return WatchHandle::new(None);
        }
        self.shared.set_on_change(on_change);
        if self.opts.endpoints.is_empty() {
            *self.shared.no_data.lock().unwrap_or_else(|p| p.into_inner()) = Some(NO_ETCD.into());
            return WatchHandle::new(None);
        }
        self.shared.watching.store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.register("etcd");
        let shared = Arc::clone(&self.shared);
        let opts = self.opts.clone();
        WatchHandle::new(Some(tokio::spawn(watch(opts, shared))))
    }

    /// How the watch fares.
    pub fn status(&self) -> WatchStatus {
        self.shared.status()
    }

    /// The facts now (watching mode), without waiting or checking status.
    pub fn snapshot(&self) -> FactSet {
        self.shared.snapshot()
    }
}

#[async_trait::async_trait]
impl Collector for EtcdCollector {
    fn name(&self) -> String {
        "etcd".to_string()
    }

    async fn collect(&self) -> Result<Collection, netdoctor_engine::Error> {
        if self.opts.endpoints.is_empty() {
            return Ok(Collection::NoData(NO_ETCD.into()));
        }
        if self.shared.watching.load(std::sync::atomic::Ordering::SeqCst) {
            return self.shared.collect("etcd", FIRST_SYNC).await.map(|s| Collection::Facts(Box::new(s))).map_err(err);
        }
        let d = self.read_once().await?.expect("endpoints checked");
        Ok(Collection::Facts(Box::new(facts(&d, &Source::live("etcd", unix_now()), &prefix(&self.opts)).0)))
    }
}

/// Replaces the shared set's etcd facts with one full read.
fn swap_in(shared: &Shared, d: &Dump, prefix: &str) -> (Source, BTreeMap<String, String>) {
    let source = Source::live("etcd", unix_now());
    let (set, broken) = facts(d, &source, prefix);
    shared.update(&[FactKind::FlannelEtcd], |s| {
        // A watching set is rebuilt on each full read: nothing of the last one stays.
        *s = set;
    });
    (source, broken)
}

/// Applies one v3 watch event to the shared set.
fn apply_event(shared: &Shared, key: &str, value: Option<&str>, source: &Source, broken: &mut BTreeMap<String, String>) {
    shared.update(&[FactKind::FlannelEtcd], |set| {
        let had_broken = broken.remove(key).is_some();
        match value {
            Some(v) => {
                let f = flannel_from(("v3", vec![(key.to_string(), v.to_string())]), |_| source.clone());
                if f.config.is_some() {
                    set.set_flannel_etcd_config(f.config);
                }
                for l in f.leases {
                    set.apply(Object::Lease(l));
                }
                for (k, e) in f.bad_keys {
                    // A key that no longer parses is no longer a lease, or the config.
                    if k.ends_with("/config") {
                        set.set_flannel_etcd_config(None);
                    }
                    if let Some((_, sub)) = k.rsplit_once("/subnets/") {
                        if let Some(net) = netdoctor_engine::net::parse_net(&sub.replacen('-', "/", 1)) {
                            set.remove(FactKind::FlannelEtcd, &FactSet::lease_key(&net));
                        }
                    }
                    broken.insert(k, e);
                }
                set.collected(FactKind::FlannelEtcd, source.clone());
            }
            None => {
                if key.ends_with("/config") {
                    set.set_flannel_etcd_config(None);
                } else if let Some((_, sub)) = key.rsplit_once("/subnets/") {
                    if let Some(net) = netdoctor_engine::net::parse_net(&sub.replacen('-', "/", 1)) {
                        set.remove(FactKind::FlannelEtcd, &FactSet::lease_key(&net));
                    }
                }
            }
        }
        if had_broken || broken.contains_key(key) {
            publish(set, broken, source);
        }
    });
}

/// The watching loop: read everything, then follow changes; on any failure, mark down, back
/// off and start again.
async fn watch(opts: EtcdOptions, shared: Arc<Shared>) {
    let mut backoff = Backoff::new();
    let p = prefix(&opts);
    loop {
        let failure = match read(&opts).await {
            Err(e) => e,
            Ok((d, client)) => {
                let (source, mut broken) = swap_in(&shared, &d, &p);
                shared.part_ok("etcd", true);
                shared.changed(&[]);
                backoff.reset();
                match client {
                    Some(mut c) if d.api == "v3" => {
                        let wo = etcd_client::WatchOptions::new().with_prefix().with_start_revision(d.index + 1);
                        match c.watch(p.as_str(), Some(wo)).await {
                            Err(e) => format!("etcd {}: v3 watch {p}: {e}", endpoints(&opts)),
                            Ok(mut stream) => loop {
                                match stream.message().await {
                                    Ok(Some(resp)) => {
                                        if resp.canceled() {
                                            break format!("etcd {}: v3 watch {p} cancelled: {}", endpoints(&opts), resp.cancel_reason());
                                        }
                                        for ev in resp.events() {
                                            let Some(kv) = ev.kv() else { continue };
                                            let key = String::from_utf8_lossy(kv.key()).into_owned();
                                            let value = match ev.event_type() {
                                                etcd_client::EventType::Put => Some(String::from_utf8_lossy(kv.value()).into_owned()),
                                                etcd_client::EventType::Delete => None,
                                            };
                                            apply_event(&shared, &key, value.as_deref(), &source, &mut broken);
                                        }
                                    }
                                    Ok(None) => break format!("etcd {}: v3 watch {p} ended", endpoints(&opts)),
                                    Err(e) => break format!("etcd {}: v3 watch {p}: {e}", endpoints(&opts)),
                                }
                            },
                        }
                    }
                    _ => {
                        // v2: a long poll for the next change after what was read, then read again.
                        let path = format!("/v2/keys{p}?wait=true&recursive=true&waitIndex={}", d.index + 1);
                        match v2_get(&opts, &path, V2_WAIT).await {
                            Ok(_) => continue,
                            Err(e) if e.contains("no answer in") => continue,
                            Err(e) => e,
                        }
                    }
                }
            }
        };
        shared.part_err("etcd", failure);
        shared.changed(&[]);
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
