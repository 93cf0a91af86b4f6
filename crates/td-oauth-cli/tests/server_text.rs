//! Text from a hostile API gateway, over real sockets (the token from td-oauth-testkit, the API from a
//! small gateway this test runs): what `api` and `whoami` print never carries back the access token the
//! request sent, in an error's texts, a header `--include` shows, a body or a list; and `whoami`'s lines
//! carry no terminal escapes or bidirectional overrides; a standard userinfo answer (`sub` without `id`) is
//! shown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::{Scratch, assert_exit, connected, run, stderr, stdout};
use serde_json::{Value, json};
use td_oauth_testkit::{Algorithm, ClientCredentials, TestServer};

const MARKER: &str = "[REDACTED access token]";

/// What the gateway answers: status, extra headers and body, from the path and the `Authorization` it got.
type Answer = fn(&str, &str) -> (u16, Vec<(String, String)>, Value);

/// A gateway on 127.0.0.1 that answers every request with `answer`, one request per connection, and keeps
/// the `Authorization` values it received.
struct Gateway {
    url: String,
    received: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    fn start(answer: Answer) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        // Ends with the test process; it holds nothing but its socket.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                serve(stream, answer, &seen);
            }
        });
        Gateway { url, received }
    }

    /// The bare tokens it was sent.
    fn tokens(&self) -> Vec<String> {
        let received = self.received.lock().unwrap();
        assert!(!received.is_empty(), "the gateway was called");
        received.iter().map(|value| value.strip_prefix("Bearer ").unwrap_or(value).to_owned()).collect()
    }
}

fn serve(mut stream: TcpStream, answer: Answer, seen: &Mutex<Vec<String>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let (path, authorization) = loop {
        let Ok(read) = stream.read(&mut chunk) else { return };
        if read == 0 {
            return;
        }
        buffer.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        if let Ok(httparse::Status::Complete(_)) = request.parse(&buffer) {
            let authorization = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("authorization"))
                .map(|h| String::from_utf8_lossy(h.value).into_owned())
                .unwrap_or_default();
            break (request.path.unwrap_or_default().to_owned(), authorization);
        }
    };
    seen.lock().unwrap().push(authorization.clone());
    let (status, headers, body) = answer(&path, &authorization);
    let body = body.to_string();
    let mut head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let _ = stream.write_all(format!("{head}\r\n{body}").as_bytes());
}

/// Talkdesk's error body, every text of it echoing the `Authorization` header, and a header that does too.
fn echo(path: &str, authorization: &str) -> (u16, Vec<(String, String)>, Value) {
    let headers = vec![("x-echo-authorization".to_owned(), authorization.to_owned())];
    if path.starts_with("/ok") {
        return (200, headers, json!({ "you_sent": authorization }));
    }
    if path.starts_with("/list") {
        return (200, headers, json!({ "total": 1, "_embedded": { "users": [{ "id": authorization }] } }));
    }
    let body = json!({
        "code": "0000400",
        "message": format!("invalid header {authorization}"),
        "description": format!("the gateway received {authorization}"),
        "fields": [{ "name": "authorization", "description": authorization }],
        "error": authorization,
    });
    (400, headers, body)
}

/// A userinfo answer whose fields hold terminal escapes and a right-to-left override.
fn hostile_user(_: &str, _: &str) -> (u16, Vec<(String, String)>, Value) {
    let body = json!({
        "id": "u1\u{1b}[2J\u{1b}[31m",
        "sub": "bob\u{1b}]0;pwned\u{7}",
        "name": "Eve\u{202e}fdp.exe\r\u{9b}31m",
        "email": "eve\u{2066}@example.com\u{2069}",
    });
    (200, Vec::new(), body)
}

struct Setup {
    server: TestServer,
    client: ClientCredentials,
    scratch: Scratch,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let server = TestServer::start().unwrap();
        let client = server.register_client(Algorithm::Es256).unwrap();
        Setup { server, client, scratch: Scratch::new(name) }
    }

    fn command(&self, subcommand: &str, gateway: &Gateway) -> Command {
        let key = self.scratch.file("key", &self.client.private_key);
        let mut command = connected(subcommand, &self.server, &self.client, &key);
        command.args(["--api-url", &gateway.url]);
        command
    }
}

/// Neither the token nor any piece of it that could be useful appears in `text`.
fn assert_no_token(text: &str, tokens: &[String]) {
    for token in tokens {
        assert!(token.len() > 100, "a real token: {token}");
        for piece in token.as_bytes().chunks(24) {
            let piece = std::str::from_utf8(piece).unwrap();
            if piece.len() == 24 {
                assert!(!text.contains(piece), "a piece of the token was printed: {piece} in {text}");
            }
        }
    }
}

