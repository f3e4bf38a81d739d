//! The live cluster collectors against real parts: the k8s collector (kube-rs
//! client and watchers) against `TestApiServer` — a test server speaking the
//! Kubernetes API wire protocol, not a kube-apiserver — loaded with
//! real-format objects from the example captures; the etcd collector against
//! a real etcd (Debian's etcd-server) on loopback, v3, v2 and TLS.
//!
//! Each test makes the facts converge to the server's state after every
//! disturbance: chunked lists, ADDED/MODIFIED/DELETED/BOOKMARK, 410 Gone
//! (as an ERROR event and as HTTP 410), dropped connections, a server down
//! at start, etcd stopped and restarted.

use netdoctor_collectors::capture::{self, ReadOptions};
use netdoctor_collectors::live::cluster::{EtcdApi, EtcdCollector, EtcdOptions, K8sCollector, K8sOptions, OnChange};
use netdoctor_engine::collector::{record, Collection, Collector};
use netdoctor_engine::graph::{Graph, GraphOptions};
use netdoctor_engine::kind::FactKind;
use netdoctor_engine::store::{FactSet, FactStore};
use netdoctor_testkit::apiserver::{ApiServerOptions, ExpiredWatch, TestApiServer};
use netdoctor_testkit::etcd::{EtcdOptions as TestEtcdOptions, EtcdServer};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CALICO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/captures/healthy-calico/cluster");
const FLANNEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/captures/healthy-flannel/cluster");
const WAIT: Duration = Duration::from_secs(30);

const CLUSTER_KINDS: &[FactKind] = &[
    FactKind::Nodes,
    FactKind::Pods,
    FactKind::Services,
    FactKind::Endpoints,
    FactKind::Deployments,
    FactKind::ComponentStatuses,
    FactKind::IpPools,
    FactKind::BlockAffinities,
    FactKind::CorednsConfig,
    FactKind::KubeProxyConfig,
    FactKind::KubeadmConfig,
    FactKind::FlannelNetConf,
    FactKind::FlannelEtcd,
];

