//! What a rule writes while it runs: findings and skips, validated as they are
//! emitted so a malformed finding fails at the line that made it.

use super::RuleMeta;
use crate::finding::{Finding, Related, Severity, Skip, Subject};
use crate::graph::Graph;
use rhai::{Dynamic, EvalAltResult, Map};
use std::sync::{Arc, Mutex};

/// Findings and skips of one rule run.
#[derive(Debug, Default)]
pub struct Output {
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skip>,
}

/// The `g` a rule's `evaluate(g)` receives: the graph plus the rule's output sink.
#[derive(Clone)]
pub struct Ctx {
    pub g: Arc<Graph>,
    pub rule: Arc<RuleMeta>,
    pub out: Arc<Mutex<Output>>,
    pub params: Arc<Map>,
}

type R<T> = Result<T, Box<EvalAltResult>>;

fn str_field(m: &Map, key: &str, what: &str) -> R<Option<String>> {
    match m.get(key) {
        None => Ok(None),
        Some(d) if d.is_unit() => Ok(None),
        Some(d) => d.clone().into_string().map(Some).map_err(|t| format!("{what}.{key} must be a string, got {t}").into()),
    }
}

fn required(m: &Map, key: &str, what: &str) -> R<String> {
    str_field(m, key, what)?.ok_or_else(|| format!("{what} needs `{key}`").into())
}

fn as_map(d: &Dynamic, what: &str) -> R<Map> {
    d.clone().try_cast::<Map>().ok_or_else(|| format!("{what} must be a map like #{{kind: \"Node\", name: \"n1\"}}, got {}", d.type_name()).into())
}

/// Parses a subject map `#{kind, namespace, name, node}`.
pub fn subject_from(m: &Map) -> R<Subject> {
    const KEYS: &[&str] = &["kind", "namespace", "name", "node"];
    if let Some(k) = m.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("subject has unknown key `{k}` (known: kind, namespace, name, node)").into());
    }
    Ok(Subject {
        kind: required(m, "kind", "subject")?,
        namespace: str_field(m, "namespace", "subject")?,
        name: required(m, "name", "subject")?,
        node: str_field(m, "node", "subject")?,
    })
}

fn related_from(m: &Map) -> R<Related> {
    Ok(Related { kind: required(m, "kind", "related")?, namespace: str_field(m, "namespace", "related")?, name: required(m, "name", "related")? })
}

impl Ctx {
    /// `g.finding(#{subject, summary, evidence, related?, severity?, remediation?})`.
    pub fn emit(&mut self, f: Map) -> R<()> {
        const KEYS: &[&str] = &["subject", "related", "summary", "evidence", "severity", "remediation"];
        if let Some(k) = f.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("finding has unknown key `{k}` (known: {})", KEYS.join(", ")).into());
        }
        let subject = subject_from(&as_map(f.get("subject").ok_or("finding needs `subject`")?, "subject")?)?;
        let related = match f.get("related") {
            None => None,
            Some(d) if d.is_unit() => None,
            Some(d) => Some(related_from(&as_map(d, "related")?)?),
        };
        let summary = required(&f, "summary", "finding")?;
        let severity = match str_field(&f, "severity", "finding")? {
            None => self.rule.severity,
            Some(s) => Severity::parse(&s).ok_or_else(|| format!("finding.severity must be info, warning or critical, got {s:?}"))?,
        };
        let mut evidence = f.get("evidence").map(to_json).unwrap_or(serde_json::Value::Object(Default::default()));
        // Catalogue convention: a host that is not a registered Node says so in the evidence.
        if let Some(t) = self.g.host_index(&subject.name).filter(|_| subject.kind == "Node" && self.g.node(&subject.name).is_none()) {
            if let Some(obj) = evidence.as_object_mut() {
                obj.insert("host".into(), serde_json::Value::String(format!("{}, not a registered Node", self.g.host_place(t))));
            }
        }
        let remediation = str_field(&f, "remediation", "finding")?.unwrap_or_else(|| self.rule.remediation.clone());
        let finding = Finding { rule: self.rule.id.clone(), severity, subject, related, summary, evidence, remediation };
        self.out.lock().map_err(|_| "output poisoned")?.findings.push(finding);
        Ok(())
    }

    /// `g.skip(subject, reason)`.
    pub fn skip(&mut self, subject: Map, reason: &str) -> R<()> {
        let subject = subject_from(&subject)?;
        self.out.lock().map_err(|_| "output poisoned")?.skipped.push(Skip { rule: self.rule.id.clone(), subject, reason: reason.to_string() });
        Ok(())
    }

    /// `g.param(name, default)`: a value from `--config` params for this rule, else `default`
    /// (a rule that declares `RULE.params` may read only those; see `meta::param`).
    pub fn param(&mut self, name: &str, default: Dynamic) -> R<Dynamic> {
        super::meta::param(self, name, Some(default))
    }
}

