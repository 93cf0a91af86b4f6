//! How the client sends: timeouts, the body cap, retries, the cache policy, TLS roots, the user agent, and
//! optionally the caller's own `ureq::Agent`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use td_oauth_core::{CachePolicy, RetryPolicy};

use crate::SharedCache;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// The `User-Agent` sent by default: `td-oauth/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("td-oauth/", env!("CARGO_PKG_VERSION"));

/// Settings for a [`Client`](crate::Client) and the [`TokenProvider`](crate::TokenProvider)s built on it.
///
/// | setting | default |
/// |---|---|
/// | [`connect_timeout`](Self::connect_timeout) | 10 s |
/// | [`timeout`](Self::timeout) (per attempt, connect to last body byte) | 10 s |
/// | [`max_response_bytes`](Self::max_response_bytes) | 64 KiB |
/// | [`retry_policy`](Self::retry_policy) | 3 retries, from 200 ms with full jitter, 30 s deadline |
/// | [`cache_policy`](Self::cache_policy) | refresh with 20 % of the lifetime left, expire 30 s early |
/// | [`user_agent`](Self::user_agent) | `td-oauth/<version>` |
/// | root certificates | Mozilla's (webpki-roots), or only those added with [`add_root_certificate`](Self::add_root_certificate) |
/// | [`shared_cache`](Self::shared_cache) | none: a cold provider fetches its own token |
/// | redirects | never followed |
///
/// ```
/// use std::time::Duration;
/// use td_oauth_ureq::Config;
///
/// let config = Config::new()
///     .connect_timeout(Duration::from_secs(2))
///     .timeout(Duration::from_secs(5))
///     .max_response_bytes(16 * 1024);
/// assert_eq!(config.retry().retries(), 3);
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) retry: RetryPolicy,
    pub(crate) cache: CachePolicy,
    pub(crate) user_agent: String,
    pub(crate) root_certificates: Vec<Vec<u8>>,
    pub(crate) agent: Option<ureq::Agent>,
    pub(crate) shared_cache: Option<Arc<dyn SharedCache>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            max_response_bytes: 64 * 1024,
            retry: RetryPolicy::default(),
            cache: CachePolicy::default(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            root_certificates: Vec::new(),
            agent: None,
            shared_cache: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .field("cache", &self.cache)
            .field("user_agent", &self.user_agent)
            .field("root_certificates", &self.root_certificates.len())
            .field("caller_agent", &self.agent.is_some())
            .field("shared_cache", &self.shared_cache)
            .finish()
    }
}

impl Config {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        Config::default()
    }

    /// Time allowed to establish the connection, TLS included (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Time allowed for one attempt, from connecting to the last byte of the body (default 10 s). Each
    /// attempt is also cut short so it cannot run past the retry policy's total deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest response body read (default 64 KiB). At most one byte more is read; a larger body fails
    /// with [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// When and how long to retry failed token requests.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// When a [`TokenProvider`](crate::TokenProvider) refreshes its token and how it backs off after failures.
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// The `User-Agent` sent (default `td-oauth/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Trusts this root certificate (DER), e.g. a private CA or a test server's self-signed certificate.
    ///
    /// ureq 3 cannot merge root stores: once one certificate is added, only the added certificates are
    /// trusted, not Mozilla's public roots. Ignored when [`agent`](Self::agent) supplies the HTTP client.
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(der.into());
        self
    }

    /// Sends with this agent instead of one built from these settings (to share a connection pool, a proxy,
    /// or a TLS setup). Each token request still overrides, for itself only: no redirects, 4xx/5xx returned
    /// as answers, the timeouts and the user agent above.
    pub fn agent(mut self, agent: ureq::Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    /// Where a [`TokenProvider`](crate::TokenProvider) gets a token when its own cache is cold: a cache
    /// shared with other processes (such as td-oauth-redis's `BlockingFleetCache`) instead of a request of
    /// its own. [`Client::fetch`](crate::Client::fetch) always sends its own request.
    pub fn shared_cache(mut self, cache: Arc<dyn SharedCache>) -> Self {
        self.shared_cache = Some(cache);
        self
    }

    /// The shared cache set with [`shared_cache`](Self::shared_cache), if any.
    pub fn shared(&self) -> Option<&Arc<dyn SharedCache>> {
        self.shared_cache.as_ref()
    }

    /// The retry policy set with [`retry_policy`](Self::retry_policy).
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The cache policy set with [`cache_policy`](Self::cache_policy).
    pub fn cache(&self) -> &CachePolicy {
        &self.cache
    }

    /// The agent token requests are sent with: the caller's, or a new one built from these settings with
    /// rustls on ring.
    pub(crate) fn build_agent(&self) -> ureq::Agent {
        if let Some(agent) = &self.agent {
            return agent.clone();
        }
        let mut tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()));
        if !self.root_certificates.is_empty() {
            let roots = self.root_certificates.iter().map(|der| Certificate::from_der(der).to_owned());
            tls = tls.root_certs(RootCerts::from(roots));
        }
        ureq::Agent::config_builder()
            .tls_config(tls.build())
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.timeout))
            .user_agent(self.user_agent.as_str())
            .build()
            .new_agent()
    }
}
