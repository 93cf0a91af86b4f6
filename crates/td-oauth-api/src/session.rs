//! Ending a user's session: `POST https://{account}.talkdeskid.{tld}/oauth/end_user_session` with
//! `user_id` and `reason=force_logout` (scope `user-session-public:end`).

use http::header::{ACCEPT, CONTENT_TYPE};
use http::{Method, Request, Response};
use url::form_urlencoded;

use super::ApiError;
use td_oauth_core::Endpoints;
use td_oauth_core::text::excerpt;

/// The path of the end-session endpoint on the identity host.
pub const END_USER_SESSION_PATH: &str = "/oauth/end_user_session";

/// A Talkdesk user id: 24 ASCII letters or digits (`user.logout`'s `data.user_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    /// Checks a user id.
    pub fn new(id: &str) -> Result<Self, ApiError> {
        if id.len() != 24 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ApiError::InvalidPath {
                path: excerpt(id),
                reason: "a Talkdesk user id is 24 letters or digits".into(),
            });
        }
        Ok(UserId(id.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The request that ends `user`'s session, on the identity host of `endpoints` (its token URL with the
/// path `/oauth/end_user_session`). The transport adds a token with scope `user-session-public:end`.
pub fn end_user_session_request(endpoints: &Endpoints, user: &UserId) -> Result<Request<Vec<u8>>, ApiError> {
    let token_url = endpoints.token_url().url();
    let mut url = token_url.clone();
    let prefix = token_url.path().strip_suffix("/oauth/token").unwrap_or_default().to_owned();
    url.set_path(&format!("{prefix}{END_USER_SESSION_PATH}"));
    url.set_query(None);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("user_id", user.as_str())
        .append_pair("reason", "force_logout")
        .finish()
        .into_bytes();
    Request::builder()
        .method(Method::POST)
        .uri(url.as_str())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json")
        .body(body)
        .map_err(|err| ApiError::Build(err.to_string()))
}

/// Reads the end-session answer: any 2xx is success.
pub fn end_user_session_response<B: AsRef<[u8]>>(response: &Response<B>) -> Result<(), ApiError> {
    super::check_status(response)
}
