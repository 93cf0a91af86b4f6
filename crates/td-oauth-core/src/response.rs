//! The token endpoint's answer: a typed token, the server's OAuth error, or a precise reason the body
//! cannot be used. Never panics, whatever the bytes.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use http::header::{CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use serde::Deserialize;

use crate::oauth_error::{ErrorCode, OAuthError, RetryAfter};
use crate::secret::{IdToken, TokenSyntax, check_token};
use crate::{AccessToken, RefreshToken, Scopes};

/// Why the token endpoint's answer is not a token: the server's OAuth error, a body that cannot be used, or
/// a status that carries no OAuth error. What [`TokenResponse::from_http`] returns; none quotes the body.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The token endpoint answered with an OAuth error (`invalid_client`, `invalid_grant`, …).
    #[error(transparent)]
    OAuth(#[from] OAuthError),

    /// A response that claims success (or an error) but whose body cannot be used.
    #[error("malformed token response (HTTP {status}): {reason}")]
    Malformed {
        /// The HTTP status.
        status: StatusCode,
        /// What was wrong with the body.
        reason: String,
    },

    /// A status that carries no OAuth error: a proxy's 502, a 503, a 429 without a JSON body, a redirect.
    #[error("the token endpoint answered HTTP {status} ({detail}){}", retry_after.map(|r| format!("; retry after {r}")).unwrap_or_default())]
    UnexpectedStatus {
        /// The HTTP status.
        status: StatusCode,
        /// What the body looked like (never its content).
        detail: String,
        /// The `Retry-After` header, if any.
        retry_after: Option<RetryAfter>,
    },
}

impl ResponseError {
    /// Whether sending the same request again later may succeed: 5xx, 429 and OAuth errors that mean
    /// "later" (`temporarily_unavailable`, `server_error`, `slow_down`). Never true for other 4xx such as
    /// `invalid_client`.
    pub fn is_retryable(&self) -> bool {
        match self {
            ResponseError::OAuth(err) => err.is_retryable(),
            ResponseError::UnexpectedStatus { status, .. } | ResponseError::Malformed { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        match self {
            ResponseError::OAuth(err) => err.retry_after(),
            ResponseError::UnexpectedStatus { retry_after, .. } => *retry_after,
            ResponseError::Malformed { .. } => None,
        }
    }
}

/// A successful token response.
///
/// `expires_at` is on the monotonic clock the caller passed in as `now`, so cache decisions are immune to
/// wall-clock jumps. RFC 6749 §5.1 only recommends `expires_in`; an answer without it is given
/// [`TokenResponse::DEFAULT_EXPIRES_IN`] (60 s), short so that a token of unknown lifetime is soon replaced.
///
/// The tokens are checked against the RFCs' character sets before anything can print or send them: the
/// access token must be an RFC 6750 `b64token` (letters, digits, `-._~+/`, then optional `=`), as every
/// Bearer token is; the refresh token printable ASCII (RFC 6749's `VSCHAR`). A token with a control
/// character could otherwise inject a header or a terminal escape wherever it is used.
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
    kind: TokenKind,
}

/// How an API expects a token in its `Authorization` header.
///
/// Most Talkdesk APIs take `Bearer <token>` (RFC 6750). Talkdesk's "Client Credentials - STS" tokens are a
/// second kind: the few APIs that take them expect the bare token, without the word `Bearer`.
/// [`transport::authorization`](crate::transport::authorization), which every bearer wrapper uses, writes
/// the header this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TokenKind {
    /// `Authorization: Bearer <token>`.
    #[default]
    Bearer,
    /// `Authorization: <token>`: an STS token.
    Sts,
}

impl TokenResponse {
    /// The lifetime assumed when the server sends no `expires_in`.
    pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(60);

