//! The command's one error type, and the exit status each kind maps to.

use std::process::ExitCode;

/// Why a command failed. The message is printed as `td-oauth: <message>`; none holds a secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Bad input or configuration: fix the command line or the environment.
    #[error("{0}")]
    Input(String),
    /// The server refused the request with an OAuth error.
    #[error("{0}")]
    Refused(String),
    /// The server could not be reached, or gave an unusable answer.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Failed(_) => ExitCode::from(1),
            CliError::Input(_) => ExitCode::from(2),
            CliError::Refused(_) => ExitCode::from(3),
        }
    }
}

impl From<td_oauth_core::Error> for CliError {
    fn from(err: td_oauth_core::Error) -> Self {
        use td_oauth_core::Error as E;
        match err {
            E::OAuth(_) | E::Authorization { .. } => CliError::Refused(err.to_string()),
            E::MalformedResponse { .. } | E::UnexpectedStatus { .. } | E::Crypto(_) => {
                CliError::Failed(err.to_string())
            }
            _ => CliError::Input(err.to_string()),
        }
    }
}

/// Both transports' error (td-oauth-reqwest and td-oauth-ureq share td-oauth-core's).
impl From<td_oauth_core::transport::Error> for CliError {
    fn from(err: td_oauth_core::transport::Error) -> Self {
        use td_oauth_core::transport::Error as E;
        match err {
            E::Core(core) => core.into(),
            E::Config { .. } => CliError::Input(err.to_string()),
            other => CliError::Failed(other.to_string()),
        }
    }
}

impl From<td_oauth_testkit::Error> for CliError {
    fn from(err: td_oauth_testkit::Error) -> Self {
        CliError::Failed(format!("the local identity server failed: {err}"))
    }
}
