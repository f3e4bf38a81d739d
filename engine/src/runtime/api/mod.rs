//! The rule API: the graph as registered Rust types, their properties and
//! methods, and native helpers.
//!
//! Conventions (also at the top of `docs/rules.md`):
//! - **Stored facts are properties** (`p.phase`, `r.dst`, `h.routes`,
//!   `s.endpoints`, `h.pods`): a value held on the object, or a relation the
//!   graph keeps as an index. **Computations and look-ups are methods**: they
//!   take arguments or apply a convention (`h.route_get(ip)`,
//!   `h.pod_bridges()`, `s.selected_pods()`, `g.service(ns, name)`).
//! - **One name for one concept**: `type` is what sort of thing a fact is
//!   (route, link, Service, condition, address, virtual server), `kind` only
//!   a subject's Kubernetes kind; `backend` is flannel's backend everywhere;
//!   a host fact is named as in the registry (`links`, `routes`, ...).
//! - **Typed handles**: every object and every value inside a fact (a
//!   route, a container, a Service port) is a handle into the immutable graph,
//!   never a map rebuilt on access; collections are arrays of handles, so
//!   reading facts never trips the sandbox's data limits.
//! - **Hashable ids**: every object handle has `.id` (`Pod/ns/name`,
//!   `Node/n1`), for keying maps by subject.
//! - Every property read is recorded for `--explain` under the subject it
//!   belongs to; methods record their question and answer.
//!
//! Each module registers its functions through [`Reg`], which also writes
//! their documentation (`docs/rules.md` is generated from it).

pub mod cluster;
pub mod dataplane;
pub mod helpers;
pub mod host;

use crate::graph::Graph;
use rhai::{Array, Dynamic, Engine, Map, Variant};
use std::marker::PhantomData;
use std::sync::Arc;

thread_local! {
    /// `--explain`: (subject label, what was read → what it answered), when tracing.
    static TRACE: std::cell::RefCell<Option<Vec<(String, String)>>> = const { std::cell::RefCell::new(None) };
}

/// Starts recording the facts rules read on this thread.
pub fn start_trace() {
    TRACE.with(|t| *t.borrow_mut() = Some(Vec::new()));
}

/// Stops recording and returns what was read, in order.
pub fn take_trace() -> Vec<(String, String)> {
    TRACE.with(|t| t.borrow_mut().take()).unwrap_or_default()
}

fn tracing() -> bool {
    TRACE.with(|t| t.borrow().is_some())
}

/// Records that a rule read something about `subject` (a label such as `Node/n1`) and what it
/// got. Costs one thread-local check unless `--explain` is tracing.
pub fn trace(subject: impl FnOnce() -> String, read: impl FnOnce() -> String) {
    if !tracing() {
        return;
    }
    let entry = (subject(), read());
    TRACE.with(|t| {
        if let Some(v) = t.borrow_mut().as_mut() {
            v.push(entry);
        }
    });
}

/// A value as `--explain` shows it, cut at 300 bytes.
pub(crate) fn short(d: &Dynamic) -> String {
    if let Some(n) = d.read_lock::<Array>().map(|a| a.len()).filter(|n| *n > 20) {
        return format!("[{n} items]");
    }
    let s = match super::output::to_json(d) {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => "none".to_string(),
        v => v.to_string(),
    };
    if s.len() > 300 {
        format!("{}…", &s[..s.floor_char_boundary(300)])
    } else {
        s
    }
}

/// Records a method call and its answer, and returns the answer.
pub(crate) fn traced<T: Clone + Into<Dynamic>>(subject: impl FnOnce() -> String, call: impl FnOnce() -> String, out: T) -> T {
    if tracing() {
        let shown = short(&out.clone().into());
        trace(subject, || format!("{} → {shown}", call()));
    }
    out
}

/// A handle that belongs to a subject, for `--explain`.
pub trait Traced {
    /// The subject label its reads are recorded under (`Node/n1`, `Pod/ns/name`).
    fn label(&self) -> String;
}

/// One documented function of the rule API (`docs/rules.md` is generated from these; a
/// test fails when a registered function has no entry).
#[derive(Debug, Clone)]
pub struct Doc {
    /// The receiver type as rules see it (`Graph`, `Host`, `Pod`, ...), or `""` for a global function.
    pub on: &'static str,
    /// The function or property name.
    pub name: &'static str,
    /// Call shape and result, e.g. `h.route_get(ip) -> Lookup | ()`.
    pub sig: &'static str,
    /// What it answers, one line.
    pub doc: &'static str,
    /// A one-line example.
    pub example: &'static str,
    /// True for properties (`p.phase`), false for methods and functions.
    pub property: bool,
}

