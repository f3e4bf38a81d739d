//! The HTTP side of the test API server: the accept loop (which can stop
//! listening, listen again and drop every connection at once), routing of
//! API paths, and list, get and watch responses built from the [`Store`].
//!
//! It uses hyper's connection API directly rather than `axum::serve`: each
//! connection is a task the server can abort, which is what
//! [`drop_connections`](super::TestApiServer::drop_connections) and
//! [`set_down`](super::TestApiServer::set_down) need.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};

use super::resources::{self, Resource};
use super::selector::{FieldSelector, LabelSelector};
use super::store::{self, Refusal, Scope, Store, WatchStart};
use super::{lock, Control, ExpiredWatch, RecordedRequest, Shared, Signal};

type Body = BoxBody<Bytes, Infallible>;

/// Accepts connections while listening, and obeys [`Control`] commands,
/// until the control channel closes.
pub(super) async fn accept_loop(shared: Arc<Shared>, initial: Option<std::net::TcpListener>, mut control: mpsc::UnboundedReceiver<Control>) {
    let mut listener = initial.and_then(|l| TcpListener::from_std(l).ok());
    loop {
        enum Next {
            Control(Option<Control>),
            Accepted(std::io::Result<TcpStream>),
        }
        let next = tokio::select! {
            command = control.recv() => Next::Control(command),
            accepted = accept(listener.as_ref()) => Next::Accepted(accepted),
        };
        match next {
            Next::Control(None) => return,
            Next::Control(Some(Control::Up(std_listener, ack))) => {
                let result = TcpListener::from_std(std_listener).map(|l| listener = Some(l));
                let _ = ack.send(result);
            }
            Next::Control(Some(Control::Down(ack))) => {
                listener = None;
                shared.kill_connections();
                let _ = ack.send(());
            }
            Next::Accepted(Ok(stream)) => serve_connection(&shared, stream),
            // Out of file descriptors and the like: give the system a moment.
            Next::Accepted(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

async fn accept(listener: Option<&TcpListener>) -> std::io::Result<TcpStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

/// Serves one connection until it closes or the server drops every
/// connection (dropping the task closes the socket mid-response).
fn serve_connection(shared: &Arc<Shared>, stream: TcpStream) {
    let mut kill = shared.kill.subscribe();
    let service_shared = Arc::clone(shared);
    tokio::spawn(async move {
        let service = hyper::service::service_fn(move |req| {
            let shared = Arc::clone(&service_shared);
            async move { Ok::<_, Infallible>(handle(&shared, req)) }
        });
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        // Biased towards the kill: once the generation is bumped, no more
        // bytes go out, even for changes published after it.
        tokio::select! {
            biased;
            _ = kill.changed() => {}
            _ = connection => {}
        }
    });
}

/// Decoded `name=value` pairs of a query string (`+` is a space).
pub(super) fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The query parameters of one request.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true" | "1"))
    }

    /// A numeric parameter; the error is the message for a 400.
    fn number(&self, name: &str) -> Result<Option<u64>, String> {
        self.get(name).filter(|v| !v.is_empty()).map(|v| v.parse().map_err(|_| format!("invalid {name} parameter {v:?}"))).transpose()
    }
}

fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    lock(&shared.requests).push(RecordedRequest { method: req.method().to_string(), path: path.clone(), query: query.clone() });
    if let Some(token) = &shared.token {
        let presented = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        if presented != Some(format!("Bearer {token}").as_str()) {
            return status_response(401, "Unauthorized", "Unauthorized");
        }
    }
    if req.method() != Method::GET {
        return status_response(405, "MethodNotAllowed", &format!("{} is not supported by the netdoctor test API server", req.method()));
    }
    route(shared, &path, &Params(query_pairs(&query)))
}

fn route(shared: &Arc<Shared>, path: &str, params: &Params) -> Response<Body> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let store = shared.store();
    let resources = store.resources();
    let doc = match segments.as_slice() {
        ["version"] => Some(resources::version_info()),
        ["api"] => Some(resources::api_versions(&shared.address)),
        ["apis"] => Some(resources::api_group_list(resources)),
        ["api", "v1"] => resources::api_resource_list(resources, "", "v1"),
        ["apis", group] => resources::api_group_doc(resources, group),
        ["apis", group, version] => resources::api_resource_list(resources, group, version),
        ["api", "v1", rest @ ..] => return resource_request(shared, store, "", "v1", rest, params),
        ["apis", group, version, rest @ ..] => return resource_request(shared, store, group, version, rest, params),
        _ => None,
    };
    match doc {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => not_found(),
    }
}

