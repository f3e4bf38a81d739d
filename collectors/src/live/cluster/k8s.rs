//! The k8s live collector: Nodes, Pods, Services, EndpointSlices, the
//! ConfigMaps the rules read (`kube-system/coredns`, `kube-system/kube-proxy`,
//! `kube-system/kubeadm-config`, `kube-flannel-cfg` in any namespace, each
//! selected by name: no other ConfigMap is read, and Secrets never are),
//! ComponentStatuses, and, when API discovery finds them, Deployments and
//! Calico IPPools / BlockAffinities.
//!
//! Objects are projected with [`crate::k8s::project`] as they arrive and
//! dropped: only the compact facts are kept, never whole objects or
//! managedFields. Lists are paginated (`K8sOptions::page_size`).
//!
//! Watching uses `kube::runtime::watcher` per kind. A (re)list is built aside
//! and swapped in at `InitDone`, so on `410 Gone` the previous state stays
//! until the new list is complete. kube-rs 5 answers an HTTP 410 on watch
//! start with endless retries rather than a relist: the task then starts a
//! new watcher, which relists. Errors back off (250 ms doubling to 30 s) and
//! mark the collector down until the kind is seen working again.
//! ComponentStatuses cannot be watched on a real API server: they are listed
//! every 30 s. Discovery runs again every 5 minutes, so CRDs installed later
//! are picked up.
//!
//! A kind the API refuses (403: RBAC; 404: not served) is broken with the
//! API's message (rules that need it skip, saying why) and the collector stays
//! up; it is asked again with backoff. The RBAC it needs (get, list, watch):
//! `nodes`, `pods`, `services`, `configmaps` (cluster-wide, each read by name:
//! `kube-flannel-cfg` lives in `kube-flannel` or `kube-system`),
//! `componentstatuses` (get, list), `endpointslices.discovery.k8s.io`,
//! `deployments.apps`, and `ippools` / `blockaffinities.crd.projectcalico.org`
//! on Calico clusters. Never `secrets`.

use super::{unix_now, Backoff, ListWriter, OnChange, Shared, WatchHandle, WatchStatus};
use crate::k8s::{project, set_config, Config, Item};
use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, ListParams};
use kube::core::GroupVersionKind;
use kube::runtime::watcher;
use kube::Client;
use netdoctor_engine::collector::{Collection, Collector};
use netdoctor_engine::kind::FactKind;
use netdoctor_engine::store::{endpoints_key, Broken, FactSet, ObjKey};
use netdoctor_engine::{Fact, Source};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How to reach the cluster.
#[derive(Debug, Clone)]
pub struct K8sOptions {
    /// `--kubeconfig`; else `KUBECONFIG`, else `~/.kube/config`, else the in-cluster config.
    pub kubeconfig: Option<PathBuf>,
    /// `--node NAME`: only that node's Pods (`spec.nodeName` field selector), for a DaemonSet.
    pub node: Option<String>,
    /// Objects per list page (`limit`); 0 means unpaginated.
    pub page_size: u32,
}

impl Default for K8sOptions {
    fn default() -> Self {
        K8sOptions { kubeconfig: None, node: None, page_size: 500 }
    }
}

/// What `collect()` says when there is no cluster to talk to.
pub const NO_KUBECONFIG: &str = "no kubeconfig (KUBECONFIG, ~/.kube/config) and not in a pod";

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a one-shot request may wait for the next bytes.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// After an error, a retry that has not failed within this long is taken as working.
const PROBE: Duration = Duration::from_secs(6);
/// How often ComponentStatuses are listed while watching.
const POLL_COMPONENT_STATUSES: Duration = Duration::from_secs(30);
/// How often a watching collector runs API discovery again (for CRDs installed later).
const REDISCOVER: Duration = Duration::from_secs(300);
/// How long `collect()` on a watching collector waits for the first lists.
const FIRST_SYNC: Duration = Duration::from_secs(60);

/// The Kubernetes API as a collector (`k8s`). See the [module docs](self).
pub struct K8sCollector {
    opts: K8sOptions,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for K8sCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K8sCollector").field("opts", &self.opts).field("status", &self.status()).finish()
    }
}

fn err(message: impl Into<String>) -> netdoctor_engine::Error {
    netdoctor_engine::Error::Collect { collector: "k8s".into(), message: message.into() }
}

