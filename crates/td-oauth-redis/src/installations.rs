//! [`RedisStore`]: td-oauth-partner's [`InstallationStore`] on Redis, Valkey or a Redis Cluster, over the
//! fleet cache's connection handling (connected on first use, a per-command timeout, a failed connection
//! left alone for a few seconds).
//!
//! Key layout, under a prefix (`td-oauth` unless [`StoreConfig::with_prefix`] says otherwise):
//!
//! | Redis key or channel | what it holds |
//! |---|---|
//! | `PREFIX:installation:{KEY}` | a hash: `version` (decimal) and `value` (the sealed bytes) |
//! | `PREFIX:event:{EVENT_ID}` | `claimed:HOLDER` for the lease (`PX`), then `done` for as long as it is remembered (`PX`) |
//! | channel `PREFIX:installations` | `VERSION KEY`, published by the write itself |
//!
//! Each installation and each event is one Redis key, in the slot of its hash tag, so every command and
//! script touches one slot. A compare-and-set is one Lua script that checks the version, writes and
//! publishes, so no write goes unannounced. Listing walks `SCAN` on the server, or on every master of a
//! cluster, rather than an index set: an index would live in another slot than the installation it names,
//! so it could not be written in the same script, and `list` is rare (an operator's listing, a start-up).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::{Cmd, Value};
use td_oauth_partner::store::{EventClaim, InstallationStore, NoticeSink, Put, StoreError, Subscription, Versioned};

use crate::Error;
use crate::config::CaCertificates;
use crate::connection::{Connection, Redis};
use crate::installation_notices;

/// Checks the stored version against `ARGV[1]` (`''`: nothing stored), then writes `ARGV[2]` with the next
/// version and publishes `VERSION KEY` on `ARGV[3]`. Answers `{1, version}` or `{0, current version or '',
/// current value or ''}`.
const PUT: &str = r"
local current = redis.call('HGET', KEYS[1], 'version')
if (current or '') ~= ARGV[1] then
  return {0, current or '', redis.call('HGET', KEYS[1], 'value') or ''}
end
local version = string.format('%d', (tonumber(current) or 0) + 1)
redis.call('HSET', KEYS[1], 'version', version, 'value', ARGV[2])
redis.call('PUBLISH', ARGV[3], version .. ' ' .. ARGV[4])
return {1, tonumber(version)}
";

/// `0`: claimed now (`SET NX PX`, the value naming the holder); `1`: another live claim; `2`: done.
const CLAIM: &str = r"
local state = redis.call('GET', KEYS[1])
if state == 'done' then return 2 end
if state then return 1 end
redis.call('SET', KEYS[1], 'claimed:' .. ARGV[2], 'NX', 'PX', ARGV[1])
return 0
";

/// Deletes the holder's own claim, never another holder's or a done-marker.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == 'claimed:' .. ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// The longest expiry sent to Redis (ten years): a larger one would overflow Redis's clock arithmetic.
const MAX_EXPIRY_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

/// How many keys one `SCAN` call asks each node for.
const SCAN_COUNT: u32 = 500;

/// How a [`RedisStore`] talks to Redis.
///
/// | setting | default | what it does |
/// |---|---|---|
/// | [`with_prefix`](Self::with_prefix) | `td-oauth` | the start of every key and of the channel, so apps can share a Redis |
/// | [`with_timeout`](Self::with_timeout) | 1 s | per Redis command (and connecting); slower counts as unavailable |
/// | [`with_ca_certificates`](Self::with_ca_certificates) | the system's | the CAs a `rediss://` server's certificate must chain to |
#[derive(Debug, Clone)]
pub struct StoreConfig {
    prefix: String,
    timeout: Duration,
    ca_certificates: Option<CaCertificates>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { prefix: "td-oauth".to_owned(), timeout: Duration::from_secs(1), ca_certificates: None }
    }
}

