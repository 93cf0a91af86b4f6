//! The built `td-oauth` binary against td-oauth-testkit: every subcommand, key forms from files and the
//! environment, JSON output parsed back, exit codes, and refusals of bad input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use td_oauth_testkit::{Algorithm, ClientSpec, TestServer};

mod common;

use common::{Scratch, assert_exit, connected, run, stderr, stdout, td_oauth};

/// Every algorithm Talkdesk hands out, in the binary as built by default: ES512 needs aws-lc-rs, on by default.
#[test]
fn token_with_every_algorithm_and_key_form_from_files_and_the_environment() {
    let server = TestServer::start().unwrap();
    let scratch = Scratch::new("forms");
    for algorithm in Algorithm::ALL {
        let client = server.register_client(algorithm).unwrap();
        let wrapped = client
            .private_key
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n");
        // An RSA key cannot tell PS256 from PS384 or PS512: those clients need --algorithm.
        let needs_algorithm = matches!(algorithm, Algorithm::Ps384 | Algorithm::Ps512);
        let forms: [(&str, &[u8]); 4] = [
            ("one-line", client.private_key.as_bytes()),
            ("wrapped", wrapped.as_bytes()),
            ("pem", client.private_key_pem.as_bytes()),
            ("der", &client.private_key_der),
        ];
        for (form, bytes) in forms {
            let key_file = scratch.file_with_mode(&format!("{}-{form}.key", algorithm.as_str()), bytes, 0o600);
            let mut command = connected("token", &server, &client, &key_file);
            if needs_algorithm {
                command.args(["--algorithm", algorithm.as_str()]);
            }
            let output = run(&mut command);
            if algorithm == Algorithm::Es512 && !cfg!(feature = "aws-lc-rs") {
                assert_exit(&output, 2);
                assert!(stderr(&output).contains("`aws-lc-rs` feature"), "{}", stderr(&output));
                continue;
            }
            assert_exit(&output, 0);
            assert!(stdout(&output).trim().starts_with("eyJ"), "{algorithm:?} {form}: {}", stdout(&output));
            assert!(stderr(&output).is_empty(), "{algorithm:?} {form}: {}", stderr(&output));
            if form == "der" {
                continue;
            }
            let output = run(td_oauth()
                .arg("token")
                .env("TALKDESK_TOKEN_URL", server.token_url())
                .env("TALKDESK_CLIENT_ID", &client.client_id)
                .env("TALKDESK_KEY_ID", &client.key_id)
                .env("TALKDESK_PRIVATE_KEY", std::str::from_utf8(bytes).unwrap())
                .env("TALKDESK_KEY_ALGORITHM", algorithm.as_str()));
            assert_exit(&output, 0);
        }
        let verified = server.requests().into_iter().filter(|r| r.status == Some(200)).count();
        assert_eq!(verified, server.count_grant("client_credentials"), "{algorithm:?}: every request got a token");
    }
    let algorithms = if cfg!(feature = "aws-lc-rs") { 6 } else { 5 };
    assert_eq!(server.count_grant("client_credentials"), algorithms * 7);
}

#[test]
fn token_json_dry_run_and_scopes() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("json");
    let key_file = scratch.file("client.key", &client.private_key);

    let output =
        run(connected("token", &server, &client, &key_file).args(["--json", "--scope", "users:read apps:read"]));
    assert_exit(&output, 0);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 600);
    assert_eq!(json["scope"], "users:read apps:read");
    assert!(json["access_token"].as_str().unwrap().starts_with("eyJ"));

    let before = server.request_count();
    let output = run(connected("token", &server, &client, &key_file).arg("--dry-run"));
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.starts_with(&format!("POST {}", server.token_url())), "{text}");
    assert!(text.contains("grant_type=client_credentials"), "{text}");
    assert!(text.contains(&format!("\"aud\": \"{}\"", server.token_url())), "{text}");
    assert!(text.contains(&format!("\"kid\": \"{}\"", client.key_id)), "{text}");
    assert_eq!(server.request_count(), before, "a dry run sends nothing");

    let output = run(connected("token", &server, &client, &key_file).args(["--scope", "nope:nope"]));
    assert_exit(&output, 3);
    assert!(stderr(&output).contains("invalid_scope"), "{}", stderr(&output));
}

