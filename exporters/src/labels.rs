//! The label set of a finding, one definition for the `netdoctor_finding`
//! series, the alerting rules' `by` clause and the alerts pushed to
//! Alertmanager, so the three always agree. Start at [`finding_labels`];
//! [`anchor`] names a finding on the page (and in an alert's `generatorURL`).

use crate::evaluation::sha256_hex;
use netdoctor_engine::finding::Finding;

/// The label names of `netdoctor_finding`, in the order [`finding_labels`] fills them.
pub const FINDING_LABELS: [&str; 7] = ["rule", "severity", "kind", "namespace", "name", "node", "related"];

/// The values of [`FINDING_LABELS`] for one finding: `namespace` and `node`
/// empty when absent, `related` as `Kind/namespace/name` or empty.
pub fn finding_labels(f: &Finding) -> [String; 7] {
    [
        f.rule.clone(),
        f.severity.as_str().to_string(),
        f.subject.kind.clone(),
        f.subject.namespace.clone().unwrap_or_default(),
        f.subject.name.clone(),
        f.subject.node.clone().unwrap_or_default(),
        f.related.as_ref().map(|r| r.label()).unwrap_or_default(),
    ]
}

/// A stable HTML id for a finding, from its labels (`f-` and 12 hex digits):
/// the page's anchor, which the Alertmanager pusher links to.
pub fn anchor(f: &Finding) -> String {
    format!("f-{}", &sha256_hex(finding_labels(f).join("\0").as_bytes())[..12])
}

#[cfg(test)]
mod tests {
    use super::*;
    use netdoctor_engine::finding::{Related, Severity};

    #[test]
    fn absent_parts_are_empty_and_related_is_kind_namespace_name() {
        let mut f = crate::fixture::finding("service-ip-unroutable", Severity::Critical, "admin");
        f.related = Some(Related { kind: "Service".into(), namespace: Some("default".into()), name: "kubernetes".into() });
        assert_eq!(finding_labels(&f), ["service-ip-unroutable", "critical", "Node", "", "admin", "admin", "Service/default/kubernetes"]);
        let before = anchor(&f);
        f.related = None;
        f.subject.node = None;
        assert_eq!(finding_labels(&f)[5..], ["", ""]);
        assert_ne!(anchor(&f), before);
        assert!(anchor(&f).starts_with("f-") && anchor(&f).len() == 14);
    }
}