/// Registers functions on an engine and documents each as it goes.
pub struct Reg<'e> {
    pub engine: &'e mut Engine,
    pub docs: Vec<Doc>,
}

impl Reg<'_> {
    /// A traced, documented property of handle type `T`.
    pub fn get<T, V>(
        &mut self,
        on: &'static str,
        name: &'static str,
        sig: &'static str,
        doc: &'static str,
        f: impl Fn(&T) -> V + Send + Sync + 'static,
    ) -> &mut Self
    where
        T: Traced + Variant + Clone,
        V: Variant + Clone,
    {
        self.engine.register_get(name, move |x: &mut T| {
            let v = f(x);
            if tracing() {
                let shown = short(&Dynamic::from(v.clone()));
                trace(|| x.label(), || format!("{name} → {shown}"));
            }
            v
        });
        self.docs.push(Doc { on, name, sig, doc, example: sig.split(" ->").next().unwrap_or(sig), property: true });
        self
    }

    /// Documents a method or function registered directly on `self.engine`.
    pub fn doc(&mut self, on: &'static str, name: &'static str, sig: &'static str, doc: &'static str, example: &'static str) -> &mut Self {
        self.docs.push(Doc { on, name, sig, doc, example, property: false });
        self
    }
}

/// Registers every type and function of the rule API on `engine`; returns their documentation.
pub fn register(engine: &mut Engine) -> Vec<Doc> {
    let mut reg = Reg { engine, docs: Vec::new() };
    cluster::register(&mut reg);
    host::register(&mut reg);
    dataplane::register(&mut reg);
    helpers::register(&mut reg);
    reg.docs
}

/// Every documented function of the rule API.
pub fn all_docs() -> Vec<Doc> {
    let mut e = Engine::new_raw();
    register(&mut e)
}

// ---------------------------------------------------------------------------
// Handles

/// A host or Node (catalogue "host").
#[derive(Clone)]
pub struct HostRef {
    pub g: Arc<Graph>,
    pub t: usize,
}

/// A Node object.
#[derive(Clone)]
pub struct NodeRef {
    pub g: Arc<Graph>,
    pub i: usize,
}

/// A Pod.
#[derive(Clone)]
pub struct PodRef {
    pub g: Arc<Graph>,
    pub i: usize,
}

/// A Service.
#[derive(Clone)]
pub struct ServiceRef {
    pub g: Arc<Graph>,
    pub i: usize,
}

/// A flannel lease.
#[derive(Clone)]
pub struct LeaseRef {
    pub g: Arc<Graph>,
    pub i: usize,
}

impl HostRef {
    pub(crate) fn name(&self) -> &str {
        self.g.host_name(self.t)
    }
    pub(crate) fn facts(&self) -> Option<&crate::model::HostFacts> {
        self.g.host_facts(self.t)
    }
}
impl NodeRef {
    pub(crate) fn n(&self) -> &crate::model::Node {
        &self.g.nodes()[self.i]
    }
}
impl PodRef {
    pub(crate) fn p(&self) -> &crate::model::Pod {
        &self.g.pods()[self.i]
    }
}
impl ServiceRef {
    pub(crate) fn s(&self) -> &crate::model::Service {
        &self.g.services()[self.i]
    }
}
impl LeaseRef {
    pub(crate) fn l(&self) -> &crate::model::FlannelLease {
        &self.g.leases()[self.i].lease
    }
}

impl Traced for HostRef {
    fn label(&self) -> String {
        format!("Node/{}", self.name())
    }
}
impl Traced for NodeRef {
    fn label(&self) -> String {
        format!("Node/{}", self.n().name)
    }
}
impl Traced for PodRef {
    fn label(&self) -> String {
        format!("Pod/{}/{}", self.p().namespace, self.p().name)
    }
}
impl Traced for ServiceRef {
    fn label(&self) -> String {
        format!("Service/{}/{}", self.s().namespace, self.s().name)
    }
}
impl Traced for LeaseRef {
    fn label(&self) -> String {
        format!("FlannelLease/{}", self.l().subnet)
    }
}

/// A kind of value held inside an object's facts (a route of a host, a container of a pod).
pub trait Part: 'static + Send + Sync {
    /// The fact type.
    type T: 'static;
    /// The values of the owner `of`.
    fn items(g: &Graph, of: usize) -> &[Self::T];
    /// The owner's subject label.
    fn owner(g: &Graph, of: usize) -> String;
}

