//! The seam itself: the [`InstallationStore`] trait and the values it takes and gives.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

/// A stored value and the version the store gave it. Versions start at 1 and grow by one on every write of
/// a key, so a version names one write.
#[derive(Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The version of this write.
    pub version: u64,
    /// The value as written: sealed bytes, opaque to the store.
    pub value: Vec<u8>,
}

impl fmt::Debug for Versioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value is sealed, but its bytes are of no use to a reader of logs either.
        f.debug_struct("Versioned").field("version", &self.version).field("len", &self.value.len()).finish()
    }
}

/// What a compare-and-set [`InstallationStore::put`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// The value was written with this version, and subscribers were told.
    Written {
        /// The new version.
        version: u64,
    },
    /// Another write came first: nothing was written. `current` is what is stored now (`None`: nothing).
    Conflict {
        /// The value stored now.
        current: Option<Versioned>,
    },
}

/// Whether this replica may handle an event ([`InstallationStore::claim_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventClaim {
    /// No one handled the event and no one holds a live claim on it: this replica now holds the claim
    /// for the lease it asked for.
    Claimed,
    /// Another replica holds a live claim: it is handling the event now (answer the delivery so that
    /// AppConnect tries again later).
    Busy,
    /// The event was handled ([`InstallationStore::finish_event`]) within the time it is remembered.
    Done,
}

/// A change another replica (or this one) wrote, as subscribers hear of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The value under `key` was written with `version`.
    Changed {
        /// The key written.
        key: String,
        /// The version written.
        version: u64,
    },
    /// The subscription lost its connection: changes may be missed until [`Notice::Resumed`]. Values held
    /// in memory must be checked against the store until then.
    Lost,
    /// The subscription is connected again; changes made while it was lost were not delivered.
    Resumed,
}

/// Where a subscription's notices go. Called from the store's own task; it must not block.
pub type NoticeSink = Arc<dyn Fn(Notice) + Send + Sync>;

/// A live subscription: notices stop when it is dropped.
pub struct Subscription {
    stop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Subscription {
    /// A subscription that runs `stop` when dropped (for implementations: abort the listening task).
    pub fn new(stop: impl FnOnce() + Send + Sync + 'static) -> Self {
        Subscription { stop: Some(Box::new(stop)) }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

/// Why a store operation failed. Messages name the store's location (`host:port`, never a password) and
/// never a stored value.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or did not answer in time. Tokens already in memory are still served;
    /// what needs the store fails until it is back.
    #[error("the installation store at {location} is unavailable: {reason}")]
    Unavailable {
        /// Where the store is (`host:port`, a socket path).
        location: String,
        /// What happened.
        reason: String,
    },
    /// The store answered but refused: wrong credentials, missing permission, out of memory, read-only.
    #[error("the installation store at {location} refused the operation: {reason}")]
    Refused {
        /// Where the store is.
        location: String,
        /// The store's reason, with what to do about it.
        reason: String,
    },
    /// The store has no td-oauth schema yet (PostgreSQL): run the documented migration first.
    #[error("the installation store at {location} is not set up: {hint}")]
    NotMigrated {
        /// Where the store is.
        location: String,
        /// What to run.
        hint: String,
    },
    /// A stored value cannot be used: not sealed by td-oauth, sealed with a key this process does not
    /// have, or altered.
    #[error("the installation store holds an unreadable value under `{key}`: {reason}")]
    Unreadable {
        /// The key.
        key: String,
        /// Why (never the value).
        reason: String,
    },
}

impl StoreError {
    /// Whether the same operation may succeed later (the store was unavailable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

/// The storage a fleet of replicas shares: sealed values under keys with compare-and-set versions, change
/// notices, and event claims. Implementations keep no rule of their own beyond what each method says, and
/// bound every call by a timeout.
///
/// Keys are short printable strings chosen by this crate (an account name, say); an implementation may
/// prefix them (and must, in Redis Cluster, keep a key's own data in one hash slot).
#[async_trait]
pub trait InstallationStore: Send + Sync + fmt::Debug + 'static {
    /// The value stored under `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Writes `value` under `key` if the stored version is `expected` (`None`: only if nothing is stored),
    /// atomically; on success the version is `expected + 1` (or 1), and every subscriber, on every
    /// replica, is sent [`Notice::Changed`] with it.
    async fn put(&self, key: &str, expected: Option<u64>, value: &[u8]) -> Result<Put, StoreError>;

    /// Every key and its value.
    async fn list(&self) -> Result<Vec<(String, Versioned)>, StoreError>;

    /// Claims `event_id` for `lease` as `holder` unless it was handled or another live claim holds it
    /// (atomically: of replicas claiming at once, one gets [`EventClaim::Claimed`]). A claim not finished
    /// by the end of its lease lapses, so a replica killed while handling an event does not block its
    /// redelivery. `holder` is unique to this claim (a random id), so that only its holder can release it.
    async fn claim_event(&self, event_id: &str, holder: &str, lease: Duration) -> Result<EventClaim, StoreError>;

    /// Records `event_id` as handled for `remember` (then it is forgotten, so the record stays bounded).
    async fn finish_event(&self, event_id: &str, remember: Duration) -> Result<(), StoreError>;

    /// Gives up `holder`'s claim without recording the event as handled, so its redelivery is handled at
    /// once. A claim that lapsed and was taken by another holder since is left alone, as is a handled event.
    async fn release_event(&self, event_id: &str, holder: &str) -> Result<(), StoreError>;

    /// Starts sending every change to `sink` until the returned [`Subscription`] is dropped. The
    /// implementation reconnects by itself, sending [`Notice::Lost`] and [`Notice::Resumed`]. Runs on the
    /// tokio runtime the call is made on.
    async fn subscribe(&self, sink: NoticeSink) -> Result<Subscription, StoreError>;
}
