//! The settings every transport shares, in one type: each transport crate's `Config` is this type with its
//! own HTTP client and shared-cache seam plugged in, so a setting has the same name and the same meaning in
//! every crate, and a transport that cannot honour one refuses it with an error.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::Error;
use crate::cache::CachePolicy;
use crate::clock::SharedClock;
use crate::retry::RetryPolicy;

use super::proxy::ProxyRule;

/// The `User-Agent` sent by default: `td-oauth/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("td-oauth/", env!("CARGO_PKG_VERSION"));

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What a transport crate plugs into the core's [`Config`]: the HTTP client a caller may supply and the
/// shared-cache seam, and what that HTTP client can do. Implemented by each transport's token `Client`.
pub trait Transport: Sized + Clone + Send + Sync + 'static {
    /// The HTTP client a caller may supply (`reqwest::Client`, `ureq::Agent`).
    type HttpClient: Clone + Send + Sync + 'static;
    /// The trait of caches shared between processes (the transport's `SharedCache`).
    type SharedCache: ?Sized + Send + Sync + fmt::Debug + 'static;
    /// Whether the HTTP client can trust extra root certificates on top of the system's. Where it cannot,
    /// asking for both is refused instead of silently dropping one.
    const ADDS_ROOTS_TO_SYSTEM: bool;
    /// Whether the transport can await an [`AsyncSigner`](crate::signer::AsyncSigner). Where it cannot, a
    /// client with one is refused when it is built.
    const DRIVES_ASYNC_SIGNERS: bool;

    /// An HTTP client built from `config`'s settings (no caller's client in it; already checked), sending
    /// through the proxy `proxies` gives each request: carried in the client where it can hold a rule, or
    /// applied per request by the transport. [`http_client`](super::http_client) decides when one is built.
    fn build_http_client(config: &Config<Self>, proxies: &Arc<ProxyRule>) -> Result<Self::HttpClient, Error>;
}

/// Settings for a transport's `Client` and the token providers and managers built on it.
///
/// | setting | default |
/// |---|---|
/// | [`connect_timeout`](Self::connect_timeout): establishing the connection, TLS included | 10 s |
/// | [`timeout`](Self::timeout): one attempt, from connecting to the last body byte | 10 s |
/// | [`signer_timeout`](Self::signer_timeout): one signature from a signer outside the process (HSM, KMS) | 5 s |
/// | [`max_response_bytes`](Self::max_response_bytes): the largest token-endpoint body read | 64 KiB |
/// | [`retry_policy`](Self::retry_policy) | 3 retries from 200 ms, full jitter, 30 s in all |
/// | [`cache_policy`](Self::cache_policy) | refresh with 20 % of the lifetime left, expire 30 s early |
/// | [`user_agent`](Self::user_agent) | `td-oauth/<version>` |
/// | [`root_certificates`](Self::root_certificates) / [`system_roots`](Self::system_roots) | the system's CA certificates, nothing added |
/// | [`clock`](Self::clock): the time the providers' rules run on | the system's monotonic clock |
/// | [`http_client`](Self::http_client) | none: one is built from these settings |
/// | [`shared_cache`](Self::shared_cache) | none: each provider fetches its own tokens |
/// | redirects | never followed |
///
/// With your own HTTP client ([`with_http_client`](Self::with_http_client)), the timeout, body cap, retries,
/// redirect refusal and caching still apply; how connections are made (connect timeout, trusted roots, user
/// agent, proxies) is that client's, so setting one of those as well is refused.
///
/// Every setter begins `with_` and returns the config; the getter has the setting's bare name.
pub struct Config<T: Transport> {
    connect_timeout: Option<Duration>,
    timeout: Duration,
    signer_timeout: Duration,
    max_response_bytes: usize,
    retry: RetryPolicy,
    cache: CachePolicy,
    user_agent: Option<String>,
    roots: Vec<Vec<u8>>,
    system_roots: bool,
    clock: SharedClock,
    http_client: Option<T::HttpClient>,
    shared_cache: Option<Arc<T::SharedCache>>,
}

