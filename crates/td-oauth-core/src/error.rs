//! td-oauth-core's error: configuration and input refused, and, wrapped, the smaller errors of one concern
//! each ([`KeyError`](crate::key::KeyError) for keys, [`ResponseError`](crate::response::ResponseError) for
//! the token endpoint's answers, [`RedirectError`](crate::authorize::RedirectError) for the authorize
//! redirect), which the functions of those concerns return on their own.

use crate::oauth_error::{OAuthError, RetryAfter};
use crate::response::ResponseError;

/// Everything that can go wrong in td-oauth-core.
///
/// Each variant is something a caller can act on: fix the configuration (`Invalid*`, [`Error::Key`]), show
/// the server's answer ([`Error::Response`], [`Error::Redirect`]), or retry later ([`Error::is_retryable`]).
/// No message ever holds a key, secret, assertion or token.
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

    /// The private key was refused (see [`KeyError`](crate::key::KeyError)).
    #[error(transparent)]
    Key(#[from] crate::key::KeyError),

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
        problem: crate::sealed::SealedProblem,
    },

    /// The crypto backend failed to sign or the system random source failed.
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),

    /// The clock is before 1970, so `iat`/`exp` cannot be written.
    #[error("the system clock is before the Unix epoch; fix the clock")]
    ClockBeforeEpoch,

    /// The token endpoint's answer was not a token (see [`ResponseError`](crate::response::ResponseError)).
    #[error(transparent)]
    Response(#[from] crate::response::ResponseError),

    /// The authorize redirect was refused (see [`RedirectError`](crate::authorize::RedirectError)).
    #[error(transparent)]
    Redirect(#[from] crate::authorize::RedirectError),
}

impl Error {
    /// The server's OAuth error, when that is what this is.
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            Error::Response(ResponseError::OAuth(err)) => Some(err),
            _ => None,
        }
    }

    /// Whether sending the same request again later may succeed (see [`ResponseError::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Response(err) if err.is_retryable())
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            Error::Response(err) => err.retry_after(),
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
