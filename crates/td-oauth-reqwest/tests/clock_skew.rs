//! A token endpoint whose clock is 10 minutes off from this machine's: tokens still come, with one extra
//! request the first time (the refused assertion, retried on the endpoint's time) and none after.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{basic, client, client_with, config};
use td_oauth_reqwest::core::clock::ClockOffset;
use td_oauth_reqwest::{Error, Grant, Scopes};
use td_oauth_testkit::{TOKEN_PATH, TestServer};

fn skewed_server(offset_secs: i64) -> TestServer {
    TestServer::builder().https(true).clock_offset(offset_secs).start().unwrap()
}

fn assert_near(offset: Option<ClockOffset>, secs: i64) {
    let offset = offset.expect("an offset was measured");
    assert!((offset.as_millis() - secs * 1000).abs() <= 2000, "measured {offset:?}, truth {secs} s");
}

#[tokio::test]
async fn tokens_come_with_the_endpoints_clock_ten_minutes_ahead_or_behind() {
    for offset in [600, -600] {
        let server = skewed_server(offset);
        let (client, _) = client(&server);
        let provider = client.provider(Grant::client_credentials(Scopes::none()));
        assert_eq!(provider.clock_offset(), None, "nothing measured before the first answer");

        provider.token().await.unwrap_or_else(|err| panic!("offset {offset}: {err}"));
        assert_eq!(server.count_path(TOKEN_PATH), 2, "offset {offset}: one extra request the first time");
        assert_near(provider.clock_offset(), offset);

        provider.invalidate();
        provider.token().await.unwrap();
        client.client_credentials(Scopes::none()).await.unwrap();
        assert_eq!(server.count_path(TOKEN_PATH), 4, "offset {offset}: none after");
        assert_near(client.token_client().clock_offset(), offset);
    }
}

#[tokio::test]
async fn a_small_offset_changes_nothing_and_basic_authentication_needs_no_correction() {
    let server = skewed_server(-10);
    let (client, _) = client(&server);
    client.client_credentials(Scopes::none()).await.unwrap();
    assert_eq!(server.count_path(TOKEN_PATH), 1);
    assert_near(client.token_client().clock_offset(), -10);

    let server = skewed_server(5000);
    let creds = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
    let basic = client_with(&server, basic(&creds), config(&server));
    basic.client_credentials(Scopes::none()).await.unwrap();
    basic.client_credentials(Scopes::none()).await.unwrap();
    assert_eq!(server.count_path(TOKEN_PATH), 2, "Basic carries no time: nothing to retry");
}

#[tokio::test]
async fn beyond_an_hour_nothing_is_signed_and_the_error_names_the_offset() {
    let server = skewed_server(5000);
    let (client, _) = client(&server);
    let err = client.client_credentials(Scopes::none()).await.unwrap_err();
    assert!(matches!(err, Error::ClockOffsetTooLarge { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("about 5000 s behind the token endpoint's"), "{message}");
    assert_eq!(server.count_path(TOKEN_PATH), 1, "the refused request only: no assertion signed after it");
}
