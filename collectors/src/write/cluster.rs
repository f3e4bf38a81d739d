//! Writes cluster facts as the `cluster/` and `etcd/` files of a capture
//! (`capture-format.md`): `kubectl get -o json` Lists of real-format objects
//! carrying every field the projection reads, and flannel's etcd data as
//! `etcdctl get --prefix -w json` prints it. Reading the directory back with
//! [`crate::capture::read`] gives the same cluster facts.
//!
//! Two ways to a capture's cluster part:
//! - [`K8sCollector::capture`](crate::live::cluster::K8sCollector::capture) /
//!   [`EtcdCollector::capture`](crate::live::cluster::EtcdCollector::capture)
//!   write what the API and etcd returned (minus managedFields): the most
//!   faithful, for `netdoctor capture`;
//! - [`write_cluster`] writes from facts already in a store (a watching
//!   `serve`, or any `FactSet`): the objects hold only what rules read.
//!
//! Only kinds that were collected get a file; an object kind collected with no
//! object is written as an empty typed list (`PodList` with no items), which
//! the reader takes as "collected, and empty". Entries that could not be read
//! (broken) cannot be written and are left out.

use crate::live::cluster::ListWriter;
use base64::Engine as _;
use netdoctor_engine::kind::FactKind;
use netdoctor_engine::model::*;
use netdoctor_engine::store::{FactSet, Object};
use netdoctor_engine::Fact;
use serde_json::{json, Map, Value};
use std::path::Path;

/// The object kinds written, with their file, list kind and apiVersion.
const FILES: &[(FactKind, &str, &str, &str)] = &[
    (FactKind::Nodes, "nodes.json", "NodeList", "v1"),
    (FactKind::Pods, "pods.json", "PodList", "v1"),
    (FactKind::Services, "services.json", "ServiceList", "v1"),
    (FactKind::Endpoints, "endpointslices.json", "List", "v1"),
    (FactKind::Deployments, "deployments.json", "DeploymentList", "apps/v1"),
    (FactKind::ComponentStatuses, "componentstatuses.json", "ComponentStatusList", "v1"),
    (FactKind::IpPools, "calico-ippools.json", "IPPoolList", "crd.projectcalico.org/v1"),
    (FactKind::BlockAffinities, "calico-blockaffinities.json", "BlockAffinityList", "crd.projectcalico.org/v1"),
];

/// Writes the cluster facts of `set` under `dir/cluster/` and `dir/etcd/`.
pub fn write_cluster(dir: &Path, set: &FactSet) -> std::io::Result<()> {
    let cluster = dir.join("cluster");
    for (kind, file, list_kind, _) in FILES {
        if set.kind_state(*kind).is_none() {
            continue;
        }
        std::fs::create_dir_all(&cluster)?;
        let objects = set.objects(*kind);
        // EndpointSlices and Endpoints share a kind: a List holds both (an empty one says
        // nothing, so an empty kind is written as an empty EndpointSliceList).
        let list_kind = if *kind == FactKind::Endpoints && objects.is_empty() { "EndpointSliceList" } else { list_kind };
        let mut w = ListWriter::create(&cluster.join(file), list_kind)?;
        for o in &objects {
            w.item(&object(o))?;
        }
        w.finish()?;
    }
    let configs = config_maps(set);
    if !configs.is_empty() {
        std::fs::create_dir_all(&cluster)?;
        let mut w = ListWriter::create(&cluster.join("configmaps.json"), "List")?;
        for c in &configs {
            w.item(c)?;
        }
        w.finish()?;
    }
    if set.kind_state(FactKind::FlannelEtcd).is_some() || set.flannel_etcd_config().is_some() {
        let etcd = dir.join("etcd");
        std::fs::create_dir_all(&etcd)?;
        let text = serde_json::to_string_pretty(&etcd_dump(set)).map_err(std::io::Error::other)? + "\n";
        std::fs::write(etcd.join("flannel.json"), text)?;
    }
    Ok(())
}

