//! The crate's one error type: the core's errors (configuration, the server's OAuth answer, a malformed
//! response) plus what can go wrong on the wire.

use std::time::{Duration, SystemTime};

use td_oauth_core::{Failure, OAuthError};

/// Everything that can go wrong getting a token.
///
/// `Clone`, so that every caller waiting on one shared fetch receives the same error. No message ever holds
/// a key, secret, assertion, token or request body.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// From td-oauth-core: bad configuration (account, URL, key, scope), the server's OAuth error
    /// (`invalid_client`, `invalid_grant`, … with its description), a malformed response, or an unexpected
    /// status such as a 503 after the last retry.
    #[error(transparent)]
    Core(#[from] td_oauth_core::Error),

    /// The token endpoint could not be reached, or the connection broke before a whole answer arrived
    /// (refused, reset, dropped, truncated body, DNS). Retried per the [`RetryPolicy`]; this is the last
    /// attempt's failure.
    ///
    /// [`RetryPolicy`]: td_oauth_core::RetryPolicy
    #[error("could not get an answer from the token endpoint {url}: {reason}")]
    Transport {
        /// The token URL.
        url: String,
        /// What failed (from the HTTP client; never a request or response body).
        reason: String,
    },

    /// The token endpoint did not answer within the configured time. Retried per the retry policy; this is
    /// the last attempt's failure. Raise [`Config::timeout`](crate::Config::timeout) if the server is slow.
    #[error("the token endpoint {url} did not answer within {} ms", timeout.as_millis())]
    Timeout {
        /// The token URL.
        url: String,
        /// The per-attempt limit that ran out.
        timeout: Duration,
    },

    /// The TLS handshake failed: the server's certificate is not trusted (add your private CA with
    /// [`Config::add_root_certificate`](crate::Config::add_root_certificate)) or TLS could not be set up.
    #[error("TLS with the token endpoint {url} failed: {reason}")]
    Tls {
        /// The token URL.
        url: String,
        /// What failed.
        reason: String,
    },

    /// The response body is larger than the configured cap; nothing beyond the cap was read. A token
    /// response is a few kilobytes: this is not the token endpoint, or it is misbehaving.
    #[error("the token endpoint's response is larger than {limit} bytes (HTTP {status}); refusing to read it")]
    ResponseTooLarge {
        /// The HTTP status of the oversized answer.
        status: u16,
        /// The cap, [`Config::max_response_bytes`](crate::Config::max_response_bytes).
        limit: usize,
    },

    /// The token endpoint answered with a redirect, or the HTTP client followed one. Token requests carry
    /// credentials, so redirects are never followed: configure the final token URL.
    #[error(
        "the token endpoint {url} answered with a redirect (HTTP {status}); redirects are never followed, use the final token URL"
    )]
    Redirected {
        /// The token URL.
        url: String,
        /// The redirect status (or the status of the answer a caller-supplied client reached by redirecting).
        status: u16,
    },

    /// The HTTP client refused the request before sending it (e.g. an invalid header or URL).
    #[error("the HTTP client refused the token request: {reason}")]
    Request {
        /// What was refused.
        reason: String,
    },

    /// An API request sent by [`BearerAgent`](crate::BearerAgent) failed before an answer arrived.
    #[error("the API request failed: {reason}")]
    Api {
        /// What failed (from the HTTP client; never the token).
        reason: String,
    },

    /// The thread fetching the token for this provider died without an answer (it panicked).
    #[error("the token fetch was abandoned before it finished")]
    FetchAbandoned,

    /// [`TokenManager`](crate::TokenManager) has no credentials for this account: its `app.installed`
    /// event was never passed to [`install`](crate::TokenManager::install) or
    /// [`handle_event`](crate::TokenManager::handle_event) (or the app was uninstalled since).
    #[error("no credentials for account `{account}`: pass its app.installed event to TokenManager::install first")]
    UnknownInstallation {
        /// The account name.
        account: String,
    },
}

impl Error {
    /// The server's OAuth error (`invalid_client`, `invalid_grant`, …), when that is what this is.
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            Error::Core(td_oauth_core::Error::OAuth(err)) => Some(err),
            _ => None,
        }
    }

    /// Whether trying again later may succeed: transport failures, timeouts, 5xx and 429. Never true for an
    /// `invalid_client` or other 4xx, nor for configuration errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Core(err) => err.is_retryable(),
            Error::Transport { .. } | Error::Timeout { .. } | Error::FetchAbandoned => true,
            Error::Tls { .. }
            | Error::ResponseTooLarge { .. }
            | Error::Redirected { .. }
            | Error::Request { .. }
            | Error::Api { .. } => false,
            Error::UnknownInstallation { .. } => false,
        }
    }

    /// The server's `Retry-After` as a delay from now, when it sent one (the same as td-oauth-reqwest's).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Core(err) => err.retry_after().map(|r| r.delay_from(SystemTime::now())),
            _ => None,
        }
    }

    /// How the retry policy should see this failure.
    pub(crate) fn failure(&self, now: SystemTime) -> Failure {
        match self {
            Error::Core(err) => Failure::from_answer(err, now),
            Error::Transport { .. } | Error::Timeout { .. } => Failure::Transport,
            _ => Failure::Permanent,
        }
    }
}