fn resource_request(
    shared: &Arc<Shared>,
    store: std::sync::MutexGuard<'_, Store>,
    group: &str,
    version: &str,
    rest: &[&str],
    params: &Params,
) -> Response<Body> {
    let find = |plural: &str, namespaced: bool| store.index_of_path(group, version, plural).filter(|i| store.resource(*i).namespaced == namespaced);
    let (index, namespace, name) = match *rest {
        [plural] => match store.index_of_path(group, version, plural) {
            Some(i) => (i, None, None),
            None => return not_found(),
        },
        [plural, name] => match find(plural, false) {
            Some(i) => (i, None, Some(name)),
            None => return not_found(),
        },
        ["namespaces", ns, plural] => match find(plural, true) {
            Some(i) => (i, Some(ns), None),
            None => return not_found(),
        },
        ["namespaces", ns, plural, name] => match find(plural, true) {
            Some(i) => (i, Some(ns), Some(name)),
            None => return not_found(),
        },
        _ => return not_found(),
    };
    let resource = store.resource(index);
    if lock(&shared.forbidden).contains(resource.plural) {
        let scope = match namespace {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let message = format!(
            "{plural} is forbidden: User \"system:serviceaccount:netdoctor:netdoctor\" cannot list resource \"{plural}\" in API group \"{group}\" {scope}",
            plural = resource.plural
        );
        return status_response(403, "Forbidden", &message);
    }
    if let Some(name) = name {
        return match store.get(index, namespace, name) {
            Some(object) => json_response(StatusCode::OK, &object),
            None => status_response(404, "NotFound", &format!("{} \"{name}\" not found", resource.plural)),
        };
    }
    let labels = match LabelSelector::parse(params.get("labelSelector").unwrap_or_default()) {
        Ok(s) => s,
        Err(message) => return bad_request(&message),
    };
    let fields = match FieldSelector::parse(params.get("fieldSelector").unwrap_or_default(), resource) {
        Ok(s) => s,
        Err(message) => return bad_request(&message),
    };
    if let Some(m) = params.get("resourceVersionMatch") {
        if !matches!(m, "" | "NotOlderThan" | "Exact") {
            return bad_request(&format!("resourceVersionMatch: unsupported value {m:?}"));
        }
    }
    let scope = Scope { resource: index, namespace: namespace.map(str::to_string), labels, fields };
    if params.flag("watch") {
        return watch(shared, store, scope, params);
    }
    let limit = match params.number("limit") {
        Ok(limit) => limit.map(|l| l as usize),
        Err(message) => return bad_request(&message),
    };
    match store.list(&scope, limit, params.get("continue").filter(|c| !c.is_empty())) {
        Ok(page) => {
            let mut metadata = json!({"resourceVersion": page.resource_version.to_string()});
            if let Some(token) = page.continue_token {
                metadata["continue"] = json!(token);
            }
            if let Some(remaining) = page.remaining {
                metadata["remainingItemCount"] = json!(remaining);
            }
            let items: Vec<Value> = page.items.into_iter().map(|o| store::list_item(resource, o)).collect();
            json_response(
                StatusCode::OK,
                &json!({
                    "kind": format!("{}List", resource.kind),
                    "apiVersion": resource.api_version(),
                    "metadata": metadata,
                    "items": items,
                }),
            )
        }
        Err(refusal) => refusal_response(&refusal),
    }
}

/// Starts a watch: decides the replay under the store lock and subscribes
/// to live changes before releasing it, so no change is missed or repeated.
fn watch(shared: &Arc<Shared>, store: std::sync::MutexGuard<'_, Store>, scope: Scope, params: &Params) -> Response<Body> {
    let resource = store.resource(scope.resource);
    let bookmarks = params.flag("allowWatchBookmarks");
    let timeout = match params.number("timeoutSeconds") {
        Ok(t) => t.map(Duration::from_secs),
        Err(message) => return bad_request(&message),
    };
    let requested = params.get("resourceVersion");
    let start = match store.watch_start(&scope, requested) {
        Ok(start) => start,
        Err(Refusal::Expired(message)) if shared.expired_watch == ExpiredWatch::ErrorEvent => {
            let line = event_line("ERROR", &store::status(410, "Expired", &message));
            return response(StatusCode::OK, Full::new(line).boxed());
        }
        Err(refusal) => return refusal_response(&refusal),
    };
    let current = store.resource_version();
    let mut last_rv = requested.and_then(|rv| rv.parse().ok()).unwrap_or(current);
    let mut lines = Vec::new();
    match start {
        WatchStart::Snapshot(objects) => {
            last_rv = current;
            lines.extend(objects.iter().map(|o| event_line("ADDED", o)));
            if bookmarks && params.flag("sendInitialEvents") {
                lines.push(bookmark_line(resource, current, true));
            }
        }
        WatchStart::Replay(changes) => {
            for change in changes {
                last_rv = change.resource_version;
                if let Some((kind, object)) = scope.view(&change) {
                    lines.push(event_line(kind, &object));
                }
            }
        }
    }
    let signals = shared.signals.subscribe();
    drop(store);

    let (tx, mut rx) = mpsc::channel::<Bytes>(64);
    let feed = Feed { shared: Arc::clone(shared), scope, resource, bookmarks, last_rv };
    shared.open_watches.fetch_add(1, Ordering::SeqCst);
    tokio::spawn(feed.run(lines, signals, tx, timeout));
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))));
    response(StatusCode::OK, StreamBody::new(stream).boxed())
}

