//! The two routers: the events listener (`POST /events`) and the operator endpoint
//! (`GET /installations`, `GET /installations/{installation_id}/token-status`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use td_oauth_core::Scopes;
use td_oauth_partner::EventReceiver;

use crate::fleet::{Fleet, StatusError};
use crate::views::{ErrorView, InstallationList, Resealed};

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The installations, the manager and the receiver.
    pub fleet: Fleet,
    /// The secret deliveries carry as `?secret=` (`None`: `--no-verification`).
    pub callback_secret: Option<Zeroizing<String>>,
    /// The scopes `token-status` asks for when the request names none.
    pub status_scopes: Scopes,
}

/// `POST /events` (and 405 for other methods on it).
pub fn events_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/events", post(events))
        // Bodies beyond the receiver's bound are answered 413 by axum before they are read whole.
        .layer(DefaultBodyLimit::max(EventReceiver::<td_oauth_partner::NoVerification>::DEFAULT_MAX_BODY + 1))
        .with_state(state)
}

/// The operator endpoint's routes.
pub fn admin_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/installations", get(installations))
        .route("/installations/{installation_id}/token-status", get(token_status))
        .route("/reseal", post(reseal))
        .with_state(state)
}

async fn events(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<axum::body::Body> {
    if let Some(secret) = &state.callback_secret
        && !carries_secret(&uri, secret)
    {
        tracing::warn!("delivery refused: the callback secret is missing or wrong");
        return json(StatusCode::UNAUTHORIZED, &serde_json::json!({ "status": "not verified" }));
    }
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.headers_mut() = headers;
    state.fleet.deliver(request).await.map(axum::body::Body::from)
}

/// Whether the query's `secret` is the callback secret (compared in constant time).
fn carries_secret(uri: &Uri, secret: &str) -> bool {
    let query = uri.query().unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes())
        .filter(|(name, _)| name == "secret")
        .any(|(_, given)| bool::from(Zeroizing::new(given.into_owned()).as_bytes().ct_eq(secret.as_bytes())))
}

async fn installations(State(state): State<Arc<AppState>>) -> Response<axum::body::Body> {
    match state.fleet.installations().await {
        Ok(installations) => {
            json(StatusCode::OK, &InstallationList { store: state.fleet.store().location(), installations })
        }
        Err(err) => failed(&err),
    }
}

async fn token_status(
    State(state): State<Arc<AppState>>,
    Path(installation_id): Path<String>,
    uri: Uri,
) -> Response<axum::body::Body> {
    let asked = url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "scope")
        .map(|(_, value)| value.into_owned());
    let scopes = match asked {
        Some(text) => match text.parse::<Scopes>() {
            Ok(scopes) => scopes,
            Err(err) => {
                return error(StatusCode::BAD_REQUEST, &format!("`scope` is not a list of scopes: {err}"), false);
            }
        },
        None => state.status_scopes.clone(),
    };
    match state.fleet.token_status(&installation_id, &scopes).await {
        Ok(status) => json(StatusCode::OK, &status),
        Err(err @ StatusError::UnknownInstallation(_)) => error(StatusCode::NOT_FOUND, &err.to_string(), false),
        Err(StatusError::Manager(err)) => failed(&err),
    }
}

/// `POST /reseal`: every record sealed with the previous key sealed again with the current one (the step
/// before `TD_OAUTH_STORE_KEY_PREVIOUS` can be removed).
async fn reseal(State(state): State<Arc<AppState>>) -> Response<axum::body::Body> {
    match state.fleet.reseal().await {
        Ok(resealed) => json(StatusCode::OK, &Resealed { resealed, sealed_with: state.fleet.current_key_id() }),
        Err(err) => failed(&err),
    }
}

/// The store or the token endpoint failed: 503 when asking again may work, else 502. td-oauth-partner's
/// errors hold no secret.
fn failed(err: &td_oauth_partner::Error) -> Response<axum::body::Body> {
    let status = if err.is_retryable() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::BAD_GATEWAY };
    error(status, &err.to_string(), err.is_retryable())
}

fn error(status: StatusCode, message: &str, retryable: bool) -> Response<axum::body::Body> {
    json(status, &ErrorView { error: message.to_owned(), retryable })
}

fn json(status: StatusCode, body: &impl Serialize) -> Response<axum::body::Body> {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = (status, text).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
