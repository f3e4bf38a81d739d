//! Service dataplane, flannel and Calico conventions computed over the graph (see rules-catalogue.md).

#[allow(unused_imports)]
use crate::graph::Graph;
