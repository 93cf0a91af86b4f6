//! Every grant with both client authentications gets a token, over HTTP and HTTPS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{SCHEMES, Scheme, basic, client_with, config, jwt, server};
use std::time::Duration;
use td_oauth_reqwest::core::AuthorizeRequest;
use td_oauth_reqwest::core::random::OsRandom;

use td_oauth_reqwest::{Client, ClientId, Config, Credentials, Endpoints, Error, Grant, RetryPolicy, Scopes};
use td_oauth_testkit::{Algorithm, AuthMethod, ClientCredentials, TestServer};

fn both_authentications(creds: &ClientCredentials) -> [(AuthMethod, Credentials); 2] {
    [(AuthMethod::ClientAssertion, jwt(creds)), (AuthMethod::Basic, basic(creds))]
}

#[tokio::test]
async fn client_credentials_with_jwt_and_basic() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let creds = server.register_client(Algorithm::Es256).unwrap();
        for (method, credentials) in both_authentications(&creds) {
            let client = client_with(&server, credentials, config(&server));
            let token = client.client_credentials("users:read contacts:read".parse().unwrap()).await.unwrap();
            assert_eq!(token.scope(), Some("users:read contacts:read"), "{scheme:?} {method:?}");
            assert_eq!(token.expires_in().as_secs(), 600);
            let seen = server.last_request().unwrap();
            assert_eq!(seen.auth_method, Some(method));
            assert_eq!(seen.status, Some(200));
        }
    }
}

#[tokio::test]
async fn every_algorithm_ring_supports_signs_accepted_assertions() {
    let server = server(Scheme::Http);
    for algorithm in [Algorithm::Es256, Algorithm::Es384, Algorithm::Ps256, Algorithm::Ps384, Algorithm::Ps512] {
        let creds = server.register_client(algorithm).unwrap();
        let client = client_with(&server, jwt(&creds), config(&server));
        client.client_credentials(Scopes::none()).await.unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
    }
    assert_eq!(server.count(|r| r.status == Some(200)), 5);
}

/// Drives the authorize endpoint with the client's own HTTP client (which never follows redirects) and
/// returns the grant for the code in the `Location` header.
async fn authorize(server: &TestServer, client: &Client, creds: &ClientCredentials, pkce: bool) -> Grant {
    let endpoints =
        Endpoints::from_token_url(server.token_url()).unwrap().with_authorize_url(&server.authorize_url()).unwrap();
    let (url, pending) = AuthorizeRequest::new(ClientId::new(&creds.client_id).unwrap(), "http://127.0.0.1/callback")
        .with_scopes("users:read openid offline_access".parse().unwrap())
        .with_pkce(pkce)
        .build(endpoints.authorize_url().unwrap(), &OsRandom::new())
        .unwrap();
    let response = client.http_client().get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    pending.finish(location).unwrap()
}

#[tokio::test]
async fn authorization_code_then_refresh_with_jwt_and_basic() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let creds = server.register_client(Algorithm::Es256).unwrap();
        for (method, credentials) in both_authentications(&creds) {
            let client = client_with(&server, credentials, config(&server));
            for pkce in [false, true] {
                let grant = authorize(&server, &client, &creds, pkce).await;
                let token = client.fetch(&grant).await.unwrap();
                assert_eq!(server.last_request().unwrap().grant_type.as_deref(), Some("authorization_code"));
                assert!(token.id_token().is_some(), "openid was granted");
                let refresh = token.refresh_token().expect("a refresh token").clone();

                let refreshed = client.refresh(refresh.clone(), Scopes::none()).await.unwrap();
                let seen = server.last_request().unwrap();
                assert_eq!((seen.grant_type.as_deref(), seen.auth_method), (Some("refresh_token"), Some(method)));
                assert!(refreshed.refresh_token().is_some(), "{scheme:?} {method:?}: rotated");
                // The testkit rotates refresh tokens: the old one is spent.
                let err = client.refresh(refresh, Scopes::none()).await.unwrap_err();
                assert_eq!(err.oauth().unwrap().code().as_str(), "invalid_grant", "{err}");
            }
        }
    }
}

#[tokio::test]
async fn authorization_code_convenience_method() {
    let server = server(Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let client = client_with(&server, jwt(&creds), config(&server));
    let Grant::AuthorizationCode { code, redirect_uri, code_verifier } =
        authorize(&server, &client, &creds, true).await
    else {
        panic!("not an authorization-code grant")
    };
    let token = client.authorization_code(code, redirect_uri, code_verifier).await.unwrap();
    assert!(token.refresh_token().is_some());
}

#[tokio::test]
async fn a_provider_for_the_refresh_grant_follows_rotation() {
    let server = server(Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let client = client_with(&server, jwt(&creds), config(&server));
    let first = client.fetch(&authorize(&server, &client, &creds, false).await).await.unwrap();
    let provider = client.provider(Grant::refresh_token(first.refresh_token().unwrap().clone(), Scopes::none()));
    for _ in 0..3 {
        provider.force_refresh().await.unwrap();
    }
    assert_eq!(server.count_grant("refresh_token"), 3, "each refresh used the rotated token");
}

#[tokio::test]
async fn https_refuses_an_untrusted_certificate() {
    let server = server(Scheme::Https);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    // The system's CAs only: the testkit's self-signed certificate is refused (a transport failure).
    let system_only = Config::default().with_timeout(Duration::from_millis(500)).with_retry_policy(RetryPolicy::none());
    let client = client_with(&server, jwt(&creds), system_only);
    let err = client.client_credentials(Scopes::none()).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains(&format!("https://{}/oauth/token", server.local_addr())), "{err}");
    assert_eq!(server.request_count(), 0);
}

#[tokio::test]
async fn a_caller_supplied_client_is_used() {
    let server = server(Scheme::Https);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let own = td_oauth_reqwest::http_client_builder(&config(&server).with_user_agent("my-service/1.0"))
        .unwrap()
        .build()
        .unwrap();
    // Certificates are the supplied client's business: this config trusts nothing extra itself.
    let client = client_with(&server, jwt(&creds), Config::default().with_built_client(own));
    client.client_credentials(Scopes::none()).await.unwrap();
    assert_eq!(server.request_count(), 1);
}

#[test]
fn a_bad_root_certificate_is_a_config_error() {
    let server = server(Scheme::Https);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let config = Config::default().with_root_certificate(b"not a certificate".to_vec()).with_system_roots(false);
    let err =
        Client::with_config(&Endpoints::from_token_url(server.token_url()).unwrap(), jwt(&creds), config).unwrap_err();
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(err.to_string().contains("root certificate"), "{err}");
}
