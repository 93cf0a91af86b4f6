//! The authorize URL and the redirect back: state, nonce, PKCE, and errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use td_oauth_core::authorize::pkce_challenge;
use td_oauth_core::authorize::{Prompt, RedirectError};
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

/// Whatever else a redirect carries, one without exactly one `state` equal to the one sent is a state
/// mismatch, which a listener ignores: an attacker's page cannot end a login with a malformed request.
#[test]
fn state_is_checked_before_anything_else() {
    let (_, pending) = build(AuthorizeRequest::new(ClientId::new("c").unwrap(), "https://app.example/cb"));
    let state = pending.state().to_owned();
    for forged in [
        "?code=a&code=b".to_owned(),
        "?code=a&code=b&state=guessed".to_owned(),
        "?error=access_denied&error_description=a&error_description=b".to_owned(),
        "?error=x&error=y&state=guessed".to_owned(),
        format!("?code=a&state={state}&state={state}"),
        format!("?code=a&state={state}&state=other"),
        format!("?code=a&state=other&state={state}"),
        "?state=".to_owned(),
    ] {
        let err = pending.finish(&forged).unwrap_err();
        assert!(matches!(err, RedirectError::StateMismatch), "{forged}: {err:?}");
    }
    let err = pending.finish(&format!("?error=a&error=b&state={state}")).unwrap_err();
    assert!(matches!(err, RedirectError::Invalid { .. }), "{err:?}");
}

fn prompt_of(request: AuthorizeRequest) -> Option<String> {
    let (url, _) = build(request);
    let prompts: Vec<String> = url.query_pairs().filter(|(k, _)| k == "prompt").map(|(_, v)| v.into_owned()).collect();
    assert!(prompts.len() <= 1, "{prompts:?}");
    prompts.into_iter().next()
}

/// OpenID Connect Core §11: `offline_access` is granted only with `prompt=consent`, so it is sent by
/// default then, and only then; a chosen prompt (or none) wins.
#[test]
fn prompt_is_consent_for_offline_access_unless_chosen() {
    let request = |scopes: &str| {
        AuthorizeRequest::new(ClientId::new("c").unwrap(), "https://app.example/cb")
            .with_scopes(scopes.parse().unwrap())
    };
    assert_eq!(prompt_of(request("openid offline_access")).as_deref(), Some("consent"));
    assert_eq!(request("openid offline_access").prompt(), Some(Prompt::Consent));
    assert_eq!(prompt_of(request("openid users:read")), None);
    assert_eq!(prompt_of(request("")), None);
    for prompt in Prompt::ALL {
        assert_eq!(prompt_of(request("openid offline_access").with_prompt(prompt)).as_deref(), Some(prompt.as_str()));
        assert_eq!(prompt_of(request("openid").with_prompt(prompt)).as_deref(), Some(prompt.as_str()));
        assert_eq!(prompt.as_str().parse::<Prompt>().unwrap(), prompt);
    }
    assert_eq!(prompt_of(request("offline_access").without_prompt()), None);
    assert_eq!(Prompt::SelectAccount.to_string(), "select_account");
    for bad in ["", "Consent", "login consent", "select-account", "\u{1b}[31m"] {
        let err = bad.parse::<Prompt>().unwrap_err().to_string();
        assert!(err.contains("none, login, consent, select_account") && !err.contains('\u{1b}'), "{bad:?}: {err}");
    }
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
