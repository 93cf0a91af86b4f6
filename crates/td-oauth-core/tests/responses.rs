//! Token responses: every field Talkdesk returns, every error shape, and no panic whatever the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant, SystemTime};

use http::{Response, StatusCode};
use proptest::prelude::*;
use td_oauth_core::{Error, ErrorCode, RetryAfter, TokenResponse};

fn response(status: u16, body: &str) -> Response<Vec<u8>> {
    Response::builder().status(status).header("content-type", "application/json").body(body.into()).unwrap()
}

fn parse(status: u16, body: &str) -> Result<TokenResponse, Error> {
    TokenResponse::from_http(&response(status, body), Instant::now())
}

const FULL: &str = r#"{
    "access_token": "eyJhbGciOiJFUzI1NiJ9.eyJzY3AiOlsidXNlcnM6cmVhZCJdfQ.c2ln",
    "token_type": "Bearer",
    "expires_in": 600,
    "scope": "users:read openid",
    "refresh_token": "rt-secret",
    "sid": "session-1",
    "id_token": "id-secret",
    "something_new": {"nested": [1, 2, 3]}
}"#;

#[test]
fn reads_every_field_and_ignores_unknown_ones() {
    let now = Instant::now();
    let token = TokenResponse::from_http(&response(200, FULL), now).unwrap();
    assert_eq!(token.access_token().secret(), "eyJhbGciOiJFUzI1NiJ9.eyJzY3AiOlsidXNlcnM6cmVhZCJdfQ.c2ln");
    assert_eq!(token.expires_in(), Duration::from_secs(600));
    assert_eq!(token.expires_at(), now + Duration::from_secs(600));
    assert_eq!(token.received_at(), now);
    assert_eq!(token.scope(), Some("users:read openid"));
    assert_eq!(token.scopes().collect::<Vec<_>>(), ["users:read", "openid"]);
    assert!(token.grants(&"openid".parse().unwrap()));
    assert!(!token.grants(&"apps:write".parse().unwrap()));
    assert_eq!(token.refresh_token().unwrap().secret(), "rt-secret");
    assert_eq!(token.session_id(), Some("session-1"));
    assert_eq!(token.id_token().unwrap().secret(), "id-secret");

    let debug = format!("{token:?} {token}");
    for secret in ["eyJhbGciOiJFUzI1NiJ9", "rt-secret", "id-secret"] {
        assert!(!debug.contains(secret), "{debug}");
    }
}

