//! `rediss://`: the fleet cache over TLS to a `redis-server --tls-port` with a certificate the test makes
//! (td-oauth-testkit's `TlsRedisServer`). With its CA given, async and blocking caches share one token
//! request through it; without it (the system's roots, which do not know that CA), the certificate is
//! refused and every caller fetches directly; certificate checks cannot be turned off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use td_oauth_redis::{BlockingFleetCache, FleetCache, FleetConfig, FleetKey, SealingKey};
use td_oauth_reqwest::{Client, ClientId, Config, Credentials, Endpoints, Grant, KeyId, PrivateKey, Scopes};
use td_oauth_testkit::{Algorithm, ClientCredentials, LogCapture, TOKEN_PATH, TestServer, TlsRedisServer};

const KEY: [u8; 32] = [0x42; 32];

fn scopes() -> Scopes {
    "apps:read".parse().unwrap()
}

fn credentials(creds: &ClientCredentials) -> Credentials {
    Credentials::private_key_jwt(
        ClientId::new(&creds.client_id).unwrap(),
        KeyId::new(&creds.key_id).unwrap(),
        PrivateKey::parse(&creds.private_key).unwrap(),
    )
}

/// A token from a fresh async provider whose cold fetch goes through `fleet`; what `tracing` said meanwhile.
fn async_token(server: &TestServer, creds: &ClientCredentials, fleet: FleetCache) -> (String, String) {
    let config = Config::default().with_shared_cache(Arc::new(fleet));
    let endpoints = Endpoints::from_token_url(server.token_url()).unwrap();
    let client = Client::with_config(&endpoints, credentials(creds), config).unwrap();
    let capture = LogCapture::default();
    let token = {
        let _events = capture.install();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(client.provider(Grant::client_credentials(scopes())).token()).unwrap()
    };
    (token.access_token().secret().to_owned(), capture.text())
}

fn blocking_token(server: &TestServer, creds: &ClientCredentials, fleet: BlockingFleetCache) -> String {
    let config = td_oauth_ureq::Config::default().with_shared_cache(Arc::new(fleet));
    let endpoints = Endpoints::from_token_url(server.token_url()).unwrap();
    let client = td_oauth_ureq::Client::with_config(&endpoints, credentials(creds), config).unwrap();
    client.provider(Grant::client_credentials(scopes())).token().unwrap().access_token().secret().to_owned()
}

fn with_ca(redis: &TlsRedisServer) -> FleetConfig {
    FleetConfig::default().with_redis_timeout(Duration::from_secs(2)).with_ca_certificates(redis.ca_pem())
}

#[test]
fn async_and_blocking_caches_share_one_token_request_over_tls() {
    let redis = TlsRedisServer::start().unwrap();
    let server = TestServer::start().unwrap();
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let fleet = FleetCache::with_config(&redis.tls_url(), SealingKey::new(KEY), with_ca(&redis)).unwrap();
    let (first, logs) = async_token(&server, &creds, fleet);
    assert!(!logs.contains("level=WARN"), "{logs}");
    let blocking = BlockingFleetCache::with_config(&redis.tls_url(), SealingKey::new(KEY), with_ca(&redis)).unwrap();
    assert_eq!(blocking_token(&server, &creds, blocking), first, "the fleet's token, read over TLS");
    assert_eq!(server.count_path(TOKEN_PATH), 1, "one token request for both");
    // It is in Redis (sealed), as the plain port shows.
    let key = FleetKey::new(server.token_url(), &ClientId::new(&creds.client_id).unwrap(), &scopes());
    let stored = redis.server().command(&[b"GET", key.token_key().as_bytes()]).unwrap();
    assert!(stored.starts_with(b"$") && !stored.starts_with(b"$-1"), "{}", String::from_utf8_lossy(&stored));
}

#[test]
fn a_certificate_the_system_does_not_trust_is_refused_and_the_token_fetched_directly() {
    let redis = TlsRedisServer::start().unwrap();
    let server = TestServer::start().unwrap();
    let creds = server.register_client(Algorithm::Es256).unwrap();
    for _ in 0..2 {
        let config = FleetConfig::default().with_redis_timeout(Duration::from_secs(2));
        let fleet = FleetCache::with_config(&redis.tls_url(), SealingKey::new(KEY), config).unwrap();
        let (_, logs) = async_token(&server, &creds, fleet);
        assert!(logs.contains("fetching the token directly"), "{logs}");
    }
    assert_eq!(server.count_path(TOKEN_PATH), 2, "nothing shared through an untrusted server");
}

#[test]
fn certificate_checks_cannot_be_turned_off() {
    for url in ["rediss://:hunter2@127.0.0.1:6380/0#insecure", "rediss://127.0.0.1:6380#insecure"] {
        let err = FleetCache::new(url, SealingKey::new(KEY)).unwrap_err().to_string();
        assert!(err.contains("always checked") && !err.contains("hunter2"), "{err}");
    }
}

#[test]
fn a_ca_file_that_is_no_certificate_is_refused() {
    let config = FleetConfig::default().with_ca_certificates("not a PEM certificate");
    let err = FleetCache::with_config("rediss://127.0.0.1:6380/0", SealingKey::new(KEY), config);
    let err = err.unwrap_err().to_string();
    assert!(err.contains("CA certificates") && err.contains("no PEM certificate"), "{err}");
}
