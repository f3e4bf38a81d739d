//! Fixture edits (`overrides:` of a rule test), applied to a temporary copy of
//! a capture and confined to it: a `file:` is relative to the capture, and an
//! absolute path or one that leaves the copy is an error.
//!
//! Text edits (`content`, `sysctl`, `remove_lines`, `replace`), whole-file JSON
//! edits (`json_remove`, `json_append`, `json_set`; on a kubectl `List` the
//! array ops work on its `items`), and edits of one Kubernetes object found by
//! `object: Kind/namespace/name` with `set`, `delete` and `append` at JSON
//! pointers inside it, in JSON and YAML files alike.

use crate::Error;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// An edit applied to the temporary copy of the capture.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Capture-relative path. Optional with `object` (then every `cluster/*.json|yaml` is searched).
    pub file: Option<String>,
    /// `Kind/namespace/name` (or `Kind/name` for a cluster-scoped object) inside a List or single-object file.
    pub object: Option<String>,
    pub content: Option<String>,
    /// `true`: remove the file (or, with `object`, the object); a list of JSON pointers: remove those values.
    pub delete: Option<Delete>,
    pub json_remove: Option<serde_json::Map<String, Value>>,
    pub json_append: Option<Vec<Value>>,
    pub json_set: Option<BTreeMap<String, Value>>,
    /// JSON pointer → value; creates object keys, `/-` appends to an array.
    pub set: Option<BTreeMap<String, Value>>,
    /// JSON pointer of an array (created when missing) → one item to append.
    pub append: Option<BTreeMap<String, Value>>,
    pub sysctl: Option<BTreeMap<String, Option<String>>>,
    pub remove_lines: Option<String>,
    pub replace: Option<Replace>,
}

/// `delete: true` or `delete: [pointer, ...]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Delete {
    Whole(bool),
    Pointers(Vec<String>),
}

/// `replace: {from, to}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replace {
    pub from: String,
    pub to: String,
}

const OPERATIONS: &str = "content, delete, json_remove, json_append, json_set, set, append, sysctl, remove_lines, replace";

/// `rel` inside `root`, refusing absolute paths and any `..` that leaves it.
/// (The copy holds no symbolic links, so the lexical answer is the real one.)
pub fn confined(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let p = Path::new(rel);
    if rel.is_empty() {
        return Err("an empty path".into());
    }
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!("{rel:?} leaves the capture (paths are relative to the capture directory)"));
                }
            }
            Component::RootDir | Component::Prefix(_) => return Err(format!("{rel:?} is absolute (paths are relative to the capture directory)")),
        }
    }
    if parts.is_empty() {
        return Err(format!("{rel:?} names the capture directory itself, not a file in it"));
    }
    Ok(parts.iter().fold(root.to_path_buf(), |acc, s| acc.join(s)))
}

/// Applies one override inside the copy at `dir`.
pub fn apply(dir: &Path, o: &Override) -> Result<(), Error> {
    let what = match (&o.file, &o.object) {
        (Some(f), Some(obj)) => format!("{f} {obj}"),
        (Some(f), None) => f.clone(),
        (None, Some(obj)) => obj.clone(),
        (None, None) => "(override)".to_string(),
    };
    let err = |m: String| Error::Override { what: what.clone(), message: m };
    let ops = [
        o.content.is_some(),
        o.delete.is_some(),
        o.json_remove.is_some(),
        o.json_append.is_some(),
        o.json_set.is_some(),
        o.set.is_some(),
        o.append.is_some(),
        o.sysctl.is_some(),
        o.remove_lines.is_some(),
        o.replace.is_some(),
    ];
    let edits = usize::from(o.set.is_some()) + usize::from(o.append.is_some()) + usize::from(matches!(o.delete, Some(Delete::Pointers(_))));
    let count = ops.iter().filter(|x| **x).count();
    // set, append and delete-by-pointer may be combined (applied in that order: set, append, delete).
    if count == 0 || (count > 1 && count != edits) {
        return Err(err(format!("needs exactly one operation ({OPERATIONS}); set, append and delete: [pointers] may be combined")));
    }
    if let Some(obj) = &o.object {
        return apply_object(dir, o, obj).map_err(err);
    }
    let Some(file) = &o.file else {
        return Err(err("needs `file:` or `object:`".into()));
    };
    let path = confined(dir, file).map_err(err)?;
    apply_file(&path, o).map_err(err)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("reading: {e}"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, text).map_err(|e| format!("writing: {e}"))
}

