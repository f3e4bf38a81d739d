//! The HTTP side of `serve`: every handler answers from what the evaluation
//! thread last published ([`Shared`]), so none waits for an evaluation. Start
//! at [`router`].
//!
//! | path | answers |
//! |---|---|
//! | `GET /` | the findings page ([`crate::page::render`]) |
//! | `GET /metrics` | the exposition rendered after the last evaluation or reload |
//! | `GET /api/v1/findings` | the last evaluation as `eval --format json` prints it (`?min_severity=warning` filters like `--min-severity`) |
//! | `GET /-/healthy` | 200 while the process runs |
//! | `GET /-/ready` | 200 after the first full evaluation, 503 before |
//! | `POST /-/reload` (or `PUT`) | reloads the rules and config; 200, or 500 with the errors (the previous rules keep running) |

use crate::metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
use crate::serve::worker::{Job, Shared};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use netdoctor_engine::Severity;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

/// How long `/-/reload` waits for the evaluation thread (busy with a rule at its budget, say).
const RELOAD_WAIT: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    jobs: Sender<Job>,
}

/// The routes, over the published state; `jobs` reaches the evaluation thread (for `/-/reload`).
pub fn router(shared: Arc<Shared>, jobs: Sender<Job>) -> Router {
    let app = App { shared, jobs };
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route("/api/v1/findings", get(findings))
        .route("/-/healthy", get(|| async { "netdoctor is healthy.\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", axum::routing::post(reload).put(reload))
        .with_state(app)
}

/// Text over the `Arc<str>` the metrics keep, without copying it.
struct SharedText(Arc<str>);

impl AsRef<[u8]> for SharedText {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

async fn metrics(State(app): State<App>) -> Response {
    let text = app.shared.metrics.exposition();
    ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], Body::from(Bytes::from_owner(SharedText(text)))).into_response()
}

async fn page(State(app): State<App>) -> Response {
    let latest = app.shared.latest();
    let html = crate::page::render(latest.as_ref().map(|p| p.evaluation.as_ref()), &app.shared.reload_status(), SystemTime::now());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn findings(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(latest) = app.shared.latest() else {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/json")], "{\"error\": \"no evaluation yet\"}\n").into_response();
    };
    let body = match q.get("min_severity").or_else(|| q.get("min-severity")) {
        None => latest.json.clone(),
        Some(s) => match Severity::parse(s) {
            Some(min) => {
                let mut report = latest.evaluation.report.clone();
                report.filter_min_severity(min);
                crate::report::json(&report)
            }
            None => return (StatusCode::BAD_REQUEST, format!("min_severity: expected info, warning or critical, got {s:?}\n")).into_response(),
        },
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn ready(State(app): State<App>) -> Response {
    if app.shared.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "netdoctor is ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "netdoctor is not ready: the first evaluation has not finished.\n").into_response()
    }
}

async fn reload(State(app): State<App>) -> Response {
    let (tx, rx) = oneshot::channel();
    let sent = app.jobs.send(Job::Reload { explicit: true, reply: Some(tx) });
    if sent.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "netdoctor is shutting down\n").into_response();
    }
    match tokio::time::timeout(RELOAD_WAIT, rx).await {
        Ok(Ok(o)) if o.successful => (StatusCode::OK, "reloaded\n").into_response(),
        Ok(Ok(o)) => {
            let mut body = String::from("reload failed; the previous version of each failing file keeps running:\n");
            for p in &o.errors {
                body.push_str(&format!("{}: {}\n", p.location, p.message));
            }
            (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
        }
        Ok(Err(_)) => (StatusCode::SERVICE_UNAVAILABLE, "netdoctor is shutting down\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, format!("the evaluation thread did not take the reload within {RELOAD_WAIT:?}\n")).into_response(),
    }
}
