//! Pushes firing findings to Alertmanager's v2 API (`POST /api/v2/alerts`)
//! and resolves them when they clear. Start at [`Pusher::start`], then call
//! [`Pusher::push`] after every evaluation: it only swaps the latest
//! [`Evaluation`] into a `watch` channel, so the evaluation loop never waits
//! and memory stays bounded however slow an Alertmanager is.
//!
//! Each `--alertmanager` URL has its own task and queue. Per evaluation it
//! posts every firing finding, as Prometheus re-sends firing alerts, with
//! `endsAt` [`Config::expire_after`] past the evaluation so alerts expire on
//! their own if netdoctor dies. A finding that was firing and is absent from
//! the next evaluation becomes a resolution (`endsAt` = that evaluation's
//! time), kept until one post carrying it succeeds: an outage delays
//! resolutions, it does not lose them (up to [`Config::max_pending_resolutions`]
//! per Alertmanager, oldest dropped first and counted). Failed posts are
//! retried with exponential backoff, each retry sending the latest state.
//!
//! Alertmanager keys alerts on their labels: `alertname` ([`alert_name`]) and
//! the [`FINDING_LABELS`](crate::labels::FINDING_LABELS) of the finding, empty
//! ones left out (Alertmanager drops empty labels itself); annotations
//! `summary` and `remediation` carry the finding's own text. Alertmanager
//! keeps alerts in memory only: after it restarts it learns the firing ones
//! from the next post, and a pending resolution is still delivered so its
//! receivers get their "resolved" notification.

use crate::alerts::alert_name;
use crate::error::Error;
use crate::evaluation::Evaluation;
use crate::labels::{anchor, finding_labels, FINDING_LABELS};
use crate::time::rfc3339;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use netdoctor_engine::finding::Finding;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the pusher talks to Alertmanager.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Alertmanager base URLs (`http://alertmanager:9093`, with any path
    /// prefix it is served under); `/api/v2/alerts` is appended.
    pub urls: Vec<String>,
    /// How long a posted firing alert lasts without being posted again.
    pub expire_after: Duration,
    /// netdoctor's own external URL; when set, each alert's `generatorURL`
    /// links to its finding on the page.
    pub external_url: Option<String>,
    /// First retry delay after a failed post; doubles per failure.
    pub backoff_initial: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
    /// Timeout of one post.
    pub timeout: Duration,
    /// Resolutions kept per Alertmanager while it cannot be reached.
    pub max_pending_resolutions: usize,
}

impl Config {
    /// Defaults for an evaluation every `interval`: alerts expire after four
    /// missed evaluations (as Prometheus does), retries back off from 1s up to
    /// one interval (at most a minute), posts time out after 10s.
    pub fn new(urls: Vec<String>, interval: Duration) -> Config {
        Config {
            urls,
            expire_after: (interval * 4).max(Duration::from_secs(60)),
            external_url: None,
            backoff_initial: Duration::from_secs(1),
            backoff_max: interval.clamp(Duration::from_secs(1), Duration::from_secs(60)),
            timeout: Duration::from_secs(10),
            max_pending_resolutions: 10_000,
        }
    }

    /// The delay before retry number `failures` (1 = after the first failure).
    pub fn backoff(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.backoff_initial.saturating_mul(factor).min(self.backoff_max)
    }
}

/// What one Alertmanager queue is doing, for the page and for logs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetStatus {
    /// The `/api/v2/alerts` endpoint.
    pub url: String,
    /// When a post last succeeded.
    pub last_success: Option<SystemTime>,
    /// The last post's error; cleared by a success.
    pub last_error: Option<String>,
    /// Failed posts since the last success.
    pub consecutive_failures: u32,
    /// Alerts firing in the last evaluation handed to this queue.
    pub firing: usize,
    /// Resolutions not delivered yet.
    pub pending_resolutions: usize,
    /// Resolutions dropped because more than `max_pending_resolutions` piled up.
    pub dropped_resolutions: u64,
}

