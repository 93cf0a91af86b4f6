//! The authorization-code flow (with and without PKCE) and refresh-token rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use ring::digest::{SHA256, digest};
use td_oauth_testkit::{Algorithm, ClientCredentials, ClientSpec, JWT_BEARER, TestServer};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// Calls the authorize endpoint and returns the redirect's query parameters.
fn authorize(agent: &ureq::Agent, server: &TestServer, params: &[(&str, &str)]) -> HashMap<String, String> {
    let mut url = url::Url::parse(&server.authorize_url()).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    let answer = get(agent, url.as_str(), None);
    assert_eq!(answer.status, 302, "{}", String::from_utf8_lossy(&answer.body));
    let location = url::Url::parse(answer.header("location").unwrap()).unwrap();
    assert!(location.as_str().starts_with(REDIRECT));
    location.query_pairs().into_owned().collect()
}

fn code_params<'a>(creds: &'a ClientCredentials, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", &creds.client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-123"),
        ("nonce", "n-456"),
    ]
}

fn exchange(
    agent: &ureq::Agent,
    server: &TestServer,
    creds: &ClientCredentials,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Answer {
    let jwt = assertion(server, creds);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &jwt),
    ];
    if let Some(verifier) = verifier {
        form.push(("code_verifier", verifier));
    }
    post_token(agent, server, &form, None)
}

fn refresh(agent: &ureq::Agent, server: &TestServer, creds: &ClientCredentials, token: &str) -> Answer {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    post_token(agent, server, &form, Some((&creds.client_id, &creds.client_secret)))
}

#[test]
fn code_flow_without_pkce_then_refresh_rotation() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let creds = server.register_client(Algorithm::Es256).unwrap();

    let back = authorize(&agent, &server, &code_params(&creds, "openid users:read offline_access"));
    assert_eq!(back["state"], "st-123");
    let code = &back["code"];
    let answer = exchange(&agent, &server, &creds, code, REDIRECT, None);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    let json = answer.json();
    assert_eq!(json["scope"], "openid users:read offline_access");
    let sid = json["sid"].as_str().unwrap().to_owned();
    let id_token = jwt_claims(json["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], "n-456");
    assert_eq!(id_token["aud"], creds.client_id.as_str());
    assert_eq!(id_token["sid"], sid.as_str());
    let first_refresh = json["refresh_token"].as_str().unwrap().to_owned();

    // The code is single-use.
    let reused = exchange(&agent, &server, &creds, code, REDIRECT, None);
    assert!(reused.assert_error(400, "invalid_grant").contains("already used"));

    // Refresh rotates: the new token works, the old one no longer does.
    let json = refresh(&agent, &server, &creds, &first_refresh).json();
    let second_refresh = json["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first_refresh, second_refresh);
    assert_eq!(json["sid"], sid.as_str());
    assert_eq!(json["scope"], "openid users:read offline_access");
    assert!(json.get("id_token").is_none());
    refresh(&agent, &server, &creds, &first_refresh).assert_error(400, "invalid_grant");

    // Narrowing the scope is allowed, widening is not.
    let form = [("grant_type", "refresh_token"), ("refresh_token", second_refresh.as_str()), ("scope", "apps:write")];
    post_token(&agent, &server, &form, Some((&creds.client_id, &creds.client_secret)))
        .assert_error(400, "invalid_scope");
    let form = [("grant_type", "refresh_token"), ("refresh_token", second_refresh.as_str()), ("scope", "users:read")];
    let json = post_token(&agent, &server, &form, Some((&creds.client_id, &creds.client_secret))).json();
    assert_eq!(json["scope"], "users:read");

    // Another client cannot use this client's refresh token; revocation ends them all.
    let other = server.register_client(Algorithm::Es256).unwrap();
    let third = json["refresh_token"].as_str().unwrap();
    refresh(&agent, &server, &other, third).assert_error(400, "invalid_grant");
    server.revoke_all_tokens();
    refresh(&agent, &server, &creds, third).assert_error(400, "invalid_grant");
    assert_eq!(server.count_grant("refresh_token"), 6);
}

#[test]
fn code_flow_with_pkce() {
    let server = TestServer::start_https().unwrap();
    let agent = agent(&server);
    let creds = server.register_client(Algorithm::Ps256).unwrap();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()).as_ref());

    let mut params = code_params(&creds, "users:read");
    params.push(("code_challenge", &challenge));
    params.push(("code_challenge_method", "S256"));

    // Wrong verifier, then no verifier: refused (and each attempt burns the code).
    let code = authorize(&agent, &server, &params)["code"].clone();
    let wrong =
        exchange(&agent, &server, &creds, &code, REDIRECT, Some("wrong-verifier-wrong-verifier-wrong-verifier"));
    assert!(wrong.assert_error(400, "invalid_grant").contains("code_verifier"));
    let code = authorize(&agent, &server, &params)["code"].clone();
    exchange(&agent, &server, &creds, &code, REDIRECT, None).assert_error(400, "invalid_grant");

    // Right verifier.
    let code = authorize(&agent, &server, &params)["code"].clone();
    let answer = exchange(&agent, &server, &creds, &code, REDIRECT, Some(verifier));
    assert_eq!(answer.status, 200);
    let json = answer.json();
    assert!(json["refresh_token"].is_string());
    assert!(json.get("id_token").is_none(), "no id_token without openid");

    // The redirect URI must match the authorize request's.
    let code = authorize(&agent, &server, &params)["code"].clone();
    let other = exchange(&agent, &server, &creds, &code, "http://127.0.0.1:9/other", Some(verifier));
    assert!(other.assert_error(400, "invalid_grant").contains("redirect_uri"));
}

