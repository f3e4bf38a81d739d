//! The one evaluation pipeline: a fact snapshot, the loaded rules and the
//! config in; a report out. `eval`, `rules test`, the pack's tests, the
//! benches and `serve` all evaluate through [`evaluate`].

use crate::config::Effective;
use crate::finding::Report;
use crate::graph::{Graph, GraphOptions};
use crate::runtime::{RuleSet, Runtime};
use crate::store::FactSet;
use std::sync::Arc;

/// The graph options a config implies (extra CNI-owned interface names).
pub fn graph_options(cfg: &Effective) -> GraphOptions {
    GraphOptions { extra_cni_interfaces: cfg.cni_interfaces.clone() }
}

/// Indexes one fact set (a capture) with the config's graph options.
pub fn snapshot(facts: FactSet, cfg: &Effective) -> Arc<Graph> {
    Arc::new(Graph::build(facts, Vec::new(), &graph_options(cfg)))
}

/// Indexes one fact set and evaluates it: what `eval --capture`, `rules test` and the
/// pack's tests do.
pub fn evaluate_facts(rt: &Runtime, set: &RuleSet, facts: FactSet, cfg: &Effective) -> Report {
    evaluate(rt, set, &snapshot(facts, cfg), cfg)
}

/// Evaluates every enabled rule of `set` against `graph`, applying the config.
pub fn evaluate(rt: &Runtime, set: &RuleSet, graph: &Arc<Graph>, cfg: &Effective) -> Report {
    rt.evaluate(set, graph, cfg)
}
