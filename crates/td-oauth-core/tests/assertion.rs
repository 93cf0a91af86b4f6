//! Assertions verify with an independent JWT library and the public key, with exactly the claims Talkdesk
//! expects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};
use td_oauth_core::assertion::AssertionSigner;
use td_oauth_core::random::OsRandom;
use td_oauth_core::{Algorithm, ClientId, Endpoints, Error, KeyId, PrivateKey, Region};

const ES256: &str = include_str!("keys/es256.pkcs8.b64");
const ES256_PUB: &str = include_str!("keys/es256.pub.pem");
const ES384: &str = include_str!("keys/es384.pkcs8.pem");
const ES384_PUB: &str = include_str!("keys/es384.pub.pem");
const RSA: &str = include_str!("keys/rsa2048.pkcs8.pem");
const RSA_PKCS1: &str = include_str!("keys/rsa2048.pkcs1.pem");
const RSA_PUB: &str = include_str!("keys/rsa2048.pub.pem");

const CLIENT_ID: &str = "0123456789abcdef0123456789abcdef";
const KEY_ID: &str = "fedcba9876543210fedcba9876543210";

fn signer(key: &str, algorithm: Algorithm) -> AssertionSigner {
    let endpoints = Endpoints::talkdesk("acme", Region::Us).unwrap();
    AssertionSigner::new(
        ClientId::new(CLIENT_ID).unwrap(),
        KeyId::new(KEY_ID).unwrap(),
        PrivateKey::parse_with_algorithm(key, algorithm).unwrap(),
        endpoints.token_url(),
    )
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Verifies with jsonwebtoken and checks header and claims exactly.
fn verify(jwt: &str, public_pem: &str, algorithm: jsonwebtoken::Algorithm, now: u64) -> Value {
    let key = if public_pem.contains("BEGIN PUBLIC KEY")
        && matches!(algorithm, jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::ES384)
    {
        DecodingKey::from_ec_pem(public_pem.as_bytes()).unwrap()
    } else {
        DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap()
    };
    let mut validation = Validation::new(algorithm);
    validation.set_audience(&["https://acme.talkdeskid.com/oauth/token"]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    let data = jsonwebtoken::decode::<Value>(jwt, &key, &validation).unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
    let header = decode_part(jwt.split('.').next().unwrap());
    assert_eq!(header, json!({"alg": format!("{algorithm:?}"), "typ": "JWT", "kid": KEY_ID}));
    let claims = data.claims;
    let jti = claims["jti"].as_str().unwrap().to_owned();
    assert_eq!(
        claims,
        json!({
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "aud": "https://acme.talkdeskid.com/oauth/token",
            "jti": jti,
            "iat": now,
            "exp": now + 300,
        })
    );
    claims
}

#[test]
fn every_ring_algorithm_verifies_with_jsonwebtoken() {
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let cases = [
        (ES256, ES256_PUB, Algorithm::Es256, jsonwebtoken::Algorithm::ES256),
        (ES384, ES384_PUB, Algorithm::Es384, jsonwebtoken::Algorithm::ES384),
        (RSA, RSA_PUB, Algorithm::Ps256, jsonwebtoken::Algorithm::PS256),
        (RSA, RSA_PUB, Algorithm::Ps384, jsonwebtoken::Algorithm::PS384),
        (RSA_PKCS1, RSA_PUB, Algorithm::Ps512, jsonwebtoken::Algorithm::PS512),
    ];
    for (key, public, ours, theirs) in cases {
        let signer = signer(key, ours);
        let assertion = signer.sign(now, &OsRandom::new()).unwrap();
        verify(assertion.secret(), public, theirs, secs);
        // The public key the crate derives verifies too.
        verify(assertion.secret(), &signer.key().unwrap().public_key_pem(), theirs, secs);
    }
}

#[test]
fn ecdsa_signatures_are_raw_r_s() {
    let assertion = signer(ES256, Algorithm::Es256).sign(SystemTime::now(), &OsRandom::new()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(assertion.secret().rsplit('.').next().unwrap()).unwrap();
    assert_eq!(signature.len(), 64, "P-256 JOSE signatures are r‖s, 64 bytes; DER would start 0x30");
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn es512_verifies_with_aws_lc_rs() {
    use aws_lc_rs::signature::{ECDSA_P521_SHA512_FIXED, UnparsedPublicKey};
    let now = SystemTime::now();
    let signer = signer(include_str!("keys/es512.pkcs8.pem"), Algorithm::Es512);
    let assertion = signer.sign(now, &OsRandom::new()).unwrap();
    let jwt = assertion.secret();
    let (signing_input, signature) = jwt.rsplit_once('.').unwrap();
    let spki: String = include_str!("keys/es512.pub.pem").lines().filter(|l| !l.starts_with("-----")).collect();
    let spki = base64::engine::general_purpose::STANDARD.decode(spki).unwrap();
    let point = &spki[spki.len() - 133..];
    UnparsedPublicKey::new(&ECDSA_P521_SHA512_FIXED, point)
        .verify(signing_input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
        .unwrap();
    assert_eq!(decode_part(jwt.split('.').next().unwrap())["alg"], "ES512");
    let claims = decode_part(jwt.split('.').nth(1).unwrap());
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
}

#[test]
fn ten_thousand_assertions_carry_ten_thousand_jtis() {
    let signer = signer(ES256, Algorithm::Es256);
    let rng = OsRandom::new();
    let now = SystemTime::now();
    let jtis: HashSet<String> = (0..10_000)
        .map(|_| {
            let assertion = signer.sign(now, &rng).unwrap();
            let claims = decode_part(assertion.secret().split('.').nth(1).unwrap());
            assert_eq!(claims["jti"], assertion.jti());
            assertion.jti().to_owned()
        })
        .collect();
    assert_eq!(jtis.len(), 10_000);
}

#[test]
fn audience_and_lifetime_are_configurable() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let signer = signer(ES256, Algorithm::Es256)
        .with_audience("https://acme.talkdeskid.com")
        .unwrap()
        .with_lifetime(Duration::from_secs(60))
        .unwrap();
    let assertion = signer.sign(now, &OsRandom::new()).unwrap();
    let claims = decode_part(assertion.secret().split('.').nth(1).unwrap());
    assert_eq!(claims["aud"], "https://acme.talkdeskid.com");
    assert_eq!(claims["iat"], 1_800_000_000u64);
    assert_eq!(claims["exp"], 1_800_000_060u64);
    assert_eq!(assertion.expires_at(), now + Duration::from_secs(60));

    let err = signer.with_lifetime(Duration::from_secs(7200)).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { field: "assertion lifetime", .. }), "{err:?}");
}

#[test]
fn identifiers_are_json_escaped() {
    let endpoints = Endpoints::talkdesk("acme", Region::Us).unwrap();
    let signer = AssertionSigner::new(
        ClientId::new(r#"we"ird\id"#).unwrap(),
        KeyId::new(r#"k"id"#).unwrap(),
        PrivateKey::parse(ES256).unwrap(),
        endpoints.token_url(),
    );
    let assertion = signer.sign(SystemTime::now(), &OsRandom::new()).unwrap();
    let mut parts = assertion.secret().split('.');
    assert_eq!(decode_part(parts.next().unwrap())["kid"], r#"k"id"#);
    assert_eq!(decode_part(parts.next().unwrap())["iss"], r#"we"ird\id"#);
}

#[test]
fn clock_before_epoch_is_an_error() {
    let err = signer(ES256, Algorithm::Es256).sign(UNIX_EPOCH - Duration::from_secs(1), &OsRandom::new()).unwrap_err();
    assert!(matches!(err, Error::ClockBeforeEpoch));
}

#[test]
fn debug_shows_no_assertion() {
    let signer = signer(ES256, Algorithm::Es256);
    let assertion = signer.sign(SystemTime::now(), &OsRandom::new()).unwrap();
    let debug = format!("{assertion:?} {signer:?}");
    let signature = assertion.secret().rsplit('.').next().unwrap();
    assert!(!debug.contains(signature), "{debug}");
    assert!(!debug.contains(assertion.secret().split('.').nth(1).unwrap()), "{debug}");
    assert!(debug.contains(assertion.jti()), "the jti is not secret and helps debugging: {debug}");
}
