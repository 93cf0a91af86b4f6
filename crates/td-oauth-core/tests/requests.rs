//! Token requests: method, headers and form bodies for every grant and both client authentications.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use proptest::prelude::*;
use td_oauth_core::{
    AuthorizationCode, ClientId, ClientSecret, Credentials, Endpoints, Error, Grant, KeyId, PkceVerifier, PrivateKey,
    RefreshToken, Region, Scopes, TokenClient,
};

const ES256: &str = include_str!("keys/es256.pkcs8.b64");
/// A PKCE verifier of RFC 7636's minimum length.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn endpoints() -> Endpoints {
    Endpoints::talkdesk("acme", Region::Us).unwrap()
}

fn jwt_client() -> TokenClient {
    let credentials = Credentials::private_key_jwt(
        ClientId::new("client-1").unwrap(),
        KeyId::new("key-1").unwrap(),
        PrivateKey::parse(ES256).unwrap(),
    );
    TokenClient::new(&endpoints(), credentials)
}

fn basic_client() -> TokenClient {
    let credentials =
        Credentials::client_secret(ClientId::new("client-1").unwrap(), ClientSecret::new("s3cret/+=")).unwrap();
    TokenClient::new(&endpoints(), credentials)
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn grants() -> Vec<Grant> {
    vec![
        Grant::client_credentials(Scopes::none()),
        Grant::client_credentials("users:read apps:read".parse().unwrap()),
        Grant::authorization_code(AuthorizationCode::new("the-code"), "https://app.example/cb", None),
        Grant::authorization_code(
            AuthorizationCode::new("the-code"),
            "https://app.example/cb",
            Some(PkceVerifier::new(VERIFIER)),
        ),
        Grant::refresh_token(RefreshToken::new("the-refresh-token"), Scopes::none()),
        Grant::refresh_token(RefreshToken::new("the-refresh-token"), "users:read".parse().unwrap()),
    ]
}

fn expected_grant_params(grant: &Grant) -> Vec<(String, String)> {
    let pairs: Vec<(&str, &str)> = match grant {
        Grant::ClientCredentials { scopes } if scopes.is_empty() => vec![("grant_type", "client_credentials")],
        Grant::ClientCredentials { .. } => {
            vec![("grant_type", "client_credentials"), ("scope", "users:read apps:read")]
        }
        Grant::AuthorizationCode { code_verifier: None, .. } => {
            vec![("grant_type", "authorization_code"), ("code", "the-code"), ("redirect_uri", "https://app.example/cb")]
        }
        Grant::AuthorizationCode { .. } => vec![
            ("grant_type", "authorization_code"),
            ("code", "the-code"),
            ("redirect_uri", "https://app.example/cb"),
            ("code_verifier", VERIFIER),
        ],
        Grant::RefreshToken { scopes, .. } if scopes.is_empty() => {
            vec![("grant_type", "refresh_token"), ("refresh_token", "the-refresh-token")]
        }
        Grant::RefreshToken { .. } => {
            vec![("grant_type", "refresh_token"), ("refresh_token", "the-refresh-token"), ("scope", "users:read")]
        }
        _ => unreachable!(),
    };
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

#[test]
fn every_grant_with_a_signed_jwt() {
    let client = jwt_client();
    for grant in grants() {
        let request = client.token_request(&grant, SystemTime::now()).unwrap();
        assert_eq!(request.method(), "POST");
        assert_eq!(request.uri(), "https://acme.talkdeskid.com/oauth/token");
        assert_eq!(request.headers()["content-type"], "application/x-www-form-urlencoded");
        assert_eq!(request.headers()["accept"], "application/json");
        assert!(request.headers().get("authorization").is_none());
        let mut params = form(request.body().as_bytes());
        let assertion = params.pop().unwrap();
        let assertion_type = params.pop().unwrap();
        assert_eq!(
            assertion_type,
            ("client_assertion_type".into(), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into())
        );
        assert_eq!(assertion.0, "client_assertion");
        assert_eq!(assertion.1.split('.').count(), 3);
        assert_eq!(params, expected_grant_params(&grant));
    }
}

#[test]
fn every_grant_with_basic_authentication() {
    let client = basic_client();
    for grant in grants() {
        let request = client.token_request(&grant, SystemTime::now()).unwrap();
        let auth = request.headers()["authorization"].to_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD.decode(auth.strip_prefix("Basic ").unwrap()).unwrap();
        assert_eq!(decoded, b"client-1:s3cret%2F%2B%3D");
        assert!(request.headers()["authorization"].is_sensitive());
        assert_eq!(form(request.body().as_bytes()), expected_grant_params(&grant));
    }
}

#[test]
fn each_request_signs_a_fresh_assertion() {
    let client = jwt_client();
    let grant = Grant::client_credentials(Scopes::none());
    let a = client.token_request(&grant, SystemTime::now()).unwrap();
    let b = client.token_request(&grant, SystemTime::now()).unwrap();
    assert_ne!(a.body().as_bytes(), b.body().as_bytes());
}

/// What a server does with `Authorization: Basic` per RFC 6749 §2.3.1: Base64-decode, split at the first `:`,
/// then form-decode each part.
fn basic_credentials(request: &http::Request<td_oauth_core::request::FormBody>) -> (String, String) {
    let auth = request.headers()["authorization"].to_str().unwrap();
    let decoded = base64::engine::general_purpose::STANDARD.decode(auth.strip_prefix("Basic ").unwrap()).unwrap();
    let text = String::from_utf8(decoded).unwrap();
    let (id, secret) = text.split_once(':').unwrap();
    let decode = |part: &str| form(format!("x={part}").as_bytes()).pop().unwrap().1;
    assert!(!id.contains(['&', '=']) && !secret.contains(['&', '=']), "form-encoded: {text}");
    (decode(id), decode(secret))
}

#[test]
fn basic_form_encodes_the_client_id_and_secret() {
    for (id, secret) in [
        ("partner:acme", "s3cret+with/plus=&percent%20 space"),
        ("client-1", "plain"),
        ("a:b:c", "::"),
        ("ünïcode-is-refused-by-ClientId-but-the-secret-may-be", "pässwörd ✓"),
    ] {
        let Ok(client_id) = ClientId::new(id) else {
            assert!(!id.is_ascii(), "{id}");
            continue;
        };
        let credentials = Credentials::client_secret(client_id, ClientSecret::new(secret)).unwrap();
        let request = TokenClient::new(&endpoints(), credentials)
            .token_request(&Grant::client_credentials(Scopes::none()), SystemTime::now())
            .unwrap();
        assert_eq!(basic_credentials(&request), (id.to_owned(), secret.to_owned()));
    }
    let credentials =
        Credentials::client_secret(ClientId::new("partner:acme").unwrap(), ClientSecret::new("p+ss w/rd")).unwrap();
    let request = TokenClient::new(&endpoints(), credentials)
        .token_request(&Grant::client_credentials(Scopes::none()), SystemTime::now())
        .unwrap();
    let header = request.headers()["authorization"].to_str().unwrap();
    // base64("partner%3Aacme:p%2Bss+w%2Frd"), as Go's x/oauth2 and oauth2-rs send it.
    assert_eq!(header, "Basic cGFydG5lciUzQWFjbWU6cCUyQnNzK3clMkZyZA==");
}

#[test]
fn code_exchanges_refuse_bad_redirect_uris_and_verifiers_before_signing() {
    let exchange = |redirect: &str, verifier: Option<String>| {
        let grant =
            Grant::authorization_code(AuthorizationCode::new("the-code"), redirect, verifier.map(PkceVerifier::new));
        jwt_client().token_request(&grant, SystemTime::now())
    };
    let good_verifier = || Some("v".repeat(43));
    for redirect in [
        "https://app.example/cb",
        "https://app.example/cb?tenant=1",
        "http://127.0.0.1:9/callback",
        "http://[::1]:8080/cb",
        "http://localhost/cb",
        "com.example.app:/oauth2redirect",
    ] {
        exchange(redirect, good_verifier()).unwrap_or_else(|e| panic!("{redirect}: {e}"));
    }
    for (redirect, says) in [
        ("javascript:alert(1)", "scheme `javascript`"),
        ("data:text/html,hi", "scheme `data`"),
        ("file:///etc/passwd", "scheme `file`"),
        ("not a url", "byte 3 is whitespace"),
        ("/callback", "not an absolute URI"),
        ("", "not an absolute URI"),
        ("https://app.example/cb#frag", "fragment"),
        ("http://app.example/cb", "loopback"),
        ("http://127.0.0.1.nip.io/cb", "loopback"),
        ("https://app.example/cb\n", "control character"),
    ] {
        let err = exchange(redirect, good_verifier()).unwrap_err();
        assert!(matches!(err, Error::InvalidUrl { which: "redirect", .. }), "{redirect:?}: {err:?}");
        assert!(err.to_string().contains(says), "{redirect:?}: {err}");
    }
    exchange("https://app.example/cb", None).unwrap();
    exchange("https://app.example/cb", Some("~".repeat(128))).unwrap();
    for verifier in ["v".repeat(42), "v".repeat(129), format!("{}+", "v".repeat(42)), format!("-{}=", "v".repeat(50))] {
        let err = exchange("https://app.example/cb", Some(verifier.clone())).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { field: "PKCE code verifier", .. }), "{verifier}: {err:?}");
        assert!(err.to_string().contains("RFC 7636"), "{err}");
    }
}

