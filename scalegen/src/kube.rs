//! `cluster/` (what `kubectl get ... -o json` prints: a `List` with keys in
//! kubectl's sorted order and 4-space indent), `etcd/flannel.json` (`etcdctl
//! get --prefix /coreos.com/network -w json`) and `meta.json`. Lists are
//! streamed item by item. System pods, Nodes and ConfigMaps start from the
//! real objects of examples/captures/healthy-flannel (templates/).

use crate::model::{rfc3339, Cluster, PodKind, PodState, Service, CAPTURED_AT, CAPTURED_AT_UNIX, SERVICE_CIDR};
use crate::rng::Rng;
use crate::Proxy;
use base64::Engine;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where files go, and how many and how big they were.
pub struct Out {
    pub dir: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

/// A file being written: counts its bytes.
pub struct Sink<'a> {
    w: BufWriter<File>,
    out: &'a mut Out,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.w.write(buf)?;
        self.out.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

impl Out {
    pub fn new(dir: &Path) -> Out {
        Out { dir: dir.to_path_buf(), files: 0, bytes: 0 }
    }

    /// Creates `rel` (and its folders) for writing.
    pub fn create(&mut self, rel: &str) -> std::io::Result<Sink<'_>> {
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let f = File::create(&path).map_err(|e| std::io::Error::new(e.kind(), format!("creating {}: {e}", path.display())))?;
        self.files += 1;
        Ok(Sink { w: BufWriter::with_capacity(1 << 20, f), out: self })
    }

    pub fn write_file(&mut self, rel: &str, text: &[u8]) -> std::io::Result<()> {
        let mut s = self.create(rel)?;
        s.write_all(text)?;
        s.flush()
    }
}

/// Streams a kubectl `List`: header, items at two levels of indent, trailer.
pub struct ListWriter<W: Write> {
    w: W,
    first: bool,
    buf: Vec<u8>,
}

impl<W: Write> ListWriter<W> {
    pub fn new(mut w: W) -> std::io::Result<Self> {
        w.write_all(b"{\n    \"apiVersion\": \"v1\",\n    \"items\": [\n")?;
        Ok(ListWriter { w, first: true, buf: Vec::with_capacity(64 << 10) })
    }

    /// Appends one object (its keys get sorted, as kubectl prints them).
    pub fn push(&mut self, mut v: Value) -> std::io::Result<()> {
        v.sort_all_objects();
        self.buf.clear();
        let mut ser = serde_json::Serializer::with_formatter(&mut self.buf, serde_json::ser::PrettyFormatter::with_indent(b"    "));
        serde::Serialize::serialize(&v, &mut ser).map_err(std::io::Error::other)?;
        if !self.first {
            self.w.write_all(b",\n")?;
        }
        self.first = false;
        for (i, line) in self.buf.split(|&b| b == b'\n').enumerate() {
            if i > 0 {
                self.w.write_all(b"\n")?;
            }
            self.w.write_all(b"        ")?;
            self.w.write_all(line)?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        if !self.first {
            self.w.write_all(b"\n")?;
        }
        self.w.write_all(b"    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n")?;
        self.w.flush()
    }
}

/// A template of templates/ with `@PLACEHOLDERS@` replaced, parsed.
fn template(text: &str, subs: &[(&str, &str)]) -> Value {
    let mut t = text.to_string();
    for (k, v) in subs {
        t = t.replace(k, v);
    }
    serde_json::from_str(&t).expect("templates are valid JSON")
}

const T_NODE_MASTER: &str = include_str!("templates/node-master.json");
const T_NODE_WORKER: &str = include_str!("templates/node-worker.json");
const T_CONFIGMAPS: &str = include_str!("templates/configmaps.json");
const T_FLANNEL: &str = include_str!("templates/pod-kube-flannel.json");
const T_PROXY: &str = include_str!("templates/pod-kube-proxy.json");
const T_COREDNS: &str = include_str!("templates/pod-coredns.json");

fn static_template(name: &str) -> &'static str {
    match name {
        "etcd" => include_str!("templates/pod-etcd.json"),
        "kube-apiserver" => include_str!("templates/pod-kube-apiserver.json"),
        "kube-controller-manager" => include_str!("templates/pod-kube-controller-manager.json"),
        _ => include_str!("templates/pod-kube-scheduler.json"),
    }
}

