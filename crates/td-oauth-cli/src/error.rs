//! The command's one error type, and the exit status each kind maps to (the table in `td-oauth --help`).

use std::process::ExitCode;

use td_oauth_api::ApiError;
use td_oauth_core::authorize::RedirectError;
use td_oauth_core::key::KeyError;
use td_oauth_core::response::ResponseError;

use td_oauth_core::http::StatusCode;

/// Why a command stopped. The message is printed as `td-oauth: <message>`; none holds a secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Bad input or configuration, found before anything was sent: fix the command line, a file or the
    /// environment. Exit status 2.
    #[error("{0}")]
    Input(String),
    /// The server refused the credentials or the grant (`invalid_client`, `invalid_grant`, …): trying again
    /// will not help. Exit status 3.
    #[error("{0}")]
    Refused(String),
    /// No usable answer: unreachable, timed out, a temporary refusal (5xx, 429, `temporarily_unavailable`,
    /// …) or a body that cannot be used. Trying again later may help. Exit status 1.
    #[error("{0}")]
    Failed(String),
    /// A proxy refused to open the tunnel (407: credentials; 403: its rules): the proxy's configuration, not
    /// the server's answer nor a hiccup. Exit status 4.
    #[error("{0}")]
    ProxyRefused(String),
    /// Standard output was closed by its reader (`| head -c1`): stop quietly, as other Unix tools do.
    #[error("standard output was closed")]
    Closed,
}

impl CliError {
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Closed => ExitCode::SUCCESS,
            CliError::Failed(_) => ExitCode::from(1),
            CliError::Input(_) => ExitCode::from(2),
            CliError::Refused(_) => ExitCode::from(3),
            CliError::ProxyRefused(_) => ExitCode::from(4),
        }
    }

    /// The same error with its message passed through `f` (e.g. to redact what a server echoed).
    pub(crate) fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            CliError::Input(m) => CliError::Input(f(m)),
            CliError::Refused(m) => CliError::Refused(f(m)),
            CliError::Failed(m) => CliError::Failed(f(m)),
            CliError::ProxyRefused(m) => CliError::ProxyRefused(f(m)),
            CliError::Closed => CliError::Closed,
        }
    }

    /// The same error with a hint about what to do appended to its message.
    pub(crate) fn with_hint(self, hint: &str) -> Self {
        match self {
            CliError::Input(m) => CliError::Input(format!("{m}\nhint: {hint}")),
            CliError::Refused(m) => CliError::Refused(format!("{m}\nhint: {hint}")),
            CliError::Failed(m) => CliError::Failed(format!("{m}\nhint: {hint}")),
            CliError::ProxyRefused(m) => CliError::ProxyRefused(format!("{m}\nhint: {hint}")),
            CliError::Closed => CliError::Closed,
        }
    }
}

/// An answer that may succeed later: the message says so, since the core's calls it a refusal.
fn temporary(err: impl std::fmt::Display) -> CliError {
    CliError::Failed(format!("{err} (this may be temporary: try again later)"))
}

impl From<ResponseError> for CliError {
    /// Decided by what the answer means, not by its format: status and OAuth code together.
    fn from(err: ResponseError) -> Self {
        match &err {
            _ if err.is_retryable() => temporary(err),
            ResponseError::OAuth(_) => CliError::Refused(err.to_string()),
            // A bare 401 or 403 is still the server saying no to these credentials.
            ResponseError::UnexpectedStatus { status, .. }
                if matches!(*status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) =>
            {
                CliError::Refused(err.to_string())
            }
            _ => CliError::Failed(err.to_string()),
        }
    }
}

/// The Talkdesk API's answer: 5xx and 429 may pass, other 4xx are the server saying no, a refused path or
/// link is the command line's, anything else an unusable answer.
impl From<ApiError> for CliError {
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Transport(core) => core.into(),
            _ if err.is_retryable() => temporary(err),
            ApiError::NoUserContext(_) => CliError::Refused(err.to_string()).with_hint(
                "give a user's refresh token (--refresh-token-file, or TALKDESK_REFRESH_TOKEN) from the \
                 authorization-code flow",
            ),
            ApiError::InvalidPath { .. } | ApiError::NoGateway { .. } | ApiError::HostNotAllowed { .. } => {
                CliError::Input(err.to_string())
            }
            _ if err.status().is_some_and(|s| s.is_client_error()) => CliError::Refused(err.to_string()),
            _ => CliError::Failed(err.to_string()),
        }
    }
}

impl From<RedirectError> for CliError {
    fn from(err: RedirectError) -> Self {
        match err {
            RedirectError::Refused { .. } => CliError::Refused(err.to_string()),
            _ => CliError::Input(err.to_string()),
        }
    }
}

impl From<KeyError> for CliError {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::FeatureRequired { algorithm, feature } => CliError::Input(format!(
                "{algorithm} keys need td-oauth built with its `{feature}` feature, which is on by default but \
                 was left out of this binary: build it again with the default features, or with `--features {feature}`"
            )),
            other => CliError::Input(other.to_string()),
        }
    }
}

/// td-oauth-core's error, which both transports return too.
impl From<td_oauth_core::Error> for CliError {
    fn from(err: td_oauth_core::Error) -> Self {
        use td_oauth_core::Error as E;
        match err {
            E::Response(answer) => answer.into(),
            E::Redirect(redirect) => redirect.into(),
            E::Key(key) => key.into(),
            E::InvalidAccount { .. } | E::InvalidUrl { .. } | E::InvalidParameter { .. } | E::Config { .. } => {
                CliError::Input(err.to_string())
            }
            E::ProxyRefused { .. } => CliError::ProxyRefused(err.to_string()),
            other if other.is_retryable() => temporary(other),
            other => CliError::Failed(other.to_string()),
        }
    }
}

#[cfg(feature = "local-server")]
impl From<td_oauth_testkit::Error> for CliError {
    fn from(err: td_oauth_testkit::Error) -> Self {
        CliError::Failed(format!("the local identity server failed: {err}"))
    }
}

/// The fleet cache's error (the file cache shares its sealed format): a key that cannot be used is the
/// command line's, anything else an entry that could not be written or read.
impl From<td_oauth_redis::Error> for CliError {
    fn from(err: td_oauth_redis::Error) -> Self {
        use td_oauth_redis::Error as E;
        match err {
            E::Seal(core) => core.into(),
            E::InvalidUrl { .. } => CliError::Input(err.to_string()),
            other => CliError::Failed(other.to_string()),
        }
    }
}
