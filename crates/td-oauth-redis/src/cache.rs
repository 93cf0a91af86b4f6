//! [`FleetCache`]: one token request per fleet. Look in Redis; on a miss, one process takes a short lease
//! and fetches while the others poll for its token (for a bounded time); tokens are sealed at rest. Any
//! Redis failure falls back to a direct fetch.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::Error as SealError;
use crate::sealed::{FleetKey, SealedProblem, SealedToken};
use crate::sealed::{open, seal};
use td_oauth_core::TokenResponse;
use td_oauth_core::crypto::SealingKey;
use td_oauth_core::random::OsRandom;
use td_oauth_core::random::random_token;

use crate::connection::{Connection, Redis, Unavailable};
use crate::{Error, FleetConfig};

/// Deletes a key only if it still holds the given value: releases a lease only for its holder, and drops a
/// bad token only if nobody has replaced it meanwhile.
const COMPARE_AND_DELETE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Stores a token and clears the fleet's backoff in one step (both keys share a hash tag: one slot).
const STORE_TOKEN: &str = "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return redis.call('DEL', KEYS[2])";

/// A token cache shared by every process of a fleet through Redis, so that the fleet sends one token
/// request where each process would send its own.
///
/// Plug it into a provider with
/// [`Config::with_shared_cache`](td_oauth_reqwest::Config::with_shared_cache), or call
/// [`get_or_fetch`](Self::get_or_fetch) directly. `Clone`: clones share the connection.
/// Blocking programs (td-oauth-ureq) use [`BlockingFleetCache`](crate::BlockingFleetCache) instead.
#[derive(Clone)]
pub struct FleetCache {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Redis,
    key: SealingKey,
    config: FleetConfig,
    random: OsRandom,
}

