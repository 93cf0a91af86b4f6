//! The fault matrix (`td_oauth_testkit::matrix`): every fault the testkit can inject at the token endpoint,
//! against a cold cache, a warm cache and a cache due for refresh ahead of expiry, with the outcome of every
//! cell asserted. The table and the checks are the testkit's; this file is the async runner: how to build
//! and call a provider, which of its errors is which kind, and a bounded number of cells at a time as tokio
//! tasks, each against its own server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestClock, client_with, jwt};
use td_oauth_reqwest::{CachePolicy, Config, Error, Grant, RetryPolicy, Scopes, TokenProvider, TokenResponse};
use td_oauth_testkit::matrix::{self, Kind, Subject};
use td_oauth_testkit::{Algorithm, Fault, TestServer};

/// How many cells run at once: enough to overlap their waits, few enough that a loaded 2-core machine does
/// not push a healthy exchange past the 400 ms attempt timeout.
const CONCURRENT: usize = 4;
const MS: fn(u64) -> Duration = Duration::from_millis;

/// The settings the matrix assumes: short attempts and backoffs, a small deadline, refresh with 75 % left.
fn config(server: &TestServer) -> Config {
    let (first, max) = matrix::BACKOFF;
    common::config(server)
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
    let creds = server.register_client(Algorithm::Es256).unwrap();
    client_with(server, jwt(&creds), config).provider(Grant::client_credentials(Scopes::none()))
}

/// This transport's provider, as the matrix drives it, on
/// a clock the matrix steps.
#[derive(Debug)]
struct Async(TokenProvider, TestClock);

impl Subject for Async {
    type Token = TokenResponse;
    type Error = Error;

    fn same_token(a: &Arc<TokenResponse>, b: &Arc<TokenResponse>) -> bool {
        a.is_same_token(b)
    }

    fn new(server: &TestServer) -> Self {
        let clock = TestClock::new();
        Async(provider_with(server, config(server).with_clock(clock.clone())), clock)
    }

    fn advance(&self, by: Duration) {
        self.1.time.advance(by);
    }

    async fn token(&self) -> Result<Arc<TokenResponse>, Error> {
        self.0.token().await
    }

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn is(err: &Error, kind: Kind) -> bool {
        use td_oauth_reqwest::core::response::ResponseError;
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
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let results = runtime.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENT));
        let cells: Vec<_> = matrix::cells()
            .into_iter()
            .map(|cell| {
                let limit = Arc::clone(&limit);
                tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await.unwrap();
                    // Starting and stopping a server blocks briefly (a thread of its own): keep it off the
                    // runtime's workers.
                    let server = tokio::task::spawn_blocking(|| TestServer::start().unwrap()).await.unwrap();
                    let result = cell.check::<Async>(&server).await;
                    tokio::task::spawn_blocking(move || drop(server)).await.unwrap();
                    result
                })
            })
            .collect();
        let mut results = Vec::new();
        for cell in cells {
            results.push(cell.await.unwrap());
        }
        results
    });
    if let Err(report) = matrix::report(results) {
        panic!("{report}");
    }
}

/// The matrix's "huge" `expires_in` is usable; the cache still keeps it no longer than its cap (24 h by
/// default, an hour here), after which it is refreshed like any other.
#[test]
fn a_huge_expires_in_is_cached_no_longer_than_the_cap() {
    let runtime = common::runtime();
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
    let huge = runtime.block_on(provider.token()).unwrap();
    assert_eq!(huge.expires_in(), Duration::from_secs(1_000_000_000));
    // Capped at an hour, due with 75 % left: due after 15 minutes.
    clock.time.advance(Duration::from_secs(15 * 60 + 1));
    let served = runtime.block_on(provider.token()).unwrap();
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
    let runtime = common::runtime();
    let server = TestServer::start().unwrap();
    let provider = provider_with(&server, config(&server));
    server.inject_n(Fault::ExpiresIn(0.into()), 100);
    for call in 1..=5 {
        let token = runtime.block_on(provider.token()).unwrap();
        assert_eq!(token.expires_in(), Duration::ZERO);
        assert_eq!(server.request_count(), call);
    }
}
