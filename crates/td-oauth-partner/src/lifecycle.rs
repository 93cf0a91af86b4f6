//! The partner-app lifecycle on the [`TokenManager`], written once for both transports: an [`Event`]
//! applied with the rules Talkdesk's pages imply (listed on [`Lifecycle`]).

use td_oauth_api::{ApiError, ApiGateway};
use td_oauth_core::{Account, Scopes};

use crate::apps_api::{Acknowledged, InstallationDecision, credentials_state_request, installation_state_request};
use crate::events::{Event, EventPayload};
use crate::manager::Manager;
use crate::transport::ManagerTransport;
use crate::{Error, RotationKind};

/// The scope the Apps API's state calls need.
const APPS_WRITE: &str = "apps:write";

/// What [`Manager::apply`](crate::manager::Manager::apply) did with an event. The rules:
///
/// - `app.installed`: the installation is added; approving it is the application's decision, once it has
///   provisioned the account ([`Manager::decide_installation`](crate::manager::Manager::decide_installation)).
/// - `app.credentials_rotated`: the new credentials become current (the previous ones stay as a fallback
///   for the grace), and the rotation is acknowledged **only after the new credentials obtained a token**:
///   acknowledging ends the previous ones at once, so acknowledging new credentials that do not work would
///   leave the installation with none. A 409 (already acknowledged) counts as done; a redelivered rotation
///   whose credentials are already current is not rotated again (the fallback stays).
/// - `app.uninstalled`: the uninstall is acknowledged with the installation's own credentials, then the
///   installation and its providers are dropped. If the acknowledgement fails, the installation is kept and
///   the error returned, so that answering the delivery with a 5xx lets Talkdesk's redelivery try again.
/// - `user.logout`: reported to the application ([`Lifecycle::UserLogout`]), which ends the user's session
///   in the app.
/// - every other type (`app.updated`, trials, unknown ones): returned for the application to handle.
#[derive(Debug)]
#[non_exhaustive]
pub enum Lifecycle {
    /// `app.installed`: the installation was added. Provision the account, then approve (or reject) it with
    /// [`Manager::decide_installation`](crate::manager::Manager::decide_installation).
    Installed {
        /// The account.
        account: Account,
    },
    /// `app.credentials_rotated`: the new credentials are current and obtained a token; the rotation was
    /// acknowledged (`acknowledged`), or acknowledging failed and the old credentials still work for their
    /// grace (the error: try again by redelivery).
    Rotated {
        /// The account.
        account: Account,
        /// How the acknowledgement went.
        acknowledged: Result<Acknowledged, Error>,
    },
    /// `app.uninstalled`: acknowledged, and the installation dropped (`known` says whether the manager
    /// had it).
    Uninstalled {
        /// The account.
        account: Account,
        /// The acknowledgement's answer.
        acknowledged: Acknowledged,
        /// Whether the manager knew the installation.
        known: bool,
    },
    /// `user.logout`: end this user's session in the application.
    UserLogout {
        /// `data.account_name`, when sent.
        account: Option<Account>,
        /// The user.
        user_id: String,
        /// `data.user_email`, when sent.
        user_email: Option<String>,
    },
    /// Any other event: the manager has nothing to do with it.
    Other(Box<Event>),
    /// The event was handled already, by this replica or another of the fleet
    /// ([`FleetManager::apply`](crate::fleet::FleetManager::apply)): nothing was done.
    Duplicate {
        /// The event's id.
        event_id: String,
    },
}

pub(crate) fn missing(what: &str) -> Error {
    Error::Api(ApiError::NoGateway { reason: format!("the event has no {what}, which the Apps API call needs") })
}

/// The gateway, app id and installation id a lifecycle call on `event` needs.
pub(crate) fn target(event: &Event) -> Result<(&ApiGateway, &str, &str), Error> {
    let gateway = event.gateway().ok_or_else(|| missing("_links.root"))?;
    let app_id = event.app_id().ok_or_else(|| missing("app_id"))?;
    let installation_id = event.installation_id().ok_or_else(|| missing("data.installation_id"))?;
    Ok((gateway, app_id, installation_id))
}

