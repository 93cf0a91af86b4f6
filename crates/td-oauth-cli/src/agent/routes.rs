//! What the agent answers: `GET /v1/token`, `GET /v1/token/{name}`, `GET /v1/health`, and JSON errors.
//!
//! Every answer is JSON with `Cache-Control: no-store`. A token answer holds the token, its type and its
//! remaining lifetime; an error answer `error` and `error_description`, neither ever a secret (a token
//! provider's error is the library's message, which never holds one).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Response, StatusCode};
use serde::Serialize;
use serde_json::json;
use td_oauth_reqwest::TokenProvider;

use super::clients::{Clients, Lookup};
use super::config::is_valid_name;
use super::guard::Refusal;

pub(crate) type Answer = Response<Full<Bytes>>;

/// The answer to `method path` with `clients`.
pub(crate) async fn route(clients: &Clients, method: &Method, path: &str) -> Answer {
    let target = match path {
        "/v1/health" => None,
        "/v1/token" => Some(None),
        _ => match path.strip_prefix("/v1/token/") {
            Some(name) => Some(Some(name)),
            None => {
                return error(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "no such path: the agent serves /v1/token, /v1/token/NAME and /v1/health",
                );
            }
        },
    };
    if method != Method::GET {
        let mut answer =
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "the agent answers GET requests only");
        answer.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
        return answer;
    }
    let Some(name) = target else {
        return json_answer(StatusCode::OK, &json!({ "status": "ok" }));
    };
    match clients.lookup(name) {
        Lookup::Found(provider) => token(&provider, name).await,
        Lookup::NoDefault => error(
            StatusCode::NOT_FOUND,
            "no_default_client",
            &format!(
                "this agent has no default client: ask for /v1/token/NAME, NAME one of: {}",
                clients.names().collect::<Vec<_>>().join(", ")
            ),
        ),
        Lookup::Unknown => {
            let which = name.filter(|n| is_valid_name(n)).map(|n| format!(" named {n:?}")).unwrap_or_default();
            error(StatusCode::NOT_FOUND, "unknown_client", &format!("this agent has no client{which}"))
        }
    }
}

/// A token from `provider`: fresh from its cache, or fetched once for every caller waiting with this one.
async fn token(provider: &TokenProvider, name: Option<&str>) -> Answer {
    let answer = provider
        .with_token(|token| {
            let now = provider.client().config().clock().now();
            json_answer(
                StatusCode::OK,
                &TokenAnswer {
                    access_token: token.access_token().secret(),
                    token_type: "Bearer",
                    expires_in: token.expires_at().saturating_duration_since(now).as_secs(),
                },
            )
        })
        .await;
    match answer {
        Ok(answer) => answer,
        Err(err) => {
            let client = name.unwrap_or("(default)");
            tracing::warn!(client, "no token: {err}");
            if err.is_retryable() {
                error(StatusCode::SERVICE_UNAVAILABLE, "token_unavailable", &err.to_string())
            } else {
                error(StatusCode::BAD_GATEWAY, "token_refused", &err.to_string())
            }
        }
    }
}

/// The answer to a request refused before routing.
pub(crate) fn refused(refusal: &Refusal) -> Answer {
    error(refusal.status(), refusal.code(), &refusal.to_string())
}

fn error(status: StatusCode, code: &str, description: &str) -> Answer {
    json_answer(status, &json!({ "error": code, "error_description": description }))
}

/// A token answer, serialised straight from the cached token (no intermediate JSON value).
#[derive(Serialize)]
struct TokenAnswer<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
}

fn json_answer(status: StatusCode, body: &impl Serialize) -> Answer {
    // Serialising strings and numbers cannot fail; an empty body would be the answer if it ever did.
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut answer = Response::new(Full::new(Bytes::from(bytes)));
    *answer.status_mut() = status;
    let headers = answer.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    answer
}
