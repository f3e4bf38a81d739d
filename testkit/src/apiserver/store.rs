//! The object store behind the test API server: objects as JSON keyed like
//! etcd's `/registry/<resource>/<namespace>/<name>`, one global
//! resourceVersion bumped by every change, and a bounded history of changes
//! that watches replay from. Pure data, no I/O: the HTTP layer turns its
//! answers into responses.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use serde_json::{json, Value};

use super::resources::Resource;
use super::selector::{FieldSelector, LabelSelector};
use crate::{Error, Result};

/// `(resource index in the served list, namespace or "", name)`.
type Key = (usize, String, String);

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One entry of the watch history.
#[derive(Debug)]
pub(super) struct Change {
    pub(super) resource_version: u64,
    pub(super) resource: usize,
    pub(super) change: ChangeType,
    /// The object after the change (for a deletion: its last state, with the
    /// deletion's resourceVersion).
    pub(super) object: Arc<Value>,
    /// The object before the change, for modifications and deletions.
    pub(super) previous: Option<Arc<Value>>,
}

/// Which objects a list or watch asks for.
#[derive(Debug, Clone)]
pub(super) struct Scope {
    pub(super) resource: usize,
    pub(super) namespace: Option<String>,
    pub(super) labels: LabelSelector,
    pub(super) fields: FieldSelector,
}

impl Scope {
    pub(super) fn contains(&self, object: &Value) -> bool {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or("");
        self.namespace.as_deref().is_none_or(|want| want == ns) && self.labels.matches(object) && self.fields.matches(object)
    }

    /// What a watcher with this scope sees of a change, as kube-apiserver's
    /// watch cache decides it: an object moving into the selector is ADDED,
    /// one moving out of it is DELETED.
    pub(super) fn view(&self, change: &Change) -> Option<(&'static str, Value)> {
        if change.resource != self.resource {
            return None;
        }
        let now = self.contains(&change.object);
        let before = change.previous.as_deref().is_some_and(|p| self.contains(p));
        match (change.change, before, now) {
            (ChangeType::Added, _, true) => Some(("ADDED", (*change.object).clone())),
            (ChangeType::Modified, true, true) => Some(("MODIFIED", (*change.object).clone())),
            (ChangeType::Modified, false, true) => Some(("ADDED", (*change.object).clone())),
            (ChangeType::Modified, true, false) => {
                let mut gone = change.previous.as_deref().cloned().unwrap_or_default();
                gone["metadata"]["resourceVersion"] = json!(change.resource_version.to_string());
                Some(("DELETED", gone))
            }
            (ChangeType::Deleted, true, _) => Some(("DELETED", (*change.object).clone())),
            _ => None,
        }
    }
}

/// A watch's starting point, decided under the store lock.
pub(super) enum WatchStart {
    /// Synthetic ADDED events for the current objects (resourceVersion unset
    /// or "0"), then live events.
    Snapshot(Vec<Value>),
    /// Replay these changes (after the requested resourceVersion), then live.
    Replay(Vec<Arc<Change>>),
}

/// One page of a list.
pub(super) struct Page {
    pub(super) items: Vec<Value>,
    pub(super) resource_version: u64,
    pub(super) continue_token: Option<String>,
    pub(super) remaining: Option<usize>,
}

/// Why a request cannot be answered from the store.
#[derive(Debug, PartialEq)]
pub(super) enum Refusal {
    /// HTTP 400 with this message.
    BadRequest(String),
    /// HTTP 410 `Expired` with this message.
    Expired(String),
}

pub(super) struct Store {
    resources: Vec<&'static Resource>,
    resource_version: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    /// A watch from resourceVersion `rv` can be served iff `rv >= replayable_from`.
    replayable_from: u64,
    next_uid: u64,
}

impl Store {
    pub(super) fn new(resources: Vec<&'static Resource>, history_limit: usize) -> Store {
        Store {
            resources,
            resource_version: 1,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            replayable_from: 1,
            next_uid: 1,
        }
    }

    pub(super) fn resources(&self) -> &[&'static Resource] {
        &self.resources
    }

