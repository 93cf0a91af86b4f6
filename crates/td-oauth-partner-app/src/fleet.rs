//! The app's state: td-oauth-partner's fleet manager over the installation store, the event receiver in
//! front of it, and what each delivery goes through. [`Fleet::deliver`] is the whole of `POST /events`:
//! parsed and checked by the receiver, claimed by id in the store (so each event is handled once per fleet),
//! applied; answered 200 when every step finished, 503 when one could not (the store or Talkdesk
//! unavailable, another replica still at it, new credentials that got no token, an acknowledgement that
//! failed), so that AppConnect delivers the event again and the next delivery finishes it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use td_oauth_api::GatewayAllowList;
use td_oauth_core::crypto::KeyFingerprint;
use td_oauth_core::{Account, Scopes};
use td_oauth_partner::record::{InstallationState, InstallationSummary};
use td_oauth_partner::{
    Delivery, Error, Event, EventPayload, EventReceiver, FleetTokenManager, InstallationDecision, Lifecycle,
    NoVerification,
};

use crate::store_url::StoreUrl;
use crate::views::{InstallationView, TokenStatus};

/// Why a token status could not be given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// No active installation has this id.
    #[error("no active installation has the id `{0}`")]
    UnknownInstallation(String),
    /// The store or the token endpoint failed (the error holds no secret).
    #[error(transparent)]
    Manager(#[from] Error),
}

/// The app's state, shared by both listeners.
#[derive(Debug)]
pub struct Fleet {
    store: StoreUrl,
    manager: FleetTokenManager,
    receiver: Mutex<EventReceiver<NoVerification>>,
    /// Installation id → account, as last read from the store: so that `token-status` still finds an
    /// installation held in memory while the store is down.
    accounts: Mutex<HashMap<String, (String, Option<String>)>>,
    /// The fingerprint of the key new records are sealed with.
    current_key: KeyFingerprint,
}

impl Fleet {
    /// The state over `manager` (whose store `store` names and which seals with the key `current_key`
    /// names), accepting events whose `_links.root` is on `gateways`.
    pub fn new(
        store: StoreUrl,
        gateways: GatewayAllowList,
        manager: FleetTokenManager,
        current_key: KeyFingerprint,
    ) -> Fleet {
        Fleet {
            store,
            manager,
            // The callback secret is checked before the receiver (it is in the URL, which the receiver's
            // verification seam does not see). Its in-process memory of event ids only spares a store
            // round trip: the store's claims are what make each event handled once per fleet.
            receiver: Mutex::new(EventReceiver::new(NoVerification).with_gateways(gateways)),
            accounts: Mutex::new(HashMap::new()),
            current_key,
        }
    }

    /// Where installations are kept, for logs and the operator endpoint.
    pub fn store(&self) -> &StoreUrl {
        &self.store
    }

    /// The fingerprint of the key new records are sealed with.
    pub fn current_key_id(&self) -> String {
        self.current_key.to_string()
    }

