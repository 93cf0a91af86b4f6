//! The Talkdesk API pieces, sans-IO: gateways and the `_links.root` allow-list, paths that cannot leave
//! the gateway, Talkdesk error bodies, HAL pages and the paginator's stops, userinfo, ending a session,
//! STS header values; arbitrary bytes never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use http::{Response, StatusCode};
use proptest::prelude::*;
use td_oauth_api::{
    ApiError, ApiGateway, GatewayAllowList, HalPage, PageStep, Paginator, REDACTED, SentCredentials, TalkdeskError,
    UserId, UserInfo, end_user_session_request,
};
use td_oauth_core::response::TokenKind;
use td_oauth_core::transport::authorization;
use td_oauth_core::{Endpoints, Region, TokenResponse};

fn us() -> ApiGateway {
    ApiGateway::for_region(Region::Us).unwrap()
}

fn answer(status: u16, body: &str) -> Response<Vec<u8>> {
    Response::builder().status(status).body(body.as_bytes().to_vec()).unwrap()
}

#[test]
fn gateways_per_region_and_au_needs_a_url() {
    assert_eq!(us().url().as_str(), "https://api.talkdeskapp.com/");
    assert_eq!(ApiGateway::for_region(Region::Eu).unwrap().origin(), "https://api.talkdeskapp.eu");
    assert_eq!(ApiGateway::for_region(Region::Ca).unwrap().origin(), "https://api.talkdeskappca.com");
    let err = ApiGateway::for_region(Region::Au).unwrap_err();
    assert!(matches!(err, ApiError::NoGateway { .. }) && err.to_string().contains("_links.root"), "{err}");
    assert!(ApiGateway::from_url("http://api.example.com").is_err(), "http only on loopback");
    let endpoints = Endpoints::talkdesk("acme", Region::Eu).unwrap();
    assert_eq!(ApiGateway::from_endpoints(&endpoints).unwrap().origin(), "https://api.talkdeskapp.eu");
    assert!(ApiGateway::from_endpoints(&Endpoints::talkdesk("acme", Region::Au).unwrap()).is_err());
}

#[test]
fn paths_never_leave_the_gateway() {
    let gateway = ApiGateway::from_url("https://api.talkdeskapp.com/v2").unwrap();
    assert_eq!(gateway.uri_for("/users?page=2").unwrap(), "https://api.talkdeskapp.com/v2/users?page=2");
    assert_eq!(gateway.uri_for("https://api.talkdeskapp.com/x").unwrap(), "https://api.talkdeskapp.com/x");
    for bad in [
        "//evil.example/x",
        "https://evil.example/users",
        "https://api.talkdeskapp.com.evil.example/",
        "http://api.talkdeskapp.com/users",
        "/../admin",
        "/users/%2e%2e/admin",
        "/users/%2E./x",
        "users",
        "/users#frag",
        "/users\n",
        "/a b",
        "https://user@api.talkdeskapp.com/x",
    ] {
        assert!(matches!(gateway.url_for(bad), Err(ApiError::InvalidPath { .. })), "{bad:?} was accepted");
    }
}

#[test]
fn the_allow_list_guards_links_root() {
    let allowed = GatewayAllowList::default();
    assert_eq!(allowed.origins().count(), 3);
    for good in ["https://api.talkdeskapp.com", "https://api.talkdeskapp.eu/", "https://api.talkdeskappca.com"] {
        allowed.gateway_from_root(good).unwrap();
    }
    for bad in ["https://api.talkdeskapp.com:8443", "https://evil.example", "https://api.talkdeskapp.au"] {
        let err = allowed.gateway_from_root(bad).unwrap_err();
        assert!(matches!(err, ApiError::HostNotAllowed { .. }), "{bad}: {err:?}");
    }
    let au = allowed.with_origin("https://api.talkdeskapp.au").unwrap();
    au.gateway_from_root("https://api.talkdeskapp.au").unwrap();
    assert!(GatewayAllowList::empty().gateway_from_root("https://api.talkdeskapp.com").is_err());
}

