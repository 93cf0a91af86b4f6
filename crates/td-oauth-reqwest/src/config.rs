//! Transport settings and the HTTP client they build: timeouts, body cap, retries, cache policy, trust.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use td_oauth_core::{CachePolicy, RetryPolicy};

use crate::{Error, SharedCache};

/// The `User-Agent` sent by default: `td-oauth/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("td-oauth/", env!("CARGO_PKG_VERSION"));

/// How tokens are fetched: timeouts, the response body cap, retries, the cache policy and which
/// certificates are trusted.
///
/// | setting | default |
/// |---|---|
/// | [`connect_timeout`](Self::connect_timeout) | 10 s |
/// | [`timeout`](Self::timeout) (one attempt: connect + response) | 10 s |
/// | [`max_response_bytes`](Self::max_response_bytes) | 64 KiB |
/// | [`retry_policy`](Self::retry_policy) | 3 retries, from 200 ms, full jitter, 30 s deadline |
/// | [`cache_policy`](Self::cache_policy) | refresh with 20 % of the lifetime left, expire 30 s early |
/// | [`user_agent`](Self::user_agent) | `td-oauth/<version>` |
/// | trust | the system's CA certificates, plus [`add_root_certificate`](Self::add_root_certificate) |
/// | redirects | never followed |
/// | [`shared_cache`](Self::shared_cache) | none: each provider fetches its own tokens |
///
/// ```
/// use std::time::Duration;
/// use td_oauth_reqwest::{Config, RetryPolicy};
///
/// let config = Config::default()
///     .timeout(Duration::from_secs(5))
///     .retry_policy(RetryPolicy::default().max_retries(5).deadline(Duration::from_secs(20)));
/// let http = config.build_http_client()?; // what token requests go through
/// # let _ = http;
/// # Ok::<(), td_oauth_reqwest::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
    cache: CachePolicy,
    user_agent: String,
    roots: Vec<CertificateDer<'static>>,
    system_roots: bool,
    http_client: Option<reqwest::Client>,
    shared_cache: Option<Arc<dyn SharedCache>>,
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
            roots: Vec::new(),
            system_roots: true,
            http_client: None,
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
            .field("extra_root_certificates", &self.roots.len())
            .field("system_roots", &self.system_roots)
            .field("caller_supplied_client", &self.http_client.is_some())
            .field("shared_cache", &self.shared_cache)
            .finish()
    }
}

impl Config {
    /// The defaults (see the table above); the same as [`Config::default`].
    pub fn new() -> Self {
        Config::default()
    }

    /// How long establishing a connection (TCP and TLS) may take. Ignored with a caller-supplied client.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take, from connecting to the last byte of the answer. Each retry gets its
    /// own, but no attempt runs past the retry policy's total deadline. Applies to a caller-supplied client
    /// too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest token-endpoint response read; anything larger fails with
    /// [`Error::ResponseTooLarge`] after reading at most `bytes + 1` bytes.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// When to retry a failed token request (see [`RetryPolicy`]).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// When a [`TokenProvider`](crate::TokenProvider) refreshes its token (see [`CachePolicy`]).
    pub fn cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// The `User-Agent` header. Ignored with a caller-supplied client.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Trusts this CA certificate (DER) as well: a private CA, or a test server's self-signed certificate.
    /// Ignored with a caller-supplied client.
    pub fn add_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.roots.push(CertificateDer::from(der.into()));
        self
    }

    /// Whether to trust the system's CA certificates (default `true`). With `false`, only the certificates
    /// added with [`add_root_certificate`](Self::add_root_certificate) are trusted.
    pub fn system_roots(mut self, enabled: bool) -> Self {
        self.system_roots = enabled;
        self
    }

    /// Sends through this client instead of building one. It must not follow redirects: build it from
    /// [`http_client_builder`](Self::http_client_builder), which sets `redirect::Policy::none()`. reqwest has
    /// no per-request switch, so a client that follows a 307/308 would forward the token request, assertion
    /// included, before td-oauth could refuse the redirected answer with [`Error::Redirected`]. The timeout,
    /// body cap and retries still apply; connect timeout, user agent and certificates are the client's own.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Where a [`TokenProvider`](crate::TokenProvider) gets a token when its own cache is cold: a cache
    /// shared with other processes (such as td-oauth-redis's `FleetCache`) instead of a request of its own.
    /// [`Client::fetch`](crate::Client::fetch) always sends its own request.
    pub fn shared_cache(mut self, cache: Arc<dyn SharedCache>) -> Self {
        self.shared_cache = Some(cache);
        self
    }

    /// The shared cache set with [`shared_cache`](Self::shared_cache), if any.
    pub fn shared(&self) -> Option<&Arc<dyn SharedCache>> {
        self.shared_cache.as_ref()
    }

    pub(crate) fn attempt_timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn body_cap(&self) -> usize {
        self.max_response_bytes
    }

    /// The retry policy set with [`retry_policy`](Self::retry_policy).
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The cache policy set with [`cache_policy`](Self::cache_policy).
    pub fn cache(&self) -> &CachePolicy {
        &self.cache
    }

    /// The HTTP client token requests go through: the caller's, or one built from these settings (rustls
    /// on ring, HTTP/1.1, no redirects). Good for API requests too, e.g. in a
    /// [`BearerClient`](crate::BearerClient).
    pub fn build_http_client(&self) -> Result<reqwest::Client, Error> {
        if let Some(client) = &self.http_client {
            return Ok(client.clone());
        }
        self.http_client_builder()?
            .build()
            .map_err(|err| Error::Config { reason: format!("the HTTP client could not be built: {err}") })
    }

    /// A `reqwest::ClientBuilder` set up as [`build_http_client`](Self::build_http_client) would (TLS,
    /// trust, connect timeout, user agent, no redirects), to adjust (a proxy, say) and hand back with
    /// [`http_client`](Self::http_client). It carries a rustls configuration on the ring provider, so
    /// reqwest needs no process-wide crypto provider.
    pub fn http_client_builder(&self) -> Result<reqwest::ClientBuilder, Error> {
        Ok(reqwest::Client::builder()
            .tls_backend_preconfigured(self.tls_config()?)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.as_str()))
    }

    /// rustls with the ring provider (already in the tree through td-oauth-core), so aws-lc-rs stays out.
    fn tls_config(&self) -> Result<rustls::ClientConfig, Error> {
        let config_error = |what: &str, err: rustls::Error| Error::Config { reason: format!("{what}: {err}") };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error("TLS versions", e))?;
        let mut config = if self.system_roots {
            let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(self.roots.clone(), provider)
                .map_err(|e| {
                    config_error(
                        "no usable CA certificates (install the system's CA bundle, e.g. ca-certificates, \
                         or add one with Config::add_root_certificate)",
                        e,
                    )
                })?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier)).with_no_client_auth()
        } else {
            builder.with_webpki_verifier(only_these_roots(&self.roots, provider)?).with_no_client_auth()
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn only_these_roots(
    roots: &[CertificateDer<'static>],
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, Error> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .map_err(|err| Error::Config { reason: format!("a root certificate was refused: {err}") })?;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider).build().map_err(|err| Error::Config {
        reason: format!("no usable root certificate (add one with Config::add_root_certificate): {err}"),
    })
}
