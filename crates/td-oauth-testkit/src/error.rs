//! The crate's one error type: things that go wrong while a test sets the server up.
//! (Bad requests to the running server never become an `Error`: they get OAuth error responses.)

use crate::algorithm::Algorithm;

/// Why starting the server or registering a client failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No loopback port could be bound.
    #[error("could not bind a port on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    /// The server's thread or tokio runtime could not be started.
    #[error("could not start the server's thread or runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The self-signed certificate or the TLS configuration could not be built.
    #[error("could not set up TLS: {0}")]
    Tls(String),
    /// The crypto library failed to generate a key.
    #[error("could not generate a {0} key")]
    KeyGeneration(Algorithm),
    /// A caller-supplied public key is not a valid SubjectPublicKeyInfo for the algorithm.
    #[error("invalid {algorithm} public key: {reason}")]
    InvalidPublicKey {
        /// The algorithm the key was registered for.
        algorithm: Algorithm,
        /// What was wrong with it.
        reason: String,
    },
    /// An algorithm name other than ES256, ES384, ES512, PS256, PS384, PS512.
    #[error("unknown algorithm {0:?}: expected one of ES256, ES384, ES512, PS256, PS384, PS512")]
    UnknownAlgorithm(String),
    /// `redis-server` could not be started or spoken to (see [`RedisServer`](crate::RedisServer)).
    #[error("{0}")]
    Redis(String),
    /// PostgreSQL could not be found, set up or started (see [`PostgresServer`](crate::PostgresServer)).
    #[error("{0}")]
    Postgres(String),
    /// A file or directory a test helper writes could not be made ([`SecretVolume`](crate::SecretVolume)).
    #[error("could not write the test's files: {0}")]
    Io(#[source] std::io::Error),
    /// No client with this client id is registered.
    #[error("no client {0} is registered")]
    UnknownClient(String),
    /// A client with this client id or key id is already registered.
    #[error("a client with {0} is already registered")]
    Duplicate(String),
    /// SoftHSM2 is missing or `softhsm2-util` failed (see [`SoftHsm`](crate::SoftHsm)).
    #[error("SoftHSM2: {0}")]
    SoftHsm(String),
    /// An event delivery could not be set up (see [`EventDelivery`](crate::EventDelivery)).
    #[error("event delivery: {0}")]
    Delivery(String),
}
