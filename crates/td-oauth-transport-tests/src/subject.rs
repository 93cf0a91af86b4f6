//! [`Subject`]: a transport's token provider on a [`TestClock`], as the testkit's fault matrix and
//! provider cases drive it, with the settings each table assumes; and which core error is which
//! [`Kind`], written once for both transports.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use td_oauth_core::cache::CachePolicy;
use td_oauth_core::response::ResponseError;
use td_oauth_core::retry::RetryPolicy;
use td_oauth_core::transport::Config;
use td_oauth_core::{Error, Grant, RefreshToken, Scopes, TokenClient, TokenResponse};
use td_oauth_testkit::matrix::{self, Kind};
use td_oauth_testkit::providers::{self, Setup, SetupGrant};
use td_oauth_testkit::{ClientCredentials, TestServer};

use crate::driver::Driver;
use crate::setup::{TestClock, config, endpoints, jwt, register};

/// A transport's token provider and the clock it runs on.
pub(crate) struct Subject<D: Driver> {
    /// The provider.
    pub(crate) provider: D::Provider,
    /// Its clock.
    pub(crate) clock: TestClock,
}

// The provider's `Debug` is what the tables read (`fetching: Some` while a fetch is in flight).
impl<D: Driver> fmt::Debug for Subject<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.provider.fmt(f)
    }
}

impl<D: Driver> Subject<D> {
    /// A provider of `grant` for `creds` at `server`, with `config` and a new clock.
    pub(crate) fn new(server: &TestServer, creds: &ClientCredentials, config: Config<D::Client>, grant: Grant) -> Self {
        let clock = TestClock::new();
        let tokens = TokenClient::new(&endpoints(server), jwt(creds));
        let client = D::client(tokens, config.with_clock(clock.clone())).unwrap();
        Subject { provider: D::provider(&client, grant), clock }
    }

    /// A client-credentials provider of a newly registered client of `server`, with `config`.
    pub(crate) fn client_credentials(server: &TestServer, config: Config<D::Client>) -> Self {
        Subject::new(server, &register(server), config, Grant::client_credentials(Scopes::none()))
    }
}

/// The settings the fault matrix assumes: short attempts and backoffs, a small deadline, refresh with 75 %
/// left.
pub(crate) fn matrix_config<D: Driver>(server: &TestServer) -> Config<D::Client> {
    let (first, max) = matrix::BACKOFF;
    config(server)
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

/// The settings the provider cases assume.
fn providers_config<D: Driver>(server: &TestServer) -> Config<D::Client> {
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
    config(server)
        .with_timeout(providers::ATTEMPT)
        .with_connect_timeout(providers::ATTEMPT)
        .with_retry_policy(retry)
        .with_cache_policy(cache)
}

/// Whether `error` is the core's error for `kind`.
fn is(error: &Error, kind: Kind) -> bool {
    match (kind, error) {
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

impl<D: Driver> matrix::Subject for Subject<D> {
    type Token = TokenResponse;
    type Error = Error;

    fn same_token(a: &Arc<TokenResponse>, b: &Arc<TokenResponse>) -> bool {
        a.is_same_token(b)
    }

    fn new(server: &TestServer) -> Self {
        Subject::client_credentials(server, matrix_config::<D>(server))
    }

    fn token(&self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        D::token(&self.provider)
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        D::sleep(duration)
    }

    fn advance(&self, by: Duration) {
        self.clock.time.advance(by);
    }

    fn is(error: &Error, kind: Kind) -> bool {
        is(error, kind)
    }
}

impl<D: Driver> providers::Subject for Subject<D> {
    type Token = TokenResponse;
    type Error = Error;

    fn same_token(a: &Arc<TokenResponse>, b: &Arc<TokenResponse>) -> bool {
        a.is_same_token(b)
    }

    fn new(server: &TestServer, setup: Setup) -> Self {
        let grant = match setup.grant {
            SetupGrant::ClientCredentials => Grant::client_credentials(Scopes::none()),
            SetupGrant::RefreshToken(token) => Grant::refresh_token(RefreshToken::new(token), Scopes::none()),
        };
        Subject::new(server, &setup.client, providers_config::<D>(server), grant)
    }

    fn token(&self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        D::token(&self.provider)
    }

    fn spawn(&self) -> impl Future<Output = Option<Result<Arc<TokenResponse>, Error>>> + Send + 'static {
        D::spawn_token(&self.provider)
    }

    fn cancel_after(&self, after: Duration) -> Option<impl Future<Output = ()> + Send> {
        D::cancel_after(&self.provider, after)
    }

    fn invalidate(&self) {
        D::invalidate(&self.provider);
    }

    fn token_rejected(&self, token: &Arc<TokenResponse>) -> bool {
        D::token_rejected(&self.provider, token)
    }

    fn advance(&self, by: Duration) {
        self.clock.time.advance(by);
    }

    fn panic_on_clock_read(&self, nth: usize) {
        self.clock.panic_on_read(nth);
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        D::sleep(duration)
    }

    fn is(error: &Error, kind: Kind) -> bool {
        is(error, kind)
    }
}
