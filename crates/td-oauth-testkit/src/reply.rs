//! What a handler answers before faults and transport shape it: a status, headers and a
//! complete body, plus the OAuth error type handlers return.

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION, PRAGMA};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

/// A complete response from a handler.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// A JSON answer that must not be cached (RFC 6749 §5.1 asks for `no-store` on token answers).
    pub(crate) fn json(status: StatusCode, value: &Value) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        Reply { status, headers, body: Bytes::from(value.to_string()) }
    }

    /// A 302 to `location`.
    pub(crate) fn redirect(location: &str) -> Reply {
        let mut headers = HeaderMap::new();
        // A Url we built ourselves is always a valid header value; fall back to a 500 if not.
        match HeaderValue::from_str(location) {
            Ok(value) => {
                headers.insert(LOCATION, value);
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                Reply { status: StatusCode::FOUND, headers, body: Bytes::new() }
            }
            Err(_) => {
                OAuthError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "could not build the redirect")
                    .reply()
            }
        }
    }

    /// Adds a header, ignoring values that are not valid header values (they come from tests).
    pub(crate) fn with_header(mut self, name: HeaderName, value: &str) -> Reply {
        if let Ok(value) = HeaderValue::from_str(value) {
            self.headers.insert(name, value);
        }
        self
    }
}

/// An OAuth error answer (`error`, `error_description`) with its HTTP status.
#[derive(Debug, Clone)]
pub(crate) struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) description: String,
}

impl OAuthError {
    pub(crate) fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        OAuthError { status, code, description: description.into() }
    }

    /// 400 `invalid_request`.
    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 401 `invalid_client`.
    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    /// 400 `invalid_grant`.
    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// 400 `invalid_scope`.
    pub(crate) fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// The JSON answer.
    pub(crate) fn reply(&self) -> Reply {
        Reply::json(self.status, &json!({ "error": self.code, "error_description": self.description }))
    }
}
