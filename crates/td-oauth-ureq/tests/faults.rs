//! Retries, timeouts and refusals, with faults injected by the testkit and counted at the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use td_oauth_testkit::{Fault, TOKEN_PATH, TestServer};
use td_oauth_ureq::core::retry::RetryPolicy;
use td_oauth_ureq::core::{ErrorCode, Grant, Scopes};
use td_oauth_ureq::{Client, Config, Error};

fn grant() -> Grant {
    Grant::client_credentials(Scopes::none())
}

/// Two retries at most, 10 ms backoff, short per-attempt timeout.
fn two_retries(config: Config) -> Config {
    config.with_timeout(Duration::from_millis(300)).with_retry_policy(
        RetryPolicy::default()
            .with_max_retries(2)
            .with_backoff(Duration::from_millis(10), Duration::from_millis(20))
            .unwrap()
            .with_deadline(Duration::from_secs(10)),
    )
}

fn each_scheme(test: impl Fn(&TestServer, &Client)) {
    for scheme in SCHEMES {
        let server = start(scheme);
        let creds = register(&server);
        let client = jwt_client(&server, &creds, |c| c);
        test(&server, &client);
    }
}

#[test]
fn two_503s_then_success_is_one_call_and_three_requests() {
    each_scheme(|server, client| {
        server.inject_n(Fault::status(503), 2);
        let token = client.fetch(&grant()).unwrap();
        assert!(!token.access_token().secret().is_empty());
        assert_eq!(server.count_path(TOKEN_PATH), 3);
        let last = server.last_request().unwrap();
        assert_eq!(last.status, Some(200), "the third try signed a fresh assertion and was accepted");
    });
}

#[test]
fn retry_after_on_429_is_honoured() {
    let server = start(Scheme::Http);
    let creds = register(&server);
    let client = jwt_client(&server, &creds, |c| c);
    server.inject(Fault::retry_after(429, "1"));
    let started = Instant::now();
    client.fetch(&grant()).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(server.count_path(TOKEN_PATH), 2);
}

#[test]
fn invalid_client_surfaces_at_once_with_the_description() {
    each_scheme(|server, _| {
        let creds = register(server);
        let mut wrong = creds.clone();
        wrong.client_secret = "not-the-secret".into();
        let client = Client::with_config(&endpoints(server), basic_credentials(&wrong), fast_config(server)).unwrap();
        let err = client.fetch(&grant()).unwrap_err();
        assert_eq!(server.count_path(TOKEN_PATH), 1, "never retried");
        assert_eq!(err.oauth().unwrap().code(), &ErrorCode::InvalidClient);
        assert!(!err.is_retryable());
        let description = server.last_request().unwrap().error_description.unwrap();
        assert!(!description.is_empty());
        assert!(err.to_string().contains(&description), "{err}");
    });
}

#[test]
fn dropped_connections_are_retried_then_reported() {
    each_scheme(|server, _| {
        let creds = register(server);
        let client = jwt_client(server, &creds, two_retries);
        server.inject_n(Fault::DropConnection, 10);
        let err = client.fetch(&grant()).unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(err.is_retryable());
        assert_eq!(server.count_path(TOKEN_PATH), 3, "the first try and two retries");
    });
}

#[test]
fn a_server_slower_than_the_timeout_is_retried_then_a_timeout() {
    each_scheme(|server, _| {
        let creds = register(server);
        let client = jwt_client(server, &creds, two_retries);
        server.inject_n(Fault::Delay(Duration::from_secs(2)), 10);
        let started = Instant::now();
        let err = client.fetch(&grant()).unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        assert_eq!(server.count_path(TOKEN_PATH), 3);
        server.clear_faults();
    });
}

#[test]
fn a_truncated_body_is_retried() {
    each_scheme(|server, client| {
        server.inject(Fault::TruncateBody { sent: 10 });
        client.fetch(&grant()).unwrap();
        assert_eq!(server.count_path(TOKEN_PATH), 2);
    });
}

#[test]
fn a_huge_body_is_a_size_error() {
    each_scheme(|server, client| {
        server.inject(Fault::large_body(200, 1024 * 1024));
        let err = client.fetch(&grant()).unwrap_err();
        assert!(matches!(err, Error::ResponseTooLarge { status: 200, limit: 65536 }), "{err:?}");
        assert_eq!(server.count_path(TOKEN_PATH), 1);
    });
}

#[test]
fn a_real_token_response_over_a_small_cap_is_refused() {
    let server = start(Scheme::Http);
    let creds = register(&server);
    let client = jwt_client(&server, &creds, |c| c.with_max_response_bytes(100));
    let err = client.fetch(&grant()).unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { limit: 100, .. }), "{err:?}");
}

#[test]
fn a_malformed_body_is_a_parse_error() {
    each_scheme(|server, client| {
        server.inject(Fault::malformed_json());
        let err = client.fetch(&grant()).unwrap_err();
        assert!(
            matches!(err, Error::Response(td_oauth_ureq::core::response::ResponseError::Malformed { .. })),
            "{err:?}"
        );
        assert_eq!(server.count_path(TOKEN_PATH), 1);
    });
}

#[test]
fn redirects_are_refused_even_with_a_caller_agent_that_follows_them() {
    let server = start(Scheme::Http);
    let creds = register(&server);
    let follows = ureq::Agent::config_builder().max_redirects(5).build().new_agent();
    let location = format!("{}/elsewhere", server.base_url());
    for client in
        [jwt_client(&server, &creds, |c| c), jwt_client(&server, &creds, |c| c.with_built_client(follows.clone()))]
    {
        server.clear_requests();
        server.inject(Fault::body(302, "text/plain", "moved").with_header("location", location.clone()));
        let err = client.fetch(&grant()).unwrap_err();
        assert!(matches!(err, Error::Redirected { status: 302, .. }), "{err:?}");
        assert_eq!(server.request_count(), 1, "the redirect was not followed");
    }
}

#[test]
fn connection_refused_is_a_transport_error() {
    let server = start(Scheme::Http);
    let creds = register(&server);
    let endpoints = endpoints(&server);
    drop(server);
    let client =
        td_oauth_ureq::Client::with_config(&endpoints, jwt_credentials(&creds), two_retries(Config::new())).unwrap();
    let err = client.fetch(&grant()).unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}
