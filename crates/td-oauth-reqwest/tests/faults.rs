//! Faults at the token endpoint: what is retried (and how often), what is not, and that each ends in the
//! right error without a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{SCHEMES, Scheme, client, client_with, config, jwt, server};
use td_oauth_reqwest::{Error, Scopes};
use td_oauth_testkit::{Algorithm, Fault, TOKEN_PATH};

#[tokio::test]
async fn two_503s_then_success() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let (client, _) = client(&server);
        server.inject_n(Fault::status(503), 2);
        client.client_credentials(Scopes::none()).await.unwrap();
        assert_eq!(server.count_path(TOKEN_PATH), 3, "{scheme:?}");
        assert_eq!(server.last_request().unwrap().status, Some(200));
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    server.inject(Fault::retry_after(429, "1"));
    let started = Instant::now();
    client.client_credentials(Scopes::none()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(server.count_path(TOKEN_PATH), 2);
}

#[tokio::test]
async fn invalid_client_is_not_retried_and_says_why() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let creds = server.register_client(Algorithm::Es256).unwrap();
        let other = server.register_client(Algorithm::Es256).unwrap();
        // Signed with another client's key: the server cannot verify the assertion.
        let mut wrong_key = other.clone();
        wrong_key.client_id = creds.client_id.clone();
        wrong_key.key_id = creds.key_id.clone();
        let client = client_with(&server, jwt(&wrong_key), config(&server));
        let err = client.client_credentials(Scopes::none()).await.unwrap_err();
        let oauth = err.oauth().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(oauth.code().as_str(), "invalid_client");
        let description = server.last_request().unwrap().error_description.unwrap();
        assert!(err.to_string().contains(&description), "{err} lacks {description:?}");
        assert!(!err.is_retryable());
        assert_eq!(server.count_path(TOKEN_PATH), 1, "{scheme:?}: no retry for invalid_client");
    }
}

#[tokio::test]
async fn dropped_connections_are_retried_then_reported() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let (client, _) = client(&server);
        server.inject_n(Fault::DropConnection, 10);
        let err = client.client_credentials(Scopes::none()).await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{scheme:?}: {err:?}");
        assert!(err.is_retryable());
        assert_eq!(server.count_path(TOKEN_PATH), 4, "{scheme:?}: the first try and 3 retries");
    }
}

#[tokio::test]
async fn resets_and_truncated_bodies_are_retried() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    server.inject(Fault::ResetConnection);
    server.inject(Fault::TruncateBody { sent: 10 });
    client.client_credentials(Scopes::none()).await.unwrap();
    assert_eq!(server.count_path(TOKEN_PATH), 3);
}

#[tokio::test]
async fn a_server_slower_than_the_timeout_ends_in_a_timeout() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let (client, _) = client(&server);
        // The test config times out each attempt after 500 ms.
        server.inject_n(Fault::Delay(Duration::from_millis(1500)), 10);
        let started = Instant::now();
        let err = client.client_credentials(Scopes::none()).await.unwrap_err();
        assert!(matches!(err, Error::Timeout { timeout: Some(_), .. }), "{scheme:?}: {err:?}");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
        assert_eq!(server.count_path(TOKEN_PATH), 4, "{scheme:?}: the first try and 3 retries");
    }
}

#[tokio::test]
async fn the_total_deadline_bounds_retries() {
    let server = server(Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let policy = td_oauth_reqwest::RetryPolicy::default()
        .with_max_retries(100)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(20))
        .unwrap()
        .with_deadline(Duration::from_millis(600));
    let client = client_with(&server, jwt(&creds), config(&server).with_retry_policy(policy));
    server.inject_n(Fault::Delay(Duration::from_secs(2)), 100);
    let started = Instant::now();
    let err = client.client_credentials(Scopes::none()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    assert!(server.count_path(TOKEN_PATH) <= 3);
}

#[tokio::test]
async fn a_huge_body_is_a_size_error() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let (client, _) = client(&server);
        server.inject(Fault::large_body(200, 1024 * 1024));
        let err = client.client_credentials(Scopes::none()).await.unwrap_err();
        assert!(matches!(err, Error::ResponseTooLarge { limit: 65536, .. }), "{scheme:?}: {err:?}");
        assert_eq!(server.count_path(TOKEN_PATH), 1, "never retried");
    }
}

#[tokio::test]
async fn a_small_cap_applies_to_a_trickled_body() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    // Trickled: the cap is enforced on what arrives, not on a promised length.
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let small_cap = client_with(&server, jwt(&creds), config(&server).with_max_response_bytes(100));
    server.inject(Fault::SlowBody { chunk: 64, interval: Duration::from_millis(1) });
    let err = small_cap.client_credentials(Scopes::none()).await.unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { limit: 100, .. }), "{err:?}");
    // The same server still serves the default cap.
    client.client_credentials(Scopes::none()).await.unwrap();
}

#[tokio::test]
async fn a_malformed_body_is_a_parse_error() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let (client, _) = client(&server);
        server.inject(Fault::malformed_json());
        let err = client.client_credentials(Scopes::none()).await.unwrap_err();
        assert!(
            matches!(err, Error::Response(td_oauth_reqwest::core::response::ResponseError::Malformed { .. })),
            "{scheme:?}: {err:?}"
        );
        assert_eq!(server.count_path(TOKEN_PATH), 1);
    }
}

#[tokio::test]
async fn an_html_error_page_is_retried_as_a_server_error() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    server.inject(Fault::html(502));
    client.client_credentials(Scopes::none()).await.unwrap();
    assert_eq!(server.count_path(TOKEN_PATH), 2);
}

#[tokio::test]
async fn redirects_are_refused_never_followed() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    server.inject(Fault::body(302, "text/plain", "").with_header("location", server.token_url()));
    let err = client.client_credentials(Scopes::none()).await.unwrap_err();
    assert!(matches!(err, Error::Redirected { status: 302, .. }), "{err:?}");
    assert_eq!(server.count_path(TOKEN_PATH), 1);

    // A caller-supplied client that follows redirects: the answer came from elsewhere, so it is refused.
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let following = td_oauth_reqwest::http_client_builder(&config(&server))
        .unwrap()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap();
    let client = client_with(&server, jwt(&creds), config(&server).with_built_client(following));
    server
        .inject(Fault::body(307, "text/plain", "").with_header("location", format!("{}/elsewhere", server.base_url())));
    let err = client.client_credentials(Scopes::none()).await.unwrap_err();
    assert!(matches!(err, Error::Redirected { .. }), "{err:?}");
}