/// A client for the configured cluster and its URL; `None` when nothing is configured.
async fn client(opts: &K8sOptions, watching: bool) -> Result<Option<(Client, String)>, netdoctor_engine::Error> {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let home_config = std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config")).filter(|p| p.exists());
    let env_config = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty());
    let mut config = if let Some(path) = &opts.kubeconfig {
        let kc = Kubeconfig::read_from(path).map_err(|e| err(format!("reading kubeconfig {}: {e}", path.display())))?;
        kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.map_err(|e| err(format!("kubeconfig {}: {e}", path.display())))?
    } else if env_config.is_some() || home_config.is_some() {
        kube::Config::from_kubeconfig(&KubeConfigOptions::default()).await.map_err(|e| err(format!("kubeconfig (KUBECONFIG or ~/.kube/config): {e}")))?
    } else if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
        kube::Config::incluster().map_err(|e| err(format!("in-cluster config: {e}")))?
    } else {
        return Ok(None);
    };
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    if !watching {
        config.read_timeout = Some(READ_TIMEOUT);
    }
    let url = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| err(format!("API server {url}: {e}")))?;
    Ok(Some((client, url)))
}

/// One watched resource.
#[derive(Clone, Debug)]
struct Spec {
    /// The API kind (`Pod`).
    kind: &'static str,
    ar: ApiResource,
    namespace: Option<&'static str>,
    fields: Option<String>,
    /// The fact kind its objects feed.
    fact: FactKind,
    /// Watched (else polled: ComponentStatuses have no watch verb).
    watch: bool,
    /// The capture file it is written to, and that file's list kind.
    file: &'static str,
}

impl Spec {
    fn api(&self, client: Client) -> Api<RawObject> {
        match self.namespace {
            Some(ns) => Api::namespaced_with(client, ns, &self.ar),
            None => Api::all_with(client, &self.ar),
        }
    }

    /// How the part is named in status and errors (`pods`, `configmaps kube-system/coredns`).
    fn label(&self) -> String {
        match (&self.fields, self.namespace) {
            (Some(f), ns) if f.starts_with("metadata.name=") => {
                format!("{} {}{}", self.ar.plural, ns.map(|n| format!("{n}/")).unwrap_or_default(), &f["metadata.name=".len()..])
            }
            (Some(f), _) => format!("{} ({f})", self.ar.plural),
            (None, _) => self.ar.plural.clone(),
        }
    }

    fn list_params(&self, page_size: u32) -> ListParams {
        let mut lp = ListParams::default();
        if page_size > 0 {
            lp = lp.limit(page_size);
        }
        if let Some(f) = &self.fields {
            lp = lp.fields(f);
        }
        lp
    }

    fn watch_config(&self, page_size: u32) -> watcher::Config {
        let mut c = watcher::Config::default();
        if page_size > 0 {
            c = c.page_size(page_size);
        }
        if let Some(f) = &self.fields {
            c = c.fields(f);
        }
        c
    }

    fn is_config(&self) -> bool {
        crate::k8s::CONFIG_KINDS.contains(&self.fact)
    }

