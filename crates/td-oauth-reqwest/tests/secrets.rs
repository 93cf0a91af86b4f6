//! No secret reaches `Debug` or `Display`: not the access or refresh token, the assertion, the client
//! secret or the private key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Scheme, TestClock, basic, cache_policy, client_with, config, jwt, server_with_lifetime};
use td_oauth_reqwest::{Grant, Scopes};
use td_oauth_testkit::{Algorithm, Fault, LogCapture};

/// Current-thread runtime: the capturing subscriber is the thread's default, background refreshes included.
#[tokio::test]
async fn debug_errors_and_events_hold_no_secret() {
    let capture = LogCapture::default();
    let _events = capture.install();
    let server = server_with_lifetime(Scheme::Http, Duration::from_secs(10));
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let clock = TestClock::new();
    let jwt_client = client_with(
        &server,
        jwt(&creds),
        config(&server).with_cache_policy(cache_policy(90)).with_clock(clock.clone()),
    );
    let basic_client = client_with(&server, basic(&creds), config(&server));
    let provider = jwt_client.provider(Grant::client_credentials(Scopes::none()));
    let token = provider.token().await.unwrap();
    let access_token = token.access_token().secret().to_owned();
    let api = provider.bearer_client();
    let assertion = server.last_request().unwrap().assertion_claims.unwrap()["jti"].as_str().unwrap().to_owned();

    let mut printed = vec![
        format!("{jwt_client:?}"),
        format!("{basic_client:?}"),
        format!("{provider:?}"),
        format!("{token:?}"),
        format!("{token}"),
        format!("{api:?}"),
        format!("{:?}", jwt_client.config()),
    ];
    // Errors: the server's refusal, a malformed body, a transport failure.
    server.inject(Fault::status(401));
    let err = basic_client.client_credentials(Scopes::none()).await.unwrap_err();
    printed.extend([format!("{err:?}"), err.to_string()]);
    server.inject(Fault::malformed_json());
    let err = jwt_client.client_credentials(Scopes::none()).await.unwrap_err();
    printed.extend([format!("{err:?}"), err.to_string()]);
    // Events: a retry, a refresh ahead of expiry, a 401 from the API and the retry with a new token.
    server.inject(Fault::status(503));
    jwt_client.client_credentials(Scopes::none()).await.unwrap();
    clock.time.advance(Duration::from_millis(1100));
    provider.token().await.unwrap();
    server.fail_next_api_calls(1);
    let response = api.execute(api.http_client().get(server.me_url()).build().unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    let events = capture.text();
    for needle in ["retrying", "refreshing the token ahead of expiry", "the API answered 401", "token received"] {
        assert!(events.contains(needle), "no {needle:?} event in {events}");
    }
    printed.push(events);

    let secrets = [
        ("access token", access_token.as_str()),
        ("assertion jti", assertion.as_str()),
        ("client secret", creds.client_secret.as_str()),
        ("private key", creds.private_key.as_str()),
        // The malformed body's token-like value must not be quoted either.
        ("body token", "eyJhbGciOiJFUzI1NiJ9.e30.c2ln"),
    ];
    for text in &printed {
        for (what, secret) in secrets {
            assert!(!text.contains(secret), "the {what} leaked into {text}");
        }
    }
    // Sanity: the Debug output says something useful.
    assert!(printed[0].contains(&creds.client_id), "{}", printed[0]);
}
