//! An ES256 client assertion signed inside SoftHSM2 (through td-oauth-core's signer seam and a
//! `Pkcs11Signer`) against the same assertion signed with the same key in memory, in the same run: context
//! for what a key that never leaves its token costs per assertion.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` when its module is loaded, so the bench runs itself again over a token
//! store of its own; without SoftHSM2 it says why and measures nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::Criterion;
use td_oauth_core::assertion::AssertionSigner;
use td_oauth_core::random::OsRandom;
use td_oauth_core::signer::ExternalSigner;
use td_oauth_core::{ClientId, Endpoints, KeyId, PrivateKey};
use td_oauth_pkcs11::{Pin, Pkcs11Options, Pkcs11Signer, Pkcs11Uri};
use td_oauth_testkit::{Algorithm, SoftHsm, TestServer};

const PIN: &str = "bench-pin-1234";

fn bench(c: &mut Criterion, hsm: &SoftHsm) {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    hsm.init_token("bench", PIN).unwrap();
    hsm.import_pkcs8_pem("bench", PIN, "app-key", &[1], &client.private_key_pem).unwrap();

    let endpoints = Endpoints::from_token_url(server.token_url()).unwrap();
    let client_id = ClientId::new(&client.client_id).unwrap();
    let key_id = KeyId::new(&client.key_id).unwrap();
    let memory = AssertionSigner::new(
        client_id.clone(),
        key_id.clone(),
        PrivateKey::parse(&client.private_key).unwrap(),
        endpoints.token_url(),
    );
    let pkcs11 = Pkcs11Signer::open(
        hsm.module_path(),
        &Pkcs11Uri::parse("pkcs11:token=bench;object=app-key").unwrap(),
        Some(Pin::new(PIN).unwrap()),
        key_id,
        Pkcs11Options::default(),
    )
    .unwrap();
    let token = AssertionSigner::external(client_id, ExternalSigner::Blocking(Arc::new(pkcs11)), endpoints.token_url())
        .unwrap();

    let rng = OsRandom::new();
    let mut group = c.benchmark_group("pkcs11_es256");
    group.bench_function("softhsm_assertion", |b| b.iter(|| black_box(token.sign(SystemTime::now(), &rng).unwrap())));
    group.bench_function("memory_assertion", |b| b.iter(|| black_box(memory.sign(SystemTime::now(), &rng).unwrap())));
    group.finish();
}

fn main() {
    if let Some(hsm) = SoftHsm::inherited() {
        let mut criterion = Criterion::default().configure_from_args();
        bench(&mut criterion, &hsm);
        criterion.final_summary();
        return;
    }
    let hsm = match SoftHsm::create() {
        Ok(hsm) => hsm,
        Err(why) => {
            eprintln!("td-oauth-pkcs11 bench: not measured: {why}");
            return;
        }
    };
    let exe = std::env::current_exe().unwrap();
    let status = hsm.child(Path::new(&exe)).args(std::env::args_os().skip(1)).status().unwrap();
    std::process::exit(status.code().unwrap_or(1));
}
