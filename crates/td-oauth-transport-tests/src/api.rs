//! The Talkdesk API over sockets against the testkit: userinfo with a user token and the 400 of a
//! client-credentials one, HAL lists followed to their end (and stopped at another origin or the page
//! bound), Talkdesk error bodies, the Apps API's lifecycle calls (409 = already done), STS tokens sent
//! without `Bearer`, and ending a user's session.

use serde_json::json;
use td_oauth_api::{ApiError, ApiGateway, MIN_PIECE, Paginator, REDACTED, UserId};
use td_oauth_core::response::TokenKind;
use td_oauth_core::{Grant, RefreshToken, Scopes, TokenClient};
use td_oauth_partner::{InstallationDecision, credentials_state_request, installation_state_request};
use td_oauth_testkit::{
    Acknowledgement, Algorithm, ClientSpec, ECHO_AUTHORIZATION_PATH, Fault, FaultTarget, STS_ME_PATH, TEST_APP_ID,
    TEST_USER_ID, TestServer, USERS_PATH, talkdesk_error_body,
};

use crate::driver::Driver;
use crate::setup::{SCHEMES, Scheme, basic, config, endpoints, jwt, register, server};

fn gateway(server: &TestServer) -> ApiGateway {
    ApiGateway::from_url(server.base_url()).unwrap()
}

fn provider<D: Driver>(server: &TestServer, credentials: td_oauth_core::Credentials, grant: Grant) -> D::Provider {
    let client = D::client(TokenClient::new(&endpoints(server), credentials), config(server)).unwrap();
    D::provider(&client, grant)
}

/// An API client on the client-credentials tokens of a new client, with `scopes`.
fn api<D: Driver>(server: &TestServer, scopes: &[&str]) -> D::Api {
    let grant = Grant::client_credentials(Scopes::new(scopes.iter().copied()).unwrap());
    D::api(provider::<D>(server, jwt(&register(server)), grant), gateway(server))
}

/// Userinfo answers for a user's token, and a client-credentials token is told it has no user.
pub fn userinfo_needs_a_user_token<D: Driver>() {
    for scheme in SCHEMES {
        let server = server(scheme);
        let creds = register(&server);
        let refresh = server.issue_refresh_token(&creds.client_id, &["openid", "users:read"]);
        let user =
            provider::<D>(&server, jwt(&creds), Grant::refresh_token(RefreshToken::new(refresh), Scopes::none()));
        D::block_on(async {
            let me = D::userinfo(&D::api(user, gateway(&server))).await.unwrap();
            assert_eq!(me.id.as_deref(), Some(TEST_USER_ID), "{scheme:?}");
            assert_eq!(me.email.as_deref(), Some("testkit-user@example.com"));

            let err = D::userinfo(&api::<D>(&server, &["users:read"])).await.unwrap_err();
            assert!(matches!(err, ApiError::NoUserContext(Some(_))), "{err:?}");
            assert!(err.to_string().contains("authorization-code flow"), "{err}");
        });
    }
}

/// A list is followed along `_links.next` to its last page; an empty list is one request.
pub fn a_list_is_followed_along_next_to_its_end<D: Driver>() {
    for scheme in SCHEMES {
        let server = server(scheme);
        server.set_user_count(120);
        let api = api::<D>(&server, &["users:read"]);
        D::block_on(async {
            let (items, err) = D::items(&api, Paginator::new(gateway(&server), "/users").unwrap()).await;
            assert!(err.is_none(), "{err:?}");
            assert_eq!(items.len(), 120, "{scheme:?}");
            assert_eq!(items[0]["id"], json!(format!("{:024x}", 0)));
            assert_eq!(items[119]["id"], json!(format!("{:024x}", 119)));
            assert_eq!(server.count_path(USERS_PATH), 3, "50 + 50 + 20");

            // An empty list: one request, no items.
            server.set_user_count(0);
            let (items, err) = D::items(&api, Paginator::new(gateway(&server), "/users?per_page=10").unwrap()).await;
            assert!(items.is_empty() && err.is_none());
        });
    }
}