    fn list_kind(&self) -> String {
        if self.is_config() {
            "List".to_string()
        } else {
            format!("{}List", self.kind)
        }
    }
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The resources to read: the fixed ones, plus Deployments and Calico's CRDs when discovery
/// finds them.
async fn specs(client: &Client, opts: &K8sOptions) -> Result<Vec<Spec>, kube::Error> {
    let spec =
        |kind: &'static str, ar: ApiResource, fact: FactKind, file: &'static str| Spec { kind, ar, namespace: None, fields: None, fact, watch: true, file };
    let mut out = vec![
        spec("Node", resource("", "v1", "Node", "nodes"), FactKind::Nodes, "nodes.json"),
        Spec {
            fields: opts.node.as_ref().map(|n| format!("spec.nodeName={n}")),
            ..spec("Pod", resource("", "v1", "Pod", "pods"), FactKind::Pods, "pods.json")
        },
        spec("Service", resource("", "v1", "Service", "services"), FactKind::Services, "services.json"),
        spec("EndpointSlice", resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"), FactKind::Endpoints, "endpointslices.json"),
    ];
    for (ns, name, fact) in [
        (Some("kube-system"), "coredns", FactKind::CorednsConfig),
        (Some("kube-system"), "kube-proxy", FactKind::KubeProxyConfig),
        (Some("kube-system"), "kubeadm-config", FactKind::KubeadmConfig),
        // flannel ≥ 0.20 keeps it in namespace kube-flannel, older manifests in kube-system.
        (None, "kube-flannel-cfg", FactKind::FlannelNetConf),
    ] {
        out.push(Spec {
            namespace: ns,
            fields: Some(format!("metadata.name={name}")),
            ..spec("ConfigMap", resource("", "v1", "ConfigMap", "configmaps"), fact, "configmaps.json")
        });
    }
    out.push(Spec {
        watch: false,
        ..spec("ComponentStatus", resource("", "v1", "ComponentStatus", "componentstatuses"), FactKind::ComponentStatuses, "componentstatuses.json")
    });
    let groups = client.list_api_groups().await?;
    let served = |g: &str| groups.groups.iter().any(|x| x.name == g);
    for (group, kinds) in [
        ("apps", &[("Deployment", FactKind::Deployments, "deployments.json")][..]),
        (
            "crd.projectcalico.org",
            &[("IPPool", FactKind::IpPools, "calico-ippools.json"), ("BlockAffinity", FactKind::BlockAffinities, "calico-blockaffinities.json")][..],
        ),
    ] {
        if !served(group) {
            continue;
        }
        let g = kube::discovery::group(client, group).await?;
        for (kind, fact, file) in kinds {
            if let Some((ar, _)) = g.recommended_kind(kind) {
                out.push(spec(kind, ar, *fact, file));
            }
        }
    }
    Ok(out)
}

/// An API object as the watchers and lists receive it: its JSON as served (parsed straight
/// into a `serde_json::Value`, managedFields dropped on arrival) and the few metadata fields
/// kube's watcher needs (name, namespace, resourceVersion, uid). Parsing into `Value` rather
/// than kube's `DynamicObject` (typed metadata plus flattened fields, which serde buffers)
/// is several times faster and never builds the object twice.
#[derive(Clone, Debug)]
pub struct RawObject {
    pub meta: ObjectMeta,
    pub value: Value,
}

impl<'de> serde::Deserialize<'de> for RawObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = d.deserialize_map(ObjectVisitor)?;
        let mut meta = ObjectMeta::default();
        if let Some(m) = value.get("metadata").and_then(Value::as_object) {
            let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
            meta.name = s("name");
            meta.namespace = s("namespace");
            meta.resource_version = s("resourceVersion");
            meta.uid = s("uid");
        }
        Ok(RawObject { meta, value })
    }
}

/// An object's top level, its `metadata` read without `managedFields` (skipped unparsed:
/// often half of an object's JSON, never read).
struct ObjectVisitor;

impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let v = if key == "metadata" { map.next_value_seed(MetaSeed)? } else { map.next_value::<Value>()? };
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

struct MetaSeed;

impl<'de> serde::de::DeserializeSeed<'de> for MetaSeed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for MetaSeed {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("object metadata")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "managedFields" {
                map.next_value::<serde::de::IgnoredAny>()?;
            } else {
                out.insert(key, map.next_value::<Value>()?);
            }
        }
        Ok(Value::Object(out))
    }
}

/// Reads one page of a list, handing out each object as soon as it is parsed (one object's
/// JSON tree at a time, never the page's); returns the page's list metadata.
pub fn read_page(text: &[u8], each: &mut dyn FnMut(RawObject)) -> Result<PageMeta, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(text);
    let meta = serde::de::DeserializeSeed::deserialize(PageSeed { each }, &mut de)?;
    de.end()?;
    Ok(meta)
}

struct PageSeed<'a> {
    each: &'a mut dyn FnMut(RawObject),
}

impl<'de> serde::de::DeserializeSeed<'de> for PageSeed<'_> {
    type Value = PageMeta;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<PageMeta, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PageSeed<'_> {
    type Value = PageMeta;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes list")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PageMeta, A::Error> {
        let mut meta = PageMeta::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "metadata" => meta = map.next_value()?,
                "items" => map.next_value_seed(ItemsSeed { each: &mut *self.each })?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(meta)
    }
}

struct ItemsSeed<'a> {
    each: &'a mut dyn FnMut(RawObject),
}

impl<'de> serde::de::DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ItemsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list's items")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while let Some(obj) = seq.next_element::<RawObject>()? {
            (self.each)(obj);
        }
        Ok(())
    }
}

impl kube::Resource for RawObject {
    type DynamicType = ApiResource;
    type Scope = kube::core::DynamicResourceScope;
    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }
    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }
    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }
    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }
    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.meta
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.meta
    }
}

