//! Shared reading machinery: files that are safe to read (regular, capped,
//! BOM stripped, UTF-8 checked), strict typed access to JSON values with the
//! path of every error, JSON arrays streamed item by item, and escaped names.

use crate::error::ParseError;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::Value;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

/// What a path is, when it is not a regular file.
fn file_type_name(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a named pipe"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Opens a file that is safe to read: it must be a regular file (symlinks followed; a loop,
/// a pipe, a device or a directory is refused before anything is opened) of at most `cap`
/// bytes. The reader is limited to `cap + 1` bytes so a file that grows is caught too.
pub fn open_regular(path: &Path, cap: u64) -> Result<impl Read, ParseError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.raw_os_error() {
        Some(40) => ParseError::File("a symbolic link loop (too many levels of symbolic links)".into()),
        _ => ParseError::File(format!("cannot read: {e}")),
    })?;
    if !meta.file_type().is_file() {
        return Err(ParseError::File(format!("{}: only regular files are read", file_type_name(&meta.file_type()))));
    }
    if meta.len() > cap {
        return Err(ParseError::File(format!("{} bytes exceeds the {} cap for this file", meta.len(), human_bytes(cap))));
    }
    let f = File::open(path).map_err(|e| ParseError::File(format!("cannot read: {e}")))?;
    Ok(CapReader { inner: BufReader::with_capacity(1 << 20, f).take(cap + 1), cap, read: 0 })
}

/// A reader that fails once more than `cap` bytes came through.
struct CapReader<R> {
    inner: R,
    cap: u64,
    read: u64,
}

impl<R: Read> Read for CapReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            return Err(std::io::Error::other(format!("more than the {} cap for this file", human_bytes(self.cap))));
        }
        Ok(n)
    }
}

/// `256 MiB`.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{} GiB", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Reads a whole text file safely: regular, capped, UTF-8 (the byte offset of the first bad
/// byte is named), a leading byte-order mark stripped.
pub fn read_text(path: &Path, cap: u64) -> Result<String, ParseError> {
    let mut bytes = Vec::new();
    open_regular(path, cap)?.read_to_end(&mut bytes).map_err(|e| ParseError::File(format!("cannot read: {e}")))?;
    text_of(bytes)
}

/// UTF-8 text of bytes, BOM stripped.
pub fn text_of(bytes: Vec<u8>) -> Result<String, ParseError> {
    let mut s = String::from_utf8(bytes).map_err(|e| ParseError::File(format!("not UTF-8 text: invalid byte at offset {}", e.utf8_error().valid_up_to())))?;
    if s.starts_with('\u{feff}') {
        s.drain(..3);
    }
    Ok(s)
}

/// A reader with a leading UTF-8 byte-order mark skipped.
pub fn skip_bom<R: Read>(r: R) -> impl Read {
    let mut r = r;
    let mut head = [0u8; 3];
    let mut n = 0;
    while n < 3 {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => break,
        }
    }
    let keep: Vec<u8> = if n == 3 && head == [0xef, 0xbb, 0xbf] { Vec::new() } else { head[..n].to_vec() };
    std::io::Cursor::new(keep).chain(r)
}

/// A directory entry name as text: kept as is when it is UTF-8; else every `\` and every
/// invalid byte is escaped (`\\`, `\xff`), so two different names never become one.
pub fn escape_name(name: &OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    match name.to_str() {
        Some(s) if !s.contains('\\') => s.to_string(),
        _ => {
            let mut out = String::new();
            for chunk in name.as_bytes().utf8_chunks() {
                for c in chunk.valid().chars() {
                    if c == '\\' {
                        out.push_str("\\\\");
                    } else {
                        out.push(c);
                    }
                }
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

/// A JSON value with the path it was found at, for typed access with precise errors.
#[derive(Clone, Copy)]
pub struct At<'a> {
    pub v: &'a Value,
    pub path: &'a str,
}

/// What a JSON value is, for "expected X, got Y".
pub fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) => {
            let short: String = s.chars().take(60).collect();
            format!("{short:?}")
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

impl<'a> At<'a> {
    /// The root value.
    pub fn root(v: &'a Value, path: &'a str) -> At<'a> {
        At { v, path }
    }
    fn err(&self, key: &str, expected: &str, got: &Value) -> ParseError {
        ParseError::Shape { path: join(self.path, key), expected: format!("{expected}, got {}", kind_of(got)) }
    }
    /// The field, unless absent or null.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.v.get(key).filter(|v| !v.is_null())
    }
    /// An optional string field (absent or null: `None`; another type: an error).
    pub fn str(&self, key: &str) -> Result<Option<&'a str>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.err(key, "a string", other)),
        }
    }
    /// A required string field.
    pub fn req_str(&self, key: &str) -> Result<&'a str, ParseError> {
        self.str(key)?.ok_or_else(|| ParseError::Shape { path: join(self.path, key), expected: "a string, got nothing".into() })
    }
    /// An optional boolean field.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.err(key, "true or false", other)),
        }
    }
    /// An optional integer field within `lo..=hi`.
    pub fn int(&self, key: &str, lo: i64, hi: i64) -> Result<Option<i64>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Number(n)) => match n.as_i64().filter(|x| (lo..=hi).contains(x)) {
                Some(x) => Ok(Some(x)),
                None => Err(self.err(key, &format!("an integer {lo}-{hi}"), v)),
            },
            Some(other) => Err(self.err(key, &format!("an integer {lo}-{hi}"), other)),
        }
    }
    /// An optional field parsed from a string (`FromStr`), `what` naming the expected form.
    pub fn parsed<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<T>, ParseError> {
        match self.str(key)? {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| self.err(key, what, self.v.get(key).unwrap_or(&Value::Null))),
        }
    }
    /// An optional array of strings.
    pub fn strs(&self, key: &str) -> Result<Vec<String>, ParseError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, x)| match x {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ParseError::Shape { path: format!("{}[{i}]", join(self.path, key)), expected: format!("a string, got {}", kind_of(other)) }),
                })
                .collect(),
            Some(other) => Err(self.err(key, "an array of strings", other)),
        }
    }
    /// An optional object field.
    pub fn obj(&self, key: &str) -> Result<Option<&'a serde_json::Map<String, Value>>, ParseError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(self.err(key, "an object", other)),
        }
    }
    /// An optional array field.
    pub fn arr(&self, key: &str) -> Result<&'a [Value], ParseError> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(other) => Err(self.err(key, "an array", other)),
        }
    }
    /// An optional map of strings to strings (labels, annotations, selectors).
    pub fn string_map(&self, key: &str) -> Result<std::collections::BTreeMap<String, String>, ParseError> {
        let mut out = std::collections::BTreeMap::new();
        if let Some(m) = self.obj(key)? {
            for (k, v) in m {
                match v {
                    Value::String(s) => {
                        out.insert(k.clone(), s.clone());
                    }
                    other => {
                        return Err(ParseError::Shape {
                            path: format!("{}[{k:?}]", join(self.path, key)),
                            expected: format!("a string, got {}", kind_of(other)),
                        })
                    }
                }
            }
        }
        Ok(out)
    }
}

