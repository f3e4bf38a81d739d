//! [`TestApiServer`]: a test server that speaks the Kubernetes API's HTTP
//! wire protocol for the resources netdoctor reads; it is **not** a
//! kube-apiserver (no admission, no writes over HTTP, no protobuf, no
//! aggregated discovery). It exists so the Kubernetes collector's tests can
//! run a real `kube::Client` and `kube::runtime::watcher` against a server
//! whose state and failures the test controls.
//!
//! What it serves, on `http://127.0.0.1:PORT` (optionally requiring a bearer
//! token): `GET` of core/v1 nodes, pods, services, endpoints, configmaps,
//! componentstatuses, discovery.k8s.io/v1 endpointslices, apps/v1 deployments and, when
//! [`ApiServerOptions::calico_crds`] is set, the cluster-scoped
//! crd.projectcalico.org/v1 ippools and blockaffinities; discovery at `/api`,
//! `/api/v1`, `/apis`, `/apis/{group}[/{version}]` and `/version`. Secrets
//! are not served, and every request is recorded ([`TestApiServer::requests`])
//! so a test can assert nobody asked for them.
//!
//! Wire behaviour follows kube-apiserver: lists page with `limit`/`continue`
//! (`metadata.continue`, `metadata.remainingItemCount`, a list
//! `metadata.resourceVersion`, items without `kind`/`apiVersion` except for
//! custom resources), filter by `labelSelector` and `fieldSelector`; watches
//! (`watch=true|1`) stream newline-separated `{"type","object"}` events,
//! replay changes after `resourceVersion` from a bounded history, send
//! `BOOKMARK`s when allowed, end after `timeoutSeconds`, support streaming
//! lists (`sendInitialEvents=true`: ADDED for every object, then a bookmark
//! annotated `k8s.io/initial-events-end`), and answer a
//! resourceVersion older than the history with `410 Expired` — as an `ERROR`
//! event (what kube-apiserver does) or as an HTTP 410 response
//! ([`ExpiredWatch`]). Objects are kept as `kubectl get -o json` prints them
//! and every change bumps one global resourceVersion, like etcd's revision.
//!
//! Where it is simpler than kube-apiserver, knowingly: pages after the
//! first read the objects as they are now (kube-apiserver serves a snapshot
//! at the first page's resourceVersion), and a list at an older
//! `resourceVersion` (any `resourceVersionMatch`) answers with the current
//! state; only `GET` is served, as JSON, with legacy (not aggregated)
//! discovery.
//!
//! Tests drive it with [`apply`](TestApiServer::apply) /
//! [`delete`](TestApiServer::delete) (ADDED / MODIFIED / DELETED),
//! [`send_bookmark`](TestApiServer::send_bookmark),
//! [`compact`](TestApiServer::compact),
//! [`expire_watches`](TestApiServer::expire_watches),
//! [`drop_connections`](TestApiServer::drop_connections) and
//! [`set_down`](TestApiServer::set_down). The server runs on its own thread
//! and Tokio runtime, so every method is synchronous and works from any test.
//!
//! ```no_run
//! use netdoctor_testkit::apiserver::{ApiServerOptions, TestApiServer};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = TestApiServer::start(ApiServerOptions::default())?;
//! server.load_dir("examples/captures/healthy-flannel/cluster")?;
//! let kubeconfig = kube::config::Kubeconfig::from_yaml(&server.kubeconfig())?;
//! let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
//! let client = kube::Client::try_from(config)?;
//! // run the collector with `client`, then change the cluster under it:
//! server.delete("Pod", Some("kube-flannel"), "kube-flannel-ds-k9dgf")?;
//! server.expire_watches();
//! assert!(!server.requests().iter().any(|r| r.path.contains("/secrets")));
//! # Ok(()) }
//! ```

mod resources;
mod selector;
mod serve;
mod store;

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, watch};

use crate::{Error, Result};
use store::{Change, Store};

/// How a watch from a resourceVersion older than the history is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExpiredWatch {
    /// HTTP 200, then one `ERROR` event whose object is a `Status` with
    /// `code: 410, reason: "Expired"`, then the end of the stream. This is
    /// what kube-apiserver does, and what kube-rs' watcher relists on.
    #[default]
    ErrorEvent,
    /// An HTTP 410 response with that `Status` as its body. Note that
    /// kube-rs 5.0's watcher does not relist on this: it retries the watch
    /// from the same resourceVersion with backoff, for ever (pinned by the
    /// test `kube_watcher_retries_instead_of_relisting_on_http_410`).
    HttpGone,
}

