//! The crate's one error type. Redis being down or slow is not an error: tokens are then fetched directly.

use crate::sealed::SealedProblem;

/// What can go wrong setting up a [`FleetCache`](crate::FleetCache) or a
/// [`BlockingFleetCache`](crate::BlockingFleetCache), or sealing and opening a token ([`sealed`](crate::sealed)).
///
/// Only configuration is refused; once built, a fleet cache never fails a token request on Redis's
/// account (it fetches the token directly and says so in a `tracing` event).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL was refused. The message never repeats the URL, which may hold a password.
    #[error("invalid Redis URL: {reason}")]
    InvalidUrl {
        /// What was wrong and what to do.
        reason: String,
    },
    /// The runtime a [`BlockingFleetCache`](crate::BlockingFleetCache) drives Redis with could not be started
    /// (the system refused a thread, or the I/O driver). Check the process's thread and file limits.
    #[error("the fleet cache's Redis runtime could not be started: {reason}")]
    Runtime {
        /// The system's reason.
        reason: String,
    },

    /// A token from a shared cache could not be opened: altered, sealed with another key, stored under
    /// another cache key, of an unknown format, or expired. Discard it and fetch a new one.
    #[error("sealed token refused: {problem}")]
    Sealed {
        /// What was wrong with it.
        problem: SealedProblem,
    },
    /// Sealing failed: the crypto backend, the random source or the clock (before 1970) refused.
    #[error(transparent)]
    Seal(#[from] td_oauth_core::Error),
}