/// A `next` link to another origin ends the list there: no token goes to the other host.
pub fn next_on_another_origin_is_not_followed<D: Driver>() {
    let server = server(Scheme::Http);
    let other = TestServer::start().unwrap();
    let api = api::<D>(&server, &["users:read"]);
    let foreign = format!("{}/users?page=2", other.base_url());
    server.inject_on(FaultTarget::Path(USERS_PATH), Fault::field("_links", json!({ "next": { "href": foreign } })), 1);
    let (items, err) = D::block_on(D::items(&api, Paginator::new(gateway(&server), "/users").unwrap()));
    assert_eq!(items.len(), 50, "the first page's items are yielded");
    assert!(matches!(err, Some(ApiError::ForeignNext { .. })), "{err:?}");
    assert_eq!(other.request_count(), 0, "no token went to the other host");
}

/// The page bound ends a long list, and a `next` link back to the page just read ends a loop.
pub fn the_page_bound_and_a_loop_stop_the_list<D: Driver>() {
    let server = server(Scheme::Http);
    let api = api::<D>(&server, &["users:read"]);
    let paginator = Paginator::new(gateway(&server), "/users?per_page=10").unwrap().with_max_pages(3);
    let (items, err) = D::block_on(D::items(&api, paginator));
    assert_eq!(items.len(), 30);
    assert!(matches!(err, Some(ApiError::PageLimit { pages: 3, .. })), "{err:?}");

    // `next` pointing back at the page just read.
    let same = format!("{}/users", server.base_url());
    server.inject_on(FaultTarget::Path(USERS_PATH), Fault::field("_links", json!({ "next": { "href": same } })), 1);
    let (items, err) = D::block_on(D::items(&api, Paginator::new(gateway(&server), "/users").unwrap()));
    assert_eq!(items.len(), 50);
    assert!(err.unwrap().to_string().contains("already read"));
}

/// Talkdesk error bodies become typed errors whose text names the code, the message and the fields; a
/// bare 502 is retryable; a path that would leave the gateway is refused before anything is sent.
pub fn talkdesk_errors_are_typed_and_readable<D: Driver>() {
    let server = server(Scheme::Http);
    let api = api::<D>(&server, &["users:read"]);
    let body = talkdesk_error_body("0330001", "Invalid parameters", &[("per_page", "must be at most 100")]);
    server.inject_on(
        FaultTarget::Path(USERS_PATH),
        Fault::Respond { status: 400, headers: vec![("Content-Type".into(), "application/json".into())], body },
        1,
    );
    D::block_on(async {
        let err = D::get_json(&api, "/users").await.unwrap_err();
        let ApiError::Talkdesk(talkdesk) = &err else { panic!("{err:?}") };
        assert_eq!(talkdesk.code(), Some("0330001"));
        assert_eq!(talkdesk.fields()[0].name(), "per_page");
        let text = err.to_string();
        assert!(
            text.contains("HTTP 400") && text.contains("Invalid parameters") && text.contains("per_page"),
            "{text}"
        );

        // The server's own refusal of a bad parameter, and a bare 502 without a Talkdesk body.
        let err = D::get_json(&api, "/users?per_page=1000").await.unwrap_err();
        assert!(err.to_string().contains("per_page"), "{err}");
        server.inject_on(FaultTarget::Path(USERS_PATH), Fault::html(502), 1);
        let err = D::get_json(&api, "/users").await.unwrap_err();
        assert!(matches!(err, ApiError::UnexpectedStatus { .. }) && err.is_retryable(), "{err:?}");
        // A path that would leave the gateway is refused before anything is sent.
        let before = server.request_count();
        assert!(matches!(D::get_json(&api, "//evil.example/x").await, Err(ApiError::InvalidPath { .. })));
        assert_eq!(server.request_count(), before);
    });
}

