//! netdoctor's outputs. Today: the JSON report (`interfaces.md` schema), the
//! table a person reads at 3 am, and `--explain`. Prometheus metrics and
//! Alertmanager pushes join here with `serve`.

pub mod explain;
pub mod report;

pub use report::{json, table};
