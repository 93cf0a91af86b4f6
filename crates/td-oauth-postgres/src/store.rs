//! [`PostgresStore`]: td-oauth-partner's [`InstallationStore`] on PostgreSQL. Each write is one statement
//! (one transaction): the compare-and-set `UPDATE … WHERE version = $n` (or `INSERT … ON CONFLICT DO
//! NOTHING`) and its `pg_notify`, so a write is announced exactly when it commits. Event claims are rows
//! with an expiry, taken by one `INSERT … ON CONFLICT DO UPDATE … WHERE expired`; rows past their expiry
//! are deleted now and then, so the table stays bounded.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use td_oauth_partner::store::{EventClaim, InstallationStore, NoticeSink, Put, StoreError, Subscription, Versioned};

use crate::Error;
use crate::connection::Postgres;
use crate::notices;

/// The longest expiry written (ten years), so the timestamp arithmetic never overflows.
const MAX_EXPIRY_MS: i64 = 10 * 365 * 24 * 3600 * 1000;

/// How a [`PostgresStore`] talks to PostgreSQL.
///
/// | setting | default | what it does |
/// |---|---|---|
/// | [`with_timeout`](Self::with_timeout) | 2 s | per statement (and connecting); slower counts as unavailable |
/// | [`with_sweep_interval`](Self::with_sweep_interval) | 60 s | how often a store deletes expired event rows |
/// | [`with_ca_certificates`](Self::with_ca_certificates) | the system's | the CAs the server's TLS certificate must chain to |
#[derive(Clone)]
pub struct StoreConfig {
    timeout: Duration,
    sweep_interval: Duration,
    ca_certificates: Option<Arc<[u8]>>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { timeout: Duration::from_secs(2), sweep_interval: Duration::from_secs(60), ca_certificates: None }
    }
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("timeout", &self.timeout)
            .field("sweep_interval", &self.sweep_interval)
            .field("ca_certificates", &self.ca_certificates.as_ref().map(|pem| format!("{} bytes of PEM", pem.len())))
            .finish()
    }
}

impl StoreConfig {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        StoreConfig::default()
    }

    /// How long one statement (or connecting) may take before the store counts as unavailable.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often (at most) this store deletes event rows past their expiry, after an event call. Every
    /// replica does, so the table holds about the events of the longest remember time.
    pub fn with_sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// The CA certificates (PEM) the server's TLS certificate must chain to, instead of the system's: a
    /// private CA, or a cloud provider's bundle (such as Amazon RDS's). Checked when the store is made.
    pub fn with_ca_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificates = Some(pem.into().into());
        self
    }
}

/// td-oauth-partner's installation store on PostgreSQL.
///
/// `Clone`: clones share the connection. Its tables are created only by [`migrate`](crate::migrate) (or
/// [`PostgresStore::migrate`]); on a database without them, every call answers
/// [`StoreError::NotMigrated`] saying so.
///
/// ```no_run
/// use td_oauth_partner::store::InstallationStore;
/// use td_oauth_postgres::PostgresStore;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::new("postgres://td_oauth:PASSWORD@db.internal:5432/partner_app")?;
/// store.migrate().await?; // once, at deployment, by a user allowed to CREATE TABLE
/// let installations = store.list().await?;
/// # let _ = installations;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Shared with the notice subscription's task.
    postgres: Arc<Postgres>,
    sweep_interval: Duration,
    last_sweep: Mutex<Option<Instant>>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").field("postgres", &self.inner.postgres.location()).finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A store on the database at `url` (`postgres://USER:PASSWORD@HOST[:PORT]/DATABASE`), with the default
    /// [`StoreConfig`]. Only checks the URL and sets TLS up: it connects on first use. TLS follows the URL's
    /// `sslmode`: `require` (or libpq's `verify-full`, `verify-ca`) insists on it, the default `prefer` uses it
    /// when the server offers it, `disable` never; the server's certificate is always checked (chain and
    /// host name) against the system's CAs or [`StoreConfig::with_ca_certificates`].
    pub fn new(url: &str) -> Result<PostgresStore, Error> {
        PostgresStore::with_config(url, StoreConfig::default())
    }

    /// [`new`](Self::new) with `config`.
    pub fn with_config(url: &str, config: StoreConfig) -> Result<PostgresStore, Error> {
        let postgres = Postgres::new(url, config.timeout, config.ca_certificates.as_deref())?;
        Ok(PostgresStore {
            inner: Arc::new(Inner {
                postgres: Arc::new(postgres),
                sweep_interval: config.sweep_interval,
                last_sweep: Mutex::new(None),
            }),
        })
    }

    /// The server's `host:port`.
    pub fn location(&self) -> &str {
        self.inner.postgres.location()
    }

    /// Creates the store's tables if they are missing ([`migrate`](crate::migrate) on this store's
    /// connection).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.postgres.run("the migration", async |connected| crate::migrate(&connected.client).await).await
    }

    /// Deletes expired event rows if this store has not for a while. A failure only delays it.
    async fn sweep_now_and_then(&self) {
        {
            let mut last = self.inner.last_sweep.lock().unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < self.inner.sweep_interval) {
                return;
            }
            *last = Some(Instant::now());
        }
        match self
            .inner
            .postgres
            .run("deleting expired events", async |connected| {
                connected.client.execute(&connected.statements().await?.sweep, &[]).await
            })
            .await
        {
            Ok(deleted) => tracing::debug!(postgres = self.location(), deleted, "expired event rows deleted"),
            Err(err) => tracing::debug!(postgres = self.location(), error = %err, "deleting expired events failed"),
        }
    }
}