fn apply_file(path: &Path, o: &Override) -> Result<(), String> {
    if let Some(c) = &o.content {
        return write(path, c);
    }
    match &o.delete {
        Some(Delete::Whole(true)) => return std::fs::remove_file(path).map_err(|e| format!("deleting: {e}")),
        Some(Delete::Whole(false)) => return Err("delete: false does nothing; remove the override".into()),
        _ => {}
    }
    if let Some(m) = &o.json_remove {
        let mut doc = Docs::load(path)?;
        let arr = doc.array_mut().ok_or("json_remove needs a JSON array file or a kubectl List")?;
        let before = arr.len();
        arr.retain(|x| !m.iter().all(|(k, want)| x.get(k) == Some(want)));
        if arr.len() == before {
            return Err(format!("json_remove matched nothing: {}", Value::Object(m.clone())));
        }
        return doc.save(path);
    }
    if let Some(items) = &o.json_append {
        let mut doc = Docs::load(path)?;
        doc.array_mut().ok_or("json_append needs a JSON array file or a kubectl List")?.extend(items.iter().cloned());
        return doc.save(path);
    }
    if o.json_set.is_some() || o.set.is_some() || o.append.is_some() || o.delete.is_some() {
        let mut doc = Docs::load(path)?;
        let root = doc.docs.first_mut().ok_or("the file holds no document")?;
        edit(root, o)?;
        return doc.save(path);
    }
    if let Some(keys) = &o.sysctl {
        let text = read(path)?;
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for (k, v) in keys {
            let is_key = |l: &String| l.split('=').next().map(str::trim) == Some(k.as_str());
            match v {
                None => lines.retain(|l| !is_key(l)),
                Some(v) => match lines.iter_mut().find(|l| is_key(l)) {
                    Some(l) => *l = format!("{k} = {v}"),
                    None => lines.push(format!("{k} = {v}")),
                },
            }
        }
        return write(path, &(lines.join("\n") + "\n"));
    }
    if let Some(prefix) = &o.remove_lines {
        let text = read(path)?;
        let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with(prefix.as_str())).collect();
        return write(path, &(kept.join("\n") + "\n"));
    }
    if let Some(r) = &o.replace {
        let text = read(path)?;
        if !text.contains(&r.from) {
            return Err(format!("replace: {:?} not found", r.from));
        }
        return write(path, &text.replace(&r.from, &r.to));
    }
    Ok(())
}

/// The pointer edits of an override (`json_set`, `set`, `append`, `delete: [...]`) on one value.
fn edit(target: &mut Value, o: &Override) -> Result<(), String> {
    for (ptr, val) in o.json_set.iter().chain(o.set.iter()).flatten() {
        set_pointer(target, ptr, val.clone())?;
    }
    for (ptr, val) in o.append.iter().flatten() {
        append_pointer(target, ptr, val.clone())?;
    }
    if let Some(Delete::Pointers(ps)) = &o.delete {
        for p in ps {
            delete_pointer(target, p)?;
        }
    }
    Ok(())
}

/// A JSON file (one document) or a YAML file (one or more documents).
struct Docs {
    yaml: bool,
    docs: Vec<Value>,
}

impl Docs {
    fn load(path: &Path) -> Result<Docs, String> {
        let text = read(path)?;
        let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        if !yaml {
            return Ok(Docs { yaml, docs: vec![serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?] });
        }
        let mut docs = Vec::new();
        for d in serde_yaml::Deserializer::from_str(&text) {
            let v = Value::deserialize(d).map_err(|e| format!("not YAML: {e}"))?;
            if !v.is_null() {
                docs.push(v);
            }
        }
        Ok(Docs { yaml, docs })
    }

