//! `td-oauth token --cache redis://…` against td-oauth-testkit and a real redis-server: a loop of commands
//! and a burst of concurrent ones each send one token request; the encryption key is required and checked;
//! Redis being down costs a direct fetch and a warning, never the token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};

use base64::Engine as _;
use td_oauth_core::{ClientId, Endpoints, Scopes};
use td_oauth_redis::sealed::FleetKey;
use td_oauth_testkit::{Algorithm, RedisServer, TOKEN_PATH, TestServer, bulk_payload};

mod common;

use common::{Scratch, assert_exit, connected, run, stderr, stdout};

/// A fresh key, as `openssl rand -base64 32` would print it.
fn cache_key() -> String {
    let bytes: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_loop_and_a_burst_of_commands_fetch_once() {
    let server = TestServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("cache-loop");
    let key_file = scratch.file("client.key", &client.private_key);
    let key = cache_key();

    // A script calling `td-oauth token` in a loop: the first call fetches, the others read Redis.
    let mut tokens = Vec::new();
    for _ in 0..5 {
        let output = run(connected("token", &server, &client, &key_file)
            .args(["--cache", &redis.url()])
            .env("TD_OAUTH_CACHE_KEY", &key));
        assert_exit(&output, 0);
        assert!(stderr(&output).is_empty(), "no warning while Redis is up: {}", stderr(&output));
        tokens.push(stdout(&output));
    }
    assert!(tokens.iter().all(|t| t == &tokens[0] && t.starts_with("eyJ")));
    assert_eq!(server.count_path(TOKEN_PATH), 1);

    // Other scopes are another cache entry; a burst of machines (processes) on it still fetches once.
    // TD_OAUTH_CACHE works like the flag.
    let children: Vec<_> = (0..6)
        .map(|_| {
            connected("token", &server, &client, &key_file)
                .args(["--scope", "users:read", "--json"])
                .env("TD_OAUTH_CACHE", redis.url())
                .env("TD_OAUTH_CACHE_KEY", &key)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_exit(&output, 0);
        let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(json["scope"], "users:read");
        assert!(json["expires_in"].as_u64().unwrap() > 0);
    }
    assert_eq!(server.count_path(TOKEN_PATH), 2);

    // What Redis holds is sealed: the entry is there, and the token is not in it.
    let token_url = Endpoints::from_token_url(server.token_url()).unwrap();
    let entry =
        FleetKey::new(token_url.token_url().as_str(), &ClientId::new(&client.client_id).unwrap(), &Scopes::none());
    let reply = redis.command(&[b"GET", entry.token_key().as_bytes()]).unwrap();
    let stored = bulk_payload(&reply).expect("the token is stored under its fleet key");
    let token = tokens[0].trim().as_bytes();
    assert!(!stored.windows(24).any(|w| token.windows(24).any(|t| t == w)), "no 24-byte run of the token in Redis");
}

#[test]
fn the_encryption_key_is_required_and_checked() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("cache-key");
    let key_file = scratch.file("client.key", &client.private_key);
    let cache =
        |command: &mut Command| -> std::process::Output { run(command.args(["--cache", "redis://127.0.0.1:1/0"])) };

    let output = cache(&mut connected("token", &server, &client, &key_file));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("TD_OAUTH_CACHE_KEY"), "{}", stderr(&output));
    assert!(stderr(&output).contains("openssl rand -base64 32"), "{}", stderr(&output));

    let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
    for bad in ["not base64 at all!", short.as_str()] {
        let output = cache(connected("token", &server, &client, &key_file).env("TD_OAUTH_CACHE_KEY", bad));
        assert_exit(&output, 2);
        assert!(stderr(&output).contains("TD_OAUTH_CACHE_KEY"), "{}", stderr(&output));
        assert!(!stderr(&output).contains(bad), "the key is never echoed: {}", stderr(&output));
    }

    let output = run(connected("token", &server, &client, &key_file)
        .args(["--cache", "http://127.0.0.1:6379/"])
        .env("TD_OAUTH_CACHE_KEY", cache_key()));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--cache"), "{}", stderr(&output));
    assert_eq!(server.count_path(TOKEN_PATH), 0, "nothing is fetched on bad input");
}

#[test]
fn redis_down_still_gives_a_token_and_says_so() {
    let server = TestServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let url = redis.url();
    redis.stop();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("cache-down");
    let key_file = scratch.file("client.key", &client.private_key);

    let output = run(connected("token", &server, &client, &key_file)
        .args(["--cache", &url])
        .env("TD_OAUTH_CACHE_KEY", cache_key()));
    assert_exit(&output, 0);
    assert!(stdout(&output).starts_with("eyJ"));
    assert!(stderr(&output).contains("WARN"), "the fallback is reported: {}", stderr(&output));
    assert_eq!(server.count_path(TOKEN_PATH), 1);
}
