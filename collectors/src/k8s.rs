//! Kubernetes API objects as `kubectl get ... -o json|yaml` prints them: a
//! `List`, a typed list (`PodList`), or single objects, kinds mixed freely.
//! Objects are reduced at once to the fields rules read (a 150k-pod capture
//! must stay small); the same object seen twice keeps the higher
//! `resourceVersion`, with a note.

use crate::error::{shape, ParseError};
use netdoctor_engine::model::*;
use netdoctor_engine::net;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// The item kind of a typed list (`PodList` → `Pod`); `None` for a plain `List`.
fn list_item_kind(list_kind: &str) -> Option<String> {
    list_kind.strip_suffix("List").filter(|k| !k.is_empty()).map(str::to_string)
}

/// kubectl omits `kind` in a typed list's items: they take the list's.
fn adopt_kind(mut item: Value, item_kind: Option<&String>) -> Value {
    if item.get("kind").is_none() {
        if let (Some(k), Some(o)) = (item_kind, item.as_object_mut()) {
            o.insert("kind".into(), Value::String(k.clone()));
        }
    }
    item
}

/// The marker for an empty typed list: "collected, and empty".
fn empty_list(item_kind: &str) -> Value {
    serde_json::json!({"kind": item_kind, "__empty_list": true})
}

/// Parses a (multi-document) YAML file into top-level objects, lists flattened.
pub fn parse_yaml_objects(text: &str) -> Result<Vec<(String, Value)>, ParseError> {
    let mut out = Vec::new();
    for (d, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let doc = Value::deserialize(doc)?;
        if doc.is_null() {
            continue;
        }
        let base = format!("document {}", d + 1);
        let kind = doc.get("kind").and_then(Value::as_str).ok_or_else(|| shape(format!("{base}.kind"), "a Kubernetes object or List"))?.to_string();
        if !kind.ends_with("List") {
            out.push((base, doc));
            continue;
        }
        let items = doc.get("items").and_then(Value::as_array).ok_or_else(|| shape(format!("{base}.items"), "an array"))?;
        let item_kind = list_item_kind(&kind);
        if items.is_empty() {
            if let Some(k) = &item_kind {
                out.push((format!("{base}.items"), empty_list(k)));
            }
        }
        for (i, item) in items.iter().enumerate() {
            out.push((format!("{base}.items[{i}]"), adopt_kind(item.clone(), item_kind.as_ref())));
        }
    }
    Ok(out)
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

fn i(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_i64()
}

fn arr<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(c) => cur = c,
            None => return &[],
        }
    }
    cur.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn string_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
        .unwrap_or_default()
}

fn conditions(v: &Value, path: &[&str]) -> Vec<Condition> {
    arr(v, path)
        .iter()
        .map(|c| Condition {
            kind: s(c, &["type"]).unwrap_or_default().to_string(),
            status: s(c, &["status"]).unwrap_or_default().to_string(),
            reason: s(c, &["reason"]).map(str::to_string),
            message: s(c, &["message"]).map(str::to_string),
            last_transition: s(c, &["lastTransitionTime"]).map(str::to_string),
        })
        .collect()
}

