//! Every injected fault, as a client sees it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use td_oauth_testkit::{Algorithm, ClientCredentials, Fault, FaultTarget, TestServer};

fn setup(https: bool) -> (TestServer, ureq::Agent, ClientCredentials) {
    let server = TestServer::builder().https(https).start().unwrap();
    let agent = agent(&server);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    (server, agent, creds)
}

fn token_request(server: &TestServer, agent: &ureq::Agent, creds: &ClientCredentials) -> Result<Answer, ureq::Error> {
    let form = [("grant_type", "client_credentials")];
    try_post_token(agent, server, &form, Some((&creds.client_id, &creds.client_secret)))
}

#[test]
fn status_and_retry_after_are_seen_in_order_then_recovery() {
    let (server, agent, creds) = setup(false);
    server.inject_n(Fault::retry_after(429, "7"), 2);
    server.inject(Fault::retry_after(503, "Wed, 21 Oct 2026 07:28:00 GMT"));
    server.inject(Fault::status(500).with_header("x-request-id", "abc"));
    assert_eq!(server.pending_faults(), 4);

    for _ in 0..2 {
        let answer = token_request(&server, &agent, &creds).unwrap();
        assert_eq!((answer.status, answer.header("retry-after")), (429, Some("7")));
    }
    let answer = token_request(&server, &agent, &creds).unwrap();
    assert_eq!((answer.status, answer.header("retry-after")), (503, Some("Wed, 21 Oct 2026 07:28:00 GMT")));
    let answer = token_request(&server, &agent, &creds).unwrap();
    assert_eq!((answer.status, answer.header("x-request-id")), (500, Some("abc")));
    assert_eq!(answer.json()["error"], "server_error");
    assert_eq!(token_request(&server, &agent, &creds).unwrap().status, 200);

    let records = server.requests();
    assert_eq!(records.len(), 5);
    assert_eq!(records[0].fault.as_deref(), Some("respond 429"));
    assert_eq!(records[0].client_id, None, "the faulty request was not processed");
    assert_eq!(records[2].status, Some(503));
    assert_eq!(records[4].fault, None);
}

#[test]
fn delay_is_measured() {
    let (server, agent, creds) = setup(true);
    server.inject(Fault::Delay(Duration::from_millis(400)));
    let start = Instant::now();
    let answer = token_request(&server, &agent, &creds).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert_eq!(answer.status, 200, "a delay still answers correctly");
}

#[test]
fn dropped_connection_is_a_client_error() {
    for https in [false, true] {
        let (server, agent, creds) = setup(https);
        server.inject(Fault::DropConnection);
        assert!(token_request(&server, &agent, &creds).is_err());
        let record = server.last_request().unwrap();
        assert_eq!((record.status, record.fault.as_deref()), (None, Some("drop connection")));
        server.inject(Fault::ResetConnection);
        assert!(token_request(&server, &agent, &creds).is_err());
        assert_eq!(token_request(&server, &agent, &creds).unwrap().status, 200);
    }
}

#[test]
fn truncated_body_is_a_client_error() {
    for https in [false, true] {
        let (server, agent, creds) = setup(https);
        server.inject(Fault::TruncateBody { sent: 20 });
        assert!(token_request(&server, &agent, &creds).is_err());
        assert_eq!(server.last_request().unwrap().status, Some(200));
    }
}

#[test]
fn slow_body_trickles() {
    let (server, agent, creds) = setup(false);
    server.inject(Fault::SlowBody { chunk: 200, interval: Duration::from_millis(100) });
    let start = Instant::now();
    let answer = token_request(&server, &agent, &creds).unwrap();
    let chunks = answer.body.len().div_ceil(200) as u32;
    assert!(chunks >= 3, "body of {} bytes", answer.body.len());
    assert!(start.elapsed() >= Duration::from_millis(100) * (chunks - 1));
    assert!(answer.json()["access_token"].is_string());

    // A client with a short body timeout gives up.
    server.inject(Fault::SlowBody { chunk: 1, interval: Duration::from_millis(200) });
    let impatient: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_millis(500)))
        .build()
        .into();
    assert!(token_request(&server, &impatient, &creds).is_err());
}

#[test]
fn large_malformed_and_html_bodies_arrive() {
    let (server, agent, creds) = setup(true);
    server.inject(Fault::large_body(200, 10 * 1024 * 1024));
    server.inject(Fault::malformed_json());
    server.inject(Fault::html(502));
    server.inject(Fault::body(200, "application/json", "[]"));

    let big = token_request(&server, &agent, &creds).unwrap();
    assert_eq!(big.body.len(), 10 * 1024 * 1024);
    let bad = token_request(&server, &agent, &creds).unwrap();
    assert_eq!(bad.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&bad.body).is_err());
    let html = token_request(&server, &agent, &creds).unwrap();
    assert_eq!(html.status, 502);
    assert!(html.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(token_request(&server, &agent, &creds).unwrap().body, b"[]");
}

#[test]
fn expires_in_override_keeps_a_valid_token() {
    let (server, agent, creds) = setup(false);
    let values = [json!(0), json!(-30), json!(u64::MAX), json!("600"), json!(null)];
    for value in &values {
        server.inject(Fault::ExpiresIn(value.clone()));
    }
    for value in &values {
        let json = token_request(&server, &agent, &creds).unwrap().json();
        assert_eq!(&json["expires_in"], value);
        let token = json["access_token"].as_str().unwrap();
        assert_eq!(get(&agent, &server.me_url(), Some(token)).status, 200);
    }
}