#[test]
fn minimal_and_lenient_bodies() {
    let token = parse(200, r#"{"access_token":"a","token_type":"bearer","expires_in":"600"}"#).unwrap();
    assert_eq!(token.expires_in(), Duration::from_secs(600));
    assert_eq!(token.scope(), None);
    assert!(token.refresh_token().is_none());
    let token = parse(200, r#"{"access_token":"a\u0062c","token_type":"Bearer","expires_in":0}"#).unwrap();
    assert_eq!(token.access_token().secret(), "abc");
    assert_eq!(token.expires_in(), Duration::ZERO);
    assert_eq!(
        parse(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":60.0}"#).unwrap().expires_in().as_secs(),
        60
    );
}

fn malformed(status: u16, body: &str, says: &str) {
    match parse(status, body) {
        Err(Error::MalformedResponse { status: s, reason }) => {
            assert_eq!(s.as_u16(), status);
            assert!(reason.contains(says), "{body}: {reason}");
        }
        other => panic!("{body}: expected a malformed-response error, got {other:?}"),
    }
}

#[test]
fn unusable_success_bodies_say_why() {
    malformed(200, "", "empty");
    malformed(200, "<html><body>Bad gateway</body></html>", "HTML");
    malformed(200, r#"{"access_token":"a","token_type":"Bearer","expi"#, "truncated");
    malformed(200, "not json", "not valid JSON");
    malformed(200, r#"{"token_type":"Bearer","expires_in":600}"#, "no access_token");
    malformed(200, r#"{"access_token":"","token_type":"Bearer","expires_in":600}"#, "empty");
    malformed(200, r#"{"access_token":"a","token_type":"MAC","expires_in":600}"#, "only Bearer");
    malformed(200, r#"{"access_token":"a","expires_in":600}"#, "no token_type");
    malformed(200, r#"{"access_token":"a","token_type":"Bearer"}"#, "no expires_in");
    malformed(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":-5}"#, "negative");
    malformed(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#, "not a number");
    malformed(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":1.5}"#, "whole number");
    malformed(
        200,
        r#"{"access_token":"a","token_type":"Bearer","expires_in":18446744073709551615}"#,
        "implausibly large",
    );
    malformed(
        200,
        r#"{"access_token":"a","token_type":"Bearer","expires_in":9223372036854775807}"#,
        "implausibly large",
    );
    malformed(200, r#"{"access_token":12345,"token_type":"Bearer","expires_in":600}"#, "unexpected type");
}

#[test]
fn oauth_errors_are_typed() {
    let err = parse(401, r#"{"error":"invalid_client","error_description":"Client assertion expired"}"#).unwrap_err();
    let Error::OAuth(oauth) = &err else { panic!("{err:?}") };
    assert_eq!(oauth.code(), &ErrorCode::InvalidClient);
    assert_eq!(oauth.description(), Some("Client assertion expired"));
    assert_eq!(oauth.status(), StatusCode::UNAUTHORIZED);
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("invalid_client: Client assertion expired"), "{err}");

    let err = parse(400, r#"{"error":"invalid_scope"}"#).unwrap_err();
    assert!(matches!(&err, Error::OAuth(e) if *e.code() == ErrorCode::InvalidScope && e.description().is_none()));
    let err = parse(400, r#"{"error":"slow_down","error_description":"line1\nline2\u0007"}"#).unwrap_err();
    let Error::OAuth(oauth) = &err else { panic!("{err:?}") };
    assert_eq!(oauth.code().as_str(), "slow_down");
    assert_eq!(oauth.description(), Some("line1line2"), "control characters are stripped");
}

#[test]
fn retry_after_is_read_in_both_forms() {
    let with_header = |value: &str, status: u16, body: &str| {
        let response = Response::builder().status(status).header("retry-after", value).body(body.to_owned()).unwrap();
        TokenResponse::from_http(&response, Instant::now()).unwrap_err()
    };
    let err = with_header("1", 429, "");
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), Some(RetryAfter::Delay(Duration::from_secs(1))));
    assert!(matches!(&err, Error::UnexpectedStatus { detail, .. } if detail == "empty body"), "{err:?}");

    let later = SystemTime::now() + Duration::from_secs(120);
    let err = with_header(&httpdate::fmt_http_date(later), 503, r#"{"error":"temporarily_unavailable"}"#);
    assert!(err.is_retryable());
    let delay = err.retry_after().unwrap().delay_from(SystemTime::now());
    assert!(delay > Duration::from_secs(110) && delay <= Duration::from_secs(120), "{delay:?}");
}

#[test]
fn other_statuses_describe_the_body_without_quoting_it() {
    let html = Response::builder()
        .status(502)
        .header("content-type", "text/html")
        .body("<html>secret-ish proxy page</html>")
        .unwrap();
    let err = TokenResponse::from_http(&html, Instant::now()).unwrap_err();
    assert!(err.is_retryable());
    let message = err.to_string();
    assert!(message.contains("502") && message.contains("HTML page") && message.contains("text/html"), "{message}");
    assert!(!message.contains("secret-ish"), "{message}");
    let err = parse(404, r#"{"message":"not found"}"#).unwrap_err();
    assert!(matches!(err, Error::UnexpectedStatus { .. }) && !err.is_retryable(), "{err:?}");
    let err = parse(302, "").unwrap_err();
    assert!(matches!(err, Error::UnexpectedStatus { .. }), "{err:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let response = Response::builder().status(status).header("retry-after", "x").body(body).unwrap();
        let _ = TokenResponse::from_http(&response, Instant::now());
    }

    #[test]
    fn arbitrary_json_values_never_panic(
        token in proptest::option::of(any::<String>()),
        kind in proptest::option::of("[A-Za-z]{0,8}"),
        expires in proptest::option::of(prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| if f.is_finite() { f.to_string() } else { "0".into() }),
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        ]),
    ) {
        let mut fields = Vec::new();
        if let Some(t) = token { fields.push(format!("\"access_token\":{}", serde_json::to_string(&t).unwrap())); }
        if let Some(k) = kind { fields.push(format!("\"token_type\":\"{k}\"")); }
        if let Some(e) = expires { fields.push(format!("\"expires_in\":{e}")); }
        let _ = parse(200, &format!("{{{}}}", fields.join(",")));
    }
}
