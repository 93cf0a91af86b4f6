//! The Talkdesk API over sockets against the testkit: userinfo with a user token and the 400 of a
//! client-credentials one, HAL lists followed to their end (and stopped at another origin or the page
//! bound), Talkdesk error bodies, the Apps API's lifecycle calls (409 = already done), STS tokens sent
//! without `Bearer`, and ending a user's session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{SCHEMES, Scheme, basic_credentials, endpoints, fast_config, jwt_client, register, start};
use serde_json::{Value, json};
use td_oauth_partner::{InstallationDecision, credentials_state_request, installation_state_request};
use td_oauth_testkit::{
    Acknowledgement, Algorithm, ClientSpec, ECHO_AUTHORIZATION_PATH, Fault, FaultTarget, STS_ME_PATH, TEST_APP_ID,
    TEST_USER_ID, TestServer, USERS_PATH, talkdesk_error_body,
};
use td_oauth_ureq::api::{ApiError, ApiGateway, Paginator, REDACTED, UserId};
use td_oauth_ureq::core::TokenClient;
use td_oauth_ureq::core::redact::MIN_PIECE;
use td_oauth_ureq::core::response::TokenKind;
use td_oauth_ureq::core::{Grant, RefreshToken, Scopes};
use td_oauth_ureq::{ApiClient, Client};

fn gateway(server: &TestServer) -> ApiGateway {
    ApiGateway::from_url(server.base_url()).unwrap()
}

fn api(server: &TestServer, scopes: &[&str]) -> ApiClient {
    let client = jwt_client(server, &register(server), |c| c);
    let provider = client.provider(Grant::client_credentials(Scopes::new(scopes.iter().copied()).unwrap()));
    ApiClient::new(provider, gateway(server))
}

fn collect(api: &ApiClient, paginator: Paginator) -> (Vec<Value>, Option<ApiError>) {
    let mut items = Vec::new();
    let mut iter = api.items(paginator);
    while let Some(item) = iter.next() {
        match item {
            Ok(item) => items.push(item),
            Err(err) => {
                assert!(iter.next().is_none(), "the iteration ends after its error");
                return (items, Some(err));
            }
        }
    }
    (items, None)
}

#[test]
fn userinfo_needs_a_user_token() {
    for scheme in SCHEMES {
        let server = start(scheme);
        let creds = register(&server);
        let client = jwt_client(&server, &creds, |c| c);
        let refresh = server.issue_refresh_token(&creds.client_id, &["openid", "users:read"]);
        let user = client.provider(Grant::refresh_token(RefreshToken::new(refresh), Scopes::none()));
        let me = ApiClient::new(user, gateway(&server)).userinfo().unwrap();
        assert_eq!(me.id.as_deref(), Some(TEST_USER_ID), "{scheme:?}");
        assert_eq!(me.email.as_deref(), Some("testkit-user@example.com"));

        let err = api(&server, &["users:read"]).userinfo().unwrap_err();
        assert!(matches!(err, ApiError::NoUserContext(Some(_))), "{err:?}");
        assert!(err.to_string().contains("authorization-code flow"), "{err}");
    }
}

#[test]
fn a_list_is_followed_along_next_to_its_end() {
    for scheme in SCHEMES {
        let server = start(scheme);
        server.set_user_count(120);
        let api = api(&server, &["users:read"]);
        let (items, err) = collect(&api, Paginator::new(gateway(&server), "/users").unwrap());
        assert!(err.is_none(), "{err:?}");
        assert_eq!(items.len(), 120, "{scheme:?}");
        assert_eq!(items[0]["id"], json!(format!("{:024x}", 0)));
        assert_eq!(items[119]["id"], json!(format!("{:024x}", 119)));
        assert_eq!(server.count_path(USERS_PATH), 3, "50 + 50 + 20");

        // An empty list: one request, no items.
        server.set_user_count(0);
        let (items, err) = collect(&api, Paginator::new(gateway(&server), "/users?per_page=10").unwrap());
        assert!(items.is_empty() && err.is_none());
    }
}

#[test]
fn next_on_another_origin_is_not_followed() {
    let server = start(Scheme::Http);
    let other = TestServer::start().unwrap();
    let api = api(&server, &["users:read"]);
    let foreign = format!("{}/users?page=2", other.base_url());
    server.inject_on(FaultTarget::Path(USERS_PATH), Fault::field("_links", json!({ "next": { "href": foreign } })), 1);
    let (items, err) = collect(&api, Paginator::new(gateway(&server), "/users").unwrap());
    assert_eq!(items.len(), 50, "the first page's items are yielded");
    assert!(matches!(err, Some(ApiError::ForeignNext { .. })), "{err:?}");
    assert_eq!(other.request_count(), 0, "no token went to the other host");
}

#[test]
fn the_page_bound_and_a_loop_stop_the_list() {
    let server = start(Scheme::Http);
    let api = api(&server, &["users:read"]);
    let paginator = Paginator::new(gateway(&server), "/users?per_page=10").unwrap().with_max_pages(3);
    let (items, err) = collect(&api, paginator);
    assert_eq!(items.len(), 30);
    assert!(matches!(err, Some(ApiError::PageLimit { pages: 3, .. })), "{err:?}");

    // `next` pointing back at the page just read.
    let same = format!("{}/users", server.base_url());
    server.inject_on(FaultTarget::Path(USERS_PATH), Fault::field("_links", json!({ "next": { "href": same } })), 1);
    let (items, err) = collect(&api, Paginator::new(gateway(&server), "/users").unwrap());
    assert_eq!(items.len(), 50);
    assert!(err.unwrap().to_string().contains("already read"));
}

