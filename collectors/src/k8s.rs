//! The k8s source: Kubernetes API objects as `kubectl get ... -o json|yaml`
//! prints them (a `List`, a typed list such as `PodList`, or single objects,
//! kinds mixed freely) and as the API serves them to a watch.
//!
//! [`project`] reduces one object to the fields rules read, strictly: a value
//! of the wrong type or out of range is an error with its path
//! (`spec.ports[0].port: expected an integer 1-65535, got "abc"`), never a
//! default. The capture reader and the live watchers share it. [`ClusterReader`]
//! accumulates objects from many files, keeping the higher resourceVersion of
//! an object seen twice; [`for_each_object`] streams a file one object at a
//! time, so a 150k-pod List never exists as one tree in memory.

use crate::error::{shape, ParseError};
use crate::util::{join, kind_of, At};
use netdoctor_engine::kind::FactKind;
use netdoctor_engine::model::*;
use netdoctor_engine::store::{endpoints_key, FactSet, Object};
use netdoctor_engine::{Fact, Source};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What one API object is to netdoctor.
#[derive(Debug)]
pub enum Item {
    /// A projected object.
    Object(Object),
    /// A ConfigMap the rules read.
    Config(Config),
    /// A kind no rule reads (counted in a note).
    Ignored(String),
    /// A Secret: never read.
    Secret,
    /// An EndpointSlice that belongs to no Service (or an FQDN slice): not used.
    Unused,
    /// `List` of this kind with no items: collected, and empty.
    EmptyList(FactKind),
}

/// A ConfigMap netdoctor reads, parsed.
#[derive(Debug)]
pub enum Config {
    Corefile(Corefile),
    KubeProxy(KubeProxyConfig),
    Kubeadm(KubeadmConfig),
    FlannelNetConf(FlannelConfig),
    /// Another ConfigMap: not read.
    Other,
}

/// The fact kind an API object kind belongs to (`Node` → nodes); `None` for kinds no rule reads.
pub fn fact_kind(kind: &str) -> Option<FactKind> {
    Some(match kind {
        "Node" => FactKind::Nodes,
        "Pod" => FactKind::Pods,
        "Service" => FactKind::Services,
        "EndpointSlice" | "Endpoints" => FactKind::Endpoints,
        "Deployment" => FactKind::Deployments,
        "ComponentStatus" => FactKind::ComponentStatuses,
        "IPPool" => FactKind::IpPools,
        "BlockAffinity" => FactKind::BlockAffinities,
        _ => return None,
    })
}

/// The ConfigMap kinds (fact kinds held in ConfigMaps).
pub const CONFIG_KINDS: &[FactKind] = &[FactKind::CorednsConfig, FactKind::KubeProxyConfig, FactKind::KubeadmConfig, FactKind::FlannelNetConf];

/// The fact kinds an object could be, for marking them broken when it cannot be read.
pub fn kinds_of(v: &Value) -> Vec<FactKind> {
    match v.get("kind").and_then(Value::as_str) {
        Some("ConfigMap") => match (v.pointer("/metadata/namespace").and_then(Value::as_str), v.pointer("/metadata/name").and_then(Value::as_str)) {
            (Some("kube-system"), Some("coredns")) => vec![FactKind::CorednsConfig],
            (Some("kube-system"), Some("kube-proxy")) => vec![FactKind::KubeProxyConfig],
            (Some("kube-system"), Some("kubeadm-config")) => vec![FactKind::KubeadmConfig],
            (_, Some("kube-flannel-cfg")) => vec![FactKind::FlannelNetConf],
            (_, Some(_)) => vec![],
            _ => CONFIG_KINDS.to_vec(),
        },
        Some(k) => fact_kind(k).into_iter().collect(),
        None => all_cluster_object_kinds(),
    }
}

/// Every cluster kind read from API objects: what an unreadable file could have held.
pub fn all_cluster_object_kinds() -> Vec<FactKind> {
    let mut v = vec![
        FactKind::Nodes,
        FactKind::Pods,
        FactKind::Services,
        FactKind::Endpoints,
        FactKind::Deployments,
        FactKind::ComponentStatuses,
        FactKind::IpPools,
        FactKind::BlockAffinities,
    ];
    v.extend_from_slice(CONFIG_KINDS);
    v
}

fn meta_name(at: At) -> Result<(String, String), ParseError> {
    let m = at.get("metadata").ok_or_else(|| shape(join(at.path, "metadata"), "an object, got nothing"))?;
    let path = join(at.path, "metadata");
    let m = At::root(m, &path);
    Ok((m.str("namespace")?.unwrap_or("").to_string(), m.req_str("name")?.to_string()))
}

fn namespaced(at: At) -> Result<(String, String), ParseError> {
    let (ns, name) = meta_name(at)?;
    if ns.is_empty() {
        return Err(shape(join(at.path, "metadata.namespace"), "a namespace, got nothing"));
    }
    Ok((ns, name))
}

