//! TLS to PostgreSQL: rustls on ring, the server's certificate always checked, chain and host name, against
//! the CA certificates a [`StoreConfig`](crate::StoreConfig) gives or else the system's. So `sslmode=require`
//! means what libpq calls `verify-full`; `prefer` (the default) uses TLS whenever the server offers it, and
//! checks it just the same; `disable` never starts TLS.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::Error;

/// The connector for `mode`: for `disable`, one that is never used (tokio-postgres asks for a connector
/// whatever the mode), so that a machine without a CA bundle can still reach a database without TLS.
pub(crate) fn connector(mode: SslMode, ca_certificates: Option<&[u8]>) -> Result<MakeRustlsConnect, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|err| tls_error(format!("TLS versions: {err}")))?;
    let config = match (mode, ca_certificates) {
        (SslMode::Disable, _) => builder.with_root_certificates(RootCertStore::empty()).with_no_client_auth(),
        (_, Some(pem)) => builder.with_root_certificates(roots(pem)?).with_no_client_auth(),
        (_, None) => {
            let verifier = system_verifier(provider)?;
            builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

/// The CA certificates of `pem`: every `CERTIFICATE` block, at least one.
fn roots(pem: &[u8]) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(pem) {
        let certificate = certificate.map_err(|err| {
            tls_error(format!("the CA certificates are not readable PEM ({err}): give CERTIFICATE blocks"))
        })?;
        store.add(certificate).map_err(|err| tls_error(format!("a CA certificate was refused: {err}")))?;
    }
    if store.is_empty() {
        return Err(tls_error("the CA certificates hold no `-----BEGIN CERTIFICATE-----` block".to_owned()));
    }
    Ok(store)
}

/// The system's trust store, as the transports use it.
fn system_verifier(provider: Arc<CryptoProvider>) -> Result<Arc<rustls_platform_verifier::Verifier>, Error> {
    rustls_platform_verifier::Verifier::new_with_extra_roots(Vec::new(), provider).map(Arc::new).map_err(|err| {
        tls_error(format!(
            "no usable CA certificates on this system ({err}): install its CA bundle (e.g. ca-certificates), give \
             the database's CA with StoreConfig::with_ca_certificates, or connect without TLS with sslmode=disable"
        ))
    })
}

/// The TLS refusal behind a failed connection, if that is what failed: the certificate or the handshake.
pub(crate) fn refusal(err: &tokio_postgres::Error) -> Option<String> {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // io::Error's source() skips the error it wraps, which is where tokio-rustls puts rustls's.
        if let Some(tls) = cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        source = cause.source();
    }
    None
}

fn tls_error(reason: String) -> Error {
    Error::Tls { reason }
}