impl RawObject {
    /// What [`crate::k8s::project`] reads: the JSON with `kind` and `apiVersion` set (list
    /// items lack them).
    pub fn into_value(self, kind: &str, api_version: &str) -> Value {
        let mut v = self.value;
        if let Some(m) = v.as_object_mut() {
            m.insert("kind".into(), Value::from(kind));
            m.insert("apiVersion".into(), Value::from(api_version));
        }
        v
    }
}

/// The list metadata a pager needs. (kube's `ObjectList` flattens its type fields, which makes
/// serde buffer a whole page in an intermediate tree before reading it: several times slower
/// on a page of 500 pods; [`read_page`] reads items one by one instead.)
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageMeta {
    #[serde(default, rename = "continue")]
    pub continue_token: Option<String>,
    #[serde(default, rename = "resourceVersion")]
    pub resource_version: Option<String>,
}

fn to_value(spec: &Spec, obj: RawObject) -> Value {
    obj.into_value(spec.kind, &spec.ar.api_version)
}

fn meta_str<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get("metadata").and_then(|m| m.get(key)).and_then(Value::as_str).unwrap_or("")
}

/// The store key of an object of `spec`.
fn key_of(spec: &Spec, v: &Value) -> ObjKey {
    let (ns, name) = (meta_str(v, "namespace"), meta_str(v, "name"));
    match spec.fact {
        FactKind::Endpoints => endpoints_key(true, ns, name),
        _ => (ns.to_string(), name.to_string()),
    }
}

/// What one part (kind) knows beyond the set: its broken objects, or its ConfigMap's error.
#[derive(Debug, Default)]
struct PartFacts {
    broken: BTreeMap<ObjKey, String>,
    config_error: Option<String>,
}

impl PartFacts {
    /// Publishes the broken entries into `set` (object kinds; ConfigMaps carry their own).
    fn publish(&self, set: &mut FactSet, spec: &Spec, source: &Source) {
        if !spec.is_config() {
            set.set_broken(spec.fact, self.broken.values().map(|e| Broken { source: source.clone(), error: e.clone() }).collect());
        }
    }

    /// Withdraws what this part reported from `set`.
    fn withdraw(&self, set: &mut FactSet, spec: &Spec, source: &Source) {
        if spec.is_config() {
            if let Some(e) = &self.config_error {
                let gone = netdoctor_engine::SourceError::new(source, e.clone());
                set.retain_errors(|x| *x != gone);
            }
        } else {
            set.set_broken(spec.fact, Vec::new());
        }
    }
}

/// Projects one object into `set`; true when the part's broken entries changed.
fn apply_value(set: &mut FactSet, spec: &Spec, v: &Value, source: &Source, part: &mut PartFacts) -> bool {
    let key = key_of(spec, v);
    let path = if key.0.is_empty() || spec.fact == FactKind::Endpoints {
        format!("{} {}{}", spec.kind, v.pointer("/metadata/namespace").and_then(Value::as_str).map(|n| format!("{n}/")).unwrap_or_default(), key.1)
    } else {
        format!("{} {}/{}", spec.kind, key.0, key.1)
    };
    match project(v, &path, source) {
        Ok(Item::Object(o)) => {
            set.apply(o);
            part.broken.remove(&key).is_some()
        }
        Ok(Item::Config(c)) => {
            if let Some(e) = part.config_error.take() {
                let gone = netdoctor_engine::SourceError::new(source, e);
                set.retain_errors(|x| *x != gone);
            }
            let s = source.clone();
            match c {
                Config::Corefile(x) => set.set_corefile(Fact::present(s, x)),
                Config::KubeProxy(x) => set.set_kube_proxy(Fact::present(s, x)),
                Config::Kubeadm(x) => set.set_kubeadm(Fact::present(s, x)),
                Config::FlannelNetConf(x) => set.set_flannel_net_conf(Fact::present(s, x)),
                Config::Other => set.clear(spec.fact),
            }
            false
        }
        Ok(Item::Unused) => {
            set.remove(spec.fact, &key);
            part.broken.remove(&key).is_some()
        }
        Ok(_) => false,
        Err(e) => {
            if spec.is_config() {
                if let Some(old) = part.config_error.take() {
                    let gone = netdoctor_engine::SourceError::new(source, old);
                    set.retain_errors(|x| *x != gone);
                }
                part.config_error = Some(e.to_string());
                set_config(set, spec.fact, Fact::Broken { source: source.clone(), error: e.to_string() });
                false
            } else {
                set.remove(spec.fact, &key);
                part.broken.insert(key, e.to_string());
                true
            }
        }
    }
}

