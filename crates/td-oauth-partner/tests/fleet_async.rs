//! The fleet's token manager (async, over td-oauth-reqwest) against the testkit over sockets: several
//! `FleetTokenManager`s sharing one `MemoryStore` are the replicas of a fleet. Every rule of the fleet
//! module has a test here: read-through then warm, restarts, notices and the version check (no token for
//! an uninstalled account more than 2 s after the uninstall), event dedup, each lifecycle step once per
//! fleet (also when a replica dies mid-step), the store down, sealing-key rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unreachable_pub)]
mod fleet_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fleet_support::{WatchedStore, installed, keys, rotated, rotation_acks, state_calls, uninstalled};
use td_oauth_core::crypto::SealingKey;
use td_oauth_partner::record::{InstallationState, SealingKeys};
use td_oauth_partner::store::{EventClaim, InstallationStore, MemoryStore, Put, StoreError};
use td_oauth_partner::{Acknowledged, Error, FleetTokenManager, InstallationDecision, Lifecycle};
use td_oauth_reqwest::{Account, Scopes};
use td_oauth_testkit::{Algorithm, TOKEN_PATH, TestServer};
use td_oauth_transport_tests::setup::{Scheme, config, server};

fn scopes() -> Scopes {
    Scopes::new(["users:read"]).unwrap()
}

fn account(name: &str) -> Account {
    name.parse().unwrap()
}

async fn replica(server: &TestServer, store: &Arc<WatchedStore>) -> FleetTokenManager {
    FleetTokenManager::new(config(server), store.clone(), keys()).await.unwrap()
}

async fn replicas(server: &TestServer, store: &Arc<WatchedStore>, n: usize) -> Vec<FleetTokenManager> {
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(replica(server, store).await);
    }
    all
}

fn token_requests(server: &TestServer, client_id: &str) -> usize {
    server.count(|r| r.path == TOKEN_PATH && r.client_id.as_deref() == Some(client_id))
}

#[tokio::test]
async fn an_installation_applied_on_one_replica_is_served_by_every_replica_warm_without_the_store() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 3).await;
    let client = server.register_client(Algorithm::Es256).unwrap();
    assert!(matches!(fleet[0].apply(installed(&server, "acme", &client)).await.unwrap(), Lifecycle::Installed { .. }));

    for replica in &fleet[1..] {
        assert_eq!(replica.installation_count(), 0, "not read yet");
        let (reads, fetches) = (store.gets(), token_requests(&server, &client.client_id));
        replica.token(&account("acme"), &scopes()).await.unwrap();
        assert_eq!(replica.installation_count(), 1, "read from the store on first use");
        assert_eq!(
            (store.gets(), token_requests(&server, &client.client_id)),
            (reads + 1, fetches + 1),
            "a first token: one store read and one fetch"
        );
    }
    // Warm: no store round trip, however many tokens.
    let reads = store.gets();
    for replica in &fleet {
        for _ in 0..10 {
            replica.token(&account("acme"), &scopes()).await.unwrap();
        }
    }
    assert_eq!(store.gets(), reads, "warm tokens read nothing from the store");
    assert!(matches!(fleet[2].token(&account("nobody"), &scopes()).await, Err(Error::UnknownInstallation { .. })));
}

#[tokio::test]
async fn a_restarted_fleet_serves_every_installation_with_no_event_replayed() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let clients: Vec<_> = (0..3).map(|_| server.register_client(Algorithm::Es256).unwrap()).collect();
    {
        let fleet = replicas(&server, &store, 2).await;
        for (i, client) in clients.iter().enumerate() {
            fleet[i % 2].apply(installed(&server, &format!("acct-{i}"), client)).await.unwrap();
        }
    }
    // Every replica gone; new ones over the same store.
    let restarted = replicas(&server, &store, 2).await;
    for replica in &restarted {
        for i in 0..clients.len() {
            replica.token(&account(&format!("acct-{i}")), &scopes()).await.unwrap();
        }
    }
    let listed = restarted[0].installations().await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|summary| summary.state == InstallationState::Active));

    // A replica that preloads at start serves every first token without reading the store.
    let preloaded = replica(&server, &store).await;
    assert_eq!(preloaded.preload().await.unwrap(), 3);
    let reads = store.gets();
    for i in 0..clients.len() {
        preloaded.token(&account(&format!("acct-{i}")), &scopes()).await.unwrap();
    }
    assert_eq!(store.gets(), reads);
}

