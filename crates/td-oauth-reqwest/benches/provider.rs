//! Benchmarks: a warm `TokenProvider` hit (async and the synchronous fast path), and a full token fetch
//! over loopback against a bare POST of the same prepared request with the same HTTP client.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use td_oauth_reqwest::{Client, ClientId, ClientSecret, Credentials, Endpoints, Grant, Scopes};
use td_oauth_testkit::{Algorithm, TestServer};

fn setup() -> (TestServer, Client) {
    let server = TestServer::start().unwrap();
    let creds = server.register_client(Algorithm::Es256).unwrap();
    // Basic authentication, so the bare POST can send the very same bytes every time and still get a 200.
    let credentials =
        Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(&creds.client_secret))
            .unwrap();
    let client = Client::new(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials).unwrap();
    (server, client)
}

fn warm_hit(c: &mut Criterion) {
    let (_server, client) = setup();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let provider = client.provider(Grant::client_credentials("users:read".parse().unwrap()));
    runtime.block_on(provider.token()).unwrap();

    let mut group = c.benchmark_group("warm_hit");
    group.bench_function("token().await", |b| {
        b.to_async(&runtime).iter(|| async { black_box(provider.token().await.unwrap()) })
    });
    group.bench_function("try_token_now()", |b| b.iter(|| black_box(provider.try_token_now().unwrap())));
    group.finish();
}

fn fetch_vs_bare_post(c: &mut Criterion) {
    let (_server, client) = setup();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let grant = Grant::client_credentials(Scopes::new(["users:read"]).unwrap());
    let request = client.token_client().token_request(&grant, std::time::SystemTime::now()).unwrap();
    let (parts, body) = request.into_parts();
    let url = parts.uri.to_string();
    let body = body.as_bytes().to_vec();

    let mut group = c.benchmark_group("loopback_fetch");
    group.bench_function("bare POST", |b| {
        b.to_async(&runtime).iter(|| async {
            let response =
                client.http_client().post(&url).headers(parts.headers.clone()).body(body.clone()).send().await.unwrap();
            assert_eq!(response.status(), 200);
            black_box(response.bytes().await.unwrap())
        })
    });
    group.bench_function("Client::fetch", |b| {
        b.to_async(&runtime).iter(|| async { black_box(client.fetch(&grant).await.unwrap()) })
    });
    group.finish();
}

criterion_group!(benches, warm_hit, fetch_vs_bare_post);
criterion_main!(benches);
