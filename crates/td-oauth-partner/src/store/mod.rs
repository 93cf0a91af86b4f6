//! The installation store: where a fleet of partner-app replicas keeps its installations, so that an
//! installation applied on one replica is served by all of them and survives restarts.
//!
//! The store is a seam of storage primitives only; every rule (what a record holds, how it is sealed, when
//! a rotation is acknowledged, how events are deduplicated) is written once in this crate above it. A store
//! keeps opaque values, already sealed, under keys, each with a version for compare-and-set, tells other
//! replicas when a value changes, and records which events were handled.
//!
//! Implementations: td-oauth-redis (Redis, Valkey, Redis Cluster), td-oauth-postgres (PostgreSQL), and
//! [`MemoryStore`] for tests and single processes. `BlockingStore` drives any of them from blocking code
//! (feature `ureq`). The rules above the seam are in [`fleet`](crate::fleet) and [`record`](crate::record).

#[cfg(feature = "ureq")]
mod blocking;
mod memory;
#[cfg(feature = "notices")]
mod notice_relay;
mod seam;

#[cfg(feature = "ureq")]
pub use blocking::BlockingStore;
pub use memory::MemoryStore;
#[cfg(feature = "notices")]
pub use notice_relay::{CHECK_INTERVAL, NoticeConnection, parse_notice, relay_notices};
pub use seam::{EventClaim, InstallationStore, Notice, NoticeSink, Put, StoreError, Subscription, Versioned};
