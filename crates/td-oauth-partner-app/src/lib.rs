//! # td-oauth-partner-app
//!
//! A reference Talkdesk partner app that a team can copy and run: an axum service that takes AppConnect
//! events at `POST /events`, keeps installations in a store every replica shares (Redis, Redis Cluster,
//! PostgreSQL; or memory for one process), hands out tokens for every installed account through
//! td-oauth-partner's manager, and answers operators on a separate listener. The binary is
//! `td-oauth-partner-app`; this library holds its parts:
//!
//! - [`args`]: the command line and the environment variables it reads;
//! - [`store_url`]: `--store URL`, checked without ever showing a password;
//! - [`keys`]: the sealing keys from `TD_OAUTH_STORE_KEY` (and `TD_OAUTH_STORE_KEY_PREVIOUS`);
//! - [`fleet`]: the manager, the receiver, and what a delivery goes through;
//! - [`routes`]: the two axum routers; [`views`]: what the operator endpoint answers (no secret by
//!   construction);
//! - [`serve`]: start-up checks, the store opened (`MemoryStore`, td-oauth-redis's `RedisStore`,
//!   td-oauth-postgres's `PostgresStore`), the listeners, graceful shutdown on SIGTERM and SIGINT; `--migrate`.
//!
//! How to run it, and the runbook (replicas, rotating the sealing key, the store down), are in
//! `docs/partner-apps.md`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod args;
pub mod error;
pub mod fleet;
pub mod keys;
pub mod routes;
pub mod serve;
pub mod store_url;
pub mod views;

pub use args::Args;
pub use error::StartupError;
pub use serve::{Settings, run};
