//! # td-oauth-postgres
//!
//! td-oauth-partner's installation store ([`InstallationStore`](td_oauth_partner::store::InstallationStore))
//! on PostgreSQL, where most partner backends already keep their data: every replica of a partner app
//! opens a [`PostgresStore`] on the same database, and each installation applied on one is served by all
//! of them, and survives restarts.
//!
//! - Installations: one row each (the sealed record, opaque here, and its version). A write is one
//!   statement: `UPDATE … WHERE version = $n` (or `INSERT … ON CONFLICT DO NOTHING`) together with
//!   `pg_notify`, so a write and its notice commit together, and of two replicas writing on one version,
//!   one wins and the other is told what is stored.
//! - Notices: `LISTEN` on a connection of its own, checked every few seconds and made again when it drops,
//!   reported as `Notice::Lost` and `Notice::Resumed`.
//! - Events: a claim is a row with an expiry (the lease), taken atomically; a handled event is a row
//!   remembered for a given time. Expired rows are deleted by the stores now and then
//!   ([`StoreConfig::with_sweep_interval`]), so the table stays bounded.
//! - The schema is created only when asked: [`migrate`], [`PostgresStore::migrate`], or the SQL in
//!   [`MIGRATION`] (also in docs/installation-store.md). Until then every call answers
//!   `StoreError::NotMigrated` with what to run.
//! - Errors name the server's `host:port` and a SQLSTATE, never the URL's password nor the server's text.
//!
//! - TLS (rustls on ring): used whenever the server offers it (`sslmode=prefer`, the default), insisted on
//!   with `sslmode=require` (libpq's `verify-full` and `verify-ca` read as `require`), never with
//!   `sslmode=disable`. The server's certificate is always checked, chain and host name, against the
//!   system's CAs or [`StoreConfig::with_ca_certificates`]; SCRAM binds to the TLS channel when the server
//!   offers it.
//!
//! ## Not in scope
//!
//! Client certificates and libpq's file options (`sslrootcert`, `sslcert`, `sslkey`: refused, saying what
//! to use instead). The blocking face is td-oauth-partner's adapter, which drives any store from blocking
//! code.
//!
//! ## Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use td_oauth_partner::store::{InstallationStore, Notice};
//! use td_oauth_postgres::PostgresStore;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PostgresStore::new(&std::env::var("DATABASE_URL")?)?;
//! store.migrate().await?; // once per database, by a user allowed to CREATE TABLE
//! let _subscription = store
//!     .subscribe(Arc::new(|notice: Notice| tracing::info!(?notice, "installation changed")))
//!     .await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod connection;
mod error;
mod migration;
mod notices;
mod statements;
mod store;
mod tls;

pub use error::Error;
pub use migration::{MIGRATION, migrate};
pub use store::{PostgresStore, StoreConfig};
/// The client crate, for [`migrate`]'s `Client`.
pub use tokio_postgres;
