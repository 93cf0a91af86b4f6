//! # td-oauth-api
//!
//! The Talkdesk API beyond the token, sans-IO: where calls go ([`ApiGateway`], and the
//! [`GatewayAllowList`] an event's `_links.root` must pass), what an error answer says ([`TalkdeskError`],
//! inside [`ApiError`]), HAL lists and the [`Paginator`] that follows `_links.next`, userinfo
//! ([`UserInfo`]) and ending a user's session ([`end_user_session_request`]).
//!
//! Every function here builds an [`http::Request`] without `Authorization` or reads an
//! [`http::Response`]; the transports (td-oauth-reqwest's and td-oauth-ureq's `ApiClient`) add the token with
//! [`transport::authorization`](td_oauth_core::transport::authorization) and send, putting the
//! [`SentCredentials`] in the answer's extensions so that no error read from it shows them. Talkdesk's API conventions come
//! from its "Standard response format" and "Paging results" pages; what they leave open (the AU gateway,
//! page bounds) is configurable here.
//!
//! Not here: product APIs that wrap answers as `{statusCode, message, payload}` (Advanced Dialer) are read
//! as plain JSON by [`read_json`]; their errors come back as [`ApiError::UnexpectedStatus`] or
//! [`ApiError::Talkdesk`] when they carry `message`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod face;
mod gateway;
mod hal;
mod redact;
mod session;
mod settings;
mod userinfo;

pub use error::{ApiError, FieldError, TalkdeskError};
pub use gateway::{ApiGateway, GatewayAllowList};
pub use hal::{HalPage, PageStep, Paginator};
pub use redact::{MIN_PIECE, REDACTED, SentCredentials};
pub use session::{END_USER_SESSION_PATH, UserId, end_user_session_request, end_user_session_response};
pub use settings::ApiLimits;
pub use userinfo::{USERINFO_PATH, UserInfo};

use http::Response;
use serde::de::DeserializeOwned;

/// The most bytes an API answer is read to unless a transport is told otherwise: lists of 50 items are
/// tens of kilobytes, far above the token endpoint's 64 KiB cap would allow for larger pages.
pub const DEFAULT_MAX_API_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// `Ok` for a 2xx answer, else the error it stands for ([`ApiError::from_response`]).
pub fn check_status<B: AsRef<[u8]>>(response: &Response<B>) -> Result<(), ApiError> {
    if response.status().is_success() { Ok(()) } else { Err(ApiError::from_response(response)) }
}

/// A 2xx answer's JSON body as `T`, else the error the answer stands for.
pub fn read_json<T: DeserializeOwned, B: AsRef<[u8]>>(response: &Response<B>) -> Result<T, ApiError> {
    check_status(response)?;
    let status = response.status();
    let body = response.body().as_ref();
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    serde_json::from_slice(body).map_err(|err| ApiError::Malformed {
        status,
        reason: match err.classify() {
            // serde's text for a wrong type quotes the value: say where instead.
            serde_json::error::Category::Data => {
                let what = err.to_string();
                let what = match what.find("missing field") {
                    Some(at) => what[at..].split(" at line").next().unwrap_or_default().to_owned(),
                    None => "a value has another type than documented".to_owned(),
                };
                format!(
                    "the JSON is not what the endpoint documents: {what} (line {}, column {})",
                    err.line(),
                    err.column()
                )
            }
            _ => td_oauth_core::text::json_problem(body, &err),
        },
    })
}
