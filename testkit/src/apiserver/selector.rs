//! Label and field selectors as the Kubernetes API parses them: comma-ANDed
//! requirements; labels support `k=v`, `k==v`, `k!=v`, `k`, `!k`,
//! `k in (a,b)` and `k notin (a,b)`; fields support `path=v`, `path==v` and
//! `path!=v` over the paths a resource allows.

use serde_json::Value;

use super::resources::Resource;

#[derive(Debug, Clone, PartialEq)]
enum Label {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed `labelSelector`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct LabelSelector(Vec<Label>);

impl LabelSelector {
    /// Parses a `labelSelector` value; the error reads like the API's.
    pub(super) fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut out = Vec::new();
        for term in split_top_level(s) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            out.push(parse_label(term).ok_or_else(|| format!("unable to parse requirement: {term:?}"))?);
        }
        Ok(LabelSelector(out))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub(super) fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let get = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|req| match req {
            Label::Eq(k, v) => get(k) == Some(v.as_str()),
            Label::NotEq(k, v) => get(k) != Some(v.as_str()),
            Label::In(k, vs) => get(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Label::NotIn(k, vs) => get(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Label::Exists(k) => get(k).is_some(),
            Label::NotExists(k) => get(k).is_none(),
        })
    }
}

/// Splits on commas outside parentheses (`a in (x,y),b=c`).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn valid_value(v: &str) -> bool {
    v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn parse_label(term: &str) -> Option<Label> {
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        return valid_key(key).then(|| Label::NotExists(key.to_string()));
    }
    if let Some(open) = term.find('(') {
        let set = term[open..].strip_prefix('(')?.strip_suffix(')')?;
        let values: Vec<String> = set.split(',').map(|v| v.trim().to_string()).collect();
        if !values.iter().all(|v| valid_value(v)) {
            return None;
        }
        let mut head = term[..open].split_whitespace();
        let (key, op) = (head.next()?, head.next()?);
        if head.next().is_some() || !valid_key(key) {
            return None;
        }
        return match op {
            "in" => Some(Label::In(key.to_string(), values)),
            "notin" => Some(Label::NotIn(key.to_string(), values)),
            _ => None,
        };
    }
    match split_comparison(term) {
        Some((key, value, equal)) => {
            if !valid_key(key) || !valid_value(value) {
                return None;
            }
            let (key, value) = (key.to_string(), value.to_string());
            Some(if equal { Label::Eq(key, value) } else { Label::NotEq(key, value) })
        }
        None => valid_key(term).then(|| Label::Exists(term.to_string())),
    }
}

/// `k!=v` → (k, v, false); `k==v` / `k=v` → (k, v, true); no operator → None.
fn split_comparison(term: &str) -> Option<(&str, &str, bool)> {
    if let Some((k, v)) = term.split_once("!=") {
        return Some((k.trim(), v.trim(), false));
    }
    if let Some((k, v)) = term.split_once("==") {
        return Some((k.trim(), v.trim(), true));
    }
    term.split_once('=').map(|(k, v)| (k.trim(), v.trim(), true))
}

/// A parsed `fieldSelector`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    /// Parses a `fieldSelector` value, accepting only the field paths the
    /// resource supports (the API answers `field label not supported`).
    pub(super) fn parse(s: &str, resource: &Resource) -> Result<FieldSelector, String> {
        let mut out = Vec::new();
        for term in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (path, value, equal) = split_comparison(term).ok_or_else(|| format!("invalid selector: {term:?}; can't understand"))?;
            if !resource.supports_field(path) {
                return Err(format!("field label not supported: {path}"));
            }
            out.push((path.to_string(), value.to_string(), equal));
        }
        Ok(FieldSelector(out))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the object's fields satisfy every requirement; a missing field
    /// compares as `""` (so `spec.nodeName=` selects unscheduled pods).
    pub(super) fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, value, equal)| {
            let mut v = object;
            for part in path.split('.') {
                v = &v[part];
            }
            let actual = match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "spec": {"nodeName": "node1"}})
    }

    #[test]
    fn label_requirements_follow_the_api() {
        let p = pod(json!({"app": "flannel", "tier": "node"}));
        let yes = |s: &str| LabelSelector::parse(s).unwrap().matches(&p);
        assert!(yes("app=flannel"));
        assert!(yes("app==flannel,tier=node"));
        assert!(!yes("app=flannel,tier=master"));
        assert!(yes("app!=coredns"));
        assert!(yes("missing!=x"), "!= matches objects without the label");
        assert!(yes("app"));
        assert!(yes("!missing"));
        assert!(!yes("!app"));
        assert!(yes("app in (coredns, flannel)"));
        assert!(yes("app notin (coredns),tier in (node)"));
        assert!(!yes("app notin (flannel)"));
        assert!(yes(""));
        assert!(LabelSelector::parse("app=(x").is_err());
        assert!(LabelSelector::parse("a b").is_err());
    }

    #[test]
    fn field_requirements_are_limited_to_supported_paths() {
        let pods = super::super::resources::RESOURCES.iter().find(|r| r.plural == "pods").unwrap();
        let p = pod(json!({}));
        let yes = |s: &str| FieldSelector::parse(s, pods).unwrap().matches(&p);
        assert!(yes("spec.nodeName=node1"));
        assert!(yes("metadata.name=p,metadata.namespace=ns"));
        assert!(yes("spec.nodeName!=node2"));
        assert!(!yes("status.phase=Running"));
        assert!(yes("status.phase="));
        let err = FieldSelector::parse("spec.containers=x", pods).unwrap_err();
        assert_eq!(err, "field label not supported: spec.containers");
    }
}
