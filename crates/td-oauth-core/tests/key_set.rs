//! Several keys and a key file read again when it changes (td_oauth_core::key_set): a Kubernetes-style
//! secret swapped through its `..data` link is used from the next assertion once the check interval has
//! passed on a clock the test steps, a broken new file keeps the old key and warns once, and which of
//! several keys signs is the one activated. Assertions are verified with jsonwebtoken and the public keys.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use td_oauth_core::assertion::{AssertionSigner, CLIENT_AUTHENTICATION_TYP};
use td_oauth_core::clock::ManualClock;
use td_oauth_core::jwt::UnverifiedJwt;
use td_oauth_core::key_set::{KeyFile, KeySet};
use td_oauth_core::random::OsRandom;
use td_oauth_core::{Algorithm, ClientId, Endpoints, Error, KeyId, PrivateKey};
use td_oauth_testkit::{LogCapture, SecretVolume};

const ES256: &str = include_str!("keys/es256.pkcs8.pem");
const ES256_PUB: &str = include_str!("keys/es256.pub.pem");
const ES384: &str = include_str!("keys/es384.pkcs8.pem");
const ES384_PUB: &str = include_str!("keys/es384.pub.pem");
const TOKEN_URL: &str = "https://acme.talkdeskid.com/oauth/token";

/// A Kubernetes-style secret volume (the testkit's) and the key file over it, on `clock`.
struct Secret(SecretVolume);

impl Secret {
    fn new(name: &str) -> Secret {
        Secret(SecretVolume::new(name).unwrap())
    }

    fn update(&mut self, key: &str, key_id: &str) {
        self.0.update(key, key_id).unwrap();
    }

    fn key_file(&self, clock: &ManualClock) -> KeyFile {
        KeyFile::new(self.0.key_path(), self.0.key_id_path()).with_clock(clock.clone())
    }
}

fn signer(keys: &KeySet) -> AssertionSigner {
    let endpoints = Endpoints::from_token_url(TOKEN_URL).unwrap();
    AssertionSigner::with_key_set(ClientId::new("client").unwrap(), keys.clone(), endpoints.token_url())
}

/// Signs an assertion and checks it with `public_pem`; its header.
fn signed_header(signer: &AssertionSigner, public_pem: &str, algorithm: jsonwebtoken::Algorithm) -> Value {
    let assertion = signer.sign(SystemTime::now(), &OsRandom::new()).unwrap();
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&[TOKEN_URL]);
    jsonwebtoken::decode::<Value>(
        assertion.secret(),
        &DecodingKey::from_ec_pem(public_pem.as_bytes()).unwrap(),
        &validation,
    )
    .unwrap_or_else(|err| panic!("the assertion does not verify with the expected key: {err}"));
    Value::Object(UnverifiedJwt::decode(assertion.secret()).unwrap().header().clone())
}

#[test]
fn a_swapped_secret_is_used_from_the_next_assertion_once_the_interval_has_passed() {
    let clock = ManualClock::new();
    let mut secret = Secret::new("swap");
    secret.update(ES256, "kid-a");
    let keys = KeySet::watch(secret.key_file(&clock)).unwrap();
    let signer = signer(&keys);
    assert_eq!(signed_header(&signer, ES256_PUB, jsonwebtoken::Algorithm::ES256)["kid"], "kid-a");

    secret.update(ES384, "kid-b");
    clock.advance(Duration::from_secs(4));
    let header = signed_header(&signer, ES256_PUB, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header["kid"], "kid-a", "not checked again before 5 s");

    clock.advance(Duration::from_secs(1));
    let header = signed_header(&signer, ES384_PUB, jsonwebtoken::Algorithm::ES384);
    assert_eq!((header["kid"].as_str(), header["alg"].as_str()), (Some("kid-b"), Some("ES384")));
    assert_eq!(keys.active_key_id().as_str(), "kid-b");
    let ids: Vec<String> = keys.key_ids().iter().map(|id| id.as_str().to_owned()).collect();
    assert_eq!(ids, ["kid-a", "kid-b"], "the key replaced stays, inactive");

    // Back to the first key: the set keeps the one in use and the one before it.
    secret.update(ES256, "kid-c");
    clock.advance(Duration::from_secs(5));
    assert_eq!(signed_header(&signer, ES256_PUB, jsonwebtoken::Algorithm::ES256)["kid"], "kid-c");
    let ids: Vec<String> = keys.key_ids().iter().map(|id| id.as_str().to_owned()).collect();
    assert_eq!(ids, ["kid-b", "kid-c"]);
}