/// resourceVersions grow as objects are written, as in a real etcd.
struct Rv(u64);

impl Rv {
    fn next(&mut self) -> String {
        self.0 += 1 + self.0 % 7;
        self.0.to_string()
    }
}

pub fn write_cluster(c: &Cluster, out: &mut Out) -> std::io::Result<()> {
    let mut rv = Rv(1000);
    let mut rng = Rng::new(c.seed).fork(100);
    write_meta(c, out)?;
    write_nodes(c, out, &mut rng, &mut rv)?;
    write_pods(c, out, &mut rng, &mut rv)?;
    write_services(c, out, &mut rv)?;
    write_endpoint_slices(c, out, &mut rng, &mut rv)?;
    write_configmaps(c, out, &mut rng, &mut rv)?;
    write_etcd(c, out)
}

fn write_meta(c: &Cluster, out: &mut Out) -> std::io::Result<()> {
    let meta = json!({"captured_at": CAPTURED_AT, "cluster": c.name, "format": "netdoctor-capture/v1"});
    let mut text = serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other)?;
    text.push(b'\n');
    out.write_file("meta.json", &text)
}

fn write_nodes(c: &Cluster, out: &mut Out, rng: &mut Rng, rv: &mut Rv) -> std::io::Result<()> {
    let mut list = ListWriter::new(out.create("cluster/nodes.json")?)?;
    let heartbeat = rfc3339(CAPTURED_AT_UNIX - 180 - rng.below(60) as i64);
    for n in &c.nodes {
        let ip = n.ip.to_string();
        let cidr = n.cidr();
        let t = if n.master { T_NODE_MASTER } else { T_NODE_WORKER };
        let mut v = template(t, &[("@NODE_IP@", &ip), ("@POD_CIDR@", &cidr), ("@NODE@", &n.name)]);
        v["metadata"]["uid"] = json!(n.uid);
        v["metadata"]["resourceVersion"] = json!(rv.next());
        v["metadata"]["creationTimestamp"] = json!(rfc3339(n.created));
        let info = &mut v["status"]["nodeInfo"];
        info["bootID"] = json!(rng.uid());
        info["machineID"] = json!(rng.hex(32));
        info["systemUUID"] = json!(rng.uid().to_uppercase());
        let since = rfc3339(CAPTURED_AT_UNIX - 7 * 86_400 + 2 * 3600 + rng.below(600) as i64);
        // NotReady for 2m20s: within the 300 s its pods tolerate, so they still exist, not Ready
        let lost = rfc3339(CAPTURED_AT_UNIX - 140);
        for cond in v["status"]["conditions"].as_array_mut().expect("conditions") {
            cond["lastTransitionTime"] = json!(since);
            cond["lastHeartbeatTime"] = json!(heartbeat);
            if !n.ready {
                // the kubelet stopped posting status: the node controller sets every condition Unknown
                cond["lastTransitionTime"] = json!(lost);
                cond["lastHeartbeatTime"] = json!(rfc3339(CAPTURED_AT_UNIX - 190));
                cond["status"] = json!("Unknown");
                cond["reason"] = json!("NodeStatusUnknown");
                cond["message"] = json!("Kubelet stopped posting node status.");
            }
        }
        if !n.ready {
            let taints = v["spec"].as_object_mut().expect("spec").entry("taints").or_insert_with(|| json!([]));
            let taints = taints.as_array_mut().expect("taints");
            taints.push(json!({"effect": "NoSchedule", "key": "node.kubernetes.io/unreachable", "timeAdded": lost}));
            taints.push(json!({"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "timeAdded": lost}));
        }
        list.push(v)?;
    }
    list.finish()
}

/// Gives every container status its own container ID.
fn fresh_container_ids(v: &mut Value, rng: &mut Rng) {
    for key in ["containerStatuses", "initContainerStatuses"] {
        if let Some(list) = v["status"][key].as_array_mut() {
            for cs in list {
                let id = format!("containerd://{}", rng.hex(64));
                if cs.get("containerID").is_some() {
                    cs["containerID"] = json!(id);
                }
                if let Some(t) = cs["state"].get_mut("terminated") {
                    t["containerID"] = json!(id);
                }
                if let Some(t) = cs["lastState"].get_mut("terminated") {
                    t["containerID"] = json!(format!("containerd://{}", rng.hex(64)));
                }
            }
        }
    }
}

fn set_times(v: &mut Value, created: i64, started: i64) {
    v["metadata"]["creationTimestamp"] = json!(rfc3339(created));
    let st = rfc3339(started);
    let status = &mut v["status"];
    status["startTime"] = json!(st);
    if let Some(conds) = status["conditions"].as_array_mut() {
        for cond in conds {
            cond["lastTransitionTime"] = json!(st);
        }
    }
    for key in ["containerStatuses", "initContainerStatuses"] {
        if let Some(list) = status[key].as_array_mut() {
            for cs in list {
                if let Some(r) = cs["state"].get_mut("running") {
                    r["startedAt"] = json!(st);
                }
                if let Some(t) = cs["state"].get_mut("terminated") {
                    t["startedAt"] = json!(st);
                    t["finishedAt"] = json!(st);
                }
            }
        }
    }
}

/// The node controller marked the pod not Ready (its node stopped reporting).
fn mark_node_lost(v: &mut Value) {
    let lost = rfc3339(CAPTURED_AT_UNIX - 135);
    for cond in v["status"]["conditions"].as_array_mut().expect("conditions") {
        if cond["type"] == "Ready" {
            cond["status"] = json!("False");
            cond["lastTransitionTime"] = json!(lost);
        }
    }
}

/// Readiness probe failing: container running, not ready.
fn mark_unready(v: &mut Value, containers: &str, since: i64) {
    for cond in v["status"]["conditions"].as_array_mut().expect("conditions") {
        if cond["type"] == "Ready" || cond["type"] == "ContainersReady" {
            cond["status"] = json!("False");
            cond["reason"] = json!("ContainersNotReady");
            cond["message"] = json!(format!("containers with unready status: [{containers}]"));
            cond["lastTransitionTime"] = json!(rfc3339(since));
        }
    }
    for cs in v["status"]["containerStatuses"].as_array_mut().expect("containerStatuses") {
        cs["ready"] = json!(false);
    }
}

fn write_pods(c: &Cluster, out: &mut Out, rng: &mut Rng, rv: &mut Rv) -> std::io::Result<()> {
    let mut list = ListWriter::new(out.create("cluster/pods.json")?)?;
    let master_ip = c.nodes[0].ip.to_string();
    let pod_net = c.pod_net.cidr();
    let node_net = format!("{}/{}", crate::model::NODE_NET, crate::model::NODE_PREFIX);
    for p in &c.pods {
        let node = &c.nodes[p.node as usize];
        let node_ip = node.ip.to_string();
        let pod_ip = p.ip.map(|ip| ip.to_string()).unwrap_or_default();
        let sfx = p.name.rsplit('-').next().unwrap_or_default();
        let subs: Vec<(&str, &str)> = vec![
            ("@NODE_IP@", &node_ip),
            ("@MASTER_IP@", &master_ip),
            ("@POD_IP@", &pod_ip),
            ("@POD_NET@", &pod_net),
            ("@NODE_NET@", &node_net),
            ("@RS@", &c.coredns_rs.0),
            ("@SFX@", sfx),
            ("@NODE@", &node.name),
        ];
        let started = p.created + 1;
        let mut v = match p.kind {
            PodKind::Static(name) => {
                let mut v = template(static_template(name), &subs);
                v["metadata"]["ownerReferences"][0]["uid"] = json!(node.uid);
                let hash = rng.hex(32);
                v["metadata"]["annotations"]["kubernetes.io/config.hash"] = json!(hash);
                v["metadata"]["annotations"]["kubernetes.io/config.mirror"] = json!(hash);
                v
            }
            PodKind::Flannel | PodKind::KubeProxy => {
                let (t, owner) = if p.kind == PodKind::Flannel { (T_FLANNEL, &c.flannel_ds_uid) } else { (T_PROXY, &c.proxy_ds_uid) };
                let mut v = template(t, &subs);
                v["metadata"]["ownerReferences"][0]["uid"] = json!(owner);
                set_times(&mut v, p.created, node.created + 60);
                v
            }
            PodKind::CoreDns => {
                let mut v = template(T_COREDNS, &subs);
                v["metadata"]["ownerReferences"][0]["uid"] = json!(c.coredns_rs.1);
                set_times(&mut v, p.created, CAPTURED_AT_UNIX - 7 * 86_400 + 2 * 3600 + 300);
                v
            }
            PodKind::MetricsServer => {
                let rs = if p.state == PodState::Evicted { &c.metrics_old_rs } else { &c.metrics_rs };
                app_pod(
                    c,
                    p,
                    "kube-system",
                    "metrics-server",
                    &rs.0,
                    &rs.1,
                    "registry.k8s.io/metrics-server/metrics-server:v0.7.1",
                    &[("https", 10250, "TCP")],
                    started,
                    rng,
                )
            }
            PodKind::App(d) => {
                let dep = &c.deployments[d as usize];
                let ports: Vec<(&str, u16, &str)> = dep.ports.iter().map(|cp| (cp.name, cp.port, cp.proto)).collect();
                app_pod(c, p, c.ns(dep.ns), &dep.name, &dep.rs_hash, &dep.rs_uid, dep.image, &ports, started, rng)
            }
        };
        v["metadata"]["uid"] = json!(p.uid);
        v["metadata"]["resourceVersion"] = json!(rv.next());
        fresh_container_ids(&mut v, rng);
        match p.state {
            PodState::Ready | PodState::Evicted => {}
            PodState::NodeLost => mark_node_lost(&mut v),
            PodState::Unready => {
                let name = v["spec"]["containers"][0]["name"].as_str().unwrap_or_default().to_string();
                mark_unready(&mut v, &name, CAPTURED_AT_UNIX - 2 * 3600 - rng.below(1800) as i64);
            }
            PodState::CrashLoop => {
                let since = CAPTURED_AT_UNIX - 5400;
                mark_unready(&mut v, "coredns", since);
                let cs = &mut v["status"]["containerStatuses"][0];
                cs["restartCount"] = json!(23);
                cs["started"] = json!(false);
                cs["state"] = json!({"waiting": {
                    "message": format!("back-off 5m0s restarting failed container=coredns pod={}_kube-system({})", p.name, p.uid),
                    "reason": "CrashLoopBackOff"}});
                cs["lastState"] = json!({"terminated": {
                    "containerID": format!("containerd://{}", rng.hex(64)), "exitCode": 1,
                    "finishedAt": rfc3339(CAPTURED_AT_UNIX - 140), "reason": "Error", "startedAt": rfc3339(CAPTURED_AT_UNIX - 141)}});
            }
        }
        list.push(v)?;
    }
    list.finish()
}

fn kube_api_volume(rng: &mut Rng) -> (String, Value) {
    let name = format!("kube-api-access-{}", rng.suffix(5));
    let vol = json!({"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"items": [{"key": "ca.crt", "path": "ca.crt"}], "name": "kube-root-ca.crt"}},
        {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}}]}});
    (name, vol)
}

