//! Rule API extension: service dataplane (IPVS, iptables), flannel and Calico helpers.
//! Every function registered here has an entry in [`DOCS`].

use super::api::Doc;
use rhai::Engine;

/// Documentation of every function registered by [`register`].
pub const DOCS: &[Doc] = &[];

/// Registers this module's functions.
pub fn register(_engine: &mut Engine) {}
