//! One HTTP exchange: the core's request out through ureq, an `http::Response<Vec<u8>>` back for the core to
//! parse. No redirects, a capped body, the attempt's timeout; ureq's errors mapped to the shared [`Error`].

use std::io::{self, Read as _};
use std::time::Duration;

use http::header::CONTENT_LENGTH;
use http::{Request, Response};
use td_oauth_core::transport::Attempt;
use ureq::ResponseExt as _;

use td_oauth_core::transport::proxy::{ProxyRule, ProxyUrl};

use crate::{Error, config};

/// Sends the attempt's request with `agent` (through the proxy `proxies` gives it, when the agent is this
/// crate's) and reads the whole answer, whatever its status, keeping at most `cap` body bytes. `url` is the
/// request's URL as shown in errors (no query).
pub(crate) fn send(
    agent: &ureq::Agent,
    proxies: Option<&ProxyRule>,
    attempt: Attempt,
    url: &str,
    cap: usize,
) -> Result<Response<Vec<u8>>, Error> {
    let (parts, body) = attempt.request.into_parts();
    let route = match proxies {
        Some(rule) => config::proxy_for(rule, &parts.uri)?,
        None => None,
    };
    // ureq writes straight from the borrowed bytes; the FormBody still wipes them when dropped below.
    let request = Request::from_parts(parts, body.as_bytes());
    // Per-request settings win over the agent's, so a caller-supplied agent cannot follow redirects with
    // our credentials, turn an OAuth error answer into an opaque status error, or outlive the attempt.
    let mut request = agent
        .configure_request(request)
        .max_redirects(0)
        .save_redirect_history(true)
        .http_status_as_error(false)
        .timeout_global(Some(attempt.timeout));
    if proxies.is_some() {
        request = request.proxy(route.as_ref().map(|(proxy, _)| proxy.clone()));
    }
    let response = agent
        .run(request.build())
        .map_err(|err| map_error_via(err, url, Some(attempt.timeout), route.as_ref().map(|(_, shown)| shown)))?;

    let status = response.status();
    let redirected = response.get_redirect_history().is_some_and(|history| history.len() > 1);
    if status.is_redirection() || redirected {
        return Err(Error::Redirected { url: url.to_owned(), status: status.as_u16() });
    }
    let too_large = Error::ResponseTooLarge { status: status.as_u16(), limit: cap };
    read_capped(response, url, cap, Some(attempt.timeout), too_large)
}

/// Reads `response`'s whole body, keeping at most `cap` bytes; a larger one is `too_large`, with nothing
/// beyond the cap read.
pub(crate) fn read_capped<E: From<Error>>(
    response: Response<ureq::Body>,
    url: &str,
    cap: usize,
    timeout: Option<Duration>,
    too_large: E,
) -> Result<Response<Vec<u8>>, E> {
    let (parts, body) = response.into_parts();
    let announced = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|len| len > cap as u64) {
        // Refuse before reading a byte: the server said how much it would send.
        return Err(too_large);
    }
    let initial = announced.map_or(1024, |len| usize::try_from(len).unwrap_or(cap)).min(cap.saturating_add(1));
    let mut bytes = Vec::with_capacity(initial);
    body.into_reader()
        .take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|err| E::from(map_io_error(err, url, timeout)))?;
    if bytes.len() > cap {
        return Err(too_large);
    }
    Ok(Response::from_parts(parts, bytes))
}

/// [`map_error`] for a request that went through `proxy`: a failure to reach the proxy, or its refusal of
/// the tunnel, is the proxy's ([`Error::Proxy`], [`Error::ProxyRefused`]), not the endpoint's.
pub(crate) fn map_error_via(err: ureq::Error, url: &str, timeout: Option<Duration>, proxy: Option<&ProxyUrl>) -> Error {
    let Some(proxy) = proxy else { return map_error(err, url, timeout) };
    match err {
        // ureq says "proxy server responded 407/407" (or "did not respond").
        ureq::Error::ConnectProxyFailed(reason) => {
            let status = reason
                .split_once("responded ")
                .and_then(|(_, rest)| rest.get(..3))
                .and_then(|code| code.parse::<u16>().ok());
            proxy.tunnel_failed(status, format!("CONNECT failed: {reason}"))
        }
        // With a proxy, the only connection made is to the proxy.
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => proxy.tunnel_failed(None, err.to_string()),
        ureq::Error::Io(ref io)
            if matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkUnreachable
                    | io::ErrorKind::AddrNotAvailable
            ) =>
        {
            proxy.tunnel_failed(None, io.to_string())
        }
        other => map_error(other, url, timeout),
    }
}

/// Maps ureq's error to ours. Messages come from ureq and name causes, never request or response content.
pub(crate) fn map_error(err: ureq::Error, url: &str, timeout: Option<Duration>) -> Error {
    let url = url.to_owned();
    match err {
        ureq::Error::Timeout(_) => Error::Timeout { url, timeout },
        ureq::Error::Io(io) => map_io_error(io, &url, timeout),
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            Error::Tls { url, reason: err.to_string() }
        }
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::InvalidProxyUrl => {
            Error::Config { reason: format!("ureq refused the request: {err}") }
        }
        other => Error::Transport { url, reason: other.to_string() },
    }
}

fn map_io_error(err: io::Error, url: &str, timeout: Option<Duration>) -> Error {
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
