//! Heap use of a warm `TokenProvider::token()`, counted by an instrumented global allocator (the goal is no
//! allocation at all), over loopback to the testkit.
//!
//! Not a criterion bench: `cargo xtask bench` runs it and reads `memory-ureq.json` from
//! `target/td-oauth-bench/` (or `$TD_OAUTH_BENCH_OUT`). Under `cargo test --benches` it runs a few
//! iterations as a smoke test and writes nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::System;
use std::hint::black_box;
use std::path::PathBuf;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use td_oauth_testkit::{Algorithm, TestServer};
use td_oauth_ureq::core::{ClientId, ClientSecret, Credentials, Endpoints, Grant, Scopes};
use td_oauth_ureq::{Client, TokenProvider};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

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
    let hits: u32 = if benching { 100_000 } else { 10 };

    let server = TestServer::start().unwrap();
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let credentials =
        Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(creds.client_secret))
            .unwrap();
    let client = Client::new(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials).unwrap();
    let provider = TokenProvider::new(client, Grant::client_credentials(Scopes::new(["users:read"]).unwrap()));
    provider.token().unwrap();
    black_box(provider.token().unwrap());

    // Counts every thread's allocations; the server's threads are idle while the cache is warm.
    let region = Region::new(GLOBAL);
    for _ in 0..hits {
        black_box(provider.token().unwrap());
    }
    let stats = region.change();
    let allocations = (stats.allocations + stats.reallocations) as f64 / f64::from(hits);
    let bytes = stats.bytes_allocated as f64 / f64::from(hits);
    println!("memory/ureq warm hit: {allocations} allocations, {bytes} bytes per hit ({hits} hits)");
    if benching {
        let dir = out_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let json =
            format!("{{\"warm_hit\": {{\"allocations\": {allocations}, \"bytes\": {bytes}, \"hits\": {hits}}}}}\n");
        std::fs::write(dir.join("memory-ureq.json"), json).unwrap();
    }
}