#[tokio::test]
async fn an_uninstall_on_one_replica_stops_the_others_at_once_through_notices() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 3).await;
    let client = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &client)).await.unwrap();
    for replica in &fleet {
        replica.token(&account("acme"), &scopes()).await.unwrap();
        assert!(replica.is_listening());
    }
    let Lifecycle::Uninstalled { acknowledged, .. } = fleet[0].apply(uninstalled(&server, "acme")).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(acknowledged, Acknowledged::Done);
    // Within the second: the notice made each replica read the record again.
    for replica in &fleet {
        let refused = replica.token(&account("acme"), &scopes()).await;
        assert!(matches!(refused, Err(Error::UnknownInstallation { .. })), "{refused:?}");
    }
}

#[tokio::test]
async fn without_notices_a_replica_stops_serving_an_uninstalled_account_within_two_seconds() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let writer = replica(&server, &store).await;
    store.refuse_subscribe.store(true, Ordering::SeqCst);
    let deaf = replica(&server, &store).await;
    assert!(!deaf.is_listening());
    let client = server.register_client(Algorithm::Es256).unwrap();
    writer.apply(installed(&server, "acme", &client)).await.unwrap();
    deaf.token(&account("acme"), &scopes()).await.unwrap();

    writer.apply(uninstalled(&server, "acme")).await.unwrap();
    let applied = Instant::now();
    loop {
        match deaf.token(&account("acme"), &scopes()).await {
            Err(Error::UnknownInstallation { .. }) => break,
            Ok(_) => assert!(applied.elapsed() < Duration::from_secs(2), "still served after {:?}", applied.elapsed()),
            Err(other) => panic!("{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(applied.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_lost_subscription_falls_back_to_the_version_check_and_a_resumed_one_rereads_what_it_missed() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 2).await;
    let first = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &first)).await.unwrap();
    fleet[1].token(&account("acme"), &scopes()).await.unwrap();

    // The store drops the subscription (and comes back at once): notices sent meanwhile are lost.
    store.store.set_available(false);
    assert!(!fleet[1].is_listening());
    store.store.set_available(true);
    assert!(fleet[1].is_listening());
    let reads = store.gets();
    fleet[1].token(&account("acme"), &scopes()).await.unwrap();
    assert_eq!(store.gets(), reads + 1, "after a resumed subscription, a held record is read again once");
    fleet[1].token(&account("acme"), &scopes()).await.unwrap();
    assert_eq!(store.gets(), reads + 1, "then warm again");
}

#[tokio::test]
async fn a_rotation_applied_on_one_replica_reaches_the_others_and_is_acknowledged_once() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 3).await;
    let first = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &first)).await.unwrap();
    for replica in &fleet {
        replica.token(&account("acme"), &scopes()).await.unwrap();
    }

    let second = server.register_client(Algorithm::Es256).unwrap();
    let event = rotated(&server, "acme", &second);
    let Lifecycle::Rotated { acknowledged, .. } = fleet[0].apply(event.clone()).await.unwrap() else { panic!() };
    assert_eq!(acknowledged.unwrap(), Acknowledged::Done);
    // The redeliveries, to the other replicas: handled once.
    for replica in &fleet[1..] {
        assert!(matches!(replica.apply(event.clone()).await.unwrap(), Lifecycle::Duplicate { .. }));
    }
    assert_eq!(rotation_acks(&server, &second.client_id), 1);

    // Every replica now gets its tokens with the new credentials.
    let before = token_requests(&server, &second.client_id);
    for replica in &fleet[1..] {
        replica.token(&account("acme"), &scopes()).await.unwrap();
    }
    assert_eq!(token_requests(&server, &second.client_id), before + 2, "one fetch per replica, new client");
    let summary = &fleet[1].installations().await.unwrap()[0];
    assert_eq!(
        (summary.client_id.as_deref(), summary.previous_client_id.as_deref()),
        (Some(second.client_id.as_str()), Some(first.client_id.as_str()))
    );
    assert!(summary.rotation_acknowledged);
}

