//! What every transport crate shares, so that td-oauth-reqwest and td-oauth-ureq behave the same by
//! construction: the settings type ([`Config`], which each transport plugs its HTTP client into), the one
//! error type ([`Error`]), and a token fetch's retry loop as state ([`TokenFetch`]). A transport adds only its
//! I/O (sending a request, reading a capped body) and its way of waiting.
//!
//! Embedding the core in your own HTTP stack, you may use these too: `TokenFetch` tells you what to send, how
//! long it may take and when to try again.

mod client;
mod config;
mod face;
mod fetch;
pub mod proxy;
mod unauthorized;

pub use client::{ClientParts, http_client};
pub use config::{Config, DEFAULT_USER_AGENT, Transport};
pub use fetch::{Attempt, AttemptOutcome, PendingSignature, Step, TokenFetch};
pub use unauthorized::{Authorizing, Reauthorization, send_authorized};

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use crate::Error;
use crate::random::RandomSource;

/// Runs a future whose every `.await` is ready at once, as the core's async loops are when a blocking
/// transport drives them: its I/O and its sleeps happen as each future is made, and are ready when polled.
/// This is how td-oauth-ureq runs the same loops td-oauth-reqwest awaits.
pub fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        // Not reached with ready futures; should one be pending after all, let it make progress.
        std::thread::yield_now();
    }
}

/// A random number for jitter from `rng`; should the source fail, the clock's nanoseconds (jitter needs no
/// secrecy, only spread).
pub fn jitter(rng: &dyn RandomSource) -> u64 {
    let mut bytes = [0u8; 8];
    match rng.fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => u64::from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos(),
        ),
    }
}

/// The `Authorization` header value that sends `token` to an API, marked sensitive so that HTTP stacks leave
/// it out of their logs: `Bearer <token>`, or the bare token for an STS token
/// ([`TokenKind::Sts`](crate::response::TokenKind::Sts)), as the APIs that take those expect.
pub fn authorization(token: &crate::TokenResponse) -> Result<http::HeaderValue, Error> {
    let secret = token.access_token().secret().as_bytes();
    let prefix: &[u8] = match token.kind() {
        crate::response::TokenKind::Bearer => b"Bearer ",
        crate::response::TokenKind::Sts => b"",
    };
    // Exactly as long as it is full, so that the header takes the buffer as it is: one allocation per header.
    let mut text = Vec::with_capacity(prefix.len().saturating_add(secret.len()));
    text.extend_from_slice(prefix);
    text.extend_from_slice(secret);
    let mut value = http::HeaderValue::try_from(text).map_err(|_| {
        Error::Response(crate::response::ResponseError::Malformed {
            status: http::StatusCode::OK,
            reason: "the access token holds characters an HTTP header cannot carry".into(),
        })
    })?;
    value.set_sensitive(true);
    Ok(value)
}
