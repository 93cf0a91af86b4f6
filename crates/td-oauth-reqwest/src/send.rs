//! One HTTP exchange: the core's request out through reqwest, a capped `http::Response<Vec<u8>>` back for the
//! core to parse, within the attempt's timeout; reqwest's errors mapped to the shared [`Error`].

use std::time::Duration;

use td_oauth_core::transport::Attempt;
use td_oauth_core::transport::proxy::ProxyUrl;

use crate::Error;

/// Sends the attempt's request to `url` (the same URL, already parsed by the core; `shown` is how errors show
/// it), bounded by the attempt's timeout from connecting to the last body byte, keeping at most `cap` body
/// bytes.
pub(crate) async fn send(
    http: &reqwest::Client,
    proxy: Option<&ProxyUrl>,
    attempt: Attempt,
    url: &reqwest::Url,
    shown: &str,
    cap: usize,
) -> Result<http::Response<Vec<u8>>, Error> {
    let timeout = attempt.timeout;
    let (parts, body) = attempt.request.into_parts();
    let mut request = reqwest::Request::new(parts.method, url.clone());
    *request.headers_mut() = parts.headers;
    *request.body_mut() = Some(body.into_vec().into());

    // tokio's timeout covers a caller-supplied client with none of its own, and the body as well as the headers.
    let exchange = async {
        let response = http.execute(request).await.map_err(|e| from_reqwest_via(e, shown, Some(timeout), proxy))?;
        let status = response.status();
        if status.is_redirection() || response.url() != url {
            return Err(Error::Redirected { url: shown.to_owned(), status: status.as_u16() });
        }
        let too_large = Error::ResponseTooLarge { status: status.as_u16(), limit: cap };
        read_capped(response, shown, cap, Some(timeout), too_large).await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(Error::Timeout { url: shown.to_owned(), timeout: Some(timeout) }))
}

/// Reads `response`'s whole body, keeping at most `cap` bytes; a larger one is `too_large`, with nothing
/// beyond the cap read. `shown` and `timeout` go into errors.
pub(crate) async fn read_capped<E: From<Error>>(
    mut response: reqwest::Response,
    shown: &str,
    cap: usize,
    timeout: Option<Duration>,
    too_large: E,
) -> Result<http::Response<Vec<u8>>, E> {
    if response.content_length().is_some_and(|len| len > cap as u64) {
        return Err(too_large);
    }
    let announced = response.content_length().and_then(|len| usize::try_from(len).ok()).unwrap_or(1024);
    let mut body = Vec::with_capacity(announced.min(cap));
    while let Some(chunk) = response.chunk().await.map_err(|e| E::from(from_reqwest(e, shown, timeout)))? {
        if body.len().saturating_add(chunk.len()) > cap {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    let mut answer = http::Response::new(body);
    *answer.status_mut() = response.status();
    *answer.headers_mut() = std::mem::take(response.headers_mut());
    // The credentials the request carried (`BearerClient` put them there), for the errors read from it.
    *answer.extensions_mut() = std::mem::take(response.extensions_mut());
    Ok(answer)
}

/// [`from_reqwest`] for a request that went through `proxy`: a failure to reach the proxy, or its refusal
/// of the tunnel, is the proxy's ([`Error::Proxy`], [`Error::ProxyRefused`]), not the endpoint's.
pub(crate) fn from_reqwest_via(
    err: reqwest::Error,
    url: &str,
    timeout: Option<Duration>,
    proxy: Option<&ProxyUrl>,
) -> Error {
    let Some(proxy) = proxy else { return from_reqwest(err, url, timeout) };
    if err.is_timeout() || !err.is_connect() || has_cause::<rustls::Error>(&err) {
        return from_reqwest(err, url, timeout);
    }
    let reason = describe(&err.without_url());
    // hyper-util's tunnel error is private: its message is all there is. It tells a 407 from other
    // statuses, and no more.
    if reason.contains("tunnel error: proxy authorization required") {
        proxy.tunnel_failed(Some(407), reason)
    } else if reason.contains("tunnel error: unsuccessful") {
        proxy.tunnel_failed(
            None,
            format!("it did not open the tunnel (reqwest does not say with which status): {reason}"),
        )
    } else {
        // With a proxy, the only connection made is to the proxy.
        proxy.tunnel_failed(None, reason)
    }
}

/// Classifies a reqwest error for `url` (shown without its query), keeping its cause.
pub(crate) fn from_reqwest(err: reqwest::Error, url: &str, timeout: Option<Duration>) -> Error {
    let url = url.to_owned();
    if err.is_timeout() {
        return Error::Timeout { url, timeout };
    }
    let (builder, tls) = (err.is_builder(), has_cause::<rustls::Error>(&err));
    let reason = describe(&err.without_url());
    match (builder, tls) {
        (true, _) => Error::Config { reason: format!("reqwest refused the request: {reason}") },
        (false, true) => Error::Tls { url, reason },
        (false, false) => Error::Transport { url, reason },
    }
}

fn has_cause<E: std::error::Error + 'static>(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(err);
    while let Some(cause) = source {
        if cause.is::<E>()
            || cause.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).is_some_and(|inner| inner.is::<E>())
        {
            return true;
        }
        source = cause.source();
    }
    false
}

/// The error and its causes, joined: reqwest's own message is often just "error sending request".
fn describe(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