#[test]
fn debug_of_requests_and_clients_shows_no_secret() {
    for client in [jwt_client(), basic_client()] {
        let grant = Grant::refresh_token(RefreshToken::new("the-refresh-token"), Scopes::none());
        let request = client.token_request(&grant, UNIX_EPOCH + std::time::Duration::from_secs(2_000_000_000)).unwrap();
        let debug = format!("{request:?} {client:?} {grant:?}");
        let body = String::from_utf8(request.body().as_bytes().to_vec()).unwrap();
        let assertion = form(body.as_bytes()).into_iter().find(|(k, _)| k == "client_assertion");
        assert!(!debug.contains("the-refresh-token"), "{debug}");
        assert!(!debug.contains("s3cret"), "{debug}");
        // base64("client-1:s3cret/+="), the Basic credentials.
        assert!(!debug.contains("Y2xpZW50LTE6czNjcmV0Lys9"), "{debug}");
        if let Some((_, jwt)) = assertion {
            assert!(!debug.contains(&jwt[jwt.len() - 20..]), "{debug}");
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_codes_and_redirects_survive_form_encoding(
        code in any::<String>(),
        path in "[!-~]{0,40}",
        verifier in "[A-Za-z0-9._~-]{43,128}",
    ) {
        // Any printable path and query; `#` would start a fragment, which a redirect URI may not have.
        let redirect = format!("https://app.example/{}", path.replace('#', "%23"));
        let grant = Grant::authorization_code(
            AuthorizationCode::new(code.clone()),
            redirect.clone(),
            Some(PkceVerifier::new(verifier.clone())),
        );
        let request = basic_client().token_request(&grant, SystemTime::now()).unwrap();
        let params = form(request.body().as_bytes());
        prop_assert_eq!(&params[1], &("code".to_owned(), code));
        prop_assert_eq!(&params[2], &("redirect_uri".to_owned(), redirect));
        prop_assert_eq!(&params[3], &("code_verifier".to_owned(), verifier));
    }

    #[test]
    fn arbitrary_valid_scopes_survive_form_encoding(scopes in proptest::collection::vec("[!#-\\[\\]-~]{1,20}", 1..6)) {
        let parsed = Scopes::new(&scopes).unwrap();
        let request = jwt_client().token_request(&Grant::client_credentials(parsed.clone()), SystemTime::now()).unwrap();
        let params = form(request.body().as_bytes());
        prop_assert_eq!(&params[1].1, parsed.as_str());
        let mut unique = Vec::new();
        for scope in &scopes {
            if !unique.contains(scope) {
                unique.push(scope.clone());
            }
        }
        prop_assert_eq!(params[1].1.split(' ').map(str::to_owned).collect::<Vec<_>>(), unique);
    }

    #[test]
    fn arbitrary_scope_text_is_accepted_or_refused_without_panic(text in any::<String>()) {
        let _ = text.parse::<Scopes>();
    }
}