/// Removes a deleted object; true when the part's broken entries changed.
fn delete_value(set: &mut FactSet, spec: &Spec, v: &Value, source: &Source, part: &mut PartFacts) -> bool {
    if spec.is_config() {
        part.withdraw(set, spec, source);
        part.config_error = None;
        set.clear(spec.fact);
        return false;
    }
    let key = key_of(spec, v);
    set.remove(spec.fact, &key);
    part.broken.remove(&key).is_some()
}

/// Lists every object of `spec`, page by page, handing each out; an expired `continue`
/// token starts the list again (at most three times).
async fn list_all(client: &Client, spec: &Spec, page_size: u32, each: &mut (dyn FnMut(Value) + Send)) -> Result<(), kube::Error> {
    let url = <RawObject as kube::Resource>::url_path(&spec.ar, spec.namespace);
    let mut restarts = 0;
    'list: loop {
        let mut lp = spec.list_params(page_size);
        let mut handed = 0usize;
        loop {
            let text = async {
                let req = kube::core::Request::new(url.as_str()).list(&lp).map_err(kube::Error::BuildRequest)?;
                client.request_text(req).await
            };
            let text = match text.await {
                Ok(t) => t,
                Err(kube::Error::Api(s)) if s.code == 410 && restarts < 3 && handed > 0 => {
                    restarts += 1;
                    each(Value::Null);
                    continue 'list;
                }
                Err(e) => return Err(e),
            };
            let page = read_page(text.as_bytes(), &mut |obj| {
                handed += 1;
                each(to_value(spec, obj));
            })
            .map_err(kube::Error::SerdeError)?;
            drop(text);
            match page.continue_token.filter(|c| !c.is_empty()) {
                Some(c) => lp.continue_token = Some(c),
                None => return Ok(()),
            }
        }
    }
}

/// A friendly message for a failure talking to the API server.
fn describe(url: &str, what: &str, e: &dyn std::fmt::Display) -> String {
    format!("API server {url}: {what}: {e}")
}

impl K8sCollector {
    /// A collector for the cluster `opts` points at (nothing is contacted yet).
    pub fn new(opts: K8sOptions) -> K8sCollector {
        K8sCollector { opts, shared: Arc::new(Shared::default()) }
    }

    /// The options.
    pub fn options(&self) -> &K8sOptions {
        &self.opts
    }

    /// Lists everything once: the facts, or why there are none.
    async fn list_once(&self, mut raw: Option<&mut RawWriter>) -> Result<Collection, netdoctor_engine::Error> {
        let Some((client, url)) = client(&self.opts, false).await? else {
            return Ok(Collection::NoData(NO_KUBECONFIG.to_string()));
        };
        let specs = specs(&client, &self.opts).await.map_err(|e| err(describe(&url, "discovery", &e)))?;
        let now = unix_now();
        let source = Source::live("k8s", now);
        let mut set = FactSet::new();
        set.meta.captured_at = Some(netdoctor_engine::time::format_rfc3339(now));
        for spec in &specs {
            let mut part = PartFacts::default();
            if !spec.is_config() {
                set.collected(spec.fact, source.clone());
            }
            let mut io_error = None;
            let mut writer = match raw.as_deref_mut() {
                Some(w) => Some(w.open(spec).map_err(|e| err(format!("writing {}: {e}", spec.file)))?),
                None => None,
            };
            let res = list_all(&client, spec, self.opts.page_size, &mut |v| {
                if v.is_null() {
                    // The list restarted (its continue token expired): start the kind again. A raw
                    // file keeps both copies; the reader keeps the higher resourceVersion.
                    part.withdraw(&mut set, spec, &source);
                    part = PartFacts::default();
                    set.clear(spec.fact);
                    if !spec.is_config() {
                        set.collected(spec.fact, source.clone());
                    }
                    return;
                }
                apply_value(&mut set, spec, &v, &source, &mut part);
                if let Some(w) = writer.as_mut() {
                    if let Err(e) = w.item(&v) {
                        io_error.get_or_insert(e);
                    }
                }
            })
            .await;
            if let Some(e) = io_error {
                return Err(err(format!("writing {}: {e}", spec.file)));
            }
            match res {
                Ok(()) => part.publish(&mut set, spec, &source),
                // RBAC or a resource this server does not serve: that kind is unknown, the rest is read.
                Err(e) if refused(&e).is_some() => {
                    let msg = describe(&url, &format!("listing {}", spec.label()), &refused(&e).unwrap_or_default());
                    if spec.is_config() {
                        set_config(&mut set, spec.fact, Fact::Broken { source: source.clone(), error: msg });
                    } else {
                        set.broken(spec.fact, source.clone(), msg);
                    }
                }
                Err(e) => return Err(err(describe(&url, &format!("listing {}", spec.label()), &e))),
            }
        }
        if let Some(w) = raw {
            w.finish().map_err(|e| err(format!("writing cluster/: {e}")))?;
        }
        Ok(Collection::Facts(Box::new(set)))
    }

