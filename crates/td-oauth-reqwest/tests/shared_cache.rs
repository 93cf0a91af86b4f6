//! The `SharedCache` seam: a provider with one asks it (once per cold cache, however many callers) instead of
//! fetching, and tells it which token it dropped; `Client::fetch` never does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use td_oauth_reqwest::core::clock::ManualClock;
use td_oauth_reqwest::core::provider::{BackoffRule, SharedBackoff};

use td_oauth_reqwest::{Client, Error, Grant, SharedCache, TokenResponse, async_trait};
use td_oauth_testkit::TOKEN_PATH;

mod common;

/// A shared cache that fetches every time and counts how often it was asked, and told to discard.
#[derive(Debug, Default)]
struct Counting(AtomicUsize, AtomicUsize);

#[async_trait]
impl SharedCache for Counting {
    async fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        client.fetch(grant).await
    }

    async fn discard(&self, _client: &Client, _grant: &Grant, _token: &TokenResponse) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_provider_asks_the_shared_cache_when_cold_and_tells_it_what_it_dropped() {
    let server = common::server(common::Scheme::Http);
    let creds = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
    let shared = Arc::new(Counting::default());
    let config = common::config(&server).with_shared_cache(shared.clone());
    assert!(format!("{config:?}").contains("Counting"));
    let client = common::client_with(&server, common::jwt(&creds), config);
    let provider = client.provider(Grant::client_credentials("apps:read".parse().unwrap()));
    common::runtime().block_on(async {
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let provider = provider.clone();
                tokio::spawn(async move { provider.token().await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(shared.0.load(Ordering::SeqCst), 1);
        client.fetch(&Grant::client_credentials("apps:read".parse().unwrap())).await.unwrap();
        assert_eq!(shared.0.load(Ordering::SeqCst), 1, "Client::fetch is a direct request");

        // A token the provider drops is discarded from the shared cache before the next fetch.
        let token = provider.token().await.unwrap();
        td_oauth_reqwest::source::TokenSource::token_rejected(&provider, &token);
        assert_eq!(shared.1.load(Ordering::SeqCst), 0, "told at the next fetch, not before");
        provider.token().await.unwrap();
        assert_eq!((shared.0.load(Ordering::SeqCst), shared.1.load(Ordering::SeqCst)), (2, 1));
        provider.force_refresh().await.unwrap();
        assert_eq!((shared.0.load(Ordering::SeqCst), shared.1.load(Ordering::SeqCst)), (3, 2));
    });
    assert_eq!(server.count_path(TOKEN_PATH), 4);
}

/// A shared cache whose fleet is backing off for 5 s on its first ask, and fetches afterwards: it judges its
/// record with the rule the provider hands it.
#[derive(Debug, Default)]
struct Refusing(AtomicUsize);

#[async_trait]
impl SharedCache for Refusing {
    async fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, Error> {
        client.fetch(grant).await
    }

    async fn fetch_with_backoff(
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
        client.fetch(grant).await
    }
}

#[test]
fn a_provider_given_the_fleets_backoff_holds_for_the_time_left_without_a_request() {
    let server = common::server(common::Scheme::Http);
    let creds = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
    let shared = Arc::new(Refusing::default());
    let clock = ManualClock::new();
    let config = common::config(&server).with_shared_cache(shared.clone()).with_clock(clock.clone());
    let client = common::client_with(&server, common::jwt(&creds), config);
    let provider = client.provider(Grant::client_credentials("apps:read".parse().unwrap()));
    common::runtime().block_on(async {
        let refused = provider.token().await.unwrap_err();
        assert!(matches!(refused, Error::FleetBackoff { status: Some(429), .. }) && refused.is_retryable());
        clock.advance(Duration::from_millis(4900));
        assert!(matches!(provider.token().await.unwrap_err(), Error::FleetBackoff { .. }));
        assert_eq!(shared.0.load(Ordering::SeqCst), 1, "held: the shared cache is not asked again");
        clock.advance(Duration::from_millis(100));
        provider.token().await.unwrap();
        assert_eq!(shared.0.load(Ordering::SeqCst), 2, "back when the fleet is");
    });
    assert_eq!(server.count_path(TOKEN_PATH), 1);
}
