//! What the token endpoint answers, and what the CLI makes of it: the exit status follows what the answer
//! means (refused: 3, try again later: 1), answers carry their description through, and a token the RFCs
//! forbid is never printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use td_oauth_testkit::{Algorithm, ClientCredentials, Fault, TestServer};

mod common;

use common::{Scratch, assert_exit, connected, run, stderr, stdout};

fn oauth(status: u16, error: &str) -> Fault {
    let body = json!({"error": error, "error_description": format!("the server says {error}")});
    Fault::body(status, "application/json", body.to_string())
}

fn bare(status: u16) -> Fault {
    Fault::Respond { status, headers: Vec::new(), body: Vec::new() }
}

struct Setup {
    server: TestServer,
    client: ClientCredentials,
    key: std::path::PathBuf,
    _scratch: Scratch,
}

fn setup(name: &str) -> Setup {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new(name);
    let key = scratch.file("client.key", &client.private_key);
    Setup { server, client, key, _scratch: scratch }
}

impl Setup {
    /// `td-oauth token --retries 0 ARGS` after queueing `fault` for its one request.
    fn token(&self, fault: Option<Fault>, args: &[&str]) -> std::process::Output {
        if let Some(fault) = fault {
            self.server.inject(fault);
        }
        let output = run(common::td_oauth()
            .args(["token", "--token-url", self.server.token_url(), "--retries", "0", "--timeout", "2"])
            .args(["--client-id", &self.client.client_id, "--key-id", &self.client.key_id])
            .arg("--private-key-file")
            .arg(&self.key)
            .args(args));
        self.server.clear_faults();
        output
    }
}

/// What is tried, the fault that makes the server answer so, extra flags, the exit status, what stderr says.
type Case = (&'static str, Option<Fault>, &'static [&'static str], i32, &'static str);

#[test]
fn the_exit_status_follows_what_the_answer_means() {
    let setup = setup("exit-status");
    let cases: Vec<Case> = vec![
        // Try again later (1), whatever the body's format.
        ("503 temporarily_unavailable", Some(oauth(503, "temporarily_unavailable")), &[], 1, "try again later"),
        ("500 server_error", Some(oauth(500, "server_error")), &[], 1, "the server says server_error"),
        ("429 slow_down", Some(oauth(429, "slow_down")), &[], 1, "slow_down"),
        ("400 server_error", Some(oauth(400, "server_error")), &[], 1, "try again later"),
        ("400 temporarily_unavailable", Some(oauth(400, "temporarily_unavailable")), &[], 1, "try again later"),
        ("502 HTML", Some(Fault::html(502)), &[], 1, "HTML page"),
        ("503 empty", Some(bare(503)), &[], 1, "503"),
        ("dropped", Some(Fault::DropConnection), &[], 1, "could not reach"),
        ("truncated 200", Some(Fault::malformed_json()), &[], 1, "truncated"),
        // Refused (3): the credentials or the grant, with or without a body.
        ("401 empty", Some(bare(401)), &[], 3, "401"),
        ("403 empty", Some(bare(403)), &[], 3, "403"),
        ("401 invalid_client", Some(oauth(401, "invalid_client")), &[], 3, "the server says invalid_client"),
        ("400 invalid_grant", Some(oauth(400, "invalid_grant")), &[], 3, "invalid_grant"),
        ("200 with an error", Some(oauth(200, "unauthorized_client")), &[], 3, "the server says unauthorized_client"),
        ("a scope the client may not have", None, &["--scope", "nope:nope"], 3, "invalid_scope"),
    ];
    for (what, fault, args, code, says) in cases {
        let output = setup.token(fault, args);
        assert_exit(&output, code);
        assert!(stderr(&output).contains(says), "{what}: {}", stderr(&output));
        assert!(stdout(&output).is_empty(), "{what}: {}", stdout(&output));
    }
    // A refused 200 says what the server said, not that there was no token.
    let output = setup.token(Some(oauth(200, "invalid_client")), &[]);
    assert!(!stderr(&output).contains("no access_token"), "{}", stderr(&output));
    // An unreachable endpoint is worth trying again later.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = run(common::td_oauth()
        .args(["token", "--token-url", &format!("http://127.0.0.1:{closed}/oauth/token"), "--retries", "0"])
        .args(["--client-id", &setup.client.client_id, "--key-id", &setup.client.key_id])
        .arg("--private-key-file")
        .arg(&setup.key));
    assert_exit(&output, 1);
}

