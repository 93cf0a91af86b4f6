//! The token endpoint's answer: a typed token, the server's OAuth error, or a precise reason the body
//! cannot be used. Never panics, whatever the bytes.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use serde::Deserialize;

use crate::oauth_error::{ErrorCode, OAuthError, RetryAfter};
use crate::{AccessToken, Error, IdToken, RefreshToken, Scopes};

/// A successful token response.
///
/// `expires_at` is on the monotonic clock the caller passed in as `now`, so cache decisions are immune to
/// wall-clock jumps.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    access_token: AccessToken,
    expires_in: Duration,
    received_at: Instant,
    expires_at: Instant,
    scope: Option<String>,
    refresh_token: Option<RefreshToken>,
    session_id: Option<String>,
    id_token: Option<IdToken>,
}

impl TokenResponse {
    /// Parses the token endpoint's response, received at `now`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use td_oauth_core::TokenResponse;
    ///
    /// let response = http::Response::builder()
    ///     .status(200)
    ///     .body(r#"{"access_token":"eyJ…","token_type":"Bearer","expires_in":600,"scope":"users:read"}"#)?;
    /// let now = Instant::now();
    /// let token = TokenResponse::from_http(&response, now)?;
    /// assert_eq!(token.expires_at(), now + Duration::from_secs(600));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_http<B: AsRef<[u8]>>(response: &Response<B>, now: Instant) -> Result<Self, Error> {
        let status = response.status();
        let body = response.body().as_ref();
        if status.is_success() {
            return parse_success(status, body, now);
        }
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(RetryAfter::parse);
        if let Some(error) = parse_oauth_error(status, body, retry_after) {
            return Err(Error::OAuth(error));
        }
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        Err(Error::UnexpectedStatus { status, detail: describe_body(body, content_type), retry_after })
    }

    /// A token taken out of a shared cache at `now`, with `expires_in` what remains of it; `None` when that
    /// does not fit the monotonic clock.
    pub(crate) fn from_cache(
        access_token: AccessToken,
        expires_in: Duration,
        now: Instant,
        scope: Option<String>,
        session_id: Option<String>,
    ) -> Option<Self> {
        let expires_at = now.checked_add(expires_in)?;
        Some(TokenResponse {
            access_token,
            expires_in,
            received_at: now,
            expires_at,
            scope,
            refresh_token: None,
            session_id,
            id_token: None,
        })
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// `expires_in` as sent.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// The `now` the response was parsed at: where `expires_in` counts from.
    pub fn received_at(&self) -> Instant {
        self.received_at
    }

    /// When the token expires, on the caller's monotonic clock.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// The granted scopes as sent (space-separated), when the server said.
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The granted scopes, parsed leniently (unknown characters are kept as the server sent them).
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or_default().split(' ').filter(|s| !s.is_empty())
    }

    /// The refresh token (authorization-code and refresh-token grants).
    pub fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    /// The session id `sid` (authorization-code flow).
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The ID token (authorization-code flow with scope `openid`).
    pub fn id_token(&self) -> Option<&IdToken> {
        self.id_token.as_ref()
    }

    /// Whether the scopes granted include all of `wanted` (true when the server did not list them).
    pub fn grants(&self, wanted: &Scopes) -> bool {
        self.scope.is_none() || wanted.iter().all(|w| self.scopes().any(|s| s == w))
    }
}

/// The fields of a success body. Borrowed where the JSON has no escapes, so parsing copies each secret once.
#[derive(Deserialize)]
struct RawSuccess<'a> {
    #[serde(borrow)]
    access_token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    token_type: Option<Cow<'a, str>>,
    expires_in: Option<ExpiresIn<'a>>,
    #[serde(borrow)]
    scope: Option<Cow<'a, str>>,
    #[serde(borrow)]
    refresh_token: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id_token: Option<Cow<'a, str>>,
}

/// `expires_in` as servers send it: an integer per RFC 6749, sometimes a float or a numeric string.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresIn<'a> {
    Integer(i64),
    Unsigned(u64),
    Float(f64),
    #[serde(borrow)]
    Text(Cow<'a, str>),
}

