//! The test API server against the real kube-rs 5 client and runtime
//! watcher: pagination, selectors, discovery, watch events, bookmarks,
//! `410 Expired` (as an ERROR event and as HTTP 410), dropped connections
//! and a server that is down at start.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use kube::api::{Api, DynamicObject, ListParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, Discovery, ResourceExt};
use netdoctor_testkit::apiserver::{ApiServerOptions, ExpiredWatch, TestApiServer};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::timeout;

const CAPTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/captures/healthy-flannel/cluster");
const CALICO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/captures/healthy-calico/cluster/calico.json");
const WAIT: Duration = Duration::from_secs(30);

async fn client(server: &TestApiServer) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&server.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    Client::try_from(config).unwrap()
}

fn loaded(options: ApiServerOptions) -> TestApiServer {
    let server = TestApiServer::start(options).unwrap();
    assert_eq!(server.load_dir(CAPTURE).unwrap(), 28);
    server
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

/// What the watcher yielded, reduced to what the tests compare.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Init,
    InitApply(String),
    InitDone,
    Apply(String),
    Delete(String),
    Error(String),
}

/// Runs `kube::runtime::watcher` for pods with the default backoff, as a
/// collector would, forwarding what it yields.
fn watch_pods(client: Client, config: watcher::Config) -> mpsc::UnboundedReceiver<Seen> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher(Api::<Pod>::all(client), config).default_backoff().boxed();
        while let Some(item) = stream.next().await {
            let seen = match item {
                Ok(Event::Init) => Seen::Init,
                Ok(Event::InitApply(p)) => Seen::InitApply(key(&p)),
                Ok(Event::InitDone) => Seen::InitDone,
                Ok(Event::Apply(p)) => Seen::Apply(key(&p)),
                Ok(Event::Delete(p)) => Seen::Delete(key(&p)),
                Err(e) => Seen::Error(e.to_string()),
            };
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    rx
}

/// Collects events until one satisfies `done`; panics with what was seen on
/// a timeout.
async fn until(rx: &mut mpsc::UnboundedReceiver<Seen>, done: impl Fn(&Seen) -> bool) -> Vec<Seen> {
    let mut seen = Vec::new();
    let found = timeout(WAIT, async {
        while let Some(event) = rx.recv().await {
            let stop = done(&event);
            seen.push(event);
            if stop {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "watcher never got there; saw {seen:?}");
    seen
}

/// The pod keys a store fed by these events holds, as kube's reflector
/// would: Init starts a buffer that InitDone swaps in.
#[derive(Debug, Default)]
struct Mirror {
    state: BTreeSet<String>,
    buffer: BTreeSet<String>,
}

impl Mirror {
    fn apply(&mut self, events: &[Seen]) {
        for event in events {
            match event {
                Seen::Init => self.buffer.clear(),
                Seen::InitApply(k) => {
                    self.buffer.insert(k.clone());
                }
                Seen::InitDone => self.state = std::mem::take(&mut self.buffer),
                Seen::Apply(k) => {
                    self.state.insert(k.clone());
                }
                Seen::Delete(k) => {
                    self.state.remove(k);
                }
                Seen::Error(_) => {}
            }
        }
    }
}

/// A pod watcher on `server` that has listed everything and has its watch
/// open; what it saw up to `InitDone`.
async fn synced(server: &TestApiServer, config: watcher::Config) -> (mpsc::UnboundedReceiver<Seen>, Vec<Seen>) {
    let mut rx = watch_pods(client(server).await, config);
    let seen = until(&mut rx, |e| *e == Seen::InitDone).await;
    wait_for_watch(server).await;
    (rx, seen)
}

fn init_applies(seen: &[Seen]) -> usize {
    seen.iter().filter(|e| matches!(e, Seen::InitApply(_))).count()
}

fn server_pods(server: &TestApiServer) -> BTreeSet<String> {
    server.objects("Pod").iter().map(|p| format!("{}/{}", p["metadata"]["namespace"].as_str().unwrap(), p["metadata"]["name"].as_str().unwrap())).collect()
}

fn pod(namespace: &str, name: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "test"}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
        "status": {"phase": "Running", "podIP": "10.244.1.99"},
    })
}