#[test]
fn answers_carry_what_the_server_sent() {
    let setup = setup("answers");
    // A byte-order mark before the JSON.
    let output = setup.token(Some(Fault::byte_order_mark()), &["--json"]);
    assert_exit(&output, 0);
    assert_eq!(serde_json::from_str::<Value>(&stdout(&output)).unwrap()["expires_in"], 600);
    // No expires_in: accepted, with the core's short default.
    let output = setup.token(Some(Fault::without_field("expires_in")), &["--json"]);
    assert_exit(&output, 0);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["expires_in"], td_oauth_core::TokenResponse::DEFAULT_EXPIRES_IN.as_secs());
    assert!(json["access_token"].as_str().unwrap().starts_with("eyJ"));
    // An error next to a token: the error wins, with its description.
    let output = setup.token(Some(Fault::field("error", "invalid_client")), &[]);
    assert_exit(&output, 3);
    assert!(stderr(&output).contains("HTTP 200") && stderr(&output).contains("invalid_client"), "{}", stderr(&output));
    // A duplicate key and an array say so.
    let token = r#""access_token":"eyJhbGciOiJFUzI1NiJ9.e30.c2ln""#;
    let duplicate = format!(r#"{{{token},{token},"token_type":"Bearer","expires_in":600}}"#);
    for (body, says) in
        [(duplicate, "`access_token` more than once"), (format!("[{{{token}}}]"), "JSON array, not an object")]
    {
        let output = setup.token(Some(Fault::body(200, "application/json", body)), &[]);
        assert_exit(&output, 1);
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
    }
    let output = setup.token(Some(Fault::ExpiresIn(json!(1e20))), &[]);
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("implausibly large"), "{}", stderr(&output));
}

#[test]
fn tokens_with_forbidden_characters_are_never_printed() {
    let setup = setup("charset");
    let injection = "eyJhbGciOiJFUzI1NiJ9\u{1b}[31m\r\nX-Injected: 1";
    for args in [&[][..], &["--json"][..]] {
        let output = setup.token(Some(Fault::field("access_token", injection)), args);
        assert_exit(&output, 1);
        assert!(stdout(&output).is_empty(), "{}", stdout(&output));
        let message = stderr(&output);
        assert!(message.contains("access_token holds a control character at byte 20"), "{message}");
        assert!(!message.contains('\u{1b}') && !message.contains("X-Injected"), "{message}");
    }
    // A refresh token, from an authorization-code exchange.
    let verifier = "w".repeat(43);
    let challenge = td_oauth_core::authorize::pkce_challenge(&td_oauth_core::PkceVerifier::new(verifier.as_str()));
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid&state=s\
         &code_challenge={challenge}&code_challenge_method=S256",
        setup.server.authorize_url(),
        setup.client.client_id
    );
    let code = common::param(&common::authorize(&url), "code").to_owned();
    setup.server.inject(Fault::field("refresh_token", "rt\r\nSet-Cookie: x=1"));
    let output = run(connected("exchange", &setup.server, &setup.client, &setup.key).args([
        "--code",
        &code,
        "--code-verifier",
        &verifier,
        "--redirect-uri",
        "http://127.0.0.1:9/cb",
        "--json",
    ]));
    assert_exit(&output, 1);
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(stderr(&output).contains("refresh_token holds a control character"), "{}", stderr(&output));
}

#[test]
fn an_rsa_key_without_an_algorithm_is_said_to_be_taken_for_ps256() {
    let server = TestServer::start().unwrap();
    let scratch = Scratch::new("rsa-hint");
    for algorithm in [Algorithm::Ps384, Algorithm::Ps512] {
        let client = server.register_client(algorithm).unwrap();
        let key = scratch.file(&format!("{}.key", algorithm.as_str()), &client.private_key);
        let output = run(&mut connected("token", &server, &client, &key));
        assert_exit(&output, 3);
        let message = stderr(&output);
        assert!(message.contains("invalid_client") && message.contains("signed with PS256"), "{message}");
        assert!(message.contains("--algorithm"), "{message}");
        let output = run(connected("token", &server, &client, &key).args(["--algorithm", algorithm.as_str()]));
        assert_exit(&output, 0);
    }
    // No hint where it cannot be the reason: an EC key, or an algorithm that was given.
    let ec = server.register_client(Algorithm::Es256).unwrap();
    let other = server.register_client(Algorithm::Es256).unwrap();
    let wrong = scratch.file("wrong.key", &other.private_key);
    let output = run(&mut connected("token", &server, &ec, &wrong));
    assert_exit(&output, 3);
    assert!(!stderr(&output).contains("hint"), "{}", stderr(&output));
    let ps384 = server.register_client(Algorithm::Ps384).unwrap();
    let key = scratch.file("ps384.key", &ps384.private_key);
    let output = run(connected("token", &server, &ps384, &key).args(["--algorithm", "PS256"]));
    assert_exit(&output, 3);
    assert!(!stderr(&output).contains("hint"), "{}", stderr(&output));
}
