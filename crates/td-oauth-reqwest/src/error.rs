//! The crate's one error type.

use std::time::Duration;

use td_oauth_core::Failure;

/// Everything that can go wrong getting a token or calling the API with one.
///
/// Each variant is something a caller can act on. No message ever holds a key, secret, assertion or token:
/// the core's errors describe bodies rather than quote them, and transport failures name the endpoint
/// (scheme, host and path only) and the cause. `Clone`, so every caller waiting on one shared fetch gets
/// the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// What td-oauth-core found: bad configuration (account, URL, key, algorithm), the server's OAuth
    /// error with its description (`invalid_client`, `invalid_grant`, …), an unexpected status, or a
    /// malformed response. See [`td_oauth_core::Error`].
    #[error(transparent)]
    Core(#[from] td_oauth_core::Error),

    /// The transport's own configuration was refused (a root certificate that does not parse, no CA
    /// certificates on the system, a user agent that is not a valid header).
    #[error("invalid transport configuration: {reason}")]
    Config {
        /// What was wrong and what to do.
        reason: String,
    },

    /// The request did not complete: connection refused or reset, TLS failure, the connection dropped
    /// before the whole answer arrived. Token requests are retried on this before it is returned.
    #[error("could not reach {url}: {reason}")]
    Transport {
        /// The endpoint (scheme, host and path; no query).
        url: String,
        /// The cause, as the HTTP stack described it.
        reason: String,
    },

    /// No complete answer within the per-attempt timeout (connect plus response). Retried like
    /// [`Error::Transport`] before it is returned.
    #[error(
        "{url} did not answer in time{}; raise the timeout if the network is slow",
        timeout.map(|t| format!(" ({} ms)", t.as_millis())).unwrap_or_default()
    )]
    Timeout {
        /// The endpoint (scheme, host and path; no query).
        url: String,
        /// The timeout that ran out, when known (an HTTP client's own timeout is not).
        timeout: Option<Duration>,
    },

    /// The token endpoint's answer is larger than the body cap (64 KiB by default): not a token response.
    /// Nothing beyond the cap was read. Never retried.
    #[error(
        "the token endpoint's response is larger than {limit} bytes, so it is not a token response; check the token URL"
    )]
    ResponseTooLarge {
        /// The cap, in bytes ([`Config::max_response_bytes`](crate::Config::max_response_bytes)).
        limit: usize,
    },

    /// The token endpoint answered with a redirect, or a caller-supplied HTTP client followed one. Token
    /// requests carry credentials, so they are never sent on to another URL. Never retried.
    #[error(
        "the token endpoint redirected the request (HTTP {status}); token requests are never redirected: \
         check the token URL, or use an HTTP client that does not follow redirects"
    )]
    Redirected {
        /// The redirect's status, or the final status when the HTTP client followed the redirect.
        status: u16,
    },

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
    /// Whether the same request may succeed later: transport failures and timeouts, 5xx, 429 and
    /// retryable OAuth errors. Never true for `invalid_client` and other 4xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Core(err) => err.is_retryable(),
            Error::Transport { .. } | Error::Timeout { .. } => true,
            Error::Config { .. } | Error::ResponseTooLarge { .. } | Error::Redirected { .. } => false,
            Error::UnknownInstallation { .. } => false,
        }
    }

    /// How the retry policy sees this error.
    pub(crate) fn failure(&self) -> Failure {
        match self {
            Error::Core(err) => Failure::from_answer(err, std::time::SystemTime::now()),
            Error::Transport { .. } | Error::Timeout { .. } => Failure::Transport,
            Error::Config { .. } | Error::ResponseTooLarge { .. } | Error::Redirected { .. } => Failure::Permanent,
            Error::UnknownInstallation { .. } => Failure::Permanent,
        }
    }

    /// The server's `Retry-After` as a delay from now, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Core(err) => err.retry_after().map(|r| r.delay_from(std::time::SystemTime::now())),
            _ => None,
        }
    }

    /// The server's OAuth error (`invalid_client`, …), when that is what this is.
    pub fn oauth(&self) -> Option<&td_oauth_core::OAuthError> {
        match self {
            Error::Core(td_oauth_core::Error::OAuth(err)) => Some(err),
            _ => None,
        }
    }

    /// Classifies a reqwest error for `url`, keeping its cause but never the URL's query.
    pub(crate) fn from_reqwest(err: reqwest::Error, url: &str, timeout: Option<Duration>) -> Self {
        if err.is_timeout() {
            return Error::Timeout { url: url.to_owned(), timeout };
        }
        Error::Transport { url: url.to_owned(), reason: describe(&err.without_url()) }
    }
}

/// The error and its causes, joined: reqwest's own message is often just "error sending request".
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `url` without its query and fragment, safe to put in a message or a log.
pub(crate) fn display_url(url: &reqwest::Url) -> String {
    format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or_default(), port_suffix(url)) + url.path()
}

fn port_suffix(url: &reqwest::Url) -> String {
    url.port().map(|p| format!(":{p}")).unwrap_or_default()
}
