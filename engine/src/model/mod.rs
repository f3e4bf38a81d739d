//! The typed facts netdoctor reasons about, normalised from every source.
//!
//! Facts keep only the fields rules read, never whole API objects, so that a
//! 150k-pod cluster stays small in memory. Every value is typed once, by the
//! collector that reads it (a route's type, table, protocol and scope are
//! kernel numbers that print as `ip` prints them; MACs are MACs). Host facts
//! are wrapped in [`crate::source::Fact`], so a rule can tell "not collected"
//! from "could not be read" from "read". Start at [`crate::store::FactSet`].

pub mod cluster;
pub mod host;
pub mod types;

pub use crate::source::{Fact, Source, SourceError};
pub use cluster::*;
pub use host::*;
pub use types::*;
