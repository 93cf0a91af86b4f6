//! [`ApiLimits`]: how long an API call may take and how much of its answer is read, the same for both
//! transports' clients and the token manager's lifecycle calls.

use std::time::Duration;

use http::StatusCode;

use super::{ApiError, DEFAULT_MAX_API_RESPONSE_BYTES};

/// The time each API request may take and the most of an answer read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    timeout: Duration,
    max_response_bytes: usize,
}

impl ApiLimits {
    /// Each request given `timeout`, answers read up to [`DEFAULT_MAX_API_RESPONSE_BYTES`].
    pub fn new(timeout: Duration) -> Self {
        ApiLimits { timeout, max_response_bytes: DEFAULT_MAX_API_RESPONSE_BYTES }
    }

    /// Reads at most `bytes` of an answer.
    pub fn with_max_response_bytes(self, bytes: usize) -> Self {
        ApiLimits { max_response_bytes: bytes, ..self }
    }

    /// Gives each request `timeout`, from connecting to the last body byte.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        ApiLimits { timeout, ..self }
    }

    /// The time each request may take.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The most of an answer read.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// The error for an answer with `status` longer than the limit.
    pub fn too_large(&self, status: StatusCode) -> ApiError {
        ApiError::TooLarge { status, limit: self.max_response_bytes }
    }
}
