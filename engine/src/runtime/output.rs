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
        if subject.kind == "Node" && self.g.node(&subject.name).is_none() && self.g.target_by_name.contains_key(&subject.name) {
            if let Some(obj) = evidence.as_object_mut() {
                obj.insert("host".into(), serde_json::Value::String(format!("captured host nodes/{}/, not a registered Node", subject.name)));
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
    if let Some(r) = d.clone().try_cast::<crate::model::Route>() {
        return Value::String(r.text());
    }
    if let Some(l) = d.clone().try_cast::<crate::model::Link>() {
        return Value::String(l.name);
    }
    if let Some(a) = d.clone().try_cast::<crate::model::Addr>() {
        return Value::String(format!("{} dev {}", a.cidr(), a.dev));
    }
    if let Some(l) = d.clone().try_cast::<crate::route::Lookup>() {
        return serde_json::to_value(&l).unwrap_or(Value::Null);
    }
    if let Some(h) = d.clone().try_cast::<super::api::HostRef>() {
        return Value::String(h.g.targets[h.t].name.clone());
    }
    if let Some(n) = d.clone().try_cast::<super::api::NodeRef>() {
        return Value::String(n.g.facts.nodes[n.i].name.clone());
    }
    if let Some(p) = d.clone().try_cast::<super::api::PodRef>() {
        let p = &p.g.facts.pods[p.i];
        return Value::String(format!("{}/{}", p.namespace, p.name));
    }
    if let Some(s) = d.clone().try_cast::<super::api::ServiceRef>() {
        let s = &s.g.facts.services[s.i];
        return Value::String(format!("{}/{}", s.namespace, s.name));
    }
    if let Some(l) = d.clone().try_cast::<super::api::LeaseRef>() {
        return Value::String(l.g.leases[l.i].subnet.to_string());
    }
    Value::String(d.to_string())
}
