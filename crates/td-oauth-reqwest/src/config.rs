//! The settings, as td-oauth-core's one [`Config`](td_oauth_core::transport::Config) type with reqwest plugged
//! in, and the `reqwest::Client` they build: rustls on ring, the system's roots through
//! rustls-platform-verifier plus any added ones (or only the added ones), HTTP/1.1, no redirects.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;

use td_oauth_core::transport::proxy::ProxyRule;

use crate::{Client, Error};

/// Settings for a [`Client`](crate::Client) and the providers and managers built on it: the same type, with
/// the same names and meanings, as td-oauth-ureq's `Config` (see [`td_oauth_core::transport::Config`] for
/// every setting and its default).
///
/// A caller-supplied client ([`with_http_client`](td_oauth_core::transport::Config::with_http_client)) must
/// not follow redirects: build it from [`http_client_builder`], which sets `redirect::Policy::none()`.
/// reqwest has no per-request switch, so a client that follows a 307/308 would forward the token request,
/// assertion included, before td-oauth could refuse the redirected answer with [`Error::Redirected`].
///
/// ```
/// use std::time::Duration;
/// use td_oauth_reqwest::{Config, RetryPolicy};
///
/// let config = Config::new()
///     .with_timeout(Duration::from_secs(5))
///     .with_retry_policy(RetryPolicy::default().with_max_retries(5).with_deadline(Duration::from_secs(20)));
/// // Your own client (a proxy, say), built with these settings and handed back:
/// let http = td_oauth_reqwest::http_client_builder(&config)?.build().map_err(|e| e.to_string())?;
/// let config = config.with_built_client(http);
/// # let _ = config;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type Config = td_oauth_core::transport::Config<Client>;

/// The HTTP client a [`Client`](crate::Client) builds from `config` (rustls on ring, HTTP/1.1, no redirects),
/// with `proxies` as its proxy rule.
pub(crate) fn build_http_client(config: &Config, proxies: Arc<ProxyRule>) -> Result<reqwest::Client, Error> {
    builder_with(config, proxies)?
        .build()
        .map_err(|err| Error::Config { reason: format!("the HTTP client could not be built: {err}") })
}

/// A `reqwest::ClientBuilder` set up as a [`Client`](crate::Client) sets up its own (TLS, trust, connect timeout, user agent,
/// no redirects), to adjust (a proxy, say) and hand back with
/// [`with_built_client`](td_oauth_core::transport::Config::with_built_client). It carries a rustls
/// configuration on the ring provider, so reqwest needs no process-wide crypto provider.
///
/// Its proxy is td-oauth-core's [`ProxyRule`] from the environment (`HTTPS_PROXY`, `NO_PROXY`, …, read
/// as td-oauth-ureq reads them, when the builder is made); for another, call `.no_proxy()` and then
/// `.proxy(…)` on it.
pub fn http_client_builder(config: &Config) -> Result<reqwest::ClientBuilder, Error> {
    config.check()?;
    builder_with(config, Arc::new(ProxyRule::from_env()?))
}

/// The builder for a checked `config` (td-oauth-core's `transport::http_client` checks it first).
fn builder_with(config: &Config, proxies: Arc<ProxyRule>) -> Result<reqwest::ClientBuilder, Error> {
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(config)?)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(config.connect_timeout())
        .user_agent(config.user_agent())
        // reqwest's own reading of the environment is replaced by the rule both transports share.
        .no_proxy();
    if !proxies.has_proxy() {
        return Ok(builder);
    }
    Ok(builder.proxy(reqwest::Proxy::custom(move |url| proxies.route(url).map(|proxy| proxy.url().clone()))))
}

/// rustls with the ring provider (already in the tree through td-oauth-core), so aws-lc-rs stays out.
fn tls_config(config: &Config) -> Result<rustls::ClientConfig, Error> {
    let config_error = |what: &str, err: rustls::Error| Error::Config { reason: format!("{what}: {err}") };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots: Vec<CertificateDer<'static>> =
        config.root_certificates().iter().map(|der| CertificateDer::from(der.clone())).collect();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error("TLS versions", e))?;
    let mut tls = if config.system_roots() {
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider).map_err(|e| {
            config_error(
                "no usable CA certificates (install the system's CA bundle, e.g. ca-certificates, \
                 or add one with Config::with_root_certificate)",
                e,
            )
        })?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth()
    } else {
        builder.with_webpki_verifier(only_these_roots(roots, provider)?).with_no_client_auth()
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

fn only_these_roots(
    roots: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, Error> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root).map_err(|err| Error::Config { reason: format!("a root certificate was refused: {err}") })?;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider).build().map_err(|err| Error::Config {
        reason: format!("no usable root certificate (add one with Config::with_root_certificate): {err}"),
    })
}