/// Column `index` of `row`, as the migration made it; a table altered since answers `Unreadable`.
fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
    key: &str,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|_| StoreError::Unreadable {
        key: key.to_owned(),
        reason: format!("column {index} of its row is not of the type the migration made; was the table altered?"),
    })
}

fn version_of(key: &str, version: i64) -> Result<u64, StoreError> {
    u64::try_from(version).ok().filter(|version| *version > 0).ok_or_else(|| StoreError::Unreadable {
        key: key.to_owned(),
        reason: "its version is not a positive whole number".to_owned(),
    })
}

/// Milliseconds of an expiry: at least 1, at most [`MAX_EXPIRY_MS`].
fn expiry_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX).clamp(1, MAX_EXPIRY_MS)
}

#[async_trait]
impl InstallationStore for PostgresStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let row = self
            .inner
            .postgres
            .run("SELECT", async |connected| {
                connected.client.query_opt(&connected.statements().await?.get, &[&key]).await
            })
            .await?;
        row.map(|row| Ok(Versioned { version: version_of(key, column(&row, 0, key)?)?, value: column(&row, 1, key)? }))
            .transpose()
    }

    async fn put(&self, key: &str, expected: Option<u64>, value: &[u8]) -> Result<Put, StoreError> {
        let written = match expected {
            None => {
                self.inner
                    .postgres
                    .run("INSERT", async |connected| {
                        connected.client.query_opt(&connected.statements().await?.insert, &[&key, &value]).await
                    })
                    .await?
            }
            Some(expected) => match i64::try_from(expected) {
                Ok(expected) => {
                    self.inner
                        .postgres
                        .run("UPDATE", async |connected| {
                            connected
                                .client
                                .query_opt(&connected.statements().await?.update, &[&key, &value, &expected])
                                .await
                        })
                        .await?
                }
                // No stored version is that large: a conflict.
                Err(_) => None,
            },
        };
        match written {
            Some(row) => Ok(Put::Written { version: version_of(key, column(&row, 0, key)?)? }),
            None => Ok(Put::Conflict { current: self.get(key).await? }),
        }
    }

    async fn list(&self) -> Result<Vec<(String, Versioned)>, StoreError> {
        let rows = self
            .inner
            .postgres
            .run("SELECT", async |connected| connected.client.query(&connected.statements().await?.list, &[]).await)
            .await?;
        rows.into_iter()
            .map(|row| {
                let key: String = column(&row, 0, "(a listed key)")?;
                let version = version_of(&key, column(&row, 1, &key)?)?;
                let value = column(&row, 2, &key)?;
                Ok((key, Versioned { version, value }))
            })
            .collect()
    }

    async fn claim_event(&self, event_id: &str, holder: &str, lease: Duration) -> Result<EventClaim, StoreError> {
        let lease = expiry_ms(lease);
        let claim = async {
            // A live row that expires between the two statements is gone when the state is read: try again.
            for _ in 0..3 {
                let claimed = self
                    .inner
                    .postgres
                    .run("claiming an event", async |connected| {
                        connected
                            .client
                            .query_opt(&connected.statements().await?.claim, &[&event_id, &lease, &holder])
                            .await
                    })
                    .await?;
                if claimed.is_some() {
                    return Ok(EventClaim::Claimed);
                }
                let state = self
                    .inner
                    .postgres
                    .run("reading an event", async |connected| {
                        connected.client.query_opt(&connected.statements().await?.state, &[&event_id]).await
                    })
                    .await?;
                let state: Option<String> = state.map(|row| column(&row, 0, event_id)).transpose()?;
                match state.as_deref() {
                    Some("done") => return Ok(EventClaim::Done),
                    Some(_) => return Ok(EventClaim::Busy),
                    None => {}
                }
            }
            Ok(EventClaim::Busy)
        };
        let result = claim.await;
        self.sweep_now_and_then().await;
        result
    }

    async fn finish_event(&self, event_id: &str, remember: Duration) -> Result<(), StoreError> {
        let remember = expiry_ms(remember);
        self.inner
            .postgres
            .run("finishing an event", async |connected| {
                connected.client.execute(&connected.statements().await?.finish, &[&event_id, &remember]).await
            })
            .await?;
        self.sweep_now_and_then().await;
        Ok(())
    }

    async fn release_event(&self, event_id: &str, holder: &str) -> Result<(), StoreError> {
        self.inner
            .postgres
            .run("releasing an event", async |connected| {
                connected.client.execute(&connected.statements().await?.release, &[&event_id, &holder]).await
            })
            .await
            .map(|_| ())
    }

    async fn subscribe(&self, sink: NoticeSink) -> Result<Subscription, StoreError> {
        // Listening works without the tables; a store that cannot be used should not seem to. Preparing the
        // statements needs them.
        self.inner
            .postgres
            .run("checking the tables", async |connected| connected.statements().await.map(|_| ()))
            .await?;
        notices::subscribe(Arc::clone(&self.inner.postgres), sink).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_stay_within_what_is_written() {
        assert_eq!(expiry_ms(Duration::ZERO), 1);
        assert_eq!(expiry_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(expiry_ms(Duration::MAX), MAX_EXPIRY_MS);
    }
}