#[test]
fn talkdesk_errors_are_typed_and_readable() {
    let server = start(Scheme::Http);
    let api = api(&server, &["users:read"]);
    let body = talkdesk_error_body("0330001", "Invalid parameters", &[("per_page", "must be at most 100")]);
    server.inject_on(
        FaultTarget::Path(USERS_PATH),
        Fault::Respond { status: 400, headers: vec![("Content-Type".into(), "application/json".into())], body },
        1,
    );
    let err = api.get_json::<Value>("/users").unwrap_err();
    let ApiError::Talkdesk(talkdesk) = &err else { panic!("{err:?}") };
    assert_eq!(talkdesk.code(), Some("0330001"));
    assert_eq!(talkdesk.fields()[0].name(), "per_page");
    let text = err.to_string();
    assert!(text.contains("HTTP 400") && text.contains("Invalid parameters") && text.contains("per_page"), "{text}");

    // The server's own refusal of a bad parameter, and a bare 502 without a Talkdesk body.
    let err = api.get_json::<Value>("/users?per_page=1000").unwrap_err();
    assert!(err.to_string().contains("per_page"), "{err}");
    server.inject_on(FaultTarget::Path(USERS_PATH), Fault::html(502), 1);
    let err = api.get_json::<Value>("/users").unwrap_err();
    assert!(matches!(err, ApiError::UnexpectedStatus { .. }) && err.is_retryable(), "{err:?}");
    // A path that would leave the gateway is refused before anything is sent.
    let before = server.request_count();
    assert!(matches!(api.get_json::<Value>("//evil.example/x"), Err(ApiError::InvalidPath { .. })));
    assert_eq!(server.request_count(), before);
}

#[test]
fn an_error_never_shows_the_token_the_gateway_echoes() {
    let server = start(Scheme::Http);
    let api = api(&server, &["users:read"]);
    let response = api.call(http::Method::GET, ECHO_AUTHORIZATION_PATH, Vec::new()).unwrap();
    // The gateway echoes what it received in a header too: the test's way to know the token.
    let sent = response.headers()["x-echo-authorization"].to_str().unwrap().to_owned();
    let token = sent.strip_prefix("Bearer ").unwrap();
    assert!(token.len() > 100, "a real token: {token}");
    for err in [ApiError::from_response(&response), api.get_json::<Value>(ECHO_AUTHORIZATION_PATH).unwrap_err()] {
        let shown = format!("{err} {err:?}");
        assert!(shown.contains("HTTP 400") && shown.contains(&format!("Bearer {REDACTED}")), "{shown}");
        assert!(!shown.contains(&token[..MIN_PIECE]) && !shown.contains(&token[token.len() - MIN_PIECE..]), "{shown}");
    }
}

#[test]
fn lifecycle_calls_are_recorded_and_409_means_done() {
    let server = start(Scheme::Http);
    let api = api(&server, &["apps:read", "apps:write"]);
    let gateway = gateway(&server);
    let approve =
        installation_state_request(&gateway, TEST_APP_ID, "inst-acme", InstallationDecision::Approve, Some("ok"))
            .unwrap();
    assert!(api.send(approve).unwrap().status().is_success());
    assert_eq!(server.installation_state("inst-acme"), "completed");

    let ack = || credentials_state_request(&gateway, TEST_APP_ID, "inst-acme", "client-new").unwrap();
    assert!(api.send(ack()).unwrap().status().is_success());
    assert_eq!(api.send(ack()).unwrap().status(), 409);
    assert_eq!(
        server.acknowledgements(),
        vec![
            Acknowledgement::InstallationState {
                app_id: TEST_APP_ID.into(),
                installation_id: "inst-acme".into(),
                state: "approve".into(),
                reason: Some("ok".into()),
            },
            Acknowledgement::CredentialsRotation {
                app_id: TEST_APP_ID.into(),
                installation_id: "inst-acme".into(),
                client_id: "client-new".into(),
            },
        ]
    );

    // Without apps:write: a Talkdesk 403, not a 409.
    let read_only = self::api(&server, &["apps:read"]);
    let answer = read_only.send(ack()).unwrap();
    let err = td_oauth_api::check_status(&answer).unwrap_err();
    assert!(err.to_string().contains("apps:write"), "{err}");
}

#[test]
fn sts_tokens_go_without_bearer() {
    let server = start(Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let tokens = TokenClient::new(&endpoints(&server), basic_credentials(&creds)).with_token_kind(TokenKind::Sts);
    let sts = Client::from_token_client(tokens, fast_config(&server))
        .unwrap()
        .provider(Grant::client_credentials(Scopes::none()));
    let api = ApiClient::new(sts.clone(), gateway(&server));
    let response = api.call(http::Method::GET, STS_ME_PATH, Vec::new()).unwrap();
    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(response.body()));
    assert_eq!(sts.token().unwrap().kind(), TokenKind::Sts);

    // A Bearer token is refused by the STS resource, so the test above can fail.
    let bearer = self::api(&server, &[]);
    assert_eq!(bearer.call(http::Method::GET, STS_ME_PATH, Vec::new()).unwrap().status(), 401);
}

#[test]
fn a_user_session_is_ended() {
    let server = start(Scheme::Http);
    let spec = ClientSpec::new(Algorithm::Es256).scopes(["user-session-public:end"]);
    let creds = server.register_client_with(spec).unwrap();
    let client = jwt_client(&server, &creds, |c| c);
    let provider = client.provider(Grant::client_credentials(Scopes::new(["user-session-public:end"]).unwrap()));
    let api = ApiClient::new(provider, gateway(&server));
    api.end_user_session(&endpoints(&server), &UserId::new(TEST_USER_ID).unwrap()).unwrap();
    assert_eq!(
        server.acknowledgements(),
        vec![Acknowledgement::EndUserSession { user_id: TEST_USER_ID.into(), reason: "force_logout".into() }]
    );
}
