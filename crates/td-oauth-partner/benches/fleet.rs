//! The fleet's token manager (`FleetTokenManager` over a `MemoryStore`) at 10,000 installations, each its
//! own ES256 client, over loopback to the testkit, with a counting global allocator, against today's
//! in-process `TokenManager` in the same run:
//! - a warm `token()` of one installation again and again, and one cycling through every installation, on a
//!   replica that read every installation from the store, ÷ the same on an in-process manager holding the
//!   same installations (the warm path makes no store round trip: the ratio is what the store's gate adds);
//! - a replica's first token for an installation it never saw (one store read, one token fetch) beside a
//!   plain fetch: a new provider over the same credentials getting its first token, on a shared HTTP client;
//! - heap bytes per installation a replica holds after reading every record (`preload`), and with a token.
//!
//! Not a criterion bench: `cargo xtask bench` runs it and reads `fleet-reqwest.json` from
//! `target/td-oauth-bench/` (or `$TD_OAUTH_BENCH_OUT`). Under `cargo test --benches` it runs with 100
//! installations as a smoke test and writes nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::System;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use td_oauth_core::crypto::SealingKey;
use td_oauth_partner::record::SealingKeys;
use td_oauth_partner::store::{InstallationStore, MemoryStore};
use td_oauth_partner::{Event, FleetTokenManager, InstallationCredentials, TokenManager, TokenManagerPolicy};
use td_oauth_reqwest::api::GatewayAllowList;
use td_oauth_reqwest::{Account, Client, Config, RetryPolicy, Scopes, TokenProvider};
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

fn config() -> Config {
    Config::default()
        .with_timeout(Duration::from_secs(30))
        .with_retry_policy(RetryPolicy::default().with_max_retries(0))
}