/// A Deployment's replica, as the API server stores it.
#[allow(clippy::too_many_arguments)]
fn app_pod(
    c: &Cluster,
    p: &crate::model::Pod,
    ns: &str,
    app: &str,
    rs_hash: &str,
    rs_uid: &str,
    image: &str,
    ports: &[(&str, u16, &str)],
    started: i64,
    rng: &mut Rng,
) -> Value {
    let node = &c.nodes[p.node as usize];
    let system = ns == "kube-system";
    let (label_key, sa) = if system { ("k8s-app", "metrics-server") } else { ("app", "default") };
    let container = image.rsplit('/').next().unwrap_or(image).split(':').next().unwrap_or(app);
    let (vol_name, vol) = kube_api_volume(rng);
    let st = rfc3339(started);
    let cports: Vec<Value> = ports.iter().map(|(name, port, proto)| json!({"containerPort": port, "name": name, "protocol": proto})).collect();
    let probe_port = ports[0].1;
    let mut container_spec = json!({
        "image": image, "imagePullPolicy": "IfNotPresent", "name": container, "ports": cports,
        "readinessProbe": {"failureThreshold": 3, "httpGet": {"path": if system { "/readyz" } else { "/healthz" }, "port": probe_port, "scheme": if system { "HTTPS" } else { "HTTP" }},
            "periodSeconds": 10, "successThreshold": 1, "timeoutSeconds": 1},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "name": vol_name, "readOnly": true}]});
    if system {
        container_spec["args"] = json!([
            "--cert-dir=/tmp",
            "--secure-port=10250",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s"
        ]);
    }
    let mut v = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "creationTimestamp": rfc3339(p.created), "generateName": format!("{app}-{rs_hash}-"),
            "labels": {label_key: app, "pod-template-hash": rs_hash},
            "name": p.name, "namespace": ns,
            "ownerReferences": [{"apiVersion": "apps/v1", "blockOwnerDeletion": true, "controller": true, "kind": "ReplicaSet", "name": format!("{app}-{rs_hash}"), "uid": rs_uid}],
        },
        "spec": {
            "containers": [container_spec],
            "dnsPolicy": "ClusterFirst", "enableServiceLinks": true, "nodeName": node.name,
            "preemptionPolicy": "PreemptLowerPriority", "priority": if system { 2_000_000_000 } else { 0 },
            "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {},
            "serviceAccount": sa, "serviceAccountName": sa, "terminationGracePeriodSeconds": 30,
            "tolerations": [
                {"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane", "operator": "Exists"},
                {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
                {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}],
            "volumes": [vol],
        },
    });
    if system {
        v["spec"]["priorityClassName"] = json!("system-cluster-critical");
    }
    if p.state == PodState::Evicted {
        v["status"] = json!({
            "hostIP": node.ip.to_string(), "message": "The node was low on resource: ephemeral-storage. Threshold quantity: 3739996938, available: 3401784Ki. Container metrics-server was using 212Ki, request is 0, has larger consumption of ephemeral-storage. ",
            "phase": "Failed", "qosClass": "Burstable", "reason": "Evicted", "startTime": st});
        return v;
    }
    let ip = p.ip.expect("app pods have an IP").to_string();
    let image_id = format!("{}@sha256:{}", image.split(':').next().unwrap_or(image), Rng::new(image.len() as u64 ^ c.seed).hex(64));
    v["status"] = json!({
        "conditions": [
            {"lastProbeTime": null, "lastTransitionTime": st, "status": "True", "type": "Initialized"},
            {"lastProbeTime": null, "lastTransitionTime": rfc3339(started + 4), "status": "True", "type": "Ready"},
            {"lastProbeTime": null, "lastTransitionTime": rfc3339(started + 4), "status": "True", "type": "ContainersReady"},
            {"lastProbeTime": null, "lastTransitionTime": rfc3339(p.created), "status": "True", "type": "PodScheduled"}],
        "containerStatuses": [{"containerID": "", "image": image, "imageID": image_id, "lastState": {}, "name": container, "ready": true,
            "restartCount": 0, "started": true, "state": {"running": {"startedAt": rfc3339(started + 1)}}}],
        "hostIP": node.ip.to_string(), "hostIPs": [{"ip": node.ip.to_string()}],
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "qosClass": "Burstable", "startTime": st});
    v
}