    pub(super) fn resource(&self, index: usize) -> &'static Resource {
        self.resources[index]
    }

    pub(super) fn resource_version(&self) -> u64 {
        self.resource_version
    }

    /// The served resource with this kind.
    pub(super) fn index_of_kind(&self, kind: &str) -> Result<usize> {
        self.resources.iter().position(|r| r.kind == kind).ok_or_else(|| Error::Invalid(format!("kind {kind:?} is not served by the test API server")))
    }

    /// The served resource at this URL: group, version, plural.
    pub(super) fn index_of_path(&self, group: &str, version: &str, plural: &str) -> Option<usize> {
        self.resources.iter().position(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// Creates or replaces an object; records and returns the change.
    pub(super) fn apply(&mut self, mut object: Value) -> Result<Arc<Change>> {
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let index = self.index_of_kind(&kind)?;
        let resource = self.resources[index];
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        if api_version != resource.api_version() {
            return Err(Error::Invalid(format!("{kind} has apiVersion {api_version:?}, the server serves {}", resource.api_version())));
        }
        let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Err(Error::Invalid(format!("{kind} without metadata")));
        };
        let name = meta.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(Error::Invalid(format!("{kind} without metadata.name")));
        }
        let namespace = match (resource.namespaced, meta.get("namespace").and_then(Value::as_str)) {
            (true, Some(ns)) if !ns.is_empty() => ns.to_string(),
            (true, _) => {
                meta.insert("namespace".into(), json!("default"));
                "default".to_string()
            }
            (false, None | Some("")) => String::new(),
            (false, Some(ns)) => return Err(Error::Invalid(format!("{kind} {name} is cluster-scoped but has namespace {ns:?}"))),
        };
        let key = (index, namespace, name);
        let previous = self.objects.get(&key).cloned();
        let uid = previous.as_ref().and_then(|p| p["metadata"]["uid"].as_str().map(str::to_string));
        if !meta.contains_key("uid") {
            let uid = uid.unwrap_or_else(|| {
                self.next_uid += 1;
                format!("00000000-0000-4000-8000-{:012x}", self.next_uid)
            });
            meta.insert("uid".into(), json!(uid));
        }
        self.resource_version += 1;
        meta.insert("resourceVersion".into(), json!(self.resource_version.to_string()));
        let object = Arc::new(object);
        self.objects.insert(key, Arc::clone(&object));
        let change = match previous {
            None => ChangeType::Added,
            Some(_) => ChangeType::Modified,
        };
        Ok(self.record(index, change, object, previous))
    }

    /// Deletes an object; records and returns the change.
    pub(super) fn delete(&mut self, kind: &str, namespace: Option<&str>, name: &str) -> Result<Arc<Change>> {
        let index = self.index_of_kind(kind)?;
        let key = (index, namespace.unwrap_or_default().to_string(), name.to_string());
        let Some(previous) = self.objects.remove(&key) else {
            return Err(Error::Invalid(format!("{kind} {}{name} does not exist", namespace.map(|ns| format!("{ns}/")).unwrap_or_default())));
        };
        self.resource_version += 1;
        let mut last = (*previous).clone();
        last["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        Ok(self.record(index, ChangeType::Deleted, Arc::new(last), Some(previous)))
    }

    fn record(&mut self, resource: usize, change: ChangeType, object: Arc<Value>, previous: Option<Arc<Value>>) -> Arc<Change> {
        let change = Arc::new(Change { resource_version: self.resource_version, resource, change, object, previous });
        self.history.push_back(Arc::clone(&change));
        while self.history.len() > self.history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.replayable_from = dropped.resource_version;
            }
        }
        change
    }

    /// Forgets the watch history: a watch from any earlier resourceVersion
    /// (or a continue token issued before) now gets `410 Expired`.
    pub(super) fn compact(&mut self) {
        self.history.clear();
        self.replayable_from = self.resource_version;
    }

    /// Compacts past every resourceVersion handed out so far: the global
    /// resourceVersion moves on by one (as other writes in a real cluster
    /// would) and the history is dropped, so a watch from any resourceVersion
    /// a client holds now gets `410 Expired`.
    pub(super) fn expire_all(&mut self) {
        self.resource_version += 1;
        self.compact();
    }

    /// One object, as stored.
    pub(super) fn get(&self, resource: usize, namespace: Option<&str>, name: &str) -> Option<Arc<Value>> {
        let key = (resource, namespace.unwrap_or_default().to_string(), name.to_string());
        self.objects.get(&key).cloned()
    }

    /// All objects of a resource in key order.
    pub(super) fn all(&self, resource: usize) -> impl Iterator<Item = &Arc<Value>> {
        let start = (resource, String::new(), String::new());
        self.objects.range(start..).take_while(move |(k, _)| k.0 == resource).map(|(_, v)| v)
    }

    /// A page of a list: at most `limit` objects after the `continue`
    /// token's position, with a token for the next page. Pages after the
    /// first report the first page's resourceVersion, as the API does.
    pub(super) fn list(&self, scope: &Scope, limit: Option<usize>, token: Option<&str>) -> Result<Page, Refusal> {
        let (resource_version, after) = match token {
            None => (self.resource_version, None),
            Some(token) => {
                let (rv, ns, name) = decode_continue(token).ok_or_else(|| Refusal::BadRequest("continue key is not valid".into()))?;
                if rv < self.replayable_from {
                    return Err(Refusal::Expired(
                        "The provided continue parameter is too old to display a consistent list result. \
                         You can start a new list without the continue parameter."
                            .into(),
                    ));
                }
                (rv, Some((scope.resource, ns, name)))
            }
        };
        let lower = match &after {
            Some(key) => Bound::Excluded(key.clone()),
            None => Bound::Included((scope.resource, String::new(), String::new())),
        };
        let mut matching = self.objects.range((lower, Bound::Unbounded)).take_while(|(k, _)| k.0 == scope.resource).filter(|(_, v)| scope.contains(v));
        let limit = limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut last_key = None;
        for (key, object) in matching.by_ref().take(limit) {
            items.push((**object).clone());
            last_key = Some(key);
        }
        let rest = matching.count();
        let (continue_token, remaining) = match (rest, last_key) {
            (0, _) | (_, None) => (None, None),
            (n, Some(key)) => {
                let unfiltered = scope.labels.is_empty() && scope.fields.is_empty();
                (Some(encode_continue(resource_version, &key.1, &key.2)), unfiltered.then_some(n))
            }
        };
        Ok(Page { items, resource_version, continue_token, remaining })
    }

    /// Where a watch from `resource_version` starts, or `Expired` when the
    /// history no longer reaches back that far.
    pub(super) fn watch_start(&self, scope: &Scope, resource_version: Option<&str>) -> Result<WatchStart, Refusal> {
        match resource_version.filter(|rv| !rv.is_empty() && *rv != "0") {
            None => Ok(WatchStart::Snapshot(self.all(scope.resource).filter(|o| scope.contains(o)).map(|o| (**o).clone()).collect())),
            Some(rv) => {
                let rv: u64 = rv.parse().map_err(|_| Refusal::BadRequest(format!("invalid resource version: {rv:?}")))?;
                if rv < self.replayable_from {
                    return Err(Refusal::Expired(format!("too old resource version: {rv} ({})", self.replayable_from)));
                }
                Ok(WatchStart::Replay(self.history.iter().filter(|c| c.resource_version > rv && c.resource == scope.resource).cloned().collect()))
            }
        }
    }
}

