//! No secret (access or refresh token, assertion, client secret, private key) in any `Debug`, `Display` or
//! `tracing` event this crate produces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use td_oauth_testkit::{Fault, LogCapture};
use td_oauth_ureq::core::random::OsRandom;
use td_oauth_ureq::core::retry::RetryPolicy;
use td_oauth_ureq::core::{ClientId, Grant, Scopes};
use td_oauth_ureq::{Client, TokenProvider};

#[test]
fn no_secret_in_debug_display_or_events() {
    let server = start(Scheme::Http);
    let creds = register(&server);
    let capture = LogCapture::default();
    let mut printed = String::new();

    {
        let _events = capture.install();
        let fast = |c: td_oauth_ureq::Config| {
            c.with_timeout(Duration::from_millis(300)).with_retry_policy(
                RetryPolicy::default()
                    .with_max_retries(1)
                    .with_backoff(Duration::from_millis(5), Duration::from_millis(5))
                    .unwrap(),
            )
        };
        let jwt = jwt_client(&server, &creds, fast);
        let basic =
            Client::with_config(&endpoints(&server), basic_credentials(&creds), fast(fast_config(&server))).unwrap();

        // Successes: a provider's token, and a code exchange that brings a refresh token and an ID token.
        let provider = TokenProvider::client_credentials(jwt.clone(), Scopes::none());
        let token = provider.token().unwrap();
        let endpoints = endpoints(&server);
        let (url, pending) = td_oauth_ureq::core::AuthorizeRequest::new(
            ClientId::new(&creds.client_id).unwrap(),
            "http://127.0.0.1:9/cb",
        )
        .with_scopes("openid offline_access".parse().unwrap())
        .build(endpoints.authorize_url().unwrap(), &OsRandom::new())
        .unwrap();
        let answer = basic.http_client().get(url.as_str()).call().unwrap();
        let grant = pending.finish(answer.headers()["location"].to_str().unwrap()).unwrap();
        let exchanged = basic.fetch(&grant).unwrap();
        let refresh = exchanged.refresh_token().unwrap().clone();
        let refresh_grant = Grant::refresh_token(refresh.clone(), Scopes::none());

        // Failures: a retried 503, a timeout, an invalid client.
        server.inject_n(Fault::status(503), 2);
        let unavailable = jwt.fetch(&Grant::client_credentials(Scopes::none())).unwrap_err();
        server.inject_n(Fault::Delay(Duration::from_secs(1)), 2);
        let timeout = jwt.fetch(&Grant::client_credentials(Scopes::none())).unwrap_err();
        server.clear_faults();
        let mut wrong = creds.clone();
        wrong.client_secret = "wrong-secret-value".into();
        let invalid = Client::with_config(&endpoints, basic_credentials(&wrong), fast_config(&server))
            .unwrap()
            .fetch(&refresh_grant);
        let invalid = invalid.unwrap_err();

        for item in [
            format!("{jwt:?}"),
            format!("{basic:#?}"),
            format!("{provider:?}"),
            format!("{token:?} {token}"),
            format!("{exchanged:?} {exchanged}"),
            format!("{refresh_grant:?} {grant:?}"),
            format!("{unavailable:?} {unavailable}"),
            format!("{timeout:?} {timeout}"),
            format!("{invalid:?} {invalid}"),
            format!("{:?}", fast_config(&server)),
        ] {
            printed.push_str(&item);
            printed.push('\n');
        }
        assert!(printed.contains("503"), "the errors were printed: {printed}");

        let secrets = [
            token.access_token().secret().to_owned(),
            exchanged.access_token().secret().to_owned(),
            refresh.secret().to_owned(),
            exchanged.id_token().unwrap().secret().to_owned(),
            creds.client_secret.clone(),
            creds.private_key.clone(),
            creds.private_key_pem.lines().nth(1).unwrap().to_owned(),
        ];
        let events = capture.text();
        assert!(events.contains("token request"), "events were captured: {events}");
        assert!(events.contains("retrying"), "{events}");
        for (what, text) in [("Debug/Display", &printed), ("tracing events", &events)] {
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "a secret leaked into {what}: {text}");
            }
            // Access tokens, ID tokens and client assertions are all JWTs: none may appear at all.
            assert!(!text.contains("eyJ"), "a JWT leaked into {what}: {text}");
        }
    }
}
