//! `netdoctor alerts`: golden files of both formats (`UPDATE_GOLDEN=1`
//! refreshes them), `promtool check rules` on the plain rule file, and the
//! PrometheusRule carrying the same groups.

mod support;

use netdoctor_exporters::alerts::{render, Format, PrometheusRule, RuleFile};
use support::*;

#[test]
fn rule_file_matches_golden_and_passes_promtool() {
    let yaml = render(&rules(), Format::Rules).unwrap();
    golden("alerts.rules.yml", &yaml);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("netdoctor.rules.yml");
    std::fs::write(&path, &yaml).unwrap();
    let out = run_promtool(&["check", "rules", path.to_str().unwrap()], "");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool check rules: {said}");
    assert!(said.contains("SUCCESS: 6 rules found"), "{said}");
}

#[test]
fn prometheusrule_matches_golden_and_wraps_the_same_groups() {
    let yaml = render(&rules(), Format::PrometheusRule).unwrap();
    golden("alerts.prometheusrule.yaml", &yaml);
    let object: PrometheusRule = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!((object.api_version.as_str(), object.kind.as_str(), object.metadata.name.as_str()), ("monitoring.coreos.com/v1", "PrometheusRule", "netdoctor"));
    let plain: RuleFile = serde_yaml::from_str(&render(&rules(), Format::Rules).unwrap()).unwrap();
    assert_eq!(object.spec, plain);
}

#[test]
fn one_alert_per_rule_over_its_findings() {
    let file: RuleFile = serde_yaml::from_str(&render(&rules(), Format::Rules).unwrap()).unwrap();
    let group = &file.groups[0];
    assert_eq!(group.name, "netdoctor");
    assert_eq!(group.rules.len(), rules().len());
    let r = group.rules.iter().find(|r| r.alert == "NetdoctorServiceIpUnroutable").unwrap();
    assert_eq!(r.expr, r#"max by (rule, severity, kind, namespace, name, node, related) (netdoctor_finding{rule="service-ip-unroutable"}) > 0"#);
    assert_eq!((r.hold.as_str(), r.labels["severity"].as_str()), ("5m", "{{ $labels.severity }}"), "the finding's own severity");
    assert!(r.annotations["description"].contains("Give the host a route"));
    assert!(r.annotations["runbook"].contains("builtin:rules/service-ip-unroutable.rhai"));
    let evicted = group.rules.iter().find(|r| r.alert == "NetdoctorEvictedPods").unwrap();
    assert_eq!(evicted.annotations["runbook_url"], "https://runbooks.example.com/netdoctor/evicted-pods");
    assert_eq!(evicted.hold, "30m");
}

/// `promtool test rules`: Prometheus itself evaluates the alerts over
/// `netdoctor_finding` series and expands their templates.
#[test]
fn alerts_fire_per_finding_after_their_hold_with_the_findings_severity() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("netdoctor.rules.yml"), render(&rules(), Format::Rules).unwrap()).unwrap();
    let rule = |id: &str| rules().into_iter().find(|r| r.id == id).unwrap();
    let q = |s: &str| serde_json::to_string(s).unwrap();
    let annotations = |id: &str, summary: &str| {
        let r = rule(id);
        let runbook = format!(
            "{}\n\nRule source: {}. `netdoctor eval --explain {id}` shows the facts it read and why it fired.",
            r.docs.clone().unwrap_or_default(),
            r.source
        );
        format!(
            "{{summary: {}, description: {}, runbook: {}}}",
            q(&format!("{summary}: {}", r.summary)),
            q(&format!("{}\n\nFix: {}", r.summary, r.remediation)),
            q(runbook.trim_start())
        )
    };
    let test = format!(
        r#"rule_files: [netdoctor.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'netdoctor_finding{{rule="service-ip-unroutable",severity="critical",kind="Node",namespace="",name="admin",node="admin",related="Service/default/kubernetes"}}'
        values: '1x30'
      - series: 'netdoctor_finding{{rule="cni-agent-not-ready",severity="critical",kind="Pod",namespace="kube-system",name="calico-node-r5m2d",node="admin",related=""}}'
        values: '1x30'
      - series: 'netdoctor_finding{{rule="dns-upstream-loopback",severity="warning",kind="Node",namespace="",name="worker-2",node="worker-2",related=""}}'
        values: '1x30'
    alert_rule_test:
      - eval_time: 4m
        alertname: NetdoctorServiceIpUnroutable
        exp_alerts: []
      - eval_time: 6m
        alertname: NetdoctorServiceIpUnroutable
        exp_alerts:
          - exp_labels: {{rule: service-ip-unroutable, severity: critical, kind: Node, name: admin, node: admin, related: Service/default/kubernetes}}
            exp_annotations: {}
      - eval_time: 6m
        alertname: NetdoctorCniAgentNotReady
        exp_alerts:
          - exp_labels: {{rule: cni-agent-not-ready, severity: critical, kind: Pod, namespace: kube-system, name: calico-node-r5m2d, node: admin}}
            exp_annotations: {}
      - eval_time: 6m
        alertname: NetdoctorDnsUpstreamLoopback
        exp_alerts:
          - exp_labels: {{rule: dns-upstream-loopback, severity: warning, kind: Node, name: worker-2, node: worker-2}}
            exp_annotations: {}
"#,
        annotations("service-ip-unroutable", "Node admin (Service/default/kubernetes)"),
        annotations("cni-agent-not-ready", "Pod kube-system/calico-node-r5m2d on node admin"),
        annotations("dns-upstream-loopback", "Node worker-2"),
    );
    let path = dir.path().join("netdoctor.test.yml");
    std::fs::write(&path, test).unwrap();
    let out = std::process::Command::new(promtool()).args(["test", "rules"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "promtool test rules:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