impl StoreConfig {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        StoreConfig::default()
    }

    /// The start of every Redis key and of the notice channel: 1 to 64 printable ASCII characters, without
    /// spaces, braces or glob characters (`*?[]\`). Every replica of one app must use the same.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one Redis command (or connecting) may take before the store counts as unavailable.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The CA certificates (PEM) a `rediss://` server's certificate must chain to, in place of the
    /// system's. Certificates are always checked.
    pub fn with_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificates = Some(CaCertificates(pem.into()));
        self
    }

    fn checked_prefix(&self) -> Result<&str, Error> {
        let prefix = self.prefix.as_str();
        let allowed = |c: char| c.is_ascii_graphic() && !matches!(c, '{' | '}' | '*' | '?' | '[' | ']' | '\\');
        if prefix.is_empty() || prefix.len() > 64 || !prefix.chars().all(allowed) {
            return Err(Error::InvalidUrl {
                reason: "the store's key prefix must be 1 to 64 printable ASCII characters without spaces, \
                         braces or `*?[]\\` (such as `td-oauth` or `acme-app`)"
                    .to_owned(),
            });
        }
        Ok(prefix)
    }
}

/// td-oauth-partner's installation store on Redis or Valkey, one server or a Cluster.
///
/// `Clone`: clones share the connection. Every replica of a partner app opens its own store on the same
/// Redis (same prefix); each is told of the others' writes through pub/sub.
///
/// ```no_run
/// use td_oauth_partner::store::InstallationStore;
/// use td_oauth_redis::RedisStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::new("rediss://:password@redis.internal:6380/0")?;
/// let installations = store.list().await?;
/// # let _ = installations;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Shared with the notice subscription's task.
    redis: Arc<Redis>,
    prefix: String,
    /// `PREFIX:installations`.
    channel: String,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("redis", &self.inner.redis.endpoint())
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on the Redis at `url` (`redis://[:password@]host[:port][/db]`, `rediss://` for TLS), with the
    /// default [`StoreConfig`]. Only checks the URL: it connects on first use.
    pub fn new(url: &str) -> Result<RedisStore, Error> {
        RedisStore::with_config(url, StoreConfig::default())
    }

    /// [`new`](Self::new) with `config`.
    pub fn with_config(url: &str, config: StoreConfig) -> Result<RedisStore, Error> {
        let prefix = config.checked_prefix()?.to_owned();
        let redis = Redis::server(url, config.timeout, config.ca_certificates.as_ref())?;
        Ok(RedisStore::from_parts(redis, prefix))
    }

    /// A store on a Redis (or Valkey) Cluster, found from the URLs of some of its nodes, with the default
    /// [`StoreConfig`]. Connects on first use.
    pub fn cluster(nodes: &[&str]) -> Result<RedisStore, Error> {
        RedisStore::cluster_with_config(nodes, StoreConfig::default())
    }

    /// [`cluster`](Self::cluster) with `config`.
    pub fn cluster_with_config(nodes: &[&str], config: StoreConfig) -> Result<RedisStore, Error> {
        let prefix = config.checked_prefix()?.to_owned();
        let redis = Redis::cluster_of(nodes, config.timeout, config.ca_certificates.as_ref())?;
        Ok(RedisStore::from_parts(redis, prefix))
    }

    fn from_parts(redis: Redis, prefix: String) -> RedisStore {
        let channel = format!("{prefix}:installations");
        RedisStore { inner: Arc::new(Inner { redis: Arc::new(redis), prefix, channel }) }
    }

    /// The server's `host:port` (a cluster's first seed node's, followed by ` (cluster)`).
    pub fn endpoint(&self) -> &str {
        self.inner.redis.endpoint()
    }

    /// The Redis key an installation's `key` is stored under.
    pub fn installation_key(&self, key: &str) -> String {
        format!("{}:installation:{{{key}}}", self.inner.prefix)
    }

    /// The Redis key an event's claim and done-marker are stored under.
    pub fn event_key(&self, event_id: &str) -> String {
        format!("{}:event:{{{event_id}}}", self.inner.prefix)
    }

    async fn connection(&self) -> Result<Connection, StoreError> {
        self.inner.redis.connection().await.map_err(|problem| self.inner.redis.store_error(&problem))
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        connection: &mut Connection,
        cmd: &Cmd,
        what: &str,
    ) -> Result<T, StoreError> {
        self.inner.redis.run(connection, cmd, what).await.map_err(|problem| self.inner.redis.store_error(&problem))
    }

    async fn read(&self, connection: &mut Connection, key: &str) -> Result<Option<Versioned>, StoreError> {
        let hmget = redis::cmd("HMGET").arg(self.installation_key(key)).arg("version").arg("value").clone();
        let (version, value) =
            self.run::<(Option<Vec<u8>>, Option<Vec<u8>>)>(connection, &hmget, "HMGET installation").await?;
        match (version, value) {
            (None, None) => Ok(None),
            (Some(version), Some(value)) => Ok(Some(Versioned { version: parse_version(key, &version)?, value })),
            _ => Err(unreadable(key, "it has a version without a value, or a value without a version")),
        }
    }

    /// Every installation key on one node (`None`: the server, or the cluster's routing).
    async fn scan(&self, connection: &mut Connection, node: Option<(&str, u16)>) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}:installation:{{*", self.inner.prefix);
        let start = format!("{}:installation:{{", self.inner.prefix);
        let mut keys = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let scan = redis::cmd("SCAN").arg(&cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_COUNT).clone();
            let (next, found): (String, Vec<Vec<u8>>) = match (node, &mut *connection) {
                (Some((host, port)), Connection::Cluster(cluster)) => {
                    let value = self
                        .inner
                        .redis
                        .run_on_node(cluster, scan, host, port, "SCAN")
                        .await
                        .map_err(|problem| self.inner.redis.store_error(&problem))?;
                    redis::from_redis_value(value).map_err(|_| self.inner.malformed("SCAN"))?
                }
                _ => self.run(connection, &scan, "SCAN").await?,
            };
            for redis_key in found {
                // Keys of another writer that are not UTF-8, or not of this layout, are not installations.
                let Ok(redis_key) = String::from_utf8(redis_key) else { continue };
                if let Some(key) = redis_key.strip_prefix(&start).and_then(|rest| rest.strip_suffix('}')) {
                    keys.push(key.to_owned());
                }
            }
            if next == "0" {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// The `host:port` of every master of the cluster, from `CLUSTER SLOTS`.
    async fn masters(&self, connection: &mut Connection) -> Result<Vec<(String, u16)>, StoreError> {
        let slots = redis::cmd("CLUSTER").arg("SLOTS").clone();
        let value = self.run::<Value>(connection, &slots, "CLUSTER SLOTS").await?;
        let Value::Array(ranges) = value else { return Err(self.inner.malformed("CLUSTER SLOTS")) };
        let mut masters = Vec::new();
        for range in ranges {
            // [start, end, [host, port, id, …], replicas…]
            let master = match range {
                Value::Array(parts) => parts.into_iter().nth(2),
                _ => None,
            };
            let Some(Value::Array(node)) = master else { return Err(self.inner.malformed("CLUSTER SLOTS")) };
            let mut node = node.into_iter();
            let (Some(Value::BulkString(host)), Some(Value::Int(port))) = (node.next(), node.next()) else {
                return Err(self.inner.malformed("CLUSTER SLOTS"));
            };
            let host = String::from_utf8(host).map_err(|_| self.inner.malformed("CLUSTER SLOTS"))?;
            let port = u16::try_from(port).map_err(|_| self.inner.malformed("CLUSTER SLOTS"))?;
            if !masters.contains(&(host.clone(), port)) {
                masters.push((host, port));
            }
        }
        Ok(masters)
    }
}

impl Inner {
    fn malformed(&self, what: &str) -> StoreError {
        StoreError::Unavailable {
            location: self.redis.endpoint().to_owned(),
            reason: format!("the server's answer to {what} was not of the expected shape; is this Redis or Valkey?"),
        }
    }
}

fn parse_version(key: &str, version: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(version)
        .ok()
        .and_then(|version| version.parse::<u64>().ok())
        .filter(|version| *version > 0)
        .ok_or_else(|| unreadable(key, "its version is not a positive whole number"))
}

fn unreadable(key: &str, reason: &str) -> StoreError {
    StoreError::Unreadable { key: key.to_owned(), reason: reason.to_owned() }
}

/// Milliseconds for `PX`: at least 1 (Redis refuses 0), at most [`MAX_EXPIRY_MS`].
fn expiry_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).clamp(1, MAX_EXPIRY_MS)
}