fn child<'a>(at: At<'a>, key: &str, path: &'a mut String) -> Option<At<'a>> {
    let v = at.get(key)?;
    *path = join(at.path, key);
    Some(At::root(v, path))
}

/// resourceVersion: opaque to the API, numeric in practice (etcd revisions); a non-numeric one
/// orders as 0.
fn rv(at: At) -> u64 {
    at.v.pointer("/metadata/resourceVersion").and_then(Value::as_str).and_then(|r| r.parse().ok()).unwrap_or(0)
}

fn each<'a>(at: At<'a>, key: &str, mut f: impl FnMut(At) -> Result<(), ParseError>) -> Result<(), ParseError> {
    for (i, v) in at.arr(key)?.iter().enumerate() {
        let path = format!("{}[{i}]", join(at.path, key));
        f(At::root(v, &path))?;
    }
    Ok(())
}

fn ip(at: At, key: &str) -> Result<Option<IpAddr>, ParseError> {
    at.parsed::<IpAddr>(key, "an IP address")
}

fn time(at: At, key: &str) -> Result<Option<String>, ParseError> {
    match at.str(key)? {
        None => Ok(None),
        Some(t) if netdoctor_engine::time::parse_rfc3339(t).is_some() => Ok(Some(t.to_string())),
        Some(t) => Err(shape(join(at.path, key), format!("an RFC 3339 time, got {t:?}"))),
    }
}

fn port(at: At, key: &str) -> Result<Option<u16>, ParseError> {
    Ok(at.int(key, 1, 65535)?.map(|p| p as u16))
}

fn proto(at: At, key: &str) -> Result<L4Proto, ParseError> {
    Ok(at.parsed::<L4Proto>(key, "TCP, UDP or SCTP")?.unwrap_or(L4Proto::Tcp))
}

fn conditions(at: At, key: &str) -> Result<Vec<Condition>, ParseError> {
    let mut out = Vec::new();
    each(at, key, |c| {
        let status = match c.get("status").and_then(Value::as_str) {
            Some("True") => ConditionStatus::True,
            Some("False") => ConditionStatus::False,
            Some("Unknown") => ConditionStatus::Unknown,
            _ => {
                return Err(shape(
                    join(c.path, "status"),
                    format!("\"True\", \"False\" or \"Unknown\", got {}", c.v.get("status").map_or("nothing".into(), kind_of)),
                ))
            }
        };
        out.push(Condition {
            kind: Condition::kind_of(c.req_str("type")?),
            status,
            reason: c.str("reason")?.map(Box::from),
            message: c.str("message")?.map(Box::from),
            since: time(c, "lastTransitionTime")?.and_then(|t| netdoctor_engine::time::parse_rfc3339(&t)),
        });
        Ok(())
    })?;
    Ok(out)
}

fn node(at: At) -> Result<Node, ParseError> {
    let (_, name) = meta_name(at)?;
    let mut p = String::new();
    let meta = child(at, "metadata", &mut p).expect("checked");
    let ann = meta.string_map("annotations")?;
    let (mut sp, mut st) = (String::new(), String::new());
    let spec = child(at, "spec", &mut sp);
    let status = child(at, "status", &mut st);
    let mut addresses = Vec::new();
    if let Some(s) = status {
        each(s, "addresses", |a| {
            let kind = a.req_str("type")?.to_string();
            let address = a.req_str("address")?.to_string();
            let ip = match kind.as_str() {
                "InternalIP" | "ExternalIP" => {
                    Some(address.parse::<IpAddr>().map_err(|_| shape(join(a.path, "address"), format!("an IP address, got {address:?}")))?)
                }
                _ => address.parse().ok(),
            };
            addresses.push(NodeAddress { kind, address, ip });
            Ok(())
        })?;
    }
    let mut pod_cidrs = Vec::new();
    let mut taints = Vec::new();
    let mut unschedulable = false;
    if let Some(s) = spec {
        for (i, c) in s.strs("podCIDRs")?.iter().enumerate() {
            pod_cidrs.push(c.parse().map_err(|_| shape(format!("{}.podCIDRs[{i}]", s.path), format!("a CIDR, got {c:?}")))?);
        }
        if pod_cidrs.is_empty() {
            pod_cidrs.extend(s.parsed::<ipnet::IpNet>("podCIDR", "a CIDR")?);
        }
        each(s, "taints", |t| {
            taints.push(Taint { key: t.req_str("key")?.to_string(), value: t.str("value")?.map(str::to_string), effect: t.req_str("effect")?.to_string() });
            Ok(())
        })?;
        unschedulable = s.bool("unschedulable")?.unwrap_or(false);
    }
    let flannel = if ann.keys().any(|k| k.starts_with("flannel.alpha.coreos.com/")) {
        let apath = format!("{}.metadata.annotations", at.path);
        let bad = |k: &str, what: &str, v: &str| shape(format!("{apath}[{k:?}]"), format!("{what}, got {v:?}"));
        let public_ip = match ann.get("flannel.alpha.coreos.com/public-ip") {
            Some(v) => Some(v.parse::<IpAddr>().map_err(|_| bad("flannel.alpha.coreos.com/public-ip", "an IP address", v))?),
            None => None,
        };
        let vtep_mac = match ann.get("flannel.alpha.coreos.com/backend-data") {
            Some(d) if d != "null" && !d.is_empty() => {
                let j: Value = serde_json::from_str(d).map_err(|_| bad("flannel.alpha.coreos.com/backend-data", "flannel backend data JSON", d))?;
                At::root(&j, &format!("{apath}[\"flannel.alpha.coreos.com/backend-data\"]")).parsed::<MacAddr>("VtepMAC", "a MAC address")?
            }
            _ => None,
        };
        let ksm = match ann.get("flannel.alpha.coreos.com/kube-subnet-manager").map(String::as_str) {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => return Err(bad("flannel.alpha.coreos.com/kube-subnet-manager", "\"true\" or \"false\"", v)),
        };
        Some(FlannelAnnotations { public_ip, backend_type: ann.get("flannel.alpha.coreos.com/backend-type").cloned(), vtep_mac, kube_subnet_manager: ksm })
    } else {
        None
    };
    Ok(Node {
        name,
        resource_version: rv(at),
        addresses,
        pod_cidrs,
        conditions: match status {
            Some(s) => conditions(s, "conditions")?,
            None => Vec::new(),
        },
        labels: meta.string_map("labels")?.into(),
        taints,
        unschedulable,
        flannel,
    })
}

