//! Benchmarks, for the async and the blocking transport: a provider's warm hit with a fleet cache (answered
//! in-process, no Redis round trip) and a cold `get_or_fetch` with the token in Redis (one round trip and an
//! AES-GCM open), each against the in-process warm hit of the same transport's provider without a fleet
//! cache. Needs `redis-server`; without it, only the baselines run and the fleet rows show as not measured.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use td_oauth_redis::{BlockingFleetCache, FleetCache, FleetKey, SealingKey};
use td_oauth_reqwest::{Client, ClientId, ClientSecret, Config, Credentials, Endpoints, Grant, TokenResponse};
use td_oauth_testkit::{Algorithm, RedisServer, TestServer};

const SCOPE: &str = "users:read";

fn credentials(server: &TestServer) -> Credentials {
    let creds = server.register_client(Algorithm::Es256).unwrap();
    Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(&creds.client_secret))
        .unwrap()
}

fn client(server: &TestServer, config: Config) -> Client {
    Client::with_config(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials(server), config).unwrap()
}

fn blocking_client(server: &TestServer, config: td_oauth_ureq::Config) -> td_oauth_ureq::Client {
    let endpoints = Endpoints::from_token_url(server.token_url()).unwrap();
    td_oauth_ureq::Client::with_config(&endpoints, credentials(server), config).unwrap()
}

/// The same three figures for td-oauth-ureq's providers and `BlockingFleetCache`.
fn blocking_fleet(c: &mut Criterion) {
    let server = TestServer::start().unwrap();
    let grant = Grant::client_credentials(SCOPE.parse().unwrap());
    let mut group = c.benchmark_group("fleet");

    let plain = blocking_client(&server, td_oauth_ureq::Config::new()).provider(grant.clone());
    plain.token().unwrap();
    group.bench_function("blocking_in_process_warm", |b| b.iter(|| black_box(plain.token().unwrap())));

    let redis = match RedisServer::start() {
        Ok(redis) => redis,
        Err(err) => {
            eprintln!("fleet bench: no Redis ({err}); the blocking fleet-cache rows are not measured");
            group.finish();
            return;
        }
    };
    let cache = BlockingFleetCache::new(&redis.url(), SealingKey::new([9; 32])).unwrap();
    let shared = blocking_client(&server, td_oauth_ureq::Config::new().with_shared_cache(Arc::new(cache.clone())));
    let provider = shared.provider(grant.clone());
    provider.token().unwrap();
    group.bench_function("blocking_fleet_warm", |b| b.iter(|| black_box(provider.token().unwrap())));

    // The token the provider above shared is in Redis: every call is one GET and one open.
    let token_client = shared.token_client();
    let key = FleetKey::new(token_client.token_url().as_str(), token_client.client_id(), &SCOPE.parse().unwrap());
    group.bench_function("blocking_fleet_cold", |b| {
        b.iter(|| {
            let token =
                cache.get_or_fetch(&key, || Err::<TokenResponse, &str>("the token should be in Redis")).unwrap();
            black_box(token)
        })
    });
    group.finish();
}

fn fleet(c: &mut Criterion) {
    let server = TestServer::start().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let grant = Grant::client_credentials(SCOPE.parse().unwrap());
    let mut group = c.benchmark_group("fleet");

    let plain = client(&server, Config::default()).provider(grant.clone());
    runtime.block_on(plain.token()).unwrap();
    group.bench_function("in_process_warm", |b| {
        b.to_async(&runtime).iter(|| async { black_box(plain.token().await.unwrap()) })
    });

    let redis = match RedisServer::start() {
        Ok(redis) => redis,
        Err(err) => {
            eprintln!("fleet bench: no Redis ({err}); the fleet-cache rows are not measured");
            group.finish();
            return;
        }
    };
    let cache = FleetCache::new(&redis.url(), SealingKey::new([9; 32])).unwrap();
    let shared = client(&server, Config::default().with_shared_cache(Arc::new(cache.clone())));
    let provider = shared.provider(grant.clone());
    runtime.block_on(provider.token()).unwrap();
    group.bench_function("fleet_warm", |b| {
        b.to_async(&runtime).iter(|| async { black_box(provider.token().await.unwrap()) })
    });

    // The token the provider above shared is in Redis: every call is one GET and one open.
    let token_client = shared.token_client();
    let key = FleetKey::new(token_client.token_url().as_str(), token_client.client_id(), &SCOPE.parse().unwrap());
    group.bench_function("fleet_cold", |b| {
        b.to_async(&runtime).iter(|| async {
            let token = cache
                .get_or_fetch(&key, || async { Err::<TokenResponse, &str>("the token should be in Redis") })
                .await
                .unwrap();
            black_box(token)
        })
    });
    group.finish();
}

criterion_group!(benches, fleet, blocking_fleet);
criterion_main!(benches);