    /// Parses the token endpoint's response, received at `now`.
    ///
    /// A body may start with a UTF-8 byte-order mark. A 200 whose body carries an OAuth `error` is that
    /// error ([`ResponseError::OAuth`] with status 200), not a token.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use td_oauth_core::TokenResponse;
    ///
    /// let response = http::Response::builder()
    ///     .status(200)
    ///     .body(r#"{"access_token":"eyJhbGciOiJFUzI1NiJ9.e30.c2ln","token_type":"Bearer","expires_in":600,"scope":"users:read"}"#)?;
    /// let now = Instant::now();
    /// let token = TokenResponse::from_http(&response, now)?;
    /// assert_eq!(token.expires_at(), now + Duration::from_secs(600));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_http<B: AsRef<[u8]>>(response: &Response<B>, now: Instant) -> Result<Self, ResponseError> {
        let status = response.status();
        let body = response.body().as_ref();
        // Some servers write JSON with a byte-order mark, which RFC 8259 §8.1 lets parsers ignore.
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(RetryAfter::parse);
        if status.is_success() {
            return parse_success(status, body, now, retry_after);
        }
        if let Some(error) = parse_oauth_error(status, body, retry_after) {
            return Err(ResponseError::OAuth(error));
        }
        let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        Err(ResponseError::UnexpectedStatus {
            status,
            detail: crate::text::describe_body(body, content_type),
            retry_after,
        })
    }

    /// A token taken out of a shared cache at `now`, with `expires_in` what remains of it; `None` when that
    /// does not fit the monotonic clock.
    pub fn from_cache(
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
            kind: TokenKind::Bearer,
        })
    }

    /// The access token.
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// Whether `other` carries the same access token, compared in constant time (it is a secret). Two
    /// handles to one token need not be one allocation: a provider hands each thread its own copy.
    pub fn is_same_token(&self, other: &TokenResponse) -> bool {
        use subtle::ConstantTimeEq as _;
        self.access_token.secret().as_bytes().ct_eq(other.access_token.secret().as_bytes()).into()
    }

    /// `expires_in` as sent, or [`TokenResponse::DEFAULT_EXPIRES_IN`] when the server sent none.
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

    /// How APIs expect this token in `Authorization` ([`TokenKind::Bearer`] unless set otherwise).
    pub fn kind(&self) -> TokenKind {
        self.kind
    }

    /// The same token, of `kind` (what [`TokenClient::with_token_kind`](crate::TokenClient::with_token_kind)
    /// makes the transports do with every token they fetch).
    pub fn with_kind(mut self, kind: TokenKind) -> Self {
        self.kind = kind;
        self
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
    /// An OAuth error in a 200 answer: some servers send errors with a success status.
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error_description: Option<Cow<'a, str>>,
}

/// `expires_in` as servers send it: an integer per RFC 6749, sometimes a float or a numeric string. Read
/// with a visitor of its own rather than `#[serde(untagged)]`, which buffers the value and tries each form
/// in turn.
enum ExpiresIn<'a> {
    Integer(i64),
    Unsigned(u64),
    Float(f64),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for ExpiresIn<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = ExpiresIn<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds")
            }
            fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
                Ok(ExpiresIn::Unsigned(n))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
                Ok(ExpiresIn::Integer(n))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
                Ok(ExpiresIn::Float(f))
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(ExpiresIn::Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(ExpiresIn::Text(Cow::Owned(text.to_owned())))
            }
        }

        deserializer.deserialize_any(Visitor(std::marker::PhantomData))
    }
}

impl ExpiresIn<'_> {
    fn seconds(&self) -> Result<u64, String> {
        match self {
            ExpiresIn::Unsigned(n) => Ok(*n),
            ExpiresIn::Integer(n) => u64::try_from(*n).map_err(|_| format!("expires_in is negative ({n})")),
            ExpiresIn::Float(f) => float_seconds(*f),
            ExpiresIn::Text(text) => {
                let text = text.trim();
                match (text.parse::<i64>(), text.parse::<f64>()) {
                    (Ok(n), _) => ExpiresIn::Integer(n).seconds(),
                    (_, Ok(f)) => float_seconds(f),
                    _ => Err(format!("expires_in is the string {:?}, not a number", crate::text::excerpt(text))),
                }
            }
        }
    }
}