fn rv(v: &Value) -> u64 {
    s(v, &["metadata", "resourceVersion"]).and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn name_of(v: &Value, path: &str) -> Result<(String, String), ParseError> {
    let name = s(v, &["metadata", "name"]).ok_or_else(|| shape(format!("{path}.metadata.name"), "a string"))?;
    Ok((s(v, &["metadata", "namespace"]).unwrap_or("").to_string(), name.to_string()))
}

fn node_from(v: &Value, path: &str) -> Result<Node, ParseError> {
    let (_, name) = name_of(v, path)?;
    let ann = string_map(v.pointer("/metadata/annotations"));
    let flannel = if ann.keys().any(|k| k.starts_with("flannel.alpha.coreos.com/")) {
        Some(FlannelAnnotations {
            public_ip: ann.get("flannel.alpha.coreos.com/public-ip").and_then(|a| a.parse().ok()),
            backend_type: ann.get("flannel.alpha.coreos.com/backend-type").cloned(),
            backend_data: ann.get("flannel.alpha.coreos.com/backend-data").cloned(),
            kube_subnet_manager: ann.get("flannel.alpha.coreos.com/kube-subnet-manager").is_some_and(|v| v == "true"),
        })
    } else {
        None
    };
    let mut pod_cidrs: Vec<ipnet::IpNet> = arr(v, &["spec", "podCIDRs"]).iter().filter_map(Value::as_str).filter_map(net::parse_net).collect();
    if pod_cidrs.is_empty() {
        pod_cidrs.extend(s(v, &["spec", "podCIDR"]).and_then(net::parse_net));
    }
    Ok(Node {
        name,
        resource_version: rv(v),
        addresses: arr(v, &["status", "addresses"])
            .iter()
            .filter_map(|a| Some((s(a, &["type"])?.to_string(), s(a, &["address"])?.to_string())))
            .collect(),
        pod_cidrs,
        conditions: conditions(v, &["status", "conditions"]),
        labels: string_map(v.pointer("/metadata/labels")),
        flannel,
    })
}

fn container_status(c: &Value) -> ContainerStatus {
    let (state, st) = c
        .get("state")
        .and_then(Value::as_object)
        .and_then(|m| m.iter().next())
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap_or_default();
    let last = c.get("lastState").and_then(Value::as_object).and_then(|m| m.iter().next());
    ContainerStatus {
        name: s(c, &["name"]).unwrap_or_default().to_string(),
        ready: c.get("ready").and_then(Value::as_bool).unwrap_or(false),
        restart_count: i(c, &["restartCount"]).unwrap_or(0),
        state,
        reason: s(&st, &["reason"]).map(str::to_string),
        exit_code: i(&st, &["exitCode"]),
        last_state: last.map(|(k, _)| k.clone()),
        last_reason: last.and_then(|(_, v)| s(v, &["reason"])).map(str::to_string),
    }
}

fn pod_from(v: &Value, path: &str) -> Result<Pod, ParseError> {
    let (namespace, name) = name_of(v, path)?;
    let owner = arr(v, &["metadata", "ownerReferences"]).iter().find(|o| o.get("controller").and_then(Value::as_bool) == Some(true)).or_else(|| arr(v, &["metadata", "ownerReferences"]).first());
    let owner_kind = owner.and_then(|o| s(o, &["kind"])).map(str::to_string);
    let config_source = s(v, &["metadata", "annotations", "kubernetes.io/config.source"]);
    let mut pod_ips: Vec<std::net::IpAddr> = arr(v, &["status", "podIPs"]).iter().filter_map(|p| s(p, &["ip"])?.parse().ok()).collect();
    if pod_ips.is_empty() {
        pod_ips.extend(s(v, &["status", "podIP"]).and_then(|p| p.parse::<std::net::IpAddr>().ok()));
    }
    let ports = arr(v, &["spec", "containers"])
        .iter()
        .flat_map(|c| arr(c, &["ports"]).iter())
        .filter_map(|p| {
            Some(ContainerPort {
                name: s(p, &["name"]).map(str::to_string),
                port: i(p, &["containerPort"])?,
                protocol: s(p, &["protocol"]).unwrap_or("TCP").to_string(),
            })
        })
        .collect();
    Ok(Pod {
        namespace,
        name,
        resource_version: rv(v),
        node: s(v, &["spec", "nodeName"]).map(str::to_string),
        phase: s(v, &["status", "phase"]).unwrap_or_default().to_string(),
        reason: s(v, &["status", "reason"]).map(str::to_string),
        pod_ips,
        host_network: v.pointer("/spec/hostNetwork").and_then(Value::as_bool).unwrap_or(false),
        labels: string_map(v.pointer("/metadata/labels")),
        mirror: config_source == Some("file") || owner_kind.as_deref() == Some("Node"),
        owner_kind,
        owner_name: owner.and_then(|o| s(o, &["name"])).map(str::to_string),
        conditions: conditions(v, &["status", "conditions"]),
        containers: arr(v, &["status", "containerStatuses"]).iter().map(container_status).collect(),
        ports,
    })
}

fn service_from(v: &Value, path: &str) -> Result<Service, ParseError> {
    let (namespace, name) = name_of(v, path)?;
    let mut ips: Vec<std::net::IpAddr> = arr(v, &["spec", "clusterIPs"]).iter().filter_map(Value::as_str).filter_map(|a| a.parse().ok()).collect();
    if ips.is_empty() {
        ips.extend(s(v, &["spec", "clusterIP"]).and_then(|a| a.parse::<std::net::IpAddr>().ok()));
    }
    Ok(Service {
        namespace,
        name,
        resource_version: rv(v),
        kind: s(v, &["spec", "type"]).unwrap_or("ClusterIP").to_string(),
        cluster_ips: ips,
        ports: arr(v, &["spec", "ports"])
            .iter()
            .map(|p| ServicePort {
                name: s(p, &["name"]).map(str::to_string),
                protocol: s(p, &["protocol"]).unwrap_or("TCP").to_string(),
                port: i(p, &["port"]).unwrap_or(0),
                target_port: match p.get("targetPort") {
                    Some(Value::String(t)) => t.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => i(p, &["port"]).unwrap_or(0).to_string(),
                },
                node_port: i(p, &["nodePort"]),
            })
            .collect(),
        selector: string_map(v.pointer("/spec/selector")),
    })
}

/// Accumulates API objects from many files, deduplicating by resourceVersion.
#[derive(Default)]
pub struct ClusterReader {
    nodes: HashMap<String, (u64, Node)>,
    pods: HashMap<(String, String), (u64, Pod)>,
    services: HashMap<(String, String), (u64, Service)>,
    /// EndpointSlices by (ns, slice name) → (rv, service, ready, not ready, ports).
    slices: HashMap<(String, String), (u64, Endpoints)>,
    endpoints: HashMap<(String, String), (u64, Endpoints)>,
    component_statuses: HashMap<String, ComponentStatus>,
    pools: HashMap<String, IpPool>,
    blocks: HashMap<String, BlockAffinity>,
    ignored: BTreeMap<String, usize>,
    duplicates: usize,
    newest: Option<String>,
}

fn keep<K: std::hash::Hash + Eq, T>(map: &mut HashMap<K, (u64, T)>, key: K, rv: u64, v: T, dups: &mut usize) {
    match map.get(&key) {
        Some((old, _)) => {
            *dups += 1;
            if rv > *old {
                map.insert(key, (rv, v));
            }
        }
        None => {
            map.insert(key, (rv, v));
        }
    }
}

fn endpoints_from_slice(v: &Value, path: &str) -> Result<Endpoints, ParseError> {
    let (namespace, _) = name_of(v, path)?;
    let service = s(v, &["metadata", "labels", "kubernetes.io/service-name"]).unwrap_or_default().to_string();
    let mut e = Endpoints { namespace, service, source_kind: "EndpointSlice".into(), ..Default::default() };
    for ep in arr(v, &["endpoints"]) {
        // API semantics: a nil `ready` is interpreted as ready.
        let ready = ep.pointer("/conditions/ready").and_then(Value::as_bool).unwrap_or(true);
        for a in arr(ep, &["addresses"]).iter().filter_map(Value::as_str).filter_map(|a| a.parse().ok()) {
            if ready {
                e.ready.push(a)
            } else {
                e.not_ready.push(a)
            }
        }
    }
    e.ports = arr(v, &["ports"]).iter().map(|p| (s(p, &["name"]).map(str::to_string), i(p, &["port"]).unwrap_or(0), s(p, &["protocol"]).unwrap_or("TCP").to_string())).collect();
    Ok(e)
}

fn endpoints_from_v1(v: &Value, path: &str) -> Result<Endpoints, ParseError> {
    let (namespace, service) = name_of(v, path)?;
    let mut e = Endpoints { namespace, service, source_kind: "Endpoints".into(), ..Default::default() };
    for sub in arr(v, &["subsets"]) {
        e.ready.extend(arr(sub, &["addresses"]).iter().filter_map(|a| s(a, &["ip"])?.parse::<std::net::IpAddr>().ok()));
        e.not_ready.extend(arr(sub, &["notReadyAddresses"]).iter().filter_map(|a| s(a, &["ip"])?.parse::<std::net::IpAddr>().ok()));
        e.ports.extend(arr(sub, &["ports"]).iter().map(|p| (s(p, &["name"]).map(str::to_string), i(p, &["port"]).unwrap_or(0), s(p, &["protocol"]).unwrap_or("TCP").to_string())));
    }
    Ok(e)
}

fn track_newest(newest: &mut Option<String>, v: &Value) {
    fn walk(v: &Value, newest: &mut Option<String>, depth: usize) {
        if depth > 6 {
            return;
        }
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if matches!(k.as_str(), "creationTimestamp" | "lastTransitionTime" | "lastHeartbeatTime" | "startedAt" | "finishedAt" | "startTime") {
                        if let Some(t) = x.as_str() {
                            if newest.as_deref().is_none_or(|n| t > n) {
                                *newest = Some(t.to_string());
                            }
                        }
                    } else if k != "managedFields" && k != "annotations" {
                        walk(x, newest, depth + 1);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, newest, depth + 1)),
            _ => {}
        }
    }
    walk(v, newest, 0);
}

