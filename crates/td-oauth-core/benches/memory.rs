//! Heap use per operation, counted by an instrumented global allocator: allocations and bytes per ES256 and
//! PS256 client assertion (with a bare ring signature of the same message as the floor), and per parse of a
//! token response.
//!
//! Not a criterion bench: `cargo xtask bench` runs it and reads `memory-core.json` from
//! `target/td-oauth-bench/` (or `$TD_OAUTH_BENCH_OUT`). Under `cargo test --benches` it runs a few
//! iterations as a smoke test and writes nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::System;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use td_oauth_core::TokenResponse;
use td_oauth_core::assertion::AssertionSigner;
use td_oauth_core::random::OsRandom;
use td_oauth_core::{Algorithm, ClientId, Endpoints, KeyId, PrivateKey, Region as TdRegion};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ES256_B64: &str = include_str!("../tests/keys/es256.pkcs8.b64");
const ES256_PEM: &str = include_str!("../tests/keys/es256.pkcs8.pem");
const RSA_PEM: &str = include_str!("../tests/keys/rsa2048.pkcs8.pem");

/// Allocations and bytes allocated per call of `op`, averaged over `n` calls (after one warm-up call).
fn per_call<T>(n: u32, mut op: impl FnMut() -> T) -> (f64, f64) {
    black_box(op());
    let region = Region::new(GLOBAL);
    for _ in 0..n {
        black_box(op());
    }
    let stats = region.change();
    let allocations = (stats.allocations + stats.reallocations) as f64 / f64::from(n);
    let bytes = (stats.bytes_allocated + stats.bytes_reallocated.max(0) as usize) as f64 / f64::from(n);
    (allocations, bytes)
}

fn der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body.trim()).unwrap()
}

fn signer(key: &str, algorithm: Algorithm) -> AssertionSigner {
    let endpoints = Endpoints::talkdesk("acme", TdRegion::Us).unwrap();
    AssertionSigner::new(
        ClientId::new("0123456789abcdef0123456789abcdef").unwrap(),
        KeyId::new("fedcba9876543210fedcba9876543210").unwrap(),
        PrivateKey::parse_with_algorithm(key, algorithm).unwrap(),
        endpoints.token_url(),
    )
}

/// A token response with a JWT access token of about 1 KB, as in `benches/response.rs`.
fn token_body() -> Vec<u8> {
    let token = format!("eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}", "e".repeat(880), "s".repeat(86));
    format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":600,"scope":"users:read users:write"}}"#)
        .into_bytes()
}

fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TD_OAUTH_BENCH_OUT") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<this binary>
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("td-oauth-bench")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only a smoke test.
    let benching = std::env::args().any(|arg| arg == "--bench");
    let n = if benching { 200 } else { 2 };

    let rng = OsRandom::new();
    let ring_rng = SystemRandom::new();
    let es256 = signer(ES256_B64, Algorithm::Es256);
    let ps256 = signer(RSA_PEM, Algorithm::Ps256);
    let message = vec![b'a'; es256.sign(SystemTime::now(), &rng).unwrap().secret().rfind('.').unwrap()];
    let ring_ec =
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &der(ES256_PEM), &ring_rng).unwrap();
    let ring_rsa = RsaKeyPair::from_pkcs8(&der(RSA_PEM)).unwrap();
    let response = http::Response::builder().status(200).body(token_body()).unwrap();
    let now = Instant::now();
    let mut out = vec![0u8; ring_rsa.public().modulus_len()];

    let rows = [
        ("es256_assertion", per_call(n, || es256.sign(SystemTime::now(), &rng).unwrap())),
        ("es256_ring_sign", per_call(n, || ring_ec.sign(&ring_rng, &message).unwrap())),
        ("ps256_assertion", per_call(n / 4 + 1, || ps256.sign(SystemTime::now(), &rng).unwrap())),
        (
            "ps256_ring_sign",
            per_call(n / 4 + 1, || ring_rsa.sign(&signature::RSA_PSS_SHA256, &ring_rng, &message, &mut out).unwrap()),
        ),
        ("response_from_http", per_call(n, || TokenResponse::from_http(&response, now).unwrap())),
    ];

    let mut json = String::from("{");
    for (index, (name, (allocations, bytes))) in rows.iter().enumerate() {
        println!("memory/{name}: {allocations:.1} allocations, {bytes:.0} bytes per call");
        let comma = if index == 0 { "" } else { "," };
        json.push_str(&format!("{comma}\n  \"{name}\": {{\"allocations\": {allocations}, \"bytes\": {bytes}}}"));
    }
    json.push_str("\n}\n");
    if benching {
        let dir = out_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("memory-core.json"), json).unwrap();
    }
}