    /// The manager.
    pub fn manager(&self) -> &FleetTokenManager {
        &self.manager
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
                    Ok(done) => {
                        tracing::info!(event = %id, kind = %kind, "{done}");
                        response
                    }
                    Err(err) => {
                        // Forgotten here, the id is handled again when AppConnect delivers it again; the
                        // store's record says how far the steps got.
                        self.receiver.lock().unwrap_or_else(PoisonError::into_inner).forget(&id);
                        tracing::warn!(event = %id, kind = %kind, "event not finished, answered 503 so that AppConnect delivers it again: {err}");
                        retry_later()
                    }
                }
            }
            Delivery::Duplicate { id } => {
                tracing::info!(event = %id, "a delivery this replica already handled");
                response
            }
            Delivery::Refused(reason) => {
                tracing::warn!("delivery refused: {reason}");
                response
            }
            _ => response,
        }
    }

    /// Applies one event once for the fleet; says what was done.
    async fn apply(&self, event: Event) -> Result<&'static str, Error> {
        let installed = matches!(event.payload(), EventPayload::Installed(_));
        let announced = installed.then(|| event.clone());
        let done = match self.manager.apply(event).await? {
            Lifecycle::Installed { .. } => "installed",
            Lifecycle::Rotated { acknowledged, .. } => {
                acknowledged?;
                "credentials rotated and the rotation acknowledged"
            }
            Lifecycle::Uninstalled { .. } => "uninstalled and acknowledged",
            Lifecycle::UserLogout { .. } => "user.logout: this app keeps no user session",
            Lifecycle::Duplicate { .. } => "already handled by the fleet",
            _ => "nothing to do for this event type",
        };
        // A reference app has nothing to provision: it approves at once. Once per fleet: the record says
        // whether a replica did; on a duplicate too, in case the approval is what failed the first time.
        if let Some(event) = announced {
            self.manager.decide_installation(&event, InstallationDecision::Approve, None).await?;
            return Ok(if done == "installed" { "installed and approved" } else { done });
        }
        Ok(done)
    }

    /// Every installation in the store, by installation id.
    pub async fn installations(&self) -> Result<Vec<InstallationView>, Error> {
        let summaries = self.summaries().await?;
        let mut views: Vec<InstallationView> = summaries.into_iter().map(view).collect();
        views.sort_by(|a, b| a.installation_id.cmp(&b.installation_id));
        Ok(views)
    }

    /// Seals again with the current key every record sealed with the previous one; how many were.
    pub async fn reseal(&self) -> Result<usize, Error> {
        self.manager.reseal().await
    }

    /// The store's summaries; the active ones' accounts remembered.
    async fn summaries(&self) -> Result<Vec<InstallationSummary>, Error> {
        let summaries = self.manager.installations().await?;
        let mut accounts = self.accounts.lock().unwrap_or_else(PoisonError::into_inner);
        accounts.clear();
        for summary in summaries.iter().filter(|summary| summary.state == InstallationState::Active) {
            accounts.insert(summary.installation_id.clone(), (summary.account.clone(), summary.client_id.clone()));
        }
        Ok(summaries)
    }

    /// The account and client id of an active installation: from the store, or from the last listing while
    /// the store cannot be read (the manager then serves what it holds in memory, or says the store is down).
    async fn account_of(&self, installation_id: &str) -> Result<Option<(String, Option<String>)>, Error> {
        match self.summaries().await {
            Ok(_) => {}
            Err(Error::Store(err)) => {
                let remembered =
                    self.accounts.lock().unwrap_or_else(PoisonError::into_inner).get(installation_id).cloned();
                return match remembered {
                    Some(account) => Ok(Some(account)),
                    None => Err(Error::Store(err)),
                };
            }
            Err(err) => return Err(err),
        }
        Ok(self.accounts.lock().unwrap_or_else(PoisonError::into_inner).get(installation_id).cloned())
    }

    /// A token for the installation through the manager (warm or fetched), described without the token.
    pub async fn token_status(&self, installation_id: &str, scopes: &Scopes) -> Result<TokenStatus, StatusError> {
        let unknown = || StatusError::UnknownInstallation(td_oauth_core::text::excerpt(installation_id));
        let (account, client_id) = self.account_of(installation_id).await?.ok_or_else(unknown)?;
        let account = Account::new(&account).map_err(Error::from)?;
        let token = self.manager.token(&account, scopes).await?;
        let requested: Vec<String> = scopes.iter().map(str::to_owned).collect();
        let granted: Vec<String> = token.scopes().map(str::to_owned).collect();
        Ok(TokenStatus {
            installation_id: installation_id.to_owned(),
            account: account.as_str().to_owned(),
            client_id: client_id.unwrap_or_default(),
            scopes: if granted.is_empty() { requested.clone() } else { granted },
            requested_scopes: requested,
            expires_in_seconds: token.expires_at().saturating_duration_since(Instant::now()).as_secs(),
        })
    }
}

fn view(summary: InstallationSummary) -> InstallationView {
    InstallationView {
        installation_id: summary.installation_id,
        account: summary.account,
        state: summary.state.to_string(),
        approved: summary.approved,
        rotation_acknowledged: summary.rotation_acknowledged,
        client_id: summary.client_id,
        key_id: summary.key_id,
        previous_client_id: summary.previous_client_id,
        version: summary.version,
        sealed_with: summary.sealed_with.to_string(),
    }
}

/// 503 with a JSON body: AppConnect delivers again after 5 and 10 minutes.
fn retry_later() -> Response<Vec<u8>> {
    let body = serde_json::json!({ "status": "not finished; deliver again" }).to_string().into_bytes();
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("300"));
    response
}
