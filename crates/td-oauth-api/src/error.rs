//! What the Talkdesk API answers when it says no: its error body (`code`, `message`, `description`,
//! `fields[]`) as a typed value, and [`ApiError`], every way an API call can fail before or after sending.
//! Distinct from the token endpoint's OAuth errors ([`OAuthError`](td_oauth_core::OAuthError)).

use std::fmt;

use http::{Response, StatusCode};
use serde::Deserialize;

use crate::SentCredentials;
use td_oauth_core::oauth_error::RetryAfter;
use td_oauth_core::text::{description, excerpt};

/// The Talkdesk API's error body, with the HTTP status it came with: `{"code", "message", "description"?,
/// "fields"?: [{"name", "description"}]}`. Every text is stripped of control characters and bounded, so it
/// is safe to print; read by [`ApiError::from_response`], every text also has the credentials the request
/// carried replaced (see [`SentCredentials`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkdeskError {
    status: StatusCode,
    code: Option<String>,
    message: Option<String>,
    description: Option<String>,
    fields: Vec<FieldError>,
    retry_after: Option<RetryAfter>,
}

/// One entry of a Talkdesk error's `fields[]`: which request field was refused and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    name: String,
    description: String,
}

impl FieldError {
    /// The field's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why it was refused.
    pub fn description(&self) -> &str {
        &self.description
    }
}

#[derive(Deserialize)]
struct RawError {
    code: Option<serde_json::Value>,
    message: Option<String>,
    description: Option<String>,
    /// Some endpoints (the Apps API's 403 and 404) send `{"error": "..."}` instead of `message`.
    error: Option<String>,
    #[serde(default)]
    fields: Vec<RawField>,
}

#[derive(Deserialize)]
struct RawField {
    name: Option<String>,
    description: Option<String>,
}

/// At most this many `fields[]` entries are kept: a message lists what to fix, not a whole dump.
const MAX_FIELDS: usize = 32;

impl TalkdeskError {
    /// Reads a Talkdesk error body; `None` when the body is not one (no `code` and no `message`). The texts
    /// are cleaned and bounded but not redacted: [`ApiError::from_response`] does both, or call
    /// [`redacted`](Self::redacted).
    pub fn parse(status: StatusCode, body: &[u8], retry_after: Option<RetryAfter>) -> Option<Self> {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let raw: RawError = serde_json::from_slice(body).ok()?;
        let code = match raw.code {
            Some(serde_json::Value::String(code)) => Some(excerpt(&code)),
            // Some APIs send numeric codes.
            Some(serde_json::Value::Number(code)) => Some(code.to_string()),
            _ => None,
        };
        let message = raw.message.or(raw.error);
        if code.is_none() && message.is_none() {
            return None;
        }
        let fields = raw
            .fields
            .into_iter()
            .take(MAX_FIELDS)
            .map(|field| FieldError {
                name: excerpt(field.name.as_deref().unwrap_or("?")),
                description: description(field.description.as_deref().unwrap_or_default()),
            })
            .collect();
        Some(TalkdeskError {
            status,
            code,
            message: message.as_deref().map(description),
            description: raw.description.as_deref().map(description),
            fields,
            retry_after,
        })
    }

    /// The same error with the credentials in `sent` replaced in every text it keeps (code, message,
    /// description, fields' names and descriptions).
    pub fn redacted(mut self, sent: &SentCredentials) -> Self {
        if sent.is_empty() {
            return self;
        }
        let redact = |text: &mut String| *text = sent.redact(text);
        let texts = [self.code.as_mut(), self.message.as_mut(), self.description.as_mut()];
        texts.into_iter().flatten().for_each(redact);
        for field in &mut self.fields {
            redact(&mut field.name);
            redact(&mut field.description);
        }
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Talkdesk's error code (e.g. `"0000001"`), when sent.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The short message, when sent.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The longer description, when sent.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The request fields that were refused.
    pub fn fields(&self) -> &[FieldError] {
        &self.fields
    }

    /// The `Retry-After` header, when sent.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.retry_after
    }
}

