//! `cargo bench --bench read`: reads a capture holding one `kubectl get pods -A -o json`
//! List of 150,000 pods (about 700 MB, realistic fields, kubectl's 4-space indent)
//! with the release binary, and prints wall time and peak memory (via
//! /usr/bin/time when present). Under `cargo test` it runs on 1,000 pods.

use serde_json::json;
use std::io::Write;
use std::process::Command;
use std::time::Instant;

fn pod(i: usize) -> serde_json::Value {
    let n = i % 500;
    let ip = format!("10.{}.{}.{}", 64 + n / 256, n % 256, i / 500 % 250 + 2);
    let conditions: Vec<_> = ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "lastTransitionTime": "2024-01-01T00:00:00Z", "lastProbeTime": null}))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("app-{i}"), "namespace": format!("ns-{}", i % 200), "uid": format!("0000-{i}"), "resourceVersion": (1000 + i).to_string(),
            "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": format!("app-{}", i % 5000), "pod-template-hash": "abc123"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("app-{}-abc123", i % 5000), "uid": "x", "controller": true, "blockOwnerDeletion": true}]},
        "spec": {"nodeName": format!("node-{n:04}"), "containers": [{"name": "app", "image": "registry.example/app:1.2.3",
            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}], "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]}],
            "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "serviceAccountName": "default",
            "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300}]},
        "status": {"phase": "Running", "hostIP": "10.0.0.1", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": "2024-01-01T00:00:00Z", "qosClass": "Burstable",
            "conditions": conditions,
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "started": true, "image": "registry.example/app:1.2.3",
                "imageID": "sha256:abc", "containerID": "containerd://abc", "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}, "lastState": {}}]}
    })
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let pods = if full { 150_000 } else { 1_000 };
    let dir = std::env::temp_dir().join(format!("netdoctor-read-bench-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("cluster")).unwrap();
    let file = dir.join("cluster/pods.json");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        w.write_all(b"{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n").unwrap();
        for i in 0..pods {
            if i > 0 {
                w.write_all(b",\n").unwrap();
            }
            let mut ser = serde_json::Serializer::with_formatter(&mut w, serde_json::ser::PrettyFormatter::with_indent(b"    "));
            serde::Serialize::serialize(&pod(i), &mut ser).unwrap();
        }
        w.write_all(b"\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\"resourceVersion\": \"\"}\n}\n").unwrap();
    }
    let size = std::fs::metadata(&file).unwrap().len() as f64 / 1e6;
    let bin = env!("CARGO_BIN_EXE_netdoctor");
    let args = ["eval", "--capture", dir.to_str().unwrap(), "--format", "json"];
    let timer = std::path::Path::new("/usr/bin/time");
    let start = Instant::now();
    let out = if timer.exists() {
        Command::new(timer).args(["-f", "%M"]).arg(bin).args(args).output().unwrap()
    } else {
        Command::new(bin).args(args).output().unwrap()
    };
    let secs = start.elapsed().as_secs_f64();
    let peak = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .map(|kb| format!("{:.0} MiB", kb / 1024.0))
        .unwrap_or_else(|| "n/a".into());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("eval JSON");
    assert_eq!(report["stats"]["facts"]["pods"], pods, "every pod read");
    println!("{:>8} {:>10} {:>10} {:>12} {:>14}", "pods", "file MB", "wall s", "peak RSS", "peak/file");
    let ratio = peak.trim_end_matches(" MiB").parse::<f64>().map(|m| format!("{:.2}x", m * 1.048576 / size)).unwrap_or_default();
    println!("{pods:>8} {size:>10.0} {secs:>10.2} {peak:>12} {ratio:>14}");
    std::fs::remove_dir_all(dir).unwrap();
}
