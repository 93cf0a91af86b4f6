//! `POST /oauth/token`: the three grants, scopes, and the success answer Talkdesk sends.
//!
//! Choices where Talkdesk's documentation is silent: a `refresh_token` (and `sid`) is issued for
//! every `authorization_code` and `refresh_token` grant, never for `client_credentials`; an
//! `id_token` only for `authorization_code` when `openid` was granted; refresh tokens rotate
//! (each works once); a `code_verifier` sent for a code issued without a challenge is ignored.

use std::collections::HashMap;

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, StatusCode};
use ring::digest::{SHA256, digest};
use serde_json::{Value, json};

use crate::assertion;
use crate::clients::Grant;
use crate::keys;
use crate::record::RecordedRequest;
use crate::reply::{OAuthError, Reply};
use crate::state::{Session, Shared, State};

/// The subject of every authorization-code grant: the test user the authorize endpoint approves.
pub(crate) const TEST_USER: &str = "testkit-user";

/// Handles a token request.
pub(crate) fn handle(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    record: &mut RecordedRequest,
) -> Reply {
    match token(shared, method, headers, body, record) {
        Ok(reply) => reply,
        Err(error) => {
            let reply = error.reply();
            // Basic clients learn the scheme to use, as RFC 6749 §5.2 asks.
            if error.status == StatusCode::UNAUTHORIZED && headers.contains_key(http::header::AUTHORIZATION) {
                reply.with_header(http::header::WWW_AUTHENTICATE, "Basic realm=\"td-oauth-testkit\"")
            } else {
                reply
            }
        }
    }
}

fn token(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    record: &mut RecordedRequest,
) -> Result<Reply, OAuthError> {
    if method != Method::POST {
        return Err(OAuthError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the token endpoint accepts POST only",
        ));
    }
    let form_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    });
    if !form_type {
        return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"));
    }
    let form = parse_form(body)?;
    record.grant_type = form.get("grant_type").cloned();
    record.scope = form.get("scope").cloned();

    let mut state = shared.lock();
    let client_id = assertion::authenticate(&mut state, &shared.token_url, headers, &form, record)?;
    record.client_id = Some(client_id.clone());

    let grant_name = form.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let grant = Grant::parse(grant_name).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type {grant_name} is not supported"),
        )
    })?;
    let allowed = state.clients.get(&client_id).is_some_and(|c| c.grants.contains(&grant));
    if !allowed {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!("client {client_id} may not use grant_type {grant_name}"),
        ));
    }

    match grant {
        Grant::ClientCredentials => {
            let scopes = granted_scopes(&state, &client_id, form.get("scope"))?;
            success(shared, &mut state, &client_id, &scopes, None)
        }
        Grant::AuthorizationCode => authorization_code(shared, &mut state, &client_id, &form),
        Grant::RefreshToken => refresh(shared, &mut state, &client_id, &form),
    }
}

/// Parses the form, refusing repeated parameters (RFC 6749 §3.2).
fn parse_form(body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let mut form = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        if form.insert(name.clone().into_owned(), value.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!("parameter {name} is repeated")));
        }
    }
    Ok(form)
}