fn service_json(c: &Cluster, s: &Service, rv: &mut Rv) -> Value {
    let ports: Vec<Value> = s
        .ports
        .iter()
        .map(|p| {
            let mut v = json!({"name": p.name, "port": p.port, "protocol": p.proto, "targetPort": p.target});
            if let Some(np) = p.node_port {
                v["nodePort"] = json!(np);
            }
            v
        })
        .collect();
    let kind = if s.node_port() { "NodePort" } else { "ClusterIP" };
    let mut spec = json!({"clusterIP": s.ip.to_string(), "clusterIPs": [s.ip.to_string()], "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": ports, "sessionAffinity": "None", "type": kind});
    if let Some((k, v)) = &s.selector {
        spec["selector"] = json!({*k: v});
    }
    if s.node_port() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    let mut meta = json!({"creationTimestamp": rfc3339(s.created), "labels": labels(&s.labels), "name": s.name, "namespace": c.ns(s.ns),
        "resourceVersion": rv.next(), "uid": s.uid});
    if !s.annotations.is_empty() {
        meta["annotations"] = Value::Object(s.annotations.iter().map(|(k, v)| (k.to_string(), json!(v))).collect());
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec, "status": {"loadBalancer": {}}})
}

fn labels(l: &[(&str, String)]) -> Value {
    Value::Object(l.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

fn write_services(c: &Cluster, out: &mut Out, rv: &mut Rv) -> std::io::Result<()> {
    let mut list = ListWriter::new(out.create("cluster/services.json")?)?;
    for s in &c.services {
        list.push(service_json(c, s, rv))?;
    }
    list.finish()
}

fn write_endpoint_slices(c: &Cluster, out: &mut Out, rng: &mut Rng, rv: &mut Rv) -> std::io::Result<()> {
    let mut list = ListWriter::new(out.create("cluster/endpointslices.json")?)?;
    for s in &c.services {
        let ports: Vec<Value> = s.ports.iter().map(|p| json!({"name": p.name, "port": p.target, "protocol": p.proto})).collect();
        let ns = c.ns(s.ns);
        if s.selector.is_none() {
            // default/kubernetes: written by the API server itself
            let eps: Vec<Value> = s.endpoints.iter().map(|e| json!({"addresses": [e.ip.to_string()], "conditions": {"ready": true}})).collect();
            list.push(json!({"addressType": "IPv4", "apiVersion": "discovery.k8s.io/v1", "endpoints": eps, "kind": "EndpointSlice",
                "metadata": {"creationTimestamp": rfc3339(s.created), "generation": 1, "labels": {"kubernetes.io/service-name": s.name},
                    "name": s.name, "namespace": ns, "resourceVersion": rv.next(), "uid": rng.uid()},
                "ports": ports}))?;
            continue;
        }
        let mut eps: Vec<&crate::model::Endpoint> = s.endpoints.iter().collect();
        eps.sort_by_key(|e| e.ip);
        let chunks: Vec<&[&crate::model::Endpoint]> = if eps.is_empty() { vec![&[]] } else { eps.chunks(100).collect() };
        for chunk in chunks {
            let endpoints: Vec<Value> = chunk
                .iter()
                .map(|e| {
                    let pod = &c.pods[e.pod.expect("selected endpoints are pods") as usize];
                    let serving = e.ready || pod.state == PodState::NodeLost;
                    json!({"addresses": [e.ip.to_string()], "conditions": {"ready": e.ready, "serving": serving, "terminating": false},
                        "nodeName": c.nodes[pod.node as usize].name,
                        "targetRef": {"kind": "Pod", "name": pod.name, "namespace": c.ns(pod.ns), "uid": pod.uid}})
                })
                .collect();
            let mut lab = labels(&s.labels);
            lab["endpointslice.kubernetes.io/managed-by"] = json!("endpointslice-controller.k8s.io");
            lab["kubernetes.io/service-name"] = json!(s.name);
            let mut v = json!({"addressType": "IPv4", "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {
                    "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": rfc3339(CAPTURED_AT_UNIX - 3600 - rng.below(86_400) as i64)},
                    "creationTimestamp": rfc3339(s.created), "generateName": format!("{}-", s.name), "generation": 1 + rng.below(40),
                    "labels": lab, "name": format!("{}-{}", s.name, rng.suffix(5)), "namespace": ns,
                    "ownerReferences": [{"apiVersion": "v1", "blockOwnerDeletion": true, "controller": true, "kind": "Service", "name": s.name, "uid": s.uid}],
                    "resourceVersion": rv.next(), "uid": rng.uid()},
                "ports": ports});
            if !endpoints.is_empty() {
                v["endpoints"] = json!(endpoints);
            }
            list.push(v)?;
        }
    }
    list.finish()
}

