//! The app's state: the token manager that holds every installation, the event receiver in front of it,
//! and the lifecycle each delivery goes through. [`Fleet::deliver`] is the whole of `POST /events`:
//! verified, parsed, deduplicated, applied; answered 200 when every step finished, 503 when one could not
//! (the store or Talkdesk unavailable, new credentials that got no token, an acknowledgement that failed),
//! so that AppConnect delivers the event again and the next delivery finishes it.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use td_oauth_api::GatewayAllowList;
use td_oauth_core::{Account, Scopes};
use td_oauth_partner::{
    Delivery, Error, Event, EventReceiver, InstallationDecision, Lifecycle, NoVerification, TokenManager,
};

use crate::store_url::StoreUrl;
use crate::views::{InstallationState, InstallationView, TokenStatus};

/// Why a token status could not be given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// No installation has this id.
    #[error("no installation has the id `{0}`")]
    UnknownInstallation(String),
    /// The manager could not get a token (its error holds no secret).
    #[error("no token for the installation: {0}")]
    Token(#[from] Error),
}

/// The app's state, shared by both listeners.
#[derive(Debug)]
pub struct Fleet {
    store: StoreUrl,
    manager: TokenManager,
    receiver: Mutex<EventReceiver<NoVerification>>,
    installations: Mutex<BTreeMap<String, InstallationView>>,
}

impl Fleet {
    /// The state over `store`, accepting events whose `_links.root` is on `gateways`.
    pub fn new(store: StoreUrl, gateways: GatewayAllowList, manager: TokenManager) -> Fleet {
        Fleet {
            store,
            manager,
            // The callback secret is checked before the receiver (it is in the URL, which the receiver's
            // verification seam does not see).
            receiver: Mutex::new(EventReceiver::new(NoVerification).with_gateways(gateways)),
            installations: Mutex::new(BTreeMap::new()),
        }
    }

    /// Where installations are kept, for logs and the operator endpoint.
    pub fn store(&self) -> &StoreUrl {
        &self.store
    }

    /// Handles one delivery of `POST /events`.
    pub async fn deliver(&self, request: Request<Bytes>) -> Response<Vec<u8>> {
        let (delivery, response) =
            self.receiver.lock().unwrap_or_else(PoisonError::into_inner).receive(&request, Instant::now());
        match delivery {
            Delivery::Event(event) => {
                let id = event.id().to_owned();
                let kind = event.event_type().to_owned();
                match self.apply(*event).await {
                    Ok(()) => {
                        tracing::info!(event = %id, kind = %kind, "event handled");
                        response
                    }
                    Err(err) => {
                        // Forgotten, the id is handled again when AppConnect delivers it again.
                        self.receiver.lock().unwrap_or_else(PoisonError::into_inner).forget(&id);
                        tracing::warn!(event = %id, kind = %kind, "event not handled, AppConnect will deliver it again: {err}");
                        retry_later()
                    }
                }
            }
            Delivery::Duplicate { id } => {
                tracing::info!(event = %id, "duplicate delivery: already handled");
                response
            }
            Delivery::Refused(reason) => {
                tracing::warn!("delivery refused: {reason}");
                response
            }
            _ => response,
        }
    }

    async fn apply(&self, event: Event) -> Result<(), Error> {
        let announced = event.clone();
        match self.manager.apply(event).await? {
            Lifecycle::Installed { account } => {
                self.record(&announced, &account, InstallationState::Installed);
                // A reference app has nothing to provision: it approves at once.
                self.manager.decide_installation(&announced, InstallationDecision::Approve, None).await?;
                self.record(&announced, &account, InstallationState::Approved);
            }
            Lifecycle::Rotated { account, acknowledged } => {
                acknowledged?;
                self.record(&announced, &account, InstallationState::Rotated);
            }
            Lifecycle::Uninstalled { account, .. } => {
                self.lock().retain(|_, view| view.account != account.as_str());
            }
            Lifecycle::UserLogout { user_id, .. } => {
                tracing::info!(user = %user_id, "user.logout: this app keeps no user session");
            }
            _ => {}
        }
        Ok(())
    }

    fn record(&self, event: &Event, account: &Account, state: InstallationState) {
        let Some(installation_id) = event.installation_id() else { return };
        let Some(current) = self.manager.current_credentials(account) else { return };
        let mut installations = self.lock();
        let previous = installations.get(installation_id).map(|view| view.client_id.clone());
        let previous_client_id = match state {
            InstallationState::Rotated => previous.filter(|id| id != current.client_id().as_str()),
            _ => None,
        };
        installations.insert(
            installation_id.to_owned(),
            InstallationView {
                installation_id: installation_id.to_owned(),
                account: account.as_str().to_owned(),
                state,
                client_id: current.client_id().as_str().to_owned(),
                key_id: current.key_id().map(|kid| kid.as_str().to_owned()),
                previous_client_id,
            },
        );
    }

    /// Every installation, by installation id.
    pub fn installations(&self) -> Vec<InstallationView> {
        self.lock().values().cloned().collect()
    }

    /// A token for the installation through the manager (warm or fetched), described without the token.
    pub async fn token_status(&self, installation_id: &str, scopes: &Scopes) -> Result<TokenStatus, StatusError> {
        let view = self
            .lock()
            .get(installation_id)
            .cloned()
            .ok_or_else(|| StatusError::UnknownInstallation(td_oauth_core::text::excerpt(installation_id)))?;
        let account = Account::new(&view.account).map_err(Error::from)?;
        let token = self.manager.token(&account, scopes).await?;
        let requested: Vec<String> = scopes.iter().map(str::to_owned).collect();
        let granted: Vec<String> = token.scopes().map(str::to_owned).collect();
        let client_id = self
            .manager
            .current_credentials(&account)
            .map_or(view.client_id.clone(), |credentials| credentials.client_id().as_str().to_owned());
        Ok(TokenStatus {
            installation_id: view.installation_id,
            account: view.account,
            client_id,
            scopes: if granted.is_empty() { requested.clone() } else { granted },
            requested_scopes: requested,
            expires_in_seconds: token.expires_at().saturating_duration_since(Instant::now()).as_secs(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, InstallationView>> {
        self.installations.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// 503 with a JSON body: AppConnect delivers again after 5 and 10 minutes.
fn retry_later() -> Response<Vec<u8>> {
    let body = serde_json::json!({ "status": "not handled; deliver again" }).to_string().into_bytes();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}
