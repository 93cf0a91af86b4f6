//! Assertion building against its baselines, measured in the same run: a bare ring signature of a message
//! of the same length (the floor), and `jsonwebtoken::encode` of the same claims with the same key.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use td_oauth_core::assertion::AssertionSigner;
use td_oauth_core::random::OsRandom;
use td_oauth_core::{Algorithm, ClientId, Endpoints, KeyId, PrivateKey, Region};

const ES256_B64: &str = include_str!("../tests/keys/es256.pkcs8.b64");
const ES256_PEM: &str = include_str!("../tests/keys/es256.pkcs8.pem");
const RSA_PEM: &str = include_str!("../tests/keys/rsa2048.pkcs8.pem");

fn der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).unwrap()
}

fn signer(key: &str, algorithm: Algorithm) -> AssertionSigner {
    let endpoints = Endpoints::talkdesk("acme", Region::Us).unwrap();
    AssertionSigner::new(
        ClientId::new("0123456789abcdef0123456789abcdef").unwrap(),
        KeyId::new("fedcba9876543210fedcba9876543210").unwrap(),
        PrivateKey::parse_with_algorithm(key, algorithm).unwrap(),
        endpoints.token_url(),
    )
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: String,
    iat: u64,
    exp: u64,
}

fn jsonwebtoken_encode(key: &jsonwebtoken::EncodingKey, algorithm: jsonwebtoken::Algorithm) -> String {
    let mut header = jsonwebtoken::Header::new(algorithm);
    header.kid = Some("fedcba9876543210fedcba9876543210".into());
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let mut jti = [0u8; 16];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut jti).unwrap();
    let claims = Claims {
        iss: "0123456789abcdef0123456789abcdef",
        sub: "0123456789abcdef0123456789abcdef",
        aud: "https://acme.talkdeskid.com/oauth/token",
        jti: jti.iter().map(|b| format!("{b:02x}")).collect(),
        iat: now,
        exp: now + 300,
    };
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn bench(c: &mut Criterion) {
    let rng = OsRandom::new();
    let ring_rng = SystemRandom::new();

    let es256 = signer(ES256_B64, Algorithm::Es256);
    let signing_input_len = {
        let jwt = es256.sign(SystemTime::now(), &rng).unwrap();
        jwt.secret().rfind('.').unwrap()
    };
    let message = vec![b'a'; signing_input_len];
    let ring_ec =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der(ES256_PEM), &ring_rng).unwrap();
    let jwt_ec = jsonwebtoken::EncodingKey::from_ec_pem(ES256_PEM.as_bytes()).unwrap();

    let mut group = c.benchmark_group("es256");
    group.bench_function("assertion", |b| b.iter(|| black_box(es256.sign(SystemTime::now(), &rng).unwrap())));
    group.bench_function("ring_sign", |b| b.iter(|| black_box(ring_ec.sign(&ring_rng, black_box(&message)).unwrap())));
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| black_box(jsonwebtoken_encode(&jwt_ec, jsonwebtoken::Algorithm::ES256)))
    });
    group.finish();

    let ps256 = signer(RSA_PEM, Algorithm::Ps256);
    let ring_rsa = RsaKeyPair::from_pkcs8(&der(RSA_PEM)).unwrap();
    let jwt_rsa = jsonwebtoken::EncodingKey::from_rsa_pem(RSA_PEM.as_bytes()).unwrap();
    let mut out = vec![0u8; ring_rsa.public().modulus_len()];
    let mut group = c.benchmark_group("ps256");
    group.sample_size(30);
    group.bench_function("assertion", |b| b.iter(|| black_box(ps256.sign(SystemTime::now(), &rng).unwrap())));
    group.bench_function("ring_sign", |b| {
        b.iter(|| ring_rsa.sign(&signature::RSA_PSS_SHA256, &ring_rng, black_box(&message), &mut out).unwrap())
    });
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| black_box(jsonwebtoken_encode(&jwt_rsa, jsonwebtoken::Algorithm::PS256)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
