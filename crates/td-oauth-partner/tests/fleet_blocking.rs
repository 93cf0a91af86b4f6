//! The fleet's token manager from blocking code (`BlockingFleetTokenManager`, over td-oauth-ureq, the store
//! driven through `BlockingStore`) against the testkit over sockets: the same rules as the async face, as
//! the one `FleetManager` drives both, and blocking and async replicas in one fleet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(unreachable_pub)]
mod fleet_support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use fleet_support::{WatchedStore, installed, keys, rotated, rotation_acks, uninstalled};
use td_oauth_partner::store::{BlockingStore, InstallationStore, MemoryStore};
use td_oauth_partner::{Acknowledged, BlockingFleetTokenManager, Error, Lifecycle};
use td_oauth_testkit::{Algorithm, TestServer};
use td_oauth_transport_tests::setup::{Scheme, config, server};
use td_oauth_ureq::{Account, Scopes};

fn scopes() -> Scopes {
    Scopes::new(["users:read"]).unwrap()
}

fn account(name: &str) -> Account {
    name.parse().unwrap()
}

fn replica(server: &TestServer, store: &Arc<WatchedStore>) -> BlockingFleetTokenManager {
    BlockingFleetTokenManager::new(config(server), store.clone(), keys()).unwrap()
}

#[test]
fn blocking_replicas_serve_every_installation_warm_and_stop_at_an_uninstall() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet: Vec<_> = (0..3).map(|_| replica(&server, &store)).collect();
    let client = server.register_client(Algorithm::Es256).unwrap();
    assert!(matches!(fleet[0].apply(installed(&server, "acme", &client)).unwrap(), Lifecycle::Installed { .. }));
    for replica in &fleet {
        replica.token(&account("acme"), &scopes()).unwrap();
        assert!(replica.is_listening());
    }
    let reads = store.gets();
    for replica in &fleet {
        replica.token(&account("acme"), &scopes()).unwrap();
    }
    assert_eq!(store.gets(), reads, "warm: no store round trip");

    let Lifecycle::Uninstalled { acknowledged, .. } = fleet[1].apply(uninstalled(&server, "acme")).unwrap() else {
        panic!()
    };
    assert_eq!(acknowledged, Acknowledged::Done);
    for replica in &fleet {
        assert!(matches!(replica.token(&account("acme"), &scopes()), Err(Error::UnknownInstallation { .. })));
    }
}

#[test]
fn a_blocking_replica_without_notices_stops_serving_an_uninstalled_account_within_two_seconds() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let writer = replica(&server, &store);
    store.refuse_subscribe.store(true, Ordering::SeqCst);
    let deaf = replica(&server, &store);
    assert!(!deaf.is_listening());
    let client = server.register_client(Algorithm::Es256).unwrap();
    writer.apply(installed(&server, "acme", &client)).unwrap();
    deaf.token(&account("acme"), &scopes()).unwrap();
    writer.apply(uninstalled(&server, "acme")).unwrap();
    let applied = Instant::now();
    while deaf.token(&account("acme"), &scopes()).is_ok() {
        assert!(applied.elapsed() < Duration::from_secs(2), "still served after {:?}", applied.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(applied.elapsed() < Duration::from_secs(2));
}

#[test]
fn async_and_blocking_replicas_share_one_fleet_and_acknowledge_a_rotation_once() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let blocking = replica(&server, &store);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let config_async = config(&server);
    let store_async = store.clone();
    let asynchronous =
        runtime.block_on(td_oauth_partner::FleetTokenManager::new(config_async, store_async, keys())).unwrap();
    let first = server.register_client(Algorithm::Es256).unwrap();
    runtime.block_on(asynchronous.apply(installed(&server, "acme", &first))).unwrap();
    blocking.token(&account("acme"), &scopes()).unwrap();

    let second = server.register_client(Algorithm::Es256).unwrap();
    let event = rotated(&server, "acme", &second);
    let Lifecycle::Rotated { acknowledged, .. } = blocking.apply(event.clone()).unwrap() else { panic!() };
    assert_eq!(acknowledged.unwrap(), Acknowledged::Done);
    assert!(matches!(runtime.block_on(asynchronous.apply(event)).unwrap(), Lifecycle::Duplicate { .. }));
    assert_eq!(rotation_acks(&server, &second.client_id), 1);
    let token = runtime.block_on(asynchronous.token(&account("acme"), &scopes())).unwrap();
    assert!(token.expires_in() > Duration::ZERO);
    assert_eq!(blocking.installations().unwrap()[0].client_id.as_deref(), Some(second.client_id.as_str()));
}

#[test]
fn with_the_store_down_a_blocking_replica_serves_what_it_holds_and_refuses_new_installations() {
    let server = server(Scheme::Http);
    let store = WatchedStore::over(MemoryStore::new());
    let fleet: Vec<_> = (0..2).map(|_| replica(&server, &store)).collect();
    let held = server.register_client(Algorithm::Es256).unwrap();
    fleet[0].apply(installed(&server, "held", &held)).unwrap();
    fleet[1].token(&account("held"), &scopes()).unwrap();
    store.store.set_available(false);
    std::thread::sleep(Duration::from_millis(1100));
    fleet[1].token(&account("held"), &scopes()).unwrap();
    let new = server.register_client(Algorithm::Es256).unwrap();
    let refused = fleet[0].apply(installed(&server, "new", &new)).unwrap_err();
    assert!(refused.is_retryable(), "{refused}");
    store.store.set_available(true);
    fleet[0].apply(installed(&server, "new", &new)).unwrap();
    fleet[1].token(&account("new"), &scopes()).unwrap();
}

#[test]
fn the_blocking_adapter_drives_any_store_from_plain_threads() {
    let store = BlockingStore::new(Arc::new(MemoryStore::new())).unwrap();
    let put = store.put_blocking("k", None, b"sealed").unwrap();
    assert_eq!(put, td_oauth_partner::store::Put::Written { version: 1 });
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let store = store.clone();
            std::thread::spawn(move || {
                store.claim_event_blocking("e", &format!("thread-{thread}"), Duration::from_secs(60)).unwrap()
            })
        })
        .collect();
    let claims: Vec<_> = threads.into_iter().map(|thread| thread.join().unwrap()).collect();
    let claimed = claims.iter().filter(|c| **c == td_oauth_partner::store::EventClaim::Claimed).count();
    assert_eq!(claimed, 1, "{claims:?}");
    assert_eq!(store.get_blocking("k").unwrap().unwrap().version, 1);
    // Its async face is ready at once.
    let listed = td_oauth_core::transport::run_ready(store.list()).unwrap();
    assert_eq!(listed.len(), 1);
}
