//! Why the app could not start. Every message says what was wrong and what to do, and none holds a
//! secret: not the sealing key, not a password from `--store`, not the callback secret.

/// A start-up failure; the binary prints it and exits with status 2 (configuration) or 1 (the store or a
/// listener is unavailable: try again).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// `--store` is not a store URL this app knows.
    #[error("{0}")]
    Store(String),
    /// A sealing key is missing or malformed.
    #[error("{0}")]
    Key(String),
    /// Neither a callback secret nor `--no-verification`, or another setting refused.
    #[error("{0}")]
    Config(String),
    /// The store could not be reached or refused at start-up.
    #[error("{reason}; start the replica again once the store at {location} answers")]
    StoreUnavailable {
        /// `scheme://host:port`.
        location: String,
        /// What happened (the store's error, which names no password).
        reason: String,
    },
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen {
        /// Which listener.
        what: &'static str,
        /// The address.
        addr: std::net::SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Something else in the process (the runtime, signal handlers).
    #[error("{0}")]
    Runtime(String),
}

impl StartupError {
    /// The exit status: 2 for configuration to fix, 1 for a store or listener to retry.
    pub fn exit_code(&self) -> u8 {
        match self {
            StartupError::Store(_) | StartupError::Key(_) | StartupError::Config(_) => 2,
            StartupError::StoreUnavailable { .. } | StartupError::Listen { .. } | StartupError::Runtime(_) => 1,
        }
    }
}