fn meta(name: &str, namespace: Option<&str>, rv: u64) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("name".into(), name.into());
    if let Some(ns) = namespace {
        m.insert("namespace".into(), ns.into());
    }
    if rv > 0 {
        m.insert("resourceVersion".into(), rv.to_string().into());
    }
    m
}

fn labels<'a, K: AsRef<str> + 'a, V: AsRef<str> + 'a>(l: impl IntoIterator<Item = (K, V)>) -> Value {
    Value::Object(l.into_iter().map(|(k, v)| (k.as_ref().to_string(), Value::from(v.as_ref()))).collect())
}

fn conditions(cs: &[Condition]) -> Value {
    Value::Array(
        cs.iter()
            .map(|c| {
                let mut m = Map::new();
                m.insert("type".into(), c.kind.clone().into());
                m.insert("status".into(), c.status.as_str().into());
                if let Some(t) = c.since {
                    m.insert("lastTransitionTime".into(), netdoctor_engine::time::format_rfc3339(t).into());
                }
                if let Some(r) = &c.reason {
                    m.insert("reason".into(), r.to_string().into());
                }
                if let Some(x) = &c.message {
                    m.insert("message".into(), x.to_string().into());
                }
                Value::Object(m)
            })
            .collect(),
    )
}

/// `{running: {}}`, `{waiting: {reason}}`, `{terminated: {reason, exitCode}}`.
fn state(s: Option<ContainerState>, reason: &Option<String>, exit_code: Option<i32>) -> Value {
    let Some(s) = s else { return json!({}) };
    let mut d = Map::new();
    if let Some(r) = reason {
        d.insert("reason".into(), r.clone().into());
    }
    if let Some(c) = exit_code {
        d.insert("exitCode".into(), c.into());
    }
    json!({ s.as_str(): d })
}

fn node(n: &Node) -> Value {
    let mut m = meta(&n.name, None, n.resource_version);
    m.insert("labels".into(), labels(&n.labels));
    if let Some(f) = &n.flannel {
        let mut a = Map::new();
        if let Some(ip) = f.public_ip {
            a.insert("flannel.alpha.coreos.com/public-ip".into(), ip.to_string().into());
        }
        if let Some(t) = &f.backend_type {
            a.insert("flannel.alpha.coreos.com/backend-type".into(), t.clone().into());
        }
        if let Some(mac) = f.vtep_mac {
            a.insert("flannel.alpha.coreos.com/backend-data".into(), json!({"VtepMAC": mac.to_string()}).to_string().into());
        }
        a.insert("flannel.alpha.coreos.com/kube-subnet-manager".into(), f.kube_subnet_manager.to_string().into());
        m.insert("annotations".into(), Value::Object(a));
    }
    let mut spec = Map::new();
    if let Some(first) = n.pod_cidrs.first() {
        spec.insert("podCIDR".into(), first.to_string().into());
        spec.insert("podCIDRs".into(), n.pod_cidrs.iter().map(|c| c.to_string()).collect::<Vec<_>>().into());
    }
    if !n.taints.is_empty() {
        let t: Vec<Value> = n
            .taints
            .iter()
            .map(|t| {
                let mut x = json!({"key": t.key, "effect": t.effect});
                if let Some(v) = &t.value {
                    x["value"] = v.clone().into();
                }
                x
            })
            .collect();
        spec.insert("taints".into(), t.into());
    }
    if n.unschedulable {
        spec.insert("unschedulable".into(), true.into());
    }
    let addresses: Vec<Value> = n.addresses.iter().map(|a| json!({"type": a.kind, "address": a.address})).collect();
    json!({"apiVersion": "v1", "kind": "Node", "metadata": m, "spec": spec,
           "status": {"addresses": addresses, "conditions": conditions(&n.conditions)}})
}

