//! The token wrappers for the Rust stacks against the testkit's protected resource, over sockets: a
//! `reqwest-middleware` chain and a hyper-util client in a `tower` stack. Both follow the core's 401 rule:
//! one new token and one retry, none for a body that cannot be replayed, none with the refused token again.
#![cfg(all(feature = "middleware", feature = "tower"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use common::{SCHEMES, Scheme, client, server};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use td_oauth_reqwest::layer::{BearerError, BearerLayer};
use td_oauth_reqwest::middleware::BearerMiddleware;
use td_oauth_reqwest::source::TokenSource;
use td_oauth_reqwest::{Error, Grant, Scopes, TokenProvider, TokenResponse, async_trait};
use td_oauth_testkit::{Fault, FaultTarget, ME_PATH, TOKEN_PATH, TestServer};
use tower::{Layer, ServiceExt};

fn provider(server: &TestServer) -> TokenProvider {
    client(server).0.provider(Grant::client_credentials(Scopes::new(["users:read"]).unwrap()))
}

/// A fixed token, counted: a source that can only hand back the token the API refused.
struct Fixed {
    token: Arc<TokenResponse>,
    calls: AtomicUsize,
}

#[async_trait]
impl TokenSource for Fixed {
    async fn token(&self) -> Result<Arc<TokenResponse>, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::clone(&self.token))
    }

    fn invalidate(&self) {}
}

#[tokio::test]
async fn a_middleware_chain_gets_tokens_and_recovers_once_from_a_401() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let provider = provider(&server);
        let api = reqwest_middleware::ClientBuilder::new(provider.client().http_client().clone())
            .with(BearerMiddleware::new(provider.clone()))
            .build();

        let response = api.get(server.me_url()).send().await.unwrap();
        assert_eq!(response.status(), 200, "{scheme:?}");
        assert!(response.text().await.unwrap().contains("users:read"));
        assert_eq!(server.count_path(TOKEN_PATH), 1);

        server.fail_next_api_calls(1);
        assert_eq!(api.get(server.me_url()).send().await.unwrap().status(), 200, "{scheme:?}");
        assert_eq!((server.count_path(TOKEN_PATH), server.count_path(ME_PATH)), (2, 3), "one new token, one retry");

        // Refused twice in a row: the second 401 is returned, not looped on.
        server.fail_next_api_calls(2);
        assert_eq!(api.get(server.me_url()).send().await.unwrap().status(), 401);
        assert_eq!((server.count_path(TOKEN_PATH), server.count_path(ME_PATH)), (3, 5));
    }
}

#[tokio::test]
async fn the_middleware_does_not_resend_the_refused_token() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    let token = Arc::new(client.client_credentials(Scopes::none()).await.unwrap());
    let fixed = Arc::new(Fixed { token, calls: AtomicUsize::new(0) });
    let source: Arc<dyn TokenSource> = fixed.clone();
    let api = reqwest_middleware::ClientBuilder::new(client.http_client().clone())
        .with(BearerMiddleware::new(source))
        .build();
    server.revoke_access_tokens();
    assert_eq!(api.get(server.me_url()).send().await.unwrap().status(), 401);
    assert_eq!(server.count_path(ME_PATH), 1, "the same token again would only be refused again");
    assert_eq!(fixed.calls.load(Ordering::SeqCst), 2, "asked once for a new token");
}

#[tokio::test]
async fn a_failed_token_fetch_is_a_middleware_error_holding_the_cause() {
    let server = server(Scheme::Http);
    let provider = provider(&server);
    server.inject_on(FaultTarget::Token, Fault::status(400), 1);
    let api = reqwest_middleware::ClientBuilder::new(provider.client().http_client().clone())
        .with(BearerMiddleware::new(provider))
        .build();
    match api.get(server.me_url()).send().await {
        Err(reqwest_middleware::Error::Middleware(error)) => assert!(error.downcast_ref::<Error>().is_some()),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.count_path(ME_PATH), 0, "no request without a token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_middleware_requests_refused_at_once_cause_one_new_token() {
    let server = server(Scheme::Http);
    let provider = provider(&server);
    let api = reqwest_middleware::ClientBuilder::new(provider.client().http_client().clone())
        .with(BearerMiddleware::new(provider))
        .build();
    assert_eq!(api.get(server.me_url()).send().await.unwrap().status(), 200);
    server.revoke_access_tokens();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (api, url) = (api.clone(), server.me_url());
            tokio::spawn(async move { api.get(url).send().await.unwrap().status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(server.count_path(TOKEN_PATH), 2, "one new token for twenty refusals");
}

#[tokio::test]
async fn a_hyper_client_in_a_tower_stack_gets_tokens_and_recovers_once_from_a_401() {
    let server = server(Scheme::Http);
    let provider = provider(&server);
    let http = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let api = BearerLayer::new(provider).layer(http);
    let me = || http::Request::get(server.me_url()).body(Full::new(Bytes::new())).unwrap();

    let response = api.clone().oneshot(me()).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("users:read"));

    server.fail_next_api_calls(1);
    assert_eq!(api.clone().oneshot(me()).await.unwrap().status(), 200);
    assert_eq!((server.count_path(TOKEN_PATH), server.count_path(ME_PATH)), (2, 3));

    server.fail_next_api_calls(2);
    assert_eq!(api.clone().oneshot(me()).await.unwrap().status(), 401);
    assert_eq!((server.count_path(TOKEN_PATH), server.count_path(ME_PATH)), (3, 5));
}

#[tokio::test]
async fn a_stream_is_not_sent_twice_but_its_refused_token_is_dropped() {
    let server = server(Scheme::Http);
    let provider = provider(&server);
    let http = HyperClient::builder(TokioExecutor::new()).build_http::<BoxBody<Bytes, std::convert::Infallible>>();
    let api = BearerLayer::new(provider).layer(http);
    let me = || http::Request::get(server.me_url()).body(Empty::new().boxed()).unwrap();

    assert_eq!(api.clone().oneshot(me()).await.unwrap().status(), 200);
    server.revoke_access_tokens();
    assert_eq!(api.clone().oneshot(me()).await.unwrap().status(), 401, "a stream cannot be replayed");
    assert_eq!((server.count_path(TOKEN_PATH), server.count_path(ME_PATH)), (1, 2));
    // The next request gets a new token.
    assert_eq!(api.clone().oneshot(me()).await.unwrap().status(), 200);
    assert_eq!(server.count_path(TOKEN_PATH), 2);
}

#[tokio::test]
async fn the_tower_service_reports_token_and_transport_failures_apart() {
    let live = server(Scheme::Http);
    let http = HyperClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let api = BearerLayer::new(provider(&live)).layer(http);
    // Nothing listens on port 9 of loopback: the inner client fails, after a token was fetched.
    let nowhere = http::Request::get("http://127.0.0.1:9/api/me").body(Empty::new()).unwrap();
    assert!(matches!(api.clone().oneshot(nowhere).await, Err(BearerError::Service(_))));
    assert_eq!(live.count_path(TOKEN_PATH), 1);

    let broken = server(Scheme::Http);
    let http = HyperClient::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let api = BearerLayer::new(provider(&broken)).layer(http);
    broken.shutdown();
    let me = http::Request::get("http://127.0.0.1:9/api/me").body(Empty::new()).unwrap();
    match api.oneshot(me).await {
        Err(BearerError::Token(error)) => assert!(error.to_string().contains("could not reach"), "{error}"),
        other => panic!("{other:?}"),
    }
}
