//! The Talkdesk API side of the server: userinfo (`GET /users/me`, 400 "no user context" for a token
//! without a user), a paginated HAL list (`GET /users`, `_links.next` until the last page), the Apps API's
//! lifecycle calls (installation state, credential-rotation state, reading an installation), ending a
//! user's session (`POST /oauth/end_user_session`), and `GET /sts/me`, which takes an STS token: the
//! bare token in `Authorization`, no `Bearer`. Every refusal is a Talkdesk error body (`code`, `message`,
//! `description`, `fields`), and every lifecycle call is recorded for tests to assert on.

use std::collections::HashMap;

use http::header::AUTHORIZATION;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use crate::paths::{ECHO_AUTHORIZATION_PATH, END_USER_SESSION_PATH, STS_ME_PATH, USERS_ME_PATH, USERS_PATH};
use crate::record::Acknowledgement;
use crate::reply::Reply;
use crate::state::Shared;
use crate::token::TEST_USER;

/// The id `/users/me` gives the test user (24 characters, as Talkdesk's user ids).
pub const TEST_USER_ID: &str = "5f1b2c3d4e5f60718293a4b5";

/// A Talkdesk error answer.
pub(crate) fn talkdesk_error(status: StatusCode, code: &str, message: &str, fields: &[(&str, &str)]) -> Reply {
    let fields: Vec<Value> =
        fields.iter().map(|(name, description)| json!({"name": name, "description": description})).collect();
    let mut body = json!({ "code": code, "message": message, "description": message });
    if !fields.is_empty() {
        body["fields"] = Value::Array(fields);
    }
    Reply::json(status, &body)
}

/// Whether `path` is one this module serves.
pub(crate) fn serves(path: &str) -> bool {
    path == USERS_ME_PATH
        || path == USERS_PATH
        || path == END_USER_SESSION_PATH
        || path == STS_ME_PATH
        || path == ECHO_AUTHORIZATION_PATH
        || path.starts_with("/apps/")
}

/// Handles an API request.
pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    if path == ECHO_AUTHORIZATION_PATH {
        return echo_authorization(headers);
    }
    let sts = path == STS_ME_PATH;
    let claims = match authenticate(shared, headers, sts) {
        Ok(claims) => claims,
        Err(reply) => return *reply,
    };
    match (method.as_str(), path) {
        ("GET", USERS_ME_PATH) => users_me(&claims),
        ("GET", USERS_PATH) => users(shared, query),
        ("GET", STS_ME_PATH) => Reply::json(StatusCode::OK, &json!({ "client_id": claims.get("cid"), "kind": "sts" })),
        ("POST", END_USER_SESSION_PATH) => end_user_session(shared, &claims, body),
        (_, path) if path.starts_with("/apps/") => apps(shared, method, path, &claims, body),
        _ => talkdesk_error(StatusCode::METHOD_NOT_ALLOWED, "0000405", "method not allowed on this path", &[]),
    }
}

/// The token's claims, if it is a live token this server issued, sent as `Bearer <token>` (or bare,
/// for the STS resource).
fn authenticate(shared: &Shared, headers: &HeaderMap, sts: bool) -> Result<Value, Box<Reply>> {
    let unauthorized = |message: &str| Box::new(talkdesk_error(StatusCode::UNAUTHORIZED, "0000401", message, &[]));
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default().trim();
    let token = if sts {
        if header.contains(' ') {
            return Err(unauthorized("STS tokens are sent bare: `Authorization: <token>`, without `Bearer`"));
        }
        header
    } else {
        match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(unauthorized("an Authorization: Bearer header is required")),
        }
    };
    {
        let mut state = shared.lock();
        if state.api_failures > 0 {
            state.api_failures -= 1;
            return Err(unauthorized("the access token was rejected (injected)"));
        }
    }
    let claims = shared.issuer.verify(token).map_err(|reason| unauthorized(&reason))?;
    let live = claims.get("jti").and_then(Value::as_str).is_some_and(|jti| shared.lock().access_tokens.contains(jti));
    if !live {
        return Err(unauthorized("the access token was revoked"));
    }
    Ok(claims)
}

