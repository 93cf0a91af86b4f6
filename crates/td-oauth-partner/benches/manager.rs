//! The partner-app `TokenManager` at 10,000 installations, each its own ES256 client, over loopback to the
//! testkit, with a counting global allocator:
//! - a warm `token()` of one installation again and again against the provider's own warm hit, and one
//!   cycling through every installation against the same 10,000 providers held by the caller and asked in
//!   the same order (each call then touches memory as cold as the manager's), all in the same run, and the
//!   allocations per warm call;
//! - heap bytes per installation held after install (event parsed and installed, no token yet) and after
//!   each installation got its token;
//! - a new provider into a full map of 10,000 (the least recently used evicted) against one into an
//!   empty map.
//!
//! Not a criterion bench: `cargo xtask bench` runs it and reads `manager-reqwest.json` from
//! `target/td-oauth-bench/` (or `$TD_OAUTH_BENCH_OUT`). Under `cargo test --benches` it runs with 100
//! installations as a smoke test and writes nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::System;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use td_oauth_partner::{InstallationCredentials, TokenManager, TokenManagerPolicy};
use td_oauth_reqwest::{
    Account, Client, ClientId, ClientSecret, Credentials, Endpoints, Grant, RetryPolicy, Scopes, TokenProvider,
};
use td_oauth_testkit::{Algorithm, AppEvent, TestServer, app_event};

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

fn live_bytes() -> isize {
    let stats = GLOBAL.stats();
    // stats_alloc counts a reallocation's growth in bytes_allocated and its shrinkage in bytes_deallocated.
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

/// The median over `rounds` of the time per call of `round` (which makes `calls` calls).
fn median_ns(rounds: usize, calls: usize, mut round: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            round();
            started.elapsed().as_nanos() as f64 / calls as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn manager(policy: TokenManagerPolicy) -> TokenManager {
    let config = td_oauth_reqwest::Config::default()
        .with_timeout(Duration::from_secs(30))
        .with_retry_policy(RetryPolicy::default().with_max_retries(0));
    TokenManager::with_policy(config, policy).unwrap()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: then only a smoke test.
    let benching = std::env::args().any(|arg| arg == "--bench");
    let n: usize = if benching { 10_000 } else { 100 };
    let rounds = if benching { 21 } else { 3 };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = TestServer::start().unwrap();
    let scopes: Scopes = "users:read".parse().unwrap();
    let accounts: Vec<Account> = (0..2 * n).map(|i| format!("acct-{i}").parse().unwrap()).collect();
    let events: Vec<Vec<u8>> = accounts
        .iter()
        .map(|account| {
            let creds = server.register_client(Algorithm::Es256).unwrap();
            app_event(AppEvent::Installed, account.as_str(), server.token_url(), &creds)
        })
        .collect();

    // Heap per installation: the events parsed and installed, as a partner app does on app.installed.
    let manager = manager(TokenManagerPolicy::default().with_max_providers(n).unwrap());
    let before = live_bytes();
    for event in &events[..n] {
        manager.install(InstallationCredentials::from_event(event).unwrap());
    }
    let per_installation = (live_bytes() - before) as f64 / n as f64;
    runtime.block_on(async {
        for account in &accounts[..n] {
            manager.token(account, &scopes).await.unwrap();
        }
    });
    let per_installation_with_token = (live_bytes() - before) as f64 / n as f64;

    // Warm token(): through every installation in turn, and one installation again and again.
    let warm_cycling = median_ns(rounds, n, || {
        runtime.block_on(async {
            for account in &accounts[..n] {
                black_box(manager.token(account, &scopes).await.unwrap());
            }
        })
    });
    let warm_one = median_ns(rounds, n, || {
        runtime.block_on(async {
            for _ in 0..n {
                black_box(manager.token(&accounts[n / 2], &scopes).await.unwrap());
            }
        })
    });
    // The same providers, held by the caller and asked in the same order: the memory each call touches
    // is as cold as the manager's, so this isolates what the manager adds.
    let held: Vec<TokenProvider> =
        accounts[..n].iter().map(|account| manager.provider(account, &scopes).unwrap()).collect();
    let providers_cycling = median_ns(rounds, n, || {
        runtime.block_on(async {
            for provider in &held {
                black_box(provider.token().await.unwrap());
            }
        })
    });
    drop(held);
    let region = Region::new(GLOBAL);
    runtime.block_on(async {
        for account in &accounts[..n] {
            black_box(manager.token(account, &scopes).await.unwrap());
        }
    });
    let change = region.change();
    let warm_allocations = (change.allocations + change.reallocations) as f64 / n as f64;

    // The provider's own warm hit, in the same run.
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let credentials =
        Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(&creds.client_secret))
            .unwrap();
    let client = Client::new(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials).unwrap();
    let provider = TokenProvider::new(client, Grant::client_credentials(scopes.clone()));
    runtime.block_on(provider.token()).unwrap();
    let provider_warm = median_ns(rounds, n, || {
        runtime.block_on(async {
            for _ in 0..n {
                black_box(provider.token().await.unwrap());
            }
        })
    });

    // A new provider (no fetch) into the full map: each evicts the least recently used. Against the same
    // into an empty map of a second manager.
    for event in &events[n..] {
        manager.install(InstallationCredentials::from_event(event).unwrap());
    }
    let empty = manager_with(&events[n..], n);
    let mut next = n;
    let into_full = median_ns(rounds, n / rounds, || {
        for _ in 0..n / rounds {
            black_box(manager.provider(&accounts[next], &scopes).unwrap());
            next += 1;
        }
    });
    assert_eq!(manager.provider_count(), n, "the map stayed full");
    let mut next = n;
    let into_empty = median_ns(rounds, n / rounds, || {
        for _ in 0..n / rounds {
            black_box(empty.provider(&accounts[next], &scopes).unwrap());
            next += 1;
        }
    });

    println!("manager/reqwest at {n} installations:");
    println!(
        "  heap per installation: {per_installation:.0} B after install, {per_installation_with_token:.0} B with a token"
    );
    println!(
        "  warm token(): {warm_cycling:.1} ns cycling, {warm_one:.1} ns one installation; provider warm hit \
         {provider_warm:.1} ns, {n} held providers in turn {providers_cycling:.1} ns; {warm_allocations} allocations \
         per call"
    );
    println!("  new provider: {into_full:.0} ns into a full map, {into_empty:.0} ns into an empty one");
    if benching {
        let dir = out_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let json = format!(
            "{{\"installations\": {n}, \"heap_per_installation\": {per_installation}, \
             \"heap_per_installation_with_token\": {per_installation_with_token}, \
             \"warm_cycling_ns\": {warm_cycling}, \"warm_one_ns\": {warm_one}, \"provider_warm_ns\": {provider_warm}, \
             \"providers_cycling_ns\": {providers_cycling}, \
             \"warm_allocations\": {warm_allocations}, \"new_provider_full_ns\": {into_full}, \
             \"new_provider_empty_ns\": {into_empty}}}\n"
        );
        std::fs::write(dir.join("manager-reqwest.json"), json).unwrap();
    }
}

/// A manager holding `events`' installations and no provider yet.
fn manager_with(events: &[Vec<u8>], max_providers: usize) -> TokenManager {
    let manager = manager(TokenManagerPolicy::default().with_max_providers(max_providers).unwrap());
    for event in events {
        manager.install(InstallationCredentials::from_event(event).unwrap());
    }
    manager
}
