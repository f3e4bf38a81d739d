//! netdoctor's built-in rule pack: one `<id>.rhai` per rule in this
//! directory, embedded at build time (see `build.rs`). The ids are the
//! catalogue's stable public names (`shared/spec/rules-catalogue.md`).

include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
