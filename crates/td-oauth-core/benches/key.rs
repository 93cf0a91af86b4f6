//! Key parsing against ring's own parser on the same bytes, measured in the same run: `PrivateKey::from_der`
//! (the structure read with der/pkcs8/sec1/pkcs1 and the errors that need it, ring's parse, the public key
//! encoded once) ÷ ring's `EcdsaKeyPair::from_pkcs8` / `RsaKeyPair::from_pkcs8` alone; and, for context,
//! `PrivateKey::parse` of Talkdesk's one-line Base64 form of the same key.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use td_oauth_core::PrivateKey;

const ES256_DER: &[u8] = include_bytes!("../tests/keys/es256.pkcs8.der");
const RSA_PEM: &str = include_str!("../tests/keys/rsa2048.pkcs8.pem");

fn bench(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let es256_b64 = base64::engine::general_purpose::STANDARD.encode(ES256_DER);
    let mut group = c.benchmark_group("key_es256");
    group.bench_function("from_der", |b| b.iter(|| black_box(PrivateKey::from_der(black_box(ES256_DER)).unwrap())));
    group.bench_function("ring_from_pkcs8", |b| {
        b.iter(|| {
            let curve = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            black_box(EcdsaKeyPair::from_pkcs8(curve, black_box(ES256_DER), &rng).unwrap())
        })
    });
    group.bench_function("parse_base64", |b| b.iter(|| black_box(PrivateKey::parse(black_box(&es256_b64)).unwrap())));
    group.finish();

    let body: String = RSA_PEM.lines().filter(|l| !l.starts_with("-----")).collect();
    let rsa_der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    let mut group = c.benchmark_group("key_rsa2048");
    group.bench_function("from_der", |b| b.iter(|| black_box(PrivateKey::from_der(black_box(&rsa_der)).unwrap())));
    group.bench_function("ring_from_pkcs8", |b| {
        b.iter(|| black_box(RsaKeyPair::from_pkcs8(black_box(&rsa_der)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