/// The next event of a raw watch stream, within [`WAIT`].
async fn next<S>(stream: &mut S) -> WatchEvent<Pod>
where
    S: futures::Stream<Item = Result<WatchEvent<Pod>, kube::Error>> + Unpin,
{
    timeout(WAIT, stream.next()).await.unwrap().unwrap().unwrap()
}

async fn wait_for_watch(server: &TestApiServer) {
    assert!(server.wait_until(WAIT, |s| s.open_watches() > 0).await, "no watch opened");
}

#[tokio::test]
async fn lists_page_filter_and_require_the_token() {
    let server = loaded(ApiServerOptions { token: Some("s3cret-t0ken".into()), ..ApiServerOptions::default() });
    let client = client(&server).await;
    let pods: Api<Pod> = Api::all(client.clone());

    let page = pods.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.metadata.continue_.is_some());
    assert_eq!(page.metadata.remaining_item_count, Some(13));
    let list_rv = page.metadata.resource_version.clone().unwrap();
    assert_eq!(list_rv, server.resource_version().to_string());

    // The runtime watcher pages through all 15 pods, two at a time.
    server.clear_requests();
    let (_rx, seen) = synced(&server, watcher::Config::default().page_size(2)).await;
    assert_eq!(init_applies(&seen), 15, "{seen:?}");
    let pages: Vec<_> = server.requests().into_iter().filter(|r| r.path == "/api/v1/pods" && !r.is_watch()).collect();
    assert_eq!(pages.len(), 8, "{pages:?}");
    assert!(pages.iter().all(|r| r.param("limit").as_deref() == Some("2")));
    assert_eq!(pages.iter().filter(|r| r.param("continue").is_some()).count(), 7);

    // Selectors, one object, and a namespaced list.
    let services: Api<Service> = Api::all(client.clone());
    let dns = services.list(&ListParams::default().labels("k8s-app=kube-dns")).await.unwrap();
    assert_eq!(dns.items.iter().map(|s| s.name_any()).collect::<Vec<_>>(), ["kube-dns"]);
    let not_dns = services.list(&ListParams::default().labels("k8s-app!=kube-dns")).await.unwrap();
    assert_eq!(not_dns.items.len(), 2);
    let on_node1 = pods.list(&ListParams::default().fields("spec.nodeName=node1")).await.unwrap();
    let expected = server.objects("Pod").iter().filter(|p| p["spec"]["nodeName"] == "node1").count();
    assert!(expected > 0);
    assert_eq!(on_node1.items.len(), expected);
    assert!(on_node1.metadata.remaining_item_count.is_none());
    let bad = pods.list(&ListParams::default().fields("spec.containers=x")).await.unwrap_err();
    assert!(bad.to_string().contains("field label not supported"), "{bad}");

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let kube_proxy = configmaps.get("kube-proxy").await.unwrap();
    assert!(kube_proxy.data.unwrap().contains_key("config.conf"));
    assert_eq!(configmaps.list(&ListParams::default()).await.unwrap().items.len(), 3);

    // Nothing asked for secrets; asking is refused and recorded.
    assert!(!server.requests().iter().any(|r| r.path.contains("secrets")));
    let secrets: Api<Secret> = Api::all(client.clone());
    assert!(secrets.list(&ListParams::default()).await.is_err());
    assert!(server.requests().iter().any(|r| r.path == "/api/v1/secrets"));

    // The kubeconfig file works as --kubeconfig would read it.
    let file = server.write_kubeconfig().unwrap();
    let from_file = Kubeconfig::read_from(file.path()).unwrap();
    assert_eq!(from_file.clusters[0].cluster.as_ref().unwrap().server.as_deref(), Some(server.url().as_str()));

    // Without the token: 401.
    let anonymous = Client::try_from(kube::Config::new(server.url().parse().unwrap())).unwrap();
    let err = Api::<Pod>::all(anonymous).list(&ListParams::default()).await.unwrap_err();
    assert!(matches!(err, kube::Error::Api(ref s) if s.code == 401), "{err}");
}

