//! td-oauth-core's one error, which td-oauth-reqwest and td-oauth-ureq return too: configuration and input
//! refused, what can go wrong on the wire, and, wrapped, the smaller errors of one concern each ([`KeyError`](crate::key::KeyError) for keys, [`ResponseError`](crate::response::ResponseError) for
//! the token endpoint's answers, [`RedirectError`](crate::authorize::RedirectError) for the authorize
//! redirect), which the functions of those concerns return on their own.

use std::time::{Duration, SystemTime};

use crate::clock::ClockOffset;
use crate::oauth_error::{OAuthError, RetryAfter};
use crate::response::ResponseError;
use crate::retry::Failure;

/// Everything that can go wrong getting a token, with td-oauth-core alone or through a transport crate.
///
/// td-oauth-reqwest and td-oauth-ureq return this type (each re-exports it as its `Error`), so the same
/// failure is the same variant whichever transport sent the request. `Clone`, so that every caller waiting on
/// one shared fetch receives the same error.
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

    /// The private key was refused (see [`KeyError`](crate::key::KeyError)).
    #[error(transparent)]
    Key(#[from] crate::key::KeyError),

    /// A signer outside the process (an HSM, a KMS, a signing service) failed, timed out or returned a
    /// signature of the wrong form (see [`SignerError`](crate::signer::SignerError)). Failures the signer
    /// calls retryable, and timeouts, are retried like [`Error::Transport`].
    #[error(transparent)]
    Signer(#[from] crate::signer::SignerError),

    /// The crypto backend failed to sign or the system random source failed.
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),

    /// The clock is before 1970, so `iat`/`exp` cannot be written.
    #[error("the system clock is before the Unix epoch; fix the clock")]
    ClockBeforeEpoch,

    /// The token endpoint's clock is further from this machine's than assertions are corrected for
    /// ([`MAX_OFFSET_CORRECTION`](crate::clock::offset::MAX_OFFSET_CORRECTION)), as measured from the `Date`
    /// header of its answers: nothing is signed until the clock is set right.
    #[error(
        "{offset} (from its Date header), more than the {} s td-oauth corrects assertions for; set this \
         machine's clock right (NTP), or check the token endpoint's",
        max.as_secs()
    )]
    ClockOffsetTooLarge {
        /// The measured offset.
        offset: ClockOffset,
        /// The largest correction applied.
        max: Duration,
    },

    /// The token endpoint's answer was not a token (see [`ResponseError`](crate::response::ResponseError)).
    #[error(transparent)]
    Response(#[from] crate::response::ResponseError),

    /// The authorize redirect was refused (see [`RedirectError`](crate::authorize::RedirectError)).
    #[error(transparent)]
    Redirect(#[from] crate::authorize::RedirectError),

    /// The transport's configuration was refused before anything was sent: a root certificate that does not
    /// parse, no CA certificates on the system, a user agent that is not a valid header, settings that
    /// contradict each other or that this transport cannot honour. The reason says what to change.
    #[error("invalid transport configuration: {reason}")]
    Config {
        /// What was wrong and what to do.
        reason: String,
    },

    /// The request did not complete: connection refused or reset, DNS failure, the connection dropped
    /// before the whole answer arrived. Token requests are retried on this before it is returned.
    #[error("could not reach {url}: {reason}")]
    Transport {
        /// The endpoint (scheme, host, port and path; no query).
        url: String,
        /// The cause, as the HTTP stack described it (never a request or response body).
        reason: String,
    },

    /// The proxy the request was to go through could not be reached (refused, unknown host, dropped), or
    /// did not open the tunnel to the endpoint (its 502, say). Retried like [`Error::Transport`].
    #[error("the proxy {proxy} failed: {reason}; check that it runs, or the proxy variables (HTTPS_PROXY, NO_PROXY)")]
    Proxy {
        /// The proxy's URL, without user and password.
        proxy: String,
        /// What failed, as the HTTP stack described it.
        reason: String,
    },

    /// The proxy refused to open the tunnel: 407 (it wants credentials, or refused those given) or 403 (its
    /// rules refuse this destination). A configuration error: never retried.
    #[error("the proxy {proxy} refused the tunnel (HTTP {status}): {}", proxy_refusal_hint(*status))]
    ProxyRefused {
        /// The proxy's URL, without user and password.
        proxy: String,
        /// Its status: 407 or 403.
        status: u16,
    },

    /// No complete answer within the per-attempt timeout (connect to last body byte). Retried like
    /// [`Error::Transport`] before it is returned.
    #[error(
        "{url} did not answer in time{}; raise the timeout if the network is slow",
        timeout.map(|t| format!(" ({} ms)", t.as_millis())).unwrap_or_default()
    )]
    Timeout {
        /// The endpoint (scheme, host, port and path; no query).
        url: String,
        /// The timeout that ran out, when known (a caller-supplied HTTP client's own timeout is not).
        timeout: Option<Duration>,
    },

    /// The TLS handshake failed: the server's certificate is not trusted (add your private CA with
    /// `Config::with_root_certificate`) or TLS could not be set up. Never retried.
    #[error("TLS with {url} failed: {reason}")]
    Tls {
        /// The endpoint.
        url: String,
        /// What failed.
        reason: String,
    },

    /// The token endpoint's answer is larger than the body cap (64 KiB by default), so it is not a token
    /// response; nothing beyond the cap was read. Never retried.
    #[error(
        "the token endpoint's response is larger than {limit} bytes (HTTP {status}), so it is not a token \
         response; check the token URL"
    )]
    ResponseTooLarge {
        /// The HTTP status of the oversized answer.
        status: u16,
        /// The cap, in bytes (`Config::max_response_bytes`).
        limit: usize,
    },

    /// The token endpoint answered with a redirect, or a caller-supplied HTTP client followed one. Token
    /// requests carry credentials, so they are never sent on to another URL. Never retried.
    #[error(
        "the token endpoint {url} redirected the request (HTTP {status}); token requests are never redirected: \
         use the final token URL, and an HTTP client that does not follow redirects"
    )]
    Redirected {
        /// The token URL.
        url: String,
        /// The redirect's status, or the final status when the HTTP client followed the redirect.
        status: u16,
    },
}

