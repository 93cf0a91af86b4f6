//! Userinfo: `GET {gateway}/users/me` with a user's token (OpenID Connect, scope `openid`).

use http::{Method, Request, Response, StatusCode};
use serde::Deserialize;

use super::{ApiError, ApiGateway};

/// The path of userinfo on the API gateway.
pub const USERINFO_PATH: &str = "/users/me";

/// Who the token's user is, from `/users/me`. A successful login does not mean the user may use a
/// partner app: check the user against those the install and update events listed.
///
/// Talkdesk's `/users/me` sends the Talkdesk user `id` and the OpenID Connect `sub`; a standard userinfo
/// endpoint sends `sub` only (the one claim OpenID Connect Core §5.3.2 requires). Either is accepted; an
/// answer with neither names no user and is refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The Talkdesk user id, when sent (Talkdesk's `/users/me` sends it).
    #[serde(default)]
    pub id: Option<String>,
    /// The OpenID Connect subject, when sent.
    #[serde(default)]
    pub sub: Option<String>,
    /// The user's name, when sent.
    #[serde(default)]
    pub name: Option<String>,
    /// The user's email, when sent.
    #[serde(default)]
    pub email: Option<String>,
}

impl UserInfo {
    /// The request for the token's user (the transport adds `Authorization`).
    pub fn request(gateway: &ApiGateway) -> Result<Request<Vec<u8>>, ApiError> {
        gateway.request(Method::GET, USERINFO_PATH, Vec::new(), None)
    }

    /// Reads the answer. A 400 is [`ApiError::NoUserContext`]: Talkdesk's answer to a token without a
    /// user (client credentials). A success without a non-empty `id` or `sub` is [`ApiError::Malformed`].
    pub fn from_http<B: AsRef<[u8]>>(response: &Response<B>) -> Result<Self, ApiError> {
        if response.status() == StatusCode::BAD_REQUEST {
            return Err(ApiError::NoUserContext(ApiError::from_response(response).talkdesk().cloned().map(Box::new)));
        }
        let info: UserInfo = super::read_json(response)?;
        if info.user().is_none() {
            return Err(ApiError::Malformed {
                status: response.status(),
                reason: "the userinfo answer has neither `sub` (OpenID Connect's required claim) nor Talkdesk's \
                         `id`, so it names no user"
                    .into(),
            });
        }
        Ok(info)
    }

    /// Who the user is: the Talkdesk user id when sent, else the OpenID Connect subject.
    pub fn user(&self) -> Option<&str> {
        [self.id.as_deref(), self.sub.as_deref()].into_iter().flatten().find(|value| !value.is_empty())
    }
}
