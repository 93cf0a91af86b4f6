//! Helpers shared by the integration tests: a testkit server over HTTP or HTTPS, clients with short
//! timeouts that trust its certificate, credentials in both client authentications, and this transport's
//! [`Driver`] for the scenarios td-oauth-transport-tests holds for both transports.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code, unreachable_pub, unused_imports)]

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::Value;
use td_oauth_reqwest::api::{ApiError, ApiGateway, Paginator, UserId, UserInfo};
use td_oauth_reqwest::core::TokenClient;
use td_oauth_reqwest::core::clock::ClockOffset;
use td_oauth_reqwest::{
    ApiClient, CachePolicy, Client, Config, Credentials, Endpoints, Error, Grant, Scopes, TokenProvider, TokenResponse,
};
use td_oauth_testkit::{Algorithm, ClientCredentials, TestServer};
use td_oauth_transport_tests::Driver;
pub use td_oauth_transport_tests::setup::{SCHEMES, Scheme, TestClock, basic, jwt, server};

pub fn server_with_lifetime(scheme: Scheme, lifetime: Duration) -> TestServer {
    TestServer::builder().https(scheme == Scheme::Https).token_lifetime(lifetime).start().unwrap()
}

/// Settings for tests: short timeouts (an attempt times out after 500 ms) and backoffs, and trust in the
/// server's certificate only.
pub fn config(server: &TestServer) -> Config {
    let config = td_oauth_transport_tests::setup::config(server);
    let retry = config.retry_policy().clone().with_deadline(Duration::from_secs(5));
    config
        .with_timeout(Duration::from_millis(500))
        .with_connect_timeout(Duration::from_millis(500))
        .with_retry_policy(retry)
}

pub fn client_with(server: &TestServer, credentials: Credentials, config: Config) -> Client {
    Client::with_config(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials, config).unwrap()
}

/// A JWT client for a newly registered ES256 client, with the test settings.
pub fn client(server: &TestServer) -> (Client, ClientCredentials) {
    let creds = server.register_client(Algorithm::Es256).unwrap();
    (client_with(server, jwt(&creds), config(server)), creds)
}

/// A cache policy for short test tokens: refresh when `percent` % of the lifetime is left.
pub fn cache_policy(percent: u32) -> CachePolicy {
    CachePolicy::default()
        .with_refresh_percent(percent)
        .unwrap()
        .with_refresh_jitter_percent(0)
        .unwrap()
        .with_expiry_margin(Duration::from_millis(100))
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// This transport as td-oauth-transport-tests' scenarios drive it: its futures, run on one multi-threaded
/// tokio runtime per test binary (a provider's background refreshes are tasks on it).
#[derive(Debug)]
pub struct Async;

impl Driver for Async {
    type Client = Client;
    type Provider = TokenProvider;
    type Api = ApiClient;

    const BLOCKING: bool = false;
    const STOPS_FOLLOWING_CLIENTS: bool = false;

    fn block_on<F: Future>(future: F) -> F::Output {
        static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap()
        });
        runtime.block_on(future)
    }

    async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    fn client(tokens: TokenClient, config: Config) -> Result<Client, Error> {
        Client::from_token_client(tokens, config)
    }

    fn following_redirects(config: Config) -> Config {
        let following = td_oauth_reqwest::http_client_builder(&config)
            .unwrap()
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .unwrap();
        config.with_built_client(following)
    }

    fn client_credentials(client: &Client, scopes: Scopes) -> impl Future<Output = Result<TokenResponse, Error>> {
        client.client_credentials(scopes)
    }

    fn provider(client: &Client, grant: Grant) -> TokenProvider {
        client.provider(grant)
    }

    fn token(provider: &TokenProvider) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        provider.token()
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
        provider.with_token(|token| token.access_token().secret().to_owned())
    }

    fn token_rejected(provider: &TokenProvider, token: &Arc<TokenResponse>) -> bool {
        provider.token_rejected(token)
    }

    fn spawn_token(
        provider: &TokenProvider,
    ) -> impl Future<Output = Option<Result<Arc<TokenResponse>, Error>>> + Send + 'static {
        let provider = provider.clone();
        let call = tokio::spawn(async move { provider.token().await });
        async move { call.await.ok() }
    }

    fn cancel_after(provider: &TokenProvider, after: Duration) -> Option<impl Future<Output = ()> + Send> {
        Some(async move {
            let _ = tokio::time::timeout(after, provider.token()).await;
        })
    }

    fn api(provider: TokenProvider, gateway: ApiGateway) -> ApiClient {
        ApiClient::new(provider, gateway)
    }

    fn userinfo(api: &ApiClient) -> impl Future<Output = Result<UserInfo, ApiError>> {
        api.userinfo()
    }

    async fn items(api: &ApiClient, paginator: Paginator) -> (Vec<Value>, Option<ApiError>) {
        let mut items = Vec::new();
        let mut stream = std::pin::pin!(api.items(paginator));
        while let Some(item) = stream.next().await {
            match item {
                Ok(item) => items.push(item),
                Err(err) => {
                    assert!(stream.next().await.is_none(), "the stream ends after its error");
                    return (items, Some(err));
                }
            }
        }
        (items, None)
    }

    fn get_json(api: &ApiClient, path: &str) -> impl Future<Output = Result<Value, ApiError>> {
        api.get_json(path)
    }

    fn send(
        api: &ApiClient,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, ApiError>> {
        api.send(request)
    }

    fn call(
        api: &ApiClient,
        method: http::Method,
        path: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, ApiError>> {
        api.call(method, path, body)
    }

    fn end_user_session(
        api: &ApiClient,
        endpoints: &Endpoints,
        user: &UserId,
    ) -> impl Future<Output = Result<(), ApiError>> {
        api.end_user_session(endpoints, user)
    }
}
