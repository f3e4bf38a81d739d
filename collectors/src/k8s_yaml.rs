//! Large `kubectl get -o yaml` files read without a tree (or a parser's event
//! buffer) of the whole document: kubectl prints a List as a block mapping
//! whose `items:` is a block sequence, so each item's text can be cut out at
//! the lines where its `- ` stands at the sequence's indentation and parsed
//! alone. The cut is checked, not trusted: every piece must parse as a
//! sequence of exactly one item, and the rest of the document (without the
//! items) as a mapping; otherwise [`split_read`] says so and the caller parses
//! the file whole with the YAML parser. Only one item's tree exists at a time,
//! plus the file's text.

/// One document of the file: the text outside its items, and each item's text.
struct Split<'a> {
    head: String,
    items: Vec<&'a str>,
}

/// Byte offsets of line starts, with each line (without its newline).
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    text.split_inclusive('\n').map(move |l| {
        let start = at;
        at += l.len();
        (start, l.trim_end_matches(['\n', '\r']))
    })
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

fn blank_or_comment(l: &str) -> bool {
    let t = l.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn is_marker(l: &str) -> bool {
    (l.starts_with("---") || l.starts_with("...")) && l[3..].chars().next().is_none_or(char::is_whitespace)
}

/// The documents of a stream, split at `---` / `...` lines (which no scalar may contain).
fn documents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    for (at, l) in lines(text) {
        if is_marker(l) {
            out.push(&text[start..at]);
            // `--- ` may carry the document's content on its line: keep it (without the marker).
            start = at + 3;
        }
    }
    out.push(&text[start..]);
    out.into_iter().filter(|d| !lines(d).all(|(_, l)| blank_or_comment(l))).collect()
}

/// Cuts a document at its List items; `None` when it is not a block mapping with a block
/// `items:` sequence (then the parser reads it whole).
fn split(doc: &str) -> Option<Split<'_>> {
    let all: Vec<(usize, &str)> = lines(doc).collect();
    let at = all.iter().position(|(_, l)| *l == "items:" || l.strip_prefix("items:").is_some_and(|r| r.trim_start().starts_with('#')))?;
    // The sequence's indentation: its first `-`.
    let first = all[at + 1..].iter().position(|(_, l)| !blank_or_comment(l))? + at + 1;
    let d = indent(all[first].1);
    let starts_item = |l: &str| l.len() > d && indent(l) == d && (l[d..] == *"-" || l[d..].starts_with("- "));
    if !starts_item(all[first].1) {
        return None;
    }
    let mut items: Vec<&str> = Vec::new();
    let mut cur: Option<usize> = None;
    let mut end = all.len();
    for (i, (off, l)) in all.iter().enumerate().skip(first) {
        if blank_or_comment(l) {
            continue;
        }
        if starts_item(l) {
            if let Some(s) = cur {
                items.push(&doc[s..*off]);
            }
            cur = Some(*off);
        } else if indent(l) <= d {
            end = i;
            break;
        }
    }
    let region_end = all.get(end).map_or(doc.len(), |(off, _)| *off);
    items.push(&doc[cur.expect("first item")..region_end]);
    let mut head = String::with_capacity(all[at].0 + doc.len() - region_end + 8);
    head.push_str(&doc[..all[at].0]);
    head.push_str("items: []\n");
    head.push_str(&doc[region_end..]);
    Some(Split { head, items })
}

/// Hands out every object of a YAML stream through the cut, each item parsed alone; `None`
/// when a cut does not hold (the caller then parses the file whole, which also gives the
/// parser's own error). Objects are collected first, so a cut that fails half-way hands out
/// nothing.
pub(crate) fn split_objects(text: &str, each: &mut dyn FnMut(&str, serde_json::Value)) -> Option<()> {
    use serde::Deserialize;
    if lines(text).any(|(_, l)| l.starts_with('%')) {
        return None;
    }
    let docs = documents(text);
    if docs.is_empty() {
        return None;
    }
    for (d, doc) in docs.into_iter().enumerate() {
        let base = format!("document {}", d + 1);
        let split = split(doc)?;
        let head: serde_yaml::Value = serde_yaml::from_str(&split.head).ok()?;
        if !head.is_mapping() {
            return None;
        }
        let kind = match head.get("kind") {
            Some(serde_yaml::Value::String(k)) => k.clone(),
            _ => return None,
        };
        let item_kind = super::k8s::list_item_kind(&kind);
        if split.items.is_empty() {
            continue;
        }
        for (i, chunk) in split.items.iter().enumerate() {
            let serde_yaml::Value::Sequence(mut seq) = serde_yaml::from_str(chunk).ok()? else { return None };
            if seq.len() != 1 {
                return None;
            }
            let item = serde_json::Value::deserialize(seq.pop()?).ok()?;
            each(&format!("{base}.items[{i}]"), super::k8s::adopt_kind(item, item_kind.as_ref()));
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_cut_where_their_dash_stands() {
        let doc = "apiVersion: v1\nitems:\n- a: 1\n  b: |\n    - not an item\n\n# c\n- a: 2\nkind: List\nmetadata:\n  x: y\n";
        let s = split(doc).unwrap();
        assert_eq!(s.items, vec!["- a: 1\n  b: |\n    - not an item\n\n# c\n", "- a: 2\n"]);
        assert_eq!(s.head, "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  x: y\n");
        let s = split("items:\n  - a: 1\n  - a: 2\nkind: PodList\n").unwrap();
        assert_eq!(s.items, vec!["  - a: 1\n", "  - a: 2\n"]);
        assert!(split("items: []\nkind: List\n").is_none());
        assert_eq!(documents("---\na: 1\n---\n\n...\nb: 2\n"), vec!["\na: 1\n", "\nb: 2\n"]);
    }

    #[test]
    fn a_cut_that_does_not_hold_falls_back() {
        // An alias to an anchor of another item cannot be read alone.
        let mut seen = Vec::new();
        assert!(split_objects("items:\n- &a {kind: Node, metadata: {name: n}}\n- *a\nkind: List\n", &mut |p, v| seen.push((p.to_string(), v))).is_none());
        seen.clear();
        split_objects("items:\n- metadata:\n    name: n\nkind: NodeList\n", &mut |p, v| seen.push((p.to_string(), v))).unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].1["kind"], "Node");
    }
}
