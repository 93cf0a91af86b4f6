//! `GET /api/me`: a tiny protected resource that accepts only live access tokens this server
//! issued, so transports can test attaching tokens and refreshing after a 401.

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use crate::reply::{OAuthError, Reply};
use crate::state::Shared;

/// Handles a resource request.
pub(crate) fn handle(shared: &Shared, method: &Method, headers: &HeaderMap) -> Reply {
    if method != Method::GET {
        return OAuthError::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "this resource accepts GET only")
            .reply();
    }
    match check(shared, headers) {
        Ok(reply) => reply,
        Err(description) => Reply::json(
            StatusCode::UNAUTHORIZED,
            &json!({ "error": "invalid_token", "error_description": description }),
        )
        .with_header(
            WWW_AUTHENTICATE,
            &format!(
                "Bearer realm=\"td-oauth-testkit\", error=\"invalid_token\", error_description=\"{}\"",
                // A quoted-string may not hold quotes, backslashes or control characters.
                description
                    .chars()
                    .filter(|c| *c == ' ' || c.is_ascii_graphic())
                    .map(|c| match c {
                        '"' | '\\' => '\'',
                        c => c,
                    })
                    .collect::<String>()
            ),
        ),
    }
}

fn check(shared: &Shared, headers: &HeaderMap) -> Result<Reply, String> {
    {
        let mut state = shared.lock();
        if state.api_failures > 0 {
            state.api_failures -= 1;
            return Err("the access token was rejected (injected)".to_owned());
        }
    }
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| "an Authorization: Bearer header is required".to_owned())?;
    let claims = shared.issuer.verify(token)?;
    let live = claims.get("jti").and_then(Value::as_str).is_some_and(|jti| shared.lock().access_tokens.contains(jti));
    if !live {
        return Err("the access token was revoked".to_owned());
    }
    let scopes = claims.get("scp").cloned().unwrap_or(Value::Array(Vec::new()));
    Ok(Reply::json(
        StatusCode::OK,
        &json!({
            "client_id": claims.get("cid"),
            "scopes": scopes,
            "account": claims.get("acc"),
            "subject": claims.get("sub"),
            "expires_at": claims.get("exp"),
        }),
    ))
}
