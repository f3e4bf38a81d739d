//! netdoctor's outputs. Today: the JSON report (`interfaces.md` schema) and
//! the table a person reads at 3 am. Prometheus metrics and Alertmanager
//! pushes join here with `serve`.

pub mod report;

pub use report::{json, table};
