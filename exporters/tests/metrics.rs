//! The metrics exposition: golden file for the fixture evaluation
//! (`UPDATE_GOLDEN=1 cargo test -p netdoctor-exporters --test metrics`
//! refreshes it), `promtool check metrics` on it, and series lifecycle.

mod support;

use netdoctor_exporters::metrics::Metrics;
use support::*;

/// The series lines (no comments) of an exposition that mention all of `parts`.
fn series<'a>(text: &'a str, parts: &[&str]) -> Vec<&'a str> {
    text.lines().filter(|l| !l.starts_with('#') && parts.iter().all(|p| l.contains(p))).collect()
}

fn fixture_metrics() -> (Metrics, String) {
    let m = Metrics::new(&build(), &rules(), t(-7200)).unwrap();
    let text = m.record_evaluation(&evaluation()).unwrap().to_string();
    assert_eq!(&*m.exposition(), text, "what was returned is what /metrics serves");
    (m, text)
}

#[test]
fn exposition_matches_golden_and_passes_promtool() {
    let (_, text) = fixture_metrics();
    golden("metrics.prom", &text);
    let out = run_promtool(&["check", "metrics"], &text);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn findings_are_labelled_and_counted_per_rule() {
    let (_, text) = fixture_metrics();
    assert_eq!(
        series(&text, &["netdoctor_finding{", "rule=\"service-ip-unroutable\""]),
        [
            r#"netdoctor_finding{kind="Node",name="admin",namespace="",node="admin",related="Service/default/kubernetes",rule="service-ip-unroutable",severity="critical"} 1"#
        ]
    );
    assert_eq!(series(&text, &["netdoctor_finding{", "related=\"FlannelLease//worker-2\""]).len(), 1);
    assert_eq!(
        series(&text, &["netdoctor_findings{", "node-not-ready"]),
        [r#"netdoctor_findings{rule="node-not-ready",severity="critical"} 0"#],
        "0 for a loaded rule with none"
    );
    // The finding's own severity, not the rule's default.
    assert_eq!(series(&text, &["netdoctor_findings{", "dns-upstream-loopback"]), [r#"netdoctor_findings{rule="dns-upstream-loopback",severity="warning"} 1"#]);
    assert_eq!(
        series(&text, &["netdoctor_rule_evaluation_failures_total{", "flannel-route-missing"]),
        [r#"netdoctor_rule_evaluation_failures_total{rule="flannel-route-missing"} 1"#]
    );
    assert_eq!(series(&text, &["netdoctor_finding{", "flannel-route-missing"]).len(), 1, "a failed rule's kept (stale) finding stays exported");
}

#[test]
fn a_cleared_finding_and_a_deleted_rule_lose_their_series() {
    let (m, _) = fixture_metrics();
    let mut ev = evaluation();
    // The DNS finding clears; the file of evicted-pods is deleted.
    ev.report.findings.retain(|f| f.rule != "dns-upstream-loopback" && f.rule != "evicted-pods");
    ev.first_seen.truncate(ev.report.findings.len());
    ev.rules.retain(|r| r.id != "evicted-pods");
    ev.report.timings.retain(|(id, _, _)| id != "evicted-pods");
    let text = m.record_evaluation(&ev).unwrap();
    assert!(series(&text, &["netdoctor_finding{", "dns-upstream-loopback"]).is_empty());
    assert_eq!(series(&text, &["netdoctor_findings{", "dns-upstream-loopback"]), [r#"netdoctor_findings{rule="dns-upstream-loopback",severity="critical"} 0"#]);
    assert!(series(&text, &["evicted-pods"]).is_empty(), "every series of a deleted rule goes:\n{text}");
    assert_eq!(series(&text, &["netdoctor_rules_loaded "]), ["netdoctor_rules_loaded 5"]);
    assert_eq!(series(&text, &["netdoctor_evaluations_total "]), ["netdoctor_evaluations_total 2"]);
    assert_eq!(
        series(&text, &["netdoctor_rule_evaluation_duration_seconds_count{", "service-ip-unroutable"]),
        [r#"netdoctor_rule_evaluation_duration_seconds_count{rule="service-ip-unroutable"} 2"#]
    );
}

#[test]
fn reloads_are_counted_and_a_failed_one_keeps_the_rules() {
    let (m, _) = fixture_metrics();
    let text = m.record_reload(false, t(60), &rules()).unwrap();
    assert_eq!(
        series(&text, &["netdoctor_rules_reloads_total{"]),
        [r#"netdoctor_rules_reloads_total{result="failure"} 1"#, r#"netdoctor_rules_reloads_total{result="success"} 0"#]
    );
    assert_eq!(series(&text, &["netdoctor_rules_last_reload_successful "]), ["netdoctor_rules_last_reload_successful 0"]);
    assert_eq!(
        series(&text, &["netdoctor_rules_last_reload_success_timestamp_seconds "]),
        ["netdoctor_rules_last_reload_success_timestamp_seconds 1796464800"]
    );
    assert_eq!(series(&text, &["netdoctor_rule_info{"]).len(), 6);

    let fewer: Vec<_> = rules().into_iter().filter(|r| r.id != "service-ip-unroutable").collect();
    let text = m.record_reload(true, t(120), &fewer).unwrap();
    assert_eq!(
        series(&text, &["netdoctor_rules_last_reload_success_timestamp_seconds "]),
        ["netdoctor_rules_last_reload_success_timestamp_seconds 1796472120"]
    );
    assert!(series(&text, &["service-ip-unroutable"]).is_empty(), "a reload that drops a rule drops its series at once:\n{text}");
    assert_eq!(series(&text, &["netdoctor_rules_reloads_total{", "success"]), [r#"netdoctor_rules_reloads_total{result="success"} 1"#]);
}
