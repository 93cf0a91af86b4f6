//! The settings, as td-oauth-core's one [`Config`](td_oauth_core::transport::Config) type with ureq plugged
//! in, and the `ureq::Agent` they build: rustls on ring, the system's roots through rustls-platform-verifier
//! (or only the added ones), no redirects, 4xx/5xx returned as answers.

use std::sync::Arc;

use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::transport::DefaultConnector;

use td_oauth_core::transport::proxy::{ProxyRule, ProxyUrl};

use crate::resolver::KeepingResolver;
use crate::{Client, Error};

/// Settings for a [`Client`](crate::Client) and the providers and managers built on it: the same type, with
/// the same names and meanings, as td-oauth-reqwest's `Config` (see
/// [`td_oauth_core::transport::Config`] for every setting and its default).
///
/// ureq cannot add certificates to the system's roots: with
/// [`with_root_certificate`](td_oauth_core::transport::Config::with_root_certificate), also say
/// `with_system_roots(false)` (only the added ones are trusted), or [`Client`](crate::Client) refuses the
/// configuration with [`Error::Config`].
///
/// ```
/// use std::time::Duration;
/// use td_oauth_ureq::{Config, RetryPolicy};
///
/// let config = Config::new()
///     .with_connect_timeout(Duration::from_secs(2))
///     .with_timeout(Duration::from_secs(5))
///     .with_retry_policy(RetryPolicy::default().with_max_retries(5));
/// assert_eq!(config.retry_policy().max_retries(), 5);
/// ```
pub type Config = td_oauth_core::transport::Config<Client>;

/// The agent a [`Client`](crate::Client) builds from `config`: rustls on ring, the platform's roots or the
/// added ones, no redirects, 4xx/5xx as answers, no proxy of its own (the client applies td-oauth-core's
/// proxy rule to each request).
pub(crate) fn agent(config: &Config) -> ureq::Agent {
    let roots = if config.system_roots() {
        RootCerts::PlatformVerifier
    } else {
        RootCerts::from(config.root_certificates().iter().map(|der| Certificate::from_der(der).to_owned()))
    };
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(roots)
        .build();
    let settings = ureq::Agent::config_builder()
        .tls_config(tls)
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_connect(Some(config.connect_timeout()))
        .timeout_global(Some(config.timeout()))
        .user_agent(config.user_agent())
        // Each request's proxy is td-oauth-core's proxy rule's (see `proxy_rule`), set per request.
        .proxy(None)
        .build();
    ureq::Agent::with_parts(settings, DefaultConnector::new(), KeepingResolver::default())
}

/// The proxy `rule` gives the request to `uri`, as ureq takes it (`None`: straight to the server).
pub(crate) fn proxy_for(rule: &ProxyRule, uri: &http::Uri) -> Result<Option<(ureq::Proxy, ProxyUrl)>, Error> {
    let Some(proxy) = rule.route_uri(uri) else { return Ok(None) };
    let agent_proxy = ureq::Proxy::new(proxy.url().as_str()).map_err(|_| Error::Config {
        reason: format!("ureq refused the proxy {}; give it as `http://[user:password@]host:port`", proxy.shown()),
    })?;
    Ok(Some((agent_proxy, proxy.clone())))
}
