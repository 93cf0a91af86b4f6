//! The shared provider: one fetch for many callers (cold, after expiry, on failure), refresh ahead of
//! expiry while everyone keeps the valid token, cancellation of the elected fetcher, invalidation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{SCHEMES, Scheme, cache_policy, client_with, config, jwt, server, server_with_lifetime};
use td_oauth_reqwest::{ClientId, ClientSecret, Config, Credentials, Grant, Scopes, TokenProvider, TokenResponse};
use td_oauth_testkit::{Algorithm, Fault, TOKEN_PATH, TestServer};

const CALLERS: usize = 200;

fn provider(server: &TestServer, percent: u32) -> TokenProvider {
    provider_with(server, config(server).cache_policy(cache_policy(percent)))
}

fn provider_with(server: &TestServer, config: Config) -> TokenProvider {
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let client = client_with(server, jwt(&creds), config);
    client.provider(Grant::client_credentials(Scopes::new(["users:read"]).unwrap()))
}

/// `CALLERS` tasks ask at once; returns every answer.
async fn everyone_asks(provider: &TokenProvider) -> Vec<Arc<TokenResponse>> {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.token().await })
        })
        .collect();
    let mut tokens = Vec::with_capacity(CALLERS);
    for task in tasks {
        tokens.push(task.await.unwrap().unwrap());
    }
    tokens
}