impl fmt::Debug for FleetCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetCache")
            .field("redis", &self.inner.redis.endpoint())
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl FleetCache {
    /// A fleet cache on the Redis at `redis_url` (`redis://[:password@]host[:port][/db]`), sealing tokens
    /// with `key`, with the default [`FleetConfig`]. Only checks the URL: it connects on first use, so a
    /// Redis that is down at start-up means direct fetches, not an error.
    pub fn new(redis_url: &str, key: SealingKey) -> Result<FleetCache, Error> {
        FleetCache::with_config(redis_url, key, FleetConfig::default())
    }

    /// [`new`](Self::new) with `config`.
    pub fn with_config(redis_url: &str, key: SealingKey, config: FleetConfig) -> Result<FleetCache, Error> {
        let redis = Redis::new(redis_url, &config)?;
        Ok(FleetCache { inner: Arc::new(Inner { redis, key, config, random: OsRandom::new() }) })
    }

    /// A fleet cache on a Redis (or Valkey) Cluster, found from the URLs of some of its nodes
    /// (`redis://[:password@]host:port`), with the default [`FleetConfig`]. Each command goes to the node
    /// serving its key's slot; a fleet key's token and lease share one slot. Connects on first use; a
    /// cluster that is down or failing over means direct fetches, as with one server.
    pub fn cluster(nodes: &[&str], key: SealingKey) -> Result<FleetCache, Error> {
        FleetCache::cluster_with_config(nodes, key, FleetConfig::default())
    }

    /// [`cluster`](Self::cluster) with `config`.
    pub fn cluster_with_config(nodes: &[&str], key: SealingKey, config: FleetConfig) -> Result<FleetCache, Error> {
        let redis = Redis::cluster(nodes, &config)?;
        Ok(FleetCache { inner: Arc::new(Inner { redis, key, config, random: OsRandom::new() }) })
    }

    /// The settings.
    pub fn config(&self) -> &FleetConfig {
        &self.inner.config
    }

    /// The Redis server's `host:port` (a cluster's first seed node's, followed by ` (cluster)`).
    pub fn redis_endpoint(&self) -> &str {
        self.inner.redis.endpoint()
    }

    /// A token for `key`: a valid one from Redis, or the one `fetch` gets, shared with the fleet.
    ///
    /// - Hit: returned at once. If it is due for refresh, this caller takes the lease and refreshes it
    ///   (keeping the valid token if that fails); if another process holds the lease, it returns the
    ///   valid token at once.
    /// - Miss: the caller that takes the lease calls `fetch` and stores the token; the others poll Redis
    ///   until it appears, the lease disappears (then they try to take it), or
    ///   [`max_wait`](FleetConfig::with_max_wait) passes (then they call `fetch` themselves).
    /// - Redis down, slow or failing: `fetch` is called directly, with a `tracing` warning.
    /// - A stored value that does not open (altered, another key): warned about, deleted, treated as a miss.
    ///
    /// `fetch` is called at most once. Its error is returned as is.
    pub async fn get_or_fetch<F, Fut, E>(&self, key: &FleetKey, fetch: F) -> Result<TokenResponse, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, E>>,
    {
        let mut connection = match self.inner.redis.connection().await {
            Ok(connection) => connection,
            Err(problem) => {
                self.warn_fallback(&problem);
                return fetch().await;
            }
        };
        match self.lookup(&mut connection, key).await {
            Err(problem) => {
                self.warn_fallback(&problem);
                return fetch().await;
            }
            Ok(Some(found)) if !found.remaining_below_percent(self.inner.config.refresh_below_percent) => {
                return Ok(found.into_token());
            }
            Ok(Some(due)) => return Ok(self.refresh_ahead(&mut connection, key, due, fetch).await),
            Ok(None) => {}
        }
        let waiting_since = Instant::now();
        loop {
            match self.take_lease(&mut connection, key).await {
                Err(problem) => {
                    self.warn_fallback(&problem);
                    return fetch().await;
                }
                Ok(Some(lease)) => {
                    if let Some(token) = self.stored_meanwhile(&mut connection, key, &lease).await {
                        return Ok(token);
                    }
                    return self.fetch_and_share(&mut connection, key, Some(lease), fetch).await;
                }
                Ok(None) => {}
            }
            // Another process is fetching: wait for its token.
            loop {
                if waiting_since.elapsed() >= self.inner.config.max_wait {
                    tracing::warn!(
                        redis = self.inner.redis.endpoint(),
                        waited_ms = u64::try_from(waiting_since.elapsed().as_millis()).unwrap_or(u64::MAX),
                        "another process held the token lease without sharing a token; fetching directly"
                    );
                    return self.fetch_and_share(&mut connection, key, None, fetch).await;
                }
                tokio::time::sleep(self.inner.config.poll_interval).await;
                match self.lookup(&mut connection, key).await {
                    Ok(Some(found)) => return Ok(found.into_token()),
                    Ok(None) => {}
                    Err(problem) => {
                        self.warn_fallback(&problem);
                        return fetch().await;
                    }
                }
                let exists = redis::cmd("EXISTS").arg(key.lease_key()).clone();
                match self.inner.redis.run::<bool>(&mut connection, &exists, "EXISTS lease").await {
                    Ok(true) => {}
                    // The holder gave up or died and its lease expired: try to take it.
                    Ok(false) => break,
                    Err(problem) => {
                        self.warn_fallback(&problem);
                        return fetch().await;
                    }
                }
            }
        }
    }

    /// Deletes the token stored for `key` if it is `token` (same access token), so that no process is handed
    /// it again: for a token the API refused, or one a provider invalidated. A newer token is left alone.
    /// Redis failures are warned about and otherwise ignored.
    pub async fn discard(&self, key: &FleetKey, token: &TokenResponse) {
        let result = async {
            let mut connection = self.inner.redis.connection().await?;
            let get = redis::cmd("GET").arg(key.token_key()).clone();
            let Some(bytes) = self.inner.redis.run::<Option<Vec<u8>>>(&mut connection, &get, "GET").await? else {
                return Ok(false);
            };
            let stored = open(&bytes, &self.inner.key, key, Instant::now(), SystemTime::now());
            // Any stored value that does not open is dropped as well: the next lookup would drop it anyway.
            if stored.is_ok_and(|found| found.token().access_token().secret() != token.access_token().secret()) {
                return Ok(false);
            }
            let delete = redis::cmd("EVAL").arg(COMPARE_AND_DELETE).arg(1).arg(key.token_key()).arg(bytes).clone();
            Ok::<_, Unavailable>(self.inner.redis.run::<i64>(&mut connection, &delete, "DEL token").await? == 1)
        };
        match result.await {
            Ok(deleted) => tracing::debug!(redis = self.inner.redis.endpoint(), deleted, "fleet token discarded"),
            Err(problem) => tracing::warn!(
                redis = self.inner.redis.endpoint(),
                problem = %problem,
                "the dropped token could not be removed from the fleet cache; other processes may still use it"
            ),
        }
    }

    /// A due token: refreshed by this caller if it wins the lease, else returned as it is.
    async fn refresh_ahead<F, Fut, E>(
        &self,
        connection: &mut Connection,
        key: &FleetKey,
        due: SealedToken,
        fetch: F,
    ) -> TokenResponse
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, E>>,
    {
        match self.take_lease(connection, key).await {
            Ok(Some(lease)) => {
                if let Some(token) = self.stored_meanwhile(connection, key, &lease).await {
                    return token;
                }
                tracing::debug!(redis = self.inner.redis.endpoint(), "refreshing the fleet's token ahead of expiry");
                match self.fetch_and_share(connection, key, Some(lease), fetch).await {
                    Ok(token) => token,
                    Err(_) => {
                        tracing::warn!(
                            redis = self.inner.redis.endpoint(),
                            "refreshing the fleet's token ahead of expiry got no new token (the request failed, or the fleet is \
                             waiting out a refusal); the still valid token is used"
                        );
                        due.into_token()
                    }
                }
            }
            // Someone else refreshes (or Redis failed): the token is still valid, so nobody waits.
            Ok(None) => due.into_token(),
            Err(problem) => {
                tracing::warn!(redis = self.inner.redis.endpoint(), problem = %problem, "Redis is unavailable");
                due.into_token()
            }
        }
    }

    /// Calls `fetch`, stores its token for the fleet, and releases the lease if this caller holds it.
    async fn fetch_and_share<F, Fut, E>(
        &self,
        connection: &mut Connection,
        key: &FleetKey,
        lease: Option<String>,
        fetch: F,
    ) -> Result<TokenResponse, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, E>>,
    {
        let result = fetch().await;
        if let Ok(token) = &result
            && let Err(problem) = self.store(connection, key, token).await
        {
            tracing::warn!(
                redis = self.inner.redis.endpoint(),
                problem = %problem,
                "the token could not be shared through Redis; the other processes fetch their own"
            );
        }
        if let Some(lease) = lease {
            self.release_lease(connection, key, &lease).await;
        }
        result
    }

    /// Right after taking the lease: a token that is not due, stored by the previous holder between this
    /// caller's last look and its taking the lease (a holder stores, then releases). If there is one, the
    /// lease is released and nothing is fetched.
    async fn stored_meanwhile(
        &self,
        connection: &mut Connection,
        key: &FleetKey,
        lease: &str,
    ) -> Option<TokenResponse> {
        match self.lookup(connection, key).await {
            Ok(Some(found)) if !found.remaining_below_percent(self.inner.config.refresh_below_percent) => {
                self.release_lease(connection, key, lease).await;
                Some(found.into_token())
            }
            _ => None,
        }
    }

    /// Deletes the lease if this caller (`lease` is its random value) still holds it.
    async fn release_lease(&self, connection: &mut Connection, key: &FleetKey, lease: &str) {
        let release = redis::cmd("EVAL").arg(COMPARE_AND_DELETE).arg(1).arg(key.lease_key()).arg(lease).clone();
        // Failing to release is harmless: the lease expires on its own.
        let _ = self.inner.redis.run::<i64>(connection, &release, "releasing the lease").await;
    }

    /// The token stored for `key`, if there is one that opens. One that does not is deleted.
    async fn lookup(&self, connection: &mut Connection, key: &FleetKey) -> Result<Option<SealedToken>, Unavailable> {
        let get = redis::cmd("GET").arg(key.token_key()).clone();
        let Some(bytes) = self.inner.redis.run::<Option<Vec<u8>>>(connection, &get, "GET").await? else {
            return Ok(None);
        };
        match open(&bytes, &self.inner.key, key, Instant::now(), SystemTime::now()) {
            Ok(found) => Ok(Some(found)),
            Err(SealError::Sealed { problem: SealedProblem::Expired }) => Ok(None),
            // A newer td-oauth may have written it: not deleted, though this caller's token replaces it.
            Err(SealError::Sealed { problem: SealedProblem::UnknownVersion(version) }) => {
                tracing::warn!(
                    redis = self.inner.redis.endpoint(),
                    version,
                    "the cached token has a format this version cannot read; fetching"
                );
                Ok(None)
            }
            Err(err) => {
                tracing::warn!(
                    redis = self.inner.redis.endpoint(),
                    error = %err,
                    "discarding a cached token that does not open"
                );
                let delete = redis::cmd("EVAL").arg(COMPARE_AND_DELETE).arg(1).arg(key.token_key()).arg(bytes).clone();
                self.inner.redis.run::<i64>(connection, &delete, "deleting a bad token").await?;
                Ok(None)
            }
        }
    }

    /// `SET lease NX PX`: `Some(holder)` if this caller now holds the lease.
    async fn take_lease(&self, connection: &mut Connection, key: &FleetKey) -> Result<Option<String>, Unavailable> {
        let holder = self.holder_token()?;
        let set = redis::cmd("SET")
            .arg(key.lease_key())
            .arg(&holder)
            .arg("NX")
            .arg("PX")
            .arg(millis(self.inner.config.lease).max(1))
            .clone();
        let taken = self.inner.redis.run::<Option<String>>(connection, &set, "SET lease").await?;
        Ok(taken.map(|_| holder))
    }

    /// Seals `token` and stores it with a TTL of its remaining lifetime less the margin (not at all if
    /// that leaves nothing).
    async fn store(
        &self,
        connection: &mut Connection,
        key: &FleetKey,
        token: &TokenResponse,
    ) -> Result<(), Unavailable> {
        let now = Instant::now();
        let ttl = token.expires_at().saturating_duration_since(now).saturating_sub(self.inner.config.ttl_margin);
        if ttl < Duration::from_millis(1) {
            tracing::debug!(
                expires_in = token.expires_in().as_secs(),
                "the token expires within the TTL margin; not shared"
            );
            return Ok(());
        }
        let sealed = seal(token, &self.inner.key, key, now, SystemTime::now(), &self.inner.random)
            .map_err(|err| Unavailable::new(format!("sealing failed: {err}")))?;
        let set = redis::cmd("EVAL")
            .arg(STORE_TOKEN)
            .arg(2)
            .arg(key.token_key())
            .arg(key.backoff_key())
            .arg(sealed)
            .arg(millis(ttl))
            .clone();
        self.inner.redis.run::<i64>(connection, &set, "SET token").await.map(drop)
    }

    /// A random value identifying this caller's lease.
    fn holder_token(&self) -> Result<String, Unavailable> {
        random_token(&self.inner.random, 16).map_err(|err| Unavailable::new(format!("{err}")))
    }

    fn warn_fallback(&self, problem: &Unavailable) {
        tracing::warn!(
            redis = self.inner.redis.endpoint(),
            problem = %problem,
            "the fleet token cache is unavailable; fetching the token directly"
        );
    }
}

