//! # td-oauth-redis
//!
//! A token cache shared by every process of a fleet through Redis, for [td-oauth-reqwest](td_oauth_reqwest)'s
//! [`TokenProvider`](td_oauth_reqwest::TokenProvider) ([`FleetCache`]) and [td-oauth-ureq](td_oauth_ureq)'s
//! ([`BlockingFleetCache`]): a fleet of N processes sends one token request where it would send N, and a
//! process that starts while the fleet's token is valid sends none. Async and blocking processes share the
//! same entries.
//!
//! ```text
//!  task ─► TokenProvider (in-process cache: warm hits never leave the process)
//!              │ cold
//!              ▼
//!          FleetCache ──► Redis: GET token ── hit ─► done (one round trip)
//!              │ miss
//!              ├─ SET lease NX PX ─ won ─► GET again; still none: GET backoff (the fleet refused? its
//!              │                            error, no request), fetch from Talkdesk, SET token PX ttl (and
//!              │                            DEL backoff; refused: SET backoff PX wait), release lease
//!              └─ lost ─► poll GET until the token appears (bounded wait), else fetch itself
//! ```
//!
//! Tokens are sealed with AES-256-GCM under a [`SealingKey`] you supply (the same in every process), bound
//! to the Redis key they are stored under, so a dump of Redis holds no usable token. Redis keys are a
//! SHA-256 of the token URL, client id and scopes ([`FleetKey`]): no client or scope appears in clear.
//! Refresh tokens are never stored.
//!
//! ## In scope
//!
//! - [`FleetCache`]: [`get_or_fetch`](FleetCache::get_or_fetch) with any fetch function, and
//!   td-oauth-reqwest's [`SharedCache`](td_oauth_reqwest::SharedCache) for client-credentials grants.
//! - [`BlockingFleetCache`]: the same for blocking programs, and td-oauth-ureq's
//!   [`SharedCache`](td_oauth_ureq::SharedCache). It drives Redis from a tokio runtime of its own (one worker
//!   thread); the token request runs on the caller's thread.
//! - A lease (`SET NX PX`, released only by its holder) so one process fetches for the fleet; others wait
//!   at most [`FleetConfig::with_max_wait`], then fetch themselves.
//! - A token a provider drops (refused by the API with a 401, or invalidated) is deleted from Redis too, if
//!   it is still the one stored ([`FleetCache::discard`]), so the fleet does not keep handing it out.
//! - Refresh ahead: a token with little of its lifetime left is refreshed by whoever sees it first, while
//!   everyone keeps using it.
//! - Backoff shared by the fleet: when the token endpoint refuses a provider (429 or `Retry-After` at once,
//!   other retryable failures from the second in a row), the refusal is recorded, sealed, beside the token's
//!   lease (`…:backoff`, same hash tag), and every provider's next request waits until it is over, getting
//!   [`Error::FleetBackoff`](td_oauth_core::Error::FleetBackoff) with the time left instead; capped at the
//!   provider's longest backoff whatever `Retry-After` says, and cleared by a token stored. The rule is
//!   td-oauth-core's [`provider::backoff`](td_oauth_core::provider::backoff); this crate only stores and
//!   reads the records ([`sealed::seal_backoff`], [`sealed::open_backoff`]), through the transports'
//!   `SharedCache::fetch_with_backoff`.
//! - One server ([`FleetCache::new`]) or a Redis (or Valkey) Cluster ([`FleetCache::cluster`], the redis
//!   crate's cluster client): every command names one key, and a fleet key's token and lease share a hash
//!   tag, so each operation touches one slot.
//! - Failure is a fallback, never an error: Redis down, slow (per-command timeout), or at start-up →
//!   direct fetch and a `tracing` warning naming Redis's `host:port` only. A value that does not open
//!   (altered, another key) is deleted and refetched.
//!
//! ## Features
//!
//! - `reqwest` (default): [`FleetCache`] implements td-oauth-reqwest's `SharedCache`, for async programs.
//! - `ureq` (default): [`BlockingFleetCache`], td-oauth-ureq's `SharedCache`, for blocking programs.
//!
//! - `partner`: [`RedisStore`], td-oauth-partner's installation store (the installations a fleet of
//!   partner-app replicas shares) on the same Redis, Valkey or Cluster; see `docs/installation-store.md`.
//!
//! The first two are on by default, since each is the only way to plug the cache into its transport; a program on one
//! transport builds only that one's tree with `default-features = false, features = ["ureq"]` (or
//! `["reqwest"]`). Without either, [`FleetCache::get_or_fetch`] still takes any async fetch function.
//!
//! ## Not in scope
//!
//! Sentinel connections; authorization-code and refresh-token grants
//! (per user, fetched directly). See `docs/fleet-cache.md` for deployment and the failure modes.
//!
//! ## Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use td_oauth_redis::{FleetCache, SealingKey};
//! use td_oauth_reqwest::{Client, ClientId, Config, Credentials, Endpoints, KeyId, PrivateKey, Region, Scopes};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // `openssl rand -base64 32`, the same in every process of the fleet.
//! let key = SealingKey::from_base64(&std::env::var("TD_OAUTH_CACHE_KEY")?)?;
//! let fleet = FleetCache::new("redis://:password@redis.internal:6379/0", key)?;
//!
//! let credentials = Credentials::private_key_jwt(
//!     ClientId::new("0123456789abcdef0123456789abcdef")?,
//!     KeyId::new("fedcba9876543210fedcba9876543210")?,
//!     PrivateKey::parse(&std::env::var("TALKDESK_PRIVATE_KEY")?)?,
//! );
//! let config = Config::default().with_shared_cache(Arc::new(fleet));
//! let client = Client::with_config(&Endpoints::talkdesk("acme", Region::Us)?, credentials, config)?;
//! let provider = client.provider(td_oauth_reqwest::Grant::client_credentials("users:read".parse::<Scopes>()?));
//! let token = provider.token().await?; // from the fleet, or fetched once for it
//! # let _ = token;
//! # Ok(())
//! # }
//! ```
//!
//! A blocking program (td-oauth-ureq) does the same with a [`BlockingFleetCache`]:
//!
//! ```no_run
//! use std::sync::Arc;
//! use td_oauth_redis::{BlockingFleetCache, SealingKey};
//! use td_oauth_ureq::{Client, ClientId, Config, Credentials, Endpoints, Grant, KeyId, PrivateKey, Region};
//!
//! # fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SealingKey::from_base64(&std::env::var("TD_OAUTH_CACHE_KEY")?)?;
//! let fleet = BlockingFleetCache::new("redis://:password@redis.internal:6379/0", key)?;
//! # let credentials = Credentials::private_key_jwt(
//! #     ClientId::new("0123456789abcdef0123456789abcdef")?,
//! #     KeyId::new("fedcba9876543210fedcba9876543210")?,
//! #     PrivateKey::parse(&std::env::var("TALKDESK_PRIVATE_KEY")?)?,
//! # );
//! let config = Config::default().with_shared_cache(Arc::new(fleet));
//! let client = Client::with_config(&Endpoints::talkdesk("acme", Region::Us)?, credentials, config)?;
//! let provider = client.provider(Grant::client_credentials("users:read".parse()?));
//! let token = provider.token()?; // blocks; from the fleet, or fetched once for it
//! # let _ = token;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "ureq")]
mod blocking;
mod cache;
mod config;
mod connection;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "partner")]
mod installation_notices;
#[cfg(feature = "partner")]
mod installations;
pub mod sealed;
#[cfg(feature = "reqwest")]
mod shared;

#[cfg(feature = "ureq")]
pub use blocking::BlockingFleetCache;
pub use cache::FleetCache;
pub use config::FleetConfig;
pub use error::Error;
#[cfg(feature = "partner")]
#[cfg_attr(docsrs, doc(cfg(feature = "partner")))]
pub use installations::{RedisStore, StoreConfig};
pub use sealed::FleetKey;
/// The key tokens are sealed with: td-oauth-core's, here so that a fleet cache needs no other import.
pub use td_oauth_core::crypto::SealingKey;