/// How to run a [`TestApiServer`].
#[derive(Debug, Clone)]
pub struct ApiServerOptions {
    /// Require `Authorization: Bearer <token>` (401 otherwise); the
    /// kubeconfig carries it.
    pub token: Option<String>,
    /// Serve crd.projectcalico.org/v1 ippools and blockaffinities (and list
    /// the group in discovery); absent otherwise, as on a flannel cluster.
    pub calico_crds: bool,
    /// How an expired watch is refused.
    pub expired_watch: ExpiredWatch,
    /// Changes kept for watches to replay; a watch from before the oldest
    /// one gets `410 Expired`.
    pub history_limit: usize,
    /// Start with the port chosen but nothing listening (connections
    /// refused) until [`TestApiServer::set_down`]`(false)`.
    pub start_down: bool,
}

impl Default for ApiServerOptions {
    fn default() -> Self {
        ApiServerOptions { token: None, calico_crds: false, expired_watch: ExpiredWatch::default(), history_limit: 1000, start_down: false }
    }
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, ...
    pub method: String,
    /// The URL path, e.g. `/api/v1/pods`.
    pub path: String,
    /// The raw query string, e.g. `limit=2&continue=...` (empty if none).
    pub query: String,
}

impl RecordedRequest {
    /// A query parameter's decoded value (`None` when absent).
    pub fn param(&self, name: &str) -> Option<String> {
        serve::query_pairs(&self.query).into_iter().find_map(|(k, v)| (k == name).then_some(v))
    }

    /// Whether this was a watch (`watch=true` or `watch=1`).
    pub fn is_watch(&self) -> bool {
        matches!(self.param("watch").as_deref(), Some("true" | "1"))
    }
}

/// What open watch streams are told.
#[derive(Debug, Clone)]
enum Signal {
    Change(Arc<Change>),
    Bookmark(u64),
    Expire,
}

/// State shared by the control methods and the server thread.
struct Shared {
    store: Mutex<Store>,
    signals: broadcast::Sender<Signal>,
    /// Bumped to make every open connection drop at once.
    kill: watch::Sender<u64>,
    requests: Mutex<Vec<RecordedRequest>>,
    token: Option<String>,
    expired_watch: ExpiredWatch,
    address: String,
    open_watches: AtomicUsize,
    /// Resources (plurals) answered with 403 Forbidden, as RBAC would.
    forbidden: Mutex<std::collections::BTreeSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    fn kill_connections(&self) {
        self.kill.send_modify(|generation| *generation += 1);
    }
}

/// Commands for the server thread's accept loop.
enum Control {
    /// Listen on this socket; acknowledge when accepting.
    Up(TcpListener, std::sync::mpsc::Sender<std::io::Result<()>>),
    /// Close the listener and every connection; acknowledge when done.
    Down(std::sync::mpsc::Sender<()>),
}

/// The test server; see the [module docs](self). Dropping it stops the
/// server thread and closes every connection.
pub struct TestApiServer {
    shared: Arc<Shared>,
    port: u16,
    control: Option<mpsc::UnboundedSender<Control>>,
    thread: Option<JoinHandle<()>>,
    down: Mutex<bool>,
}

impl std::fmt::Debug for TestApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApiServer").field("url", &self.url()).field("down", &self.is_down()).finish()
    }
}

