//! Test PKI for the etcd harness: a CA, a server certificate for
//! 127.0.0.1/localhost and a client certificate, written as PEM files, plus
//! the rustls client configuration that presents the client certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{Error, Result};

/// Where the PEM files are, and a TLS client configuration using them.
pub(super) struct Pki {
    pub(super) ca: PathBuf,
    pub(super) server_cert: PathBuf,
    pub(super) server_key: PathBuf,
    pub(super) client_cert: PathBuf,
    pub(super) client_key: PathBuf,
    pub(super) client_config: Arc<rustls::ClientConfig>,
}

impl Pki {
    /// Generates the CA and both leaf certificates into `dir`.
    pub(super) fn generate(dir: &Path) -> Result<Pki> {
        std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;

        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "netdoctor-testkit CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        // etcd's gRPC gateway dials its own gRPC port with the server
        // certificate, so that one must be valid for client auth too.
        let leaf = |sans: Vec<String>, cn: &str, usages: Vec<ExtendedKeyUsagePurpose>| {
            let mut params = CertificateParams::new(sans)?;
            params.distinguished_name.push(DnType::CommonName, cn);
            params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
            params.extended_key_usages = usages;
            params.use_authority_key_identifier_extension = true;
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &issuer)?;
            Ok::<_, Error>((cert, key))
        };
        let (server_cert, server_key) =
            leaf(vec!["127.0.0.1".into(), "localhost".into()], "etcd", vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth])?;
        let (client_cert, client_key) = leaf(Vec::new(), "netdoctor-test-client", vec![ExtendedKeyUsagePurpose::ClientAuth])?;

        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).map_err(Error::io(format!("writing {}", path.display())))?;
            Ok::<_, Error>(path)
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone())?;
        // ring is the provider tonic already brings in; a loopback test
        // client needs none of the post-quantum key exchange it lacks.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client_config =
            rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?.with_root_certificates(roots).with_client_auth_cert(
                vec![CertificateDer::from(client_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(client_key.serialize_der())),
            )?;
        Ok(Pki {
            ca: write("ca.pem", ca_cert.pem())?,
            server_cert: write("server.pem", server_cert.pem())?,
            server_key: write("server-key.pem", server_key.serialize_pem())?,
            client_cert: write("client.pem", client_cert.pem())?,
            client_key: write("client-key.pem", client_key.serialize_pem())?,
            client_config: Arc::new(client_config),
        })
    }
}
