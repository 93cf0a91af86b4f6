//! What the server saw: one record per request, kept in arrival order so tests can assert on
//! traffic without parsing logs, and every lifecycle call of the Talkdesk API it accepted.

use std::time::SystemTime;

use serde_json::Value;

/// How a token request authenticated its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthMethod {
    /// `client_assertion` (signed JWT, `private_key_jwt`).
    ClientAssertion,
    /// `Authorization: Basic`.
    Basic,
}

/// One request the server received, and how it answered.
///
/// A record is stored when the request arrives and completed just before the response is sent,
/// so by the time a client has read a response its record is complete in
/// [`TestServer::requests`](crate::TestServer::requests); a request whose client gave up
/// (e.g. during a [`Fault::Delay`](crate::Fault::Delay)) is still recorded, with no status.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// When the request's headers arrived.
    pub received_at: SystemTime,
    /// The HTTP method, e.g. `"POST"`.
    pub method: String,
    /// The path, e.g. `"/oauth/token"`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// `grant_type` of a token request, as sent.
    pub grant_type: Option<String>,
    /// The client id the request claimed (assertion `iss`, Basic user or `client_id` parameter),
    /// whether or not it authenticated.
    pub client_id: Option<String>,
    /// How the client tried to authenticate.
    pub auth_method: Option<AuthMethod>,
    /// The `scope` parameter, as sent.
    pub scope: Option<String>,
    /// The HTTP status answered; `None` while the request is still being handled, and for good
    /// when the connection was dropped (by a fault, or by the client before the answer).
    pub status: Option<u16>,
    /// The OAuth `error` code answered (also for authorize redirects carrying an error).
    pub error: Option<String>,
    /// The `error_description` answered.
    pub error_description: Option<String>,
    /// The client assertion's decoded JOSE header, when one was sent and could be decoded.
    pub assertion_header: Option<Value>,
    /// The client assertion's decoded claims, when one was sent and could be decoded.
    pub assertion_claims: Option<Value>,
    /// A short description of the injected fault applied to this request, if any.
    pub fault: Option<String>,
    /// Arrival number, to update the record once the request is answered.
    pub(crate) seq: u64,
}

impl RecordedRequest {
    pub(crate) fn new(method: &str, path: &str, query: Option<&str>) -> Self {
        RecordedRequest {
            received_at: SystemTime::now(),
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            grant_type: None,
            client_id: None,
            auth_method: None,
            scope: None,
            status: None,
            error: None,
            error_description: None,
            assertion_header: None,
            assertion_claims: None,
            fault: None,
            seq: 0,
        }
    }
}

/// A lifecycle call the server received and accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Acknowledgement {
    /// `POST /apps/{app_id}/installations/{installation_id}/state`.
    InstallationState {
        /// The app id in the path.
        app_id: String,
        /// The installation id in the path.
        installation_id: String,
        /// `approve` or `reject`.
        state: String,
        /// The `reason`, if sent.
        reason: Option<String>,
    },
    /// `POST /apps/{app_id}/installations/{installation_id}/credentials/{client_id}/state`, answered 202
    /// (a second one for the same credentials is answered 409 and not recorded again).
    CredentialsRotation {
        /// The app id in the path.
        app_id: String,
        /// The installation id in the path.
        installation_id: String,
        /// The client id whose rotation was acknowledged.
        client_id: String,
    },
    /// `POST /oauth/end_user_session`.
    EndUserSession {
        /// `user_id`.
        user_id: String,
        /// `reason`.
        reason: String,
    },
}