#[test]
fn authorize_errors_redirect_back_with_state() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let creds = server.register_client_with(ClientSpec::new(Algorithm::Es256).scopes(["users:read"])).unwrap();

    let mut params = code_params(&creds, "users:read contacts:read");
    let back = authorize(&agent, &server, &params);
    assert_eq!((back["error"].as_str(), back["state"].as_str()), ("invalid_scope", "st-123"));
    assert!(!back.contains_key("code"));
    assert_eq!(server.last_request().unwrap().error.as_deref(), Some("invalid_scope"));

    params[3] = ("scope", "users:read");
    params[0] = ("response_type", "token");
    assert_eq!(authorize(&agent, &server, &params)["error"], "unsupported_response_type");

    params[0] = ("response_type", "code");
    params[1] = ("client_id", "unknown");
    assert_eq!(authorize(&agent, &server, &params)["error"], "invalid_request");

    let mut params = code_params(&creds, "users:read");
    params.push(("code_challenge", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
    params.push(("code_challenge_method", "plain"));
    let back = authorize(&agent, &server, &params);
    assert_eq!(back["error"], "invalid_request");
    assert!(back["error_description"].contains("S256"));

    // No usable redirect_uri: a 400 page, no redirect.
    let url = format!("{}?response_type=code&client_id={}", server.authorize_url(), creds.client_id);
    assert_eq!(get(&agent, &url, None).status, 400);
}

#[test]
fn codes_expire() {
    let server = TestServer::builder().code_lifetime(Duration::from_millis(200)).start().unwrap();
    let agent = agent(&server);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let code = authorize(&agent, &server, &code_params(&creds, "users:read"))["code"].clone();
    std::thread::sleep(Duration::from_millis(400));
    let answer = exchange(&agent, &server, &creds, &code, REDIRECT, None);
    assert!(answer.assert_error(400, "invalid_grant").contains("expired"));
}

#[test]
fn a_registered_loopback_redirect_matches_on_any_port() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let spec = ClientSpec::new(Algorithm::Es256).scopes(["users:read"]).redirect_uri("http://127.0.0.1/callback");
    let creds = server.register_client_with(spec).unwrap();
    let status = |redirect: &str| {
        let mut url = url::Url::parse(&server.authorize_url()).unwrap();
        url.query_pairs_mut().extend_pairs([
            ("response_type", "code"),
            ("client_id", creds.client_id.as_str()),
            ("redirect_uri", redirect),
            ("state", "st"),
        ]);
        get(&agent, url.as_str(), None).status
    };
    // RFC 8252 §7.3: the port a native app picked at run time.
    assert_eq!(status(REDIRECT), 302);
    assert_eq!(status("http://127.0.0.1:54321/callback"), 302);
    // Not another path, host, scheme or a loopback name.
    for other in [
        "http://127.0.0.1:54321/other",
        "http://127.0.0.2.example:54321/callback",
        "https://127.0.0.1:54321/callback",
        "http://localhost:54321/callback",
    ] {
        assert_eq!(status(other), 400, "{other}");
    }
}