/// The handle `serve` keeps: one task per Alertmanager, fed through a `watch`
/// channel. Dropping it stops the tasks.
pub struct Pusher {
    tx: watch::Sender<Option<Arc<Evaluation>>>,
    status: Vec<Arc<Mutex<TargetStatus>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Pusher {
    /// Checks every URL (plain `http://` only), then spawns one task per
    /// Alertmanager on the current tokio runtime (panics outside one, as
    /// `tokio::spawn` does).
    pub fn start(cfg: Config) -> Result<Pusher, Error> {
        let endpoints = cfg.urls.iter().map(|u| endpoint(u)).collect::<Result<Vec<_>, _>>()?;
        let client = Client::builder(TokioExecutor::new()).build_http();
        let (tx, rx) = watch::channel(None);
        let cfg = Arc::new(cfg);
        let mut status = Vec::new();
        let mut tasks = Vec::new();
        for endpoint in endpoints {
            let st = Arc::new(Mutex::new(TargetStatus { url: endpoint.to_string(), ..TargetStatus::default() }));
            let queue = Queue { endpoint, client: client.clone(), cfg: cfg.clone(), status: st.clone(), firing: BTreeMap::new(), resolved: BTreeMap::new() };
            tasks.push(tokio::spawn(queue.run(rx.clone())));
            status.push(st);
        }
        Ok(Pusher { tx, status, tasks })
    }

    /// Hands the latest evaluation to every queue; returns at once. An
    /// evaluation not yet picked up is replaced (queues diff against what
    /// they last sent, so no clearance is missed).
    pub fn push(&self, ev: Arc<Evaluation>) {
        self.tx.send_replace(Some(ev));
    }

    /// Each queue's state, in the order of `Config::urls`.
    pub fn status(&self) -> Vec<TargetStatus> {
        self.status.iter().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone()).collect()
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// `<base>/api/v2/alerts` of an `--alertmanager` URL.
fn endpoint(url: &str) -> Result<Uri, Error> {
    let refuse = |reason: &str| Error::AlertmanagerUrl { url: url.to_string(), reason: reason.to_string() };
    let uri: Uri = url.parse().map_err(|e: hyper::http::uri::InvalidUri| refuse(&e.to_string()))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(refuse("https is not supported yet: use the plain-HTTP address (the in-cluster Service)")),
        _ => return Err(refuse("expected http://HOST:PORT[/PREFIX]")),
    }
    let Some(authority) = uri.authority() else {
        return Err(refuse("no host"));
    };
    if uri.query().is_some() {
        return Err(refuse("a query string is not expected"));
    }
    format!("http://{authority}{}/api/v2/alerts", uri.path().trim_end_matches('/')).parse().map_err(|e: hyper::http::uri::InvalidUri| refuse(&e.to_string()))
}

/// One alert as netdoctor tracks it; [`Alert::to_json`] is the PostableAlert.
#[derive(Debug, Clone, PartialEq)]
struct Alert {
    labels: BTreeMap<&'static str, String>,
    annotations: BTreeMap<&'static str, String>,
    starts_at: SystemTime,
    ends_at: SystemTime,
    generator_url: Option<String>,
}

impl Alert {
    fn new(f: &Finding, since: SystemTime, ends_at: SystemTime, external_url: Option<&str>) -> Alert {
        let mut labels: BTreeMap<&'static str, String> = FINDING_LABELS.into_iter().zip(finding_labels(f)).filter(|(_, v)| !v.is_empty()).collect();
        // Any id the rule loader admits has a name, except one of dashes only: it keeps its id.
        labels.insert("alertname", alert_name(&f.rule).unwrap_or_else(|_| f.rule.clone()));
        Alert {
            labels,
            annotations: BTreeMap::from([("summary", f.summary.clone()), ("remediation", f.remediation.clone())]),
            starts_at: since,
            ends_at,
            generator_url: external_url.map(|u| format!("{}/#{}", u.trim_end_matches('/'), anchor(f))),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
        });
        if let Some(g) = &self.generator_url {
            v["generatorURL"] = g.clone().into();
        }
        v
    }
}

type Key = BTreeMap<&'static str, String>;