    /// Lists everything once and writes it under `dir/cluster/` as `kubectl get -o json`
    /// Lists (objects as the API served them, minus managedFields; one file per kind
    /// collected), returning the same facts as [`collect`](Collector::collect).
    pub async fn capture(&self, dir: &Path) -> Result<Collection, netdoctor_engine::Error> {
        let mut raw = RawWriter::new(dir.join("cluster"));
        let out = self.list_once(Some(&mut raw)).await;
        if matches!(out, Ok(Collection::NoData(_)) | Err(_)) {
            raw.abandon();
        }
        out
    }

    /// Starts watching: background tasks (on the current Tokio runtime) keep this collector's
    /// facts current and call `on_change` after each change; [`collect`](Collector::collect)
    /// then returns a clone of them. A server that cannot be reached is retried with backoff
    /// (the collector reports down meanwhile). Fails only on a broken kubeconfig; with no
    /// cluster configured the handle does nothing and `collect()` says so.
    pub async fn start_watching(&self, on_change: OnChange) -> Result<WatchHandle, netdoctor_engine::Error> {
        if self.shared.watching.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(err("already watching"));
        }
        self.shared.set_on_change(on_change);
        let Some((client, url)) = client(&self.opts, true).await? else {
            *self.shared.no_data.lock().unwrap_or_else(|p| p.into_inner()) = Some(NO_KUBECONFIG.to_string());
            return Ok(WatchHandle::new(None));
        };
        self.shared.watching.store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.register("discovery");
        let shared = Arc::clone(&self.shared);
        let opts = self.opts.clone();
        let task = tokio::spawn(async move {
            // Discovery runs again every few minutes: Calico's CRDs (or Deployments) that
            // appear later get their watchers then. A watched kind that goes away reads as
            // not served (404): broken with that reason.
            let mut tasks = tokio::task::JoinSet::new();
            let mut started: std::collections::BTreeSet<String> = Default::default();
            let mut backoff = Backoff::new();
            loop {
                let delay = match specs(&client, &opts).await {
                    Ok(specs) => {
                        for spec in specs {
                            if !started.insert(spec.label()) {
                                continue;
                            }
                            shared.register(&spec.label());
                            let (client, shared, url) = (client.clone(), Arc::clone(&shared), url.clone());
                            if spec.watch {
                                tasks.spawn(watch_spec(client, spec, opts.page_size, shared, url));
                            } else {
                                tasks.spawn(poll_spec(client, spec, opts.page_size, shared, url));
                            }
                        }
                        if shared.part_ok("discovery", true) {
                            shared.changed(&[]);
                        }
                        backoff.reset();
                        REDISCOVER
                    }
                    // Before the first discovery the server is unreachable: down. After it, the
                    // watchers say how they fare; a failed re-discovery changes nothing.
                    Err(e) if started.is_empty() => {
                        shared.part_err("discovery", describe(&url, "discovery", &e));
                        shared.changed(&[]);
                        backoff.next_delay()
                    }
                    Err(_) => REDISCOVER,
                };
                tokio::time::sleep(delay).await;
            }
        });
        Ok(WatchHandle::new(Some(task)))
    }

    /// How the watches fare (meaningful once [`start_watching`](Self::start_watching) ran).
    pub fn status(&self) -> WatchStatus {
        self.shared.status()
    }

    /// The facts now (watching mode), without waiting or checking status.
    pub fn snapshot(&self) -> FactSet {
        self.shared.snapshot()
    }
}

#[async_trait::async_trait]
impl Collector for K8sCollector {
    fn name(&self) -> String {
        "k8s".to_string()
    }

    /// One-shot: lists everything once. Watching: the current facts, or an error while a
    /// watch is failing (so the store keeps the last good facts, marked stale).
    async fn collect(&self) -> Result<Collection, netdoctor_engine::Error> {
        if let Some(why) = self.shared.no_data.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Ok(Collection::NoData(why));
        }
        if self.shared.watching.load(std::sync::atomic::Ordering::SeqCst) {
            return self.shared.collect("k8s", FIRST_SYNC).await.map(|s| Collection::Facts(Box::new(s))).map_err(err);
        }
        self.list_once(None).await
    }
}