pub(crate) fn apps_write() -> Scopes {
    Scopes::new([APPS_WRITE]).unwrap_or_else(|_| Scopes::none())
}

impl<T: ManagerTransport> Manager<T> {
    /// The rest of a rotation once `account`'s current credentials are the new ones: a token with them (its
    /// provider is the new set's and never falls back), then, when `acknowledge`, the rotation acknowledged
    /// for `client_id` with that token ([`Acknowledged::AlreadyDone`] when not). The outer error: no token,
    /// so nothing was acknowledged; the inner one: the acknowledgement's.
    pub(crate) async fn confirm_rotation(
        &self,
        event: &Event,
        account: &Account,
        client_id: &str,
        acknowledge: bool,
    ) -> Result<Result<Acknowledged, Error>, Error> {
        let provider = self.provider(account, &apps_write())?;
        T::token(&provider).await?;
        if !acknowledge {
            return Ok(Ok(Acknowledged::AlreadyDone));
        }
        Ok(async {
            let (gateway, app_id, installation_id) = target(event)?;
            let request = credentials_state_request(gateway, app_id, installation_id, client_id)?;
            let response = T::send_api(&provider, gateway, request).await?;
            Ok(Acknowledged::from_http(&response)?)
        }
        .await)
    }

    /// Applies an event (the rules are listed on [`Lifecycle`]) and says what was done.
    /// Errors: the event's credentials refused ([`rotate`](Self::rotate)'s), the new credentials unable to
    /// get a token (then nothing was acknowledged; the previous ones still work), an uninstall that could
    /// not be acknowledged (the installation is kept).
    pub async fn apply(&self, event: Event) -> Result<Lifecycle, Error> {
        let account_name = event.account_name().map(Account::new).transpose().map_err(Error::from)?;
        match event.payload() {
            EventPayload::Installed(credentials) => {
                let account = credentials.account().clone();
                self.install((**credentials).clone());
                Ok(Lifecycle::Installed { account })
            }
            EventPayload::CredentialsRotated(credentials) => {
                let account = credentials.account().clone();
                // A redelivery of a rotation already applied must not rotate again: that would push the
                // previous credentials, still the fallback, out.
                let applied = self.current_credentials(&account).is_some_and(|current| current.same_set(credentials));
                if !applied {
                    self.rotate((**credentials).clone(), RotationKind::Routine)?;
                }
                let acknowledged =
                    self.confirm_rotation(&event, &account, credentials.client_id().as_str(), true).await?;
                Ok(Lifecycle::Rotated { account, acknowledged })
            }
            EventPayload::Uninstalled { .. } => {
                let account = account_name.ok_or_else(|| missing("data.account_name"))?;
                let acknowledged = self.state_call(&account, &event, InstallationDecision::Approve, None).await?;
                let known = self.uninstall(&account);
                Ok(Lifecycle::Uninstalled { account, acknowledged, known })
            }
            EventPayload::UserLogout { user_id, user_email, .. } => Ok(Lifecycle::UserLogout {
                account: account_name,
                user_id: user_id.clone(),
                user_email: user_email.clone(),
            }),
            _ => Ok(Lifecycle::Other(Box::new(event))),
        }
    }

    /// Approves or rejects the installation (or update) `event` announced, with the installation's own
    /// credentials (scope `apps:write`), on the event's `_links.root`.
    pub async fn decide_installation(
        &self,
        event: &Event,
        decision: InstallationDecision,
        reason: Option<&str>,
    ) -> Result<Acknowledged, Error> {
        let account = event.account_name().ok_or_else(|| missing("data.account_name"))?;
        let account = Account::new(account)?;
        self.state_call(&account, event, decision, reason).await
    }

    pub(crate) async fn state_call(
        &self,
        account: &Account,
        event: &Event,
        decision: InstallationDecision,
        reason: Option<&str>,
    ) -> Result<Acknowledged, Error> {
        let (gateway, app_id, installation_id) = target(event)?;
        let request = installation_state_request(gateway, app_id, installation_id, decision, reason)?;
        let provider = self.provider(account, &apps_write())?;
        let response = T::send_api(&provider, gateway, request).await?;
        Ok(Acknowledged::from_http(&response)?)
    }
}