#[test]
fn basic_authentication_from_a_file_and_the_environment() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("basic");
    let secret_file = scratch.file("secret", &format!("{}\n", client.client_secret));
    let output = run(td_oauth()
        .args(["token", "--token-url", server.token_url(), "--client-id", &client.client_id])
        .arg("--client-secret-file")
        .arg(&secret_file));
    assert_exit(&output, 0);
    let output = run(td_oauth()
        .args(["token", "--json"])
        .env("TALKDESK_TOKEN_URL", server.token_url())
        .env("TALKDESK_CLIENT_ID", &client.client_id)
        .env("TALKDESK_CLIENT_SECRET", &client.client_secret));
    assert_exit(&output, 0);
    let records = server.requests();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.status == Some(200) && r.assertion_claims.is_none()));

    // A flag wins over its variable.
    let output = run(td_oauth()
        .args(["token", "--client-id", "nobody"])
        .env("TALKDESK_TOKEN_URL", server.token_url())
        .env("TALKDESK_CLIENT_ID", &client.client_id)
        .env("TALKDESK_CLIENT_SECRET", &client.client_secret));
    assert_exit(&output, 3);
    assert!(stderr(&output).contains("invalid_client"), "{}", stderr(&output));
    assert!(!stderr(&output).contains(&client.client_secret));

    // An id holding `:` and a secret holding `+`, `/`, `=`, `&` and `%`: form-encoded as RFC 6749 §2.3.1 asks.
    let spec = ClientSpec::new(Algorithm::Es256).client_id("partner:acme").client_secret("s3cret+/=&% x");
    let partner = server.register_client_with(spec).unwrap();
    let secret_file = scratch.file("partner-secret", &partner.client_secret);
    let output = run(td_oauth()
        .args(["token", "--token-url", server.token_url(), "--client-id", "partner:acme"])
        .arg("--client-secret-file")
        .arg(&secret_file));
    assert_exit(&output, 0);
    assert_eq!(server.last_request().unwrap().client_id.as_deref(), Some("partner:acme"));
}

#[test]
fn assertion_and_inspect() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("assertion");
    let key_file = scratch.file("client.key", &client.private_key_pem);
    let output = run(&mut connected("assertion", &server, &client, &key_file));
    assert_exit(&output, 0);
    let assertion = stdout(&output).trim().to_owned();
    assert_eq!(assertion.split('.').count(), 3);

    let output = run(td_oauth().args(["inspect", &assertion]));
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.contains(&format!("\"iss\": \"{}\"", client.client_id)), "{text}");
    assert!(text.contains("expires:") && text.contains("(in 29"), "{text}");

    let mut child = td_oauth().arg("inspect").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(assertion.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("\"alg\": \"ES256\""));

    let output = run(td_oauth().args(["inspect", "not-a-jwt"]));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("three dot-separated parts"), "{}", stderr(&output));
}

