//! Redirects are never followed: a token endpoint that answers 301/302/303/307/308 towards another server
//! (another port: someone else's listener) gets an error, and with td-oauth's own HTTP client that other
//! server sees no request at all. A caller-supplied `reqwest::Client` that follows redirects cannot be
//! stopped per request (reqwest has no such switch): its redirected answer is still refused, which is why
//! the docs require such clients to come from `Config::http_client_builder()` or `Policy::none()`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use td_oauth_reqwest::{Client, ClientId, Config, Credentials, Endpoints, Error, KeyId, PrivateKey, Scopes};
use td_oauth_testkit::{Algorithm, Fault, TestServer};

fn client(server: &TestServer, config: Config) -> Client {
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let credentials = Credentials::private_key_jwt(
        ClientId::new(&creds.client_id).unwrap(),
        KeyId::new(&creds.key_id).unwrap(),
        PrivateKey::parse(&creds.private_key).unwrap(),
    );
    Client::with_config(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials, config).unwrap()
}

#[tokio::test]
async fn redirects_to_another_port_are_refused_and_never_reach_it() {
    let server = TestServer::start().unwrap();
    let elsewhere = TestServer::start().unwrap();
    let client = client(&server, Config::new());
    for status in [301, 302, 303, 307, 308] {
        server.inject(Fault::body(status, "text/plain", "moved").with_header("location", elsewhere.token_url()));
        let before = server.request_count();
        let err = client.client_credentials(Scopes::none()).await.unwrap_err();
        assert!(matches!(err, Error::Redirected { .. }), "{status}: {err:?}");
        assert_eq!(server.request_count(), before + 1, "{status}: not retried");
        assert_eq!(elsewhere.request_count(), 0, "{status}: the redirect target was contacted");
    }
}

#[tokio::test]
async fn a_following_caller_client_still_gets_no_token_from_elsewhere() {
    let server = TestServer::start().unwrap();
    let elsewhere = TestServer::start().unwrap();
    let following = td_oauth_reqwest::http_client_builder(&Config::new())
        .unwrap()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap();
    let client = client(&server, Config::new().with_built_client(following));
    server.inject(Fault::body(307, "text/plain", "moved").with_header("location", elsewhere.token_url()));
    let err = client.client_credentials(Scopes::none()).await.unwrap_err();
    assert!(matches!(err, Error::Redirected { .. }), "{err:?}");
}