#[test]
fn a_broken_new_file_keeps_the_old_key_and_warns_once_without_the_key() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let clock = ManualClock::new();
    let mut secret = Secret::new("broken");
    secret.update(ES256, "kid-a");
    let keys = KeySet::watch(secret.key_file(&clock)).unwrap();
    let signer = signer(&keys);

    // Half a key: what a bad copy leaves.
    let broken = &ES384[..ES384.len() / 2];
    secret.update(broken, "kid-b");
    for _ in 0..3 {
        clock.advance(Duration::from_secs(5));
        assert_eq!(signed_header(&signer, ES256_PUB, jsonwebtoken::Algorithm::ES256)["kid"], "kid-a");
    }
    let text = logs.text();
    assert_eq!(text.matches("level=WARN").count(), 1, "warned once for one content: {text}");
    assert!(text.contains("private-key") && text.contains("still signing with the key in use"), "{text}");
    assert!(text.contains("kid-a"), "names the key in use: {text}");
    let body_line = ES384.lines().nth(1).unwrap();
    assert!(!text.contains(body_line), "no key material in the log: {text}");

    // Fixed: used from the next check.
    secret.update(ES384, "kid-b");
    clock.advance(Duration::from_secs(5));
    assert_eq!(signed_header(&signer, ES384_PUB, jsonwebtoken::Algorithm::ES384)["kid"], "kid-b");
}

#[test]
fn an_unreadable_file_at_start_is_an_error_naming_it() {
    let clock = ManualClock::new();
    let secret = Secret::new("missing");
    let err = KeySet::watch(secret.key_file(&clock)).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { field: "key file", .. }), "{err:?}");
    assert!(err.to_string().contains("key-id") || err.to_string().contains("private-key"), "{err}");
}

#[test]
fn the_activated_key_signs_and_the_active_key_cannot_be_removed() {
    let kid = |id: &str| KeyId::new(id).unwrap();
    let keys = KeySet::new(kid("old"), PrivateKey::parse(ES256).unwrap());
    keys.insert(kid("new"), PrivateKey::parse(ES384).unwrap()).unwrap();
    let signer = signer(&keys);
    assert_eq!(
        signed_header(&signer, ES256_PUB, jsonwebtoken::Algorithm::ES256)["kid"],
        "old",
        "insert does not activate"
    );

    keys.activate(&kid("new")).unwrap();
    assert_eq!(signed_header(&signer, ES384_PUB, jsonwebtoken::Algorithm::ES384)["kid"], "new");

    let err = keys.remove(&kid("new")).unwrap_err().to_string();
    assert!(err.contains("active"), "{err}");
    assert!(keys.insert(kid("new"), PrivateKey::parse(ES256).unwrap()).unwrap_err().to_string().contains("already"));
    assert!(keys.activate(&kid("gone")).unwrap_err().to_string().contains("not in the set"));
    keys.remove(&kid("old")).unwrap();
    assert_eq!(signed_header(&signer, ES384_PUB, jsonwebtoken::Algorithm::ES384)["kid"], "new");
    assert_eq!(keys.key_ids(), [kid("new")]);
}

#[test]
fn the_rfc7523bis_preset_sets_aud_to_the_issuer_and_typ_and_the_default_stays_talkdesks() {
    let endpoints = Endpoints::from_token_url(TOKEN_URL).unwrap();
    let make = || {
        AssertionSigner::new(
            ClientId::new("client").unwrap(),
            KeyId::new("kid").unwrap(),
            PrivateKey::parse_with_algorithm(ES256, Algorithm::Es256).unwrap(),
            endpoints.token_url(),
        )
    };
    let read = |signer: &AssertionSigner| {
        let assertion = signer.sign(SystemTime::now(), &OsRandom::new()).unwrap();
        UnverifiedJwt::decode(assertion.secret()).unwrap()
    };
    let default = read(&make());
    assert_eq!((default.header()["typ"].as_str(), default.claims()["aud"].as_str()), (Some("JWT"), Some(TOKEN_URL)));

    let bis = read(&make().rfc7523bis("https://acme.talkdeskid.com").unwrap());
    assert_eq!(bis.header()["typ"], CLIENT_AUTHENTICATION_TYP);
    assert_eq!(bis.claims()["aud"], "https://acme.talkdeskid.com");
    let typ_only = read(&make().with_client_authentication_typ());
    assert_eq!(
        (typ_only.header()["typ"].as_str(), typ_only.claims()["aud"].as_str()),
        (Some(CLIENT_AUTHENTICATION_TYP), Some(TOKEN_URL))
    );
}