impl<T: Transport> Clone for Config<T> {
    fn clone(&self) -> Self {
        Config {
            connect_timeout: self.connect_timeout,
            timeout: self.timeout,
            signer_timeout: self.signer_timeout,
            max_response_bytes: self.max_response_bytes,
            retry: self.retry.clone(),
            cache: self.cache.clone(),
            user_agent: self.user_agent.clone(),
            roots: self.roots.clone(),
            system_roots: self.system_roots,
            clock: self.clock.clone(),
            http_client: self.http_client.clone(),
            shared_cache: self.shared_cache.clone(),
        }
    }
}

impl<T: Transport> Default for Config<T> {
    fn default() -> Self {
        Config {
            connect_timeout: None,
            timeout: DEFAULT_TIMEOUT,
            signer_timeout: crate::signer::DEFAULT_SIGNER_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            retry: RetryPolicy::default(),
            cache: CachePolicy::default(),
            user_agent: None,
            roots: Vec::new(),
            system_roots: true,
            clock: SharedClock::default(),
            http_client: None,
            shared_cache: None,
        }
    }
}

impl<T: Transport> fmt::Debug for Config<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("connect_timeout", &self.connect_timeout())
            .field("timeout", &self.timeout)
            .field("signer_timeout", &self.signer_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .field("cache", &self.cache)
            .field("user_agent", &self.user_agent())
            .field("extra_root_certificates", &self.roots.len())
            .field("system_roots", &self.system_roots)
            .field("clock", &self.clock)
            .field("caller_supplied_client", &self.http_client.is_some())
            .field("shared_cache", &self.shared_cache)
            .finish()
    }
}