    fn save(&self, path: &Path) -> Result<(), String> {
        let text = if self.yaml {
            let parts: Result<Vec<String>, String> = self.docs.iter().map(|d| serde_yaml::to_string(d).map_err(|e| e.to_string())).collect();
            parts?.join("---\n")
        } else {
            serde_json::to_string_pretty(&self.docs[0]).map_err(|e| e.to_string())? + "\n"
        };
        write(path, &text)
    }

    /// The array a whole-file array edit works on: the file itself, or a List's `items`.
    fn array_mut(&mut self) -> Option<&mut Vec<Value>> {
        let [doc] = self.docs.as_mut_slice() else {
            return None;
        };
        if doc.is_array() {
            return doc.as_array_mut();
        }
        doc.get_mut("items")?.as_array_mut()
    }
}

/// `Kind/namespace/name` or `Kind/name`.
struct ObjectKey<'a> {
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
}

impl<'a> ObjectKey<'a> {
    fn parse(s: &'a str) -> Result<ObjectKey<'a>, String> {
        match s.split('/').collect::<Vec<_>>().as_slice() {
            [kind, ns, name] if !kind.is_empty() && !ns.is_empty() && !name.is_empty() => Ok(ObjectKey { kind, namespace: Some(ns), name }),
            [kind, name] if !kind.is_empty() && !name.is_empty() => Ok(ObjectKey { kind, namespace: None, name }),
            _ => Err(format!("object {s:?}: expected Kind/namespace/name, or Kind/name for a cluster-scoped object")),
        }
    }
}

/// The kind, namespace and name of an object (`list_kind` names the kind of a typed List's items).
fn identity(obj: &Value, list_kind: Option<&str>) -> Option<(String, Option<String>, String)> {
    let kind = obj.get("kind").and_then(Value::as_str).or(list_kind)?.to_string();
    let meta = obj.get("metadata")?;
    let name = meta.get("name")?.as_str()?.to_string();
    let ns = meta.get("namespace").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    Some((kind, ns, name))
}

fn label(kind: &str, ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{kind}/{ns}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// Where an object sits: (document, index in the List's items, or None for the document itself).
type Slot = (usize, Option<usize>);

/// Every object of the documents, with its slot and `Kind/namespace/name`.
fn objects(docs: &[Value]) -> Vec<(Slot, String)> {
    let mut out = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
        match doc.get("items").and_then(Value::as_array) {
            Some(items) if kind.ends_with("List") => {
                let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
                for (i, item) in items.iter().enumerate() {
                    if let Some((k, ns, n)) = identity(item, item_kind) {
                        out.push(((d, Some(i)), label(&k, ns.as_deref(), &n)));
                    }
                }
            }
            _ => {
                if let Some((k, ns, n)) = identity(doc, None) {
                    out.push(((d, None), label(&k, ns.as_deref(), &n)));
                }
            }
        }
    }
    out
}

/// Candidate files for an object search: `cluster/*.json|yaml|yml`, sorted.
fn cluster_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(dir.join("cluster"))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json" || e == "yaml" || e == "yml"))
                .map(|p| (format!("cluster/{}", p.file_name().unwrap_or_default().to_string_lossy()), p))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn apply_object(dir: &Path, o: &Override, object: &str) -> Result<(), String> {
    let key = ObjectKey::parse(object)?;
    let want = label(key.kind, key.namespace, key.name);
    if o.content.is_some() || o.json_remove.is_some() || o.json_append.is_some() || o.sysctl.is_some() || o.remove_lines.is_some() || o.replace.is_some() {
        return Err("with `object:` the operations are set, append and delete".into());
    }
    let files = match &o.file {
        Some(f) => vec![(f.clone(), confined(dir, f)?)],
        None => cluster_files(dir),
    };
    let mut seen: Vec<String> = Vec::new();
    let mut found: Vec<(String, PathBuf, Docs, Slot)> = Vec::new();
    for (rel, path) in files {
        let docs = Docs::load(&path).map_err(|e| format!("{rel}: {e}"))?;
        let all = objects(&docs.docs);
        if let Some((slot, _)) = all.iter().find(|(_, l)| *l == want) {
            let slot = *slot;
            found.push((rel, path, docs, slot));
        } else {
            seen.extend(all.into_iter().map(|(_, l)| l));
        }
    }
    match found.len() {
        0 => {
            let where_ = o.file.clone().unwrap_or_else(|| "cluster/*.json|yaml".to_string());
            let same_kind: Vec<&str> = seen.iter().map(String::as_str).filter(|l| l.split('/').next() == Some(key.kind)).collect();
            let near = netdoctor_engine::config::nearest(&want, same_kind.iter().copied()).map(|n| format!(" (did you mean {n}?)")).unwrap_or_default();
            let listed: Vec<&str> = same_kind.iter().copied().take(10).collect();
            let more = if same_kind.len() > listed.len() { format!(", and {} more", same_kind.len() - listed.len()) } else { String::new() };
            let have = if listed.is_empty() { format!("no {} object there", key.kind) } else { format!("{} there: {}{more}", key.kind, listed.join(", ")) };
            Err(format!("object {want} not found in {where_}{near}; {have}"))
        }
        1 => {
            let (_, path, mut docs, (d, item)) = found.pop().ok_or("unreachable")?;
            if matches!(o.delete, Some(Delete::Whole(true))) {
                match item {
                    Some(i) => {
                        docs.docs[d].get_mut("items").and_then(Value::as_array_mut).ok_or("the List lost its items")?.remove(i);
                    }
                    None => {
                        docs.docs.remove(d);
                    }
                }
                if docs.docs.is_empty() {
                    return std::fs::remove_file(&path).map_err(|e| format!("deleting: {e}"));
                }
                return docs.save(&path);
            }
            if matches!(o.delete, Some(Delete::Whole(false))) {
                return Err("delete: false does nothing; remove the override".into());
            }
            let target = match item {
                Some(i) => docs.docs[d].get_mut("items").and_then(|v| v.get_mut(i)).ok_or("the List lost its item")?,
                None => &mut docs.docs[d],
            };
            edit(target, o).map_err(|e| format!("in {want}: {e}"))?;
            docs.save(&path)
        }
        _ => Err(format!("object {want} is in several files ({}); name one with `file:`", found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>().join(", "))),
    }
}

fn pointer_parts(ptr: &str) -> Result<Vec<String>, String> {
    if ptr.is_empty() {
        return Ok(vec![]);
    }
    let rest = ptr.strip_prefix('/').ok_or_else(|| format!("{ptr:?} is not a JSON pointer (it starts with /)"))?;
    Ok(rest.split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect())
}

/// Walks to the parent of the pointer's last token, creating objects for missing keys.
fn parent_of<'v>(v: &'v mut Value, ptr: &str, parts: &[String]) -> Result<&'v mut Value, String> {
    let mut cur = v;
    for p in parts {
        cur = match cur {
            Value::Object(m) => m.entry(p.clone()).or_insert_with(|| Value::Object(Default::default())),
            Value::Array(a) => {
                let len = a.len();
                let idx: usize = p.parse().map_err(|_| format!("{ptr}: {p:?} is not an array index"))?;
                a.get_mut(idx).ok_or_else(|| format!("{ptr}: index {idx} out of range ({len} items)"))?
            }
            _ => return Err(format!("{ptr}: {p:?} is inside a scalar")),
        };
    }
    Ok(cur)
}

