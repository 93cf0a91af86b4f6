//! A token endpoint whose clock is 10 minutes off from this machine's: tokens still come, with one extra
//! request the first time (the refused assertion, retried on the endpoint's time) and none after; a small
//! offset changes nothing, Basic authentication is never corrected, and beyond an hour nothing is signed.

use td_oauth_core::clock::ClockOffset;
use td_oauth_core::{Error, Grant, Scopes, TokenClient};
use td_oauth_testkit::{Algorithm, TOKEN_PATH, TestServer};

use crate::driver::Driver;
use crate::setup::{basic, config, endpoints, jwt, register};

fn skewed_server(offset_secs: i64) -> TestServer {
    TestServer::builder().https(true).clock_offset(offset_secs).start().unwrap()
}

fn assert_near(offset: Option<ClockOffset>, secs: i64) {
    let offset = offset.expect("an offset was measured");
    assert!((offset.as_millis() - secs * 1000).abs() <= 2000, "measured {offset:?}, truth {secs} s");
}

fn jwt_client<D: Driver>(server: &TestServer) -> D::Client {
    D::client(TokenClient::new(&endpoints(server), jwt(&register(server))), config(server)).unwrap()
}

/// ±600 s: two requests for the first token, none more for the next ones, the offset measured within 2 s.
pub fn tokens_come_with_the_endpoints_clock_ten_minutes_ahead_or_behind<D: Driver>() {
    for offset in [600, -600] {
        let server = skewed_server(offset);
        let client = jwt_client::<D>(&server);
        let provider = D::provider(&client, Grant::client_credentials(Scopes::none()));
        assert_eq!(D::clock_offset(&provider), None, "nothing measured before the first answer");
        D::block_on(async {
            D::token(&provider).await.unwrap_or_else(|err| panic!("offset {offset}: {err}"));
            assert_eq!(server.count_path(TOKEN_PATH), 2, "offset {offset}: one extra request the first time");
            assert_near(D::clock_offset(&provider), offset);

            D::invalidate(&provider);
            D::token(&provider).await.unwrap();
            D::client_credentials(&client, Scopes::none()).await.unwrap();
        });
        assert_eq!(server.count_path(TOKEN_PATH), 4, "offset {offset}: none after");
        assert_near(D::client_clock_offset(&client), offset);
    }
}

/// 10 s is measured but not corrected for; Basic authentication carries no time, so nothing is retried.
pub fn a_small_offset_changes_nothing_and_basic_authentication_needs_no_correction<D: Driver>() {
    let server = skewed_server(-10);
    let client = jwt_client::<D>(&server);
    D::block_on(D::client_credentials(&client, Scopes::none())).unwrap();
    assert_eq!(server.count_path(TOKEN_PATH), 1);
    assert_near(D::client_clock_offset(&client), -10);

    let server = skewed_server(5000);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let basic = D::client(TokenClient::new(&endpoints(&server), basic(&creds)), config(&server)).unwrap();
    D::block_on(async {
        D::client_credentials(&basic, Scopes::none()).await.unwrap();
        D::client_credentials(&basic, Scopes::none()).await.unwrap();
    });
    assert_eq!(server.count_path(TOKEN_PATH), 2, "Basic carries no time: nothing to retry");
}

/// 5,000 s: the first refusal measures it, and no assertion is signed on a correction that large.
pub fn beyond_an_hour_nothing_is_signed_and_the_error_names_the_offset<D: Driver>() {
    let server = skewed_server(5000);
    let client = jwt_client::<D>(&server);
    let err = D::block_on(D::client_credentials(&client, Scopes::none())).unwrap_err();
    assert!(matches!(err, Error::ClockOffsetTooLarge { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("about 5000 s behind the token endpoint's"), "{message}");
    assert_eq!(server.count_path(TOKEN_PATH), 1, "the refused request only: no assertion signed after it");
}
