//! `td-oauth token --cache rediss://…` against a `redis-server --tls-port` with a certificate the test
//! makes: with its CA in `TD_OAUTH_CACHE_CA_FILE`, a loop of commands sends one token request; without it
//! the certificate is refused, and each command fetches directly, saying so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use td_oauth_testkit::{Algorithm, TOKEN_PATH, TestServer, TlsRedisServer};

mod common;

use common::{Scratch, assert_exit, connected, run, stderr, stdout};

fn cache_key() -> String {
    base64::engine::general_purpose::STANDARD.encode([0x17u8; 32])
}

#[test]
fn rediss_with_the_ca_file_fetches_once_and_without_it_fetches_directly() {
    let server = TestServer::start().unwrap();
    let redis = TlsRedisServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("cache-tls");
    let key_file = scratch.file("client.key", &client.private_key);
    let ca_file = scratch.file("redis-ca.pem", redis.ca_pem());

    let mut tokens = Vec::new();
    for _ in 0..3 {
        let output = run(connected("token", &server, &client, &key_file)
            .args(["--cache", &redis.tls_url()])
            .env("TD_OAUTH_CACHE_KEY", cache_key())
            .env("TD_OAUTH_CACHE_CA_FILE", &ca_file));
        assert_exit(&output, 0);
        assert!(stderr(&output).is_empty(), "no warning while Redis is up: {}", stderr(&output));
        tokens.push(stdout(&output));
    }
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    assert_eq!(server.count_path(TOKEN_PATH), 1, "one token request for the loop, through rediss://");

    // The system's CAs do not know this server's: refused, and the token fetched directly.
    let output = run(connected("token", &server, &client, &key_file)
        .args(["--scope", "users:read", "--cache", &redis.tls_url()])
        .env("TD_OAUTH_CACHE_KEY", cache_key()));
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("fetching the token directly"), "{}", stderr(&output));
    assert_eq!(server.count_path(TOKEN_PATH), 2);

    // A CA file that is no certificate is bad input.
    let not_pem = scratch.file("not.pem", "hello");
    let output = run(connected("token", &server, &client, &key_file)
        .args(["--cache", &redis.tls_url()])
        .env("TD_OAUTH_CACHE_KEY", cache_key())
        .env("TD_OAUTH_CACHE_CA_FILE", &not_pem));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("no PEM certificate"), "{}", stderr(&output));
}