/// A container state, its reason and its exit code.
type StateOf = (Option<ContainerState>, Option<String>, Option<i32>);

fn container_state(at: At, key: &str) -> Result<StateOf, ParseError> {
    let Some(m) = at.obj(key)? else { return Ok((None, None, None)) };
    let mut p = String::new();
    let s = child(at, key, &mut p).expect("checked");
    for (name, state) in [("running", ContainerState::Running), ("waiting", ContainerState::Waiting), ("terminated", ContainerState::Terminated)] {
        if m.contains_key(name) {
            let mut q = String::new();
            let Some(d) = child(s, name, &mut q) else { return Ok((Some(state), None, None)) };
            return Ok((Some(state), d.str("reason")?.map(str::to_string), d.int("exitCode", i64::from(i32::MIN), i64::from(i32::MAX))?.map(|c| c as i32)));
        }
    }
    if m.is_empty() {
        return Ok((None, None, None));
    }
    Err(shape(join(at.path, key), format!("one of running, waiting, terminated, got {}", m.keys().cloned().collect::<Vec<_>>().join(", "))))
}

fn pod(at: At) -> Result<Pod, ParseError> {
    let (namespace, name) = namespaced(at)?;
    let mut p = String::new();
    let meta = child(at, "metadata", &mut p).expect("checked");
    let mut owners: Vec<(Owner, bool)> = Vec::new();
    each(meta, "ownerReferences", |o| {
        owners.push((Owner { kind: o.req_str("kind")?.to_string(), name: o.req_str("name")?.to_string() }, o.bool("controller")?.unwrap_or(false)));
        Ok(())
    })?;
    let owner = owners.iter().find(|(_, c)| *c).or(owners.first()).map(|(o, _)| o.clone());
    let ann = meta.string_map("annotations")?;
    let mirror = ann.get("kubernetes.io/config.source").map(String::as_str) == Some("file") || owner.as_ref().is_some_and(|o| o.kind == "Node");
    let (mut sp, mut st) = (String::new(), String::new());
    let spec = child(at, "spec", &mut sp);
    let status = child(at, "status", &mut st);
    let mut ports = Vec::new();
    let mut node = None;
    let mut host_network = false;
    if let Some(s) = spec {
        node = s.str("nodeName")?.map(str::to_string);
        host_network = s.bool("hostNetwork")?.unwrap_or(false);
        each(s, "containers", |c| {
            let container = c.req_str("name")?.to_string();
            each(c, "ports", |pt| {
                ports.push(ContainerPort {
                    container: container.clone(),
                    name: pt.str("name")?.map(str::to_string),
                    port: port(pt, "containerPort")?.ok_or_else(|| shape(join(pt.path, "containerPort"), "an integer 1-65535, got nothing"))?,
                    protocol: proto(pt, "protocol")?,
                });
                Ok(())
            })
        })?;
    }
    let (mut phase, mut reason, mut ips, mut conds, mut containers) = (None, None, Vec::new(), Vec::new(), Vec::new());
    if let Some(s) = status {
        phase = match s.str("phase")? {
            None => None,
            Some(ph) => {
                Some(PodPhase::parse(ph).ok_or_else(|| shape(join(s.path, "phase"), format!("Pending, Running, Succeeded, Failed or Unknown, got {ph:?}")))?)
            }
        };
        reason = s.str("reason")?.map(str::to_string);
        each(s, "podIPs", |i| {
            ips.extend(ip(i, "ip")?);
            Ok(())
        })?;
        if ips.is_empty() {
            ips.extend(ip(s, "podIP")?);
        }
        conds = conditions(s, "conditions")?;
        each(s, "containerStatuses", |c| {
            let (state, r, code) = container_state(c, "state")?;
            let (last_state, last_reason, _) = container_state(c, "lastState")?;
            containers.push(ContainerStatus {
                name: c.req_str("name")?.to_string(),
                ready: c.bool("ready")?.unwrap_or(false),
                restart_count: c.int("restartCount", 0, i64::from(u32::MAX))?.unwrap_or(0) as u32,
                state,
                reason: r,
                exit_code: code,
                last_state,
                last_reason,
            });
            Ok(())
        })?;
    }
    Ok(Pod {
        namespace,
        name,
        resource_version: rv(at),
        node,
        phase,
        reason,
        ips,
        host_network,
        labels: meta.string_map("labels")?.into(),
        owner,
        mirror,
        // A 150k-pod cluster keeps these for every pod: no spare capacity from growth.
        conditions: tight(conds),
        containers: tight(containers),
        ports: tight(ports),
    })
    .map(|mut p: Pod| {
        p.ips.shrink_to_fit();
        p
    })
}

