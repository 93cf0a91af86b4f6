//! A page of a Talkdesk API list through [`ApiClient`] against a bare GET of the same page with the same
//! reqwest client and the same token, over loopback to the testkit: what the API client adds to a request
//! (the token, the 401 rule, the body cap, the paginator reading the page), and the whole three-page list.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::pin::pin;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::StreamExt as _;
use td_oauth_reqwest::api::{ApiGateway, Paginator};
use td_oauth_reqwest::{ApiClient, Client, ClientId, ClientSecret, Credentials, Endpoints, Grant};
use td_oauth_testkit::{Algorithm, TestServer};

/// The page both sides read: the first 50 of the testkit's 120 users.
const PAGE: &str = "/users?page=1&per_page=50";

fn page(c: &mut Criterion) {
    let server = TestServer::start().unwrap();
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let credentials =
        Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(&creds.client_secret))
            .unwrap();
    let client = Client::new(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let provider = client.provider(Grant::client_credentials("users:read".parse().unwrap()));
    let api = ApiClient::new(provider.clone(), ApiGateway::from_url(server.base_url()).unwrap());
    let url = format!("{}{PAGE}", server.base_url());
    let token = runtime.block_on(provider.token()).unwrap();
    let bearer = format!("Bearer {}", token.access_token().secret());

    let mut group = c.benchmark_group("api_page_async");
    group.bench_function("bare_get", |b| {
        b.to_async(&runtime).iter(|| async {
            let response = client.http_client().get(&url).header("authorization", &bearer).send().await.unwrap();
            assert_eq!(response.status(), 200);
            black_box(response.bytes().await.unwrap())
        })
    });
    group.bench_function("client_page", |b| {
        b.to_async(&runtime).iter(|| async {
            let paginator = Paginator::new(api.gateway().clone(), PAGE).unwrap().with_max_pages(1);
            black_box(pin!(api.items(paginator)).next().await.unwrap().unwrap())
        })
    });
    group.bench_function("paginate_3_pages", |b| {
        b.to_async(&runtime).iter(|| async { black_box(api.paginate("/users").unwrap().count().await) })
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = config(); targets = page }
criterion_main!(benches);