/// Converts a rule value to JSON for evidence: registered types become their
/// `ip`-style text.
pub fn to_json(d: &Dynamic) -> serde_json::Value {
    use serde_json::Value;
    if d.is_unit() {
        return Value::Null;
    }
    if let Some(b) = d.clone().try_cast::<bool>() {
        return Value::Bool(b);
    }
    if let Some(i) = d.clone().try_cast::<i64>() {
        return Value::from(i);
    }
    if let Some(f) = d.clone().try_cast::<f64>() {
        return Value::from(f);
    }
    if d.is_string() {
        return Value::String(d.clone().into_string().unwrap_or_default());
    }
    if let Some(a) = d.clone().try_cast::<rhai::Array>() {
        return Value::Array(a.iter().map(to_json).collect());
    }
    if let Some(m) = d.clone().try_cast::<Map>() {
        return Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect());
    }
    if let Some(l) = d.clone().try_cast::<crate::route::Lookup>() {
        return serde_json::to_value(&l).unwrap_or(Value::Null);
    }
    if let Some(h) = d.clone().try_cast::<super::api::host::HostLookup>() {
        return serde_json::to_value(&h.l).unwrap_or(Value::Null);
    }
    evidence_of_handle(d).map(sorted_keys).unwrap_or_else(|| Value::String(d.to_string()))
}

/// Object keys in alphabetical order, as rule-built maps print (byte-stable evidence).
fn sorted_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut pairs: Vec<(String, serde_json::Value)> = m.into_iter().map(|(k, v)| (k, sorted_keys(v))).collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(pairs.into_iter().collect())
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(sorted_keys).collect()),
        other => other,
    }
}

