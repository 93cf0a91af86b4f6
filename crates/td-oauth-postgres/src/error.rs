//! The crate's one error type: setting a store up. Once built, a store's operations answer
//! td-oauth-partner's [`StoreError`](td_oauth_partner::store::StoreError).

/// Why a [`PostgresStore`](crate::PostgresStore) could not be set up, or the migration failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL was refused. The message never repeats it: it holds the password.
    #[error("invalid PostgreSQL URL: {reason}")]
    InvalidUrl {
        /// What was wrong and what to do.
        reason: String,
    },
    /// TLS could not be set up: the CA certificates given are unusable, or the system has none.
    #[error("PostgreSQL TLS: {reason}")]
    Tls {
        /// What was wrong and what to do.
        reason: String,
    },
}
