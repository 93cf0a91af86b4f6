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

/// Text from a server or a caller made safe to show on a terminal or in a log: every character
/// [`is_unsafe_on_terminal`] names removed, at most `max` characters kept, `…` appended when cut. Every
/// message of the crate that quotes such text goes through it, and so does any program that shows server
/// text (the `td-oauth` command's `whoami`), so that one rule decides what reaches a screen.
pub fn sanitize(text: &str, max: usize) -> String {
    let mut kept = text.chars().filter(|&c| !is_unsafe_on_terminal(c));
    let mut out: String = kept.by_ref().take(max).collect();
    if kept.next().is_some() {
        out.push('…');
    }
    out
}

/// Whether `c` can change how a terminal or a log shows the text around it rather than being shown: the
/// control characters (C0, DEL, C1: escapes, bell, carriage return, line feed), the line and paragraph
/// separators, and the bidirectional formatting characters (the embeddings and overrides U+202A–U+202E,
/// the isolates U+2066–U+2069, the marks U+200E, U+200F and U+061C), which reorder what is displayed so that
/// a line can read other than it is.
pub fn is_unsafe_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_shown_loses_controls_and_bidirectional_formatting() {
        let hostile = "a\u{1b}[31mb\u{7}c\rd\u{9b}e\u{202e}f\u{2066}g\u{2069}h\u{200f}i\u{061c}j\u{2028}k\u{202a}l";
        assert_eq!(sanitize(hostile, 100), "a[31mbcdefghijkl");
        for c in ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}'] {
            assert!(is_unsafe_on_terminal(c), "{c:?}");
        }
        // Letters of right-to-left scripts are text, not formatting.
        assert_eq!(sanitize("שלום مرحبا", 100), "שלום مرحبا");
        // Cut after `max` kept characters; removed ones do not count.
        assert_eq!(sanitize("\u{202e}abcdef", 3), "abc…");
        assert_eq!(sanitize("abc\u{202e}", 3), "abc");
        assert_eq!(excerpt(&"x".repeat(70)).chars().count(), 65);
    }
}