/// A handle to one value inside an object's facts: the graph, the owner, the index.
pub struct Item<P: Part> {
    pub g: Arc<Graph>,
    pub of: usize,
    pub i: usize,
    _p: PhantomData<fn() -> P>,
}

impl<P: Part> Clone for Item<P> {
    fn clone(&self) -> Self {
        Item { g: self.g.clone(), of: self.of, i: self.i, _p: PhantomData }
    }
}

impl<P: Part> Item<P> {
    /// The value.
    pub fn get(&self) -> &P::T {
        &P::items(&self.g, self.of)[self.i]
    }
    /// Handles to every value of an owner.
    pub fn all(g: &Arc<Graph>, of: usize) -> Array {
        charge(P::items(g, of).len());
        (0..P::items(g, of).len()).map(|i| Dynamic::from(Item::<P> { g: g.clone(), of, i, _p: PhantomData })).collect()
    }
    /// Handles to the values of an owner that satisfy `keep`.
    pub fn filtered(g: &Arc<Graph>, of: usize, keep: impl Fn(&P::T) -> bool) -> Array {
        charge(P::items(g, of).len());
        P::items(g, of).iter().enumerate().filter(|(_, x)| keep(x)).map(|(i, _)| Dynamic::from(Item::<P> { g: g.clone(), of, i, _p: PhantomData })).collect()
    }
    /// A handle to value `i` of an owner.
    pub fn at(g: &Arc<Graph>, of: usize, i: usize) -> Item<P> {
        Item { g: g.clone(), of, i, _p: PhantomData }
    }
}

impl<P: Part> Traced for Item<P> {
    fn label(&self) -> String {
        P::owner(&self.g, self.of)
    }
}

// ---------------------------------------------------------------------------
// Small conversions

/// Counts native work against the rule's operations budget (one operation per item a native
/// function walks), so that a rule calling heavy natives in a loop is cut off deterministically.
pub(crate) fn charge(items: usize) {
    crate::runtime::sandbox::charge(items as u64);
}

/// `()` for `None`.
pub(crate) fn opt<T: Variant + Clone>(v: Option<T>) -> Dynamic {
    v.map_or(Dynamic::UNIT, Dynamic::from)
}

/// `()` for `None`, else the value's text.
pub(crate) fn opt_str<S: ToString>(v: Option<S>) -> Dynamic {
    v.map_or(Dynamic::UNIT, |s| Dynamic::from(s.to_string()))
}

/// An array of strings.
pub(crate) fn strings<I: IntoIterator<Item = S>, S: ToString>(it: I) -> Array {
    it.into_iter().map(|s| Dynamic::from(s.to_string())).collect()
}

/// A map from literal pairs.
pub(crate) fn map_of<const N: usize>(pairs: [(&str, Dynamic); N]) -> Map {
    pairs.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

/// A subject map `#{kind, namespace, name, node}`.
pub fn subject_map(kind: &str, namespace: Option<&str>, name: &str, node: Option<&str>) -> Map {
    map_of([("kind", kind.into()), ("namespace", opt_str(namespace)), ("name", name.into()), ("node", opt_str(node))])
}

/// A related-party map `#{kind, namespace, name}`.
pub fn related_map(kind: &str, namespace: Option<&str>, name: &str) -> Map {
    map_of([("kind", kind.into()), ("namespace", opt_str(namespace)), ("name", name.into())])
}

pub(crate) fn string_map<'a, K: AsRef<str> + 'a, V: AsRef<str> + 'a>(m: impl IntoIterator<Item = (K, V)>) -> Map {
    m.into_iter().map(|(k, v)| (k.as_ref().into(), Dynamic::from(v.as_ref().to_string()))).collect()
}

pub(crate) type R<T> = Result<T, Box<rhai::EvalAltResult>>;

pub(crate) fn parse_ip_arg(s: &str) -> R<std::net::IpAddr> {
    crate::net::parse_ip(s).ok_or_else(|| format!("not an IP address: {s:?}").into())
}

pub(crate) fn parse_net_arg(s: &str) -> R<ipnet::IpNet> {
    crate::net::parse_net(s).ok_or_else(|| format!("not a CIDR or address: {s:?}").into())
}

/// `(cidr, what)` pairs as `[#{cidr, <what_key>}]`.
pub(crate) fn cidr_list(v: &[(ipnet::IpNet, String)], what: &str) -> Array {
    v.iter().map(|(c, s)| Dynamic::from_map(map_of([("cidr", c.to_string().into()), (what, s.clone().into())]))).collect()
}
