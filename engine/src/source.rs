//! Provenance: where each fact came from, and whether it could be read.
//!
//! Every fact is [`Fact::Missing`] (not collected), [`Fact::Broken`] (the
//! source exists but could not be read, with the error) or [`Fact::Present`]
//! with its [`Source`]: a capture file (with the line or JSON path when one
//! entry is meant) or a live collector with the time of collection. Skip
//! reasons and evidence print the source; the engine never spells a capture
//! path itself. A rule that needs a broken fact skips with "could not be
//! read: ...", never fires, and never says "not collected".

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a fact came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    /// A file of a capture directory: its capture-relative path as the reader names it, and
    /// the place inside (`line 3`, `$.items[7]`) when the fact is one entry of the file.
    File { path: String, place: Option<String> },
    /// A live collector instance (`netlink`, `netlink/node2`, `k8s`), at the Unix time it collected.
    Live { collector: String, at: i64 },
    /// Derived from another object (`Node/n1` for a lease from flannel's Node annotations).
    Object(String),
}

impl Source {
    /// A whole capture file.
    pub fn file(path: impl Into<String>) -> Source {
        Source::File { path: path.into(), place: None }
    }
    /// One place inside a capture file.
    pub fn at(path: impl Into<String>, place: impl Into<String>) -> Source {
        Source::File { path: path.into(), place: Some(place.into()) }
    }
    /// A live collection.
    pub fn live(collector: impl Into<String>, at: i64) -> Source {
        Source::Live { collector: collector.into(), at }
    }
    /// The same source without the place inside it.
    pub fn whole(&self) -> Source {
        match self {
            Source::File { path, .. } => Source::file(path.clone()),
            live => live.clone(),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File { path, place: None } => f.write_str(path),
            Source::File { path, place: Some(p) } => write!(f, "{path}: {p}"),
            Source::Live { collector, at } => write!(f, "{collector} (live, {})", crate::time::format_rfc3339(*at)),
            Source::Object(o) => f.write_str(o),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A fact with its provenance.
#[derive(Debug, Clone, Default)]
pub enum Fact<T> {
    /// Not collected: the file is absent, or the source was not configured.
    #[default]
    Missing,
    /// The source exists but could not be read; `error` says where and why.
    Broken { source: Source, error: String },
    /// Read from `source`.
    Present { source: Source, value: T },
}

impl<T> Fact<T> {
    /// A present fact.
    pub fn present(source: Source, value: T) -> Fact<T> {
        Fact::Present { source, value }
    }
    /// The value when present.
    pub fn get(&self) -> Option<&T> {
        match self {
            Fact::Present { value, .. } => Some(value),
            _ => None,
        }
    }
    /// The source, when the fact was collected (even if broken).
    pub fn source(&self) -> Option<&Source> {
        match self {
            Fact::Missing => None,
            Fact::Broken { source, .. } | Fact::Present { source, .. } => Some(source),
        }
    }
    /// True when the fact was read.
    pub fn is_present(&self) -> bool {
        matches!(self, Fact::Present { .. })
    }
    /// True when the source exists but could not be read.
    pub fn is_broken(&self) -> bool {
        matches!(self, Fact::Broken { .. })
    }
    /// The value, mapped.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Fact<U> {
        match self {
            Fact::Missing => Fact::Missing,
            Fact::Broken { source, error } => Fact::Broken { source, error },
            Fact::Present { source, value } => Fact::Present { source, value: f(value) },
        }
    }
    /// Why the value is not available (`None` when it is), naming `what` was wanted.
    pub fn unavailable(&self, what: &str) -> Option<String> {
        match self {
            Fact::Present { .. } => None,
            Fact::Missing => Some(format!("{what} not collected")),
            Fact::Broken { source, error } => Some(could_not_read(source, error)),
        }
    }
}

/// "could not be read: SOURCE: ERROR", the one wording of a broken fact in skip reasons.
pub fn could_not_read(source: &Source, error: &str) -> String {
    format!("could not be read: {source}: {error}")
}

/// A problem with one source: it is reported, and evaluation goes on without it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceError {
    /// The source as printed (a capture file, `rules/x.rhai:3:5`, `k8s`).
    pub source: String,
    pub message: String,
}

impl SourceError {
    /// An error of `source`.
    pub fn new(source: impl fmt::Display, message: impl Into<String>) -> SourceError {
        SourceError { source: source.to_string(), message: message.into() }
    }
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_print_as_people_read_them() {
        assert_eq!(Source::file("n1/routes").to_string(), "n1/routes");
        assert_eq!(Source::at("cluster/pods", "$.items[3]").to_string(), "cluster/pods: $.items[3]");
        assert_eq!(Source::live("netlink", 0).to_string(), "netlink (live, 1970-01-01T00:00:00Z)");
        let f: Fact<u8> = Fact::Broken { source: Source::file("x"), error: "line 2: bad".into() };
        assert_eq!(f.unavailable("sysctl").unwrap(), "could not be read: x: line 2: bad");
        assert_eq!(Fact::<u8>::Missing.unavailable("sysctl").unwrap(), "sysctl not collected");
    }
}