/// One Alertmanager's queue: what fires now and the resolutions not yet delivered.
struct Queue {
    endpoint: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    cfg: Arc<Config>,
    status: Arc<Mutex<TargetStatus>>,
    firing: BTreeMap<Key, Alert>,
    resolved: BTreeMap<Key, Alert>,
}

impl Queue {
    async fn run(mut self, mut rx: watch::Receiver<Option<Arc<Evaluation>>>) {
        let mut dirty = false;
        let mut failures = 0u32;
        let mut not_before = Instant::now();
        loop {
            if dirty && Instant::now() >= not_before {
                let result = self.post().await;
                match &result {
                    Ok(()) => {
                        self.resolved.clear();
                        dirty = false;
                        failures = 0;
                    }
                    Err(_) => {
                        failures = failures.saturating_add(1);
                        not_before = Instant::now() + self.cfg.backoff(failures);
                    }
                }
                self.report(Some(result), failures);
                continue;
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let ev = rx.borrow_and_update().clone();
                    if let Some(ev) = ev {
                        self.apply(&ev);
                        dirty = !self.firing.is_empty() || !self.resolved.is_empty();
                        self.report(None, failures);
                    }
                }
                () = tokio::time::sleep_until(not_before), if dirty => {}
            }
        }
    }

    /// Takes an evaluation: what fired before and is absent now becomes a
    /// resolution; what fires again is no longer one.
    fn apply(&mut self, ev: &Evaluation) {
        let ends_at = ev.at + self.cfg.expire_after;
        let external = self.cfg.external_url.as_deref();
        let firing: BTreeMap<Key, Alert> = ev
            .findings()
            .map(|(f, since)| {
                let a = Alert::new(f, since, ends_at, external);
                (a.labels.clone(), a)
            })
            .collect();
        for (key, mut alert) in std::mem::take(&mut self.firing) {
            if !firing.contains_key(&key) {
                alert.ends_at = ev.at;
                self.resolved.insert(key, alert);
            }
        }
        self.resolved.retain(|key, _| !firing.contains_key(key));
        self.firing = firing;
        let excess = self.resolved.len().saturating_sub(self.cfg.max_pending_resolutions);
        if excess > 0 {
            let mut by_age: Vec<(SystemTime, Key)> = self.resolved.iter().map(|(k, a)| (a.ends_at, k.clone())).collect();
            by_age.sort();
            for (_, key) in by_age.into_iter().take(excess) {
                self.resolved.remove(&key);
            }
            self.status.lock().unwrap_or_else(|p| p.into_inner()).dropped_resolutions += excess as u64;
        }
    }

    /// Posts every firing alert and every pending resolution in one request.
    async fn post(&self) -> Result<(), Error> {
        let batch: Vec<serde_json::Value> = self.firing.values().chain(self.resolved.values()).map(Alert::to_json).collect();
        let fail = |reason: String| Error::Push { url: self.endpoint.to_string(), reason };
        let body = serde_json::to_vec(&batch).map_err(|e| fail(e.to_string()))?;
        let req = Request::post(self.endpoint.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| fail(e.to_string()))?;
        let exchange = async {
            let resp = self.client.request(req).await.map_err(|e| fail(format!("{e}: {}", source_chain(&e))))?;
            let status = resp.status();
            let body = resp.into_body().collect().await.map_err(|e| fail(format!("reading the answer: {e}")))?.to_bytes();
            if status.is_success() {
                Ok(())
            } else {
                let text = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string();
                Err(fail(format!("{status}: {text}")))
            }
        };
        tokio::time::timeout(self.cfg.timeout, exchange).await.map_err(|_| fail(format!("no answer within {:?}", self.cfg.timeout)))?
    }

    /// Updates the shared status; `result` is that of a post just made.
    fn report(&self, result: Option<Result<(), Error>>, failures: u32) {
        let mut st = self.status.lock().unwrap_or_else(|p| p.into_inner());
        st.firing = self.firing.len();
        st.pending_resolutions = self.resolved.len();
        st.consecutive_failures = failures;
        match result {
            Some(Ok(())) => {
                st.last_success = Some(SystemTime::now());
                st.last_error = None;
            }
            Some(Err(e)) => st.last_error = Some(e.to_string()),
            None => {}
        }
    }
}