/// What a gateway that echoes its request answers (see [`ECHO_AUTHORIZATION_PATH`]); it checks nothing.
fn echo_authorization(headers: &HeaderMap) -> Reply {
    let header = headers.get(AUTHORIZATION).cloned();
    let sent = String::from_utf8_lossy(header.as_ref().map(http::HeaderValue::as_bytes).unwrap_or_default());
    let body = json!({
        "code": sent,
        "message": format!("invalid header Authorization: {sent}"),
        "description": format!("the gateway received {sent}"),
        "error": sent,
        "fields": [{ "name": sent, "description": format!("{sent} is not accepted here") }],
    });
    let mut reply = Reply::json(StatusCode::BAD_REQUEST, &body);
    if let Some(header) = header {
        reply.headers.insert("x-echo-authorization", header);
    }
    reply
}

fn has_scope(claims: &Value, scope: &str) -> bool {
    claims.get("scp").and_then(Value::as_array).is_some_and(|scopes| scopes.iter().any(|s| s == scope))
}

fn forbidden(scope: &str) -> Reply {
    talkdesk_error(StatusCode::FORBIDDEN, "0000403", &format!("the token lacks scope {scope}"), &[])
}

fn users_me(claims: &Value) -> Reply {
    if claims.get("sub").and_then(Value::as_str) != Some(TEST_USER) {
        return talkdesk_error(StatusCode::BAD_REQUEST, "0000400", "no user context", &[]);
    }
    Reply::json(
        StatusCode::OK,
        &json!({
            "id": TEST_USER_ID,
            "sub": TEST_USER,
            "name": "Testkit User",
            "email": "testkit-user@example.com",
            "_links": { "self": { "href": USERS_ME_PATH } },
        }),
    )
}

/// `page` (from 1) and `per_page` (1 to 100, default 50) from the query; a bad value is a Talkdesk error
/// naming the field.
fn paging(query: Option<&str>) -> Result<(usize, usize), Box<Reply>> {
    let mut page = 1;
    let mut per_page = 50;
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let parsed = value.parse::<usize>().ok();
        match (name.as_ref(), parsed) {
            ("page", Some(n)) if n >= 1 => page = n,
            ("per_page", Some(n)) if (1..=100).contains(&n) => per_page = n,
            ("page" | "per_page", _) => {
                return Err(Box::new(talkdesk_error(
                    StatusCode::BAD_REQUEST,
                    "0000400",
                    "invalid paging parameters",
                    &[(
                        if name == "page" { "page" } else { "per_page" },
                        "must be a positive integer (per_page at most 100)",
                    )],
                )));
            }
            _ => {}
        }
    }
    Ok((page, per_page))
}

fn users(shared: &Shared, query: Option<&str>) -> Reply {
    let (page, per_page) = match paging(query) {
        Ok(paging) => paging,
        Err(reply) => return *reply,
    };
    let total = shared.lock().api.user_count;
    let start = (page - 1).saturating_mul(per_page).min(total);
    let end = start.saturating_add(per_page).min(total);
    let items: Vec<Value> = (start..end)
        .map(|i| json!({ "id": format!("{i:024x}"), "name": format!("User {i}"), "email": format!("user{i}@example.com") }))
        .collect();
    let mut links =
        json!({ "self": { "href": format!("{}{USERS_PATH}?page={page}&per_page={per_page}", shared.base_url) } });
    if end < total {
        links["next"] =
            json!({ "href": format!("{}{USERS_PATH}?page={}&per_page={per_page}", shared.base_url, page + 1) });
    }
    Reply::json(
        StatusCode::OK,
        &json!({
            "total": total,
            "count": items.len(),
            "page": page,
            "per_page": per_page,
            "total_pages": total.div_ceil(per_page),
            "_embedded": { "users": items },
            "_links": links,
        }),
    )
}