impl fmt::Display for TalkdeskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the Talkdesk API answered HTTP {}", self.status)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        if let Some(message) = &self.message {
            write!(f, ": {message}")?;
        }
        if let Some(description) = self.description.as_ref().filter(|d| Some(*d) != self.message.as_ref()) {
            write!(f, " ({description})")?;
        }
        for field in &self.fields {
            write!(f, "; field `{}`: {}", field.name, field.description)?;
        }
        if let Some(retry_after) = self.retry_after {
            write!(f, "; retry after {retry_after}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TalkdeskError {}

/// Why an API call did not give what was asked for. No message holds a body that was not a Talkdesk error,
/// nor (for an answer that carries its [`SentCredentials`]) the credentials the request sent.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The API answered with its error body.
    #[error(transparent)]
    Talkdesk(Box<TalkdeskError>),

    /// The API answered an error status without a Talkdesk error body (a proxy's 502, a bare 404).
    #[error("the Talkdesk API answered HTTP {status} ({detail}){}", retry_after.map(|r| format!("; retry after {r}")).unwrap_or_default())]
    UnexpectedStatus {
        /// The HTTP status.
        status: StatusCode,
        /// What the body looked like (never its content).
        detail: String,
        /// The `Retry-After` header, if any.
        retry_after: Option<RetryAfter>,
    },

    /// A success whose body is not what the endpoint documents.
    #[error("malformed answer from the Talkdesk API (HTTP {status}): {reason}")]
    Malformed {
        /// The HTTP status.
        status: StatusCode,
        /// What was wrong.
        reason: String,
    },

    /// `/users/me` answered 400: the token has no user (a client-credentials token). Userinfo needs a token
    /// from the authorization-code flow (or a refresh token from it).
    #[error(
        "the token has no user context (HTTP 400 from /users/me): userinfo needs a user token from the \
         authorization-code flow (or its refresh token), not a client-credentials token{}",
        .0.as_ref().and_then(|e| e.message()).map(|m| format!(" ({m})")).unwrap_or_default()
    )]
    NoUserContext(Option<Box<TalkdeskError>>),

    /// A path or URL for the API was refused before anything was sent.
    #[error("invalid API path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given (shortened).
        path: String,
        /// What is wrong and what to do.
        reason: String,
    },

    /// No API gateway is known: Talkdesk documents none for the region (AU), or the endpoints carry none.
    #[error("no Talkdesk API gateway: {reason}")]
    NoGateway {
        /// Why, and what to give instead.
        reason: String,
    },

    /// A `_links.root` (or another link) names a host that is not on the allow-list of Talkdesk API hosts:
    /// a forged event could otherwise send tokens to any host.
    #[error(
        "{which} points at {origin}, which is not a Talkdesk API host; if it is one, add it to the \
         GatewayAllowList (with_origin)"
    )]
    HostNotAllowed {
        /// Which link (`_links.root`, …).
        which: String,
        /// Its origin (`https://host:port`).
        origin: String,
    },

    /// A list's `_links.next` leads to another origin than the gateway's: never followed with the token.
    #[error("the list's _links.next leads to {origin}, not to the API gateway {gateway}; stopped")]
    ForeignNext {
        /// Where `next` pointed.
        origin: String,
        /// The gateway's origin.
        gateway: String,
    },

    /// A list had more pages than the paginator's bound (or its `next` pointed back at a page already read).
    #[error("stopped after {pages} pages: {reason}")]
    PageLimit {
        /// Pages read.
        pages: usize,
        /// Why it stopped.
        reason: String,
    },

    /// The answer is larger than the API body cap; nothing beyond it was read.
    #[error(
        "the API answer is larger than {limit} bytes (HTTP {status}); raise the API client's body limit if it is expected"
    )]
    TooLarge {
        /// The HTTP status.
        status: StatusCode,
        /// The cap, in bytes.
        limit: usize,
    },

    /// A request could not be built (a header or body value that HTTP cannot carry).
    #[error("could not build the API request: {0}")]
    Build(String),

    /// The call got no answer: no token could be had for it, or it could not be sent (connection refused,
    /// timeout, TLS). The transport's error says which.
    #[error(transparent)]
    Transport(#[from] td_oauth_core::Error),
}

impl ApiError {
    /// The HTTP status of the answer this came from, if any.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Talkdesk(err) => Some(err.status()),
            ApiError::UnexpectedStatus { status, .. }
            | ApiError::Malformed { status, .. }
            | ApiError::TooLarge { status, .. } => Some(*status),
            ApiError::NoUserContext(_) => Some(StatusCode::BAD_REQUEST),
            _ => None,
        }
    }

    /// Whether the same call may succeed later: 5xx and 429, and the transport failures that are.
    pub fn is_retryable(&self) -> bool {
        if let ApiError::Transport(err) = self {
            return err.is_retryable();
        }
        !matches!(self, ApiError::TooLarge { .. })
            && self.status().is_some_and(|s| s.is_server_error() || s == StatusCode::TOO_MANY_REQUESTS)
    }

    /// The Talkdesk error body, when the API sent one.
    pub fn talkdesk(&self) -> Option<&TalkdeskError> {
        match self {
            ApiError::Talkdesk(err) => Some(err),
            ApiError::NoUserContext(err) => err.as_deref(),
            _ => None,
        }
    }

    /// The error an answer with a non-success `status` stands for: the Talkdesk error body when there is one,
    /// else the bare status.
    ///
    /// A gateway may echo the request's `Authorization` header in its error texts. The credentials the
    /// request carried, when the answer's extensions hold them as [`SentCredentials`], are replaced in every
    /// text kept, so that the error's `Display` never shows them, whoever prints it. The transports'
    /// `ApiClient`s and bearer wrappers put them there; a program with its own HTTP stack inserts
    /// [`SentCredentials::of_request`] of the request into the answer's extensions before reading it.
    pub fn from_response<B: AsRef<[u8]>>(response: &Response<B>) -> Self {
        let status = response.status();
        let body = response.body().as_ref();
        let retry_after =
            response.headers().get(http::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(RetryAfter::parse);
        match TalkdeskError::parse(status, body, retry_after) {
            Some(err) => {
                let sent = response.extensions().get::<SentCredentials>();
                ApiError::Talkdesk(Box::new(match sent {
                    Some(sent) => err.redacted(sent),
                    None => err,
                }))
            }
            None => {
                let content_type = response.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
                ApiError::UnexpectedStatus {
                    status,
                    detail: td_oauth_core::text::describe_body(body, content_type),
                    retry_after,
                }
            }
        }
    }
}
