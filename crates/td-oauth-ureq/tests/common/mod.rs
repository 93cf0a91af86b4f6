//! Helpers shared by the end-to-end tests: servers, clients and fast configurations, and this transport's
//! [`Driver`] for the scenarios td-oauth-transport-tests holds for both transports.
#![allow(dead_code, unreachable_pub, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::future::{Future, Ready, ready};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use serde_json::Value;
use td_oauth_testkit::{ClientCredentials, TestServer};
pub use td_oauth_transport_tests::setup::{
    SCHEMES, Scheme, TestClock, basic as basic_credentials, endpoints, jwt as jwt_credentials, register,
    server as start,
};
use td_oauth_transport_tests::{Driver, poll_ready};
use td_oauth_ureq::api::{ApiError, ApiGateway, Paginator, UserId, UserInfo};
use td_oauth_ureq::core::clock::ClockOffset;
use td_oauth_ureq::core::{Endpoints, Grant, Scopes, TokenClient, TokenResponse};
use td_oauth_ureq::{ApiClient, Client, Config, Error, TokenProvider};

/// Short backoffs, generous timeouts: retries are quick, slow CI machines do not time out by accident.
pub fn fast_config(server: &TestServer) -> Config {
    td_oauth_transport_tests::setup::config(server)
}

/// A signed-JWT client with [`fast_config`] changed by `tweak`.
pub fn jwt_client(server: &TestServer, creds: &ClientCredentials, tweak: impl FnOnce(Config) -> Config) -> Client {
    Client::with_config(&endpoints(server), jwt_credentials(creds), tweak(fast_config(server))).unwrap()
}

/// `n` threads, released together by a barrier, each asking `provider` for a token once.
pub fn race(provider: &TokenProvider, n: usize) -> Vec<Result<Arc<TokenResponse>, Error>> {
    let barrier = Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    provider.token()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Asserts every result is the same token and returns it.
pub fn all_same(results: Vec<Result<Arc<TokenResponse>, Error>>) -> Arc<TokenResponse> {
    let tokens: Vec<Arc<TokenResponse>> = results.into_iter().map(|r| r.unwrap()).collect();
    let first = tokens[0].clone();
    for token in &tokens {
        assert_eq!(token.access_token().secret(), first.access_token().secret());
    }
    first
}

/// This transport as td-oauth-transport-tests' scenarios drive it: each call blocks, then hands back a
/// ready future, so one poll runs a scenario; `spawn_token` starts a thread at once and joins it when its
/// future is polled.
#[derive(Debug)]
pub struct Blocking;

impl Driver for Blocking {
    type Client = Client;
    type Provider = TokenProvider;
    type Api = ApiClient;

    const BLOCKING: bool = true;
    const STOPS_FOLLOWING_CLIENTS: bool = true;

    fn block_on<F: Future>(future: F) -> F::Output {
        poll_ready(future)
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send {
        std::thread::sleep(duration);
        ready(())
    }

    fn client(tokens: TokenClient, config: Config) -> Result<Client, Error> {
        Client::from_token_client(tokens, config)
    }

    fn following_redirects(config: Config) -> Config {
        config.with_built_client(ureq::Agent::config_builder().max_redirects(5).build().new_agent())
    }

    fn client_credentials(client: &Client, scopes: Scopes) -> impl Future<Output = Result<TokenResponse, Error>> {
        ready(client.client_credentials(scopes))
    }

    fn provider(client: &Client, grant: Grant) -> TokenProvider {
        client.provider(grant)
    }

    fn token(provider: &TokenProvider) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        ready(provider.token())
    }

    fn invalidate(provider: &TokenProvider) {
        provider.invalidate();
    }

    fn clock_offset(provider: &TokenProvider) -> Option<ClockOffset> {
        provider.clock_offset()
    }

    fn client_clock_offset(client: &Client) -> Option<ClockOffset> {
        client.token_client().clock_offset()
    }

    fn with_token(provider: &TokenProvider) -> impl Future<Output = Result<String, Error>> {
        ready(provider.with_token(|token| token.access_token().secret().to_owned()))
    }

    fn token_rejected(provider: &TokenProvider, token: &Arc<TokenResponse>) -> bool {
        provider.token_rejected(token)
    }

    fn spawn_token(
        provider: &TokenProvider,
    ) -> impl Future<Output = Option<Result<Arc<TokenResponse>, Error>>> + Send + 'static {
        let provider = provider.clone();
        let call = Mutex::new(Some(std::thread::spawn(move || provider.token())));
        std::future::poll_fn(move |_| {
            let call = call.lock().unwrap().take().expect("polled once");
            std::task::Poll::Ready(call.join().ok())
        })
    }

    fn cancel_after(_: &TokenProvider, _: Duration) -> Option<impl Future<Output = ()> + Send> {
        None::<Ready<()>>
    }

    fn api(provider: TokenProvider, gateway: ApiGateway) -> ApiClient {
        ApiClient::new(provider, gateway)
    }

    fn userinfo(api: &ApiClient) -> impl Future<Output = Result<UserInfo, ApiError>> {
        ready(api.userinfo())
    }

    fn items(api: &ApiClient, paginator: Paginator) -> impl Future<Output = (Vec<Value>, Option<ApiError>)> {
        let mut items = Vec::new();
        let mut iter = api.items(paginator);
        while let Some(item) = iter.next() {
            match item {
                Ok(item) => items.push(item),
                Err(err) => {
                    assert!(iter.next().is_none(), "the iteration ends after its error");
                    return ready((items, Some(err)));
                }
            }
        }
        ready((items, None))
    }

    fn get_json(api: &ApiClient, path: &str) -> impl Future<Output = Result<Value, ApiError>> {
        ready(api.get_json(path))
    }

    fn send(
        api: &ApiClient,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, ApiError>> {
        ready(api.send(request))
    }

    fn call(
        api: &ApiClient,
        method: http::Method,
        path: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, ApiError>> {
        ready(api.call(method, path, body))
    }

    fn end_user_session(
        api: &ApiClient,
        endpoints: &Endpoints,
        user: &UserId,
    ) -> impl Future<Output = Result<(), ApiError>> {
        ready(api.end_user_session(endpoints, user))
    }
}