fn end_user_session(shared: &Shared, claims: &Value, body: &[u8]) -> Reply {
    if !has_scope(claims, "user-session-public:end") {
        return forbidden("user-session-public:end");
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let user_id = form.get("user_id").cloned().unwrap_or_default();
    let reason = form.get("reason").cloned().unwrap_or_default();
    if user_id.len() != 24 || reason != "force_logout" {
        return talkdesk_error(
            StatusCode::BAD_REQUEST,
            "0000400",
            "invalid request",
            &[("user_id", "24 characters"), ("reason", "must be force_logout")],
        );
    }
    shared.lock().api.acknowledgements.push(Acknowledgement::EndUserSession { user_id, reason });
    Reply { status: StatusCode::NO_CONTENT, headers: HeaderMap::new(), body: bytes::Bytes::new() }
}

/// `/apps/{app}/installations/{id}[/state | /credentials/{client}/state]`.
fn apps(shared: &Shared, method: &Method, path: &str, claims: &Value, body: &[u8]) -> Reply {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = || talkdesk_error(StatusCode::NOT_FOUND, "0000404", "app or installation not found", &[]);
    let json_body = || serde_json::from_slice::<Value>(body).ok().filter(Value::is_object);
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["apps", _app, "installations", installation]) => {
            if !has_scope(claims, "apps:read") {
                return forbidden("apps:read");
            }
            let state = shared.lock().api.installations.get(*installation).cloned().unwrap_or_else(|| "pending".into());
            Reply::json(
                StatusCode::OK,
                &json!({ "id": installation, "state": state, "scopes": claims.get("scp").cloned().unwrap_or(json!([])) }),
            )
        }
        ("POST", ["apps", app, "installations", installation, "state"]) => {
            if !has_scope(claims, "apps:write") {
                return forbidden("apps:write");
            }
            let Some(request) = json_body() else {
                return talkdesk_error(StatusCode::BAD_REQUEST, "0000400", "the body is not a JSON object", &[]);
            };
            let state = request.get("state").and_then(Value::as_str).unwrap_or_default().to_owned();
            if state != "approve" && state != "reject" {
                return talkdesk_error(
                    StatusCode::BAD_REQUEST,
                    "0000400",
                    "invalid state",
                    &[("state", "allowed values: approve, reject")],
                );
            }
            let reason = request.get("reason").and_then(Value::as_str).map(str::to_owned);
            let mut guard = shared.lock();
            let completed = if state == "approve" { "completed" } else { "rejected" };
            guard.api.installations.insert((*installation).to_owned(), completed.to_owned());
            guard.api.acknowledgements.push(Acknowledgement::InstallationState {
                app_id: (*app).to_owned(),
                installation_id: (*installation).to_owned(),
                state: state.clone(),
                reason: reason.clone(),
            });
            Reply::json(StatusCode::OK, &json!({ "state": state, "reason": reason }))
        }
        ("POST", ["apps", app, "installations", installation, "credentials", client, "state"]) => {
            if !has_scope(claims, "apps:write") {
                return forbidden("apps:write");
            }
            if json_body().and_then(|b| b.get("state").and_then(Value::as_str).map(str::to_owned)).as_deref()
                != Some("acknowledged")
            {
                return talkdesk_error(
                    StatusCode::BAD_REQUEST,
                    "0000400",
                    "invalid state",
                    &[("state", "allowed value: acknowledged")],
                );
            }
            let record = Acknowledgement::CredentialsRotation {
                app_id: (*app).to_owned(),
                installation_id: (*installation).to_owned(),
                client_id: (*client).to_owned(),
            };
            let mut guard = shared.lock();
            if guard.api.acknowledgements.contains(&record) {
                return talkdesk_error(
                    StatusCode::CONFLICT,
                    "0000409",
                    "the credentials are already acknowledged",
                    &[],
                );
            }
            guard.api.acknowledgements.push(record);
            Reply::json(StatusCode::ACCEPTED, &json!({ "state": "acknowledged" }))
        }
        _ => not_found(),
    }
}

/// A Talkdesk error body, for tests that inject one (`Fault::Respond`) or check how it is read.
pub fn talkdesk_error_body(code: &str, message: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    talkdesk_error(StatusCode::BAD_REQUEST, code, message, fields).body.to_vec()
}
