//! The one error type of every transport crate: what the core found, plus what can go wrong on the wire.

use std::time::{Duration, SystemTime};

use crate::response::ResponseError;
use crate::retry::Failure;
use crate::{Error as CoreError, OAuthError};

/// Everything that can go wrong getting a token, or calling the API with one, through a transport crate.
///
/// td-oauth-reqwest and td-oauth-ureq both return this type (each re-exports it as its `Error`), so the same
/// failure is the same variant whichever transport sent the request. `Clone`, so that every caller waiting on
/// one shared fetch receives the same error. No message ever holds a key, secret, assertion, token or body:
/// URLs are shown without their query, and causes as the HTTP stack described them.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token endpoint's answer, after the last retry, was not a token: the server's OAuth error with
    /// its description (`invalid_client`, `invalid_grant`, …), an unexpected status such as a 503, or a
    /// malformed body. See [`ResponseError`].
    #[error(transparent)]
    Response(#[from] ResponseError),

    /// td-oauth-core refused the request before anything was sent: bad configuration (account, URL, key,
    /// algorithm, a PKCE verifier, a redirect URI). See [`crate::Error`].
    #[error(transparent)]
    Core(CoreError),

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

    /// A Talkdesk API call failed: its error body, an unexpected status, a malformed answer, a path or
    /// link refused before sending, a list stopped by the paginator. See [`ApiError`](crate::api::ApiError).
    #[error(transparent)]
    Api(#[from] crate::api::ApiError),

    /// A `TokenManager` has no credentials for this account: its `app.installed` event was never passed to
    /// `install` or `handle_event` (or the app was uninstalled since).
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
            Error::Response(ResponseError::OAuth(err)) => Some(err),
            _ => None,
        }
    }

    /// Whether the same request may succeed later: transport failures and timeouts, 5xx, 429 and retryable
    /// OAuth errors. Never true for `invalid_client` and other 4xx, nor for configuration errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Response(err) => err.is_retryable(),
            Error::Transport { .. } | Error::Timeout { .. } | Error::Proxy { .. } => true,
            Error::Api(err) => err.is_retryable(),
            Error::Core(_)
            | Error::Config { .. }
            | Error::Tls { .. }
            | Error::ResponseTooLarge { .. }
            | Error::Redirected { .. }
            | Error::ProxyRefused { .. }
            | Error::UnknownInstallation { .. } => false,
        }
    }

    /// The server's `Retry-After` as a delay from `now`, when it sent one.
    pub fn retry_after(&self, now: SystemTime) -> Option<Duration> {
        match self {
            Error::Response(err) => err.retry_after().map(|r| r.delay_from(now)),
            _ => None,
        }
    }

    /// How the retry policy sees this error; `now` resolves an HTTP-date `Retry-After`.
    pub fn failure(&self, now: SystemTime) -> Failure {
        match self {
            Error::Response(err) => Failure::from_answer(err, now),
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

/// A URL without user info, query and fragment (which may carry secrets), safe for a message or a log.
pub fn display_url(url: &url::Url) -> String {
    shown(url.scheme(), url.host_str().unwrap_or_default(), url.port(), url.path())
}

/// An `http::Uri` as [`display_url`] shows a URL.
pub fn display_uri(uri: &http::Uri) -> String {
    shown(uri.scheme_str().unwrap_or_default(), uri.host().unwrap_or_default(), uri.port_u16(), uri.path())
}

fn shown(scheme: &str, host: &str, port: Option<u16>, path: &str) -> String {
    match port {
        Some(port) => format!("{scheme}://{host}:{port}{path}"),
        None => format!("{scheme}://{host}{path}"),
    }
}

/// A core error that came from the token endpoint's answer is that answer; any other is the core's.
impl From<CoreError> for Error {
    fn from(err: CoreError) -> Self {
        match err {
            CoreError::Response(answer) => Error::Response(answer),
            other => Error::Core(other),
        }
    }
}