/// `a.b` path join (`$` root, `[3]` indexes kept as is).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Streams a top-level JSON array item by item: `each(index, item)`; stops at the first error
/// of `each`. Only one item exists in memory at a time.
pub fn for_each_json_item<R: Read>(reader: R, each: &mut dyn FnMut(usize, Value) -> Result<(), ParseError>) -> Result<(), ParseError> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(skip_bom(reader));
    // What the top level is, before streaming: `{}` or a number is named as such.
    loop {
        let buf = reader.fill_buf()?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let first = buf[i];
                reader.consume(i);
                let got = match first {
                    b'{' => Some("an object"),
                    b'"' => Some("a string"),
                    b'-' | b'0'..=b'9' => Some("a number"),
                    _ => None,
                };
                if let Some(got) = got {
                    return Err(ParseError::Shape { path: "$".into(), expected: format!("a JSON array (what `ip -j` and `bridge -j` print), got {got}") });
                }
                break;
            }
            None if buf.is_empty() => {
                return Err(ParseError::Shape { path: "$".into(), expected: "a JSON array (what `ip -j` and `bridge -j` print), got an empty file".into() })
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut failure: Option<ParseError> = None;
    let res = (ArraySeed { each, failure: &mut failure }).deserialize(&mut de);
    if let Some(f) = failure {
        return Err(f);
    }
    res?;
    de.end()?;
    Ok(())
}

struct ArraySeed<'a, 'b> {
    each: &'a mut dyn FnMut(usize, Value) -> Result<(), ParseError>,
    failure: &'b mut Option<ParseError>,
}

impl<'de> DeserializeSeed<'de> for ArraySeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array (what `ip -j` and `bridge -j` print)")
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let mut i = 0;
        while let Some(v) = seq.next_element::<Value>()? {
            if let Err(e) = (self.each)(i, v) {
                *self.failure = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
            i += 1;
        }
        Ok(())
    }
}

/// Collects per-item errors of one file up to a cap: the fact is broken if any.
#[derive(Default)]
pub struct Errors {
    pub list: Vec<String>,
    pub more: usize,
}

impl Errors {
    /// The cap on reported entries per file.
    pub const CAP: usize = 20;
    /// Records one error.
    pub fn push(&mut self, e: impl fmt::Display) {
        if self.list.len() < Self::CAP {
            self.list.push(e.to_string());
        } else {
            self.more += 1;
        }
    }
    /// True when nothing failed.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
    /// All errors as one message.
    pub fn message(&self) -> String {
        let mut m = self.list.join("; ");
        if self.more > 0 {
            m.push_str(&format!("; and {} more", self.more));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_injectively() {
        use std::os::unix::ffi::OsStrExt;
        let a = escape_name(OsStr::from_bytes(b"n\xff1"));
        let b = escape_name(OsStr::from_bytes(b"n\xfe1"));
        let c = escape_name(OsStr::from_bytes(b"n\\xff1"));
        assert_eq!(a, "n\\xff1");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(escape_name(OsStr::new("node1")), "node1");
    }

    #[test]
    fn typed_access_names_the_path() {
        let v: Value = serde_json::json!({"mtu": "abc", "ok": 5, "flags": ["UP", 3]});
        let at = At::root(&v, "$[2]");
        assert_eq!(at.int("mtu", 0, 1 << 20).unwrap_err().to_string(), "$[2].mtu: expected an integer 0-1048576, got \"abc\"");
        assert_eq!(at.int("ok", 0, 9).unwrap(), Some(5));
        assert!(at.strs("flags").unwrap_err().to_string().contains("$[2].flags[1]"));
    }

    #[test]
    fn arrays_stream_and_bom_is_skipped() {
        let text = "\u{feff}[{\"a\":1},{\"a\":2}]";
        let mut seen = Vec::new();
        for_each_json_item(text.as_bytes(), &mut |i, v| {
            seen.push((i, v["a"].as_i64().unwrap()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(0, 1), (1, 2)]);
        assert!(for_each_json_item("[1,2".as_bytes(), &mut |_, _| Ok(())).is_err());
        assert!(for_each_json_item("{}".as_bytes(), &mut |_, _| Ok(())).is_err());
    }
}
