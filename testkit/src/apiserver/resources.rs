//! The resources the test API server serves and the discovery documents
//! (`/api`, `/apis`, `/apis/{group}/{version}`) that describe them.

use serde_json::{json, Value};

/// One served resource type.
#[derive(Debug)]
pub(super) struct Resource {
    pub(super) kind: &'static str,
    pub(super) group: &'static str,
    pub(super) version: &'static str,
    pub(super) plural: &'static str,
    pub(super) singular: &'static str,
    pub(super) namespaced: bool,
    pub(super) short_names: &'static [&'static str],
    /// A custom resource (Calico CRD): served only when enabled, and its
    /// list items keep `kind`/`apiVersion` as the real server's do.
    pub(super) custom: bool,
    /// Field selectors beyond `metadata.name` / `metadata.namespace`.
    pub(super) fields: &'static [&'static str],
}

const fn core(
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    fields: &'static [&'static str],
) -> Resource {
    Resource { kind, group: "", version: "v1", plural, singular, namespaced, short_names, custom: false, fields }
}

const fn calico(kind: &'static str, plural: &'static str, singular: &'static str) -> Resource {
    Resource { kind, group: "crd.projectcalico.org", version: "v1", plural, singular, namespaced: false, short_names: &[], custom: true, fields: &[] }
}

/// Everything the server can serve; secrets are deliberately absent.
pub(super) static RESOURCES: &[Resource] = &[
    core("Node", "nodes", "node", false, &["no"], &["spec.unschedulable"]),
    core(
        "Pod",
        "pods",
        "pod",
        true,
        &["po"],
        &[
            "spec.nodeName",
            "spec.hostNetwork",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
    ),
    core("Service", "services", "service", true, &["svc"], &[]),
    core("Endpoints", "endpoints", "endpoints", true, &["ep"], &[]),
    core("ConfigMap", "configmaps", "configmap", true, &["cm"], &[]),
    core("ComponentStatus", "componentstatuses", "componentstatus", false, &["cs"], &[]),
    Resource {
        kind: "EndpointSlice",
        group: "discovery.k8s.io",
        version: "v1",
        plural: "endpointslices",
        singular: "endpointslice",
        namespaced: true,
        short_names: &[],
        custom: false,
        fields: &[],
    },
    Resource {
        kind: "Deployment",
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        custom: false,
        fields: &[],
    },
    calico("IPPool", "ippools", "ippool"),
    calico("BlockAffinity", "blockaffinities", "blockaffinity"),
];

impl Resource {
    /// `v1` or `group/version`.
    pub(super) fn api_version(&self) -> String {
        match self.group {
            "" => self.version.to_string(),
            group => format!("{group}/{}", self.version),
        }
    }

    /// Whether `path` may appear in a field selector for this resource.
    pub(super) fn supports_field(&self, path: &str) -> bool {
        matches!(path, "metadata.name" | "metadata.namespace") || self.fields.contains(&path)
    }
}

/// The resources served with or without the Calico CRDs.
pub(super) fn served(calico_crds: bool) -> Vec<&'static Resource> {
    RESOURCES.iter().filter(|r| calico_crds || !r.custom).collect()
}

/// `GET /api`.
pub(super) fn api_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// The non-core groups among `resources`, each with its one version.
fn groups(resources: &[&'static Resource]) -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&str, &str)> = Vec::new();
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

fn api_group(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `GET /apis`.
pub(super) fn api_group_list(resources: &[&'static Resource]) -> Value {
    let groups: Vec<Value> = groups(resources).into_iter().map(|(g, v)| api_group(g, v)).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `GET /apis/{group}`, when the group is served.
pub(super) fn api_group_doc(resources: &[&'static Resource], group: &str) -> Option<Value> {
    groups(resources).into_iter().find(|(g, _)| *g == group).map(|(g, v)| {
        let mut doc = api_group(g, v);
        doc["kind"] = json!("APIGroup");
        doc["apiVersion"] = json!("v1");
        doc
    })
}

/// `GET /api/v1` or `GET /apis/{group}/{version}`, when served.
pub(super) fn api_resource_list(resources: &[&'static Resource], group: &str, version: &str) -> Option<Value> {
    let listed: Vec<Value> = resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            json!({
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "list", "watch"],
                "shortNames": r.short_names,
            })
        })
        .collect();
    if listed.is_empty() {
        return None;
    }
    let group_version = match group {
        "" => version.to_string(),
        g => format!("{g}/{version}"),
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": listed,
    }))
}

/// `GET /version`: says plainly what it is in `gitVersion`.
pub(super) fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "gitVersion": "v1.33.0-netdoctor-testkit",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "n/a (netdoctor-testkit test server)",
        "compiler": "rustc",
        "platform": "linux/amd64",
    })
}