fn tight<T>(mut v: Vec<T>) -> Vec<T> {
    v.shrink_to_fit();
    v
}

fn service(at: At) -> Result<Service, ParseError> {
    let (namespace, name) = namespaced(at)?;
    let mut sp = String::new();
    let empty = Value::Object(Default::default());
    let spec = child(at, "spec", &mut sp).unwrap_or(At::root(&empty, "spec"));
    let kind = match spec.str("type")? {
        None => ServiceType::ClusterIP,
        Some(t) => {
            ServiceType::parse(t).ok_or_else(|| shape(join(spec.path, "type"), format!("ClusterIP, NodePort, LoadBalancer or ExternalName, got {t:?}")))?
        }
    };
    let mut cluster_ips = Vec::new();
    let listed = spec.strs("clusterIPs")?;
    let one: Vec<String> = spec.str("clusterIP")?.map(str::to_string).into_iter().collect();
    let (from, key) = if listed.is_empty() { (one, "clusterIP") } else { (listed, "clusterIPs") };
    for a in from {
        if a == "None" || a.is_empty() {
            continue;
        }
        cluster_ips.push(a.parse::<IpAddr>().map_err(|_| shape(join(spec.path, key), format!("an IP address or \"None\", got {a:?}")))?);
    }
    let mut ports = Vec::new();
    each(spec, "ports", |p| {
        let number = port(p, "port")?.ok_or_else(|| shape(join(p.path, "port"), "an integer 1-65535, got nothing"))?;
        let target_port = match p.get("targetPort") {
            None => TargetPort::Number(number),
            Some(Value::String(s)) => match s.parse::<u16>() {
                Ok(n) if n > 0 => TargetPort::Number(n),
                _ => TargetPort::Name(s.clone()),
            },
            Some(_) => TargetPort::Number(port(p, "targetPort")?.unwrap_or(number)),
        };
        ports.push(ServicePort {
            name: p.str("name")?.map(str::to_string),
            protocol: proto(p, "protocol")?,
            port: number,
            target_port,
            node_port: port(p, "nodePort")?,
        });
        Ok(())
    })?;
    Ok(Service { namespace, name, resource_version: rv(at), kind, cluster_ips, ports, selector: spec.string_map("selector")? })
}

fn endpoint_ports(at: At, key: &str) -> Result<Vec<EndpointPort>, ParseError> {
    let mut out = Vec::new();
    each(at, key, |p| {
        out.push(EndpointPort { name: p.str("name")?.map(str::to_string), port: port(p, "port")?, protocol: proto(p, "protocol")? });
        Ok(())
    })?;
    Ok(out)
}

fn endpoint_slice(at: At) -> Result<Option<EndpointSet>, ParseError> {
    let (namespace, name) = namespaced(at)?;
    let labels = At::root(at.get("metadata").unwrap_or(&Value::Null), &join(at.path, "metadata")).string_map("labels")?;
    let Some(service) = labels.get("kubernetes.io/service-name").cloned() else { return Ok(None) };
    if at.str("addressType")? == Some("FQDN") {
        return Ok(None);
    }
    let mut e =
        EndpointSet { namespace, name, service, resource_version: rv(at), ready: vec![], not_ready: vec![], ports: endpoint_ports(at, "ports")?, slice: true };
    each(at, "endpoints", |ep| {
        let mut cp = String::new();
        // API semantics: a nil `ready` is interpreted as ready.
        let ready = match child(ep, "conditions", &mut cp) {
            Some(c) => c.bool("ready")?.unwrap_or(true),
            None => true,
        };
        for (i, a) in ep.arr("addresses")?.iter().enumerate() {
            let addr = match a {
                Value::String(s) => s.parse::<IpAddr>().ok(),
                _ => None,
            }
            .ok_or_else(|| shape(format!("{}.addresses[{i}]", ep.path), format!("an IP address, got {}", kind_of(a))))?;
            if ready {
                e.ready.push(addr)
            } else {
                e.not_ready.push(addr)
            }
        }
        Ok(())
    })?;
    Ok(Some(e))
}

