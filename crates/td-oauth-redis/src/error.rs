//! The crate's one error type. Redis being down or slow is not an error: tokens are then fetched directly.

/// What can go wrong setting up a [`FleetCache`](crate::FleetCache) or a
/// [`BlockingFleetCache`](crate::BlockingFleetCache).
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
}