/// The fleet's backoff, for the transports' `SharedCache::fetch_with_backoff` (the only callers).
#[cfg(any(feature = "reqwest", feature = "ureq"))]
impl FleetCache {
    /// `fetch`, unless the fleet recorded a refusal that still holds (then `backoff`'s error, and no request);
    /// a failure `backoff` says to share is recorded for the others, before the caller releases its lease.
    /// What counts and for how long is the provider's rule; this only stores and reads the records. Redis
    /// failures leave this process to decide alone: `fetch` is called, and nothing is recorded.
    pub(crate) async fn fetch_unless_refused<F, Fut>(
        &self,
        key: &FleetKey,
        backoff: &td_oauth_core::provider::BackoffRule,
        fetch: F,
    ) -> Result<TokenResponse, td_oauth_core::Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, td_oauth_core::Error>>,
    {
        if let Some(refused) = self.recorded_backoff(key).await.and_then(|r| backoff.refused(&r, SystemTime::now())) {
            tracing::debug!(
                redis = self.inner.redis.endpoint(),
                error = %refused,
                "the fleet is backing off; no token request sent"
            );
            return Err(refused);
        }
        let result = fetch().await;
        if let Err(error) = &result
            && let Some((record, wait)) = backoff.after_failure(error, SystemTime::now())
        {
            self.record_backoff(key, &record, wait).await;
        }
        result
    }