fn endpoints_v1(at: At) -> Result<EndpointSet, ParseError> {
    let (namespace, name) = namespaced(at)?;
    let mut e = EndpointSet { namespace, service: name.clone(), name, resource_version: rv(at), ready: vec![], not_ready: vec![], ports: vec![], slice: false };
    each(at, "subsets", |sub| {
        each(sub, "addresses", |a| {
            e.ready.extend(ip(a, "ip")?);
            Ok(())
        })?;
        each(sub, "notReadyAddresses", |a| {
            e.not_ready.extend(ip(a, "ip")?);
            Ok(())
        })?;
        e.ports.extend(endpoint_ports(sub, "ports")?);
        Ok(())
    })?;
    Ok(e)
}

fn deployment(at: At) -> Result<Deployment, ParseError> {
    let (namespace, name) = namespaced(at)?;
    let (mut sp, mut st, mut mp) = (String::new(), String::new(), String::new());
    let empty = Value::Object(Default::default());
    let spec = child(at, "spec", &mut sp).unwrap_or(At::root(&empty, "spec"));
    let status = child(at, "status", &mut st).unwrap_or(At::root(&empty, "status"));
    let meta = child(at, "metadata", &mut mp).expect("checked");
    let n = |a: At, k: &str| -> Result<u32, ParseError> { Ok(a.int(k, 0, i64::from(i32::MAX))?.unwrap_or(0) as u32) };
    let mut selp = String::new();
    let selector = match child(spec, "selector", &mut selp) {
        Some(s) => s.string_map("matchLabels")?,
        None => BTreeMap::new(),
    };
    Ok(Deployment {
        namespace,
        name,
        resource_version: rv(at),
        replicas: spec.int("replicas", 0, i64::from(i32::MAX))?.unwrap_or(1) as u32,
        ready_replicas: n(status, "readyReplicas")?,
        available_replicas: n(status, "availableReplicas")?,
        updated_replicas: n(status, "updatedReplicas")?,
        selector,
        labels: meta.string_map("labels")?.into(),
    })
}

fn component_status(at: At) -> Result<ComponentStatus, ParseError> {
    let (_, name) = meta_name(at)?;
    let mut healthy = false;
    let mut message = None;
    each(at, "conditions", |c| {
        if c.str("type")? == Some("Healthy") && c.str("status")? == Some("True") {
            healthy = true;
        }
        if message.is_none() {
            message = c.str("message")?.or(c.str("error")?).map(str::to_string);
        }
        Ok(())
    })?;
    Ok(ComponentStatus { name, healthy, message })
}

fn ip_pool(at: At) -> Result<IpPool, ParseError> {
    let (_, name) = meta_name(at)?;
    let mut sp = String::new();
    let spec = child(at, "spec", &mut sp).ok_or_else(|| shape(join(at.path, "spec"), "an object, got nothing"))?;
    Ok(IpPool {
        name,
        cidr: spec.parsed("cidr", "a CIDR")?.ok_or_else(|| shape(join(spec.path, "cidr"), "a CIDR, got nothing"))?,
        ipip_mode: spec.str("ipipMode")?.map(str::to_string),
        vxlan_mode: spec.str("vxlanMode")?.map(str::to_string),
        nat_outgoing: spec.bool("natOutgoing")?.unwrap_or(false),
        disabled: spec.bool("disabled")?.unwrap_or(false),
    })
}

fn block_affinity(at: At) -> Result<BlockAffinity, ParseError> {
    let (_, name) = meta_name(at)?;
    let mut sp = String::new();
    let spec = child(at, "spec", &mut sp).ok_or_else(|| shape(join(at.path, "spec"), "an object, got nothing"))?;
    Ok(BlockAffinity {
        name,
        node: spec.req_str("node")?.to_string(),
        cidr: spec.parsed("cidr", "a CIDR")?.ok_or_else(|| shape(join(spec.path, "cidr"), "a CIDR, got nothing"))?,
        state: spec.str("state")?.unwrap_or("confirmed").to_string(),
    })
}