/// Why the API refuses a kind for good (403 Forbidden by RBAC, 404 not served), if it does.
fn refused(e: &kube::Error) -> Option<String> {
    match e {
        kube::Error::Api(s) if s.code == 403 || s.code == 404 => Some(format!("{} ({})", s.message, s.code)),
        _ => None,
    }
}

/// Replaces a refused kind's facts with one broken entry saying why (the rules that need it
/// skip with that reason); the collector is not down for it. Returns the part's new state.
fn deny(shared: &Shared, spec: &Spec, old: &PartFacts, old_source: &Source, msg: &str) -> (PartFacts, Source) {
    let src = Source::live("k8s", unix_now());
    let mut denied = PartFacts::default();
    shared.update(&[spec.fact], |set| {
        old.withdraw(set, spec, old_source);
        set.clear(spec.fact);
        if spec.is_config() {
            denied.config_error = Some(msg.to_string());
            set_config(set, spec.fact, Fact::Broken { source: src.clone(), error: msg.to_string() });
        } else {
            denied.broken.insert((String::new(), String::new()), msg.to_string());
            denied.publish(set, spec, &src);
        }
    });
    (denied, src)
}

/// Swaps a completed (re)list of one part into the shared set, withdrawing what the old one
/// reported (under its source).
fn swap_in(shared: &Shared, spec: &Spec, old: &PartFacts, old_source: &Source, new: FactSet, part: &PartFacts, source: &Source) {
    shared.update(&[spec.fact], |set| {
        old.withdraw(set, spec, old_source);
        set.clear(spec.fact);
        set.merge(new);
        part.publish(set, spec, source);
    });
}

/// Keeps one watched kind current in the shared set.
async fn watch_spec(client: Client, spec: Spec, page_size: u32, shared: Arc<Shared>, url: String) {
    let label = spec.label();
    let mut backoff = Backoff::new();
    let mut part = PartFacts::default();
    let mut source = Source::live("k8s", unix_now());
    // The refusal the part's facts say now (403/404), so that retries do not rewrite them.
    let mut denied: Option<String> = None;
    'watcher: loop {
        let mut stream = watcher(spec.api(client.clone()), spec.watch_config(page_size)).boxed();
        // A relist in progress: its objects, built aside until InitDone.
        let mut pending: Option<(FactSet, PartFacts, Source)> = None;
        let mut failing = false;
        loop {
            let next = if failing {
                tokio::select! {
                    n = stream.next() => n,
                    _ = tokio::time::sleep(PROBE) => {
                        // The retry has not failed: the watch is back.
                        failing = false;
                        backoff.reset();
                        if shared.part_ok(&label, false) {
                            shared.changed(&[]);
                        }
                        continue;
                    }
                }
            } else {
                stream.next().await
            };
            let Some(next) = next else { continue 'watcher };
            match next {
                Ok(event) => {
                    if failing || pending.is_none() {
                        backoff.reset();
                    }
                    failing = false;
                    match event {
                        watcher::Event::Init => {
                            let src = Source::live("k8s", unix_now());
                            let mut set = FactSet::new();
                            if !spec.is_config() {
                                set.collected(spec.fact, src.clone());
                            }
                            pending = Some((set, PartFacts::default(), src));
                        }
                        watcher::Event::InitApply(obj) => {
                            if let Some((set, p, src)) = pending.as_mut() {
                                apply_value(set, &spec, &to_value(&spec, obj), src, p);
                            }
                        }
                        watcher::Event::InitDone => {
                            if let Some((set, p, src)) = pending.take() {
                                swap_in(&shared, &spec, &part, &source, set, &p, &src);
                                part = p;
                                source = src;
                                denied = None;
                            }
                            if shared.part_ok(&label, true) {
                                shared.changed(&[]);
                            }
                        }
                        watcher::Event::Apply(obj) => {
                            let v = to_value(&spec, obj);
                            shared.update(&[spec.fact], |set| {
                                if apply_value(set, &spec, &v, &source, &mut part) {
                                    part.publish(set, &spec, &source);
                                }
                            });
                            shared.part_ok(&label, false);
                        }
                        watcher::Event::Delete(obj) => {
                            let v = to_value(&spec, obj);
                            shared.update(&[spec.fact], |set| {
                                if delete_value(set, &spec, &v, &source, &mut part) {
                                    part.publish(set, &spec, &source);
                                }
                            });
                            shared.part_ok(&label, false);
                        }
                    }
                }
                Err(e) => {
                    let refusal = match &e {
                        watcher::Error::InitialListFailed(k) | watcher::Error::WatchStartFailed(k) => refused(k),
                        _ => None,
                    };
                    if let Some(why) = refusal {
                        // Forbidden or not served: that kind is unknown (broken, with the reason),
                        // the collector is up; asked again with backoff, in case RBAC changes.
                        let msg = describe(&url, &format!("listing {label}"), &why);
                        if denied.as_deref() != Some(msg.as_str()) {
                            (part, source) = deny(&shared, &spec, &part, &source, &msg);
                            denied = Some(msg);
                        }
                        shared.part_ok(&label, true);
                        shared.changed(&[]);
                        tokio::time::sleep(backoff.next_delay()).await;
                        continue;
                    }
                    shared.part_err(&label, describe(&url, &format!("watching {label}"), &e));
                    shared.changed(&[]);
                    tracing::debug!(part = %label, error = %e, "k8s watch error");
                    tokio::time::sleep(backoff.next_delay()).await;
                    // kube-rs 5 retries an HTTP 410 on watch start for ever: relist instead,
                    // with a new watcher (the current facts stay until its InitDone).
                    if matches!(&e, watcher::Error::WatchStartFailed(kube::Error::Api(s)) if s.code == 410) {
                        continue 'watcher;
                    }
                    failing = true;
                }
            }
        }
    }
}