#[tokio::test]
async fn discovery_finds_calico_crds_only_when_enabled() {
    let flannel = loaded(ApiServerOptions::default());
    let discovery = Discovery::new(client(&flannel).await).run().await.unwrap();
    let groups: Vec<String> = discovery.groups().map(|g| g.name().to_string()).collect();
    assert!(groups.contains(&"discovery.k8s.io".to_string()), "{groups:?}");
    assert!(!groups.iter().any(|g| g.contains("projectcalico")), "{groups:?}");
    assert!(flannel.apply(json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "p"}})).is_err());

    let calico = TestApiServer::start(ApiServerOptions { calico_crds: true, ..ApiServerOptions::default() }).unwrap();
    assert_eq!(calico.load_file(CALICO).unwrap(), 5);
    let client = client(&calico).await;
    let gvk = GroupVersionKind::gvk("crd.projectcalico.org", "v1", "IPPool");
    let (resource, caps) = kube::discovery::pinned_kind(&client, &gvk).await.unwrap();
    assert_eq!(resource.plural, "ippools");
    assert_eq!(caps.scope, kube::discovery::Scope::Cluster);
    let pools = Api::<DynamicObject>::all_with(client.clone(), &resource).list(&ListParams::default()).await.unwrap();
    assert_eq!(pools.items.len(), 1);
    let types = pools.items[0].types.as_ref().expect("custom resources keep kind in lists");
    assert_eq!(types.kind, "IPPool");
    let discovery = Discovery::new(client).run().await.unwrap();
    let calico = discovery.get("crd.projectcalico.org").expect("the Calico group");
    let kinds: BTreeSet<String> = calico.recommended_resources().into_iter().map(|(r, _)| r.kind).collect();
    assert_eq!(kinds, BTreeSet::from(["BlockAffinity".to_string(), "IPPool".to_string()]));
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted_and_raw_watch_sees_bookmarks() {
    let server = loaded(ApiServerOptions::default());
    let (mut rx, _) = synced(&server, watcher::Config::default().page_size(2)).await;
    let after_list = server.resource_version();

    server.apply(pod("default", "probe", "node1")).unwrap();
    assert_eq!(until(&mut rx, |_| true).await, [Seen::Apply("default/probe".into())]);
    let mut moved = pod("default", "probe", "node2");
    moved["status"]["phase"] = json!("Succeeded");
    server.apply(moved).unwrap();
    assert_eq!(until(&mut rx, |_| true).await, [Seen::Apply("default/probe".into())]);
    server.delete("Pod", Some("default"), "probe").unwrap();
    assert_eq!(until(&mut rx, |_| true).await, [Seen::Delete("default/probe".into())]);

    // A raw watch from before those changes replays them in order, then
    // gets bookmarks and live events.
    let pods: Api<Pod> = Api::all(client(&server).await);
    let params = WatchParams::default().timeout(60);
    let mut raw = pods.watch(&params, &after_list.to_string()).await.unwrap().boxed();
    assert!(matches!(next(&mut raw).await, WatchEvent::Added(p) if p.name_any() == "probe"));
    assert!(matches!(next(&mut raw).await, WatchEvent::Modified(p) if p.spec.as_ref().unwrap().node_name.as_deref() == Some("node2")));
    assert!(matches!(next(&mut raw).await, WatchEvent::Deleted(p) if p.name_any() == "probe"));
    server.send_bookmark();
    match next(&mut raw).await {
        WatchEvent::Bookmark(b) => {
            assert_eq!(b.metadata.resource_version, server.resource_version().to_string());
            assert_eq!(b.types.kind, "Pod");
        }
        other => panic!("expected a bookmark, got {other:?}"),
    }
    server.apply(pod("kube-system", "late", "node1")).unwrap();
    assert!(matches!(next(&mut raw).await, WatchEvent::Added(p) if p.name_any() == "late"));
}

