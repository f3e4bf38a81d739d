//! `cargo bench -p netdoctor-collectors --bench k8s_memory`: 150,000 realistic
//! Pod objects (metadata with managedFields, labels, owner, a container with
//! env, probes, resources and mounts, four status conditions, container
//! statuses: about 6 KB of JSON each, as the API serves them) go through what
//! the k8s collector does with a page: the page is read item by item
//! (`read_page`) into `RawObject`s (JSON values, managedFields skipped
//! unparsed), each gets
//! its `kind` (`RawObject::into_value`), is projected
//! (`k8s::project`) and applied to a `FactSet`; only the compact facts stay.
//!
//! It reports resident bytes per pod (RSS growth from `/proc/self/statm`,
//! the pages generated 500 at a time and dropped) and the time spent parsing
//! and projecting, then, for contrast, what keeping 10,000 whole
//! `DynamicObject`s costs per pod (a kube-rs reflector's store).
//! Under `cargo test` (`--bench` not passed) it runs on 2,000 pods.

use kube::api::{DynamicObject, ObjectList};
use netdoctor_collectors::k8s::{project, Item};
use netdoctor_collectors::live::cluster::k8s::read_page;
use netdoctor_engine::kind::FactKind;
use netdoctor_engine::store::FactSet;
use netdoctor_engine::Source;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PAGE: usize = 500;

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = s.split_whitespace().nth(1).and_then(|x| x.parse().ok()).expect("statm resident");
    pages * 4096
}

fn hex(i: usize, salt: u64, len: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    let mut out = String::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push_str(&format!("{x:016x}"));
    }
    out.truncate(len);
    out
}

/// One Pod as the API serves it in a list (no kind/apiVersion on items).
fn pod(i: usize) -> Value {
    let app = i % 5000;
    let ns = format!("team-{}", i % 200);
    let node = format!("node-{:04}", i % 500);
    let hash = hex(app, 1, 10);
    let ip = format!("10.{}.{}.{}", 64 + (i % 500) / 256, (i % 500) % 256, i / 500 % 250 + 2);
    let t0 = "2026-11-02T08:14:51Z";
    let conditions: Vec<Value> = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-02T08:15:03Z"}))
        .collect();
    json!({
        "metadata": {
            "name": format!("app-{app}-{hash}-{}", hex(i, 2, 5)),
            "generateName": format!("app-{app}-{hash}-"),
            "namespace": ns,
            "uid": format!("{}-{}-{}-{}-{}", hex(i, 3, 8), hex(i, 4, 4), hex(i, 5, 4), hex(i, 6, 4), hex(i, 7, 12)),
            "resourceVersion": (100_000 + i).to_string(),
            "creationTimestamp": t0,
            "labels": {"app.kubernetes.io/name": format!("app-{app}"), "app.kubernetes.io/part-of": format!("system-{}", app % 40), "pod-template-hash": hash, "tier": "backend"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-01T10:00:00Z", "prometheus.io/scrape": "true", "prometheus.io/port": "9102"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("app-{app}-{hash}"), "uid": hex(app, 8, 36), "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": t0, "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app.kubernetes.io/name": {}, "f:pod-template-hash": {}, "f:tier": {}},
                   "f:ownerReferences": {".": {}, format!("k:{{\"uid\":\"{}\"}}", hex(app, 8, 36)): {}}},
                   "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {".": {}, "k:{\"name\":\"LOG_LEVEL\"}": {".": {}, "f:name": {}, "f:value": {}}},
                     "f:image": {}, "f:imagePullPolicy": {}, "f:livenessProbe": {".": {}, "f:httpGet": {".": {}, "f:path": {}, "f:port": {}, "f:scheme": {}}},
                     "f:name": {}, "f:ports": {".": {}, "k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:name": {}, "f:protocol": {}}},
                     "f:resources": {".": {}, "f:limits": {".": {}, "f:memory": {}}, "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}}}}},
                     "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:restartPolicy": {}, "f:schedulerName": {}, "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}}}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-11-02T08:15:03Z", "fieldsType": "FieldsV1", "subresource": "status",
                 "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"ContainersReady\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                   "k:{\"type\":\"Initialized\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                   "k:{\"type\":\"Ready\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}},
                   "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {".": {}, format!("k:{{\"ip\":\"{ip}\"}}"): {".": {}, "f:ip": {}}}, "f:startTime": {}}}}
            ]
        },
        "spec": {
            "containers": [{
                "name": "app", "image": format!("registry.example.com/team-{}/app-{app}:1.{}.{}", i % 200, app % 17, app % 5), "imagePullPolicy": "IfNotPresent",
                "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}, {"containerPort": 9102, "name": "metrics", "protocol": "TCP"}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "failureThreshold": 3, "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "failureThreshold": 3, "periodSeconds": 5, "successThreshold": 1, "timeoutSeconds": 1},
                "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": format!("kube-api-access-{}", hex(i, 9, 5)), "readOnly": true}]
            }],
            "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "nodeName": node, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
            "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {}, "serviceAccount": "default", "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}],
            "volumes": [{"name": format!("kube-api-access-{}", hex(i, 9, 5)), "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
                {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}]}}]
        },
        "status": {
            "phase": "Running", "conditions": conditions, "hostIP": format!("192.168.{}.{}", (i % 500) / 250, (i % 500) % 250 + 2),
            "podIP": ip, "podIPs": [{"ip": ip}], "qosClass": "Burstable", "startTime": t0,
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": (i % 3), "started": true,
                "image": format!("registry.example.com/team-{}/app-{app}:1.{}.{}", i % 200, app % 17, app % 5),
                "imageID": format!("registry.example.com/team-{}/app-{app}@sha256:{}", i % 200, hex(app, 10, 64)),
                "containerID": format!("containerd://{}", hex(i, 11, 64)),
                "lastState": {}, "state": {"running": {"startedAt": "2026-11-02T08:15:02Z"}}}]
        }
    })
}