/// Whole seconds from a JSON number written as a float (`600.0`, `1e20`).
fn float_seconds(f: f64) -> Result<u64, String> {
    // 2^64: the first float no u64 can hold.
    const U64_LIMIT: f64 = 18_446_744_073_709_551_616.0;
    if !f.is_finite() || f.fract() != 0.0 {
        Err("expires_in is not a whole number of seconds".into())
    } else if f < 0.0 {
        Err(format!("expires_in is negative ({f})"))
    } else if f >= U64_LIMIT {
        Err(implausibly_large(f))
    } else {
        // Whole, non-negative and below 2^64: the conversion is exact.
        Ok(f as u64)
    }
}

fn implausibly_large(seconds: impl fmt::Display) -> String {
    format!("expires_in is implausibly large ({seconds} s); a token lives minutes or hours")
}

fn parse_success(
    status: StatusCode,
    body: &[u8],
    now: Instant,
    retry_after: Option<RetryAfter>,
) -> Result<TokenResponse, ResponseError> {
    let malformed = |reason: String| ResponseError::Malformed { status, reason };
    let raw: RawSuccess<'_> =
        serde_json::from_slice(body).map_err(|err| malformed(crate::text::json_problem(body, &err)))?;
    if let Some(error) = oauth_error(status, raw.error.as_deref(), raw.error_description.as_deref(), retry_after) {
        return Err(ResponseError::OAuth(error));
    }
    let access_token = match raw.access_token {
        Some(token) if !token.is_empty() => token,
        Some(_) => return Err(malformed("access_token is empty".into())),
        None => return Err(malformed("no access_token in the body".into())),
    };
    match raw.token_type.as_deref() {
        Some(kind) if kind.eq_ignore_ascii_case("bearer") => {}
        Some(kind) => {
            return Err(malformed(format!(
                "token_type is {:?}; only Bearer tokens are supported",
                crate::text::excerpt(kind)
            )));
        }
        None => return Err(malformed("no token_type in the body".into())),
    }
    // Only Bearer gets this far, so the access token is a b64token, which its constructor checks.
    let access_token = AccessToken::new(access_token.into_owned()).map_err(|err| malformed(err.to_string()))?;
    let refresh_token = match raw.refresh_token {
        Some(token) => {
            check_token("refresh_token", &token, TokenSyntax::Vschar).map_err(|err| malformed(err.to_string()))?;
            Some(RefreshToken::new(token.into_owned()))
        }
        None => None,
    };
    let expires_in = match raw.expires_in {
        Some(value) => Duration::from_secs(value.seconds().map_err(malformed)?),
        None => TokenResponse::DEFAULT_EXPIRES_IN,
    };
    let expires_at = now.checked_add(expires_in).ok_or_else(|| malformed(implausibly_large(expires_in.as_secs())))?;
    Ok(TokenResponse {
        access_token,
        expires_in,
        received_at: now,
        expires_at,
        scope: raw.scope.map(Cow::into_owned),
        refresh_token,
        session_id: raw.sid.map(Cow::into_owned),
        id_token: raw.id_token.map(|t| IdToken::new(t.into_owned())),
        kind: TokenKind::Bearer,
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
    oauth_error(status, Some(&raw.error), raw.error_description.as_deref(), retry_after)
}

/// The OAuth error named by `error`, if it names one; the description is sanitised.
fn oauth_error(
    status: StatusCode,
    error: Option<&str>,
    description: Option<&str>,
    retry_after: Option<RetryAfter>,
) -> Option<OAuthError> {
    let code = error.filter(|code| !code.is_empty())?;
    let description = description.map(crate::text::description).filter(|d| !d.is_empty());
    Some(OAuthError { code: ErrorCode::parse(code), description, status, retry_after, clock_offset: None })
}

impl fmt::Display for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            TokenKind::Bearer => "Bearer",
            TokenKind::Sts => "STS",
        };
        write!(f, "{kind} token, expires in {} s", self.expires_in.as_secs())?;
        if let Some(scope) = &self.scope {
            write!(f, ", scope {scope:?}")?;
        }
        Ok(())
    }
}
