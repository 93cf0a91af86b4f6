//! [`SignFailure`], what a signer returns when it cannot sign, and [`SignerError`], what td-oauth makes of
//! a signer that failed, timed out or returned a signature of the wrong form.

use std::fmt;
use std::time::Duration;

use crate::{Algorithm, KeyId};

/// Why a signer could not sign, as the signer's implementation says it. Put no secret in the reason (no PIN,
/// no credential of the KMS): it reaches logs and error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignFailure {
    reason: String,
    retryable: bool,
}

impl SignFailure {
    /// A failure that trying again will not fix: wrong PIN, key missing, permission denied.
    pub fn new(reason: impl Into<String>) -> Self {
        SignFailure { reason: reason.into(), retryable: false }
    }

    /// A failure that may pass: the KMS unreachable or throttling, a token busy. The token fetch retries it
    /// within its retry policy.
    pub fn retryable(reason: impl Into<String>) -> Self {
        SignFailure { reason: reason.into(), retryable: true }
    }

    /// The failure a transport reports for a signer that panicked instead of answering.
    pub fn panicked() -> Self {
        SignFailure::new("the signer panicked")
    }

    /// The reason.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for SignFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for SignFailure {}

/// A signer outside the process that did not give a usable signature. Each variant names the key (its
/// `kid`) and says what to do; none holds a signature, an assertion or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The signer returned an error.
    #[error("the signer of key {key_id} failed: {reason}{}", if *retryable { " (will be retried)" } else { "" })]
    Failed {
        /// The key id.
        key_id: KeyId,
        /// The signer's reason, cleaned for display.
        reason: String,
        /// Whether the signer said trying again may help.
        retryable: bool,
    },

    /// The signer did not answer within the signer timeout.
    #[error(
        "the signer of key {key_id} gave no signature within {} ms; check that it is reachable, or raise the \
         signer timeout (Config::with_signer_timeout)",
        timeout.as_millis()
    )]
    TimedOut {
        /// The key id.
        key_id: KeyId,
        /// The timeout that ran out.
        timeout: Duration,
    },

    /// The signature is not of the form the algorithm has in a JWS.
    #[error("the signer of key {key_id} returned a signature that is not {algorithm}'s JWS form: {reason}")]
    WrongForm {
        /// The key id.
        key_id: KeyId,
        /// The algorithm announced.
        algorithm: Algorithm,
        /// What is wrong and what to do.
        reason: String,
    },

    /// The first signature does not verify against the public key the signer gave.
    #[error(
        "the signer of key {key_id} returned a signature that does not verify with its public key as \
         {algorithm}: it signs with another key, hash or padding; check the key it is configured with"
    )]
    NotVerified {
        /// The key id.
        key_id: KeyId,
        /// The algorithm announced.
        algorithm: Algorithm,
    },

    /// The signer's public key does not fit the algorithm it announces.
    #[error("the signer of key {key_id} announces {algorithm} but its public key is a {key_kind} key")]
    PublicKeyMismatch {
        /// The key id.
        key_id: KeyId,
        /// The algorithm announced.
        algorithm: Algorithm,
        /// What the public key is, e.g. `P-256 EC`.
        key_kind: &'static str,
    },
}

impl SignerError {
    /// Whether trying again may succeed: a retryable failure, or a timeout.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SignerError::Failed { retryable: true, .. } | SignerError::TimedOut { .. })
    }
}