/// The Corefile's `forward` / `proxy` directives.
pub fn parse_corefile(text: &str) -> Corefile {
    let mut forwards = Vec::new();
    let mut zone = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.ends_with('{') && !line.starts_with("forward") && !line.starts_with("proxy") {
            zone = line.trim_end_matches('{').trim().to_string();
            continue;
        }
        let mut words = line.split_whitespace();
        let Some(directive) = words.next() else { continue };
        if directive != "forward" && directive != "proxy" {
            continue;
        }
        let from = words.next().unwrap_or("").to_string();
        let targets: Vec<String> = words.take_while(|w| *w != "{").map(str::to_string).collect();
        let line = line.trim_end_matches('{').trim_end();
        forwards.push(CorefileForward { server: zone.clone(), directive: directive.to_string(), from, targets, line: i + 1, text: line.to_string() });
    }
    Corefile { text: text.to_string(), forwards }
}

fn config_map(at: At, source: &Source) -> Result<Config, ParseError> {
    let (ns, name) = meta_name(at)?;
    let mut dp = String::new();
    let data = child(at, "data", &mut dp);
    let get = |k: &str| -> Result<Option<&str>, ParseError> {
        match data {
            Some(d) => d.str(k),
            None => Ok(None),
        }
    };
    Ok(match (ns.as_str(), name.as_str()) {
        ("kube-system", "coredns") => Config::Corefile(parse_corefile(get("Corefile")?.unwrap_or(""))),
        ("kube-system", "kube-proxy") => {
            let mode = match get("config.conf")? {
                Some(conf) => {
                    let y: serde_yaml::Value = serde_yaml::from_str(conf)
                        .map_err(|e| shape(format!("{}.data[\"config.conf\"]", at.path), format!("KubeProxyConfiguration YAML ({e})")))?;
                    match y.get("mode") {
                        None | Some(serde_yaml::Value::Null) => Some(String::new()),
                        Some(serde_yaml::Value::String(s)) => Some(s.clone()),
                        Some(_) => return Err(shape(format!("{}.data[\"config.conf\"].mode", at.path), "a string")),
                    }
                }
                None => None,
            };
            Config::KubeProxy(KubeProxyConfig { mode })
        }
        ("kube-system", "kubeadm-config") => {
            let mut out = KubeadmConfig::default();
            // kubeadm < 1.12 stored the same document as MasterConfiguration.
            if let Some(conf) = get("ClusterConfiguration")?.or(get("MasterConfiguration")?) {
                let where_ = format!("{}.data.ClusterConfiguration", at.path);
                let y: serde_yaml::Value = serde_yaml::from_str(conf).map_err(|e| shape(&where_, format!("ClusterConfiguration YAML ({e})")))?;
                let nets = |k: &str| -> Result<Vec<ipnet::IpNet>, ParseError> {
                    match y.get("networking").and_then(|n| n.get(k)) {
                        None | Some(serde_yaml::Value::Null) => Ok(Vec::new()),
                        Some(serde_yaml::Value::String(s)) => s
                            .split(',')
                            .map(|c| c.trim().parse::<ipnet::IpNet>().map_err(|_| shape(format!("{where_}.networking.{k}"), format!("CIDRs, got {s:?}"))))
                            .collect(),
                        Some(_) => Err(shape(format!("{where_}.networking.{k}"), "a string")),
                    }
                };
                out.pod_subnets = nets("podSubnet")?;
                out.service_subnets = nets("serviceSubnet")?;
            }
            Config::Kubeadm(out)
        }
        (_, "kube-flannel-cfg") => match get("net-conf.json")? {
            Some(conf) => Config::FlannelNetConf(
                crate::etcd::parse_config(conf, source.clone())
                    .map_err(|e| shape(format!("{}.data[\"net-conf.json\"]", at.path), format!("flannel net-conf JSON ({e})")))?,
            ),
            None => Config::Other,
        },
        _ => Config::Other,
    })
}

/// Projects one API object onto the facts rules read. `source` is where it was read (used
/// for config provenance). The object's `kind` must be set (kubectl typed lists omit it on
/// items: [`for_each_object`] adopts the list's).
pub fn project(v: &Value, path: &str, source: &Source) -> Result<Item, ParseError> {
    let at = At::root(v, path);
    if v.get("__empty_list").is_some() {
        let k = at.req_str("kind")?;
        return Ok(match fact_kind(k) {
            Some(fk) => Item::EmptyList(fk),
            None => Item::Ignored(k.to_string()),
        });
    }
    let kind = at.req_str("kind")?;
    Ok(match kind {
        "Node" => Item::Object(Object::Node(node(at)?)),
        "Pod" => Item::Object(Object::Pod(pod(at)?)),
        "Service" => Item::Object(Object::Service(service(at)?)),
        "EndpointSlice" => match endpoint_slice(at)? {
            Some(e) => Item::Object(Object::Endpoints(e)),
            None => Item::Unused,
        },
        "Endpoints" => Item::Object(Object::Endpoints(endpoints_v1(at)?)),
        "Deployment" => Item::Object(Object::Deployment(deployment(at)?)),
        "ComponentStatus" => Item::Object(Object::ComponentStatus(component_status(at)?)),
        "IPPool" => Item::Object(Object::IpPool(ip_pool(at)?)),
        "BlockAffinity" => Item::Object(Object::BlockAffinity(block_affinity(at)?)),
        "ConfigMap" => Item::Config(config_map(at, source)?),
        "Secret" => Item::Secret,
        other => Item::Ignored(other.to_string()),
    })
}