/// Drops `source: File {..}` / `source: Live {..}` from Debug text: where a fact came from
/// differs between a live collection and a capture of it; the fact does not.
fn strip_sources(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("source: ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "source: ".len()..];
        match after.find('}') {
            Some(j) if after.starts_with("File {") || after.starts_with("Live {") => rest = &after[j + 1..],
            _ => {
                out.push_str("source: ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Drops resourceVersions (the test server assigns its own on load) for comparing a live
/// collection with the files the server was loaded from.
fn without_resource_versions(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("resource_version: ") {
        out.push_str(&rest[..i + "resource_version: ".len()]);
        out.push('_');
        rest = rest[i + "resource_version: ".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// Every cluster fact of a set, as comparable text (without provenance).
fn cluster_view(set: &FactSet) -> String {
    let mut out = String::new();
    for k in CLUSTER_KINDS {
        writeln!(out, "{k}: keys={:?} usable={}", set.keys(*k), set.cluster_unavailable(*k).is_none()).unwrap();
    }
    let g = Graph::build(set.clone(), vec![], &GraphOptions::default());
    writeln!(out, "nodes {:?}\npods {:?}\nservices {:?}", g.nodes(), g.pods(), g.services()).unwrap();
    for i in 0..g.services().len() {
        writeln!(out, "endpoints {i} {:?}", g.endpoints(i)).unwrap();
    }
    writeln!(out, "deployments {:?}\ncs {:?}\npools {:?}\nblocks {:?}", g.deployments(), g.component_statuses(), g.ip_pools(), g.block_affinities()).unwrap();
    writeln!(out, "corefile {:?}\nproxy {:?}\nkubeadm {:?}", g.corefile(), g.kube_proxy_mode(), g.kubeadm()).unwrap();
    writeln!(out, "netconf {:?}\netcd config {:?}", g.flannel_net_conf(), g.flannel_etcd_config()).unwrap();
    for l in g.leases() {
        writeln!(out, "lease {:?}", l.lease).unwrap();
    }
    strip_sources(&out)
}

/// Asserts two views are equal, showing only the lines that differ.
#[track_caller]
fn assert_same(left: &str, right: &str) {
    if left != right {
        let (l, r): (Vec<&str>, Vec<&str>) = (left.lines().collect(), right.lines().collect());
        let short = |x: &&str| x.chars().take(400).collect::<String>();
        let only_l: Vec<String> = l.iter().filter(|x| !r.contains(x)).map(short).collect();
        let only_r: Vec<String> = r.iter().filter(|x| !l.contains(x)).map(short).collect();
        panic!("views differ\n--- left only:\n{only_l:#?}\n--- right only:\n{only_r:#?}");
    }
}

fn facts(c: Collection) -> FactSet {
    match c {
        Collection::Facts(s) => *s,
        Collection::NoData(why) => panic!("no data: {why}"),
    }
}

/// The cluster facts the capture reader makes of a `cluster/` directory alone.
fn read_cluster_dir(dir: &str) -> FactSet {
    read_cluster_dir_with(dir, &[])
}

/// The same, with `extra` objects in one more file.
fn read_cluster_dir_with(dir: &str, extra: &[Value]) -> FactSet {
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("cluster");
    std::fs::create_dir(&to).unwrap();
    if !extra.is_empty() {
        std::fs::write(to.join("zz-extra.json"), json!({"apiVersion": "v1", "kind": "List", "items": extra}).to_string()).unwrap();
    }
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.path().extension().is_some_and(|x| x == "json") {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    capture::read(tmp.path(), &ReadOptions::default()).unwrap()
}

async fn eventually(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn deployment(namespace: &str, name: &str, ready: u32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}, "generation": 3},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        "status": {"replicas": 2, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": 2, "observedGeneration": 3},
    })
}

fn pod(namespace: &str, name: &str, node: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name, "namespace": namespace, "labels": {"app": "test"},
            "creationTimestamp": "2026-12-01T10:00:00Z",
            "managedFields": [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}],
        },
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-12-01T10:00:05Z"}]},
    })
}

/// Pod keys `ns/name` of a set.
fn pod_keys(set: &FactSet) -> BTreeSet<String> {
    set.keys(FactKind::Pods).into_iter().map(|(ns, n)| format!("{ns}/{n}")).collect()
}

fn server_pods(server: &TestApiServer) -> BTreeSet<String> {
    server.objects("Pod").iter().map(|p| format!("{}/{}", p["metadata"]["namespace"].as_str().unwrap(), p["metadata"]["name"].as_str().unwrap())).collect()
}

fn server_pod_ip(server: &TestApiServer, ns: &str, name: &str) -> Option<String> {
    server.get("Pod", Some(ns), name).and_then(|p| p["status"]["podIP"].as_str().map(str::to_string))
}

fn pod_ip(c: &K8sCollector, ns: &str, name: &str) -> Option<String> {
    let g = Graph::build(c.snapshot(), vec![], &GraphOptions::default());
    g.pods().iter().find(|p| p.namespace == ns && p.name == name).and_then(|p| p.ips.first().map(|i| i.to_string()))
}

fn k8s(server: &TestApiServer, kubeconfig: &Path, page_size: u32) -> K8sCollector {
    let _ = server;
    K8sCollector::new(K8sOptions { kubeconfig: Some(kubeconfig.to_path_buf()), node: None, page_size })
}

/// Records the pod keys the collector holds after each change it reports.
fn recording(c: &Arc<K8sCollector>) -> (OnChange, Arc<Mutex<Vec<BTreeSet<String>>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let weak = Arc::downgrade(c);
    let s2 = Arc::clone(&seen);
    let cb: OnChange = Arc::new(move |kinds: &[FactKind]| {
        if kinds.contains(&FactKind::Pods) {
            if let Some(c) = weak.upgrade() {
                s2.lock().unwrap().push(pod_keys(&c.snapshot()));
            }
        }
    });
    (cb, seen)
}

fn noop() -> OnChange {
    Arc::new(|_: &[FactKind]| {})
}

// ---------------------------------------------------------------------------
// k8s

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_one_shot_pages_through_lists_and_equals_the_capture_reader() {
    let server = TestApiServer::start(ApiServerOptions { calico_crds: true, ..Default::default() }).unwrap();
    server.load_dir(CALICO).unwrap();
    server.apply(deployment("shop", "frontend", 2)).unwrap();
    let kc = server.write_kubeconfig().unwrap();
    let c = k8s(&server, kc.path(), 2);
    let live = facts(c.collect().await.unwrap());
    let expected = read_cluster_dir_with(CALICO, &[deployment("shop", "frontend", 2)]);
    assert_eq!(live.count(FactKind::Deployments), 1, "Deployments found by discovery");
    assert_same(&without_resource_versions(&cluster_view(&live)), &without_resource_versions(&cluster_view(&expected)));
    assert!(live.count(FactKind::IpPools) > 0, "Calico IPPools found by discovery");
    assert!(live.errors().is_empty(), "{:?}", live.errors());

    let reqs = server.requests();
    assert!(
        reqs.iter().any(|r| r.path == "/api/v1/pods" && r.param("continue").is_some() && r.param("limit").as_deref() == Some("2")),
        "pods listed in pages of 2 with continue"
    );
    assert!(!reqs.iter().any(|r| r.path.contains("secrets")), "never asks for Secrets");
    for r in reqs.iter().filter(|r| r.path.ends_with("/configmaps")) {
        assert!(r.param("fieldSelector").is_some_and(|f| f.starts_with("metadata.name=")), "ConfigMaps are read by name only: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_without_calico_crds_does_not_fail_and_node_filter_reads_one_nodes_pods() {
    let server = TestApiServer::start(ApiServerOptions::default()).unwrap();
    server.load_dir(FLANNEL).unwrap();
    let kc = server.write_kubeconfig().unwrap();
    let all = facts(k8s(&server, kc.path(), 500).collect().await.unwrap());
    assert_eq!(all.count(FactKind::Pods), 15);
    assert!(all.cluster_unavailable(FactKind::IpPools).is_some_and(|w| w.contains("not collected")), "no CRDs: not collected, no failure");
    assert!(all.cluster_unavailable(FactKind::FlannelNetConf).is_none(), "kube-flannel-cfg read from namespace kube-flannel");

    let c = K8sCollector::new(K8sOptions { kubeconfig: Some(kc.path().to_path_buf()), node: Some("node1".into()), page_size: 500 });
    let one = facts(c.collect().await.unwrap());
    let g = Graph::build(one, vec![], &GraphOptions::default());
    assert_eq!(g.pods().len(), 4);
    assert!(g.pods().iter().all(|p| p.node.as_deref() == Some("node1")));
    assert!(server.requests().iter().any(|r| r.path == "/api/v1/pods" && r.param("fieldSelector").as_deref() == Some("spec.nodeName=node1")));

    // Watching with --node: a pod scheduled elsewhere is never seen.
    let c = Arc::new(K8sCollector::new(K8sOptions { kubeconfig: Some(kc.path().to_path_buf()), node: Some("node1".into()), page_size: 500 }));
    let _h = c.start_watching(noop()).await.unwrap();
    facts(c.collect().await.unwrap());
    server.apply(pod("default", "elsewhere", "node2", "10.244.2.50")).unwrap();
    server.apply(pod("default", "here", "node1", "10.244.1.50")).unwrap();
    eventually("pod on node1", WAIT, || pod_keys(&c.snapshot()).contains("default/here")).await;
    assert!(!pod_keys(&c.snapshot()).contains("default/elsewhere"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_watch_follows_events_bookmarks_410_and_dropped_connections() {
    let server = TestApiServer::start(ApiServerOptions::default()).unwrap();
    server.load_dir(FLANNEL).unwrap();
    let kc = server.write_kubeconfig().unwrap();
    let c = Arc::new(k8s(&server, kc.path(), 3));
    let (cb, seen) = recording(&c);
    let _h = c.start_watching(cb).await.unwrap();
    let first = facts(c.collect().await.unwrap());
    assert_eq!(pod_keys(&first), server_pods(&server));
    assert!(server.wait_until(WAIT, |s| s.open_watches() >= 9).await, "a watch per kind");

    // ADDED, MODIFIED, DELETED, BOOKMARK.
    server.apply(pod("default", "p1", "node1", "10.244.1.10")).unwrap();
    eventually("ADDED", WAIT, || pod_keys(&c.snapshot()).contains("default/p1")).await;
    server.apply(pod("default", "p1", "node1", "10.244.1.11")).unwrap();
    eventually("MODIFIED", WAIT, || pod_ip(&c, "default", "p1").as_deref() == Some("10.244.1.11")).await;
    server.send_bookmark();
    server.delete("Pod", Some("kube-system"), "coredns-5dd5756b68-7lfxq").unwrap();
    eventually("DELETED", WAIT, || pod_keys(&c.snapshot()) == server_pods(&server)).await;
    // A Deployment added, then scaled up.
    server.apply(deployment("default", "web", 0)).unwrap();
    eventually("deployment ADDED", WAIT, || c.snapshot().count(FactKind::Deployments) == 1).await;
    server.apply(deployment("default", "web", 1)).unwrap();
    eventually("deployment MODIFIED", WAIT, || {
        let g = Graph::build(c.snapshot(), vec![], &GraphOptions::default());
        g.deployments().first().is_some_and(|d| d.ready_replicas == 1)
    })
    .await;
    // A ConfigMap deleted and put back.
    let coredns = server.get("ConfigMap", Some("kube-system"), "coredns").unwrap();
    server.delete("ConfigMap", Some("kube-system"), "coredns").unwrap();
    eventually("coredns gone", WAIT, || c.snapshot().cluster_unavailable(FactKind::CorednsConfig).is_some()).await;
    server.apply(coredns).unwrap();
    eventually("coredns back", WAIT, || c.snapshot().cluster_unavailable(FactKind::CorednsConfig).is_none()).await;

    // 410 mid-watch (an ERROR event): a relist, swapped in whole when complete.
    let before = server_pods(&server);
    seen.lock().unwrap().clear();
    let lists = |s: &TestApiServer| s.requests().iter().filter(|r| r.path == "/api/v1/pods" && !r.is_watch()).count();
    let lists_before = lists(&server);
    server.expire_watches();
    assert!(server.wait_until(WAIT, |s| lists(s) > lists_before).await, "relisted after 410");
    eventually("watching again", WAIT, || server.open_watches() >= 9).await;
    assert!(seen.lock().unwrap().iter().all(|s| *s == before), "only whole states were ever visible: {:?}", seen.lock().unwrap());

    // Connections dropped, history compacted and the cluster changed meanwhile: the re-watch gets
    // 410, the relist converges.
    server.drop_connections();
    server.compact();
    server.apply(pod("default", "p2", "node2", "10.244.2.12")).unwrap();
    server.delete("Pod", Some("default"), "p1").unwrap();
    eventually("converged after 410 on re-watch", WAIT, || pod_keys(&c.snapshot()) == server_pods(&server)).await;

    // A dropped connection resumed from its resourceVersion.
    server.drop_connections();
    server.apply(pod("default", "p3", "node2", "10.244.2.13")).unwrap();
    eventually("converged after drop", WAIT, || pod_keys(&c.snapshot()) == server_pods(&server)).await;
    eventually("up", WAIT, || c.status().up).await;
    let now = facts(c.collect().await.unwrap());
    let mut expected = read_cluster_dir(FLANNEL);
    // What the server holds now, as the capture reader would read it.
    let tmp = tempfile::tempdir().unwrap();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": server.objects("Pod")});
    std::fs::create_dir(tmp.path().join("cluster")).unwrap();
    std::fs::write(tmp.path().join("cluster/pods.json"), list.to_string()).unwrap();
    expected.clear(FactKind::Pods);
    expected.merge(capture::read(tmp.path(), &ReadOptions::default()).unwrap());
    expected.collected(FactKind::ComponentStatuses, netdoctor_engine::Source::file("x"));
    expected.merge(read_cluster_dir_with(FLANNEL, &[deployment("default", "web", 1)]).objects(FactKind::Deployments).into_iter().fold(
        FactSet::new(),
        |mut s, o| {
            s.collected(FactKind::Deployments, netdoctor_engine::Source::file("x"));
            s.apply(o);
            s
        },
    ));
    assert_same(&without_resource_versions(&cluster_view(&now)), &without_resource_versions(&cluster_view(&expected)));
    assert_eq!(server_pod_ip(&server, "default", "p3"), pod_ip(&c, "default", "p3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_http_410_on_rewatch_relists_instead_of_retrying_for_ever() {
    let server = TestApiServer::start(ApiServerOptions { expired_watch: ExpiredWatch::HttpGone, ..Default::default() }).unwrap();
    server.load_dir(FLANNEL).unwrap();
    let kc = server.write_kubeconfig().unwrap();
    let c = k8s(&server, kc.path(), 500);
    let _h = c.start_watching(noop()).await.unwrap();
    facts(c.collect().await.unwrap());
    assert!(server.wait_until(WAIT, |s| s.open_watches() >= 9).await);
    let lists = |s: &TestApiServer| s.requests().iter().filter(|r| r.path == "/api/v1/pods" && !r.is_watch()).count();
    let lists_before = lists(&server);
    server.expire_watches();
    server.apply(pod("default", "after-gone", "node1", "10.244.1.77")).unwrap();
    eventually("converged after HTTP 410", WAIT, || pod_keys(&c.snapshot()) == server_pods(&server)).await;
    assert!(lists(&server) > lists_before, "converged by a relist");
    eventually("up", WAIT, || c.status().up).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_server_down_at_start_then_up_converges_and_one_shot_fails_fast() {
    let server = TestApiServer::start(ApiServerOptions { start_down: true, ..Default::default() }).unwrap();
    server.load_dir(FLANNEL).unwrap();
    let kc = server.write_kubeconfig().unwrap();

    let t = Instant::now();
    let e = k8s(&server, kc.path(), 500).collect().await.unwrap_err().to_string();
    assert!(e.contains(&server.url()), "names the server: {e}");
    assert!(t.elapsed() < Duration::from_secs(10), "fails fast: {:?}", t.elapsed());

    let c = k8s(&server, kc.path(), 500);
    let _h = c.start_watching(noop()).await.unwrap();
    eventually("down", WAIT, || !c.status().up).await;
    let e = c.collect().await.unwrap_err().to_string();
    assert!(e.contains(&server.url()), "{e}");
    let mut store = FactStore::new();
    let st = record(&mut store, "k8s", c.collect().await, 100, 0.0, None);
    assert!(!st.up);

    server.set_down(false).unwrap();
    eventually("synced", Duration::from_secs(60), || c.status().synced && c.status().up).await;
    let set = facts(c.collect().await.unwrap());
    assert_eq!(pod_keys(&set), server_pods(&server));
    let st = record(&mut store, "k8s", Ok(Collection::Facts(Box::new(set))), 200, 0.0, None);
    assert!(st.up);

    // Down mid-watch: reported down, the last good facts kept (stale); changes made meanwhile
    // arrive when it is back.
    assert!(server.wait_until(WAIT, |s| s.open_watches() >= 9).await);
    let before = server_pods(&server);
    server.set_down(true).unwrap();
    eventually("down again", WAIT, || !c.status().up).await;
    let st = record(&mut store, "k8s", c.collect().await, 300, 0.0, None);
    assert!(!st.up && st.last_success == Some(200), "{st:?}");
    let g = store.snapshot(&GraphOptions::default());
    let kept: BTreeSet<String> = g.pods().iter().map(|p| format!("{}/{}", p.namespace, p.name)).collect();
    assert_eq!(kept, before, "last good pods kept");
    server.apply(pod("default", "while-down", "node1", "10.244.1.66")).unwrap();
    server.set_down(false).unwrap();
    eventually("back up with the change", Duration::from_secs(60), || c.status().up && pod_keys(&c.snapshot()) == server_pods(&server)).await;
    let st = record(&mut store, "k8s", c.collect().await, 400, 0.0, None);
    assert!(st.up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_raw_capture_reads_back_to_the_same_facts() {
    let server = TestApiServer::start(ApiServerOptions { calico_crds: true, ..Default::default() }).unwrap();
    server.load_dir(CALICO).unwrap();
    let kc = server.write_kubeconfig().unwrap();
    let c = k8s(&server, kc.path(), 4);
    let dir = tempfile::tempdir().unwrap();
    let live = facts(c.capture(dir.path()).await.unwrap());
    let back = capture::read(dir.path(), &ReadOptions::default()).unwrap();
    assert_same(&cluster_view(&live), &cluster_view(&back));
    assert!(back.errors().is_empty() && back.notes().is_empty(), "{:?} {:?}", back.errors(), back.notes());
    let pods = std::fs::read_to_string(dir.path().join("cluster/pods.json")).unwrap();
    assert!(!pods.contains("managedFields"));
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("cluster")).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    files.sort();
    assert_eq!(
        files,
        [
            "calico-blockaffinities.json",
            "calico-ippools.json",
            "componentstatuses.json",
            "configmaps.json",
            "deployments.json",
            "endpointslices.json",
            "nodes.json",
            "pods.json",
            "services.json"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k8s_kinds_rbac_forbids_are_broken_with_the_reason_not_a_collector_failure() {
    let server = TestApiServer::start(ApiServerOptions::default()).unwrap();
    server.load_dir(FLANNEL).unwrap();
    server.forbid("endpointslices", true);
    server.forbid("componentstatuses", true);
    server.forbid("configmaps", true);
    let kc = server.write_kubeconfig().unwrap();

    let one = facts(k8s(&server, kc.path(), 500).collect().await.unwrap());
    let why = one.cluster_unavailable(FactKind::Endpoints).unwrap();
    assert!(why.contains("endpointslices is forbidden") && why.contains("(403)") && why.contains(&server.url()), "{why}");
    assert!(one.cluster_unavailable(FactKind::CorednsConfig).unwrap().contains("configmaps is forbidden"));
    assert!(one.cluster_unavailable(FactKind::Pods).is_none());

    let c = k8s(&server, kc.path(), 500);
    let _h = c.start_watching(noop()).await.unwrap();
    let set = facts(c.collect().await.expect("forbidden kinds do not make the collector fail"));
    assert!(c.status().up);
    for k in [FactKind::Endpoints, FactKind::ComponentStatuses, FactKind::CorednsConfig, FactKind::FlannelNetConf] {
        let why = set.cluster_unavailable(k).unwrap_or_default();
        assert!(why.contains("is forbidden"), "{k}: {why}");
    }
    assert_eq!(pod_keys(&set), server_pods(&server));

    // RBAC fixed: the kinds are read, and their errors withdrawn.
    for r in ["endpointslices", "componentstatuses", "configmaps"] {
        server.forbid(r, false);
    }
    eventually("kinds readable again", Duration::from_secs(60), || {
        let s = c.snapshot();
        [FactKind::Endpoints, FactKind::ComponentStatuses, FactKind::CorednsConfig, FactKind::FlannelNetConf]
            .iter()
            .all(|k| s.cluster_unavailable(*k).is_none())
    })
    .await;
    let set = facts(c.collect().await.unwrap());
    assert!(set.errors().is_empty(), "{:?}", set.errors());
    assert_same(
        &without_resource_versions(&cluster_view(&set)),
        &without_resource_versions(&cluster_view(&{
            let mut e = read_cluster_dir(FLANNEL);
            e.collected(FactKind::ComponentStatuses, netdoctor_engine::Source::file("x"));
            e.collected(FactKind::Deployments, netdoctor_engine::Source::file("x"));
            e
        })),
    );
}

#[tokio::test]
async fn k8s_without_any_config_is_no_data() {
    // This test alone touches the environment; the others pass --kubeconfig.
    let home = tempfile::tempdir().unwrap();
    std::env::set_var("HOME", home.path());
    std::env::remove_var("KUBECONFIG");
    std::env::remove_var("KUBERNETES_SERVICE_HOST");
    let c = K8sCollector::new(K8sOptions::default());
    match c.collect().await.unwrap() {
        Collection::NoData(why) => assert_eq!(why, "no kubeconfig (KUBECONFIG, ~/.kube/config) and not in a pod"),
        Collection::Facts(_) => panic!("facts without a cluster"),
    }
}

// ---------------------------------------------------------------------------
// etcd

const CONFIG: &str = r#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#;

fn lease_value(ip: &str, mac: &str) -> String {
    format!(r#"{{"PublicIP":"{ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"{mac}"}}}}"#)
}

/// (subnet, public IP) of every lease.
fn leases(set: &FactSet) -> BTreeSet<(String, String)> {
    set.leases().map(|l| (l.subnet.to_string(), l.public_ip.map(|i| i.to_string()).unwrap_or_default())).collect()
}

fn lease_set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn etcd_opts(server: &EtcdServer, api: EtcdApi, prefix: &str) -> EtcdOptions {
    EtcdOptions {
        // As flannel's flag takes them: without a scheme, comma-separated (the first is not
        // listening), with a trailing slash on the prefix.
        endpoints: vec![format!("127.0.0.1:1,127.0.0.1:{}", server.port())],
        prefix: format!("{prefix}/"),
        api,
        ca_file: server.ca_path().map(Path::to_path_buf),
        cert_file: server.client_cert_path().map(Path::to_path_buf),
        key_file: server.client_key_path().map(Path::to_path_buf),
    }
}

struct Keys<'a> {
    server: &'a EtcdServer,
    v2: bool,
    prefix: &'a str,
}

impl Keys<'_> {
    fn put(&self, key: &str, value: &str) {
        let k = format!("{}{key}", self.prefix);
        if self.v2 {
            self.server.put_v2(&k, value).unwrap()
        } else {
            self.server.put_v3(&k, value).unwrap()
        }
    }
    fn delete(&self, key: &str) {
        let k = format!("{}{key}", self.prefix);
        if self.v2 {
            self.server.delete_v2(&k).unwrap()
        } else {
            self.server.delete_v3(&k).unwrap()
        }
    }
}

/// One-shot, then watching: a lease added, changed and deleted; etcd stopped (down, last good
/// leases kept and marked stale) and restarted (recovered with nothing lost).
async fn etcd_lifecycle(options: TestEtcdOptions, api: EtcdApi, v2_keys: bool, prefix: &str) {
    if let Err(e) = EtcdServer::available() {
        eprintln!("SKIPPED: {e}");
        return;
    }
    let mut server = EtcdServer::start(options).unwrap();
    let keys = Keys { server: &server, v2: v2_keys, prefix };
    keys.put("/config", CONFIG);
    keys.put("/subnets/10.244.0.0-24", &lease_value("192.168.56.10", "6e:1b:a2:7c:4d:10"));
    keys.put("/subnets/10.244.1.0-24", &lease_value("192.168.56.11", "6e:1b:a2:7c:4d:11"));

    let one = facts(EtcdCollector::new(etcd_opts(&server, api, prefix)).collect().await.unwrap());
    assert_eq!(leases(&one), lease_set(&[("10.244.0.0/24", "192.168.56.10"), ("10.244.1.0/24", "192.168.56.11")]));
    let g = Graph::build(one.clone(), vec![], &GraphOptions::default());
    assert_eq!(g.flannel_etcd_config().and_then(|c| c.network).map(|n| n.to_string()).as_deref(), Some("10.244.0.0/16"));

    let c = Arc::new(EtcdCollector::new(etcd_opts(&server, api, prefix)));
    let _h = c.start_watching(noop());
    let mut store = FactStore::new();
    let st = record(&mut store, "etcd", c.collect().await, 100, 0.0, None);
    assert!(st.up, "{st:?}");

    keys.put("/subnets/10.244.2.0-24", &lease_value("192.168.56.12", "6e:1b:a2:7c:4d:12"));
    eventually("lease added", WAIT, || leases(&c.snapshot()).contains(&("10.244.2.0/24".into(), "192.168.56.12".into()))).await;
    keys.put("/subnets/10.244.2.0-24", &lease_value("192.168.56.99", "6e:1b:a2:7c:4d:12"));
    eventually("lease changed", WAIT, || leases(&c.snapshot()).contains(&("10.244.2.0/24".into(), "192.168.56.99".into()))).await;
    keys.delete("/subnets/10.244.0.0-24");
    let good = lease_set(&[("10.244.1.0/24", "192.168.56.11"), ("10.244.2.0/24", "192.168.56.99")]);
    eventually("lease deleted", WAIT, || leases(&c.snapshot()) == good).await;
    let st = record(&mut store, "etcd", c.collect().await, 200, 0.0, None);
    assert!(st.up);

    // Stopped: down, the last good leases kept and marked stale.
    server.stop().unwrap();
    eventually("reported down", WAIT, || !c.status().up).await;
    let outcome = c.collect().await;
    assert!(outcome.is_err(), "collect fails while etcd is down");
    let st = record(&mut store, "etcd", outcome, 300, 0.0, None);
    assert!(!st.up && st.last_success == Some(200), "{st:?}");
    let g = store.snapshot(&GraphOptions::default());
    let kept: BTreeSet<(String, String)> = g.leases().iter().map(|l| (l.lease.subnet.to_string(), l.lease.public_ip.unwrap().to_string())).collect();
    assert_eq!(kept, good, "last good leases kept");
    let stale = g.stale(&g.leases()[0].lease.source).expect("marked stale");
    assert!(stale.contains("etcd is down"), "{stale}");

    // Restarted: recovers with nothing lost, nothing stale.
    server.restart().unwrap();
    eventually("reported up", Duration::from_secs(60), || c.status().up).await;
    let st = record(&mut store, "etcd", c.collect().await, 400, 0.0, None);
    assert!(st.up);
    let g = store.snapshot(&GraphOptions::default());
    let back: BTreeSet<(String, String)> = g.leases().iter().map(|l| (l.lease.subnet.to_string(), l.lease.public_ip.unwrap().to_string())).collect();
    assert_eq!(back, good);
    assert!(g.leases().iter().all(|l| g.stale(&l.lease.source).is_none()));
    // And it watches again.
    let keys = Keys { server: &server, v2: v2_keys, prefix };
    keys.put("/subnets/10.244.3.0-24", &lease_value("192.168.56.13", "6e:1b:a2:7c:4d:13"));
    eventually("watching after restart", WAIT, || leases(&c.snapshot()).len() == 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_v3_found_by_auto_watch_stop_and_restart() {
    etcd_lifecycle(TestEtcdOptions { v2: false, tls: false }, EtcdApi::Auto, false, "/coreos.com/network").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_v2_watch_stop_and_restart() {
    etcd_lifecycle(TestEtcdOptions { v2: true, tls: false }, EtcdApi::V2, true, "/coreos.com/network").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_v3_over_tls_with_client_certificates() {
    etcd_lifecycle(TestEtcdOptions { v2: false, tls: true }, EtcdApi::V3, false, "/flannel/network").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_v2_over_tls_found_by_auto() {
    etcd_lifecycle(TestEtcdOptions { v2: true, tls: true }, EtcdApi::Auto, true, "/coreos.com/network").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_raw_capture_reads_back_and_no_endpoints_is_no_data() {
    match EtcdCollector::new(EtcdOptions::default()).collect().await.unwrap() {
        Collection::NoData(why) => assert_eq!(why, "no etcd configured (--etcd-endpoints)"),
        Collection::Facts(_) => panic!("facts without etcd"),
    }
    if let Err(e) = EtcdServer::available() {
        eprintln!("SKIPPED: {e}");
        return;
    }
    for (v2, api) in [(false, EtcdApi::V3), (true, EtcdApi::V2)] {
        let server = EtcdServer::start(TestEtcdOptions { v2, tls: false }).unwrap();
        let keys = Keys { server: &server, v2, prefix: "/coreos.com/network" };
        keys.put("/config", CONFIG);
        keys.put("/subnets/10.244.0.0-24", &lease_value("192.168.56.10", "6e:1b:a2:7c:4d:10"));
        keys.put("/subnets/10.244.1.0-24", "not json");
        let dir = tempfile::tempdir().unwrap();
        let live = facts(EtcdCollector::new(etcd_opts(&server, api, "/coreos.com/network")).capture(dir.path()).await.unwrap());
        let back = capture::read(dir.path(), &ReadOptions::default()).unwrap();
        assert_same(&cluster_view(&live), &cluster_view(&back));
        assert_eq!(live.leases().count(), 1);
        let why = live.cluster_unavailable(FactKind::FlannelEtcd).unwrap();
        assert!(why.contains("10.244.1.0-24") && why.contains("not JSON"), "{why}");
    }
}

// ---------------------------------------------------------------------------
// write_cluster: facts back to capture files

#[test]
fn write_cluster_reads_back_to_the_same_cluster_facts_for_every_example_capture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/captures");
    let mut dirs: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    assert!(dirs.len() >= 5);
    for dir in dirs {
        let set = capture::read(&dir, &ReadOptions::default()).unwrap();
        let out = tempfile::tempdir().unwrap();
        netdoctor_collectors::write::cluster::write_cluster(out.path(), &set).unwrap();
        let back = capture::read(out.path(), &ReadOptions::default()).unwrap();
        println!("{}: {} errors, {} notes", dir.display(), back.errors().len(), back.notes().len());
        assert!(back.errors().is_empty(), "{}: {:?}", dir.display(), back.errors());
        assert_same(&cluster_view(&set), &cluster_view(&back));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_cluster_of_a_watching_collector_reads_back() {
    let server = TestApiServer::start(ApiServerOptions { calico_crds: true, ..Default::default() }).unwrap();
    server.load_dir(CALICO).unwrap();
    let kc = server.write_kubeconfig().unwrap();
    let c = k8s(&server, kc.path(), 500);
    let _h = c.start_watching(noop()).await.unwrap();
    let live = facts(c.collect().await.unwrap());
    let out = tempfile::tempdir().unwrap();
    netdoctor_collectors::write::cluster::write_cluster(out.path(), &live).unwrap();
    let back = capture::read(out.path(), &ReadOptions::default()).unwrap();
    assert_same(&cluster_view(&live), &cluster_view(&back));
}