/// The token is opaque to clients; ours is `rv/namespace/name` in hex.
fn encode_continue(rv: u64, namespace: &str, name: &str) -> String {
    format!("{rv}/{namespace}/{name}").bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Option<(u64, String, String)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len()).step_by(2).map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok()).collect();
    let text = String::from_utf8(bytes?).ok()?;
    let mut parts = text.splitn(3, '/');
    let rv = parts.next()?.parse().ok()?;
    Some((rv, parts.next()?.to_string(), parts.next()?.to_string()))
}

/// A `Status` object as the API returns for failures.
pub(super) fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    })
}

/// An object as it appears among a built-in List's items: without `kind`
/// and `apiVersion` (custom resources keep them).
pub(super) fn list_item(resource: &Resource, mut object: Value) -> Value {
    if !resource.custom {
        if let Some(map) = object.as_object_mut() {
            map.remove("kind");
            map.remove("apiVersion");
        }
    }
    object
}

/// Splits a kubectl-style List into its items; a single object is itself.
pub(super) fn items_of(document: Value) -> Vec<Value> {
    let is_list = document["kind"].as_str().is_some_and(|k| k.ends_with("List")) && document.get("items").is_some();
    if !is_list {
        return vec![document];
    }
    match document {
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::resources::served;

    fn pod(ns: &str, name: &str) -> Value {
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns}})
    }

    fn scope(store: &Store) -> Scope {
        Scope { resource: store.index_of_kind("Pod").unwrap(), namespace: None, labels: LabelSelector::default(), fields: FieldSelector::default() }
    }

    /// A store holding pods a..e in namespace `ns`.
    fn five_pods(history_limit: usize) -> (Store, Scope) {
        let mut store = Store::new(served(false), history_limit);
        for name in ["a", "b", "c", "d", "e"] {
            store.apply(pod("ns", name)).unwrap();
        }
        let scope = scope(&store);
        (store, scope)
    }

    #[test]
    fn pages_carry_continue_tokens_and_remaining_counts() {
        let (mut store, s) = five_pods(100);
        let first = store.list(&s, Some(2), None).unwrap();
        assert_eq!(first.items.len(), 2);
        assert_eq!(first.remaining, Some(3));
        let rv = first.resource_version;
        store.apply(pod("ns", "f")).unwrap();
        let second = store.list(&s, Some(2), first.continue_token.as_deref()).unwrap();
        assert_eq!(second.resource_version, rv, "pages keep the first page's resourceVersion");
        assert_eq!(second.items[0]["metadata"]["name"], "c");
        let third = store.list(&s, Some(2), second.continue_token.as_deref()).unwrap();
        assert_eq!(third.items.len(), 2);
        assert!(third.continue_token.is_none());
        assert!(third.remaining.is_none());
        store.compact();
        assert!(matches!(store.list(&s, Some(2), first.continue_token.as_deref()), Err(Refusal::Expired(_))));
        assert!(matches!(store.list(&s, None, Some("zz")), Err(Refusal::BadRequest(_))));
    }

    #[test]
    fn history_is_bounded_and_old_watches_expire() {
        let (mut store, s) = five_pods(3);
        let rv = store.resource_version();
        assert!(matches!(store.watch_start(&s, Some("2")), Err(Refusal::Expired(_))));
        match store.watch_start(&s, Some(&(rv - 2).to_string())) {
            Ok(WatchStart::Replay(changes)) => assert_eq!(changes.len(), 2),
            _ => panic!("expected a replay"),
        }
        let deleted = store.delete("Pod", Some("ns"), "a").unwrap();
        assert_eq!(deleted.object["metadata"]["resourceVersion"], json!((rv + 1).to_string()));
        assert!(store.delete("Pod", Some("ns"), "a").is_err());
        assert!(store.apply(json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}})).is_err());
    }
}