impl Error {
    /// The server's OAuth error (`invalid_client`, `invalid_grant`, …), when that is what this is.
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            Error::Response(ResponseError::OAuth(err)) => Some(err),
            _ => None,
        }
    }

    /// Whether the same request may succeed later: transport failures and timeouts, 5xx, 429 and retryable
    /// OAuth errors. Never true for `invalid_client` and other 4xx, nor for configuration errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Response(err) => err.is_retryable(),
            Error::Signer(err) => err.is_retryable(),
            Error::Transport { .. } | Error::Timeout { .. } | Error::Proxy { .. } => true,
            _ => false,
        }
    }

    /// The server's `Retry-After`, when it sent one ([`RetryAfter::delay_from`] turns it into a delay).
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            Error::Response(err) => err.retry_after(),
            _ => None,
        }
    }

    /// How the retry policy sees this error; `now` resolves an HTTP-date `Retry-After`.
    pub fn failure(&self, now: SystemTime) -> Failure {
        match self {
            Error::Response(err) => Failure::from_answer(err, now),
            Error::Signer(err) if err.is_retryable() => Failure::Transport,
            Error::Transport { .. } | Error::Timeout { .. } | Error::Proxy { .. } => Failure::Transport,
            _ => Failure::Permanent,
        }
    }
}

fn proxy_refusal_hint(status: u16) -> &'static str {
    if status == 407 {
        "it wants a user and password, or refused those given: put them in the proxy URL \
         (`http://user:password@proxy:port`, with `@`, `:` and `/` percent-encoded)"
    } else {
        "its rules refuse this destination: ask its administrator, or list the host in NO_PROXY if it is \
         reachable without the proxy"
    }
}