/// One page of the list as the API sends it.
fn page_bytes(from: usize, to: usize) -> Vec<u8> {
    let items: Vec<Value> = (from..to).map(pod).collect();
    serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "250000"}, "items": items})).unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--variant") {
        return variant(&args[i + 1], 50_000);
    }
    let full = args.iter().any(|a| a == "--bench");
    let n = if full { 150_000 } else { 2_000 };
    let wire = page_bytes(0, 1).len() - page_bytes(0, 0).len();
    let source = Source::live("k8s", 0);
    let mut set = FactSet::new();
    set.collected(FactKind::Pods, source.clone());
    // Warm up allocator arenas and lazy statics with one page, kept out of the figures.
    read_page(&page_bytes(0, PAGE), &mut |_| {}).unwrap();
    let before = rss_bytes();
    let mut spent = Duration::ZERO;
    let mut from = 0;
    while from < n {
        let to = (from + PAGE).min(n);
        let bytes = page_bytes(from, to);
        let t = Instant::now();
        read_page(&bytes, &mut |obj| {
            let v = obj.into_value("Pod", "v1");
            match project(&v, "Pod", &source).unwrap() {
                Item::Object(o) => {
                    set.apply(o);
                }
                other => panic!("{other:?}"),
            }
        })
        .unwrap();
        spent += t.elapsed();
        from = to;
    }
    let after = rss_bytes();
    assert_eq!(set.count(FactKind::Pods), n);
    let per_pod = (after.saturating_sub(before)) as f64 / n as f64;
    println!("k8s projection of {n} Pods ({wire} bytes of JSON each, with managedFields), pages of {PAGE}:");
    println!("  resident growth  {:>8.1} MiB   {per_pod:>7.0} bytes/pod (budget 2048)", (after - before) as f64 / (1 << 20) as f64);
    println!("  parse+project    {:>8.2} s     {:>7.1} µs/pod", spent.as_secs_f64(), spent.as_secs_f64() * 1e6 / n as f64);

    // Contrast: whole objects as a reflector keeps them.
    let m = if full { 10_000 } else { 1_000 };
    let before = rss_bytes();
    let mut kept: Vec<DynamicObject> = Vec::with_capacity(m);
    let mut from = 0;
    while from < m {
        let to = (from + PAGE).min(m);
        let page: ObjectList<DynamicObject> = serde_json::from_slice(&page_bytes(n + from, n + to)).unwrap();
        kept.extend(page.items);
        from = to;
    }
    let whole = (rss_bytes().saturating_sub(before)) as f64 / m as f64;
    println!("  for contrast, {m} whole DynamicObjects kept: {whole:.0} bytes/pod ({:.1}x)", whole / per_pod.max(1.0));
    assert_eq!(kept.len(), m);
    if per_pod >= 2048.0 {
        println!("  OVER the 2 KiB aim by {:.0} bytes/pod", per_pod - 2048.0);
    }
    if full {
        // Where the bytes go: the same pods without some fields, each in a fresh process.
        println!("  where a pod's bytes go (50,000 pods each, fresh process):");
        let exe = std::env::current_exe().unwrap();
        let mut base = 0.0;
        for variant in ["full", "no-labels", "no-conditions", "no-labels-no-conditions"] {
            let out = std::process::Command::new(&exe).args(["--variant", variant]).output().unwrap();
            let b: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(f64::NAN);
            if variant == "full" {
                base = b;
                println!("    {variant:<26} {b:>6.0} bytes/pod");
            } else {
                println!("    {variant:<26} {b:>6.0} bytes/pod  ({:+.0})", b - base);
            }
        }
    }
}

/// One measurement in this process: `n` pods, some fields removed; prints bytes/pod.
fn variant(name: &str, n: usize) {
    let source = Source::live("k8s", 0);
    let mut set = FactSet::new();
    read_page(&page_bytes(0, PAGE), &mut |_| {}).unwrap();
    let before = rss_bytes();
    let mut from = 0;
    while from < n {
        let to = (from + PAGE).min(n);
        read_page(&page_bytes(from, to), &mut |obj| {
            let mut v = obj.into_value("Pod", "v1");
            if name.contains("no-labels") {
                v["metadata"].as_object_mut().unwrap().remove("labels");
            }
            if name.contains("no-conditions") {
                v["status"].as_object_mut().unwrap().remove("conditions");
            }
            if let Ok(Item::Object(o)) = project(&v, "Pod", &source) {
                set.apply(o);
            }
        })
        .unwrap();
        from = to;
    }
    println!("{:.0}", (rss_bytes() - before) as f64 / n as f64);
}
