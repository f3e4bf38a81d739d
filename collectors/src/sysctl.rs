//! The sysctl source: `sysctl -a` output (`key = value` lines), or a subset
//! that keeps every `net.` key.

use crate::error::{line, ParseError};
use std::collections::BTreeMap;

/// Parses `sysctl -a` (or a subset); accepts `key = value` and `key=value`.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let mut out = BTreeMap::new();
    for (n, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        let (k, v) = l.split_once('=').ok_or_else(|| line(n + 1, format!("expected `key = value`, got {l:?}")))?;
        let k = k.trim();
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err(line(n + 1, format!("expected `key = value`, got {l:?}")));
        }
        out.insert(k.to_string(), v.trim().to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_both_spellings() {
        let m = super::parse("net.ipv4.ip_forward = 1\nnet.core.rmem=4096\t131072\n").unwrap();
        assert_eq!(m["net.ipv4.ip_forward"], "1");
        assert_eq!(m["net.core.rmem"], "4096\t131072");
        assert_eq!(super::parse("a = 1\ngarbage\n").unwrap_err().to_string(), "line 2: expected `key = value`, got \"garbage\"");
    }
}