impl ClusterReader {
    /// Adds one object; `source` is the file, `path` the place in it. Configmaps
    /// and collection marks go straight into `facts`.
    pub fn add(&mut self, facts: &mut Facts, source: &str, path: &str, v: &Value) -> Result<(), ParseError> {
        let kind = s(v, &["kind"]).unwrap_or_default();
        let empty = v.get("__empty_list").is_some();
        let mark = |facts: &mut Facts, k: &str| facts.mark_collected(k, source);
        if !empty {
            track_newest(&mut self.newest, v);
        }
        match kind {
            "Node" => {
                mark(facts, "nodes");
                if !empty {
                    let n = node_from(v, path)?;
                    keep(&mut self.nodes, n.name.clone(), n.resource_version, n, &mut self.duplicates);
                }
            }
            "Pod" => {
                mark(facts, "pods");
                if !empty {
                    let p = pod_from(v, path)?;
                    keep(&mut self.pods, (p.namespace.clone(), p.name.clone()), p.resource_version, p, &mut self.duplicates);
                }
            }
            "Service" => {
                mark(facts, "services");
                if !empty {
                    let sv = service_from(v, path)?;
                    keep(&mut self.services, (sv.namespace.clone(), sv.name.clone()), sv.resource_version, sv, &mut self.duplicates);
                }
            }
            "EndpointSlice" => {
                mark(facts, "endpoints");
                if !empty {
                    let key = name_of(v, path)?;
                    let e = endpoints_from_slice(v, path)?;
                    keep(&mut self.slices, key, rv(v), e, &mut self.duplicates);
                }
            }
            "Endpoints" => {
                mark(facts, "endpoints");
                if !empty {
                    let e = endpoints_from_v1(v, path)?;
                    keep(&mut self.endpoints, (e.namespace.clone(), e.service.clone()), rv(v), e, &mut self.duplicates);
                }
            }
            "ComponentStatus" => {
                mark(facts, "componentstatuses");
                if !empty {
                    let (_, name) = name_of(v, path)?;
                    let healthy = arr(v, &["conditions"]).iter().any(|c| s(c, &["type"]) == Some("Healthy") && s(c, &["status"]) == Some("True"));
                    let message = arr(v, &["conditions"]).iter().find_map(|c| s(c, &["message"]).or(s(c, &["error"]))).map(str::to_string);
                    self.component_statuses.insert(name.clone(), ComponentStatus { name, healthy, message });
                }
            }
            "IPPool" => {
                mark(facts, "ippools");
                if !empty {
                    let (_, name) = name_of(v, path)?;
                    let cidr = s(v, &["spec", "cidr"]).and_then(net::parse_net).ok_or_else(|| shape(format!("{path}.spec.cidr"), "a CIDR"))?;
                    let disabled = v.pointer("/spec/disabled").and_then(Value::as_bool).unwrap_or(false);
                    let pool = IpPool { name: name.clone(), cidr, ipip_mode: s(v, &["spec", "ipipMode"]).map(str::to_string), vxlan_mode: s(v, &["spec", "vxlanMode"]).map(str::to_string), disabled };
                    self.pools.insert(name, pool);
                }
            }
            "BlockAffinity" => {
                mark(facts, "blockaffinities");
                if !empty {
                    let (_, name) = name_of(v, path)?;
                    let cidr = s(v, &["spec", "cidr"]).and_then(net::parse_net).ok_or_else(|| shape(format!("{path}.spec.cidr"), "a CIDR"))?;
                    let node = s(v, &["spec", "node"]).ok_or_else(|| shape(format!("{path}.spec.node"), "a string"))?.to_string();
                    let state = s(v, &["spec", "state"]).unwrap_or("confirmed").to_string();
                    self.blocks.insert(name, BlockAffinity { node, cidr, state });
                }
            }
            "ConfigMap" if !empty => self.configmap(facts, source, path, v)?,
            other => *self.ignored.entry(other.to_string()).or_default() += 1,
        }
        Ok(())
    }