/// The Apps API's lifecycle calls reach the server and are recorded; a second acknowledgement of a rotation
/// is a 409 (already done); without `apps:write` the refusal names the scope.
pub fn lifecycle_calls_are_recorded_and_409_means_done<D: Driver>() {
    let server = server(Scheme::Http);
    let api = api::<D>(&server, &["apps:read", "apps:write"]);
    let gateway = gateway(&server);
    let approve =
        installation_state_request(&gateway, TEST_APP_ID, "inst-acme", InstallationDecision::Approve, Some("ok"))
            .unwrap();
    let ack = || credentials_state_request(&gateway, TEST_APP_ID, "inst-acme", "client-new").unwrap();
    D::block_on(async {
        assert!(D::send(&api, approve).await.unwrap().status().is_success());
        assert_eq!(server.installation_state("inst-acme"), "completed");

        assert!(D::send(&api, ack()).await.unwrap().status().is_success());
        assert_eq!(D::send(&api, ack()).await.unwrap().status(), 409);
    });
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
    let read_only = self::api::<D>(&server, &["apps:read"]);
    let answer = D::block_on(D::send(&read_only, ack())).unwrap();
    let err = td_oauth_api::check_status(&answer).unwrap_err();
    assert!(err.to_string().contains("apps:write"), "{err}");
}

/// An STS token is sent bare in `Authorization`, without `Bearer`, and the STS resource accepts it (and
/// refuses a Bearer token, so that this can fail).
pub fn sts_tokens_go_without_bearer<D: Driver>() {
    let server = server(Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let tokens = TokenClient::new(&endpoints(&server), basic(&creds)).with_token_kind(TokenKind::Sts);
    let sts = D::provider(&D::client(tokens, config(&server)).unwrap(), Grant::client_credentials(Scopes::none()));
    let api = D::api(sts.clone(), gateway(&server));
    D::block_on(async {
        let response = D::call(&api, http::Method::GET, STS_ME_PATH, Vec::new()).await.unwrap();
        assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(response.body()));
        assert_eq!(D::token(&sts).await.unwrap().kind(), TokenKind::Sts);

        // A Bearer token is refused by the STS resource, so the test above can fail.
        let bearer = self::api::<D>(&server, &[]);
        assert_eq!(D::call(&bearer, http::Method::GET, STS_ME_PATH, Vec::new()).await.unwrap().status(), 401);
    });
}

/// Ending a user's session reaches the server with the user and the reason.
pub fn a_user_session_is_ended<D: Driver>() {
    let server = server(Scheme::Http);
    let spec = ClientSpec::new(Algorithm::Es256).scopes(["user-session-public:end"]);
    let creds = server.register_client_with(spec).unwrap();
    let grant = Grant::client_credentials(Scopes::new(["user-session-public:end"]).unwrap());
    let api = D::api(provider::<D>(&server, jwt(&creds), grant), gateway(&server));
    D::block_on(D::end_user_session(&api, &endpoints(&server), &UserId::new(TEST_USER_ID).unwrap())).unwrap();
    assert_eq!(
        server.acknowledgements(),
        vec![Acknowledgement::EndUserSession { user_id: TEST_USER_ID.into(), reason: "force_logout".into() }]
    );
}

/// A gateway that echoes the `Authorization` it received into its error body: the error, shown or
/// debugged, carries a marker where the token was, and no piece of it.
pub fn an_error_never_shows_the_token_the_gateway_echoes<D: Driver>() {
    let server = server(Scheme::Http);
    let api = api::<D>(&server, &["users:read"]);
    D::block_on(async {
        let response = D::call(&api, http::Method::GET, ECHO_AUTHORIZATION_PATH, Vec::new()).await.unwrap();
        // The gateway echoes what it received in a header too: the test's way to know the token.
        let sent = response.headers()["x-echo-authorization"].to_str().unwrap().to_owned();
        let token = sent.strip_prefix("Bearer ").unwrap();
        assert!(token.len() > 100, "a real token: {token}");
        let fetched = D::get_json(&api, ECHO_AUTHORIZATION_PATH).await.unwrap_err();
        for err in [ApiError::from_response(&response), fetched] {
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("HTTP 400") && shown.contains(&format!("Bearer {REDACTED}")), "{shown}");
            assert!(
                !shown.contains(&token[..MIN_PIECE]) && !shown.contains(&token[token.len() - MIN_PIECE..]),
                "{shown}"
            );
        }
    });
}
