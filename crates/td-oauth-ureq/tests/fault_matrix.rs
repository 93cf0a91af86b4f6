//! The fault matrix (`td_oauth_testkit::matrix`): every fault the testkit can inject at the token endpoint,
//! against a cold cache, a warm cache and a cache due for refresh ahead of expiry, with the outcome of every
//! cell asserted. The table and the checks are the testkit's; this file is the blocking runner: how to build
//! and call a provider, which of its errors is which kind, and a bounded number of cells at a time on
//! threads, each against its own server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::ready;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestClock, fast_config, jwt_client, register};
use td_oauth_testkit::matrix::{self, Kind, Subject};
use td_oauth_testkit::{Fault, TestServer};
use td_oauth_ureq::core::cache::CachePolicy;
use td_oauth_ureq::core::retry::RetryPolicy;
use td_oauth_ureq::core::{Scopes, TokenResponse};
use td_oauth_ureq::{Config, Error, TokenProvider};

/// How many cells run at once: enough to overlap their waits, few enough that a loaded 2-core machine does
/// not push a healthy exchange past the 400 ms attempt timeout.
const CONCURRENT: usize = 4;
const MS: fn(u64) -> Duration = Duration::from_millis;

/// The settings the matrix assumes: short attempts and backoffs, a small deadline, refresh with 75 % left.
fn config(server: &TestServer) -> Config {
    let (first, max) = matrix::BACKOFF;
    fast_config(server)
        .with_timeout(matrix::ATTEMPT)
        .with_connect_timeout(matrix::ATTEMPT)
        .with_retry_policy(
            RetryPolicy::default()
                .with_max_retries(matrix::RETRIES)
                .with_backoff(first, max)
                .unwrap()
                .with_deadline(matrix::DEADLINE),
        )
        .with_cache_policy(
            CachePolicy::default()
                .with_refresh_percent(matrix::REFRESH_REMAINING_PERCENT)
                .unwrap()
                .with_backoff(matrix::CACHE_BACKOFF, matrix::CACHE_BACKOFF)
                .unwrap()
                .with_refresh_jitter_percent(0)
                .unwrap(),
        )
}

fn provider_with(server: &TestServer, config: Config) -> TokenProvider {
    TokenProvider::client_credentials(jwt_client(server, &register(server), |_| config), Scopes::none())
}

/// This transport's provider, as the matrix drives it: each call blocks, then hands back a ready future, on
/// a clock the matrix steps.
#[derive(Debug)]
struct Blocking(TokenProvider, TestClock);

impl Subject for Blocking {
    type Token = TokenResponse;
    type Error = Error;

    fn same_token(a: &Arc<TokenResponse>, b: &Arc<TokenResponse>) -> bool {
        a.is_same_token(b)
    }

    fn new(server: &TestServer) -> Self {
        let clock = TestClock::new();
        Blocking(provider_with(server, config(server).with_clock(clock.clone())), clock)
    }

    fn advance(&self, by: Duration) {
        self.1.time.advance(by);
    }

    fn token(&self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        ready(self.0.token())
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        std::thread::sleep(duration);
        ready(())
    }

    fn is(err: &Error, kind: Kind) -> bool {
        use td_oauth_ureq::core::response::ResponseError;
        match (kind, err) {
            (Kind::OAuth(code), Error::Response(ResponseError::OAuth(oauth))) => oauth.code().as_str() == code,
            (Kind::Status(expected), Error::Response(ResponseError::UnexpectedStatus { status, .. })) => {
                status.as_u16() == expected
            }
            (Kind::Malformed, Error::Response(ResponseError::Malformed { .. }))
            | (Kind::Transport, Error::Transport { .. })
            | (Kind::Timeout, Error::Timeout { .. })
            | (Kind::TooLarge, Error::ResponseTooLarge { .. }) => true,
            _ => false,
        }
    }
}

#[test]
fn fault_matrix() {
    let cells = matrix::cells();
    // `CONCURRENT` threads take the cells in turn.
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..CONCURRENT {
            scope.spawn(|| {
                while let Some(cell) = cells.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let server = TestServer::start().unwrap();
                    let result = cell.check_blocking::<Blocking>(&server);
                    results.lock().unwrap().push(result);
                }
            });
        }
    });
    if let Err(report) = matrix::report(results.into_inner().unwrap()) {
        panic!("{report}");
    }
}

/// The matrix's "huge" `expires_in` is usable; the cache still keeps it no longer than its cap (24 h by
/// default, an hour here), after which it is refreshed like any other.
#[test]
fn a_huge_expires_in_is_cached_no_longer_than_the_cap() {
    let server = TestServer::start().unwrap();
    let cache = CachePolicy::default()
        .with_refresh_percent(75)
        .unwrap()
        .with_refresh_jitter_percent(0)
        .unwrap()
        .with_max_lifetime(Duration::from_secs(3600));
    let clock = TestClock::new();
    let provider = provider_with(&server, config(&server).with_cache_policy(cache).with_clock(clock.clone()));
    server.inject(Fault::ExpiresIn(1_000_000_000u64.into()));
    let huge = provider.token().unwrap();
    assert_eq!(huge.expires_in(), Duration::from_secs(1_000_000_000));
    // Capped at an hour, due with 75 % left: due after 15 minutes.
    clock.time.advance(Duration::from_secs(15 * 60 + 1));
    let served = provider.token().unwrap();
    assert!(served.is_same_token(&huge), "the capped token is still valid");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.request_count() < 2 {
        assert!(Instant::now() < deadline, "the capped token was never refreshed");
        std::thread::sleep(MS(10));
    }
}

/// A server that always answers `expires_in: 0`: every call gets a token (the one fetched for it), at the
/// cost of exactly one request per call; no loop, no storm, no error.
#[test]
fn expires_in_zero_every_time_costs_one_request_per_call() {
    let server = TestServer::start().unwrap();
    let provider = provider_with(&server, config(&server));
    server.inject_n(Fault::ExpiresIn(0.into()), 100);
    for call in 1..=5 {
        let token = provider.token().unwrap();
        assert_eq!(token.expires_in(), Duration::ZERO);
        assert_eq!(server.request_count(), call);
    }
}
