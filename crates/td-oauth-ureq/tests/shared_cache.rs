//! The `SharedCache` seam: a provider with one asks it (once per cold cache, however many threads) instead of
//! fetching, and tells it which token it dropped; `Client::fetch` never does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use td_oauth_ureq::core::clock::ManualClock;
use td_oauth_ureq::core::provider::{BackoffRule, SharedBackoff};

use td_oauth_testkit::{Algorithm, TOKEN_PATH};
use td_oauth_ureq::{Client, Error, Grant, SharedCache, TokenResponse};

mod common;

/// A shared cache that fetches every time and counts how often it was asked, and told to discard.
#[derive(Debug, Default)]
struct Counting(AtomicUsize, AtomicUsize);

impl SharedCache for Counting {
    fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        client.fetch(grant)
    }

    fn discard(&self, _client: &Client, _grant: &Grant, _token: &TokenResponse) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_provider_asks_the_shared_cache_when_cold_and_tells_it_what_it_dropped() {
    let server = common::start(common::Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let shared = Arc::new(Counting::default());
    let client = common::jwt_client(&server, &creds, |config| config.with_shared_cache(shared.clone()));
    assert!(format!("{:?}", client.config()).contains("Counting"));
    let grant = Grant::client_credentials("apps:read".parse().unwrap());
    let provider = client.provider(grant.clone());
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..20).map(|_| scope.spawn(|| provider.token())).collect();
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
    });
    assert_eq!(shared.0.load(Ordering::SeqCst), 1);
    client.fetch(&grant).unwrap();
    assert_eq!(shared.0.load(Ordering::SeqCst), 1, "Client::fetch is a direct request");

    // A token the provider drops is discarded from the shared cache before the next fetch.
    let token = provider.token().unwrap();
    provider.token_rejected(&token);
    assert_eq!(shared.1.load(Ordering::SeqCst), 0, "told at the next fetch, not before");
    let second = provider.token().unwrap();
    assert_eq!((shared.0.load(Ordering::SeqCst), shared.1.load(Ordering::SeqCst)), (2, 1));
    // A stale 401 (for a token already replaced) drops nothing and discards nothing.
    provider.token_rejected(&token);
    assert!(provider.token().unwrap().is_same_token(&second));
    provider.force_refresh().unwrap();
    assert_eq!((shared.0.load(Ordering::SeqCst), shared.1.load(Ordering::SeqCst)), (3, 2));
    assert_eq!(server.count_path(TOKEN_PATH), 4);
}

/// A shared cache whose fleet is backing off for 5 s on its first ask, and fetches afterwards: it judges its
/// record with the rule the provider hands it.
#[derive(Debug, Default)]
struct Refusing(AtomicUsize);

impl SharedCache for Refusing {
    fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, Error> {
        client.fetch(grant)
    }

    fn fetch_with_backoff(
        &self,
        client: &Client,
        grant: &Grant,
        backoff: &BackoffRule,
    ) -> Result<TokenResponse, Error> {
        if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            let wall = SystemTime::now();
            let record = SharedBackoff::new(wall + Duration::from_secs(5), Some(429));
            return Err(backoff.refused(&record, wall).expect("the record holds"));
        }
        client.fetch(grant)
    }
}

#[test]
fn a_provider_given_the_fleets_backoff_holds_for_the_time_left_without_a_request() {
    let server = common::start(common::Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let shared = Arc::new(Refusing::default());
    let clock = ManualClock::new();
    let client = common::jwt_client(&server, &creds, |config| {
        config.with_shared_cache(shared.clone()).with_clock(clock.clone())
    });
    let provider = client.provider(Grant::client_credentials("apps:read".parse().unwrap()));
    let refused = provider.token().unwrap_err();
    assert!(matches!(refused, Error::FleetBackoff { status: Some(429), .. }) && refused.is_retryable(), "{refused:?}");
    clock.advance(Duration::from_millis(4900));
    assert!(matches!(provider.token().unwrap_err(), Error::FleetBackoff { .. }));
    assert_eq!(shared.0.load(Ordering::SeqCst), 1, "held: the shared cache is not asked again");
    clock.advance(Duration::from_millis(100));
    provider.token().unwrap();
    assert_eq!(shared.0.load(Ordering::SeqCst), 2, "back when the fleet is");
    assert_eq!(server.count_path(TOKEN_PATH), 1);
}