/// Accumulates API objects from many files into a [`FactSet`], keeping the higher
/// resourceVersion of an object seen twice.
#[derive(Default)]
pub struct ClusterReader {
    ignored: BTreeMap<String, usize>,
    secrets: usize,
    duplicates: usize,
}

/// Keys timestamps are tracked under (the capture time when meta.json has none).
const TIME_KEYS: &[&str] = &["creationTimestamp", "lastTransitionTime", "lastHeartbeatTime", "startedAt", "finishedAt", "startTime"];

fn track_newest(set: &mut FactSet, v: &Value, depth: usize) {
    if depth > 6 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if TIME_KEYS.contains(&k.as_str()) {
                    if let Some(t) = x.as_str() {
                        set.saw_timestamp(t);
                    }
                } else if k != "managedFields" && k != "annotations" {
                    track_newest(set, x, depth + 1);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| track_newest(set, x, depth + 1)),
        _ => {}
    }
}

impl ClusterReader {
    /// Adds one object read from `file` at `path`; an object that cannot be read marks the
    /// kinds it could be as broken, with the error.
    pub fn add(&mut self, set: &mut FactSet, file: &str, path: &str, v: &Value) {
        let source = Source::file(file);
        match project(v, path, &source) {
            Ok(item) => {
                if v.get("__empty_list").is_none() {
                    track_newest(set, v, 0);
                }
                self.apply(set, &source, item)
            }
            Err(e) => {
                let kinds = kinds_of(v);
                if kinds.is_empty() {
                    set.error(&source, e.to_string());
                }
                for k in kinds {
                    set.collected(k, source.clone());
                    let at = source.clone();
                    if CONFIG_KINDS.contains(&k) {
                        set_config(set, k, Fact::Broken { source: at, error: e.to_string() });
                    } else {
                        set.broken(k, at, e.to_string());
                    }
                }
            }
        }
    }

    /// Applies one projected item.
    pub fn apply(&mut self, set: &mut FactSet, source: &Source, item: Item) {
        match item {
            Item::Object(o) => {
                let (kind, key, new_rv) = (o.kind(), o.key(), o.resource_version());
                set.collected(kind, source.clone());
                match set.resource_version(kind, &key) {
                    Some(old) => {
                        self.duplicates += 1;
                        if new_rv > old {
                            set.apply(o);
                        }
                    }
                    None => {
                        set.apply(o);
                    }
                }
            }
            Item::EmptyList(k) => set.collected(k, source.clone()),
            Item::Config(c) => match c {
                Config::Corefile(x) => set.set_corefile(Fact::present(source.clone(), x)),
                Config::KubeProxy(x) => set.set_kube_proxy(Fact::present(source.clone(), x)),
                Config::Kubeadm(x) => set.set_kubeadm(Fact::present(source.clone(), x)),
                Config::FlannelNetConf(x) => set.set_flannel_net_conf(Fact::present(source.clone(), x)),
                Config::Other => {}
            },
            Item::Ignored(k) => *self.ignored.entry(k).or_default() += 1,
            Item::Secret => self.secrets += 1,
            Item::Unused => {}
        }
    }

    /// Adds the reader's notes (duplicates, ignored kinds) to the set.
    pub fn finish(self, set: &mut FactSet) {
        if self.duplicates > 0 {
            set.note(format!("{} API objects appeared more than once; kept the copy with the higher resourceVersion", self.duplicates));
        }
        if self.secrets > 0 {
            set.note(format!("ignored {} Secret(s): netdoctor never reads Secrets", self.secrets));
        }
        for (kind, n) in self.ignored {
            set.note(format!("ignored {n} API object(s) of kind {kind}: not read by any rule"));
        }
    }
}

/// Sets a ConfigMap kind's fact.
pub fn set_config(set: &mut FactSet, kind: FactKind, f: Fact<()>) {
    let (source, error) = match f {
        Fact::Broken { source, error } => (source, error),
        _ => return,
    };
    match kind {
        FactKind::CorednsConfig => set.set_corefile(Fact::Broken { source, error }),
        FactKind::KubeProxyConfig => set.set_kube_proxy(Fact::Broken { source, error }),
        FactKind::KubeadmConfig => set.set_kubeadm(Fact::Broken { source, error }),
        FactKind::FlannelNetConf => set.set_flannel_net_conf(Fact::Broken { source, error }),
        _ => {}
    }
}