fn pod(p: &Pod) -> Value {
    let mut m = meta(&p.name, Some(&p.namespace), p.resource_version);
    m.insert("labels".into(), labels(&p.labels));
    if let Some(o) = &p.owner {
        m.insert("ownerReferences".into(), json!([{"apiVersion": "v1", "kind": o.kind, "name": o.name, "uid": "", "controller": true}]));
    }
    if p.mirror && p.owner.as_ref().is_none_or(|o| o.kind != "Node") {
        m.insert("annotations".into(), json!({"kubernetes.io/config.source": "file"}));
    }
    // Containers: those with ports, in order, then those known only from their status.
    let mut names: Vec<&str> = Vec::new();
    for n in p.ports.iter().map(|x| x.container.as_str()).chain(p.containers.iter().map(|c| c.name.as_str())) {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let containers: Vec<Value> = names
        .iter()
        .map(|n| {
            let ports: Vec<Value> = p
                .ports
                .iter()
                .filter(|x| x.container == *n)
                .map(|x| {
                    let mut v = json!({"containerPort": x.port, "protocol": x.protocol.as_str()});
                    if let Some(name) = &x.name {
                        v["name"] = name.clone().into();
                    }
                    v
                })
                .collect();
            let mut c = json!({"name": n});
            if !ports.is_empty() {
                c["ports"] = ports.into();
            }
            c
        })
        .collect();
    let mut spec = Map::new();
    if let Some(n) = &p.node {
        spec.insert("nodeName".into(), n.clone().into());
    }
    if p.host_network {
        spec.insert("hostNetwork".into(), true.into());
    }
    spec.insert("containers".into(), containers.into());
    let mut status = Map::new();
    if let Some(ph) = p.phase {
        status.insert("phase".into(), ph.as_str().into());
    }
    if let Some(r) = &p.reason {
        status.insert("reason".into(), r.clone().into());
    }
    if let Some(first) = p.ips.first() {
        status.insert("podIP".into(), first.to_string().into());
        status.insert("podIPs".into(), p.ips.iter().map(|i| json!({"ip": i.to_string()})).collect::<Vec<_>>().into());
    }
    if !p.conditions.is_empty() {
        status.insert("conditions".into(), conditions(&p.conditions));
    }
    if !p.containers.is_empty() {
        let cs: Vec<Value> = p
            .containers
            .iter()
            .map(|c| {
                json!({"name": c.name, "ready": c.ready, "restartCount": c.restart_count,
                       "state": state(c.state, &c.reason, c.exit_code), "lastState": state(c.last_state, &c.last_reason, None)})
            })
            .collect();
        status.insert("containerStatuses".into(), cs.into());
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": m, "spec": spec, "status": status})
}

fn service(s: &Service) -> Value {
    let ports: Vec<Value> = s
        .ports
        .iter()
        .map(|p| {
            let mut v = json!({"port": p.port, "protocol": p.protocol.as_str()});
            v["targetPort"] = match &p.target_port {
                TargetPort::Number(n) => (*n).into(),
                TargetPort::Name(n) => n.clone().into(),
            };
            if let Some(n) = &p.name {
                v["name"] = n.clone().into();
            }
            if let Some(n) = p.node_port {
                v["nodePort"] = n.into();
            }
            v
        })
        .collect();
    let mut spec = json!({"type": s.kind.as_str(), "ports": ports, "selector": labels(&s.selector)});
    match s.cluster_ips.first() {
        Some(first) => {
            spec["clusterIP"] = first.to_string().into();
            spec["clusterIPs"] = s.cluster_ips.iter().map(|i| i.to_string()).collect::<Vec<_>>().into();
        }
        None if s.kind != ServiceType::ExternalName => spec["clusterIP"] = "None".into(),
        None => {}
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(&s.name, Some(&s.namespace), s.resource_version), "spec": spec})
}

fn endpoint_ports(ports: &[EndpointPort]) -> Value {
    Value::Array(
        ports
            .iter()
            .map(|p| {
                let mut v = json!({"protocol": p.protocol.as_str()});
                if let Some(n) = &p.name {
                    v["name"] = n.clone().into();
                }
                if let Some(n) = p.port {
                    v["port"] = n.into();
                }
                v
            })
            .collect(),
    )
}

fn endpoints(e: &EndpointSet) -> Value {
    if e.slice {
        let mut m = meta(&e.name, Some(&e.namespace), e.resource_version);
        m.insert("labels".into(), json!({"kubernetes.io/service-name": e.service}));
        let v6 = e.ready.iter().chain(&e.not_ready).next().is_some_and(|a| a.is_ipv6());
        let eps: Vec<Value> = e
            .ready
            .iter()
            .map(|a| json!({"addresses": [a.to_string()], "conditions": {"ready": true}}))
            .chain(e.not_ready.iter().map(|a| json!({"addresses": [a.to_string()], "conditions": {"ready": false}})))
            .collect();
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": m,
               "addressType": if v6 { "IPv6" } else { "IPv4" }, "endpoints": eps, "ports": endpoint_ports(&e.ports)})
    } else {
        let mut subset = Map::new();
        if !e.ready.is_empty() {
            subset.insert("addresses".into(), e.ready.iter().map(|a| json!({"ip": a.to_string()})).collect::<Vec<_>>().into());
        }
        if !e.not_ready.is_empty() {
            subset.insert("notReadyAddresses".into(), e.not_ready.iter().map(|a| json!({"ip": a.to_string()})).collect::<Vec<_>>().into());
        }
        subset.insert("ports".into(), endpoint_ports(&e.ports));
        let subsets = if e.ready.is_empty() && e.not_ready.is_empty() && e.ports.is_empty() { json!([]) } else { json!([subset]) };
        json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta(&e.name, Some(&e.namespace), e.resource_version), "subsets": subsets})
    }
}