impl TestApiServer {
    /// Starts the server on a free `127.0.0.1` port (listening unless
    /// [`ApiServerOptions::start_down`]).
    pub fn start(options: ApiServerOptions) -> Result<TestApiServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::io("binding the test API server to 127.0.0.1"))?;
        let port = listener.local_addr().map_err(Error::io("reading the test API server's address"))?.port();
        let initial = match options.start_down {
            true => None,
            false => {
                listener.set_nonblocking(true).map_err(Error::io("setting the listener non-blocking"))?;
                Some(listener)
            }
        };
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::new(resources::served(options.calico_crds), options.history_limit)),
            signals: broadcast::channel(4096).0,
            kill: watch::channel(0).0,
            requests: Mutex::new(Vec::new()),
            token: options.token,
            expired_watch: options.expired_watch,
            address: format!("127.0.0.1:{port}"),
            open_watches: AtomicUsize::new(0),
            forbidden: Mutex::new(Default::default()),
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::io("building the test API server's runtime"))?;
        let (control, control_rx) = mpsc::unbounded_channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("ndt-apiserver-{port}"))
            .spawn(move || {
                runtime.block_on(serve::accept_loop(thread_shared, initial, control_rx));
                runtime.shutdown_timeout(Duration::from_secs(1));
            })
            .map_err(Error::io("spawning the test API server thread"))?;
        Ok(TestApiServer { shared, port, control: Some(control), thread: Some(thread), down: Mutex::new(options.start_down) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.address)
    }

    /// The port, the same while down and after coming back up.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A kubeconfig (YAML) with one cluster at [`url`](Self::url), one user
    /// (with the bearer token, if any) and a current context using both.
    pub fn kubeconfig(&self) -> String {
        let user = match &self.shared.token {
            // A JSON string is a valid YAML double-quoted scalar.
            Some(token) => format!("    token: {}\n", Value::from(token.as_str())),
            None => "    {}\n".to_string(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: netdoctor-test\n  cluster:\n    server: {url}\n\
             users:\n- name: netdoctor-test\n  user:\n{user}\
             contexts:\n- name: netdoctor-test\n  context:\n    cluster: netdoctor-test\n    user: netdoctor-test\n\
             current-context: netdoctor-test\n",
            url = self.url()
        )
    }

    /// Writes [`kubeconfig`](Self::kubeconfig) to a temp file, removed when
    /// the returned handle drops; pass `.path()` to `--kubeconfig`.
    pub fn write_kubeconfig(&self) -> Result<tempfile::NamedTempFile> {
        let mut file = tempfile::Builder::new().prefix("ndt-kubeconfig-").suffix(".yaml").tempfile().map_err(Error::io("creating a kubeconfig temp file"))?;
        std::io::Write::write_all(&mut file, self.kubeconfig().as_bytes()).map_err(Error::io("writing the kubeconfig"))?;
        Ok(file)
    }

    /// Creates or replaces an object given as the API prints it (`kind`,
    /// `apiVersion`, `metadata.name`, `metadata.namespace` for namespaced
    /// kinds, defaulting to `default`): open watches get ADDED or MODIFIED.
    /// Sets `metadata.resourceVersion` (and `metadata.uid` if missing) and
    /// returns the new resourceVersion. Kinds the server does not serve are
    /// an error.
    pub fn apply(&self, object: Value) -> Result<u64> {
        let mut store = self.shared.store();
        let change = store.apply(object)?;
        Ok(self.publish(change))
    }

    /// Deletes an object (`namespace` `None` for cluster-scoped kinds): open
    /// watches get DELETED. Returns the new resourceVersion; a missing object
    /// is an error.
    pub fn delete(&self, kind: &str, namespace: Option<&str>, name: &str) -> Result<u64> {
        let mut store = self.shared.store();
        let change = store.delete(kind, namespace, name)?;
        Ok(self.publish(change))
    }

    /// Broadcasts a change; the caller holds the store lock so watches see
    /// changes in resourceVersion order.
    fn publish(&self, change: Arc<Change>) -> u64 {
        let rv = change.resource_version;
        let _ = self.shared.signals.send(Signal::Change(change));
        rv
    }

    /// Applies every object of a JSON file: a `kubectl get -o json` List or
    /// a single object. Returns how many.
    pub fn load_file(&self, path: impl AsRef<Path>) -> Result<usize> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(Error::io(format!("reading {}", path.display())))?;
        let doc: Value = serde_json::from_str(&text).map_err(|source| Error::Json { context: format!("reading {}", path.display()), source })?;
        let items = store::items_of(doc);
        let count = items.len();
        for item in items {
            self.apply(item).map_err(|e| Error::Invalid(format!("loading {}: {e}", path.display())))?;
        }
        Ok(count)
    }

    /// [`load_file`](Self::load_file) for every `*.json` in a directory, in
    /// name order (e.g. a capture's `cluster/`). Returns how many objects.
    pub fn load_dir(&self, dir: impl AsRef<Path>) -> Result<usize> {
        let dir = dir.as_ref();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(Error::io(format!("reading {}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files.iter().map(|f| self.load_file(f)).sum()
    }

    /// One object as stored (with `kind`, `apiVersion` and its current
    /// `metadata.resourceVersion`).
    pub fn get(&self, kind: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let store = self.shared.store();
        let index = store.index_of_kind(kind).ok()?;
        store.get(index, namespace, name).map(|o| (*o).clone())
    }

    /// Every stored object of a kind, in namespace/name order.
    pub fn objects(&self, kind: &str) -> Vec<Value> {
        let store = self.shared.store();
        match store.index_of_kind(kind) {
            Ok(index) => store.all(index).map(|o| (**o).clone()).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store().resource_version()
    }

    /// Sends a BOOKMARK at the current resourceVersion on every open watch
    /// that allowed bookmarks.
    pub fn send_bookmark(&self) {
        let store = self.shared.store();
        let _ = self.shared.signals.send(Signal::Bookmark(store.resource_version()));
    }

    /// Drops the watch history: the next watch (or `continue`) from an
    /// earlier resourceVersion gets `410 Expired`. Open watches carry on.
    pub fn compact(&self) {
        self.shared.store().compact();
    }

    /// Ends every open watch the way kube-apiserver does when a watcher falls
    /// out of its window: with [`ExpiredWatch::ErrorEvent`] an `ERROR` event
    /// with a `410 Expired` Status; with [`ExpiredWatch::HttpGone`] the
    /// streams end and the history is compacted past every resourceVersion
    /// handed out, so re-watching from where a client was gets an HTTP 410.
    pub fn expire_watches(&self) {
        let mut store = self.shared.store();
        if self.shared.expired_watch == ExpiredWatch::HttpGone {
            store.expire_all();
        }
        let _ = self.shared.signals.send(Signal::Expire);
    }

    /// Abruptly closes every open connection (watch streams mid-body,
    /// idle keep-alive connections, requests in flight) without a final
    /// chunk, as a crashed apiserver or a dropped network path would.
    pub fn drop_connections(&self) {
        self.shared.kill_connections();
    }

    /// `true`: stop listening and close every connection, so clients get
    /// "connection refused". `false`: listen again on the same port. Returns
    /// once the change is in effect.
    pub fn set_down(&self, down: bool) -> Result<()> {
        let mut is_down = lock(&self.down);
        if *is_down == down {
            return Ok(());
        }
        let Some(control) = &self.control else {
            return Ok(());
        };
        let gone = || Error::Invalid("the test API server thread has stopped".into());
        if down {
            let (ack, done) = std::sync::mpsc::channel();
            control.send(Control::Down(ack)).map_err(|_| gone())?;
            done.recv().map_err(|_| gone())?;
        } else {
            let listener = bind_again(self.port)?;
            let (ack, done) = std::sync::mpsc::channel();
            control.send(Control::Up(listener, ack)).map_err(|_| gone())?;
            done.recv().map_err(|_| gone())?.map_err(Error::io(format!("listening on 127.0.0.1:{}", self.port)))?;
        }
        *is_down = down;
        Ok(())
    }

    /// `true`: answer every request for resource `plural` (`pods`,
    /// `componentstatuses`, ...) with 403 Forbidden, as kube-apiserver does
    /// when RBAC does not allow it; `false`: serve it again. Open watches
    /// carry on.
    pub fn forbid(&self, plural: &str, forbidden: bool) {
        let mut set = lock(&self.shared.forbidden);
        if forbidden {
            set.insert(plural.to_string());
        } else {
            set.remove(plural);
        }
    }

    /// Whether the server is down (see [`set_down`](Self::set_down)).
    pub fn is_down(&self) -> bool {
        *lock(&self.down)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// How many watch streams are open now; a test waits for this before
    /// changing state it expects a watcher to see live.
    pub fn open_watches(&self) -> usize {
        self.shared.open_watches.load(Ordering::SeqCst)
    }

    /// Polls `condition` every 10 ms (with Tokio's timer, so a watcher on
    /// the same runtime keeps running) until it holds or `timeout` passes;
    /// whether it held. For waiting on [`open_watches`](Self::open_watches)
    /// or [`requests`](Self::requests).
    pub async fn wait_until(&self, timeout: Duration, mut condition: impl FnMut(&TestApiServer) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if condition(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for TestApiServer {
    fn drop(&mut self) {
        // Closing the control channel ends the accept loop; the thread then
        // shuts its runtime down, dropping every connection and watch.
        self.control.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds the server's port again, retrying briefly: the port was ours, but a
/// connection closing a moment ago may still hold it.
fn bind_again(port: u16) -> Result<TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(listener) => {
                listener.set_nonblocking(true).map_err(Error::io("setting the listener non-blocking"))?;
                return Ok(listener);
            }
            Err(e) if Instant::now() < deadline && e.kind() == std::io::ErrorKind::AddrInUse => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(Error::io(format!("listening again on 127.0.0.1:{port}"))(e)),
        }
    }
}