/// Lists one kind every [`POLL_COMPONENT_STATUSES`] (kinds without a watch verb).
async fn poll_spec(client: Client, spec: Spec, page_size: u32, shared: Arc<Shared>, url: String) {
    let label = spec.label();
    let mut part = PartFacts::default();
    let mut source = Source::live("k8s", unix_now());
    let mut denied: Option<String> = None;
    let mut backoff = Backoff::new();
    loop {
        let src = Source::live("k8s", unix_now());
        let mut set = FactSet::new();
        set.collected(spec.fact, src.clone());
        let mut p = PartFacts::default();
        let res = list_all(&client, &spec, page_size, &mut |v| {
            if !v.is_null() {
                apply_value(&mut set, &spec, &v, &src, &mut p);
            }
        })
        .await;
        let delay = match res {
            Ok(()) => {
                swap_in(&shared, &spec, &part, &source, set, &p, &src);
                part = p;
                source = src;
                denied = None;
                shared.part_ok(&label, true);
                backoff.reset();
                POLL_COMPONENT_STATUSES
            }
            // Not served (removed in a future release) or forbidden: that kind is unknown, the
            // collector is not down; asked again with backoff.
            Err(e) if refused(&e).is_some() => {
                let msg = describe(&url, &format!("listing {label}"), &refused(&e).unwrap_or_default());
                if denied.as_deref() != Some(msg.as_str()) {
                    (part, source) = deny(&shared, &spec, &part, &source, &msg);
                    denied = Some(msg);
                }
                shared.part_ok(&label, true);
                backoff.next_delay().min(POLL_COMPONENT_STATUSES)
            }
            Err(e) => {
                shared.part_err(&label, describe(&url, &format!("listing {label}"), &e));
                shared.changed(&[]);
                backoff.next_delay()
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// Writes the raw objects of a one-shot list under `cluster/`, one file per kind.
struct RawWriter {
    dir: PathBuf,
    files: BTreeMap<&'static str, ListWriter>,
    written: Vec<PathBuf>,
}

impl RawWriter {
    fn new(dir: PathBuf) -> RawWriter {
        RawWriter { dir, files: BTreeMap::new(), written: Vec::new() }
    }

    fn open(&mut self, spec: &Spec) -> std::io::Result<&mut ListWriter> {
        if !self.files.contains_key(spec.file) {
            std::fs::create_dir_all(&self.dir)?;
            let path = self.dir.join(spec.file);
            let w = ListWriter::create(&path, &spec.list_kind())?;
            self.written.push(path);
            self.files.insert(spec.file, w);
        }
        Ok(self.files.get_mut(spec.file).expect("just inserted"))
    }

    fn finish(&mut self) -> std::io::Result<()> {
        for (_, w) in std::mem::take(&mut self.files) {
            w.finish()?;
        }
        Ok(())
    }

    /// Removes the files of a capture that failed half-way.
    fn abandon(&mut self) {
        self.files.clear();
        for p in self.written.drain(..) {
            let _ = std::fs::remove_file(p);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
