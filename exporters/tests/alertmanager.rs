//! The Alertmanager pusher against a real Alertmanager
//! (`/usr/bin/prometheus-alertmanager` on a loopback port, config and storage
//! in a temp dir): alerts arrive, clear, and survive an outage.
//!
//! What Alertmanager really does with a resolution: `GET /api/v2/alerts`
//! leaves out every alert whose `endsAt` has passed, so a resolved alert is
//! absent from it, and `alertmanager_alerts_received_total{status="resolved"}`
//! counts it. After a restart Alertmanager has no alerts in memory, so that
//! counter (fresh per process) is what proves a resolution was delivered.

mod support;

use netdoctor_exporters::alertmanager::{Config, Pusher};
use netdoctor_exporters::Evaluation;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::*;

/// The fixture's findings minus those of `cleared` rules, evaluated now,
/// each first seen an hour ago.
fn evaluation_now(cleared: &[&str]) -> Arc<Evaluation> {
    let mut ev = evaluation();
    ev.report.findings.retain(|f| !cleared.contains(&f.rule.as_str()));
    ev.at = SystemTime::now();
    ev.first_seen = vec![ev.at - Duration::from_secs(3600); ev.report.findings.len()];
    Arc::new(ev)
}

fn config(urls: Vec<String>) -> Config {
    let mut cfg = Config::new(urls, Duration::from_secs(30));
    cfg.backoff_initial = Duration::from_millis(50);
    cfg.backoff_max = Duration::from_millis(400);
    cfg.timeout = Duration::from_secs(2);
    cfg.external_url = Some("http://netdoctor.example:9090".into());
    cfg
}

fn rules_of(alerts: &[serde_json::Value]) -> Vec<String> {
    let mut r: Vec<String> = alerts.iter().map(|a| a["labels"]["rule"].as_str().unwrap_or_default().to_string()).collect();
    r.sort();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_fire_and_clear_and_a_dead_alertmanager_does_not_hold_up_a_live_one() {
    let dir = tempfile::tempdir().unwrap();
    let Some(am) = Alertmanager::start(dir.path()) else {
        return;
    };
    let dead = format!("http://127.0.0.1:{}", free_port());
    let pusher = Pusher::start(config(vec![am.url(), dead.clone()])).unwrap();

    let first = evaluation_now(&[]);
    pusher.push(first.clone());
    let alerts = wait_for(20, "five active alerts", || Some(am.alerts()).filter(|a| a.len() == 5));
    let a = alerts.iter().find(|a| a["labels"]["rule"] == "service-ip-unroutable").unwrap();
    assert_eq!(
        a["labels"],
        serde_json::json!({"alertname": "NetdoctorServiceIpUnroutable", "rule": "service-ip-unroutable", "severity": "critical", "kind": "Node", "name": "admin", "node": "admin", "related": "Service/default/kubernetes"})
    );
    assert_eq!(a["annotations"]["summary"], first.report.findings.iter().find(|f| f.rule == "service-ip-unroutable").unwrap().summary);
    assert!(a["annotations"]["remediation"].as_str().unwrap().starts_with("Give the host a route"));
    assert_eq!(a["status"]["state"], "active");
    assert!(a["generatorURL"].as_str().unwrap().starts_with("http://netdoctor.example:9090/#f-"));
    let seconds = |t: SystemTime| netdoctor_exporters::time::rfc3339(t)[..19].to_string();
    assert!(a["startsAt"].as_str().unwrap().starts_with(&seconds(first.first_seen[0])), "startsAt is when the finding was first seen: {a}");
    assert!(
        a["endsAt"].as_str().unwrap() > seconds(SystemTime::now() + Duration::from_secs(60)).as_str(),
        "endsAt is ahead, so alerts expire if netdoctor dies: {a}"
    );

    pusher.push(evaluation_now(&["dns-upstream-loopback"]));
    let alerts = wait_for(20, "the DNS alert to resolve", || Some(am.alerts()).filter(|a| a.len() == 4));
    assert!(!rules_of(&alerts).contains(&"dns-upstream-loopback".to_string()));
    assert!(am.received("resolved") >= 1.0, "the clearance was posted as a resolution");

    // The status is updated once the post returns, a moment after Alertmanager has the alerts.
    let status = wait_for(10, "the live queue to drain and the dead one to fail", || {
        Some(pusher.status()).filter(|s| s[0].pending_resolutions == 0 && s[1].consecutive_failures >= 2)
    });
    assert!(status[0].last_success.is_some() && status[0].last_error.is_none() && status[0].pending_resolutions == 0, "{status:?}");
    let err = status[1].last_error.as_deref().unwrap();
    assert!(err.starts_with(&format!("pushing alerts to {dead}/api/v2/alerts: ")) && status[1].pending_resolutions == 1, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_delays_resolutions_but_loses_none() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut am) = Alertmanager::start(dir.path()) else {
        return;
    };
    let pusher = Pusher::start(config(vec![am.url()])).unwrap();
    pusher.push(evaluation_now(&[]));
    wait_for(20, "five active alerts", || Some(am.alerts()).filter(|a| a.len() == 5));

    am.stop();
    pusher.push(evaluation_now(&["dns-upstream-loopback", "evicted-pods"]));
    let status = wait_for(10, "posts to fail while Alertmanager is down", || Some(pusher.status()).filter(|s| s[0].consecutive_failures >= 2));
    assert_eq!(status[0].pending_resolutions, 2, "{status:?}");
    assert!(status[0].last_error.as_deref().unwrap().contains("127.0.0.1"), "{status:?}");

    am.restart();
    let alerts = wait_for(20, "the resolutions to arrive after the restart", || Some(am.alerts()).filter(|a| a.len() == 3 && am.received("resolved") >= 2.0));
    assert_eq!(rules_of(&alerts), ["cni-agent-not-ready", "flannel-route-missing", "service-ip-unroutable"], "firing ones are posted again");
    let status = wait_for(5, "the queue to drain", || Some(pusher.status()).filter(|s| s[0].pending_resolutions == 0));
    assert!(status[0].last_error.is_none() && status[0].consecutive_failures == 0, "{status:?}");
}
