//! The shared provider under contention: one request for 200 racing threads, cold and after expiry;
//! refresh ahead of expiry without making anyone wait; one failure shared by every waiter; invalidation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use td_oauth_testkit::{Fault, TOKEN_PATH, TestServer};
use td_oauth_ureq::core::{CachePolicy, RetryPolicy, Scopes};
use td_oauth_ureq::{Error, TokenProvider};

const CALLERS: usize = 200;

fn server_with_lifetime(scheme: Scheme, lifetime: Duration) -> TestServer {
    TestServer::builder().https(scheme == Scheme::Https).token_lifetime(lifetime).start().unwrap()
}

fn provider(server: &TestServer, cache: CachePolicy) -> TokenProvider {
    let creds = register(server);
    let client = jwt_client(server, &creds, |c| c.cache_policy(cache));
    TokenProvider::client_credentials(client, "users:read".parse().unwrap())
}

#[test]
fn cold_cache_and_expired_cache_each_send_one_request_for_200_threads() {
    for scheme in SCHEMES {
        // 3 s tokens, usable until 0.3 s before expiry, no refresh-ahead window: the first race has
        // 2.7 s to finish, and after 3 s the token is unusable so the second race must fetch.
        let server = server_with_lifetime(scheme, Duration::from_secs(3));
        let cache = CachePolicy::default().refresh_when_remaining_percent(0).unwrap();
        let provider = provider(&server, cache);

        let first = all_same(race(&provider, CALLERS));
        assert_eq!(server.count_grant("client_credentials"), 1, "{scheme:?}: one request for a cold cache");

        std::thread::sleep(Duration::from_millis(3100));
        let second = all_same(race(&provider, CALLERS));
        assert_ne!(first.access_token().secret(), second.access_token().secret());
        assert_eq!(server.count_grant("client_credentials"), 2, "{scheme:?}: one more after expiry");
    }
}

#[test]
fn refresh_ahead_serves_the_old_token_while_one_refresh_runs() {
    for scheme in SCHEMES {
        // 6 s tokens, refreshed with 75 % left (after 1.5 s), usable until 5.4 s.
        let server = server_with_lifetime(scheme, Duration::from_secs(6));
        let cache = CachePolicy::default().refresh_when_remaining_percent(75).unwrap();
        let provider = provider(&server, cache);
        let old = provider.token().unwrap();

        std::thread::sleep(Duration::from_millis(1600));
        // Hold the refresh in flight well past the race.
        server.inject(Fault::Delay(Duration::from_secs(2)));
        let started = Instant::now();
        let tokens = race(&provider, CALLERS);
        let raced = started.elapsed();
        for token in tokens {
            assert!(Arc::ptr_eq(&token.unwrap(), &old), "{scheme:?}: everyone keeps the valid token");
        }
        assert!(raced < Duration::from_secs(2), "{scheme:?}: nobody waited for the refresh ({raced:?})");
        // The refresh thread may reach the server after the race ended; it is one request, never more.
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.count_grant("client_credentials") < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(server.count_grant("client_credentials"), 2, "{scheme:?}: exactly one refresh started");

        // The background refresh lands; from then on the new token is served.
        let deadline = Instant::now() + Duration::from_secs(10);
        let new = loop {
            let token = provider.token().unwrap();
            if !Arc::ptr_eq(&token, &old) {
                break token;
            }
            assert!(Instant::now() < deadline, "{scheme:?}: the refresh never landed");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_ne!(new.access_token().secret(), old.access_token().secret());
        assert_eq!(server.count_grant("client_credentials"), 2);
    }
}

#[test]
fn a_failed_fetch_reaches_every_waiter_without_refetching() {
    let server = start(Scheme::Http);
    let creds = register(&server);
    let client =
        jwt_client(&server, &creds, |c| c.timeout(Duration::from_millis(800)).retry_policy(RetryPolicy::none()));
    let provider = TokenProvider::client_credentials(client, Scopes::none());
    server.inject(Fault::Delay(Duration::from_secs(2)));

    let results = race(&provider, 50);
    for result in &results {
        assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    }
    assert_eq!(server.count_path(TOKEN_PATH), 1, "the waiters shared the one failure");

    // The next call fetches again, and succeeds.
    server.clear_faults();
    provider.token().unwrap();
    assert_eq!(server.count_path(TOKEN_PATH), 2);
}

#[test]
fn invalidate_and_force_refresh_fetch_a_new_token() {
    let server = start(Scheme::Http);
    let provider = provider(&server, CachePolicy::default());
    let first = provider.token().unwrap();

    let forced = provider.force_refresh().unwrap();
    assert!(!Arc::ptr_eq(&first, &forced));
    assert_eq!(server.count_path(TOKEN_PATH), 2);

    // A stale token no longer in the cache does not throw away the current one.
    provider.invalidate_token(&first);
    assert!(Arc::ptr_eq(&provider.token().unwrap(), &forced));
    assert_eq!(server.count_path(TOKEN_PATH), 2);

    provider.invalidate_token(&forced);
    let after = provider.token().unwrap();
    assert!(!Arc::ptr_eq(&after, &forced));
    assert_eq!(server.count_path(TOKEN_PATH), 3);

    provider.invalidate();
    provider.token().unwrap();
    assert_eq!(server.count_path(TOKEN_PATH), 4);
}

#[test]
fn many_threads_seeing_one_401_cause_one_new_fetch() {
    let server = start(Scheme::Http);
    let provider = provider(&server, CachePolicy::default());
    let refused = provider.token().unwrap();
    std::thread::scope(|scope| {
        for _ in 0..20 {
            scope.spawn(|| {
                provider.invalidate_token(&refused);
                provider.token().unwrap();
            });
        }
    });
    assert_eq!(server.count_path(TOKEN_PATH), 2);
}

#[test]
fn provider_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<TokenProvider>();
    check::<td_oauth_ureq::Client>();
    check::<Error>();
}
