//! The etcd harness against real clients: etcd-client (gRPC, v3), the v2
//! HTTP API, etcdctl, TLS client-certificate auth, stop and restart.

use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use netdoctor_testkit::etcd::{EtcdOptions, EtcdServer};
use netdoctor_testkit::{require, run};

const LEASE_KEY: &str = "/coreos.com/network/subnets/10.244.1.0-24";
const LEASE: &str = r#"{"PublicIP":"192.168.56.11","BackendType":"vxlan","BackendData":{"VtepMAC":"0a:58:0a:f4:01:00"}}"#;

fn options(timeout: Duration) -> ConnectOptions {
    ConnectOptions::new().with_connect_timeout(timeout).with_timeout(timeout)
}

fn tls_options(etcd: &EtcdServer, with_client_cert: bool) -> ConnectOptions {
    let read = |p: Option<&std::path::Path>| std::fs::read(p.expect("TLS server has PEM paths")).unwrap();
    let mut tls = TlsOptions::new().ca_certificate(Certificate::from_pem(read(etcd.ca_path()))).domain_name("localhost");
    if with_client_cert {
        tls = tls.identity(Identity::from_pem(read(etcd.client_cert_path()), read(etcd.client_key_path())));
    }
    options(Duration::from_secs(5)).with_tls(tls)
}

/// A plain client for a plain etcd.
async fn connect(etcd: &EtcdServer) -> Client {
    Client::connect(etcd.endpoints(), Some(options(Duration::from_secs(5)))).await.unwrap()
}

/// Whether a client with these options cannot read from `endpoints`; with
/// TLS 1.3 a refused certificate may only surface on the first request.
async fn refused(endpoints: Vec<String>, options: ConnectOptions) -> bool {
    match Client::connect(endpoints, Some(options)).await {
        Err(_) => true,
        Ok(mut client) => get(&mut client, LEASE_KEY).await.is_err(),
    }
}

async fn get(client: &mut Client, key: &str) -> Result<Option<String>, etcd_client::Error> {
    let resp = client.get(key, None).await?;
    Ok(resp.kvs().first().map(|kv| kv.value_str().unwrap().to_string()))
}

#[tokio::test]
async fn v3_put_get_delete_through_etcd_client() {
    let etcd = require!(EtcdServer::start(EtcdOptions::default()));
    assert!(etcd.endpoint().starts_with("http://127.0.0.1:"));
    assert!(etcd.ca_path().is_none());

    etcd.put_v3(LEASE_KEY, LEASE).unwrap();
    let mut client = connect(&etcd).await;
    assert_eq!(get(&mut client, LEASE_KEY).await.unwrap().as_deref(), Some(LEASE));

    let out = run(etcd.etcdctl().args(["get", "--print-value-only", LEASE_KEY])).unwrap();
    assert_eq!(out.trim(), LEASE);

    etcd.delete_v3(LEASE_KEY).unwrap();
    assert_eq!(get(&mut client, LEASE_KEY).await.unwrap(), None);
}

#[test]
fn v2_keys_over_http_and_etcdctl() {
    let etcd = require!(EtcdServer::start(EtcdOptions { v2: true, tls: false }));
    etcd.put_v2("/coreos.com/network/config", r#"{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}"#).unwrap();
    etcd.put_v2(LEASE_KEY, LEASE).unwrap();
    assert_eq!(etcd.get_v2(LEASE_KEY).unwrap().as_deref(), Some(LEASE));

    let out = run(etcd.etcdctl_v2().args(["ls", "/coreos.com/network/subnets"])).unwrap();
    assert_eq!(out.trim(), LEASE_KEY);

    let changed = LEASE.replace("192.168.56.11", "192.168.56.12");
    etcd.put_v2(LEASE_KEY, &changed).unwrap();
    assert_eq!(etcd.get_v2(LEASE_KEY).unwrap(), Some(changed));
    etcd.delete_v2(LEASE_KEY).unwrap();
    assert_eq!(etcd.get_v2(LEASE_KEY).unwrap(), None);
    assert!(etcd.delete_v2(LEASE_KEY).is_err(), "deleting a missing v2 key is an error");
}

#[test]
fn v2_is_off_unless_asked_for() {
    let etcd = require!(EtcdServer::start(EtcdOptions::default()));
    let err = etcd.put_v2(LEASE_KEY, LEASE).unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
}

#[tokio::test]
async fn tls_requires_the_client_certificate() {
    let etcd = require!(EtcdServer::start(EtcdOptions { v2: true, tls: true }));
    assert!(etcd.endpoint().starts_with("https://127.0.0.1:"));
    for path in [etcd.ca_path(), etcd.client_cert_path(), etcd.client_key_path()] {
        let pem = std::fs::read_to_string(path.unwrap()).unwrap();
        assert!(pem.starts_with("-----BEGIN "), "{pem}");
    }

    // The harness's own clients present the certificate: etcdctl and HTTP.
    etcd.put_v3(LEASE_KEY, LEASE).unwrap();
    etcd.put_v2("/coreos.com/network/config", "{}").unwrap();
    assert_eq!(etcd.get_v2("/coreos.com/network/config").unwrap().as_deref(), Some("{}"));

    let mut client = Client::connect(etcd.endpoints(), Some(tls_options(&etcd, true))).await.unwrap();
    assert_eq!(get(&mut client, LEASE_KEY).await.unwrap().as_deref(), Some(LEASE));

    // Without the client certificate the handshake is refused.
    assert!(refused(etcd.endpoints(), tls_options(&etcd, false)).await, "a client without a certificate must be refused");

    // Plain HTTP to the TLS port does not work either.
    let plain = etcd.endpoint().replace("https://", "http://");
    assert!(refused(vec![plain], options(Duration::from_secs(3))).await, "plain HTTP to the TLS port must fail");
}

#[tokio::test]
async fn stop_then_restart_keeps_port_and_data() {
    let mut etcd = require!(EtcdServer::start(EtcdOptions::default()));
    let endpoint = etcd.endpoint();
    etcd.put_v3(LEASE_KEY, LEASE).unwrap();

    etcd.stop().unwrap();
    assert!(!etcd.is_running());
    assert!(refused(etcd.endpoints(), options(Duration::from_secs(2))).await, "a stopped etcd must not answer");
    assert!(etcd.put_v3(LEASE_KEY, "x").is_err());

    etcd.restart().unwrap();
    assert!(etcd.is_running());
    assert_eq!(etcd.endpoint(), endpoint);
    let mut client = connect(&etcd).await;
    assert_eq!(get(&mut client, LEASE_KEY).await.unwrap().as_deref(), Some(LEASE));
}

#[test]
fn drop_kills_the_process_and_removes_the_data_dir() {
    let etcd = require!(EtcdServer::start(EtcdOptions::default()));
    let data = etcd.data_dir();
    let port = etcd.port();
    assert!(data.exists());
    drop(etcd);
    assert!(!data.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