    fn configmap(&mut self, facts: &mut Facts, source: &str, path: &str, v: &Value) -> Result<(), ParseError> {
        let (ns, name) = name_of(v, path)?;
        let data = |k: &str| v.pointer("/data").and_then(|d| d.get(k)).and_then(Value::as_str);
        match (ns.as_str(), name.as_str()) {
            ("kube-system", "coredns") => {
                facts.mark_collected("configmap/coredns", source);
                facts.config.corefile = data("Corefile").map(str::to_string);
            }
            ("kube-system", "kube-proxy") => {
                facts.mark_collected("configmap/kube-proxy", source);
                if let Some(conf) = data("config.conf") {
                    let y: serde_yaml::Value = serde_yaml::from_str(conf).map_err(|e| shape(format!("{path}.data[\"config.conf\"]"), format!("KubeProxyConfiguration YAML ({e})")))?;
                    facts.config.kube_proxy_mode = Some(y.get("mode").and_then(serde_yaml::Value::as_str).unwrap_or("").to_string());
                }
            }
            ("kube-system", "kubeadm-config") => {
                facts.mark_collected("configmap/kubeadm-config", source);
                // kubeadm < 1.12 stored the same document as MasterConfiguration.
                if let Some(conf) = data("ClusterConfiguration").or_else(|| data("MasterConfiguration")) {
                    let y: serde_yaml::Value = serde_yaml::from_str(conf).map_err(|e| shape(format!("{path}.data.ClusterConfiguration"), format!("ClusterConfiguration YAML ({e})")))?;
                    let nets = |k: &str| -> Vec<ipnet::IpNet> {
                        y.get("networking").and_then(|n| n.get(k)).and_then(serde_yaml::Value::as_str).map(|s| s.split(',').filter_map(net::parse_net).collect()).unwrap_or_default()
                    };
                    facts.config.kubeadm_pod_subnets = nets("podSubnet");
                    facts.config.kubeadm_service_subnets = nets("serviceSubnet");
                }
            }
            (_, "kube-flannel-cfg") => {
                facts.mark_collected("configmap/kube-flannel-cfg", source);
                if let Some(conf) = data("net-conf.json") {
                    let c = crate::etcd::parse_config(conf, &format!("ConfigMap {ns}/kube-flannel-cfg net-conf.json")).map_err(|e| shape(format!("{path}.data[\"net-conf.json\"]"), format!("flannel net-conf JSON ({e})")))?;
                    facts.config.flannel_net_conf = Some(c);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Moves everything accumulated into `facts`.
    pub fn finish(self, facts: &mut Facts) {
        facts.nodes.extend(self.nodes.into_values().map(|(_, n)| n));
        facts.pods.extend(self.pods.into_values().map(|(_, p)| p));
        facts.services.extend(self.services.into_values().map(|(_, s)| s));
        // EndpointSlices win over Endpoints for the same Service.
        let mut merged: BTreeMap<(String, String), Endpoints> = BTreeMap::new();
        for (_, e) in self.slices.into_values() {
            let m = merged.entry((e.namespace.clone(), e.service.clone())).or_insert_with(|| Endpoints { namespace: e.namespace.clone(), service: e.service.clone(), source_kind: e.source_kind.clone(), ..Default::default() });
            m.ready.extend(e.ready);
            m.not_ready.extend(e.not_ready);
            for p in e.ports {
                if !m.ports.contains(&p) {
                    m.ports.push(p);
                }
            }
        }
        for (key, (_, e)) in self.endpoints {
            merged.entry(key).or_insert(e);
        }
        for e in merged.values_mut() {
            e.ready.sort();
            e.ready.dedup();
            e.not_ready.sort();
            e.not_ready.dedup();
        }
        facts.endpoints.extend(merged.into_values());
        facts.component_statuses.extend(self.component_statuses.into_values());
        facts.ip_pools.extend(self.pools.into_values());
        facts.block_affinities.extend(self.blocks.into_values());
        facts.ip_pools.sort_by(|a, b| a.name.cmp(&b.name));
        facts.block_affinities.sort_by_key(|b| b.cidr);
        facts.component_statuses.sort_by(|a, b| a.name.cmp(&b.name));
        if self.duplicates > 0 {
            facts.notes.push(format!("{} API objects appeared more than once; kept the copy with the higher resourceVersion", self.duplicates));
        }
        for (kind, n) in self.ignored {
            facts.notes.push(format!("ignored {n} API object(s) of kind {kind}: not read by any rule"));
        }
        if facts.newest_timestamp.as_deref() < self.newest.as_deref() {
            facts.newest_timestamp = self.newest;
        }
    }
}

/// Calls `each(path, object)` for every API object in a `kubectl get -o json|yaml`
/// file, one object at a time. JSON is streamed from the file: a List's items are
/// parsed one by one, so a 150k-pod List never exists as one tree in memory. The
/// file is first checked whole for JSON syntax (building nothing), so a broken
/// file hands out no object at all.
pub fn for_each_object_in_file(path: &std::path::Path, yaml: bool, each: &mut dyn FnMut(&str, Value)) -> Result<(), ParseError> {
    if yaml {
        let text = std::fs::read_to_string(path)?;
        for (p, v) in parse_yaml_objects(&text)? {
            each(&p, v);
        }
        return Ok(());
    }
    let open = || -> Result<std::io::BufReader<std::fs::File>, ParseError> { Ok(std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?)) };
    // Pass 1: syntax only.
    let mut de = serde_json::Deserializer::from_reader(open()?);
    serde::de::IgnoredAny::deserialize(&mut de)?;
    de.end()?;
    // Pass 2: objects, one at a time.
    let mut de = serde_json::Deserializer::from_reader(open()?);
    serde::de::DeserializeSeed::deserialize(Doc { each }, &mut de)?
}

/// The top-level document: a List (streamed items) or one object.
struct Doc<'a> {
    each: &'a mut dyn FnMut(&str, Value),
}

impl<'de> serde::de::DeserializeSeed<'de> for Doc<'_> {
    type Value = Result<(), ParseError>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Doc<'_> {
    type Value = Result<(), ParseError>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes object or List")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut rest = serde_json::Map::new();
        let mut pending: Vec<(usize, Value)> = Vec::new();
        let mut items: Option<usize> = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                items = Some(map.next_value_seed(Items { each: &mut *self.each, pending: &mut pending })?);
            } else {
                let v: Value = map.next_value()?;
                rest.insert(key, v);
            }
        }
        let Some(kind) = rest.get("kind").and_then(Value::as_str).map(str::to_string) else {
            return Ok(Err(shape("$.kind", "a Kubernetes object or List")));
        };
        let Some(count) = items else {
            (self.each)("$", Value::Object(rest));
            return Ok(Ok(()));
        };
        let item_kind = list_item_kind(&kind);
        if count == 0 {
            if let Some(k) = &item_kind {
                (self.each)("$.items", empty_list(k));
            }
        }
        for (i, v) in pending {
            (self.each)(&format!("$.items[{i}]"), adopt_kind(v, item_kind.as_ref()));
        }
        Ok(Ok(()))
    }
}

/// A List's `items`, handed out one by one.
struct Items<'a, 'b> {
    each: &'a mut dyn FnMut(&str, Value),
    pending: &'b mut Vec<(usize, Value)>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Items<'_, '_> {
    type Value = usize;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Items<'_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of objects")
    }
    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<usize, S::Error> {
        let mut i = 0;
        while let Some(v) = seq.next_element::<Value>()? {
            if v.get("kind").is_some() {
                (self.each)(&format!("$.items[{i}]"), v);
            } else {
                self.pending.push((i, v));
            }
            i += 1;
        }
        Ok(i)
    }
}