/// Sets the value at an RFC 6901 pointer, creating object keys; `-` (or the
/// array's length) as the last token appends.
pub fn set_pointer(v: &mut Value, ptr: &str, val: Value) -> Result<(), String> {
    let parts = pointer_parts(ptr)?;
    let Some((last, parents)) = parts.split_last() else {
        *v = val;
        return Ok(());
    };
    match parent_of(v, ptr, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), val);
        }
        Value::Array(a) => {
            if last == "-" || last.parse::<usize>().ok() == Some(a.len()) {
                a.push(val);
            } else {
                let len = a.len();
                let idx: usize = last.parse().map_err(|_| format!("{ptr}: {last:?} is not an array index (or - to append)"))?;
                *a.get_mut(idx).ok_or_else(|| format!("{ptr}: index {idx} out of range ({len} items)"))? = val;
            }
        }
        _ => return Err(format!("{ptr}: {last:?} is inside a scalar")),
    }
    Ok(())
}

/// Appends `val` to the array at `ptr` (created when missing).
pub fn append_pointer(v: &mut Value, ptr: &str, val: Value) -> Result<(), String> {
    pointer_parts(ptr)?;
    if v.pointer(ptr).is_none() {
        set_pointer(v, ptr, Value::Array(vec![]))?;
    }
    match v.pointer_mut(ptr) {
        Some(Value::Array(a)) => {
            a.push(val);
            Ok(())
        }
        Some(other) => Err(format!("{ptr}: append needs an array, found {}", kind_of(other))),
        None => Err(format!("{ptr}: cannot create an array there")),
    }
}

