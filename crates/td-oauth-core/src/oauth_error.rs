//! The token endpoint's OAuth error answer (RFC 6749 §5.2) and `Retry-After`.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::clock::ClockOffset;

/// An OAuth error code, as sent in `error`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: a parameter is missing or malformed.
    InvalidRequest,
    /// `invalid_client`: client authentication failed (bad, expired or replayed assertion; unknown key id;
    /// wrong secret).
    InvalidClient,
    /// `invalid_grant`: the code, refresh token or redirect URI is invalid, expired or used.
    InvalidGrant,
    /// `unauthorized_client`: this client may not use this grant.
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`: a scope is unknown or not allowed for this client.
    InvalidScope,
    /// `access_denied`: the user or server refused (authorize redirect).
    AccessDenied,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// Any other code, kept as sent.
    Other(String),
}

impl ErrorCode {
    /// Reads a code as the server sent it.
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => ErrorCode::InvalidRequest,
            "invalid_client" => ErrorCode::InvalidClient,
            "invalid_grant" => ErrorCode::InvalidGrant,
            "unauthorized_client" => ErrorCode::UnauthorizedClient,
            "unsupported_grant_type" => ErrorCode::UnsupportedGrantType,
            "invalid_scope" => ErrorCode::InvalidScope,
            "access_denied" => ErrorCode::AccessDenied,
            "server_error" => ErrorCode::ServerError,
            "temporarily_unavailable" => ErrorCode::TemporarilyUnavailable,
            other => ErrorCode::Other(crate::text::excerpt(other)),
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::Other(code) => code,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the server asked to be retried: the `Retry-After` header as seconds or as an HTTP date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Delay(Duration),
    /// `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT`.
    At(SystemTime),
}

impl RetryAfter {
    /// Reads a `Retry-After` header value; `None` when it is neither form.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // Absurd values saturate rather than fail: the caller's deadline bounds the wait anyway.
            let secs = value.parse::<u64>().unwrap_or(u64::MAX);
            return Some(RetryAfter::Delay(Duration::from_secs(secs)));
        }
        httpdate::parse_http_date(value).ok().map(RetryAfter::At)
    }

    /// How long to wait from `now`; zero for a date in the past.
    pub fn delay_from(self, now: SystemTime) -> Duration {
        match self {
            RetryAfter::Delay(delay) => delay,
            RetryAfter::At(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryAfter::Delay(delay) => write!(f, "{} s", delay.as_secs()),
            RetryAfter::At(at) => f.write_str(&httpdate::fmt_http_date(*at)),
        }
    }
}

/// The token endpoint's OAuth error: `error`, `error_description`, the HTTP status and `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the token endpoint refused the request (HTTP {}): {code}{}{}",
    status.as_u16(),
    description.as_deref().map(|d| format!(": {d}")).unwrap_or_default(),
    clock_offset.map(|o| format!(
        "; {o} (from its Date header), which may be why: set this machine's clock right (NTP)"
    )).unwrap_or_default()
)]
pub struct OAuthError {
    pub(crate) code: ErrorCode,
    pub(crate) description: Option<String>,
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<RetryAfter>,
    /// The clock offset measured when the refusal looks like a skewed assertion's.
    pub(crate) clock_offset: Option<ClockOffset>,
}

impl OAuthError {
    /// The OAuth error code.
    pub fn code(&self) -> &ErrorCode {
        &self.code
    }

    /// Whether the server refused the client's credentials (`invalid_client`): the error a token manager
    /// falls back to a rotation's previous credentials on.
    pub fn is_invalid_client(&self) -> bool {
        self.code == ErrorCode::InvalidClient
    }

    /// The server's `error_description`, control characters removed.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The HTTP status of the answer (400 or 401 from Talkdesk).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `Retry-After` header, if the server sent one.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.retry_after
    }

    /// The token endpoint's clock offset, when this refusal looks like one of an assertion signed on a skewed
    /// clock: `invalid_client` or `invalid_grant` with a measured offset over
    /// [`OFFSET_THRESHOLD`](crate::clock::offset::OFFSET_THRESHOLD). The message names it too.
    pub fn clock_offset(&self) -> Option<ClockOffset> {
        self.clock_offset
    }

    /// Whether the code is one a skewed assertion is refused with: `invalid_client` or `invalid_grant`.
    pub(crate) fn may_be_skew(&self) -> bool {
        matches!(self.code, ErrorCode::InvalidClient | ErrorCode::InvalidGrant)
    }

    /// Whether the same request may succeed later, by what the answer means: a 5xx or 429 status, or a code
    /// that says so whatever the status (`temporarily_unavailable`, `server_error`, `slow_down`).
    pub fn is_retryable(&self) -> bool {
        self.status.is_server_error()
            || self.status == StatusCode::TOO_MANY_REQUESTS
            || matches!(self.code, ErrorCode::TemporarilyUnavailable | ErrorCode::ServerError)
            || self.code.as_str() == "slow_down"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(RetryAfter::parse(" 1 "), Some(RetryAfter::Delay(Duration::from_secs(1))));
        let date = RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(date, RetryAfter::At(then));
        assert_eq!(date.delay_from(then - Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(date.delay_from(then + Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(RetryAfter::parse("-1"), None);
        assert_eq!(RetryAfter::parse("soon"), None);
        assert_eq!(
            RetryAfter::parse("99999999999999999999999"),
            Some(RetryAfter::Delay(Duration::from_secs(u64::MAX)))
        );
    }

    #[test]
    fn error_codes_round_trip() {
        for code in ["invalid_client", "invalid_grant", "invalid_scope", "slow_down"] {
            assert_eq!(ErrorCode::parse(code).as_str(), code);
        }
    }
}