#[tokio::test]
async fn a_replica_killed_after_acknowledging_a_rotation_leaves_it_acknowledged_for_the_fleet() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 2).await;
    let first = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &first)).await.unwrap();

    // Replica 0 dies after the acknowledgement, before it records the event as handled; its claim lapses.
    store.lapsing_claims.store(true, Ordering::SeqCst);
    store.killed_before_finish.store(true, Ordering::SeqCst);
    let second = server.register_client(Algorithm::Es256).unwrap();
    let event = rotated(&server, "acme", &second);
    fleet[0].apply(event.clone()).await.unwrap();
    store.killed_before_finish.store(false, Ordering::SeqCst);

    // AppConnect redelivers to replica 1, which finds the acknowledgement in the record.
    let Lifecycle::Rotated { acknowledged, .. } = fleet[1].apply(event).await.unwrap() else { panic!() };
    assert_eq!(acknowledged.unwrap(), Acknowledged::AlreadyDone);
    assert_eq!(rotation_acks(&server, &second.client_id), 1, "acknowledged exactly once");
}

#[tokio::test]
async fn a_rotation_whose_acknowledgement_failed_is_finished_by_the_next_delivery_elsewhere() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 2).await;
    let first = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &first)).await.unwrap();
    let second = server.register_client(Algorithm::Es256).unwrap();
    let event = rotated(&server, "acme", &second);

    fleet_support::fail_next_rotation_ack(&server, "acme", &second.client_id);
    let Lifecycle::Rotated { acknowledged, .. } = fleet[0].apply(event.clone()).await.unwrap() else { panic!() };
    assert!(acknowledged.is_err());
    // Released, so the redelivery is handled at once: not rotated again, acknowledged now.
    let Lifecycle::Rotated { acknowledged, .. } = fleet[1].apply(event.clone()).await.unwrap() else { panic!() };
    assert_eq!(acknowledged.unwrap(), Acknowledged::Done);
    let summary = &fleet[0].installations().await.unwrap()[0];
    assert_eq!(summary.previous_client_id.as_deref(), Some(first.client_id.as_str()), "rotated once");
    assert!(matches!(fleet[0].apply(event).await.unwrap(), Lifecycle::Duplicate { .. }));
}

#[tokio::test]
async fn a_rotation_to_credentials_that_get_no_token_is_acknowledged_by_no_replica() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 2).await;
    let first = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &first)).await.unwrap();
    let body = td_oauth_testkit::rotated_to_unknown_client("acme", server.token_url(), &first);
    let mut value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    value["app_id"] = serde_json::json!(td_oauth_testkit::TEST_APP_ID);
    value["_links"]["root"] = serde_json::json!({ "href": server.base_url() });
    let event = fleet_support::event(&server, value.to_string().as_bytes());
    for replica in &fleet {
        let err = replica.apply(event.clone()).await.unwrap_err();
        assert!(err.oauth().is_some_and(|oauth| oauth.is_invalid_client()), "{err:?}");
    }
    assert_eq!(server.count(|r| r.path.contains("/credentials/")), 0);
    // The previous credentials still serve, on every replica, within the grace.
    for replica in &fleet {
        replica.token(&account("acme"), &scopes()).await.unwrap();
    }
}

#[tokio::test]
async fn an_installation_is_approved_once_across_the_fleet() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 3).await;
    let client = server.register_client(Algorithm::Es256).unwrap();
    let event = installed(&server, "acme", &client);
    fleet[0].apply(event.clone()).await.unwrap();
    // Replica 1 approves and is killed before it records the step as handled; its claim lapses.
    store.lapsing_claims.store(true, Ordering::SeqCst);
    store.killed_before_finish.store(true, Ordering::SeqCst);
    let first = fleet[1].decide_installation(&event, InstallationDecision::Approve, None).await.unwrap();
    assert_eq!(first, Acknowledged::Done);
    store.killed_before_finish.store(false, Ordering::SeqCst);
    // Every other try finds the decision in the record: nothing is sent again.
    for replica in &fleet {
        let again = replica.decide_installation(&event, InstallationDecision::Approve, None).await.unwrap();
        assert_eq!(again, Acknowledged::AlreadyDone);
    }
    assert_eq!(state_calls(&server, "acme"), 1, "one approval sent");
    assert_eq!(server.installation_state("inst-acme"), "completed");
    assert!(fleet[2].installations().await.unwrap()[0].approved);
}