/// Removes the value at `ptr`; an error when there is none.
pub fn delete_pointer(v: &mut Value, ptr: &str) -> Result<(), String> {
    let parts = pointer_parts(ptr)?;
    let Some((last, parents)) = parts.split_last() else {
        return Err("delete: an empty pointer; use delete: true".into());
    };
    let parent_ptr = parents.iter().map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect::<String>();
    let parent = v.pointer_mut(&parent_ptr).ok_or_else(|| format!("{ptr}: nothing there to delete"))?;
    let removed = match parent {
        Value::Object(m) => m.remove(last).is_some(),
        Value::Array(a) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => {
                a.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    };
    if removed {
        Ok(())
    } else {
        Err(format!("{ptr}: nothing there to delete"))
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_stay_inside_the_copy() {
        let root = Path::new("/tmp/copy");
        assert_eq!(confined(root, "nodes/n1/../n2/sysctl.txt").unwrap(), root.join("nodes/n2/sysctl.txt"));
        assert!(confined(root, "/etc/passwd").unwrap_err().contains("absolute"));
        assert!(confined(root, "../../x").unwrap_err().contains("leaves the capture"));
        assert!(confined(root, "nodes/../../x").unwrap_err().contains("leaves the capture"));
        assert!(confined(root, ".").is_err());
    }

    #[test]
    fn pointers_set_append_and_delete() {
        let mut v = json!({"status": {"conditions": [{"type": "Ready"}]}});
        set_pointer(&mut v, "/status/phase", json!("Failed")).unwrap();
        set_pointer(&mut v, "/status/conditions/-", json!({"type": "X"})).unwrap();
        set_pointer(&mut v, "/metadata/labels/app", json!("a")).unwrap();
        append_pointer(&mut v, "/spec/ports", json!(80)).unwrap();
        append_pointer(&mut v, "/status/conditions", json!({"type": "Y"})).unwrap();
        delete_pointer(&mut v, "/status/conditions/0").unwrap();
        assert_eq!(
            v,
            json!({"status": {"phase": "Failed", "conditions": [{"type": "X"}, {"type": "Y"}]}, "metadata": {"labels": {"app": "a"}}, "spec": {"ports": [80]}})
        );
        assert!(delete_pointer(&mut v, "/nope").unwrap_err().contains("nothing there"));
        assert!(set_pointer(&mut v, "/status/conditions/9", json!(1)).unwrap_err().contains("out of range"));
    }

    #[test]
    fn objects_of_typed_and_untyped_lists() {
        let docs = vec![
            json!({"kind": "PodList", "items": [{"metadata": {"name": "a", "namespace": "ns"}}]}),
            json!({"kind": "List", "items": [{"kind": "Node", "metadata": {"name": "n1"}}]}),
            json!({"kind": "Service", "metadata": {"name": "s", "namespace": "default"}}),
        ];
        let labels: Vec<String> = objects(&docs).into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["Pod/ns/a", "Node/n1", "Service/default/s"]);
    }
}