fn all_the_same(tokens: &[Arc<TokenResponse>]) -> bool {
    tokens.iter().all(|t| Arc::ptr_eq(t, &tokens[0]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_cache_and_expiry_each_cost_one_request() {
    for scheme in SCHEMES {
        let server = server_with_lifetime(scheme, Duration::from_secs(2));
        // 0 %: no refresh ahead, so after expiry the callers find nothing usable and must wait.
        let provider = provider(&server, 0);
        // Slow the one fetch down, so that every caller arrives while it is in flight.
        server.inject(Fault::Delay(Duration::from_millis(200)));
        let first = everyone_asks(&provider).await;
        assert!(all_the_same(&first), "{scheme:?}");
        assert_eq!(server.count_path(TOKEN_PATH), 1, "{scheme:?}: one request for {CALLERS} callers");

        tokio::time::sleep(Duration::from_millis(2100)).await;
        server.inject(Fault::Delay(Duration::from_millis(200)));
        let second = everyone_asks(&provider).await;
        assert!(all_the_same(&second));
        assert!(!Arc::ptr_eq(&first[0], &second[0]), "a new token after expiry");
        assert_eq!(server.count_path(TOKEN_PATH), 2, "{scheme:?}: one more request after expiry");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_ahead_serves_the_old_token_while_one_refresh_runs() {
    let server = server_with_lifetime(Scheme::Http, Duration::from_secs(10));
    // Refresh with 90 % of 10 s left: due after 1 s, usable until 9.9 s. A timeout longer than the delay.
    let provider =
        provider_with(&server, config(&server).cache_policy(cache_policy(90)).timeout(Duration::from_secs(5)));
    let old = provider.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;

    server.inject(Fault::Delay(Duration::from_secs(2)));
    let started = Instant::now();
    let during = everyone_asks(&provider).await;
    let waited = started.elapsed();
    assert!(during.iter().all(|t| Arc::ptr_eq(t, &old)), "everyone keeps the valid token");
    assert!(waited < Duration::from_millis(1500), "nobody waited for the delayed refresh: {waited:?}");
    assert!(provider.try_token_now().is_some_and(|t| Arc::ptr_eq(&t, &old)));

    // The one refresh lands in the background.
    let deadline = Instant::now() + Duration::from_secs(5);
    let new = loop {
        let token = provider.token().await.unwrap();
        if !Arc::ptr_eq(&token, &old) {
            break token;
        }
        assert!(Instant::now() < deadline, "the background refresh never landed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(server.count_path(TOKEN_PATH), 2, "exactly one refresh");
    assert!(everyone_asks(&provider).await.iter().all(|t| Arc::ptr_eq(t, &new)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_keeps_serving_the_valid_token() {
    let server = server_with_lifetime(Scheme::Http, Duration::from_secs(10));
    let provider = provider(&server, 90);
    let old = provider.token().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.inject(Fault::status(400));
    assert!(Arc::ptr_eq(&provider.token().await.unwrap(), &old));
    // Let the failed refresh finish; the token is still served, and the cache backs off (1 s by default).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(Arc::ptr_eq(&provider.token().await.unwrap(), &old));
    assert_eq!(server.count_path(TOKEN_PATH), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_share_the_fetchers_error_instead_of_fetching_again() {
    let server = server(Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let wrong_secret = Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new("wrong"));
    let provider = client_with(&server, wrong_secret.unwrap(), config(&server))
        .provider(Grant::client_credentials(Scopes::none()));
    server.inject(Fault::Delay(Duration::from_millis(200)));
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.token().await })
        })
        .collect();
    for task in tasks {
        let err = task.await.unwrap().unwrap_err();
        assert_eq!(err.oauth().map(|e| e.code().as_str()), Some("invalid_client"), "{err}");
    }
    assert_eq!(server.count_path(TOKEN_PATH), 1, "one request, its error shared");
    // The next call tries again at once rather than serving the old error.
    provider.token().await.unwrap_err();
    assert_eq!(server.count_path(TOKEN_PATH), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_fetcher_hands_over_to_a_waiter() {
    let server = server(Scheme::Http);
    let provider = provider(&server, 20);
    server.inject(Fault::Delay(Duration::from_secs(3)));
    // The elected fetcher gives up (its future is dropped) while a waiter is queued behind it.
    let fetcher = tokio::spawn({
        let provider = provider.clone();
        async move { provider.token().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let waiter = tokio::spawn({
        let provider = provider.clone();
        async move { provider.token().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    fetcher.abort();
    assert!(fetcher.await.unwrap_err().is_cancelled());
    let started = Instant::now();
    let token = tokio::time::timeout(Duration::from_secs(2), waiter).await.expect("the waiter took over").unwrap();
    assert!(token.is_ok(), "{token:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.count_path(TOKEN_PATH), 2, "the abandoned request and the waiter's own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_fetch_future_is_reported_abandoned() {
    let server = server(Scheme::Http);
    let provider = provider(&server, 20);
    server.inject(Fault::Delay(Duration::from_secs(3)));
    // A caller's timeout drops the fetch future mid-request.
    let timed_out = tokio::time::timeout(Duration::from_millis(150), provider.token()).await;
    assert!(timed_out.is_err());
    // Had the cache not heard, everyone would now wait forever on a fetch nobody runs.
    let token = tokio::time::timeout(Duration::from_secs(2), provider.token()).await.expect("no hang");
    assert!(token.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_and_force_refresh_fetch_anew() {
    let server = server(Scheme::Http);
    let provider = provider(&server, 20);
    let first = provider.token().await.unwrap();
    assert!(Arc::ptr_eq(&provider.token().await.unwrap(), &first), "warm hit");
    assert!(provider.try_token_now().is_some());
    provider.invalidate();
    assert!(provider.try_token_now().is_none());
    let second = provider.token().await.unwrap();
    assert!(!Arc::ptr_eq(&second, &first));
    let third = provider.force_refresh().await.unwrap();
    assert!(!Arc::ptr_eq(&third, &second));
    assert_eq!(server.count_path(TOKEN_PATH), 3);
}

#[test]
fn try_token_now_works_without_a_runtime() {
    let server = server(Scheme::Http);
    let provider = provider(&server, 20);
    assert!(provider.try_token_now().is_none(), "cold");
    common::runtime().block_on(provider.token()).unwrap();
    assert!(provider.try_token_now().is_some());
}

#[test]
fn the_provider_is_clone_send_sync() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<TokenProvider>();
    shareable::<td_oauth_reqwest::Client>();
    shareable::<td_oauth_reqwest::BearerClient>();
}

#[tokio::test]
async fn the_client_credentials_constructor_is_the_provider_for_that_grant() {
    let server = server(Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let client = client_with(&server, jwt(&creds), config(&server));
    let provider = TokenProvider::client_credentials(client, Scopes::new(["users:read"]).unwrap());
    let first = provider.token().await.unwrap();
    assert_eq!(first.scope(), Some("users:read"));
    assert!(Arc::ptr_eq(&first, &provider.token().await.unwrap()));
    assert_eq!(server.count_grant("client_credentials"), 1);
    assert_eq!(provider.client().config().retry().retries(), config(&server).retry().retries());
}
