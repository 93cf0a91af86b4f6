//! The shared provider's behaviour: td-oauth-testkit's table of provider cases (refresh ahead, expiry,
//! rotation, the herd, cancellation, a failing endpoint, a panic while recording, …), on a clock the cases
//! step, and `with_token`, run by td-oauth-transport-tests' `provider_cases` scenarios with this transport's
//! async driver; and what only this transport offers (`try_token_now`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Scheme, TestClock, cache_policy, client_with, config, jwt, server};
use td_oauth_reqwest::{Scopes, TokenProvider};
use td_oauth_testkit::TOKEN_PATH;

td_oauth_transport_tests::scenario_tests!(common::Async, provider_cases);

#[test]
fn try_token_now_never_waits_and_works_without_a_runtime() {
    let server = server(Scheme::Http);
    let clock = TestClock::new();
    let creds = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
    let config = config(&server).with_cache_policy(cache_policy(20)).with_clock(clock.clone());
    let provider = TokenProvider::client_credentials(client_with(&server, jwt(&creds), config), Scopes::none());
    assert!(provider.try_token_now().is_none(), "cold: nothing to hand out, and nothing is fetched");
    assert_eq!(server.count_path(TOKEN_PATH), 0);
    let token = common::runtime().block_on(provider.token()).unwrap();
    assert!(provider.try_token_now().is_some_and(|t| t.is_same_token(&token)));
    // Due, outside a runtime: the token is still handed out; the refresh, which nothing could run, is given
    // back without a backoff, so the next caller in a runtime refreshes at once.
    clock.time.advance(Duration::from_secs(481));
    assert!(provider.try_token_now().is_some_and(|t| t.is_same_token(&token)));
    assert!(!format!("{provider:?}").contains("fetching: Some"));
    common::runtime().block_on(async {
        assert!(provider.token().await.unwrap().is_same_token(&token));
        while format!("{provider:?}").contains("fetching: Some") {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    assert_eq!(server.count_path(TOKEN_PATH), 2, "one refresh");
}

#[test]
fn the_provider_is_clone_send_sync() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<TokenProvider>();
    shareable::<td_oauth_reqwest::Client>();
    shareable::<td_oauth_reqwest::BearerClient>();
}