/// One open watch stream's producer.
struct Feed {
    shared: Arc<Shared>,
    scope: Scope,
    resource: &'static Resource,
    bookmarks: bool,
    last_rv: u64,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.shared.open_watches.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Feed {
    async fn run(mut self, replay: Vec<Bytes>, mut signals: broadcast::Receiver<Signal>, tx: mpsc::Sender<Bytes>, timeout: Option<Duration>) {
        for line in replay {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(deadline);
        loop {
            let signal = tokio::select! {
                signal = signals.recv() => signal,
                _ = tx.closed() => return,
                _ = &mut deadline => return,
            };
            let line = match signal {
                Ok(Signal::Change(change)) => match self.scope.view(&change) {
                    Some((kind, object)) => {
                        self.last_rv = change.resource_version;
                        event_line(kind, &object)
                    }
                    None => continue,
                },
                Ok(Signal::Bookmark(rv)) if self.bookmarks => bookmark_line(self.resource, rv, false),
                Ok(Signal::Bookmark(_)) => continue,
                Ok(Signal::Expire) => {
                    if self.shared.expired_watch == ExpiredWatch::ErrorEvent {
                        let current = self.shared.store().resource_version();
                        let message = format!("too old resource version: {} ({current})", self.last_rv);
                        let _ = tx.send(event_line("ERROR", &store::status(410, "Expired", &message))).await;
                    }
                    return;
                }
                // A watcher too slow to keep up is closed, as kube-apiserver
                // does; it re-watches from its last resourceVersion.
                Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return,
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// A BOOKMARK carries only kind, apiVersion and metadata.resourceVersion
/// (plus the end-of-initial-events annotation for `sendInitialEvents`).
fn bookmark_line(resource: &Resource, rv: u64, initial_events_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event_line("BOOKMARK", &json!({"kind": resource.kind, "apiVersion": resource.api_version(), "metadata": metadata}))
}

fn response(status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

fn json_response(status: StatusCode, doc: &Value) -> Response<Body> {
    let body = serde_json::to_vec(doc).unwrap_or_default();
    response(status, Full::new(Bytes::from(body)).boxed())
}

fn status_response(code: u16, reason: &str, message: &str) -> Response<Body> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &store::status(code, reason, message))
}

fn not_found() -> Response<Body> {
    status_response(404, "NotFound", "the server could not find the requested resource")
}

fn bad_request(message: &str) -> Response<Body> {
    status_response(400, "BadRequest", message)
}

fn refusal_response(refusal: &Refusal) -> Response<Body> {
    match refusal {
        Refusal::BadRequest(message) => bad_request(message),
        Refusal::Expired(message) => status_response(410, "Expired", message),
    }
}

#[cfg(test)]
mod tests {
    use super::query_pairs;

    #[test]
    fn query_values_are_percent_decoded() {
        let pairs = query_pairs("labelSelector=app%3Dflannel%2Ctier%21%3Dx&limit=2&fieldSelector=a+b&bad=%zz&end=%4");
        assert_eq!(
            pairs,
            [
                ("labelSelector".to_string(), "app=flannel,tier!=x".to_string()),
                ("limit".into(), "2".into()),
                ("fieldSelector".into(), "a b".into()),
                ("bad".into(), "%zz".into()),
                ("end".into(), "%4".into()),
            ]
        );
    }
}