#[test]
fn api_never_prints_the_token_a_gateway_echoes() {
    let setup = Setup::new("server-text-api");
    let gateway = Gateway::start(echo);

    // A 400 whose message, description, fields and error all echo `Bearer <token>`.
    let output = run(setup.command("api", &gateway).arg("/users"));
    assert_exit(&output, 3);
    let text = stderr(&output);
    assert!(text.contains("HTTP 400") && text.contains(MARKER), "{text}");
    assert_no_token(&text, &gateway.tokens());

    // --include: the echoed header, and the error after it.
    let output = run(setup.command("api", &gateway).args(["--include", "/users"]));
    assert_exit(&output, 3);
    assert!(stdout(&output).contains(&format!("x-echo-authorization: Bearer {MARKER}")), "{}", stdout(&output));
    assert_no_token(&format!("{}{}", stdout(&output), stderr(&output)), &gateway.tokens());

    // A success that echoes it, in a header and the body; and a list.
    let output = run(setup.command("api", &gateway).args(["--include", "/ok"]));
    assert_exit(&output, 0);
    assert!(stdout(&output).contains(MARKER), "{}", stdout(&output));
    assert_no_token(&stdout(&output), &gateway.tokens());
    let output = run(setup.command("api", &gateway).args(["--paginate", "/list"]));
    assert_exit(&output, 0);
    assert!(stdout(&output).contains(MARKER), "{}", stdout(&output));
    assert_no_token(&stdout(&output), &gateway.tokens());
}

#[test]
fn whoami_never_prints_the_token_and_shows_clean_lines() {
    let setup = Setup::new("server-text-whoami");
    let refresh = setup.server.issue_refresh_token(&setup.client.client_id, &["openid"]);
    let file = setup.scratch.file("refresh", &refresh);

    // whoami's 400, echoing the token.
    let gateway = Gateway::start(echo);
    let output = run(setup.command("whoami", &gateway).arg("--refresh-token-file").arg(&file));
    assert_exit(&output, 3);
    assert!(stderr(&output).contains(MARKER), "{}", stderr(&output));
    assert_no_token(&stderr(&output), &gateway.tokens());

    // Fields with escapes, a bell, a carriage return, a C1 control and bidirectional formatting: none
    // reaches the terminal; --json keeps the values as sent, escaped by JSON.
    let gateway = Gateway::start(hostile_user);
    let refresh = setup.server.issue_refresh_token(&setup.client.client_id, &["openid"]);
    let file = setup.scratch.file("refresh2", &refresh);
    let output = run(setup.command("whoami", &gateway).arg("--refresh-token-file").arg(&file));
    assert_exit(&output, 0);
    let text = stdout(&output);
    for bad in ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{202e}', '\u{2066}', '\u{2069}'] {
        assert!(!text.contains(bad), "{bad:?} in {text:?}");
    }
    assert!(text.contains("name:  Evefdp.exe31m") && text.contains("email: eve@example.com"), "{text:?}");
    // Both the Talkdesk id and the OpenID Connect subject, when both are sent.
    assert!(text.contains("id:    u1[2J[31m") && text.contains("sub:   bob]0;pwned"), "{text:?}");

    let refresh = setup.server.issue_refresh_token(&setup.client.client_id, &["openid"]);
    let file = setup.scratch.file("refresh3", &refresh);
    let output = run(setup.command("whoami", &gateway).arg("--refresh-token-file").arg(&file).arg("--json"));
    assert_exit(&output, 0);
    assert!(!stdout(&output).contains('\u{1b}'), "JSON escapes it");
    let me: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(me["name"], "Eve\u{202e}fdp.exe\r\u{9b}31m");
}

/// A standard OpenID Connect userinfo answer: `sub`, the one claim it must send, and no Talkdesk `id`.
fn openid_user(_: &str, _: &str) -> (u16, Vec<(String, String)>, Value) {
    (200, Vec::new(), json!({ "sub": "bob", "email": "bob@example.com" }))
}

#[test]
fn whoami_takes_a_userinfo_answer_with_only_sub() {
    let setup = Setup::new("server-text-sub");
    let gateway = Gateway::start(openid_user);
    let refresh = setup.server.issue_refresh_token(&setup.client.client_id, &["openid"]);
    let file = setup.scratch.file("refresh", &refresh);
    let output = run(setup.command("whoami", &gateway).arg("--refresh-token-file").arg(&file));
    assert_exit(&output, 0);
    assert_eq!(stdout(&output), "sub:   bob\nemail: bob@example.com\n");

    let refresh = setup.server.issue_refresh_token(&setup.client.client_id, &["openid"]);
    let file = setup.scratch.file("refresh2", &refresh);
    let output = run(setup.command("whoami", &gateway).arg("--refresh-token-file").arg(&file).arg("--json"));
    assert_exit(&output, 0);
    let me: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((&me["id"], &me["sub"]), (&Value::Null, &json!("bob")));
}
