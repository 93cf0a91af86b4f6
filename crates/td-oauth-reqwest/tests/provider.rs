//! The shared provider's behaviour: td-oauth-testkit's table of provider cases (refresh ahead, expiry,
//! rotation, the herd, cancellation, a failing endpoint, a panic while recording, …), on a clock the cases
//! step; and what only this transport offers (`try_token_now`, `with_token`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::{Scheme, TestClock, cache_policy, client, client_with, config, jwt, server};
use td_oauth_reqwest::{CachePolicy, Error, Grant, RefreshToken, RetryPolicy, Scopes, TokenProvider, TokenResponse};
use td_oauth_testkit::matrix::{self, Kind};
use td_oauth_testkit::providers::{self, Setup, SetupGrant, Subject};
use td_oauth_testkit::{TOKEN_PATH, TestServer};

/// This transport's provider, as the provider cases drive it.
#[derive(Debug)]
struct Async {
    provider: TokenProvider,
    clock: TestClock,
}

impl Subject for Async {
    type Token = TokenResponse;
    type Error = Error;

    fn same_token(a: &Arc<TokenResponse>, b: &Arc<TokenResponse>) -> bool {
        a.is_same_token(b)
    }

    fn new(server: &TestServer, setup: Setup) -> Self {
        let clock = TestClock::new();
        let (first, max) = providers::BACKOFF;
        let cache = CachePolicy::default()
            .with_refresh_percent(providers::REFRESH_PERCENT)
            .unwrap()
            .with_refresh_jitter_percent(0)
            .unwrap()
            .with_backoff(providers::CACHE_BACKOFF, providers::CACHE_BACKOFF)
            .unwrap();
        let retry = RetryPolicy::default()
            .with_max_retries(providers::RETRIES)
            .with_backoff(first, max)
            .unwrap()
            .with_deadline(providers::DEADLINE);
        let config = config(server)
            .with_timeout(providers::ATTEMPT)
            .with_connect_timeout(providers::ATTEMPT)
            .with_retry_policy(retry)
            .with_cache_policy(cache)
            .with_clock(clock.clone());
        let grant = match setup.grant {
            SetupGrant::ClientCredentials => Grant::client_credentials(Scopes::none()),
            SetupGrant::RefreshToken(token) => Grant::refresh_token(RefreshToken::new(token), Scopes::none()),
        };
        Async { provider: client_with(server, jwt(&setup.client), config).provider(grant), clock }
    }

    fn token(&self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        self.provider.token()
    }

    fn spawn(&self) -> impl Future<Output = Option<Result<Arc<TokenResponse>, Error>>> + Send + 'static {
        let provider = self.provider.clone();
        let call = tokio::spawn(async move { provider.token().await });
        async move { call.await.ok() }
    }

    fn cancel_after(&self, after: Duration) -> Option<impl Future<Output = ()> + Send> {
        Some(async move {
            let _ = tokio::time::timeout(after, self.provider.token()).await;
        })
    }

    fn invalidate(&self) {
        self.provider.invalidate();
    }

    fn token_rejected(&self, token: &Arc<TokenResponse>) -> bool {
        self.provider.token_rejected(token)
    }

    fn advance(&self, by: Duration) {
        self.clock.time.advance(by);
    }

    fn panic_on_clock_read(&self, nth: usize) {
        self.clock.panic_on_read(nth);
    }

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn is(err: &Error, kind: Kind) -> bool {
        use td_oauth_reqwest::core::response::ResponseError;
        match (kind, err) {
            (Kind::OAuth(code), Error::Response(ResponseError::OAuth(oauth))) => oauth.code().as_str() == code,
            (Kind::Timeout, Error::Timeout { .. }) => true,
            _ => false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_cases() {
    let slots = Arc::new(tokio::sync::Semaphore::new(providers::CONCURRENT));
    let runs: Vec<_> = providers::cases()
        .into_iter()
        .map(|case| {
            let slots = Arc::clone(&slots);
            tokio::spawn(async move {
                let _slot = slots.acquire().await.unwrap();
                let server = TestServer::start().unwrap();
                case.check::<Async>(&server).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for run in runs {
        match run.await.unwrap() {
            Ok(Some(skipped)) => panic!("the async provider skipped a case: {skipped}"),
            result => results.push(result.map(drop)),
        }
    }
    if let Err(report) = matrix::report(results) {
        panic!("{report}");
    }
}

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

#[tokio::test]
async fn with_token_lends_the_cached_token() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    let provider = client.provider(Grant::client_credentials(Scopes::none()));
    let cold = provider.with_token(|token| token.access_token().secret().to_owned()).await.unwrap();
    let warm = provider.with_token(|token| token.access_token().secret().to_owned()).await.unwrap();
    assert_eq!(cold, warm);
    assert_eq!(server.count_path(TOKEN_PATH), 1);
}

#[test]
fn the_provider_is_clone_send_sync() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<TokenProvider>();
    shareable::<td_oauth_reqwest::Client>();
    shareable::<td_oauth_reqwest::BearerClient>();
}
