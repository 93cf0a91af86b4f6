//! The authorize URL and the redirect back: state, nonce, PKCE, and errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use td_oauth_core::authorize::RedirectError;
use td_oauth_core::authorize::pkce_challenge;
use td_oauth_core::random::{OsRandom, RandomSource};
use td_oauth_core::{
    AuthorizeRequest, ClientId, Endpoints, Error, ErrorCode, Grant, PendingAuthorization, PkceVerifier, Region,
};

fn build(request: AuthorizeRequest) -> (url::Url, PendingAuthorization) {
    let endpoints = Endpoints::talkdesk("acme", Region::Us).unwrap();
    request.build(endpoints.authorize_url().unwrap(), &OsRandom::new()).unwrap()
}

fn query(url: &url::Url) -> Vec<(String, String)> {
    url.query_pairs().into_owned().collect()
}

#[test]
fn builds_the_documented_url() {
    let (url, pending) = build(
        AuthorizeRequest::new(ClientId::new("client-1").unwrap(), "https://app.example/cb?x=1")
            .with_scopes("openid users:read".parse().unwrap())
            .with_state("st&ate")
            .with_nonce("n0nce"),
    );
    assert_eq!(url.host_str(), Some("acme.talkdeskid.com"));
    assert_eq!(url.path(), "/oauth/authorize");
    let expected: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", "client-1"),
        ("redirect_uri", "https://app.example/cb?x=1"),
        ("scope", "openid users:read"),
        ("state", "st&ate"),
        ("nonce", "n0nce"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(query(&url), expected);
    assert_eq!(pending.state(), "st&ate");
    assert!(pending.code_verifier().is_none());
}

#[test]
fn generates_state_nonce_and_pkce() {
    let (url, pending) =
        build(AuthorizeRequest::new(ClientId::new("c").unwrap(), "https://app.example/cb").with_pkce(true));
    let (url2, pending2) =
        build(AuthorizeRequest::new(ClientId::new("c").unwrap(), "https://app.example/cb").with_pkce(true));
    assert_ne!(pending.state(), pending2.state());
    assert_ne!(pending.nonce(), pending2.nonce());
    assert!(pending.state().len() >= 22, "128 bits of state");
    let verifier = pending.code_verifier().unwrap();
    assert_eq!(verifier.secret().len(), 43);
    let params = query(&url);
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    assert_eq!(get("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(get("code_challenge"), Some(pkce_challenge(verifier)));
    assert_eq!(get("state").as_deref(), Some(pending.state()));
    assert_ne!(query(&url2), params);
    // The verifier itself never leaves in the URL, nor in Debug.
    assert!(!url.as_str().contains(verifier.secret()));
    assert!(!format!("{pending:?}").contains(verifier.secret()));
}

#[test]
fn pkce_challenge_matches_rfc_7636_appendix_b() {
    let verifier = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!(pkce_challenge(&verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

#[test]
fn redirect_with_the_right_state_gives_the_grant() {
    let (_, pending) =
        build(AuthorizeRequest::new(ClientId::new("c").unwrap(), "https://app.example/cb").with_pkce(true));
    let state = pending.state().to_owned();
    for redirect in [
        format!("https://app.example/cb?code=c%2Fode&state={state}"),
        format!("?state={state}&code=c%2Fode"),
        format!("code=c%2Fode&state={state}&extra=1"),
    ] {
        match pending.finish(&redirect).unwrap() {
            Grant::AuthorizationCode { code, redirect_uri, code_verifier } => {
                assert_eq!(code.secret(), "c/ode");
                assert_eq!(redirect_uri, "https://app.example/cb");
                assert_eq!(code_verifier.unwrap().secret(), pending.code_verifier().unwrap().secret());
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn redirect_problems_are_typed() {
    let (_, pending) = build(AuthorizeRequest::new(ClientId::new("c").unwrap(), "https://app.example/cb"));
    let state = pending.state().to_owned();
    let err = pending.finish("https://app.example/cb?code=x&state=forged").unwrap_err();
    assert!(matches!(err, RedirectError::StateMismatch), "{err:?}");
    let err = pending.finish("https://app.example/cb?code=x").unwrap_err();
    assert!(matches!(err, RedirectError::StateMismatch), "{err:?}");
    // An error with a forged state is still a state mismatch: it may be an attacker's.
    let err = pending.finish("https://app.example/cb?error=access_denied&state=forged").unwrap_err();
    assert!(matches!(err, RedirectError::StateMismatch), "{err:?}");

    let err = pending
        .finish(&format!("https://app.example/cb?error=access_denied&error_description=User+said+no&state={state}"))
        .unwrap_err();
    assert!(
        matches!(&err, RedirectError::Refused { code: ErrorCode::AccessDenied, description: Some(d) } if d == "User said no"),
        "{err:?}"
    );
    assert!(err.to_string().contains("access_denied: User said no"), "{err}");

    let err = pending.finish(&format!("?state={state}")).unwrap_err();
    assert!(matches!(err, RedirectError::Invalid { .. }), "{err:?}");
    let err = pending.finish(&format!("?code=a&code=b&state={state}")).unwrap_err();
    assert!(matches!(&err, RedirectError::Invalid { reason } if reason.contains("more than once")), "{err:?}");
}

#[test]
fn a_custom_random_source_makes_output_reproducible() {
    struct Counter;
    impl RandomSource for Counter {
        fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
            for (i, b) in dest.iter_mut().enumerate() {
                *b = i as u8;
            }
            Ok(())
        }
    }
    let endpoints = Endpoints::talkdesk("acme", Region::Us).unwrap();
    let request = AuthorizeRequest::new(ClientId::new("c").unwrap(), "https://app.example/cb");
    let (a, _) = request.build(endpoints.authorize_url().unwrap(), &Counter).unwrap();
    let (b, _) = request.build(endpoints.authorize_url().unwrap(), &Counter).unwrap();
    assert_eq!(a, b);
}
