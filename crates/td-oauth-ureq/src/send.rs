//! One HTTP exchange: the core's `http::Request<FormBody>` out through ureq, an `http::Response<Vec<u8>>`
//! back for the core to parse. No redirects, a capped body, timeouts; ureq's errors mapped to ours.

use std::io::{self, Read as _};
use std::time::Duration;

use http::header::CONTENT_LENGTH;
use http::{Request, Response};
use td_oauth_core::FormBody;
use ureq::ResponseExt as _;

use crate::Error;

/// What one attempt may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) max_response_bytes: usize,
}

/// Sends `request` with `agent` and reads the whole (capped) answer, whatever its status.
pub(crate) fn send(
    agent: &ureq::Agent,
    request: Request<FormBody>,
    limits: Limits,
    user_agent: &str,
) -> Result<Response<Vec<u8>>, Error> {
    let url = request.uri().to_string();
    let (parts, body) = request.into_parts();
    // ureq writes straight from the borrowed bytes; the FormBody still wipes them when dropped below.
    let request = Request::from_parts(parts, body.as_bytes());
    // Per-request settings win over the agent's, so a caller-supplied agent cannot follow redirects with
    // our credentials or turn an OAuth error answer into an opaque status error.
    let request = agent
        .configure_request(request)
        .max_redirects(0)
        .save_redirect_history(true)
        .http_status_as_error(false)
        .timeout_connect(Some(limits.connect_timeout))
        .timeout_global(Some(limits.timeout))
        .user_agent(user_agent)
        .build();
    let response = agent.run(request).map_err(|err| map_error(err, &url, limits.timeout))?;

    let status = response.status();
    let redirected = response.get_redirect_history().is_some_and(|history| history.len() > 1);
    if status.is_redirection() || redirected {
        return Err(Error::Redirected { url, status: status.as_u16() });
    }

    let (parts, body) = response.into_parts();
    let cap = limits.max_response_bytes;
    let too_large = || Error::ResponseTooLarge { status: status.as_u16(), limit: cap };
    let announced = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > cap as u64) {
        // Refuse before reading a byte: the server said how much it would send.
        return Err(too_large());
    }
    let initial = announced.map_or(1024, |len| len as usize).min(cap.saturating_add(1));
    let mut bytes = Vec::with_capacity(initial);
    body.into_reader()
        .take(cap as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| map_io_error(err, &url, limits.timeout))?;
    if bytes.len() > cap {
        return Err(too_large());
    }
    Ok(Response::from_parts(parts, bytes))
}

/// Maps ureq's error to ours. Messages come from ureq and name causes, never request or response content.
fn map_error(err: ureq::Error, url: &str, timeout: Duration) -> Error {
    let url = url.to_owned();
    match err {
        ureq::Error::Timeout(_) => Error::Timeout { url, timeout },
        ureq::Error::Io(io) => map_io_error(io, &url, timeout),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            Error::Tls { url, reason: err.to_string() }
        }
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::Protocol(_)
        | ureq::Error::BodyStalled => Error::Transport { url, reason: err.to_string() },
        other => Error::Request { reason: other.to_string() },
    }
}

fn map_io_error(err: io::Error, url: &str, timeout: Duration) -> Error {
    // A body read can fail with a ureq error (e.g. the global timeout) wrapped in an io::Error.
    if err.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
        return match err.into_inner().map(|inner| inner.downcast::<ureq::Error>()) {
            Some(Ok(inner)) => map_error(*inner, url, timeout),
            _ => Error::Transport { url: url.to_owned(), reason: "the connection failed".into() },
        };
    }
    // rustls reports a refused certificate or failed handshake as an io::Error around its own error.
    if let Some(tls) = err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        return Error::Tls { url: url.to_owned(), reason: tls.to_string() };
    }
    match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout { url: url.to_owned(), timeout },
        io::ErrorKind::UnexpectedEof => Error::Transport {
            url: url.to_owned(),
            reason: "the connection closed before the whole answer arrived".into(),
        },
        _ => Error::Transport { url: url.to_owned(), reason: err.to_string() },
    }
}