#[tokio::test]
async fn a_410_mid_watch_makes_the_watcher_relist_and_converge() {
    let server = loaded(ApiServerOptions::default());
    let (mut rx, seen) = synced(&server, watcher::Config::default().page_size(2)).await;
    let mut mirror = Mirror::default();
    mirror.apply(&seen);
    assert_eq!(mirror.state, server_pods(&server));

    // kube-apiserver's way: an ERROR event with a 410 Status on the open
    // stream. The watcher reports it, then lists again from scratch.
    server.expire_watches();
    let seen = until(&mut rx, |e| *e == Seen::InitDone).await;
    assert!(matches!(&seen[0], Seen::Error(e) if e.contains("410") || e.contains("too old")), "{seen:?}");
    assert!(seen.contains(&Seen::Init), "{seen:?}");
    assert_eq!(init_applies(&seen), 15);
    mirror.apply(&seen);
    assert_eq!(mirror.state, server_pods(&server));

    // Changes the watcher cannot replay: the server goes away, the cluster
    // changes, the history is compacted (an apiserver restarting on a
    // compacted etcd). Re-watching from its last resourceVersion gets 410,
    // and only a relist shows the new state.
    wait_for_watch(&server).await;
    server.set_down(true).unwrap();
    server.delete("Pod", Some("kube-system"), "etcd-master").unwrap();
    server.apply(pod("default", "newcomer", "node2")).unwrap();
    server.compact();
    server.set_down(false).unwrap();
    let seen = until(&mut rx, |e| *e == Seen::InitDone).await;
    assert!(seen.iter().any(|e| matches!(e, Seen::Error(_))), "{seen:?}");
    mirror.apply(&seen);
    assert_eq!(mirror.state, server_pods(&server));
    assert!(mirror.state.contains("default/newcomer"));
    assert!(!mirror.state.contains("kube-system/etcd-master"));
}

#[tokio::test]
async fn a_dropped_connection_is_resumed_without_a_relist() {
    let server = loaded(ApiServerOptions::default());
    let (mut rx, _) = synced(&server, watcher::Config::default().page_size(5)).await;
    server.clear_requests();

    // The open stream dies before the change is published; the watcher
    // re-watches from its last resourceVersion and gets it replayed.
    server.drop_connections();
    server.apply(pod("default", "while-away", "node1")).unwrap();
    let seen = until(&mut rx, |e| matches!(e, Seen::Apply(_))).await;
    assert_eq!(seen.last(), Some(&Seen::Apply("default/while-away".into())), "{seen:?}");
    assert!(!seen.contains(&Seen::Init), "resuming needs no relist: {seen:?}");
    let rewatch = server.requests();
    assert!(rewatch.iter().any(|r| r.is_watch() && r.param("resourceVersion").is_some()), "{rewatch:?}");
    assert!(!rewatch.iter().any(|r| !r.is_watch()), "no list after a drop: {rewatch:?}");
}

#[tokio::test]
async fn a_server_down_at_start_then_up_converges() {
    let server = loaded(ApiServerOptions { start_down: true, ..ApiServerOptions::default() });
    assert!(server.is_down());
    let mut rx = watch_pods(client(&server).await, watcher::Config::default().page_size(4));
    let first = until(&mut rx, |e| matches!(e, Seen::Error(_))).await;
    assert!(first.iter().all(|e| matches!(e, Seen::Init | Seen::Error(_))), "{first:?}");
    assert!(server.requests().is_empty(), "nothing can reach a down server");

    server.set_down(false).unwrap();
    let seen = until(&mut rx, |e| *e == Seen::InitDone).await;
    let mut mirror = Mirror::default();
    mirror.apply(&seen);
    assert_eq!(mirror.state, server_pods(&server));

    // Down again mid-watch, a change, and up on the same port.
    wait_for_watch(&server).await;
    let port = server.port();
    server.set_down(true).unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    server.apply(pod("default", "after-outage", "node1")).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.set_down(false).unwrap();
    assert_eq!(server.port(), port);
    let seen = until(&mut rx, |e| matches!(e, Seen::Apply(_))).await;
    mirror.apply(&seen);
    assert_eq!(mirror.state, server_pods(&server));
}

