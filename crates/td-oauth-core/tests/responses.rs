//! Token responses: every field Talkdesk returns, every error shape, and no panic whatever the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant, SystemTime};

use http::{Response, StatusCode};
use proptest::prelude::*;
use td_oauth_core::oauth_error::RetryAfter;
use td_oauth_core::response::ResponseError;
use td_oauth_core::{ErrorCode, TokenResponse};

fn response(status: u16, body: &str) -> Response<Vec<u8>> {
    Response::builder().status(status).header("content-type", "application/json").body(body.into()).unwrap()
}

fn parse(status: u16, body: &str) -> Result<TokenResponse, ResponseError> {
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
        Err(ResponseError::Malformed { status: s, reason }) => {
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
    let ResponseError::OAuth(oauth) = &err else { panic!("{err:?}") };
    assert_eq!(oauth.code(), &ErrorCode::InvalidClient);
    assert_eq!(oauth.description(), Some("Client assertion expired"));
    assert_eq!(oauth.status(), StatusCode::UNAUTHORIZED);
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("invalid_client: Client assertion expired"), "{err}");

    let err = parse(400, r#"{"error":"invalid_scope"}"#).unwrap_err();
    assert!(
        matches!(&err, ResponseError::OAuth(e) if *e.code() == ErrorCode::InvalidScope && e.description().is_none())
    );
    let err = parse(400, r#"{"error":"slow_down","error_description":"line1\nline2\u0007"}"#).unwrap_err();
    let ResponseError::OAuth(oauth) = &err else { panic!("{err:?}") };
    assert_eq!(oauth.code().as_str(), "slow_down");
    assert_eq!(oauth.description(), Some("line1line2"), "control characters are stripped");
}

#[test]
fn retryable_is_decided_by_what_the_answer_means() {
    for (status, body, retryable) in [
        (400, r#"{"error":"server_error"}"#, true),
        (400, r#"{"error":"slow_down"}"#, true),
        (400, r#"{"error":"temporarily_unavailable"}"#, true),
        (503, r#"{"error":"temporarily_unavailable"}"#, true),
        (429, r#"{"error":"slow_down"}"#, true),
        (500, r#"{"error":"server_error"}"#, true),
        (401, r#"{"error":"invalid_client"}"#, false),
        (400, r#"{"error":"invalid_grant"}"#, false),
        (400, r#"{"error":"invalid_scope"}"#, false),
    ] {
        let err = parse(status, body).unwrap_err();
        assert!(matches!(err, ResponseError::OAuth(_)), "{err:?}");
        assert_eq!(err.is_retryable(), retryable, "{status} {body}");
    }
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
    assert!(matches!(&err, ResponseError::UnexpectedStatus { detail, .. } if detail == "empty body"), "{err:?}");

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
    assert!(matches!(err, ResponseError::UnexpectedStatus { .. }) && !err.is_retryable(), "{err:?}");
    let err = parse(302, "").unwrap_err();
    assert!(matches!(err, ResponseError::UnexpectedStatus { .. }), "{err:?}");
}

#[test]
fn a_success_status_with_an_oauth_error_is_that_error() {
    let body = r#"{"error":"invalid_client","error_description":"Client assertion expired"}"#;
    let err = parse(200, body).unwrap_err();
    let ResponseError::OAuth(oauth) = &err else { panic!("{err:?}") };
    assert_eq!(oauth.code(), &ErrorCode::InvalidClient);
    assert_eq!(oauth.description(), Some("Client assertion expired"));
    assert_eq!(oauth.status(), StatusCode::OK);
    assert!(!err.is_retryable());
    // Even next to a token: a server that says both is not trusted with either.
    let err = parse(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":600,"error":"server_error"}"#)
        .unwrap_err();
    assert!(matches!(&err, ResponseError::OAuth(e) if *e.code() == ErrorCode::ServerError), "{err:?}");
    assert!(err.is_retryable(), "server_error means try again later");
    // An empty `error` names no error.
    assert!(parse(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":600,"error":""}"#).is_ok());
}

#[test]
fn a_byte_order_mark_is_tolerated() {
    let token = parse(200, "\u{feff}{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"expires_in\":600}").unwrap();
    assert_eq!(token.expires_in(), Duration::from_secs(600));
    let err = parse(400, "\u{feff}{\"error\":\"invalid_grant\"}").unwrap_err();
    assert!(matches!(&err, ResponseError::OAuth(e) if *e.code() == ErrorCode::InvalidGrant), "{err:?}");
}

#[test]
fn a_missing_expires_in_gets_a_short_default_lifetime() {
    let now = Instant::now();
    let body = r#"{"access_token":"a","token_type":"Bearer"}"#;
    let token = TokenResponse::from_http(&response(200, body), now).unwrap();
    assert_eq!(TokenResponse::DEFAULT_EXPIRES_IN, Duration::from_secs(60));
    assert_eq!(token.expires_in(), TokenResponse::DEFAULT_EXPIRES_IN);
    assert_eq!(token.expires_at(), now + Duration::from_secs(60));
}

#[test]
fn messages_name_the_actual_problem() {
    let duplicate = r#"{"access_token":"a","access_token":"b","token_type":"Bearer","expires_in":600}"#;
    malformed(200, duplicate, "`access_token` more than once");
    malformed(200, r#"[{"access_token":"a","token_type":"Bearer","expires_in":600}]"#, "a JSON array, not an object");
    malformed(200, r#""eyJ""#, "a JSON string, not an object");
    malformed(200, "600", "a JSON number, not an object");
    malformed(200, "null", "a JSON null, not an object");
    for huge in ["1e20", "\"1e20\"", "18446744073709551616", "99999999999999999999999.0"] {
        malformed(
            200,
            &format!(r#"{{"access_token":"a","token_type":"Bearer","expires_in":{huge}}}"#),
            "implausibly large",
        );
    }
    malformed(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":-1e3}"#, "negative");
    malformed(200, r#"{"access_token":"a","token_type":"Bearer","expires_in":"-5"}"#, "negative");
}

#[test]
fn tokens_outside_the_rfc_character_sets_are_refused() {
    let with = |access: &str, refresh: Option<&str>| {
        let mut body = serde_json::json!({"access_token": access, "token_type": "Bearer", "expires_in": 600});
        if let Some(refresh) = refresh {
            body["refresh_token"] = refresh.into();
        }
        parse(200, &body.to_string())
    };
    // What Talkdesk and other servers send: JWTs, Base64 with padding, opaque tokens.
    for ok in ["eyJhbGciOiJFUzI1NiJ9.eyJzY3AiOltdfQ.c2ln", "YWJj+/==", "a-b.c_d~e", "2YotnFZFEjr1zCsicMWpAA"] {
        let token = with(ok, Some("tGzv3JOkF0XG5Qx2TlKWIA with spaces!")).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(token.access_token().secret(), ok);
    }
    let header_injection = "abc\u{1b}[31m\r\nX-Injected: 1";
    for (access, says) in [
        (header_injection, "a control character at byte 3"),
        ("abc\ndef", "a control character at byte 3"),
        ("abc def", "a space at byte 3"),
        ("ab=c", "a `=` that is not trailing padding at byte 2"),
        ("tökën", "a non-ASCII character at byte 1"),
        ("a\"b", "a punctuation character at byte 1"),
        ("===", "only `=` padding"),
    ] {
        let err = with(access, None).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ResponseError::Malformed { .. }), "{access:?}: {err:?}");
        assert!(message.contains("access_token holds") || message.contains("access_token is"), "{message}");
        assert!(message.contains(says) && message.contains("RFC 6750"), "{access:?}: {message}");
        assert!(!message.contains("abc") && !message.contains("X-Injected"), "the token is never quoted: {message}");
    }
    for refresh in ["rt\r\nX: 1", "rt\u{7f}", "rt\u{e9}"] {
        let message = with("a", Some(refresh)).unwrap_err().to_string();
        assert!(message.contains("refresh_token holds") && message.contains("printable ASCII"), "{message}");
    }
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