/// The key an EndpointSlice / Endpoints object is stored under.
pub fn endpoints_object_key(slice: bool, namespace: &str, name: &str) -> (String, String) {
    endpoints_key(slice, namespace, name)
}

/// The item kind of a typed list (`PodList` → `Pod`); `None` for a plain `List`.
pub(crate) fn list_item_kind(list_kind: &str) -> Option<String> {
    list_kind.strip_suffix("List").filter(|k| !k.is_empty()).map(str::to_string)
}

/// kubectl omits `kind` in a typed list's items: they take the list's.
pub(crate) fn adopt_kind(mut item: Value, item_kind: Option<&String>) -> Value {
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

/// The path `each` receives when the objects handed out so far must be forgotten: a YAML
/// List read item by item turned out not to be cut-able, and is read again whole.
pub const RESTART: &str = "$restart";

/// Calls `each(path, object)` for every API object of a `kubectl get -o json|yaml` stream,
/// one object at a time (a List's items are handed out as they are parsed). YAML may hold
/// several documents. An empty file is an error (kubectl never prints one).
pub fn for_each_object(reader: impl std::io::Read, yaml: bool, each: &mut dyn FnMut(&str, Value)) -> Result<(), ParseError> {
    let mut reader = crate::util::skip_bom(reader);
    if yaml {
        // kubectl's Lists are cut into their items and each parsed alone (one item's tree at
        // a time); anything the cut does not hold for goes through the YAML parser whole.
        let mut text = String::new();
        std::io::Read::read_to_string(&mut reader, &mut text).map_err(|e| ParseError::File(format!("not UTF-8 text or unreadable: {e}")))?;
        if crate::k8s_yaml::split_objects(&text, each).is_some() {
            return Ok(());
        }
        // The cut did not hold after handing out some objects: start again, whole.
        each(RESTART, Value::Null);
        let mut docs = 0;
        for (d, doc) in serde_yaml::Deserializer::from_str(&text).enumerate() {
            let base = format!("document {}", d + 1);
            let mut prefixed = |p: &str, v: Value| each(&format!("{base}{}", p.trim_start_matches('$')), v);
            match serde::de::DeserializeSeed::deserialize(Doc { each: &mut prefixed, allow_null: true }, doc) {
                Ok(Ok(true)) => docs += 1,
                Ok(Ok(false)) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(e.into()),
            }
        }
        if docs == 0 {
            return Err(ParseError::File("empty file: expected what `kubectl get -o yaml` prints".into()));
        }
        return Ok(());
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    serde::de::DeserializeSeed::deserialize(Doc { each, allow_null: false }, &mut de)??;
    de.end()?;
    Ok(())
}

/// The top-level document: a List (streamed items) or one object. Its value says whether the
/// document held anything (a YAML `---` alone is an empty document).
struct Doc<'a> {
    each: &'a mut dyn FnMut(&str, Value),
    allow_null: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Doc<'_> {
    type Value = Result<bool, ParseError>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.allow_null {
            d.deserialize_any(self)
        } else {
            d.deserialize_map(self)
        }
    }
}

impl<'de> serde::de::Visitor<'de> for Doc<'_> {
    type Value = Result<bool, ParseError>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes object or List")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Ok(false))
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Ok(false))
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
            return Ok(Ok(true));
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
        Ok(Ok(true))
    }
}

/// A List's `items`, handed out one by one (items without `kind` wait for the list's kind).
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Result<Item, String> {
        project(&v, "$.items[0]", &Source::file("cluster/x.json")).map_err(|e| e.to_string())
    }

    #[test]
    fn wrong_types_name_their_path() {
        let e = item(json!({"kind": "Node", "metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": true}]}})).unwrap_err();
        assert_eq!(e, "$.items[0].status.conditions[0].status: expected \"True\", \"False\" or \"Unknown\", got true");
        let e = item(json!({"kind": "Service", "metadata": {"name": "s", "namespace": "d"}, "spec": {"ports": [{"port": "abc"}]}})).unwrap_err();
        assert_eq!(e, "$.items[0].spec.ports[0].port: expected an integer 1-65535, got \"abc\"");
        let e = item(json!({"kind": "EndpointSlice", "metadata": {"name": "s-x", "namespace": "d", "labels": {"kubernetes.io/service-name": "s"}}, "endpoints": [{"addresses": [123]}]})).unwrap_err();
        assert_eq!(e, "$.items[0].endpoints[0].addresses[0]: expected an IP address, got 123");
        let e = item(json!({"kind": "EndpointSlice", "metadata": {"name": "s-x", "namespace": "d", "labels": {"kubernetes.io/service-name": "s"}}, "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": "false"}}]})).unwrap_err();
        assert!(e.contains("conditions.ready: expected true or false"), "{e}");
        let e = item(json!({"kind": "EndpointSlice", "metadata": {"namespace": "d"}})).unwrap_err();
        assert_eq!(e, "$.items[0].metadata.name: expected a string, got nothing");
    }
}