#[test]
fn fields_replaced_or_removed_and_a_byte_order_mark() {
    let (server, agent, creds) = setup(false);
    server.inject(Fault::field("access_token", "abc\u{1b}[31m\r\nX-Injected: 1"));
    server.inject(Fault::without_field("expires_in"));
    server.inject(Fault::field("error", "invalid_client"));
    server.inject(Fault::byte_order_mark());

    let json = token_request(&server, &agent, &creds).unwrap().json();
    assert_eq!(json["access_token"], "abc\u{1b}[31m\r\nX-Injected: 1");
    assert_eq!(json["token_type"], "Bearer");
    let json = token_request(&server, &agent, &creds).unwrap().json();
    assert!(json.get("expires_in").is_none() && json["access_token"].is_string(), "{json}");
    let json = token_request(&server, &agent, &creds).unwrap().json();
    assert_eq!((json["error"].as_str(), json["access_token"].is_string()), (Some("invalid_client"), true));
    let answer = token_request(&server, &agent, &creds).unwrap();
    assert_eq!(answer.status, 200);
    let body = answer.body.strip_prefix(b"\xEF\xBB\xBF").expect("the body starts with a byte-order mark");
    assert!(serde_json::from_slice::<serde_json::Value>(body).unwrap()["access_token"].is_string());

    let names: Vec<_> = server.requests().into_iter().map(|r| r.fault.unwrap_or_default()).collect();
    assert_eq!(
        names,
        ["field access_token replaced", "field expires_in removed", "field error replaced", "3 bytes before the body"]
    );
    // Error answers are left alone.
    server.inject(Fault::without_field("error"));
    let form = [("grant_type", "client_credentials"), ("scope", "nope:nope")];
    let refused = try_post_token(&agent, &server, &form, Some((&creds.client_id, &creds.client_secret))).unwrap();
    refused.assert_error(400, "invalid_scope");
}

#[test]
fn faults_on_other_paths() {
    let (server, agent, creds) = setup(false);
    let token = token_request(&server, &agent, &creds).unwrap().json()["access_token"].as_str().unwrap().to_owned();
    server.inject_on(FaultTarget::Api, Fault::retry_after(503, "1"), 1);
    server.inject_on(FaultTarget::Any, Fault::DropConnection, 1);
    server.inject(Fault::status(500));

    let answer = get(&agent, &server.me_url(), Some(&token));
    assert_eq!((answer.status, answer.header("retry-after")), (503, Some("1")));
    // The token fault was queued after the Any fault, so the Any fault comes first.
    assert!(token_request(&server, &agent, &creds).is_err());
    assert_eq!(token_request(&server, &agent, &creds).unwrap().status, 500);
    assert_eq!(get(&agent, &server.me_url(), Some(&token)).status, 200);
    assert_eq!(server.pending_faults(), 0);

    server.inject_n(Fault::status(500), 3);
    server.clear_faults();
    assert_eq!(token_request(&server, &agent, &creds).unwrap().status, 200);
}

/// What the faults look like on the wire, read with a bare socket.
fn raw_exchange(server: &TestServer, creds: &ClientCredentials) -> std::io::Result<Vec<u8>> {
    match raw_exchange_until_error(server, creds) {
        (received, None) => Ok(received),
        (_, Some(err)) => Err(err),
    }
}

#[test]
fn drop_and_truncate_on_the_wire() {
    let (server, _, creds) = setup(false);
    server.inject(Fault::DropConnection);
    assert!(raw_exchange(&server, &creds).unwrap().is_empty(), "nothing at all is answered");

    server.inject(Fault::ResetConnection);
    let error = raw_exchange(&server, &creds).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);

    server.inject(Fault::TruncateBody { sent: 10 });
    let received = String::from_utf8(raw_exchange(&server, &creds).unwrap()).unwrap();
    let (head, body) = received.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"));
    let declared: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(body.len(), 10);
    assert!(declared > 100, "the headers promised the whole body ({declared} bytes)");

    // Reset mid-body: the headers and the first bytes arrive, then the connection is reset.
    server.inject(Fault::ResetMidBody { sent: 10 });
    let (received, ending) = raw_exchange_until_error(&server, &creds);
    let received = String::from_utf8(received).unwrap();
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    assert_eq!(received.split_once("\r\n\r\n").unwrap().1.len(), 10);
    assert_eq!(ending.map(|e| e.kind()), Some(std::io::ErrorKind::ConnectionReset));
}

/// A token request written by hand on a raw socket: what arrived before the connection ended, and the read
/// error that ended it, if any (a clean close is `None`).
fn raw_exchange_until_error(server: &TestServer, creds: &ClientCredentials) -> (Vec<u8>, Option<std::io::Error>) {
    use base64::Engine as _;
    use std::io::{Read, Write};
    let body = "grant_type=client_credentials";
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", creds.client_id, creds.client_secret));
    let mut stream = std::net::TcpStream::connect(server.local_addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        server.local_addr(),
        body.len()
    )
    .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return (received, None),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(err) => return (received, Some(err)),
        }
    }
}

#[test]
fn a_request_abandoned_during_a_delay_is_still_recorded() {
    let (server, _, creds) = setup(false);
    server.inject(Fault::Delay(Duration::from_millis(1500)));
    let impatient: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_millis(300)))
        .build()
        .into();
    assert!(token_request(&server, &impatient, &creds).is_err());
    let records = server.requests();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].status, records[0].fault.as_deref()), (None, Some("delay 1500ms")));
}