fn write_configmaps(c: &Cluster, out: &mut Out, rng: &mut Rng, rv: &mut Rv) -> std::io::Result<()> {
    let mode = if c.proxy() == Proxy::Ipvs { "ipvs" } else { "\\\"\\\"" };
    let master_ip = c.nodes[0].ip.to_string();
    let items = template(T_CONFIGMAPS, &[("@PROXY_MODE@", mode), ("@POD_NET@", &c.pod_net.cidr()), ("@MASTER_IP@", &master_ip)]);
    let mut list = ListWriter::new(out.create("cluster/configmaps.json")?)?;
    for mut item in items.as_array().expect("a list of ConfigMaps").iter().cloned() {
        item["metadata"]["resourceVersion"] = json!(rv.next());
        item["metadata"]["uid"] = json!(rng.uid());
        if item["metadata"]["name"] == "kubeadm-config" {
            let cc = item["data"]["ClusterConfiguration"].as_str().unwrap_or_default().replace("10.96.0.0/12", SERVICE_CIDR);
            item["data"]["ClusterConfiguration"] = json!(cc);
        }
        list.push(item)?;
    }
    list.finish()
}

/// `etcdctl get --prefix /coreos.com/network -w json`: the config and one lease per owner.
fn write_etcd(c: &Cluster, out: &mut Out) -> std::io::Result<()> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let config = format!(r#"{{"Network":"{}","Backend":{{"Type":"vxlan"}}}}"#, c.pod_net.cidr());
    let mut kvs = vec![json!({"key": b64("/coreos.com/network/config"), "create_revision": 2, "mod_revision": 2, "version": 1, "value": b64(&config)})];
    let leases = c.leases();
    for (k, (subnet, public_ip, mac, _)) in leases.iter().enumerate() {
        let rev = 3 + k as u64;
        let value = format!(r#"{{"PublicIP":"{public_ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{{"VNI":1,"VtepMAC":"{mac}"}}}}"#);
        kvs.push(json!({"key": b64(&format!("/coreos.com/network/subnets/{subnet}-24")), "create_revision": rev, "mod_revision": rev, "version": 1,
            "value": b64(&value), "lease": 7_587_877_795_436_436_802u64 + k as u64}));
    }
    let count = kvs.len();
    let doc = json!({"header": {"cluster_id": 9_611_691_696_019_952_468u64, "member_id": 12_602_966_024_538_251_745u64, "revision": 2 + leases.len(), "raft_term": 2},
        "kvs": kvs, "count": count});
    let mut text = serde_json::to_vec(&doc).map_err(std::io::Error::other)?;
    text.push(b'\n');
    out.write_file("etcd/flannel.json", &text)
}