impl ExpiresIn<'_> {
    fn seconds(&self) -> Result<u64, String> {
        let seconds = match self {
            ExpiresIn::Unsigned(n) => return Ok(*n),
            ExpiresIn::Integer(n) => *n,
            ExpiresIn::Float(f)
                if f.is_finite() && f.fract() == 0.0 && *f >= i64::MIN as f64 && *f <= i64::MAX as f64 =>
            {
                *f as i64
            }
            ExpiresIn::Float(_) => return Err("expires_in is not a whole number of seconds".into()),
            ExpiresIn::Text(text) => text
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("expires_in is the string {:?}, not a number", crate::error::excerpt(text)))?,
        };
        u64::try_from(seconds).map_err(|_| format!("expires_in is negative ({seconds})"))
    }
}

fn parse_success(status: StatusCode, body: &[u8], now: Instant) -> Result<TokenResponse, Error> {
    let malformed = |reason: String| Error::MalformedResponse { status, reason };
    let raw: RawSuccess<'_> = serde_json::from_slice(body).map_err(|err| malformed(json_problem(body, &err)))?;
    let access_token = match raw.access_token {
        Some(token) if !token.is_empty() => AccessToken::new(token.into_owned()),
        Some(_) => return Err(malformed("access_token is empty".into())),
        None => return Err(malformed("no access_token in the body".into())),
    };
    match raw.token_type.as_deref() {
        Some(kind) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(kind) => {
            return Err(malformed(format!(
                "token_type is {:?}; only Bearer tokens are supported",
                crate::error::excerpt(kind)
            )));
        }
        None => return Err(malformed("no token_type in the body".into())),
    }
    let seconds =
        raw.expires_in.ok_or_else(|| malformed("no expires_in in the body".into()))?.seconds().map_err(malformed)?;
    let expires_in = Duration::from_secs(seconds);
    let expires_at = now
        .checked_add(expires_in)
        .ok_or_else(|| malformed(format!("expires_in is implausibly large ({seconds} s)")))?;
    Ok(TokenResponse {
        access_token,
        expires_in,
        received_at: now,
        expires_at,
        scope: raw.scope.map(Cow::into_owned),
        refresh_token: raw.refresh_token.map(|t| RefreshToken::new(t.into_owned())),
        session_id: raw.sid.map(Cow::into_owned),
        id_token: raw.id_token.map(|t| IdToken::new(t.into_owned())),
    })
}

#[derive(Deserialize)]
struct RawError<'a> {
    #[serde(borrow)]
    error: Cow<'a, str>,
    #[serde(borrow)]
    error_description: Option<Cow<'a, str>>,
}

/// Reads an RFC 6749 §5.2 error body; `None` when the body is not one.
fn parse_oauth_error(status: StatusCode, body: &[u8], retry_after: Option<RetryAfter>) -> Option<OAuthError> {
    let raw: RawError<'_> = serde_json::from_slice(body).ok()?;
    if raw.error.is_empty() {
        return None;
    }
    let description = raw.error_description.map(|d| crate::error::description(&d)).filter(|d| !d.is_empty());
    Some(OAuthError { code: ErrorCode::parse(&raw.error), description, status, retry_after })
}

/// What a body looks like, for an error message: never its content, which may be anything.
fn describe_body(body: &[u8], content_type: Option<&str>) -> String {
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        return "empty body".into();
    }
    let kind = if trimmed.first() == Some(&b'<') {
        "an HTML page"
    } else if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        "JSON without an OAuth error"
    } else {
        "a body that is not JSON"
    };
    match content_type {
        Some(ct) => format!("{kind}, {} bytes of {}", body.len(), crate::error::excerpt(ct)),
        None => format!("{kind}, {} bytes", body.len()),
    }
}

fn json_problem(body: &[u8], err: &serde_json::Error) -> String {
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        "the body is empty".into()
    } else if trimmed.first() == Some(&b'<') {
        "the body is an HTML page, not JSON (a proxy or error page?)".into()
    } else if err.is_eof() {
        format!("the JSON body is truncated ({} bytes)", body.len())
    } else if err.is_data() {
        // serde's own message may quote the offending value, which could be a secret: say where, not what.
        format!("a field has an unexpected type (line {}, column {})", err.line(), err.column())
    } else {
        format!("the body is not valid JSON (line {}, column {})", err.line(), err.column())
    }
}

impl fmt::Display for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bearer token, expires in {} s", self.expires_in.as_secs())?;
        if let Some(scope) = &self.scope {
            write!(f, ", scope {scope:?}")?;
        }
        Ok(())
    }
}
