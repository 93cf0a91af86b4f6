//! The crate's one error type.

use http::StatusCode;

use crate::Algorithm;
use crate::oauth_error::{ErrorCode, OAuthError, RetryAfter};

/// Everything that can go wrong in td-oauth-core.
///
/// Each variant is something a caller can act on: fix the configuration (`Invalid*`, key variants), show the
/// server's answer (`OAuth`, `Authorization`), or retry later ([`Error::is_retryable`]). No message ever holds a
/// key, secret, assertion or token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Talkdesk account name is not a single DNS label.
    #[error("invalid Talkdesk account name {name:?}: {reason}")]
    InvalidAccount {
        /// The name as given (shortened when long).
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An endpoint URL was refused before any request could be built.
    #[error("invalid {which} URL: {reason}")]
    InvalidUrl {
        /// Which URL: `token`, `authorize`, `API base`, `redirect`.
        which: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A value such as a client id, key id, scope or lifetime is not acceptable.
    #[error("invalid {field}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        field: &'static str,
        /// What is wrong with it and what to do.
        reason: String,
    },

    /// An AppConnect event could not be used: a field is missing, malformed or refused.
    #[error("invalid AppConnect event: `{field}` {reason}")]
    InvalidEvent {
        /// The field, as a JSON path (`data.private_key`, `_links.token.href`, …).
        field: String,
        /// What is wrong with it (never its value when it is a secret).
        reason: String,
    },

    /// The private key could not be read: not Base64/PEM, truncated or corrupt.
    #[error("the private key could not be read: {reason}")]
    MalformedKey {
        /// What was wrong (never the key's content).
        reason: String,
    },

    /// A public key or certificate was given where the private key is needed.
    #[error(
        "a {found} was given where the private key is needed: use the private_key Talkdesk issued \
         (Base64 PKCS#8, starting `MIG` for ES256), not the public_key"
    )]
    NotAPrivateKey {
        /// What was found instead.
        found: &'static str,
    },

    /// The key is encrypted with a passphrase.
    #[error(
        "the private key is encrypted; decrypt it first, e.g. `openssl pkcs8 -in key.pem -nocrypt -topk8 -out plain.pem`"
    )]
    EncryptedKey,

    /// The key's type or curve is not one Talkdesk uses.
    #[error("unsupported private key: {reason}")]
    UnsupportedKey {
        /// Which key type was found.
        reason: String,
    },

    /// The RSA key is shorter than 2048 bits.
    #[error("the RSA key has {bits} bits; PS256/PS384/PS512 need at least 2048")]
    RsaKeyTooSmall {
        /// The modulus length found.
        bits: usize,
    },

    /// The algorithm given does not fit the key.
    #[error("algorithm {requested} does not match the key, which is a {key_kind} key (use {suggested})")]
    AlgorithmMismatch {
        /// The algorithm asked for.
        requested: Algorithm,
        /// What the key is, e.g. `P-256 EC`.
        key_kind: &'static str,
        /// The algorithm that fits the key.
        suggested: Algorithm,
    },

    /// The algorithm needs a crate feature that is not enabled.
    #[error(
        "{algorithm} keys need the `{feature}` feature of td-oauth-core (ring has no P-521); enable it in Cargo.toml"
    )]
    FeatureRequired {
        /// The algorithm.
        algorithm: Algorithm,
        /// The Cargo feature that provides it.
        feature: &'static str,
    },

    /// The key that seals tokens in a shared cache is not usable.
    #[error("invalid sealing key: {reason}")]
    InvalidSealingKey {
        /// What was wrong (never the key) and how to make one.
        reason: String,
    },

    /// A token from a shared cache could not be opened: altered, sealed with another key, stored under
    /// another cache key, of an unknown format, or expired. Discard it and fetch a new one.
    #[error("sealed token refused: {problem}")]
    Sealed {
        /// What was wrong with it.
        problem: crate::SealedProblem,
    },

    /// The crypto backend failed to sign or the system random source failed.
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),

    /// The clock is before 1970, so `iat`/`exp` cannot be written.
    #[error("the system clock is before the Unix epoch; fix the clock")]
    ClockBeforeEpoch,

    /// The token endpoint answered with an OAuth error (`invalid_client`, `invalid_grant`, …).
    #[error(transparent)]
    OAuth(#[from] OAuthError),

    /// The authorize redirect carried an `error` instead of a code.
    #[error("authorization failed: {code}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Authorization {
        /// The error code from the redirect, e.g. `access_denied`.
        code: ErrorCode,
        /// The server's `error_description`, if any.
        description: Option<String>,
    },

    /// The redirect's `state` is missing or not the one sent: ignore the redirect (possible CSRF).
    #[error("the redirect's state does not match the authorize request's; ignore this redirect (possible forgery)")]
    StateMismatch,

    /// The authorize redirect could not be read.
    #[error("invalid authorize redirect: {reason}")]
    InvalidRedirect {
        /// What was wrong.
        reason: String,
    },

    /// A response that claims success (or an error) but whose body cannot be used.
    #[error("malformed token response (HTTP {status}): {reason}")]
    MalformedResponse {
        /// The HTTP status.
        status: StatusCode,
        /// What was wrong with the body.
        reason: String,
    },

    /// A status that carries no OAuth error: a proxy's 502, a 503, a 429 without a JSON body, a redirect.
    #[error("the token endpoint answered HTTP {status} ({detail}){}", retry_after.map(|r| format!("; retry after {r}")).unwrap_or_default())]
    UnexpectedStatus {
        /// The HTTP status.
        status: StatusCode,
        /// What the body looked like (never its content).
        detail: String,
        /// The `Retry-After` header, if any.
        retry_after: Option<RetryAfter>,
    },
}

impl Error {
    /// Whether sending the same request again later may succeed: 5xx, 429 and OAuth errors such as
    /// `temporarily_unavailable`. Never true for other 4xx such as `invalid_client`.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::OAuth(err) => err.is_retryable(),
            Error::UnexpectedStatus { status, .. } | Error::MalformedResponse { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
            _ => false,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            Error::OAuth(err) => err.retry_after(),
            Error::UnexpectedStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// A caller-supplied value shortened and stripped of control characters, safe to put in a message.
pub(crate) fn excerpt(value: &str) -> String {
    sanitize(value, 64)
}

/// A server's `error_description`: control characters removed (no log injection), bounded in length.
pub(crate) fn description(text: &str) -> String {
    sanitize(text, 512)
}

/// At most `max` characters of `text`, without control characters, with `…` when cut.
fn sanitize(text: &str, max: usize) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}