#[tokio::test]
async fn an_uninstall_is_acknowledged_once_and_a_failed_one_is_finished_by_the_next_delivery() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 3).await;
    let client = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &client)).await.unwrap();
    for replica in &fleet {
        replica.token(&account("acme"), &scopes()).await.unwrap();
    }
    let event = uninstalled(&server, "acme");

    // The acknowledgement fails on replica 0: the record says uninstalling, and no replica serves it.
    fleet_support::fail_next_state_call(&server, "acme");
    assert!(fleet[0].apply(event.clone()).await.is_err());
    assert_eq!(fleet[0].installations().await.unwrap()[0].state, InstallationState::Uninstalling);
    for replica in &fleet {
        assert!(matches!(replica.token(&account("acme"), &scopes()).await, Err(Error::UnknownInstallation { .. })));
    }
    // The redelivery, to replica 1, acknowledges; the record then keeps no credentials. Replica 1 is killed
    // before it records the event as handled, and its claim lapses.
    store.lapsing_claims.store(true, Ordering::SeqCst);
    store.killed_before_finish.store(true, Ordering::SeqCst);
    let Lifecycle::Uninstalled { acknowledged, .. } = fleet[1].apply(event.clone()).await.unwrap() else { panic!() };
    assert_eq!(acknowledged, Acknowledged::Done);
    let summary = &fleet[2].installations().await.unwrap()[0];
    assert_eq!((summary.state, summary.client_id.as_deref()), (InstallationState::Uninstalled, None));
    store.killed_before_finish.store(false, Ordering::SeqCst);
    // The next redelivery, to replica 2, finds the uninstall done in the record.
    let calls = state_calls(&server, "acme");
    let Lifecycle::Uninstalled { acknowledged, .. } = fleet[2].apply(event).await.unwrap() else { panic!() };
    assert_eq!(acknowledged, Acknowledged::AlreadyDone);
    assert_eq!(state_calls(&server, "acme"), calls, "not acknowledged again");
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_are_handled_by_one_replica() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 3).await;
    let first = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &first)).await.unwrap();
    let second = server.register_client(Algorithm::Es256).unwrap();
    let event = rotated(&server, "acme", &second);
    let (a, b, c) =
        tokio::join!(fleet[0].apply(event.clone()), fleet[1].apply(event.clone()), fleet[2].apply(event.clone()));
    let outcomes = [a, b, c];
    let rotated = outcomes.iter().filter(|o| matches!(o, Ok(Lifecycle::Rotated { .. }))).count();
    let others = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(Lifecycle::Duplicate { .. }) | Err(Error::EventInProgress { .. })))
        .count();
    assert_eq!((rotated, others), (1, 2), "{outcomes:?}");
    assert_eq!(rotation_acks(&server, &second.client_id), 1);
}

#[tokio::test]
async fn with_the_store_down_held_tokens_are_served_and_new_installations_refused() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 2).await;
    let held = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "held", &held)).await.unwrap();
    fleet[1].token(&account("held"), &scopes()).await.unwrap();

    store.store.set_available(false);
    // Past the re-check age: the check fails, the held installation is served all the same.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fleet[1].token(&account("held"), &scopes()).await.unwrap();
    let new = server.register_client(Algorithm::Es256).unwrap();
    let refused = fleet[0].apply(installed(&server, "new", &new)).await.unwrap_err();
    assert!(refused.is_retryable(), "AppConnect is to redeliver: {refused}");
    assert!(refused.to_string().contains("unavailable"), "{refused}");
    assert!(matches!(fleet[1].token(&account("new"), &scopes()).await, Err(Error::Store(_))));

    store.store.set_available(true);
    fleet[0].apply(installed(&server, "new", &new)).await.unwrap();
    fleet[1].token(&account("new"), &scopes()).await.unwrap();
}

