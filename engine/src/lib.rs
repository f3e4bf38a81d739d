//! netdoctor's engine: the fact model, the indexed graph, route lookup,
//! findings, and the Rhai rule runtime. No I/O crates live here, so the graph
//! and the rules test in microseconds.
//!
//! Start with [`model::Facts`] (what collectors produce), [`Graph::build`]
//! (indexes and catalogue conventions), then [`runtime::Runtime`] (load rules,
//! evaluate into a [`finding::Report`]).

pub mod finding;
pub mod config;
pub mod dataplane;
pub mod graph;
pub mod model;
pub mod net;
pub mod route;
pub mod runtime;

pub use finding::{Finding, Related, Report, Severity, Skip, Subject};
pub use graph::Graph;
pub use model::{Fact, Facts, Host, SourceError};
pub use runtime::{Explanation, Limits, Rule, RuleSet, Runtime};
