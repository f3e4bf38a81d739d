//! netdoctor's outputs: the JSON report (`interfaces.md` schema, also what
//! `serve` answers at `/api/v1/findings`), the table a person reads at 3 am,
//! `--explain`, and the parts of `serve`.
//!
//! Where to start for `serve`: [`evaluation`] holds the plain structs serve
//! fills after each evaluation ([`Evaluation`], shared as `Arc`); then
//! [`metrics::Metrics`] renders `/metrics`, [`page::render`] the page at `/`,
//! [`alertmanager::Pusher`] pushes alerts, and [`alerts::render`] prints
//! `netdoctor alerts`. [`serve`] runs them: the evaluation loop, hot reload
//! and HTTP. [`labels`] is the one definition of a finding's label
//! set they share; [`Error`] the crate's error.

pub mod alertmanager;
pub mod alerts;
pub mod error;
pub mod evaluation;
pub mod explain;
#[cfg(test)]
mod fixture;
pub mod labels;
pub mod metrics;
pub mod page;
pub mod report;
pub mod serve;
pub mod time;

pub use error::Error;
pub use evaluation::{BuildInfo, CollectorStatus, Evaluation, FirstSeen, Problem, ReloadStatus, RuleInfo};
pub use report::{json, table};