#[test]
fn authorization_code_flow_with_pkce_then_refresh() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("code");
    let key_file = scratch.file("client.key", &client.private_key);
    let redirect = "http://127.0.0.1:9/callback";

    let output = run(td_oauth()
        .args(["authorize-url", "--token-url", server.token_url(), "--client-id", &client.client_id])
        .args(["--redirect-uri", redirect, "--scope", "openid users:read", "--pkce", "--json"]));
    assert_exit(&output, 0);
    let authorize: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let url = authorize["url"].as_str().unwrap();
    assert!(url.starts_with(&server.authorize_url()), "{url}");
    let verifier = authorize["code_verifier"].as_str().unwrap();

    // The browser's part: follow the authorize URL to the redirect, without following it further.
    let back = common::authorize(url);
    let code = common::param(&back, "code").to_owned();
    assert_eq!(common::param(&back, "state"), authorize["state"].as_str().unwrap());

    let output = run(connected("exchange", &server, &client, &key_file).args([
        "--code",
        &code,
        "--redirect-uri",
        redirect,
        "--code-verifier",
        verifier,
        "--json",
    ]));
    assert_exit(&output, 0);
    let tokens: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert!(tokens["id_token"].is_string() && tokens["sid"].is_string(), "{tokens}");

    // The code is single-use.
    let output = run(connected("exchange", &server, &client, &key_file).args([
        "--code",
        &code,
        "--redirect-uri",
        redirect,
        "--code-verifier",
        verifier,
    ]));
    assert_exit(&output, 3);
    assert!(stderr(&output).contains("invalid_grant"), "{}", stderr(&output));

    let mut child = connected("refresh", &server, &client, &key_file)
        .args(["--refresh-token", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(refresh_token.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_exit(&output, 0);
    let refreshed: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_ne!(refreshed["refresh_token"], tokens["refresh_token"], "refresh tokens rotate");
}

#[test]
fn exit_codes_and_refusals() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let other = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("refusals");
    let key_file = scratch.file("client.key", &client.private_key);

    // 3: the server refuses (a key the server does not know for this client).
    let wrong_key = scratch.file("other.key", &other.private_key);
    let output = run(&mut connected("token", &server, &client, &wrong_key));
    assert_exit(&output, 3);
    assert!(stderr(&output).contains("invalid_client"), "{}", stderr(&output));

    // 1: nobody listens there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let output = run(td_oauth()
        .args(["token", "--token-url", &format!("http://127.0.0.1:{closed}/oauth/token")])
        .args(["--client-id", &client.client_id, "--key-id", &client.key_id, "--timeout", "1", "--retries", "0"])
        .arg("--private-key-file")
        .arg(&key_file));
    assert_exit(&output, 1);

    // 2: bad input, refused before anything is sent.
    let public_key = scratch.file("public.pem", &client.public_key_pem);
    let truncated = scratch.file("truncated.key", &client.private_key[..40]);
    let encrypted = scratch
        .file("encrypted.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n");
    let corrupt = scratch.file("corrupt.key", &client.private_key.replacen('A', "!", 1));
    let rsa_1024 = scratch.file("rsa1024.pem", include_str!("../../td-oauth-core/tests/keys/rsa1024.pkcs8.pem"));
    let flag = |name: &str, value: &str| vec![name.to_owned(), value.to_owned()];
    let path = |p: &PathBuf| p.display().to_string();
    let long_name = "a".repeat(64);
    let cases: Vec<(Vec<String>, &str)> = vec![
        // Every bad account name from the core's list.
        (flag("--account", "acme.evil.com"), "give only the account name"),
        (flag("--account", "evil.com/x"), "give only the account name"),
        (flag("--account", "a@b"), "`@`"),
        (flag("--account", "a#"), "`#`"),
        (flag("--account", "a:1"), "`:`"),
        (flag("--account", "ac me"), "whitespace"),
        (flag("--account", ""), "empty"),
        (flag("--account", &long_name), "at most 63"),
        (flag("--account", "ácme"), "non-ASCII"),
        // URLs that would send credentials somewhere unsafe.
        (flag("--token-url", "http://example.com/oauth/token"), "only sent over https"),
        (flag("--token-url", "https://user@example.com/oauth/token"), "user info"),
        (flag("--token-url", "http://2130706433/oauth/token"), "canonical"),
        // Every bad key from the core's list.
        (flag("--private-key-file", &path(&public_key)), "public key"),
        (flag("--private-key-file", &path(&truncated)), "truncated"),
        (flag("--private-key-file", &path(&corrupt)), "neither PEM nor Base64"),
        (flag("--private-key-file", &path(&encrypted)), "encrypted"),
        (flag("--private-key-file", &path(&rsa_1024)), "at least 2048"),
        (flag("--private-key-file", "/nonexistent/key.pem"), "cannot read the private key file"),
        (flag("--algorithm", "ES384"), "does not match the key"),
        (flag("--algorithm", "PS256"), "does not match the key"),
        (flag("--algorithm", "HS256"), "not one of"),
        (flag("--scope", "a\"b"), "invalid scope"),
    ];
    for (extra, says) in cases {
        let mut command = td_oauth();
        command.args(["token", "--client-id", &client.client_id, "--key-id", &client.key_id]);
        if !extra.iter().any(|a| a == "--account" || a == "--token-url") {
            command.args(["--token-url", server.token_url()]);
        }
        if !extra.iter().any(|a| a == "--private-key-file") {
            command.arg("--private-key-file").arg(&key_file);
        }
        let output = run(command.args(&extra));
        assert_exit(&output, 2);
        assert!(stderr(&output).contains(says), "{extra:?}: {}", stderr(&output));
        assert!(!stderr(&output).contains(&client.private_key[30..60]), "{}", stderr(&output));
    }
    let output = run(td_oauth().args(["token", "--client-id", "x"]));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("give --account"), "{}", stderr(&output));
    let output = run(td_oauth().args(["token", "--token-url", server.token_url(), "--client-id", "x"]));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("no credentials"), "{}", stderr(&output));
    let output = run(td_oauth().args(["token", "--region", "mars"]));
    assert_exit(&output, 2);
    assert_eq!(server.count_grant("client_credentials"), 1, "only the wrong-key attempt reached the server");
}

#[test]
fn every_subcommand_has_help_with_examples() {
    let mut subcommands = vec!["token", "assertion", "authorize-url", "exchange", "refresh", "inspect"];
    if cfg!(feature = "local-server") {
        subcommands.push("serve");
    }
    for subcommand in subcommands {
        let output = run(td_oauth().args([subcommand, "--help"]));
        assert_exit(&output, 0);
        let text = stdout(&output);
        assert!(text.contains("Example"), "{subcommand}: {text}");
    }
    let output = run(td_oauth().arg("--help"));
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("Exit status"));
}
