//! The partner-app token manager at 10,000 installations, each its own ES256 client, over loopback to the
//! testkit, with a counting allocator: one token request per installation, a warm pass that allocates
//! nothing (the lookup borrows its key) and leaves the heap as it was, and mass uninstalls that give the
//! memory back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::alloc::System;
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use td_oauth_partner::TokenManager;
use td_oauth_reqwest::{Account, RetryPolicy, Scopes};
use td_oauth_testkit::{Algorithm, AppEvent, TOKEN_PATH, TestServer, app_event};
use td_oauth_transport_tests::setup::config;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const INSTALLATIONS: usize = 10_000;

fn live_bytes() -> isize {
    let stats = GLOBAL.stats();
    // stats_alloc counts a reallocation's growth in bytes_allocated and its shrinkage in bytes_deallocated.
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

#[test]
fn ten_thousand_installations() {
    let server = TestServer::start().unwrap();
    let config = config(&server)
        .with_timeout(Duration::from_secs(30))
        .with_connect_timeout(Duration::from_secs(30))
        .with_retry_policy(RetryPolicy::default().with_max_retries(0).with_deadline(Duration::from_secs(30)));
    let manager = TokenManager::new(config).unwrap();
    let accounts: Vec<Account> = (0..INSTALLATIONS).map(|i| format!("acct-{i}").parse().unwrap()).collect();
    let events: Vec<Vec<u8>> = accounts
        .iter()
        .map(|account| {
            let creds = server.register_client(Algorithm::Es256).unwrap();
            app_event(AppEvent::Installed, account.as_str(), server.token_url(), &creds)
        })
        .collect();
    for event in &events {
        manager.handle_event(event).unwrap();
    }
    assert_eq!(manager.installation_count(), INSTALLATIONS);
    let scopes: Scopes = "users:read".parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // The cold pass, 50 installations at a time, as the server verifies on its own threads.
    runtime.block_on(async {
        for chunk in accounts.chunks(50) {
            let mut fetches = tokio::task::JoinSet::new();
            for account in chunk {
                let (manager, account, scopes) = (manager.clone(), account.clone(), scopes.clone());
                fetches.spawn(async move { manager.token(&account, &scopes).await.map(drop) });
            }
            while let Some(done) = fetches.join_next().await {
                done.unwrap().unwrap();
            }
        }
    });
    assert_eq!(server.count_path(TOKEN_PATH), INSTALLATIONS, "one token request per installation");
    assert_eq!(manager.provider_count(), INSTALLATIONS);

    // Warm: every token from its provider's cache, nothing allocated, the heap as it was.
    let (allocations, heap_change) = runtime.block_on(async {
        let before = live_bytes();
        let region = Region::new(GLOBAL);
        for _ in 0..3 {
            for account in &accounts {
                std::hint::black_box(manager.token(account, &scopes).await.unwrap());
            }
        }
        let change = region.change();
        (change.allocations + change.reallocations, live_bytes() - before)
    });
    println!("warm passes: {allocations} allocations in {} calls, heap change {heap_change} B", 3 * INSTALLATIONS);
    // Every thread counts, the server's idle ones included: allow a handful, far below one per call.
    assert!(allocations < 100, "{allocations} allocations in {} warm calls", 3 * INSTALLATIONS);
    assert!(heap_change.abs() < 64 * 1024, "the heap changed by {heap_change} B over warm passes");
    assert_eq!(server.count_path(TOKEN_PATH), INSTALLATIONS);

    // Uninstalling all but ten gives back most of what the installations held.
    let before = live_bytes();
    for account in &accounts[10..] {
        assert!(manager.uninstall(account));
    }
    let freed = before - live_bytes();
    println!("uninstalling {} installations freed {freed} B", INSTALLATIONS - 10);
    assert_eq!((manager.installation_count(), manager.provider_count()), (10, 10));
    assert!(freed > 1_000 * (INSTALLATIONS as isize - 10), "only {freed} B freed");
    runtime.block_on(async {
        for account in &accounts[..10] {
            manager.token(account, &scopes).await.unwrap();
        }
    });
    assert_eq!(server.count_path(TOKEN_PATH), INSTALLATIONS, "the ten kept their tokens");
}