impl<T: Transport> Config<T> {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        Config::default()
    }

    /// How long establishing a connection (TCP and TLS) may take.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// How long one attempt may take, from connecting to the last byte of the answer. Each retry gets its
    /// own, but no attempt runs past the retry policy's deadline. Applies to a caller-supplied client too.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The per-attempt timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sets how long a signer outside the process (see [`signer`](crate::signer)) may take over one
    /// signature; past it the attempt fails with [`SignerError::TimedOut`](crate::signer::SignerError::TimedOut),
    /// which is retried within the retry policy. Cut to what is left of the retry deadline. The signer's call
    /// is not interrupted (a blocking call cannot be): its answer, when it comes, is dropped.
    pub fn with_signer_timeout(mut self, timeout: Duration) -> Self {
        self.signer_timeout = timeout;
        self
    }

    /// The signer timeout (default 5 s).
    pub fn signer_timeout(&self) -> Duration {
        self.signer_timeout
    }

    /// The largest token-endpoint response read; anything larger fails with [`Error::ResponseTooLarge`]
    /// after reading at most `bytes + 1` bytes.
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The body cap.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// When to retry a failed token request (see [`RetryPolicy`]).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// When a token provider refreshes its token and how it backs off (see [`CachePolicy`]).
    pub fn with_cache_policy(mut self, policy: CachePolicy) -> Self {
        self.cache = policy;
        self
    }

    /// The cache policy.
    pub fn cache_policy(&self) -> &CachePolicy {
        &self.cache
    }

    /// The `User-Agent` header.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// The user agent.
    pub fn user_agent(&self) -> &str {
        self.user_agent.as_deref().unwrap_or(DEFAULT_USER_AGENT)
    }

    /// Trusts this CA certificate (DER) as well: a private CA, or a test server's self-signed certificate.
    /// On top of the system's roots unless [`with_system_roots(false)`](Self::with_system_roots) says to
    /// trust only the added ones.
    pub fn with_root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.roots.push(der.into());
        self
    }

    /// The CA certificates added with [`with_root_certificate`](Self::with_root_certificate), DER.
    pub fn root_certificates(&self) -> &[Vec<u8>] {
        &self.roots
    }

    /// Whether to trust the system's CA certificates (default `true`). With `false`, only the certificates
    /// added with [`with_root_certificate`](Self::with_root_certificate) are trusted.
    pub fn with_system_roots(mut self, trusted: bool) -> Self {
        self.system_roots = trusted;
        self
    }

    /// Whether the system's CA certificates are trusted.
    pub fn system_roots(&self) -> bool {
        self.system_roots
    }

    /// The clock the providers' rules read (refresh ahead, expiry, backoff, the retry deadline): a
    /// [`ManualClock`](crate::clock::ManualClock) makes tests step time instead of sleeping.
    pub fn with_clock(mut self, clock: impl Into<SharedClock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Sends through this HTTP client instead of building one (to share a connection pool, a proxy, a TLS
    /// setup). It must not follow redirects; each transport's docs say how to build one that does not.
    pub fn with_http_client(mut self, client: T::HttpClient) -> Self {
        self.http_client = Some(client);
        self
    }

    /// This config with `client`, built from its connection settings, in their place: what a token manager
    /// hands every credential set's client, so that they all share one connection pool.
    pub fn with_built_client(mut self, client: T::HttpClient) -> Self {
        self.connect_timeout = None;
        self.user_agent = None;
        self.roots.clear();
        self.system_roots = true;
        self.http_client = Some(client);
        self
    }

    /// The caller-supplied HTTP client, if any.
    pub fn http_client(&self) -> Option<&T::HttpClient> {
        self.http_client.as_ref()
    }

    /// Where a token provider gets a token when its own cache is cold: a cache shared with other processes
    /// (td-oauth-redis) instead of a request of its own. A `Client`'s own `fetch` always sends its request.
    pub fn with_shared_cache(mut self, cache: Arc<T::SharedCache>) -> Self {
        self.shared_cache = Some(cache);
        self
    }

    /// The shared cache, if any.
    pub fn shared_cache(&self) -> Option<&Arc<T::SharedCache>> {
        self.shared_cache.as_ref()
    }

    /// Refuses settings that contradict each other or that the transport cannot honour, with what to change.
    /// The transports' `Client` constructors call it before building anything.
    pub fn check(&self) -> Result<(), Error> {
        let refuse = |reason: &str| Err(Error::Config { reason: reason.to_owned() });
        if self.timeout.is_zero() || self.connect_timeout().is_zero() || self.signer_timeout.is_zero() {
            return refuse("a zero timeout would fail every request; give a positive duration");
        }
        if self.max_response_bytes == 0 {
            return refuse("a body cap of 0 bytes refuses every answer; the default is 64 KiB");
        }
        if HeaderValue::from_str(self.user_agent()).is_err() {
            return refuse("the user agent is not a valid HTTP header value (no control characters or non-ASCII)");
        }
        if self.http_client.is_some()
            && (self.connect_timeout.is_some()
                || self.user_agent.is_some()
                || !self.roots.is_empty()
                || !self.system_roots)
        {
            return refuse(
                "the connect timeout, user agent and trusted roots are the supplied HTTP client's own: \
                 set them when building that client",
            );
        }
        if self.system_roots && !self.roots.is_empty() && !T::ADDS_ROOTS_TO_SYSTEM {
            return refuse(
                "this HTTP client cannot add certificates to the system's roots: call with_system_roots(false) \
                 to trust only the added certificates, or supply your own client",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A transport that cannot add roots to the system's and makes nothing.
    #[derive(Debug, Clone)]
    pub(crate) struct Strict;

    impl Transport for Strict {
        type HttpClient = ();
        type SharedCache = ();
        const ADDS_ROOTS_TO_SYSTEM: bool = false;
        const DRIVES_ASYNC_SIGNERS: bool = false;

        fn build_http_client(_: &Config<Self>, _: &Arc<ProxyRule>) -> Result<(), Error> {
            Ok(())
        }
    }

    #[test]
    fn contradictions_are_refused_with_what_to_change() {
        let reason = |config: Config<Strict>| match config.check() {
            Err(Error::Config { reason }) => reason,
            other => panic!("{other:?}"),
        };
        assert!(Config::<Strict>::new().check().is_ok());
        assert!(reason(Config::new().with_root_certificate(vec![1])).contains("with_system_roots(false)"));
        assert!(Config::<Strict>::new().with_root_certificate(vec![1]).with_system_roots(false).check().is_ok());
        assert!(reason(Config::new().with_http_client(()).with_user_agent("me")).contains("client's own"));
        assert!(reason(Config::new().with_timeout(Duration::ZERO)).contains("zero timeout"));
        assert!(reason(Config::new().with_user_agent("a\nb")).contains("header"));
        assert!(reason(Config::new().with_max_response_bytes(0)).contains("64 KiB"));
    }
}
