//! The shared provider's behaviour: td-oauth-testkit's table of provider cases (refresh ahead, expiry,
//! rotation, the herd, a failing endpoint, a panic while recording, …) on a clock the cases step, run with
//! blocking calls on threads; and what only this crate's provider offers (`with_token`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::{Future, ready};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Scheme, TestClock, fast_config, jwt_client, jwt_credentials, register, start};
use td_oauth_testkit::matrix::{self, Kind};
use td_oauth_testkit::providers::{self, Setup, SetupGrant, Subject};
use td_oauth_testkit::{TOKEN_PATH, TestServer};
use td_oauth_ureq::core::cache::CachePolicy;
use td_oauth_ureq::core::retry::RetryPolicy;
use td_oauth_ureq::core::{Grant, RefreshToken, Scopes, TokenResponse};
use td_oauth_ureq::{Client, Error, TokenProvider};

/// This transport's provider, as the provider cases drive it: each call blocks, then hands back a ready
/// future; `spawn` starts a thread at once and joins it when its future is polled.
#[derive(Debug)]
struct Blocking {
    provider: TokenProvider,
    clock: TestClock,
}

impl Subject for Blocking {
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
        let config = fast_config(server)
            .with_timeout(providers::ATTEMPT)
            .with_connect_timeout(providers::ATTEMPT)
            .with_retry_policy(retry)
            .with_cache_policy(cache)
            .with_clock(clock.clone());
        let grant = match setup.grant {
            SetupGrant::ClientCredentials => Grant::client_credentials(Scopes::none()),
            SetupGrant::RefreshToken(token) => Grant::refresh_token(RefreshToken::new(token), Scopes::none()),
        };
        let client = Client::with_config(&common::endpoints(server), jwt_credentials(&setup.client), config).unwrap();
        Blocking { provider: client.provider(grant), clock }
    }

    fn token(&self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        ready(self.provider.token())
    }

    fn spawn(&self) -> impl Future<Output = Option<Result<Arc<TokenResponse>, Error>>> + Send + 'static {
        let provider = self.provider.clone();
        let call = Mutex::new(Some(std::thread::spawn(move || provider.token())));
        std::future::poll_fn(move |_| {
            let call = call.lock().unwrap().take().expect("polled once");
            std::task::Poll::Ready(call.join().ok())
        })
    }

    fn cancel_after(&self, _: Duration) -> Option<impl Future<Output = ()> + Send> {
        None::<std::future::Ready<()>>
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

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        std::thread::sleep(duration);
        ready(())
    }

    fn is(err: &Error, kind: Kind) -> bool {
        use td_oauth_ureq::core::response::ResponseError;
        match (kind, err) {
            (Kind::OAuth(code), Error::Response(ResponseError::OAuth(oauth))) => oauth.code().as_str() == code,
            (Kind::Timeout, Error::Timeout { .. }) => true,
            _ => false,
        }
    }
}

#[test]
fn provider_cases() {
    let cases = providers::cases();
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..providers::CONCURRENT {
            scope.spawn(|| {
                while let Some(case) = cases.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let server = TestServer::start().unwrap();
                    let result = case.check_blocking::<Blocking>(&server);
                    results.lock().unwrap().push((case.name, result));
                }
            });
        }
    });
    let mut checked = Vec::new();
    for (name, result) in results.into_inner().unwrap() {
        match result {
            // The one case a blocking provider cannot run: it says why, and only that one may be skipped.
            Ok(Some(reason)) => assert!(name.contains("cancelled") && reason.contains("blocking"), "{name}: {reason}"),
            result => checked.push(result.map(drop)),
        }
    }
    assert_eq!(checked.len(), cases.len() - 1);
    if let Err(report) = matrix::report(checked) {
        panic!("{report}");
    }
}

#[test]
fn with_token_lends_the_cached_token() {
    let server = start(Scheme::Http);
    let provider = TokenProvider::client_credentials(jwt_client(&server, &register(&server), |c| c), Scopes::none());
    let cold = provider.with_token(|token| token.access_token().secret().to_owned()).unwrap();
    let warm = provider.with_token(|token| token.access_token().secret().to_owned()).unwrap();
    assert_eq!(cold, warm);
    assert_eq!(server.count_path(TOKEN_PATH), 1);
}

#[test]
fn provider_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<TokenProvider>();
    check::<Client>();
    check::<Error>();
}