/// Handles print as a person reads them: hosts, Nodes and leases by name, pods and Services
/// as `namespace/name`, routes as `ip route` prints them; small records as objects.
fn evidence_of_handle(d: &Dynamic) -> Option<serde_json::Value> {
    use super::api::cluster::*;
    use super::api::dataplane::{ProxyTableRef, RealServerRef, ServiceChains, VirtualServers};
    use super::api::host::*;
    use super::api::{HostRef, Item, LeaseRef, NodeRef, PodRef, ServiceRef};
    use serde_json::{json, Value};
    macro_rules! render {
        ($($t:ty => $f:expr),* $(,)?) => {
            $( if d.is::<$t>() { let x: $t = d.clone().cast::<$t>(); return Some(($f)(&x)); } )*
        };
    }
    let s = |v: String| Value::String(v);
    fn cond(c: &crate::model::Condition) -> Value {
        json!({"type": c.kind, "status": c.status.as_str(), "reason": c.reason, "message": c.message, "since": c.since.map(crate::time::format_rfc3339)})
    }
    render! {
        HostRef => |h: &HostRef| s(h.name().to_string()),
        NodeRef => |n: &NodeRef| s(n.n().name.clone()),
        PodRef => |p: &PodRef| s(format!("{}/{}", p.p().namespace, p.p().name)),
        ServiceRef => |x: &ServiceRef| s(format!("{}/{}", x.s().namespace, x.s().name)),
        LeaseRef => |l: &LeaseRef| s(l.l().subnet.to_string()),
        Item<Routes> => |r: &Item<Routes>| s(r.get().text()),
        Item<Links> => |l: &Item<Links>| s(l.get().name.clone()),
        Item<Addrs> => |a: &Item<Addrs>| s(format!("{} dev {}", a.get().cidr(), a.get().dev)),
        Item<IpRules> => |r: &Item<IpRules>| s(r.get().text.clone()),
        Item<Neighbours> => |n: &Item<Neighbours>| {
            let n = n.get();
            s(format!("{} dev {} lladdr {} {}", n.dst, n.dev, n.lladdr.map(|m| m.to_string()).unwrap_or_default(), n.state.join(",")))
        },
        Item<FdbEntries> => |e: &Item<FdbEntries>| {
            let e = e.get();
            s(format!("{} dev {}{}", e.mac, e.dev, e.dst.map(|d| format!(" dst {d}")).unwrap_or_default()))
        },
        Item<NodeConditions> => |c: &Item<NodeConditions>| cond(c.get()),
        Item<PodConditions> => |c: &Item<PodConditions>| cond(c.get()),
        Item<NodeAddresses> => |a: &Item<NodeAddresses>| s(format!("{} {}", a.get().kind, a.get().address)),
        Item<NodeTaints> => |t: &Item<NodeTaints>| {
            let t = t.get();
            s(format!("{}{}:{}", t.key, t.value.as_ref().map(|v| format!("={v}")).unwrap_or_default(), t.effect))
        },
        Item<Containers> => |c: &Item<Containers>| {
            let c = c.get();
            json!({"name": c.name, "ready": c.ready, "restart_count": c.restart_count, "state": c.state.map(|x| x.as_str()), "reason": c.reason, "exit_code": c.exit_code, "last_state": c.last_state.map(|x| x.as_str()), "last_reason": c.last_reason})
        },
        Item<ContainerPorts> => |p: &Item<ContainerPorts>| {
            let p = p.get();
            json!({"container": p.container, "name": p.name, "port": p.port, "protocol": p.protocol.as_str()})
        },
        Item<ServicePorts> => |p: &Item<ServicePorts>| {
            let p = p.get();
            json!({"name": p.name, "protocol": p.protocol.as_str(), "port": p.port, "target_port": p.target_port.to_string(), "node_port": p.node_port})
        },
        Item<PodHealths> => |h: &Item<PodHealths>| s(h.get().text.clone()),
        Item<EndpointsOf> => |e: &Item<EndpointsOf>| {
            let e = e.get();
            json!({"ready": e.ready, "not_ready": e.not_ready, "source": e.source_kind})
        },
        Item<Deployments> => |d: &Item<Deployments>| s(format!("{}/{}", d.get().namespace, d.get().name)),
        Item<ComponentStatuses> => |c: &Item<ComponentStatuses>| json!({"name": c.get().name, "healthy": c.get().healthy, "message": c.get().message}),
        Item<IpPools> => |p: &Item<IpPools>| {
            let p = p.get();
            json!({"name": p.name, "cidr": p.cidr.to_string(), "ipip_mode": p.ipip_mode, "vxlan_mode": p.vxlan_mode, "disabled": p.disabled})
        },
        Item<BlockAffinities> => |b: &Item<BlockAffinities>| json!({"node": b.get().node, "cidr": b.get().cidr.to_string(), "state": b.get().state}),
        Item<Collectors> => |c: &Item<Collectors>| {
            let st = c.get();
            json!({
                "name": st.name, "up": st.up, "no_data": st.no_data,
                "last_success": st.last_success.map(crate::time::format_rfc3339),
                "age_seconds": st.last_success.and_then(|t| Some(c.g.now()? - t)),
                "stale_after_seconds": st.stale_after_seconds, "error": st.error,
            })
        },
        Item<FlannelConfigs> => |f: &Item<FlannelConfigs>| {
            let f = f.get();
            json!({"network": f.network.map(|n| n.to_string()), "backend": f.backend_type, "vni": f.vni, "direct_routing": f.direct_routing, "source": f.source.to_string()})
        },
        Item<CorefileForwards> => |f: &Item<CorefileForwards>| s(f.get().text.clone()),
        Item<VirtualServers> => |v: &Item<VirtualServers>| s(v.get().text()),
        RealServerRef => |r: &RealServerRef| s(r.to_string()),
        Item<ServiceChains> => |c: &Item<ServiceChains>| s(c.get().name.clone()),
        ProxyTableRef => |t: &ProxyTableRef| s(format!("ProxyTable({})", t.g.host_name(t.t))),
    }
    None
}
