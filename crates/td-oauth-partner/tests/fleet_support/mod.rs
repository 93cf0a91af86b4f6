//! What the fleet tests share: a [`WatchedStore`] over the real [`MemoryStore`] that counts reads and can
//! play the part of a replica killed mid-step (claims that lapse at once, a finish that never comes) or of
//! a subscription that cannot start; events for the testkit; sealing keys.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use td_oauth_api::GatewayAllowList;
use td_oauth_core::crypto::SealingKey;
use td_oauth_partner::Event;
use td_oauth_partner::record::SealingKeys;
use td_oauth_partner::store::{
    EventClaim, InstallationStore, MemoryStore, NoticeSink, Put, StoreError, Subscription, Versioned,
};
use td_oauth_testkit::{
    AppEvent, ClientCredentials, Fault, FaultTarget, TEST_APP_ID, TestServer, app_event_with_root, lifecycle_event,
};

/// A [`MemoryStore`] seen through a window: reads counted, and the faults of a fleet in trouble on demand.
#[derive(Debug, Default)]
pub struct WatchedStore {
    pub store: MemoryStore,
    pub gets: AtomicUsize,
    /// Claims lapse at once, as if the replica holding one was killed and its lease ran out.
    pub lapsing_claims: AtomicBool,
    /// `finish_event` fails: the replica is killed after the step, before it records the event as handled.
    pub killed_before_finish: AtomicBool,
    /// `subscribe` fails: no change notices for the managers made while it is set.
    pub refuse_subscribe: AtomicBool,
}

impl WatchedStore {
    pub fn over(store: MemoryStore) -> Arc<Self> {
        Arc::new(WatchedStore { store, ..WatchedStore::default() })
    }

    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
}

fn unavailable(what: &str) -> StoreError {
    StoreError::Unavailable { location: "watched".into(), reason: what.into() }
}

#[async_trait]
impl InstallationStore for WatchedStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.store.get(key).await
    }

    async fn put(&self, key: &str, expected: Option<u64>, value: &[u8]) -> Result<Put, StoreError> {
        self.store.put(key, expected, value).await
    }

    async fn list(&self) -> Result<Vec<(String, Versioned)>, StoreError> {
        self.store.list().await
    }

    async fn claim_event(&self, event_id: &str, holder: &str, lease: Duration) -> Result<EventClaim, StoreError> {
        let lease = if self.lapsing_claims.load(Ordering::SeqCst) { Duration::ZERO } else { lease };
        self.store.claim_event(event_id, holder, lease).await
    }

    async fn finish_event(&self, event_id: &str, remember: Duration) -> Result<(), StoreError> {
        if self.killed_before_finish.load(Ordering::SeqCst) {
            return Err(unavailable("killed before finishing"));
        }
        self.store.finish_event(event_id, remember).await
    }

    async fn release_event(&self, event_id: &str, holder: &str) -> Result<(), StoreError> {
        if self.killed_before_finish.load(Ordering::SeqCst) {
            return Err(unavailable("killed before releasing"));
        }
        self.store.release_event(event_id, holder).await
    }

    async fn subscribe(&self, sink: NoticeSink) -> Result<Subscription, StoreError> {
        if self.refuse_subscribe.load(Ordering::SeqCst) {
            return Err(unavailable("no subscriptions"));
        }
        self.store.subscribe(sink).await
    }
}

pub fn keys() -> SealingKeys {
    SealingKeys::new(SealingKey::new([0x42; 32]))
}

pub fn event(server: &TestServer, body: &[u8]) -> Event {
    Event::parse(body, &GatewayAllowList::default().with_origin(server.base_url()).unwrap()).unwrap()
}

pub fn installed(server: &TestServer, account: &str, client: &ClientCredentials) -> Event {
    event(server, &app_event_with_root(AppEvent::Installed, account, server.token_url(), server.base_url(), client))
}

pub fn rotated(server: &TestServer, account: &str, client: &ClientCredentials) -> Event {
    event(
        server,
        &app_event_with_root(AppEvent::CredentialsRotated, account, server.token_url(), server.base_url(), client),
    )
}

pub fn uninstalled(server: &TestServer, account: &str) -> Event {
    event(
        server,
        &lifecycle_event("app.uninstalled", account, server.base_url(), json!({ "reason": { "type": "other" } })),
    )
}

/// Requests to the Apps API's rotation acknowledgement of `client_id`, answered or not.
pub fn rotation_acks(server: &TestServer, client_id: &str) -> usize {
    server.count(|r| r.path.ends_with(&format!("/credentials/{client_id}/state")))
}

/// Requests to the installation-state call of `account`'s installation (approvals, uninstall
/// acknowledgements).
pub fn state_calls(server: &TestServer, account: &str) -> usize {
    server.count(|r| r.path.ends_with(&format!("/installations/inst-{account}/state")))
}

/// The next call to the Apps API's rotation acknowledgement of `client_id` on `account` answers 503.
pub fn fail_next_rotation_ack(server: &TestServer, account: &str, client_id: &str) {
    let path = format!("/apps/{TEST_APP_ID}/installations/inst-{account}/credentials/{client_id}/state");
    server.inject_on(FaultTarget::Path(Box::leak(path.into_boxed_str())), Fault::status(503), 1);
}

/// The next installation-state call (approval, uninstall acknowledgement) of `account` answers 503.
pub fn fail_next_state_call(server: &TestServer, account: &str) {
    let path = format!("/apps/{TEST_APP_ID}/installations/inst-{account}/state");
    server.inject_on(FaultTarget::Path(Box::leak(path.into_boxed_str())), Fault::status(503), 1);
}
