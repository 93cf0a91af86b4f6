//! HTTPS: a self-signed certificate for `localhost` and `127.0.0.1`, made fresh for each
//! server with rcgen, and a rustls configuration that uses ring, the provider already in the tree.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;

/// The server's self-signed certificate, for tests to add to their client's trust store.
/// It is its own issuer, so it is both the trust anchor and the server certificate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Certificate {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The certificate, PEM (`-----BEGIN CERTIFICATE-----`).
    pub pem: String,
}

/// Generates the certificate and the matching rustls server configuration.
pub(crate) fn generate() -> Result<(Certificate, Arc<ServerConfig>), Error> {
    let tls = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .map_err(|e| tls(&e))?;
    let der = certified.cert.der().to_vec();
    let pem = certified.cert.pem();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(der.clone())], key)
        .map_err(|e| tls(&e))?;
    // The server speaks HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Certificate { der, pem }, Arc::new(config)))
}