#[tokio::test]
async fn the_sealing_key_rotates_with_the_previous_key_accepted_until_records_are_resealed() {
    let server = server(Scheme::Http);
    let store = Arc::new(MemoryStore::new());
    let old = SealingKey::new([1; 32]);
    let new = SealingKey::new([2; 32]);
    let client = server.register_client(Algorithm::Es256).unwrap();
    let before = FleetTokenManager::new(config(&server), store.clone(), SealingKeys::new(old.clone())).await.unwrap();
    before.apply(installed(&server, "acme", &client)).await.unwrap();

    // Nothing secret in the store, in clear.
    let private_key_start = &client.private_key[..40];
    for (_, stored) in store.list().await.unwrap() {
        let text = String::from_utf8_lossy(&stored.value);
        assert!(!text.contains(private_key_start) && !text.contains(&client.client_id), "unsealed");
    }

    let rotating = SealingKeys::new(new.clone()).with_previous(old.clone());
    let after = FleetTokenManager::new(config(&server), store.clone(), rotating).await.unwrap();
    after.token(&account("acme"), &scopes()).await.unwrap();
    assert_eq!(after.installations().await.unwrap()[0].sealed_with, old.id());
    assert_eq!(after.reseal().await.unwrap(), 1);
    assert_eq!(after.installations().await.unwrap()[0].sealed_with, new.id());
    assert_eq!(after.reseal().await.unwrap(), 0);

    // The old key alone no longer opens it, and says why; the new one alone does.
    let stale = FleetTokenManager::new(config(&server), store.clone(), SealingKeys::new(old)).await.unwrap();
    let err = stale.token(&account("acme"), &scopes()).await.unwrap_err().to_string();
    assert!(err.contains(&new.id().to_string()) && err.contains("TD_OAUTH_STORE_KEY"), "{err}");
    let fresh = FleetTokenManager::new(config(&server), store, SealingKeys::new(new)).await.unwrap();
    fresh.token(&account("acme"), &scopes()).await.unwrap();
    // What the operator sees holds no secret.
    let listed = format!("{:?}", fresh.installations().await.unwrap());
    assert!(!listed.contains(private_key_start) && listed.contains(&client.client_id), "{listed}");
}

#[tokio::test]
async fn a_reinstall_is_served_by_a_replica_that_held_the_account_as_uninstalling() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 2).await;
    let first = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &first)).await.unwrap();
    fleet[1].token(&account("acme"), &scopes()).await.unwrap();
    fleet_support::fail_next_state_call(&server, "acme");
    assert!(fleet[0].apply(uninstalled(&server, "acme")).await.is_err());
    assert!(matches!(fleet[1].token(&account("acme"), &scopes()).await, Err(Error::UnknownInstallation { .. })));

    let second = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &second)).await.unwrap();
    fleet[1].token(&account("acme"), &scopes()).await.unwrap();
    assert_eq!(token_requests(&server, &second.client_id), 1, "served with the new installation's credentials");
}

#[tokio::test]
async fn a_compromised_rotation_drops_the_old_credentials_on_every_replica() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet = replicas(&server, &store, 2).await;
    let first = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "acme", &first)).await.unwrap();
    fleet[1].token(&account("acme"), &scopes()).await.unwrap();

    let second = server.register_client(Algorithm::Es256).unwrap();
    let td_oauth_partner::EventPayload::CredentialsRotated(credentials) =
        rotated(&server, "acme", &second).payload().clone()
    else {
        panic!()
    };
    fleet[0].rotate(&credentials, td_oauth_partner::RotationKind::Compromised).await.unwrap();
    let summary = &fleet[1].installations().await.unwrap()[0];
    assert_eq!(
        (summary.client_id.as_deref(), summary.previous_client_id.as_deref()),
        (Some(second.client_id.as_str()), None)
    );
    // The other replica's token of the old credentials is not served: a new one, from the new client.
    fleet[1].token(&account("acme"), &scopes()).await.unwrap();
    assert_eq!(token_requests(&server, &second.client_id), 1);
    assert_eq!(token_requests(&server, &first.client_id), 1, "the old client asked once, before the rotation");
}

