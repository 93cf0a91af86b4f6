//! The 401 rule for API requests, as state ([`Reauthorization`]) and as the one loop that drives it
//! ([`send_authorized`]), so that every wrapper that attaches tokens (td-oauth-reqwest's `BearerClient`, its
//! `reqwest-middleware` middleware and its `tower` service, td-oauth-ureq's `BearerClient`) follows it the
//! same way:
//!
//! - the token the API refused is reported, so the provider drops it (once, however many requests were
//!   refused with it) and the next request gets a new one;
//! - a request is sent again at most once, and only when its body can be replayed;
//! - the retry is made only with a different token: a source that hands back the refused token again
//!   (a fixed token, a shared cache still holding it) gets the 401 returned, not a loop;
//! - the answer returned carries the token its request was sent with ([`Authorizing::keep_sent`]), so that
//!   errors read from it never show it.
//!
//! [`send_authorized`] is the one loop every wrapper runs; a wrapper gives it its I/O ([`Authorizing`]).

use std::future::Future;
use std::sync::Arc;

use http::{HeaderValue, StatusCode};

use super::authorization;
use crate::Error;
use crate::TokenResponse;

/// One API request's progress through the 401 rule.
#[derive(Debug)]
pub struct Reauthorization {
    token: Arc<TokenResponse>,
    replayable: bool,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The first send.
    First,
    /// Refused with a 401; waiting for a new token.
    Refused,
    /// Sent again, or not to be sent again: no further retry.
    Over,
}

impl Reauthorization {
    /// A request about to be sent with `token`; `replayable` says whether a copy of it (its body
    /// included) is at hand for a second send.
    pub fn new(token: Arc<TokenResponse>, replayable: bool) -> Self {
        Reauthorization { token, replayable, stage: Stage::First }
    }

    /// The `Authorization` header for the current token (from [`authorization`], the one place its form is
    /// decided).
    pub fn header(&self) -> Result<HeaderValue, Error> {
        authorization(&self.token)
    }

    /// The token the request is (or was last) sent with.
    pub fn token(&self) -> &Arc<TokenResponse> {
        &self.token
    }

    /// The answer's status: `Some(token)` when the API refused that token (a 401) for the first time, for
    /// the caller to report to its source (then, with a replayable request, to get a new token and call
    /// [`retry_with`](Self::retry_with)); `None` to return the answer as it is (any other status, or the
    /// retry's own answer).
    pub fn refused(&mut self, status: StatusCode) -> Option<&Arc<TokenResponse>> {
        if status != StatusCode::UNAUTHORIZED || self.stage != Stage::First {
            self.stage = Stage::Over;
            return None;
        }
        self.stage = Stage::Refused;
        Some(&self.token)
    }

    /// The token the source gave after the refusal: the header to send the copy with, or `None` when the
    /// token is the refused one again (sending it would only be refused again), the request cannot be
    /// replayed, or no retry is due.
    pub fn retry_with(&mut self, token: Arc<TokenResponse>) -> Result<Option<HeaderValue>, Error> {
        let due = self.stage == Stage::Refused && self.replayable;
        self.stage = Stage::Over;
        if !due || self.token.is_same_token(&token) {
            return Ok(None);
        }
        self.token = token;
        self.header().map(Some)
    }
}

/// A wrapper's I/O for one API request, as [`send_authorized`] drives it: how it gets a token and reports
/// one refused, sends a request with an `Authorization` header, reads an answer's status and keeps the
/// credentials sent with it. A blocking wrapper returns futures that are ready when made and runs the loop
/// with [`run_ready`](super::run_ready).
pub trait Authorizing {
    /// The request, as the wrapper sends it.
    type Request;
    /// The answer.
    type Response;
    /// The wrapper's error.
    type Error;

    /// A token usable now.
    fn token(&mut self) -> impl Future<Output = Result<Arc<TokenResponse>, Self::Error>> + Send;

    /// The API refused `token` (a 401): the source drops it if it is still the current one.
    fn token_rejected(&mut self, token: &Arc<TokenResponse>);

    /// Sends `request` with `authorization` as its `Authorization` header.
    fn send(
        &mut self,
        request: Self::Request,
        authorization: HeaderValue,
    ) -> impl Future<Output = Result<Self::Response, Self::Error>> + Send;

    /// The answer's status.
    fn status(response: &Self::Response) -> StatusCode;

    /// Keeps with the answer (in its extensions) the token its request was sent with, so that no text read
    /// from it shows that token (td-oauth-api's `SentCredentials`).
    fn keep_sent(response: &mut Self::Response, sent: &Arc<TokenResponse>);

    /// A token no header can carry, as the wrapper's error.
    fn error(err: Error) -> Self::Error;
}

/// Sends `request` under the 401 rule through `io`: with a token, and, when the API answers 401, reports
/// the refused token and sends `replay` (the request again, when its body can be) once with a new, different
/// token. Any answer is returned as it came, 401 included, carrying the credentials it was sent with.
pub async fn send_authorized<A: Authorizing>(
    io: &mut A,
    request: A::Request,
    replay: Option<A::Request>,
) -> Result<A::Response, A::Error> {
    let mut call = Reauthorization::new(io.token().await?, replay.is_some());
    let mut response = io.send(request, call.header().map_err(A::error)?).await?;
    if let Some(refused) = call.refused(A::status(&response)) {
        io.token_rejected(refused);
        if let Some(replay) = replay {
            tracing::debug!("the API answered 401; retrying once with a new token");
            if let Some(header) = call.retry_with(io.token().await?).map_err(A::error)? {
                response = io.send(replay, header).await?;
            }
        }
    }
    A::keep_sent(&mut response, call.token());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn token(value: &str) -> Arc<TokenResponse> {
        let body = format!(r#"{{"access_token":"{value}","token_type":"Bearer","expires_in":600}}"#);
        Arc::new(TokenResponse::from_http(&http::Response::new(body), Instant::now()).unwrap())
    }

    #[test]
    fn a_401_asks_for_one_new_token_and_one_retry() {
        let mut call = Reauthorization::new(token("a"), true);
        assert!(call.refused(StatusCode::UNAUTHORIZED).is_some_and(|t| t.access_token().secret() == "a"));
        let header = call.retry_with(token("b")).unwrap().unwrap();
        assert_eq!(header.to_str().unwrap(), "Bearer b");
        assert!(header.is_sensitive());
        // The retry's own 401 ends it.
        assert!(call.refused(StatusCode::UNAUTHORIZED).is_none());
        assert!(call.retry_with(token("c")).unwrap().is_none());
    }

    #[test]
    fn other_statuses_and_unreplayable_bodies_are_returned() {
        assert!(Reauthorization::new(token("a"), true).refused(StatusCode::OK).is_none());
        assert!(Reauthorization::new(token("a"), true).refused(StatusCode::FORBIDDEN).is_none());
        // Not replayable: the refused token is still reported, but there is no retry.
        let mut stream = Reauthorization::new(token("a"), false);
        assert!(stream.refused(StatusCode::UNAUTHORIZED).is_some());
        assert!(stream.retry_with(token("b")).unwrap().is_none());
    }

    #[test]
    fn the_refused_token_handed_back_is_not_sent_again() {
        let mut call = Reauthorization::new(token("a"), true);
        assert!(call.refused(StatusCode::UNAUTHORIZED).is_some());
        assert!(call.retry_with(token("a")).unwrap().is_none());
    }

    #[test]
    fn no_retry_without_a_refusal() {
        let mut call = Reauthorization::new(token("a"), true);
        assert!(call.retry_with(token("b")).unwrap().is_none());
    }
}