    /// The refusal recorded for `key`, if there is one that opens; Redis failures and a record that does not
    /// open (deleted if unchanged) read as none.
    async fn recorded_backoff(&self, key: &FleetKey) -> Option<td_oauth_core::provider::SharedBackoff> {
        let mut connection = self.inner.redis.connection().await.ok()?;
        let get = redis::cmd("GET").arg(key.backoff_key()).clone();
        let bytes = match self.inner.redis.run::<Option<Vec<u8>>>(&mut connection, &get, "GET backoff").await {
            Ok(bytes) => bytes?,
            Err(problem) => {
                tracing::warn!(
                    redis = self.inner.redis.endpoint(),
                    problem = %problem,
                    "the fleet's backoff could not be read; this process decides alone"
                );
                return None;
            }
        };
        match crate::sealed::open_backoff(&bytes, &self.inner.key, key) {
            Ok(record) => Some(record),
            Err(err) => {
                tracing::warn!(redis = self.inner.redis.endpoint(), error = %err, "discarding a backoff record that does not open");
                let delete =
                    redis::cmd("EVAL").arg(COMPARE_AND_DELETE).arg(1).arg(key.backoff_key()).arg(bytes).clone();
                let _ = self.inner.redis.run::<i64>(&mut connection, &delete, "deleting a bad backoff").await;
                None
            }
        }
    }

    /// Stores `record` for the fleet, kept by Redis for `wait` (so it goes on its own).
    async fn record_backoff(&self, key: &FleetKey, record: &td_oauth_core::provider::SharedBackoff, wait: Duration) {
        let result = async {
            let sealed = crate::sealed::seal_backoff(record, &self.inner.key, key, &self.inner.random)
                .map_err(|err| Unavailable::new(format!("sealing failed: {err}")))?;
            let mut connection = self.inner.redis.connection().await?;
            let set = redis::cmd("SET").arg(key.backoff_key()).arg(sealed).arg("PX").arg(millis(wait).max(1)).clone();
            self.inner.redis.run::<()>(&mut connection, &set, "SET backoff").await
        };
        match result.await {
            Ok(()) => tracing::info!(
                redis = self.inner.redis.endpoint(),
                status = record.status(),
                wait_ms = millis(wait),
                "the token endpoint refused this process; the fleet waits before its next token request"
            ),
            Err(problem) => tracing::warn!(
                redis = self.inner.redis.endpoint(),
                problem = %problem,
                "the refusal could not be shared through Redis; the other processes find out by themselves"
            ),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