fn object(o: &Object) -> Value {
    match o {
        Object::Node(n) => node(n),
        Object::Pod(p) => pod(p),
        Object::Service(s) => service(s),
        Object::Endpoints(e) => endpoints(e),
        Object::Deployment(d) => {
            let mut m = meta(&d.name, Some(&d.namespace), d.resource_version);
            m.insert("labels".into(), labels(&d.labels));
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": m,
                   "spec": {"replicas": d.replicas, "selector": {"matchLabels": labels(&d.selector)}},
                   "status": {"readyReplicas": d.ready_replicas, "availableReplicas": d.available_replicas, "updatedReplicas": d.updated_replicas}})
        }
        Object::ComponentStatus(c) => {
            let mut cond = json!({"type": "Healthy", "status": if c.healthy { "True" } else { "False" }});
            if let Some(m) = &c.message {
                cond["message"] = m.clone().into();
            }
            json!({"apiVersion": "v1", "kind": "ComponentStatus", "metadata": meta(&c.name, None, 0), "conditions": [cond]})
        }
        Object::IpPool(p) => {
            let mut spec = json!({"cidr": p.cidr.to_string(), "natOutgoing": p.nat_outgoing, "disabled": p.disabled});
            if let Some(m) = &p.ipip_mode {
                spec["ipipMode"] = m.clone().into();
            }
            if let Some(m) = &p.vxlan_mode {
                spec["vxlanMode"] = m.clone().into();
            }
            json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": meta(&p.name, None, 0), "spec": spec})
        }
        Object::BlockAffinity(b) => json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity", "metadata": meta(&b.name, None, 0),
                                           "spec": {"node": b.node, "cidr": b.cidr.to_string(), "state": b.state}}),
        // Leases go to etcd/, not cluster/.
        Object::Lease(_) => Value::Null,
    }
}

