//! The checks every request passes before it is routed, as the cloud metadata endpoints do: a header that a
//! browser page or a server-side request forgery cannot add, no sign of a browser or a proxy, a loopback
//! Host (a DNS-rebinding page's Host is its own name), and no body.

use std::net::SocketAddr;

use hyper::StatusCode;
use hyper::header::{self, HeaderMap, HeaderName};

/// The header every request must carry, with the value `1`.
pub(crate) const AGENT_HEADER: &str = "td-oauth-agent";

/// Headers that mean a browser (`Origin`) or a proxy relaying someone else's request.
const REFUSED_HEADERS: [&str; 4] = ["origin", "forwarded", "x-forwarded-for", "x-forwarded-host"];

/// Where a request came in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Listener {
    Unix,
    /// The loopback address and port it listens on.
    Tcp(SocketAddr),
}

/// Why a request was refused before routing. The messages hold no part of the request.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("requests must not have a body")]
    Body,
    #[error("requests carrying the {0} header are refused: the agent answers local processes, not browsers or proxies")]
    Relayed(&'static str),
    #[error("the Host header must name this agent on loopback (localhost, 127.0.0.1 or [::1], with its port)")]
    Host,
    #[error("requests must carry the header `TD-OAuth-Agent: 1`")]
    MissingHeader,
    #[error("query parameters are not accepted: every client's scopes are set in the agent's configuration")]
    Query,
}

impl Refusal {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Refusal::Body => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Query => StatusCode::BAD_REQUEST,
            Refusal::Relayed(_) | Refusal::Host | Refusal::MissingHeader => StatusCode::FORBIDDEN,
        }
    }

    /// The `error` field of the answer.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Refusal::Body => "body_not_allowed",
            Refusal::Relayed(_) => "relayed_request",
            Refusal::Host => "invalid_host",
            Refusal::MissingHeader => "missing_agent_header",
            Refusal::Query => "invalid_request",
        }
    }
}

/// Checks `request` as it came in on `listener`.
pub(crate) fn check<B: hyper::body::Body>(request: &hyper::Request<B>, listener: Listener) -> Result<(), Refusal> {
    let headers = request.headers();
    // Content-Length or chunked: either way a body, which no route takes.
    if request.body().size_hint().exact() != Some(0) || headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(Refusal::Body);
    }
    if let Some(name) = REFUSED_HEADERS.into_iter().find(|name| headers.contains_key(*name)) {
        return Err(Refusal::Relayed(name));
    }
    if !host_allowed(headers, listener) {
        return Err(Refusal::Host);
    }
    let mut values = headers.get_all(HeaderName::from_static(AGENT_HEADER)).iter();
    match (values.next(), values.next()) {
        (Some(value), None) if value == "1" => {}
        _ => return Err(Refusal::MissingHeader),
    }
    if request.uri().query().is_some() {
        return Err(Refusal::Query);
    }
    Ok(())
}

/// On TCP, Host must name a loopback host and the port listened on (a page that rebinds its own name to
/// 127.0.0.1 still sends its name). On the socket, no Host or a loopback one, with any port (clients make
/// one up: `http://localhost/…`).
fn host_allowed(headers: &HeaderMap, listener: Listener) -> bool {
    let mut values = headers.get_all(header::HOST).iter();
    let host = match (values.next(), values.next()) {
        (None, _) => return matches!(listener, Listener::Unix),
        (Some(value), None) => match value.to_str() {
            Ok(host) => host,
            Err(_) => return false,
        },
        (Some(_), Some(_)) => return false,
    };
    let (name, port) = split_host(host);
    let loopback_name = name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]";
    match listener {
        Listener::Unix => loopback_name && port.is_none_or(|p| p.parse::<u16>().is_ok()),
        Listener::Tcp(addr) => {
            let own = match addr {
                SocketAddr::V4(v4) => v4.ip().to_string() == name,
                SocketAddr::V6(v6) => format!("[{}]", v6.ip()) == name,
            };
            let port_ok = match port {
                Some(port) => port.parse::<u16>().is_ok_and(|p| p == addr.port()),
                None => addr.port() == 80,
            };
            (loopback_name || own) && port_ok
        }
    }
}

/// `name:port` into its parts (`[::1]:80` too).
fn split_host(host: &str) -> (&str, Option<&str>) {
    let after_bracket = host.rfind(']').map_or(0, |i| i + 1);
    match host[after_bracket..].rfind(':') {
        Some(i) => (&host[..after_bracket + i], Some(&host[after_bracket + i + 1..])),
        None => (host, None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn allowed(host: &str, listener: Listener) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        host_allowed(&headers, listener)
    }

    #[test]
    fn hosts() {
        let tcp = Listener::Tcp("127.0.0.1:8111".parse().unwrap());
        for good in ["127.0.0.1:8111", "localhost:8111", "LOCALHOST:8111", "[::1]:8111"] {
            assert!(allowed(good, tcp), "{good}");
        }
        for bad in ["127.0.0.1", "127.0.0.1:8112", "evil.example:8111", "localhost.:8111", "127.0.0.1:x", ""] {
            assert!(!allowed(bad, tcp), "{bad}");
        }
        for good in ["localhost", "localhost:80", "127.0.0.1", "[::1]:1"] {
            assert!(allowed(good, Listener::Unix), "{good}");
        }
        for bad in ["evil.example", "169.254.169.254", "localhost:99999"] {
            assert!(!allowed(bad, Listener::Unix), "{bad}");
        }
        assert!(host_allowed(&HeaderMap::new(), Listener::Unix));
        assert!(!host_allowed(&HeaderMap::new(), tcp));
    }
}
