//! Every grant with both client authentications, over HTTP and HTTPS, against the testkit's identity server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use td_oauth_testkit::{AuthMethod, TOKEN_PATH};
use td_oauth_ureq::core::random::OsRandom;
use td_oauth_ureq::core::{AuthorizeRequest, ClientId, Grant, Scopes};
use td_oauth_ureq::{Client, TokenProvider};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

#[test]
fn client_credentials_with_jwt_and_basic() {
    for scheme in SCHEMES {
        let server = start(scheme);
        let creds = register(&server);
        for (credentials, method) in
            [(jwt_credentials(&creds), AuthMethod::ClientAssertion), (basic_credentials(&creds), AuthMethod::Basic)]
        {
            let client = Client::with_config(&endpoints(&server), credentials, fast_config(&server)).unwrap();
            let token = client.fetch(&Grant::client_credentials("users:read apps:read".parse().unwrap())).unwrap();
            assert_eq!(token.scope(), Some("users:read apps:read"), "{scheme:?} {method:?}");
            assert_eq!(token.expires_in().as_secs(), 600);
            let record = server.last_request().unwrap();
            assert_eq!(record.auth_method, Some(method), "{scheme:?}");
            assert_eq!(record.status, Some(200));
            assert_eq!(record.grant_type.as_deref(), Some("client_credentials"));
        }
        assert_eq!(server.count_path(TOKEN_PATH), 2);
    }
}

#[test]
fn authorization_code_then_refresh_token_with_jwt_and_basic() {
    for scheme in SCHEMES {
        let server = start(scheme);
        let creds = register(&server);
        for basic in [false, true] {
            let credentials = if basic { basic_credentials(&creds) } else { jwt_credentials(&creds) };
            let endpoints = endpoints(&server);
            let client = Client::with_config(&endpoints, credentials, fast_config(&server)).unwrap();

            // The browser's part: the authorize endpoint answers 302 to the redirect URI at once. Our agent
            // never follows redirects, so the Location header is ours to read.
            for pkce in [false, true] {
                let (url, pending) = AuthorizeRequest::new(ClientId::new(&creds.client_id).unwrap(), REDIRECT)
                    .with_scopes("openid users:read offline_access".parse().unwrap())
                    .with_pkce(pkce)
                    .build(endpoints.authorize_url().unwrap(), &OsRandom::new())
                    .unwrap();
                let answer = client.http_client().get(url.as_str()).call().unwrap();
                assert_eq!(answer.status(), 302, "{scheme:?}");
                let location = answer.headers()["location"].to_str().unwrap().to_owned();
                let grant = pending.finish(&location).unwrap();

                let token = client.fetch(&grant).unwrap();
                assert!(token.id_token().is_some(), "openid was granted");
                assert!(token.session_id().is_some());
                let refresh_token = token.refresh_token().expect("offline_access gives a refresh token").clone();

                let refreshed = client.fetch(&Grant::refresh_token(refresh_token, Scopes::none())).unwrap();
                assert_ne!(refreshed.access_token().secret(), token.access_token().secret());
                assert!(refreshed.refresh_token().is_some(), "the testkit rotates refresh tokens");
                let record = server.last_request().unwrap();
                assert_eq!(record.grant_type.as_deref(), Some("refresh_token"));
                assert_eq!(record.status, Some(200));
                let method = if basic { AuthMethod::Basic } else { AuthMethod::ClientAssertion };
                assert_eq!(record.auth_method, Some(method));
            }
        }
        assert_eq!(server.count_grant("authorization_code"), 4);
        assert_eq!(server.count_grant("refresh_token"), 4);
    }
}

#[test]
fn provider_over_https_and_http() {
    for scheme in SCHEMES {
        let server = start(scheme);
        let creds = register(&server);
        let provider = TokenProvider::client_credentials(jwt_client(&server, &creds, |c| c), Scopes::none());
        let first = provider.token().unwrap();
        let second = provider.token().unwrap();
        assert!(first.is_same_token(&second), "a warm hit returns the cached token");
        assert_eq!(server.count_path(TOKEN_PATH), 1);
    }
}

#[test]
fn https_without_the_test_certificate_is_a_tls_error_and_not_retried() {
    let server = start(Scheme::Https);
    let creds = register(&server);
    let client =
        Client::with_config(&endpoints(&server), jwt_credentials(&creds), td_oauth_ureq::Config::new()).unwrap();
    let err = client.fetch(&Grant::client_credentials(Scopes::none())).unwrap_err();
    assert!(matches!(err, td_oauth_ureq::Error::Tls { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(server.count_path(TOKEN_PATH), 0, "the handshake failed before any request");
}

#[test]
fn the_grant_shorthands_and_client_provider() {
    let server = start(Scheme::Http);
    let creds = register(&server);
    let endpoints = endpoints(&server);
    let client = Client::with_config(&endpoints, jwt_credentials(&creds), fast_config(&server)).unwrap();

    let token = client.client_credentials("users:read".parse().unwrap()).unwrap();
    assert_eq!(token.scope(), Some("users:read"));
    assert_eq!(server.last_request().unwrap().grant_type.as_deref(), Some("client_credentials"));

    let (url, pending) = AuthorizeRequest::new(ClientId::new(&creds.client_id).unwrap(), REDIRECT)
        .with_scopes("openid offline_access".parse().unwrap())
        .with_pkce(true)
        .build(endpoints.authorize_url().unwrap(), &OsRandom::new())
        .unwrap();
    let answer = client.http_client().get(url.as_str()).call().unwrap();
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let Grant::AuthorizationCode { code, redirect_uri, code_verifier } = pending.finish(&location).unwrap() else {
        panic!("not an authorization-code grant")
    };
    let token = client.authorization_code(code, redirect_uri, code_verifier).unwrap();
    assert_eq!(server.last_request().unwrap().grant_type.as_deref(), Some("authorization_code"));
    let refresh = token.refresh_token().expect("offline_access gives a refresh token").clone();

    let refreshed = client.refresh(refresh.clone(), Scopes::none()).unwrap();
    assert_eq!(server.last_request().unwrap().grant_type.as_deref(), Some("refresh_token"));
    assert!(refreshed.refresh_token().is_some(), "the testkit rotates refresh tokens");
    // The old refresh token is spent.
    let err = client.refresh(refresh, Scopes::none()).unwrap_err();
    assert_eq!(err.oauth().unwrap().code().as_str(), "invalid_grant", "{err}");

    let provider = client.provider(Grant::client_credentials(Scopes::none()));
    let first = provider.token().unwrap();
    assert!(first.is_same_token(&provider.token().unwrap()));
    assert_eq!(server.count_grant("client_credentials"), 2);
}

#[test]
fn the_constructors_agree() {
    let server = start(Scheme::Http);
    let creds = register(&server);
    let endpoints = endpoints(&server);
    let default = Client::new(&endpoints, jwt_credentials(&creds)).unwrap();
    assert_eq!(
        default.config().retry_policy().max_retries(),
        td_oauth_ureq::Config::default().retry_policy().max_retries()
    );
    let core = td_oauth_ureq::core::TokenClient::new(&endpoints, jwt_credentials(&creds));
    let wrapped = Client::from_token_client(core, fast_config(&server)).unwrap();
    assert_eq!(wrapped.token_client().token_url().as_str(), default.token_client().token_url().as_str());
    wrapped.client_credentials(Scopes::none()).unwrap();
    default.client_credentials(Scopes::none()).unwrap();
    assert_eq!(server.count_grant("client_credentials"), 2);
}
