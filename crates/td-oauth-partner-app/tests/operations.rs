//! The runbook's situations, run as documented in docs/partner-apps.md, over real processes and a real
//! redis-server (and PostgreSQL for TLS): the store down (tokens held in memory still served, new installations answered 503 and
//! finished by AppConnect's redelivery once the store is back), and the sealing key rotated without a
//! moment when a replica cannot read the store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::Value;
use td_oauth_core::crypto::SealingKey;
use td_oauth_testkit::{
    Algorithm, AppEvent, EventDelivery, PostgresServer, RedisServer, TestServer, TlsRedisServer, app_event_with_root,
};

use support::{CALLBACK_SECRET, Launch, STORE_KEY, assert_no_secret, http_post, secrets_of};

const NEW_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";

fn fingerprint(base64: &str) -> String {
    SealingKey::from_base64(base64).unwrap().id().to_string()
}

fn redis() -> RedisServer {
    RedisServer::start().expect("redis-server (installed by .ci/run and cargo xtask)")
}

#[test]
fn the_store_down_keeps_held_tokens_served_and_refuses_new_installations_until_it_is_back() {
    let server = TestServer::start().unwrap();
    let redis = redis();
    let replica = Launch::new(redis.url(), &server).start();
    let first = server.register_client(Algorithm::Es256).unwrap();
    let second = server.register_client(Algorithm::Es256).unwrap();
    let event = |account: &str, client| {
        app_event_with_root(AppEvent::Installed, account, server.token_url(), server.base_url(), client)
    };
    assert_eq!(replica.deliver(&event("acct-0", &first)).status, Some(200));
    assert_eq!(replica.admin_get("/installations/inst-acct-0/token-status").0, 200);

    redis.stop();
    // The installation held in memory keeps its token.
    let (status, body) = replica.admin_get("/installations/inst-acct-0/token-status");
    assert_eq!(status, 200, "{body}");
    // A new installation cannot be written: 503, so that AppConnect delivers it again.
    let install = event("acct-1", &second);
    assert_eq!(replica.deliver(&install).status, Some(503));
    // The operator endpoint says the store is down, and that asking again may work.
    let (status, body) = replica.admin_get("/installations");
    assert_eq!(status, 503, "{body}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["retryable"], true, "{body}");
    assert!(error["error"].as_str().unwrap_or_default().contains(&format!("127.0.0.1:{}", redis.port())), "{body}");

    // The store back (empty: this test's Redis keeps nothing on disk), AppConnect's redelivery finishes it.
    redis.restart().unwrap();
    let attempts = EventDelivery::new(&replica.callback())
        .unwrap()
        .with_delays(vec![Duration::from_millis(500); 20])
        .deliver(&install)
        .unwrap();
    assert!(attempts.last().is_some_and(|a| a.delivered()), "{attempts:?}");
    let (status, body) = replica.admin_get("/installations/inst-acct-1/token-status");
    assert_eq!(status, 200, "{body}");

    let (status, stderr) = replica.terminate();
    assert!(status.success(), "{stderr}");
    let mut secrets = secrets_of(&first);
    secrets.extend(secrets_of(&second));
    secrets.extend([CALLBACK_SECRET.to_owned(), STORE_KEY.to_owned()]);
    assert_no_secret("the log", &stderr, &secrets);
}

#[test]
fn the_sealing_key_is_rotated_as_the_runbook_says() {
    let server = TestServer::start().unwrap();
    let redis = redis();
    let old_only = Launch::new(redis.url(), &server);
    let client = server.register_client(Algorithm::Es256).unwrap();
    let a = old_only.start();
    let install = app_event_with_root(AppEvent::Installed, "acct-0", server.token_url(), server.base_url(), &client);
    assert_eq!(a.deliver(&install).status, Some(200));
    assert_eq!(a.installations()["installations"][0]["sealed_with"], fingerprint(STORE_KEY));

    // Step 1: every replica reads the new key too (current: old, previous: new).
    let step1 = old_only.clone().env("TD_OAUTH_STORE_KEY_PREVIOUS", NEW_KEY).start();
    assert_eq!(step1.admin_get("/installations/inst-acct-0/token-status").0, 200);
    // Step 2: the new key seals (current: new, previous: old); records sealed with the old one still open.
    let step2 =
        old_only.clone().env("TD_OAUTH_STORE_KEY", NEW_KEY).env("TD_OAUTH_STORE_KEY_PREVIOUS", STORE_KEY).start();
    assert_eq!(step2.admin_get("/installations/inst-acct-0/token-status").0, 200);
    // Step 3: every record sealed again with the new key.
    let (status, body) = http_post(&format!("{}/reseal", step2.admin));
    assert_eq!(status, 200, "{body}");
    let resealed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(resealed["resealed"], 1, "{body}");
    assert_eq!(resealed["sealed_with"], fingerprint(NEW_KEY));
    assert_eq!(step1.installations()["installations"][0]["sealed_with"], fingerprint(NEW_KEY));
    // Step 4: the old key retired.
    let step4 = old_only.clone().env("TD_OAUTH_STORE_KEY", NEW_KEY).start();
    assert_eq!(step4.admin_get("/installations/inst-acct-0/token-status").0, 200, "the new key alone reads the store");

    // A replica given a key the store was never sealed with refuses to start, naming keys by fingerprint.
    let (status, stderr) = old_only.env("TD_OAUTH_STORE_KEY", OTHER_KEY).fail();
    assert_eq!(status.code(), Some(2), "{stderr}");
    let said = format!("sealed with key {}", fingerprint(NEW_KEY));
    assert!(stderr.contains(&said) && stderr.contains(&fingerprint(OTHER_KEY)), "{stderr}");
    for key in [STORE_KEY, NEW_KEY, OTHER_KEY] {
        assert!(!stderr.contains(key), "{stderr}");
    }
    drop((a, step1, step2, step4));
}

#[test]
fn a_rediss_store_is_trusted_through_the_ca_file_given() {
    let server = TestServer::start().unwrap();
    let redis = TlsRedisServer::start().expect("redis-server with TLS (installed by .ci/run and cargo xtask)");
    let dir = std::env::temp_dir().join(format!("td-oauth-partner-app-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, redis.ca_pem()).unwrap();
    let launch = Launch::new(redis.tls_url(), &server);

    // The system's roots do not know the test's CA: the store is unavailable, and the replica says so.
    let (status, stderr) = launch.fail();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is unavailable") || stderr.contains("refused"), "{stderr}");

    let replica = launch.env("TD_OAUTH_STORE_CA_FILE", ca.to_str().unwrap()).start();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let install = app_event_with_root(AppEvent::Installed, "acct-0", server.token_url(), server.base_url(), &client);
    assert_eq!(replica.deliver(&install).status, Some(200));
    assert_eq!(replica.admin_get("/installations/inst-acct-0/token-status").0, 200);
    assert!(replica.installations()["store"].as_str().unwrap_or_default().starts_with("rediss://"));
    drop(replica);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_postgres_store_over_tls_is_trusted_through_the_ca_file_given() {
    let server = TestServer::start().unwrap();
    let postgres = PostgresServer::start_tls()
        .expect("PostgreSQL's initdb and postgres (the postgresql package, installed by .ci/run and cargo xtask)");
    let dir = std::env::temp_dir().join(format!("td-oauth-partner-app-pg-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, postgres.ca_pem().unwrap()).unwrap();
    let url = format!("{}?sslmode=require", postgres.url());
    let launch = Launch { store_in_env: true, ..Launch::new(url, &server) };

    // The system's roots do not know the test's CA: the migration is refused, saying why and what to do.
    let refused = launch.command().arg("--migrate").output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("TLS certificate was refused") && stderr.contains("TD_OAUTH_STORE_CA_FILE"), "{stderr}");
    assert!(!stderr.contains(postgres.password()), "{stderr}");

    let launch = launch.env("TD_OAUTH_STORE_CA_FILE", ca.to_str().unwrap());
    let migrated = launch.command().arg("--migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let replica = launch.start();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let install = app_event_with_root(AppEvent::Installed, "acct-0", server.token_url(), server.base_url(), &client);
    assert_eq!(replica.deliver(&install).status, Some(200));
    assert_eq!(replica.admin_get("/installations/inst-acct-0/token-status").0, 200);
    assert!(!replica.stderr().contains(postgres.password()));
    drop(replica);
    let _ = std::fs::remove_dir_all(&dir);
}
