//! The lifecycle calls of the Apps API, sans-IO: approve or reject an installation (or update),
//! acknowledge an uninstall, acknowledge a credential rotation, read an installation. A 409 answer means
//! the state was already set: [`Acknowledged::AlreadyDone`], not an error.

use http::{Method, Request, Response, StatusCode};
use serde::Deserialize;

use td_oauth_api::{ApiError, ApiGateway};
use td_oauth_core::text::excerpt;

/// The answer to an installation: `approve` or `reject` (Talkdesk's installation-state call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstallationDecision {
    /// `approve`: the app is provisioned for the account.
    Approve,
    /// `reject`: the app refuses the installation (or update).
    Reject,
}

impl InstallationDecision {
    /// `approve` or `reject`.
    pub fn as_str(self) -> &'static str {
        match self {
            InstallationDecision::Approve => "approve",
            InstallationDecision::Reject => "reject",
        }
    }
}

/// How a lifecycle call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acknowledged {
    /// The state was changed (2xx).
    Done,
    /// The state was already set (409, a state conflict): nothing left to do.
    AlreadyDone,
}

impl Acknowledged {
    /// Reads a lifecycle call's answer: 2xx is [`Done`](Self::Done), 409 [`AlreadyDone`](Self::AlreadyDone),
    /// anything else the error it stands for.
    pub fn from_http<B: AsRef<[u8]>>(response: &Response<B>) -> Result<Self, ApiError> {
        match response.status() {
            status if status.is_success() => Ok(Acknowledged::Done),
            StatusCode::CONFLICT => Ok(Acknowledged::AlreadyDone),
            _ => Err(ApiError::from_response(response)),
        }
    }
}

/// An installation as `GET {root}/apps/{app_id}/installations/{id}` describes it (scope `apps:read`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Installation {
    /// The installation's id, when sent.
    #[serde(default)]
    pub id: Option<String>,
    /// `installing`, `pending`, `timeout`, `completed`, `failed`, `rejected`, `suspended`, `revoked`, or
    /// another Talkdesk adds.
    #[serde(default)]
    pub state: Option<String>,
    /// The scopes the account granted.
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl Installation {
    /// Reads the answer.
    pub fn from_http<B: AsRef<[u8]>>(response: &Response<B>) -> Result<Self, ApiError> {
        td_oauth_api::read_json(response)
    }
}

/// An id that goes into a path: letters, digits, `-` and `_`, 1 to 64 bytes (Talkdesk's are 32 hex).
fn path_id<'a>(what: &str, id: &'a str) -> Result<&'a str, ApiError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ApiError::InvalidPath {
            path: excerpt(id),
            reason: format!("{what} must be 1 to 64 letters, digits, `-` or `_`"),
        });
    }
    Ok(id)
}

fn installation_path(app_id: &str, installation_id: &str) -> Result<String, ApiError> {
    Ok(format!(
        "/apps/{}/installations/{}",
        path_id("the app id", app_id)?,
        path_id("the installation id", installation_id)?
    ))
}

fn json_post(gateway: &ApiGateway, path: &str, body: &serde_json::Value) -> Result<Request<Vec<u8>>, ApiError> {
    gateway.request(Method::POST, path, body.to_string().into_bytes(), None)
}

/// `POST {root}/apps/{app_id}/installations/{installation_id}/state` with `{"state": "approve"|"reject",
/// "reason"?}` (scope `apps:write`): the answer to `app.installed` and `app.updated`. Read the answer with
/// [`Acknowledged::from_http`].
pub fn installation_state_request(
    gateway: &ApiGateway,
    app_id: &str,
    installation_id: &str,
    decision: InstallationDecision,
    reason: Option<&str>,
) -> Result<Request<Vec<u8>>, ApiError> {
    let mut body = serde_json::json!({ "state": decision.as_str() });
    if let Some(reason) = reason {
        body["reason"] = serde_json::Value::String(reason.to_owned());
    }
    json_post(gateway, &format!("{}/state", installation_path(app_id, installation_id)?), &body)
}

/// Acknowledges `app.uninstalled` (without it the account is deprovisioned after 7 days): the
/// installation-state call with `approve`. Talkdesk's pages say the uninstall must be acknowledged through
/// the Apps API and document only this state call and its `approve`/`reject` values.
pub fn acknowledge_uninstall_request(
    gateway: &ApiGateway,
    app_id: &str,
    installation_id: &str,
) -> Result<Request<Vec<u8>>, ApiError> {
    installation_state_request(gateway, app_id, installation_id, InstallationDecision::Approve, None)
}

/// `POST {root}/apps/{app_id}/installations/{installation_id}/credentials/{client_id}/state` with
/// `{"state": "acknowledged"}`: acknowledges a credential rotation, which **ends the previous credentials
/// at once**. Send it only once the new credentials have obtained a token (the
/// [`Manager`](crate::manager::Manager)'s lifecycle does). 202 is [`Acknowledged::Done`], 409
/// [`Acknowledged::AlreadyDone`].
pub fn credentials_state_request(
    gateway: &ApiGateway,
    app_id: &str,
    installation_id: &str,
    client_id: &str,
) -> Result<Request<Vec<u8>>, ApiError> {
    let path = format!(
        "{}/credentials/{}/state",
        installation_path(app_id, installation_id)?,
        path_id("the client id", client_id)?
    );
    json_post(gateway, &path, &serde_json::json!({ "state": "acknowledged" }))
}

/// `GET {root}/apps/{app_id}/installations/{installation_id}` (scope `apps:read`); read the answer with
/// [`Installation::from_http`].
pub fn installation_request(
    gateway: &ApiGateway,
    app_id: &str,
    installation_id: &str,
) -> Result<Request<Vec<u8>>, ApiError> {
    gateway.request(Method::GET, &installation_path(app_id, installation_id)?, Vec::new(), None)
}