#[test]
fn talkdesk_error_bodies_are_typed() {
    let body = br#"{"code":"0330001","message":"Invalid\u001b[31m parameters","description":"see fields","fields":[{"name":"per_page","description":"too big"}]}"#;
    let err = TalkdeskError::parse(StatusCode::BAD_REQUEST, body, None).unwrap();
    assert_eq!(err.code(), Some("0330001"));
    assert_eq!(err.message(), Some("Invalid[31m parameters"), "control characters are removed");
    assert_eq!(err.fields()[0].name(), "per_page");
    assert!(err.to_string().contains("field `per_page`: too big"));
    // The Apps API's `{"error": …}`, a numeric code, and bodies that are not Talkdesk errors.
    assert_eq!(
        TalkdeskError::parse(StatusCode::NOT_FOUND, br#"{"error":"not found"}"#, None).unwrap().message(),
        Some("not found")
    );
    assert_eq!(TalkdeskError::parse(StatusCode::CONFLICT, br#"{"code":409}"#, None).unwrap().code(), Some("409"));
    assert!(TalkdeskError::parse(StatusCode::BAD_GATEWAY, b"<html>", None).is_none());
    assert!(TalkdeskError::parse(StatusCode::BAD_GATEWAY, br#"{"other":1}"#, None).is_none());
    let bare = ApiError::from_response(&answer(502, "<html>bad gateway</html>"));
    assert!(matches!(bare, ApiError::UnexpectedStatus { .. }) && bare.is_retryable());
    assert!(!bare.to_string().contains("bad gateway"), "the body is described, not quoted");
}

/// A Talkdesk error whose every text echoes the request's credentials, in the forms a gateway may use.
fn echoing(status: u16, authorization: &str, token: &str) -> Response<Vec<u8>> {
    let escaped = serde_json::to_string(&format!("{authorization} (escaped)")).unwrap().replace('/', "\\/");
    let percent = token.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    let body = format!(
        r#"{{"code":{code},"message":"invalid header {authorization}","description":{escaped},"error":"x",
            "fields":[{{"name":"{token}","description":"sent ?h={percent} and {cut}\u001b[0m"}}]}}"#,
        code = serde_json::to_string(&format!("bad {token}")).unwrap(),
        cut = &token[..40],
    );
    answer(status, &body)
}

#[test]
fn errors_never_show_the_credentials_their_request_carried() {
    let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl+c2VjcmV0/cGFydA==";
    let bearer = format!("Bearer {token}");
    let long = format!("{token}{}", "x".repeat(600));
    for (authorization, token) in [
        (bearer.as_str(), token),
        (
            "stsTokenSentBare0123456789abcdefghijklmnopqrstuvwxyz",
            "stsTokenSentBare0123456789abcdefghijklmnopqrstuvwxyz",
        ),
        (&*format!("Bearer {long}"), long.as_str()),
    ] {
        let request = http::Request::get("https://api.talkdeskapp.com/users")
            .header("authorization", authorization)
            .body(())
            .unwrap();
        let sent = SentCredentials::of_request(&request);
        for status in [400, 403, 500] {
            let mut response = echoing(status, authorization, token);
            // Without the credentials, the error shows what the server sent (the rule has nothing to go on).
            assert!(ApiError::from_response(&response).to_string().contains(&token[..40]));
            response.extensions_mut().insert(sent.clone());
            let err = ApiError::from_response(&response);
            let shown = format!("{err} {err:?}");
            assert!(shown.contains(REDACTED) && shown.contains("invalid header"), "{shown}");
            for piece in token.as_bytes().chunks(16).filter(|piece| piece.len() == 16) {
                let piece = std::str::from_utf8(piece).unwrap();
                assert!(!shown.contains(piece), "{piece} shown in {shown}");
            }
            let talkdesk = err.talkdesk().unwrap();
            // Short texts (64 characters) cut the long token: the piece left is replaced too.
            assert!(talkdesk.code().unwrap().starts_with(&format!("bad {REDACTED}")), "{talkdesk:?}");
            assert!(talkdesk.fields()[0].name().starts_with(REDACTED), "{talkdesk:?}");
        }
        // userinfo's 400 (no user context) keeps the message, redacted.
        let mut response = echoing(400, authorization, token);
        response.extensions_mut().insert(sent.clone());
        let err = UserInfo::from_http(&response).unwrap_err();
        assert!(matches!(err, ApiError::NoUserContext(Some(_))) && err.to_string().contains(REDACTED), "{err}");
        assert!(!err.to_string().contains(&token[..16]), "{err}");
    }
}

#[test]
fn hal_pages_and_their_items() {
    let url = url::Url::parse("https://api.talkdeskapp.com/users?page=1").unwrap();
    let page = HalPage::parse(
        StatusCode::OK,
        br#"{"total":3,"count":2,"page":1,"per_page":2,"_embedded":{"users":[{"id":1},{"id":2}]},"_links":{"next":{"href":"/users?page=2"}}}"#,
        &url,
        None,
    )
    .unwrap();
    assert_eq!((page.items().len(), page.total(), page.per_page()), (2, Some(3), Some(2)));
    assert_eq!(page.next().unwrap().as_str(), "https://api.talkdeskapp.com/users?page=2", "relative next resolved");
    let two = br#"{"_embedded":{"users":[],"teams":[]}}"#;
    assert!(HalPage::parse(StatusCode::OK, two, &url, None).unwrap_err().to_string().contains("several arrays"));
    assert_eq!(HalPage::parse(StatusCode::OK, two, &url, Some("teams")).unwrap().items().len(), 0);
    assert!(HalPage::parse(StatusCode::OK, br#"{"_embedded":{}}"#, &url, Some("users")).is_err());
    assert!(HalPage::parse(StatusCode::OK, b"[]", &url, None).is_err());
    assert!(HalPage::parse(StatusCode::OK, br#"{"total":0}"#, &url, None).unwrap().items().is_empty());
}

#[test]
fn the_paginator_walks_item_by_item_and_stops_where_it_must() {
    let mut pages = Paginator::new(us(), "/users").unwrap();
    assert!(pages.read_page(&answer(200, "{}")).is_err(), "no answer before a request");
    let PageStep::Fetch(request) = pages.next_step().unwrap() else { panic!() };
    assert_eq!(request.uri(), "https://api.talkdeskapp.com/users");
    pages
        .receive(&answer(
            200,
            r#"{"_embedded":{"users":[{"id":"a"}]},"_links":{"next":{"href":"https://evil.example/users"}}}"#,
        ))
        .unwrap();
    assert!(matches!(pages.next_step().unwrap(), PageStep::Item(item) if item["id"] == "a"));
    assert!(matches!(pages.next_step(), Err(ApiError::ForeignNext { .. })));
    assert!(matches!(pages.next_step().unwrap(), PageStep::Done), "done after the error");

    // An error answer ends it with the Talkdesk error.
    let mut pages = Paginator::new(us(), "/users").unwrap();
    let _ = pages.next_step().unwrap();
    assert!(matches!(
        pages.receive(&answer(403, r#"{"code":"403","message":"no scope"}"#)),
        Err(ApiError::Talkdesk(_))
    ));
    assert!(pages.is_done());
}

#[test]
fn userinfo_and_its_400() {
    let request = UserInfo::request(&us()).unwrap();
    assert_eq!(request.uri(), "https://api.talkdeskapp.com/users/me");
    assert!(!request.headers().contains_key(http::header::AUTHORIZATION));
    let me =
        UserInfo::from_http(&answer(200, r#"{"id":"u1","sub":"s","name":"N","email":"e@x","_links":{}}"#)).unwrap();
    assert_eq!((me.id.as_deref(), me.sub.as_deref(), me.email.as_deref()), (Some("u1"), Some("s"), Some("e@x")));
    assert_eq!(me.user(), Some("u1"), "Talkdesk's id first");
    let err = UserInfo::from_http(&answer(400, r#"{"code":"0000400","message":"no user context"}"#)).unwrap_err();
    assert!(matches!(err, ApiError::NoUserContext(Some(_))), "{err:?}");
    // A standard OpenID Connect userinfo answer: `sub` is the one claim it must send.
    let me = UserInfo::from_http(&answer(200, r#"{"sub":"bob"}"#)).unwrap();
    assert_eq!((me.id.as_deref(), me.sub.as_deref(), me.user()), (None, Some("bob"), Some("bob")));
    for nobody in [r#"{"name":"no id"}"#, r#"{"sub":"","id":""}"#, r#"{"sub":null}"#] {
        let err = UserInfo::from_http(&answer(200, nobody)).unwrap_err();
        assert!(matches!(err, ApiError::Malformed { .. }) && err.to_string().contains("neither `sub`"), "{err}");
    }
    let err = UserInfo::from_http(&answer(200, r#"{"id":"secret-ish-value","name":7}"#)).unwrap_err();
    assert!(!err.to_string().contains("secret-ish"), "values are not quoted: {err}");
}

#[test]
fn ending_a_session() {
    let endpoints = Endpoints::talkdesk("acme", Region::Eu).unwrap();
    let user = UserId::new("5f1b2c3d4e5f60718293a4b5").unwrap();
    let request = end_user_session_request(&endpoints, &user).unwrap();
    assert_eq!(request.uri(), "https://acme.talkdeskid.eu/oauth/end_user_session");
    assert_eq!(request.body().as_slice(), b"user_id=5f1b2c3d4e5f60718293a4b5&reason=force_logout");
    assert!(UserId::new("short").is_err());
    assert!(UserId::new("5f1b2c3d4e5f60718293a4b&").is_err());
}

#[test]
fn sts_tokens_carry_no_bearer_word() {
    let response = answer(200, r#"{"access_token":"abc.def","token_type":"Bearer","expires_in":600}"#);
    let token = TokenResponse::from_http(&response, Instant::now()).unwrap();
    assert_eq!(authorization(&token).unwrap(), "Bearer abc.def");
    let sts = token.with_kind(TokenKind::Sts);
    let value = authorization(&sts).unwrap();
    assert_eq!(value, "abc.def");
    assert!(value.is_sensitive());
    assert!(sts.to_string().starts_with("STS token"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), status in 100u16..600) {
        let url = url::Url::parse("https://api.talkdeskapp.com/users").unwrap();
        let _ = HalPage::parse(StatusCode::OK, &body, &url, None);
        if let Ok(status) = StatusCode::from_u16(status) {
            let response = Response::builder().status(status).body(body.clone()).unwrap();
            let _ = ApiError::from_response(&response);
            let _ = UserInfo::from_http(&response);
        }
    }
}