/// The causes under an error, `: `-joined (hyper's top-level message alone is
/// "client error (Connect)").
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture::{self, t};
    use netdoctor_engine::finding::Severity;

    fn finding(name: &str) -> Finding {
        fixture::finding("node-not-ready", Severity::Warning, name)
    }

    fn evaluation(at: u64, names: &[&str]) -> Evaluation {
        fixture::evaluation(at, names.iter().map(|n| finding(n)).collect())
    }

    fn queue(max_pending: usize) -> Queue {
        let mut cfg = Config::new(vec![], Duration::from_secs(30));
        cfg.max_pending_resolutions = max_pending;
        cfg.external_url = Some("http://netdoctor:9090/".into());
        Queue {
            endpoint: endpoint("http://127.0.0.1:9/").unwrap(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            cfg: Arc::new(cfg),
            status: Arc::default(),
            firing: BTreeMap::new(),
            resolved: BTreeMap::new(),
        }
    }

    #[test]
    fn endpoints_append_the_api_path() {
        assert_eq!(endpoint("http://am:9093").unwrap().to_string(), "http://am:9093/api/v2/alerts");
        assert_eq!(endpoint("http://am:9093/alertmanager/").unwrap().to_string(), "http://am:9093/alertmanager/api/v2/alerts");
        for bad in ["https://am:9093", "am:9093", "http://am:9093/?x=1", "not a url"] {
            assert!(matches!(endpoint(bad), Err(Error::AlertmanagerUrl { .. })), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cfg = Config::new(vec![], Duration::from_secs(30));
        let secs: Vec<u64> = (1..=7).map(|n| cfg.backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(cfg.backoff(u32::MAX), Duration::from_secs(30));
        assert_eq!(cfg.expire_after, Duration::from_secs(120));
    }

    #[test]
    fn postable_alert_has_labels_annotations_times_and_link() {
        let a = Alert::new(&finding("n1"), t(1), t(100), Some("http://netdoctor:9090/"));
        let v = a.to_json();
        assert_eq!(
            v["labels"],
            serde_json::json!({"alertname": "NetdoctorNodeNotReady", "rule": "node-not-ready", "severity": "warning", "kind": "Node", "name": "n1", "node": "n1"})
        );
        assert_eq!(v["annotations"]["summary"], "n1 is broken");
        assert_eq!(v["annotations"]["remediation"], "fix it");
        assert_eq!(v["startsAt"], "1970-01-01T00:00:01.000Z");
        assert_eq!(v["endsAt"], "1970-01-01T00:01:40.000Z");
        assert_eq!(v["generatorURL"], format!("http://netdoctor:9090/#{}", anchor(&finding("n1"))));
    }

    #[test]
    fn clearing_resolves_refiring_cancels_and_the_backlog_is_bounded() {
        let mut q = queue(2);
        q.apply(&evaluation(10, &["a", "b", "c", "d"]));
        assert_eq!((q.firing.len(), q.resolved.len()), (4, 0));
        assert!(q.firing.values().all(|a| a.ends_at == t(130)));
        q.apply(&evaluation(20, &["a", "b", "c"]));
        assert_eq!((q.firing.len(), q.resolved.len()), (3, 1));
        assert!(q.resolved.values().all(|a| a.ends_at == t(20)));
        q.apply(&evaluation(30, &["a", "d"]));
        assert_eq!((q.firing.len(), q.resolved.len()), (2, 2), "d fires again, b and c resolve");
        q.apply(&evaluation(40, &[]));
        assert_eq!(q.resolved.len(), 2, "capped at 2");
        let names: Vec<&str> = q.resolved.keys().map(|k| k["name"].as_str()).collect();
        assert_eq!(names, ["a", "d"], "the newest resolutions are kept");
        assert_eq!(q.status.lock().unwrap().dropped_resolutions, 2);
    }
}
