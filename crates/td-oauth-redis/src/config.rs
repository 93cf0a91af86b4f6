//! The fleet cache's timings: lease, waits, per-command timeout, how long tokens stay in Redis, and when
//! one is due for refresh.

use std::time::Duration;

/// How the fleet cache shares tokens.
///
/// | setting | default | what it does |
/// |---|---|---|
/// | [`with_lease`](Self::with_lease) | 5 s | how long the process fetching for the fleet holds the lock |
/// | [`with_max_wait`](Self::with_max_wait) | 6 s | how long others wait for its token before fetching themselves |
/// | [`with_poll_interval`](Self::with_poll_interval) | 25 ms | how often a waiting process looks in Redis |
/// | [`with_redis_timeout`](Self::with_redis_timeout) | 250 ms | per Redis command; slower counts as down |
/// | [`with_ttl_margin`](Self::with_ttl_margin) | 30 s | tokens leave Redis this long before they expire |
/// | [`with_refresh_below_percent`](Self::with_refresh_below_percent) | 20 | below this share of its lifetime left, a token is refreshed |
/// | [`with_ca_certificates`](Self::with_ca_certificates) | the system's | the CAs a `rediss://` server's certificate must chain to |
///
/// ```
/// use std::time::Duration;
/// use td_oauth_redis::FleetConfig;
///
/// let config = FleetConfig::default().with_lease(Duration::from_secs(10)).with_max_wait(Duration::from_secs(12));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub(crate) lease: Duration,
    pub(crate) max_wait: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) redis_timeout: Duration,
    pub(crate) ttl_margin: Duration,
    pub(crate) refresh_below_percent: u32,
    pub(crate) ca_certificates: Option<CaCertificates>,
}

/// PEM CA certificates, shown in `Debug` by size only.
#[derive(Clone)]
pub(crate) struct CaCertificates(pub(crate) Vec<u8>);

impl std::fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes of PEM", self.0.len())
    }
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            lease: Duration::from_secs(5),
            max_wait: Duration::from_secs(6),
            poll_interval: Duration::from_millis(25),
            redis_timeout: Duration::from_millis(250),
            ttl_margin: Duration::from_secs(30),
            refresh_below_percent: 20,
            ca_certificates: None,
        }
    }
}

impl FleetConfig {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        FleetConfig::default()
    }

    /// How long the lease lasts: the lock one process takes to fetch for the fleet. If that process dies
    /// mid-fetch, the others fetch once it has expired, so keep it a little above a token request's usual
    /// duration (retries included) and below [`with_max_wait`](Self::with_max_wait).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long a process waits for another's fetch before it fetches itself. Bounded so that a stuck
    /// fleet member cannot stop token delivery.
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// How often a waiting process looks for the token in Redis (at least 1 ms).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long one Redis command (or connecting) may take. A slower Redis is treated as down: the token
    /// is fetched directly.
    pub fn with_redis_timeout(mut self, timeout: Duration) -> Self {
        self.redis_timeout = timeout;
        self
    }

    /// Tokens are stored with a Redis TTL of their remaining lifetime minus this margin, and not stored
    /// at all when that leaves nothing, so that no process picks up a token about to expire.
    pub fn with_ttl_margin(mut self, margin: Duration) -> Self {
        self.ttl_margin = margin;
        self
    }

    /// A token with less than this share of its lifetime left is due: the process that sees it takes the
    /// lease and refreshes it, while everyone else (including that process, if the lease is taken) keeps
    /// using it. Values above 100 count as 100.
    pub fn with_refresh_below_percent(mut self, percent: u32) -> Self {
        self.refresh_below_percent = percent.min(100);
        self
    }

    /// The CA certificates (PEM, one or more `CERTIFICATE` blocks) that a `rediss://` server's certificate
    /// must chain to, in place of the system's: a managed Redis with a private CA, or a test server. Without
    /// it, `rediss://` trusts the system's CA certificates. Certificates are always checked: there is no
    /// setting (nor `#insecure` URL) that turns the check off.
    pub fn with_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificates = Some(CaCertificates(pem.into()));
        self
    }
}
