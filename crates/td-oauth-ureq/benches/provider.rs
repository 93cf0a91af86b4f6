//! The provider's warm hit, and a full token fetch against a bare POST with the same ureq agent, over
//! loopback to the testkit: with Basic authentication (the bare POST resends one prepared body), and with a
//! signed JWT (the bare POST signs a fresh assertion each time, as the server refuses a replayed `jti`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::io::Read as _;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use td_oauth_testkit::{Algorithm, TestServer};
use td_oauth_ureq::core::{ClientId, ClientSecret, Credentials, Endpoints, Grant, KeyId, PrivateKey, Scopes};
use td_oauth_ureq::{Client, Config, TokenProvider};

fn client(server: &TestServer) -> Client {
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let credentials =
        Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(creds.client_secret))
            .unwrap();
    Client::with_config(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials, Config::new()).unwrap()
}

fn jwt_client(server: &TestServer) -> Client {
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let credentials = Credentials::private_key_jwt(
        ClientId::new(&creds.client_id).unwrap(),
        KeyId::new(&creds.key_id).unwrap(),
        PrivateKey::parse(&creds.private_key).unwrap(),
    );
    Client::with_config(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials, Config::new()).unwrap()
}

/// POSTs `request` and reads the body as the client does; the answer must be a 200.
fn bare_post(client: &Client, request: http::Request<&[u8]>) -> Vec<u8> {
    let response = client.http_client().run(request).unwrap();
    assert_eq!(response.status(), 200);
    let mut bytes = Vec::with_capacity(1024);
    response.into_body().into_reader().take(64 * 1024 + 1).read_to_end(&mut bytes).unwrap();
    bytes
}

fn warm_hit(c: &mut Criterion) {
    let server = TestServer::start().unwrap();
    let provider = TokenProvider::client_credentials(client(&server), Scopes::none());
    provider.token().unwrap();
    c.bench_function("provider/warm_hit", |b| b.iter(|| black_box(provider.token().unwrap())));
}

fn fetch_vs_bare_post(c: &mut Criterion) {
    let server = TestServer::start().unwrap();
    let client = client(&server);
    let grant = Grant::client_credentials("users:read".parse().unwrap());

    // The same request the client sends, built once: the bare POST skips building, parsing and retry logic.
    let prepared = client.token_client().token_request(&grant, SystemTime::now()).unwrap();
    let (parts, body) = prepared.into_parts();
    let body = body.into_vec();

    let mut group = c.benchmark_group("fetch");
    group.bench_function("bare_post", |b| {
        b.iter(|| black_box(bare_post(&client, http::Request::from_parts(parts.clone(), body.as_slice()))))
    });
    group.bench_function("client_fetch", |b| b.iter(|| black_box(client.fetch(&grant).unwrap())));
    group.finish();

    let client = jwt_client(&server);
    let mut group = c.benchmark_group("fetch_jwt");
    group.bench_function("bare_post", |b| {
        b.iter(|| {
            let request = client.token_client().token_request(&grant, SystemTime::now()).unwrap();
            let (parts, body) = request.into_parts();
            black_box(bare_post(&client, http::Request::from_parts(parts, body.as_bytes())))
        })
    });
    group.bench_function("client_fetch", |b| b.iter(|| black_box(client.fetch(&grant).unwrap())));
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = warm_hit, fetch_vs_bare_post }
criterion_main!(benches);