#[async_trait]
impl InstallationStore for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let mut connection = self.connection().await?;
        self.read(&mut connection, key).await
    }

    async fn put(&self, key: &str, expected: Option<u64>, value: &[u8]) -> Result<Put, StoreError> {
        let mut connection = self.connection().await?;
        let expected = expected.map(|version| version.to_string()).unwrap_or_default();
        let put = redis::cmd("EVAL")
            .arg(PUT)
            .arg(1)
            .arg(self.installation_key(key))
            .arg(expected)
            .arg(value)
            .arg(&self.inner.channel)
            .arg(key)
            .clone();
        let answer = self.run::<Value>(&mut connection, &put, "EVAL compare-and-set").await?;
        let Value::Array(parts) = answer else { return Err(self.inner.malformed("the compare-and-set script")) };
        match parts.as_slice() {
            [Value::Int(1), Value::Int(version)] => {
                let version = u64::try_from(*version).map_err(|_| unreadable(key, "its new version is negative"))?;
                Ok(Put::Written { version })
            }
            [Value::Int(0), Value::BulkString(version), Value::BulkString(value)] => {
                let current = if version.is_empty() {
                    None
                } else {
                    Some(Versioned { version: parse_version(key, version)?, value: value.clone() })
                };
                Ok(Put::Conflict { current })
            }
            _ => Err(self.inner.malformed("the compare-and-set script")),
        }
    }

    async fn list(&self) -> Result<Vec<(String, Versioned)>, StoreError> {
        let mut connection = self.connection().await?;
        let mut keys = if self.inner.redis.is_cluster() {
            let mut keys = Vec::new();
            for (host, port) in self.masters(&mut connection).await? {
                keys.extend(self.scan(&mut connection, Some((&host, port))).await?);
            }
            keys
        } else {
            self.scan(&mut connection, None).await?
        };
        // SCAN may return a key more than once.
        keys.sort_unstable();
        keys.dedup();
        let mut listed = Vec::with_capacity(keys.len());
        for key in keys {
            // A key deleted since the scan is simply not listed.
            if let Some(versioned) = self.read(&mut connection, &key).await? {
                listed.push((key, versioned));
            }
        }
        Ok(listed)
    }

    async fn claim_event(&self, event_id: &str, holder: &str, lease: Duration) -> Result<EventClaim, StoreError> {
        let mut connection = self.connection().await?;
        let claim = redis::cmd("EVAL")
            .arg(CLAIM)
            .arg(1)
            .arg(self.event_key(event_id))
            .arg(expiry_ms(lease))
            .arg(holder)
            .clone();
        match self.run::<i64>(&mut connection, &claim, "EVAL claim").await? {
            0 => Ok(EventClaim::Claimed),
            1 => Ok(EventClaim::Busy),
            2 => Ok(EventClaim::Done),
            _ => Err(self.inner.malformed("the claim script")),
        }
    }

    async fn finish_event(&self, event_id: &str, remember: Duration) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let set =
            redis::cmd("SET").arg(self.event_key(event_id)).arg("done").arg("PX").arg(expiry_ms(remember)).clone();
        self.run::<()>(&mut connection, &set, "SET done").await
    }

    async fn release_event(&self, event_id: &str, holder: &str) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        let release = redis::cmd("EVAL").arg(RELEASE).arg(1).arg(self.event_key(event_id)).arg(holder).clone();
        self.run::<i64>(&mut connection, &release, "EVAL release").await.map(|_| ())
    }

    async fn subscribe(&self, sink: NoticeSink) -> Result<Subscription, StoreError> {
        installation_notices::subscribe(Arc::clone(&self.inner.redis), self.inner.channel.clone(), sink).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_prefix_that_would_break_the_key_layout_is_refused() {
        for prefix in ["", "a b", "x{y}", "app*", &"p".repeat(65)] {
            assert!(RedisStore::with_config("redis://127.0.0.1/", StoreConfig::new().with_prefix(prefix)).is_err());
        }
        let store = RedisStore::with_config("redis://127.0.0.1/", StoreConfig::new().with_prefix("acme-app")).unwrap();
        assert_eq!(store.installation_key("acct"), "acme-app:installation:{acct}");
        assert_eq!(store.event_key("e1"), "acme-app:event:{e1}");
    }

    #[test]
    fn expiries_stay_within_what_redis_takes() {
        assert_eq!(expiry_ms(Duration::ZERO), 1);
        assert_eq!(expiry_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(expiry_ms(Duration::MAX), MAX_EXPIRY_MS);
    }
}
