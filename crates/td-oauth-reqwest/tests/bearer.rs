//! The bearer wrapper against the testkit's protected resource: a token on every request, one new token
//! and one retry on a 401, never a loop; and a user's own `TokenSource`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::{SCHEMES, Scheme, client, server};
use td_oauth_reqwest::source::TokenSource;
use td_oauth_reqwest::{BearerClient, Error, Grant, Scopes, TokenResponse, async_trait};
use td_oauth_testkit::{ME_PATH, TOKEN_PATH};

fn me(api: &BearerClient, url: &str) -> reqwest::Request {
    api.http_client().get(url).build().unwrap()
}

#[tokio::test]
async fn reaches_the_protected_resource_and_recovers_once_from_a_401() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let (client, creds) = client(&server);
        let api = client.provider(Grant::client_credentials(Scopes::new(["users:read"]).unwrap())).bearer_client();

        let response = api.execute(me(&api, &server.me_url())).await.unwrap();
        assert_eq!(response.status(), 200, "{scheme:?}");
        let body = response.text().await.unwrap();
        assert!(body.contains(&format!("\"client_id\":\"{}\"", creds.client_id)), "{body}");
        assert_eq!(server.count_path(TOKEN_PATH), 1);

        // The API refuses the (still cached) token once: one new token, one retry, success.
        server.fail_next_api_calls(1);
        let response = api.execute(me(&api, &server.me_url())).await.unwrap();
        assert_eq!(response.status(), 200, "{scheme:?}");
        assert_eq!(server.count_path(TOKEN_PATH), 2, "a new token for the retry");
        assert_eq!(server.count_path(ME_PATH), 3);

        // Refused twice in a row: the second 401 is returned, not looped on.
        server.fail_next_api_calls(2);
        let response = api.execute(me(&api, &server.me_url())).await.unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(server.count_path(ME_PATH), 5);
        assert_eq!(server.count_path(TOKEN_PATH), 3);
    }
}

#[tokio::test]
async fn a_revoked_token_is_replaced() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    let api = client.provider(Grant::client_credentials(Scopes::none())).bearer_client();
    assert_eq!(api.execute(me(&api, &server.me_url())).await.unwrap().status(), 200);
    server.revoke_access_tokens();
    assert_eq!(api.execute(me(&api, &server.me_url())).await.unwrap().status(), 200);
    assert_eq!(server.count_path(TOKEN_PATH), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_requests_refused_at_once_cause_one_new_token() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    let api = client.provider(Grant::client_credentials(Scopes::none())).bearer_client();
    assert_eq!(api.execute(me(&api, &server.me_url())).await.unwrap().status(), 200);
    server.revoke_access_tokens();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let api = api.clone();
            let url = server.me_url();
            tokio::spawn(async move { api.execute(me(&api, &url)).await.unwrap().status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(server.count_path(TOKEN_PATH), 2, "one new token for twenty refusals");
}

/// A user's own token source: a token fetched elsewhere, counted.
struct Counting {
    token: Arc<TokenResponse>,
    calls: AtomicUsize,
    invalidated: AtomicUsize,
}

#[async_trait]
impl TokenSource for Counting {
    async fn token(&self) -> Result<Arc<TokenResponse>, Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::clone(&self.token))
    }

    fn invalidate(&self) {
        self.invalidated.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_custom_token_source_plugs_in() {
    let server = server(Scheme::Http);
    let (client, _) = client(&server);
    let token = Arc::new(client.client_credentials(Scopes::none()).await.unwrap());
    let source = Arc::new(Counting { token, calls: AtomicUsize::new(0), invalidated: AtomicUsize::new(0) });
    let api = BearerClient::new(client.http_client().clone(), source.clone());
    assert_eq!(api.execute(me(&api, &server.me_url())).await.unwrap().status(), 200);
    // A fixed token cannot be renewed: after one retry the 401 comes back.
    server.revoke_access_tokens();
    let started = Instant::now();
    assert_eq!(api.execute(me(&api, &server.me_url())).await.unwrap().status(), 401);
    assert!(started.elapsed().as_secs() < 5);
    assert_eq!(source.calls.load(Ordering::SeqCst), 3);
    assert_eq!(source.invalidated.load(Ordering::SeqCst), 1, "token_rejected defaults to invalidate");
}