/// A partner app's callback on a loopback hyper server: the receiver, then the fleet's manager; a handling
/// that fails is answered with the receiver's `failed` 5xx. `on_failure` runs after each such answer.
fn serve_callback(
    server: &TestServer,
    store: Arc<dyn InstallationStore>,
    on_failure: impl Fn() + Send + Sync + 'static,
) -> (String, std::sync::mpsc::Receiver<Result<Lifecycle, String>>) {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full, Limited};
    use td_oauth_partner::{Delivery, EventReceiver, NoVerification};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/events", listener.local_addr().unwrap());
    let gateways = td_oauth_api::GatewayAllowList::default().with_origin(server.base_url()).unwrap();
    let config = config(server);
    let (outcomes, heard) = std::sync::mpsc::channel();
    let on_failure = Arc::new(on_failure);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let manager = FleetTokenManager::new(config, store, keys()).await.unwrap();
            let receiver = Arc::new(std::sync::Mutex::new(EventReceiver::new(NoVerification).with_gateways(gateways)));
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (manager, receiver, outcomes, on_failure) =
                    (manager.clone(), receiver.clone(), outcomes.clone(), on_failure.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        let (manager, receiver, outcomes, on_failure) =
                            (manager.clone(), receiver.clone(), outcomes.clone(), on_failure.clone());
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = Limited::new(body, 256 * 1024).collect().await.unwrap().to_bytes();
                            let request = hyper::Request::from_parts(parts, body);
                            let (delivery, response) = receiver.lock().unwrap().receive(&request, Instant::now());
                            let response = match delivery {
                                Delivery::Event(event) => {
                                    let id = event.id().to_owned();
                                    match manager.apply(*event).await {
                                        Ok(lifecycle) => {
                                            outcomes.send(Ok(lifecycle)).unwrap();
                                            response
                                        }
                                        Err(error) => {
                                            outcomes.send(Err(error.to_string())).unwrap();
                                            let failed = receiver.lock().unwrap().failed(&id, &error);
                                            on_failure();
                                            failed
                                        }
                                    }
                                }
                                _ => response,
                            };
                            Ok::<_, std::convert::Infallible>(response.map(|body| Full::new(Bytes::from(body))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    (url, heard)
}

#[test]
fn an_installation_refused_while_the_store_is_down_is_answered_503_and_handled_on_redelivery() {
    let server = server(Scheme::Http);
    let store = MemoryStore::new();
    store.set_available(false);
    let back = store.clone();
    let (url, heard) = serve_callback(&server, Arc::new(store.clone()), move || back.set_available(true));
    let client = server.register_client(Algorithm::Es256).unwrap();
    let body = td_oauth_testkit::app_event_with_root(
        td_oauth_testkit::AppEvent::Installed,
        "acme",
        server.token_url(),
        server.base_url(),
        &client,
    );
    let delivery = td_oauth_testkit::EventDelivery::new(&url)
        .unwrap()
        .with_delays([Duration::from_millis(30), Duration::from_millis(60)]);
    let attempts = delivery.deliver(&body).unwrap();
    assert_eq!(attempts.iter().map(|a| a.status).collect::<Vec<_>>(), [Some(503), Some(200)]);
    let refused = heard.recv_timeout(Duration::from_secs(10)).unwrap().unwrap_err();
    assert!(refused.contains("installation store") && refused.contains("unavailable"), "{refused}");
    assert!(matches!(heard.recv_timeout(Duration::from_secs(10)).unwrap(), Ok(Lifecycle::Installed { .. })));

    // Installed for the fleet: another replica serves it.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let replica = FleetTokenManager::new(config(&server), Arc::new(store), keys()).await.unwrap();
        replica.token(&account("acme"), &scopes()).await.unwrap();
    });
}

/// A store whose next read answers an older value while the newer write's notice arrives: a read racing a
/// write on another replica.
#[derive(Default)]
struct RacingStore {
    store: MemoryStore,
    /// Answered by the next `get`, with a notice of the version stored now.
    stale: std::sync::Mutex<Option<td_oauth_partner::store::Versioned>>,
    sinks: std::sync::Mutex<Vec<td_oauth_partner::store::NoticeSink>>,
}