/// The scopes to grant: those requested (all must be allowed), or every allowed one.
pub(crate) fn granted_scopes(
    state: &State,
    client_id: &str,
    requested: Option<&String>,
) -> Result<Vec<String>, OAuthError> {
    let allowed = state.clients.get(client_id).map(|c| c.scopes.clone()).unwrap_or_default();
    let requested: Vec<String> =
        requested.map(|s| s.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default();
    if requested.is_empty() {
        return Ok(allowed);
    }
    let unknown: Vec<&str> = requested.iter().filter(|s| !allowed.contains(s)).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(OAuthError::invalid_scope(format!(
            "scope not allowed for client {client_id}: {}",
            unknown.join(" ")
        )));
    }
    let mut granted = Vec::new();
    for scope in requested {
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    Ok(granted)
}

fn authorization_code(
    shared: &Shared,
    state: &mut State,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<Reply, OAuthError> {
    let code = form.get("code").ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let redirect_uri =
        form.get("redirect_uri").ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
    // Removed before any check: a code is single-use even when the exchange fails.
    let grant = state
        .codes
        .remove(code)
        .ok_or_else(|| OAuthError::invalid_grant("the authorization code is unknown or was already used"))?;
    if grant.issued.elapsed() > state.code_lifetime {
        return Err(OAuthError::invalid_grant("the authorization code has expired"));
    }
    if grant.client_id != client_id {
        return Err(OAuthError::invalid_grant("the authorization code was issued to another client"));
    }
    if grant.redirect_uri != *redirect_uri {
        return Err(OAuthError::invalid_grant(format!(
            "redirect_uri must be {} as in the authorize request",
            grant.redirect_uri
        )));
    }
    if let Some(challenge) = &grant.code_challenge {
        let verifier = form.get("code_verifier").ok_or_else(|| {
            OAuthError::invalid_grant("code_verifier is required: the authorize request had a code_challenge")
        })?;
        let computed = keys::b64url(digest(&SHA256, verifier.as_bytes()).as_ref());
        if computed != *challenge {
            return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
        }
    }
    let session = Session { client_id: client_id.to_owned(), scopes: grant.scopes, sid: keys::random_uuid() };
    let id_token = session
        .scopes
        .iter()
        .any(|s| s == "openid")
        .then(|| id_token(shared, state.now_secs(), &session, grant.nonce.as_deref()));
    let mut reply = success_json(shared, state, client_id, &session.scopes, Some(&session))?;
    if let (Some(Some(token)), Some(obj)) = (id_token, reply.as_object_mut()) {
        obj.insert("id_token".into(), Value::String(token));
    }
    Ok(Reply::json(StatusCode::OK, &reply))
}

fn refresh(
    shared: &Shared,
    state: &mut State,
    client_id: &str,
    form: &HashMap<String, String>,
) -> Result<Reply, OAuthError> {
    let token = form.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let session = state
        .refresh_tokens
        .get(token)
        .cloned()
        .ok_or_else(|| OAuthError::invalid_grant("the refresh token is unknown, revoked or already used"))?;
    if session.client_id != client_id {
        return Err(OAuthError::invalid_grant("the refresh token was issued to another client"));
    }
    let scopes = match form.get("scope") {
        Some(requested) => {
            let requested: Vec<String> = requested.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            if let Some(extra) = requested.iter().find(|s| !session.scopes.contains(s)) {
                return Err(OAuthError::invalid_scope(format!("scope {extra} was not granted to this refresh token")));
            }
            requested
        }
        None => session.scopes.clone(),
    };
    // Rotation: the token just used stops working.
    state.refresh_tokens.remove(token);
    let session = Session { scopes, ..session };
    success(shared, state, client_id, &session.scopes.clone(), Some(&session))
}

fn success(
    shared: &Shared,
    state: &mut State,
    client_id: &str,
    scopes: &[String],
    session: Option<&Session>,
) -> Result<Reply, OAuthError> {
    Ok(Reply::json(StatusCode::OK, &success_json(shared, state, client_id, scopes, session)?))
}

/// Mints an access token (and, with a session, a rotated refresh token) and builds the answer.
fn success_json(
    shared: &Shared,
    state: &mut State,
    client_id: &str,
    scopes: &[String],
    session: Option<&Session>,
) -> Result<Value, OAuthError> {
    let lifetime =
        state.clients.get(client_id).and_then(|c| c.token_lifetime).unwrap_or(state.token_lifetime).as_secs();
    let now = state.now_secs();
    let jti = keys::random_uuid();
    let claims = json!({
        "iss": shared.base_url,
        "sub": if session.is_some() { TEST_USER } else { client_id },
        "cid": client_id,
        "acc": state.account,
        "scp": scopes,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti,
    });
    let Some(access_token) = shared.issuer.sign(&claims) else {
        return Err(OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "could not sign the access token",
        ));
    };
    state.access_tokens.insert(jti);
    let mut answer = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": scopes.join(" "),
    });
    if let (Some(session), Some(obj)) = (session, answer.as_object_mut()) {
        let refresh_token = keys::random_hex(32);
        state.refresh_tokens.insert(refresh_token.clone(), session.clone());
        obj.insert("refresh_token".into(), Value::String(refresh_token));
        obj.insert("sid".into(), Value::String(session.sid.clone()));
    }
    Ok(answer)
}

fn id_token(shared: &Shared, now: u64, session: &Session, nonce: Option<&str>) -> Option<String> {
    let mut claims = json!({
        "iss": shared.base_url,
        "sub": TEST_USER,
        "aud": session.client_id,
        "iat": now,
        "auth_time": now,
        "exp": now + 600,
        "sid": session.sid,
        "email": "testkit-user@example.com",
        "name": "Testkit User",
    });
    if let (Some(nonce), Some(obj)) = (nonce, claims.as_object_mut()) {
        obj.insert("nonce".into(), Value::String(nonce.to_owned()));
    }
    shared.issuer.sign(&claims)
}
