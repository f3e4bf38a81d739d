//! netdoctor's engine: the fact registry and store, the indexed graph, route
//! lookup, findings, and the Rhai rule runtime. No I/O crates live here, so the
//! graph and the rules test in microseconds.
//!
//! Start with [`kind`] (every fact kind), [`store::FactSet`] (what collectors
//! fill) and [`store::FactStore`] (one set per collector, snapshots), then
//! [`Graph`] (indexes and catalogue conventions), [`runtime::Runtime`] (load
//! rules) and [`pipeline::evaluate`] (the one evaluation pipeline).

pub mod cidr;
pub mod collector;
pub mod config;
pub mod dataplane;
pub mod error;
pub mod finding;
pub mod graph;
pub mod kind;
pub mod model;
pub mod net;
pub mod pipeline;
pub mod route;
pub mod runtime;
pub mod source;
pub mod store;
pub mod time;

pub use error::Error;
pub use finding::{Finding, Related, Report, Severity, Skip, Subject};
pub use graph::{Graph, GraphOptions};
pub use kind::FactKind;
pub use runtime::{Explanation, Limits, Rule, RuleSet, Runtime};
pub use source::{Fact, Source, SourceError};
pub use store::{FactSet, FactStore, Object};