impl std::fmt::Debug for RacingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RacingStore").finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl InstallationStore for RacingStore {
    async fn get(&self, key: &str) -> Result<Option<td_oauth_partner::store::Versioned>, StoreError> {
        let stale = self.stale.lock().unwrap().take();
        let Some(stale) = stale else { return self.store.get(key).await };
        let now = self.store.get(key).await?.unwrap();
        for sink in self.sinks.lock().unwrap().iter() {
            sink(td_oauth_partner::store::Notice::Changed { key: key.to_owned(), version: now.version });
        }
        Ok(Some(stale))
    }

    async fn put(&self, key: &str, expected: Option<u64>, value: &[u8]) -> Result<Put, StoreError> {
        self.store.put(key, expected, value).await
    }

    async fn list(&self) -> Result<Vec<(String, td_oauth_partner::store::Versioned)>, StoreError> {
        self.store.list().await
    }

    async fn claim_event(&self, event_id: &str, holder: &str, lease: Duration) -> Result<EventClaim, StoreError> {
        self.store.claim_event(event_id, holder, lease).await
    }

    async fn finish_event(&self, event_id: &str, remember: Duration) -> Result<(), StoreError> {
        self.store.finish_event(event_id, remember).await
    }

    async fn release_event(&self, event_id: &str, holder: &str) -> Result<(), StoreError> {
        self.store.release_event(event_id, holder).await
    }

    async fn subscribe(
        &self,
        sink: td_oauth_partner::store::NoticeSink,
    ) -> Result<td_oauth_partner::store::Subscription, StoreError> {
        self.sinks.lock().unwrap().push(sink.clone());
        self.store.subscribe(sink).await
    }
}

#[tokio::test]
async fn a_notice_that_arrives_while_a_record_is_read_makes_the_replica_read_it_again() {
    let server = server(Scheme::Http);
    let store = MemoryStore::new();
    let writer = FleetTokenManager::new(config(&server), Arc::new(store.clone()), keys()).await.unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    writer.apply(installed(&server, "acme", &client)).await.unwrap();
    let installed_record = store.get("installation:acme").await.unwrap();
    writer.apply(uninstalled(&server, "acme")).await.unwrap();

    // The reader's first read returns the installed record while the uninstall's notice arrives.
    let racing = Arc::new(RacingStore { store, ..RacingStore::default() });
    let reader = FleetTokenManager::new(config(&server), racing.clone(), keys()).await.unwrap();
    *racing.stale.lock().unwrap() = installed_record;
    let _ = reader.token(&account("acme"), &scopes()).await;
    let refused = reader.token(&account("acme"), &scopes()).await;
    assert!(matches!(refused, Err(Error::UnknownInstallation { .. })), "{refused:?}");
}

#[tokio::test]
async fn a_replica_whose_subscription_could_not_start_subscribes_again_later() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    store.refuse_subscribe.store(true, Ordering::SeqCst);
    let replica = replica(&server, &store).await;
    assert!(!replica.is_listening());
    let client = server.register_client(Algorithm::Es256).unwrap();
    replica.apply(installed(&server, "acme", &client)).await.unwrap();
    store.refuse_subscribe.store(false, Ordering::SeqCst);
    replica.token(&account("acme"), &scopes()).await.unwrap();
    assert!(!replica.is_listening(), "not tried again at once");
    // Past the retry period, the next read of the store subscribes again.
    tokio::time::sleep(td_oauth_partner::fleet::RESUBSCRIBE_EVERY + Duration::from_millis(200)).await;
    replica.token(&account("acme"), &scopes()).await.unwrap();
    assert!(replica.is_listening());
}

#[tokio::test]
async fn while_notices_arrive_a_held_record_is_still_confirmed_every_minute() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let clock = td_oauth_core::clock::ManualClock::running();
    let replica =
        FleetTokenManager::new(config(&server).with_clock(clock.clone()), store.clone(), keys()).await.unwrap();
    assert!(replica.is_listening());
    let client = server.register_client(Algorithm::Es256).unwrap();
    replica.apply(installed(&server, "acme", &client)).await.unwrap();
    replica.token(&account("acme"), &scopes()).await.unwrap();
    let reads = store.gets();
    clock.advance(td_oauth_partner::fleet::CONFIRM_EVERY - Duration::from_secs(1));
    replica.token(&account("acme"), &scopes()).await.unwrap();
    assert_eq!(store.gets(), reads, "confirmed less than a minute ago");
    clock.advance(Duration::from_secs(2));
    replica.token(&account("acme"), &scopes()).await.unwrap();
    replica.token(&account("acme"), &scopes()).await.unwrap();
    assert_eq!(store.gets(), reads + 1, "confirmed again once");
}
