//! The one evaluation pipeline: a fact snapshot, the loaded rules and the
//! config in; a report out. `eval`, `rules test`, the pack's tests, the
//! benches and `serve` all evaluate through [`evaluate`].

use crate::config::Effective;
use crate::finding::Report;
use crate::graph::{Graph, GraphOptions};
use crate::runtime::{RuleSet, Runtime};
use crate::store::FactSet;
use crate::model::CollectorStatus;
use std::sync::Arc;

/// The graph options a config implies (extra CNI-owned interface names).
pub fn graph_options(cfg: &Effective) -> GraphOptions {
    GraphOptions { extra_cni_interfaces: cfg.cni_interfaces.clone() }
}

/// Indexes one fact set (a capture) with the config's graph options.
pub fn snapshot(facts: FactSet, collectors: Vec<CollectorStatus>, cfg: &Effective) -> Arc<Graph> {
    Arc::new(Graph::build(facts, collectors, &graph_options(cfg)))
}

/// Evaluates every enabled rule of `set` against `graph`, applying the config.
pub fn evaluate(rt: &Runtime, set: &RuleSet, graph: &Arc<Graph>, cfg: &Effective) -> Report {
    rt.evaluate(set, graph, cfg)
}
