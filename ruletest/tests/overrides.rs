//! Fixture edits on files shaped like kubectl's output: whole-file array edits
//! on Lists, object edits by `Kind/namespace/name` in JSON and YAML, and the
//! confinement of every path to the copy.

use netdoctor_ruletest::overrides::{apply, Override};
use serde_json::{json, Value};
use std::path::Path;

fn ov(yaml: &str) -> Override {
    serde_yaml::from_str(yaml).unwrap()
}

fn write_json(dir: &Path, rel: &str, v: &Value) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

fn read_json(dir: &Path, rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(rel)).unwrap()).unwrap()
}

fn pods() -> Value {
    json!({"apiVersion": "v1", "kind": "List", "items": [
        {"kind": "Pod", "metadata": {"name": "coredns-a", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}, "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
        {"kind": "Pod", "metadata": {"name": "coredns-b", "namespace": "kube-system"}, "status": {"phase": "Running"}},
        {"kind": "Pod", "metadata": {"name": "web", "namespace": "default"}, "status": {"phase": "Running"}},
    ]})
}

fn err(dir: &Path, yaml: &str) -> String {
    apply(dir, &ov(yaml)).err().map(|e| e.to_string()).unwrap_or_else(|| panic!("{yaml}: expected an error"))
}

#[test]
fn object_edits_set_append_and_delete_inside_a_list() {
    let d = tempfile::tempdir().unwrap();
    write_json(d.path(), "cluster/pods.json", &pods());
    apply(
        d.path(),
        &ov("object: Pod/kube-system/coredns-a\nset: {\"/status/phase\": Failed, \"/status/conditions/-\": {type: PodScheduled, status: \"True\"}}\nappend: {\"/spec/containers\": {name: coredns}}\ndelete: [\"/metadata/labels/k8s-app\"]\n"),
    )
    .unwrap();
    let v = read_json(d.path(), "cluster/pods.json");
    let a = &v["items"][0];
    assert_eq!(a["status"]["phase"], "Failed");
    assert_eq!(a["status"]["conditions"][1]["type"], "PodScheduled");
    assert_eq!(a["spec"]["containers"], json!([{"name": "coredns"}]));
    assert_eq!(a["metadata"]["labels"], json!({}));
    assert_eq!(v["items"][1], pods()["items"][1], "other objects are untouched");
    apply(d.path(), &ov("file: cluster/pods.json\nobject: Pod/default/web\ndelete: true\n")).unwrap();
    let v = read_json(d.path(), "cluster/pods.json");
    let names: Vec<&str> = v["items"].as_array().unwrap().iter().map(|p| p["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["coredns-a", "coredns-b"]);
}

#[test]
fn a_missing_object_names_what_is_there() {
    let d = tempfile::tempdir().unwrap();
    write_json(d.path(), "cluster/pods.json", &pods());
    let e = err(d.path(), "object: Pod/kube-system/coredns-c\nset: {\"/status/phase\": Failed}\n");
    assert!(e.contains("object Pod/kube-system/coredns-c not found in cluster/*.json|yaml (did you mean Pod/kube-system/coredns-a?)"), "{e}");
    assert!(e.contains("Pod there: Pod/kube-system/coredns-a, Pod/kube-system/coredns-b, Pod/default/web"), "{e}");
    assert!(err(d.path(), "object: Pod\nset: {}\n").contains("expected Kind/namespace/name"));
}

#[test]
fn typed_lists_single_objects_and_yaml_files() {
    let d = tempfile::tempdir().unwrap();
    let typed = json!({"kind": "NodeList", "items": [{"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}]});
    write_json(d.path(), "cluster/nodes.json", &typed);
    write_json(
        d.path(),
        "cluster/svc.json",
        &json!({"kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default"}, "spec": {"clusterIP": "10.96.0.1"}}),
    );
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: coredns\n  namespace: kube-system\ndata:\n  Corefile: \"forward . /etc/resolv.conf\"\n---\napiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: p, namespace: ns}\n";
    std::fs::write(d.path().join("cluster/extra.yaml"), yaml).unwrap();
    apply(d.path(), &ov("object: Node/n1\nset: {\"/status/conditions/0/status\": \"False\"}\n")).unwrap();
    assert_eq!(read_json(d.path(), "cluster/nodes.json")["items"][0]["status"]["conditions"][0]["status"], "False");
    apply(d.path(), &ov("object: Service/default/kubernetes\nset: {\"/spec/clusterIP\": 10.96.0.2}\n")).unwrap();
    assert_eq!(read_json(d.path(), "cluster/svc.json")["spec"]["clusterIP"], "10.96.0.2");
    apply(d.path(), &ov("object: ConfigMap/kube-system/coredns\nset: {\"/data/Corefile\": \"forward . 127.0.0.53\"}\n")).unwrap();
    apply(d.path(), &ov("file: cluster/extra.yaml\nobject: Pod/ns/p\nset: {\"/status/phase\": Pending}\n")).unwrap();
    let text = std::fs::read_to_string(d.path().join("cluster/extra.yaml")).unwrap();
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text).map(|doc| serde::Deserialize::deserialize(doc).unwrap()).collect();
    assert_eq!(docs[0]["data"]["Corefile"], "forward . 127.0.0.53");
    assert_eq!(docs[1]["items"][0]["status"]["phase"], "Pending");
    apply(d.path(), &ov("object: Service/default/kubernetes\ndelete: true\n")).unwrap();
    assert!(!d.path().join("cluster/svc.json").exists(), "a file holding only the deleted object goes");
}

#[test]
fn whole_file_array_edits_work_on_kubectl_lists() {
    let d = tempfile::tempdir().unwrap();
    write_json(d.path(), "cluster/pods.json", &pods());
    apply(d.path(), &ov("file: cluster/pods.json\njson_append: [{kind: Pod, metadata: {name: extra, namespace: default}}]\n")).unwrap();
    assert_eq!(read_json(d.path(), "cluster/pods.json")["items"].as_array().unwrap().len(), 4);
    apply(d.path(), &ov("file: cluster/pods.json\njson_remove: {kind: Pod}\n")).unwrap();
    assert_eq!(read_json(d.path(), "cluster/pods.json")["items"], json!([]));
    write_json(d.path(), "nodes/n1/ip-route.json", &json!([{"dst": "default"}, {"dst": "10.0.0.0/8"}]));
    apply(d.path(), &ov("file: nodes/n1/ip-route.json\njson_set: {\"/-\": {dst: 192.168.0.0/16}}\n")).unwrap();
    apply(d.path(), &ov("file: nodes/n1/ip-route.json\ndelete: [\"/0\"]\n")).unwrap();
    assert_eq!(read_json(d.path(), "nodes/n1/ip-route.json"), json!([{"dst": "10.0.0.0/8"}, {"dst": "192.168.0.0/16"}]));
}

#[test]
fn no_path_leaves_the_copy() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let copy = outside.path().join("copy");
    std::fs::create_dir_all(copy.join("nodes/n1")).unwrap();
    let abs = victim.display().to_string();
    for yaml in [
        format!("file: {abs}\ncontent: pwned\n"),
        format!("file: {abs}\ndelete: true\n"),
        "file: ../victim.txt\ncontent: pwned\n".to_string(),
        "file: nodes/n1/../../../victim.txt\nreplace: {from: keep, to: lose}\n".to_string(),
        format!("file: {abs}\nobject: Pod/a/b\ndelete: true\n"),
    ] {
        let e = err(&copy, &yaml);
        assert!(e.contains("is absolute") || e.contains("leaves the capture"), "{yaml}: {e}");
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
}

#[test]
fn one_operation_per_override() {
    let d = tempfile::tempdir().unwrap();
    write_json(d.path(), "cluster/pods.json", &pods());
    let e = err(d.path(), "file: cluster/pods.json\ncontent: x\njson_set: {}\n");
    assert!(e.contains("needs exactly one operation"), "{e}");
    let e = err(d.path(), "object: Pod/default/web\ncontent: x\n");
    assert!(e.contains("with `object:` the operations are set, append and delete"), "{e}");
}
