//! The crate's one error: what went wrong handling an AppConnect event, calling the Apps API, or getting an
//! installation's token.

use td_oauth_api::ApiError;
use td_oauth_core::OAuthError;

/// Everything that can go wrong in a partner app's use of td-oauth. No message holds a key, secret or token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// td-oauth-core's error: a value refused (account name, client id, key, endpoint URL, a policy
    /// setting), or a token request that failed (the server's OAuth error, the network, a timeout).
    #[error(transparent)]
    Core(#[from] td_oauth_core::Error),

    /// An Apps API call (approving an installation, acknowledging a rotation or an uninstall) failed.
    #[error(transparent)]
    Api(#[from] ApiError),

    /// An AppConnect event could not be used: a field is missing, malformed or refused.
    #[error("invalid AppConnect event: `{field}` {reason}")]
    InvalidEvent {
        /// The field, as a JSON path (`data.private_key`, `_links.token.href`, …).
        field: String,
        /// What is wrong with it (never its value when it is a secret).
        reason: String,
    },

    /// A token manager has no credentials for this account: its `app.installed` event was never passed to
    /// `install` or `handle_event` (or the app was uninstalled since).
    #[error(
        "no credentials for account `{account}`: its app.installed event has not reached this manager (TokenManager::install or handle_event; FleetTokenManager::apply, on any replica) or it was uninstalled since"
    )]
    UnknownInstallation {
        /// The account name.
        account: String,
    },

    /// Another replica of the fleet is handling this event (or lifecycle step) now: answer the delivery
    /// with a 5xx (503) so that AppConnect delivers it again later, when it is done or its claim lapsed.
    #[error("event `{event_id}` is being handled by another replica; answer 503 so that AppConnect redelivers it")]
    EventInProgress {
        /// The event's id (or the lifecycle step's name).
        event_id: String,
    },

    /// The installation store failed (see [`StoreError`](crate::store::StoreError)).
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl Error {
    /// The token endpoint's OAuth error (`invalid_client`, …), when that is what this is.
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self {
            Error::Core(err) => err.oauth(),
            _ => None,
        }
    }

    /// Whether the same call may succeed later (see [`td_oauth_core::Error::is_retryable`] and
    /// [`ApiError::is_retryable`]).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Core(err) => err.is_retryable(),
            Error::Api(err) => err.is_retryable(),
            Error::Store(err) => err.is_retryable(),
            Error::EventInProgress { .. } => true,
            Error::InvalidEvent { .. } | Error::UnknownInstallation { .. } => false,
        }
    }
}