/// flannel's net-conf.json / etcd config value.
fn flannel_config_json(c: &FlannelConfig) -> String {
    let mut backend = json!({"Type": c.backend_type, "VNI": c.vni});
    if let Some(p) = c.port {
        backend["Port"] = p.into();
    }
    if c.direct_routing {
        backend["DirectRouting"] = true.into();
    }
    let mut v = json!({"Backend": backend});
    if let Some(n) = c.network {
        v["Network"] = n.to_string().into();
    }
    v.to_string()
}

fn config_map(namespace: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}, "data": data})
}

/// The ConfigMaps whose facts were read (present ones; broken ones cannot be written).
fn config_maps(set: &FactSet) -> Vec<Value> {
    let mut out = Vec::new();
    if let Fact::Present { value, .. } = set.corefile() {
        out.push(config_map("kube-system", "coredns", json!({"Corefile": value.text})));
    }
    if let Fact::Present { value, .. } = set.kube_proxy() {
        let data = match &value.mode {
            Some(mode) => {
                json!({"config.conf": format!("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: {}\n", json!(mode))})
            }
            None => json!({}),
        };
        out.push(config_map("kube-system", "kube-proxy", data));
    }
    if let Fact::Present { value, .. } = set.kubeadm() {
        let join = |v: &[ipnet::IpNet]| v.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        let mut yaml = String::from("apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking:\n  dnsDomain: cluster.local\n");
        if !value.pod_subnets.is_empty() {
            yaml.push_str(&format!("  podSubnet: {}\n", join(&value.pod_subnets)));
        }
        if !value.service_subnets.is_empty() {
            yaml.push_str(&format!("  serviceSubnet: {}\n", join(&value.service_subnets)));
        }
        out.push(config_map("kube-system", "kubeadm-config", json!({"ClusterConfiguration": yaml})));
    }
    if let Fact::Present { value, .. } = set.flannel_net_conf() {
        out.push(config_map("kube-flannel", "kube-flannel-cfg", json!({"net-conf.json": flannel_config_json(value)})));
    }
    out
}

/// flannel's etcd data as `etcdctl get --prefix <prefix> -w json` prints it.
fn etcd_dump(set: &FactSet) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let leases: Vec<FlannelLease> = set
        .objects(FactKind::FlannelEtcd)
        .into_iter()
        .filter_map(|o| match o {
            Object::Lease(l) => Some(l),
            _ => None,
        })
        .collect();
    let prefix = leases
        .iter()
        .find_map(|l| l.key.as_deref().and_then(|k| k.rsplit_once("/subnets/")).map(|(p, _)| p.to_string()))
        .unwrap_or_else(|| crate::live::cluster::etcd::DEFAULT_PREFIX.to_string());
    let mut kvs = Vec::new();
    let mut revision = 1;
    let mut kv = |key: String, value: String| {
        revision += 1;
        json!({"key": b64(&key), "create_revision": revision, "mod_revision": revision, "version": 1, "value": b64(&value)})
    };
    if let Some(c) = set.flannel_etcd_config() {
        kvs.push(kv(format!("{prefix}/config"), flannel_config_json(c)));
    }
    for l in &leases {
        let key = l.key.clone().unwrap_or_else(|| format!("{prefix}/subnets/{}", l.subnet.to_string().replacen('/', "-", 1)));
        let mut v = Map::new();
        if let Some(ip) = l.public_ip {
            v.insert("PublicIP".into(), ip.to_string().into());
        }
        if let Some(t) = &l.backend_type {
            v.insert("BackendType".into(), t.clone().into());
        }
        if let Some(mac) = l.vtep_mac {
            v.insert("BackendData".into(), json!({"VtepMAC": mac.to_string()}));
        }
        kvs.push(kv(key, Value::Object(v).to_string()));
    }
    let count = kvs.len();
    json!({"header": {"cluster_id": 0, "member_id": 0, "revision": revision, "raft_term": 1}, "kvs": kvs, "count": count})
}
