//! `netdoctor alerts`: one Prometheus alerting rule per loaded netdoctor rule,
//! over the `netdoctor_finding` series of [`crate::metrics`]. Start at
//! [`render`]; [`alert_name`] is also the `alertname` the Alertmanager pusher
//! uses, so an alert looks the same whichever way it arrives.
//!
//! Each alert fires per finding (`by` every label of `netdoctor_finding`) once
//! the finding has lasted [`hold`] (from the rule's severity): longer for
//! lower severities, so a transient state (a rollout, a node rebooting) does
//! not page. Its `severity` label is the finding's (`{{ $labels.severity }}`):
//! usually the rule's, but a rule may grade its findings (dns-upstream-loopback
//! is a warning until CoreDNS runs on the node), and a static label would
//! page for a warning.

use crate::error::Error;
use crate::evaluation::RuleInfo;
use crate::labels::FINDING_LABELS;
use netdoctor_engine::finding::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What `netdoctor alerts` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A plain Prometheus rule file (`rule_files`, `promtool check rules`).
    #[default]
    Rules,
    /// The same groups in a `monitoring.coreos.com/v1` `PrometheusRule`.
    PrometheusRule,
}

impl Format {
    /// Parses `rules` or `prometheusrule`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "rules" => Some(Format::Rules),
            "prometheusrule" => Some(Format::PrometheusRule),
            _ => None,
        }
    }
}

/// A Prometheus rule file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleFile {
    pub groups: Vec<Group>,
}

/// A rule group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub rules: Vec<AlertingRule>,
}

/// One alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertingRule {
    pub alert: String,
    pub expr: String,
    #[serde(rename = "for")]
    pub hold: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// A `monitoring.coreos.com/v1` `PrometheusRule` (prometheus-operator).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRule {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: RuleFile,
}

/// The object's name and labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// The alert name of a rule id: `service-ip-unroutable` → `NetdoctorServiceIpUnroutable`.
pub fn alert_name(rule_id: &str) -> Result<String, Error> {
    let parts: Vec<&str> = rule_id.split(['-', '_']).filter(|p| !p.is_empty()).collect();
    if parts.is_empty() || !parts.iter().all(|p| p.chars().all(|c| c.is_ascii_alphanumeric())) {
        return Err(Error::RuleId(rule_id.to_string()));
    }
    let mut name = String::from("Netdoctor");
    for p in parts {
        let mut chars = p.chars();
        name.extend(chars.next().map(|c| c.to_ascii_uppercase()));
        name.push_str(chars.as_str());
    }
    Ok(name)
}

/// How long a finding must last before its alert fires.
pub fn hold(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "5m",
        Severity::Warning => "15m",
        Severity::Info => "30m",
    }
}

/// The subject of one alert, from its labels (a Go template Prometheus expands).
const SUBJECT_TEMPLATE: &str = "{{ $labels.kind }} {{ if $labels.namespace }}{{ $labels.namespace }}/{{ end }}{{ $labels.name }}\
{{ if and $labels.node (ne $labels.node $labels.name) }} on node {{ $labels.node }}{{ end }}\
{{ if $labels.related }} ({{ $labels.related }}){{ end }}";

/// Text taken literally inside a Go template: `{{` would open an action.
fn literal(text: &str) -> String {
    text.replace("{{", "{{ \"{{\" }}")
}

/// The alerting rule of one netdoctor rule.
pub fn alerting_rule(rule: &RuleInfo) -> Result<AlertingRule, Error> {
    let selector = rule.id.replace('\\', "\\\\").replace('"', "\\\"");
    let expr = format!("max by ({}) (netdoctor_finding{{rule=\"{selector}\"}}) > 0", FINDING_LABELS.join(", "));
    let mut annotations = BTreeMap::from([
        ("summary".to_string(), format!("{SUBJECT_TEMPLATE}: {}", literal(&rule.summary))),
        ("description".to_string(), literal(&format!("{}\n\nFix: {}", rule.summary, rule.remediation))),
    ]);
    let how = format!("Rule source: {}. `netdoctor eval --explain {}` shows the facts it read and why it fired.", rule.source, rule.id);
    match rule.docs.as_deref() {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            annotations.insert("runbook_url".into(), url.to_string());
            annotations.insert("runbook".into(), literal(&how));
        }
        Some(docs) => {
            annotations.insert("runbook".into(), literal(&format!("{docs}\n\n{how}")));
        }
        None => {
            annotations.insert("runbook".into(), literal(&how));
        }
    }
    Ok(AlertingRule {
        alert: alert_name(&rule.id)?,
        expr,
        hold: hold(rule.severity).to_string(),
        labels: BTreeMap::from([("severity".to_string(), "{{ $labels.severity }}".to_string())]),
        annotations,
    })
}

/// The `netdoctor` group: one alerting rule per rule, in the order given.
pub fn group(rules: &[RuleInfo]) -> Result<Group, Error> {
    Ok(Group { name: "netdoctor".into(), rules: rules.iter().map(alerting_rule).collect::<Result<_, _>>()? })
}

/// The YAML `netdoctor alerts` prints.
pub fn render(rules: &[RuleInfo], format: Format) -> Result<String, Error> {
    let file = RuleFile { groups: vec![group(rules)?] };
    Ok(match format {
        Format::Rules => serde_yaml::to_string(&file)?,
        Format::PrometheusRule => serde_yaml::to_string(&PrometheusRule {
            api_version: "monitoring.coreos.com/v1".into(),
            kind: "PrometheusRule".into(),
            metadata: Metadata {
                name: "netdoctor".into(),
                labels: BTreeMap::from([
                    ("app.kubernetes.io/name".to_string(), "netdoctor".to_string()),
                    ("app.kubernetes.io/component".to_string(), "alerting-rules".to_string()),
                ]),
            },
            spec: file,
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_are_camel_case() {
        assert_eq!(alert_name("service-ip-unroutable").unwrap(), "NetdoctorServiceIpUnroutable");
        assert_eq!(alert_name("ip_forward-disabled2").unwrap(), "NetdoctorIpForwardDisabled2");
        // The rule loader admits lowercase letters, digits and dashes anywhere.
        assert_eq!(alert_name("-a--b-").unwrap(), "NetdoctorAB");
        for bad in ["", "-", "a b", "a.b", "é"] {
            assert!(matches!(alert_name(bad), Err(Error::RuleId(_))), "{bad:?}");
        }
    }

    #[test]
    fn braces_in_rule_text_stay_literal() {
        assert_eq!(literal("use {{x}}"), "use {{ \"{{\" }}x}}");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse("rules"), Some(Format::Rules));
        assert_eq!(Format::parse("prometheusrule"), Some(Format::PrometheusRule));
        assert_eq!(Format::parse("yaml"), None);
    }
}