fn main() {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let n: usize = if benching { 10_000 } else { 100 };
    let rounds = if benching { 21 } else { 3 };
    // First tokens: this many unseen installations per round (each is first only once).
    let first_per_round = if benching { 20 } else { 3 };
    let unseen = rounds * first_per_round;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = TestServer::start().unwrap();
    let scopes: Scopes = "users:read".parse().unwrap();
    let total = n + 2 * unseen;
    let accounts: Vec<Account> = (0..total).map(|i| format!("acct-{i}").parse().unwrap()).collect();
    let events: Vec<Vec<u8>> = accounts
        .iter()
        .map(|account| {
            let creds = server.register_client(Algorithm::Es256).unwrap();
            app_event(AppEvent::Installed, account.as_str(), server.token_url(), &creds)
        })
        .collect();
    let policy = TokenManagerPolicy::default().with_max_providers(total).unwrap();
    let keys = SealingKeys::new(SealingKey::new([0x42; 32]));
    let store: Arc<dyn InstallationStore> = Arc::new(MemoryStore::new());
    let allow = GatewayAllowList::default();

    // The fleet's installations, written by one replica as AppConnect's events arrive.
    runtime.block_on(async {
        let writer =
            FleetTokenManager::with_policy(config(), policy.clone(), store.clone(), keys.clone()).await.unwrap();
        for event in &events[..n + unseen] {
            writer.apply(Event::parse(event, &allow).unwrap()).await.unwrap();
        }
    });

    // Another replica reads every record: the heap it holds per installation.
    let replica = runtime
        .block_on(FleetTokenManager::with_policy(config(), policy.clone(), store.clone(), keys.clone()))
        .unwrap();
    let before = live_bytes();
    runtime.block_on(replica.preload()).unwrap();
    let per_installation = (live_bytes() - before) as f64 / (n + unseen) as f64;
    runtime.block_on(async {
        for account in &accounts[..n] {
            replica.token(account, &scopes).await.unwrap();
        }
    });
    let per_installation_with_token = (live_bytes() - before) as f64 / (n + unseen) as f64;
    drop(replica);

    // Warm tokens on a replica that read each installation on first use, against the in-process manager.
    let fleet = runtime
        .block_on(FleetTokenManager::with_policy(config(), policy.clone(), store.clone(), keys.clone()))
        .unwrap();
    let in_process = TokenManager::with_policy(config(), policy.clone()).unwrap();
    for event in &events[..n] {
        in_process.install(InstallationCredentials::from_event(event).unwrap());
    }
    runtime.block_on(async {
        for account in &accounts[..n] {
            fleet.token(account, &scopes).await.unwrap();
            in_process.token(account, &scopes).await.unwrap();
        }
    });
    let mut fleet_one = Vec::new();
    let mut in_process_one = Vec::new();
    let mut fleet_cycling = Vec::new();
    let mut in_process_cycling = Vec::new();
    // Interleaved, so that both see the same machine.
    for _ in 0..3 {
        fleet_one.push(median_ns(rounds, n, || {
            runtime.block_on(async {
                for _ in 0..n {
                    black_box(fleet.token(&accounts[n / 2], &scopes).await.unwrap());
                }
            })
        }));
        in_process_one.push(median_ns(rounds, n, || {
            runtime.block_on(async {
                for _ in 0..n {
                    black_box(in_process.token(&accounts[n / 2], &scopes).await.unwrap());
                }
            })
        }));
        fleet_cycling.push(median_ns(rounds, n, || {
            runtime.block_on(async {
                for account in &accounts[..n] {
                    black_box(fleet.token(account, &scopes).await.unwrap());
                }
            })
        }));
        in_process_cycling.push(median_ns(rounds, n, || {
            runtime.block_on(async {
                for account in &accounts[..n] {
                    black_box(in_process.token(account, &scopes).await.unwrap());
                }
            })
        }));
    }
    let min = |samples: &[f64]| samples.iter().copied().fold(f64::INFINITY, f64::min);
    let (fleet_one, in_process_one) = (min(&fleet_one), min(&in_process_one));
    let (fleet_cycling, in_process_cycling) = (min(&fleet_cycling), min(&in_process_cycling));

    // First tokens: the fleet replica's for installations it never saw (store read + fetch), and plain
    // fetches by new providers over credentials of the same kind, on one shared HTTP client.
    let mut next = n;
    let first_token = median_ns(rounds, first_per_round, || {
        runtime.block_on(async {
            for _ in 0..first_per_round {
                black_box(fleet.token(&accounts[next], &scopes).await.unwrap());
                next += 1;
            }
        })
    });
    let (http, _) = td_oauth_core::transport::http_client(&config()).unwrap();
    let shared = config().with_built_client(http);
    let plain: Vec<InstallationCredentials> =
        events[n + unseen..].iter().map(|event| InstallationCredentials::from_event(event).unwrap()).collect();
    let mut next = 0;
    let plain_fetch = median_ns(rounds, first_per_round, || {
        runtime.block_on(async {
            for _ in 0..first_per_round {
                let credentials = &plain[next];
                let client =
                    Client::with_config(credentials.endpoints(), credentials.credentials(), shared.clone()).unwrap();
                let provider = TokenProvider::client_credentials(client, scopes.clone());
                black_box(provider.token().await.unwrap());
                next += 1;
            }
        })
    });

    println!("fleet/reqwest at {n} installations (MemoryStore):");
    println!(
        "  heap per installation held: {per_installation:.0} B after reading its record, \
         {per_installation_with_token:.0} B with a token"
    );
    println!(
        "  warm token(), one installation: {fleet_one:.1} ns fleet, {in_process_one:.1} ns in-process (÷ {:.2})",
        fleet_one / in_process_one
    );
    println!(
        "  warm token(), cycling: {fleet_cycling:.1} ns fleet, {in_process_cycling:.1} ns in-process (÷ {:.2})",
        fleet_cycling / in_process_cycling
    );
    println!(
        "  first token of an unseen installation: {:.0} µs (store read + fetch), plain fetch {:.0} µs (÷ {:.2})",
        first_token / 1000.0,
        plain_fetch / 1000.0,
        first_token / plain_fetch
    );
    if benching {
        let dir = out_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let json = format!(
            "{{\"installations\": {n}, \"heap_per_installation\": {per_installation}, \
             \"heap_per_installation_with_token\": {per_installation_with_token}, \
             \"warm_one_ns\": {fleet_one}, \"in_process_warm_one_ns\": {in_process_one}, \
             \"warm_cycling_ns\": {fleet_cycling}, \"in_process_warm_cycling_ns\": {in_process_cycling}, \
             \"first_token_ns\": {first_token}, \"plain_fetch_ns\": {plain_fetch}}}\n"
        );
        std::fs::write(dir.join("fleet-reqwest.json"), json).unwrap();
    }
}