#[tokio::test]
async fn expired_watches_as_error_event_or_http_410() {
    for mode in [ExpiredWatch::ErrorEvent, ExpiredWatch::HttpGone] {
        let server = loaded(ApiServerOptions { expired_watch: mode, ..ApiServerOptions::default() });
        let old = server.resource_version();
        server.apply(pod("default", "p", "node1")).unwrap();
        server.compact();
        let pods: Api<Pod> = Api::all(client(&server).await);
        let watch = pods.watch(&WatchParams::default(), &old.to_string()).await;
        let status = match (mode, watch) {
            (ExpiredWatch::ErrorEvent, Ok(stream)) => {
                let events: Vec<_> = timeout(WAIT, stream.collect::<Vec<_>>()).await.unwrap();
                assert_eq!(events.len(), 1, "one ERROR event, then the end");
                match events.into_iter().next().unwrap().unwrap() {
                    WatchEvent::Error(status) => *status,
                    other => panic!("expected ERROR, got {other:?}"),
                }
            }
            (ExpiredWatch::HttpGone, Err(kube::Error::Api(status))) => *status,
            (mode, other) => panic!("{mode:?}: unexpected {:?}", other.map(|_| "a stream")),
        };
        assert_eq!(status.code, 410, "{mode:?}");
        assert_eq!(status.reason, "Expired", "{mode:?}");
        assert!(status.message.contains("too old resource version"), "{status:?}");

        // From the current resourceVersion the same watch works.
        let rv = server.resource_version().to_string();
        assert!(pods.watch(&WatchParams::default().timeout(1), &rv).await.is_ok());
    }
}

/// Pins a kube-rs 5.0 behaviour collectors must know about: an HTTP 410 at
/// watch start is retried from the same resourceVersion (with backoff), not
/// answered with a relist (`watcher.rs`: `InitListed` stays `InitListed` on
/// `WatchStartFailed`). kube-apiserver sends the ERROR event instead, which
/// is why that is the server's default. If this starts failing, kube-rs
/// relists on HTTP 410 now and a collector workaround can go.
#[tokio::test]
async fn kube_watcher_retries_instead_of_relisting_on_http_410() {
    let server = loaded(ApiServerOptions { expired_watch: ExpiredWatch::HttpGone, ..ApiServerOptions::default() });
    let (mut rx, _) = synced(&server, watcher::Config::default()).await;
    let rv = server.resource_version().to_string();
    server.clear_requests();
    server.expire_watches();

    let retried = server
        .wait_until(WAIT, |s| s.requests().iter().filter(|r| r.is_watch() && r.param("resourceVersion").as_deref() == Some(rv.as_str())).count() >= 3)
        .await;
    assert!(retried, "{:?}", server.requests());
    assert!(server.requests().iter().all(|r| r.is_watch()), "no relist");
    let mut seen = Vec::new();
    while let Ok(event) = rx.try_recv() {
        seen.push(event);
    }
    assert!(!seen.is_empty() && seen.iter().all(|e| matches!(e, Seen::Error(e) if e.contains("410"))), "{seen:?}");
}

#[tokio::test]
async fn streaming_lists_end_with_the_initial_events_bookmark() {
    let server = loaded(ApiServerOptions::default());
    let mut rx = watch_pods(client(&server).await, watcher::Config::default().streaming_lists());
    let seen = until(&mut rx, |e| *e == Seen::InitDone).await;
    assert_eq!(seen.first(), Some(&Seen::Init), "{seen:?}");
    assert_eq!(init_applies(&seen), 15);
    let first = &server.requests()[0];
    assert!(first.is_watch() && first.param("sendInitialEvents").as_deref() == Some("true"));

    server.apply(pod("default", "streamed", "node1")).unwrap();
    assert_eq!(until(&mut rx, |_| true).await, [Seen::Apply("default/streamed".into())]);
}
