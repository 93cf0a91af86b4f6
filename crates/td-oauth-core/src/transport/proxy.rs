//! Which proxy a request goes through, decided once for every transport: the proxy variables read the way
//! curl reads them, and `NO_PROXY` matched the same way whichever HTTP client sends the request.
//!
//! | variable | for |
//! |---|---|
//! | `HTTPS_PROXY`, else `https_proxy`, else `ALL_PROXY` / `all_proxy` | `https://` URLs |
//! | `http_proxy`, else `ALL_PROXY` / `all_proxy` (not `HTTP_PROXY`, which a CGI request can set) | `http://` URLs |
//! | `NO_PROXY`, else `no_proxy` | the hosts that bypass the proxy |
//!
//! `NO_PROXY` is a comma-separated list; each entry, matched without regard to case:
//! - `*`: every host;
//! - a name, `example.com`, with or without a leading `.` or `*.`: that name and every name under it
//!   (`api.example.com`), never `notexample.com`;
//! - an IP address (`10.0.0.7`, `::1`, `[::1]`), or a CIDR range (`127.0.0.0/8`, `fd00::/8`): that address,
//!   or any address in the range, written as such in the URL (names are not resolved to match them);
//! - any of these but `*` followed by `:PORT` (`example.com:8443`, `[::1]:8080`): only that port.
//!
//! A proxy URL is `http://` (or `https://` for TLS to the proxy) with a host and, optionally, a user and
//! password, percent-encoded; without a scheme, `http://` is meant. Anything else (a SOCKS proxy, a
//! password with a bare `@`, no host) is refused with [`Error::Config`] when the
//! client is built, before any lookup, and the message never repeats the password.

use std::fmt;
use std::net::IpAddr;

use super::Error;

/// The variables, by the scheme of the URLs they serve, in the order they are read.
const HTTPS_VARIABLES: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];
const HTTP_VARIABLES: [&str; 3] = ["http_proxy", "ALL_PROXY", "all_proxy"];
const NO_PROXY_VARIABLES: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// The proxy decision for every request a transport's own HTTP client sends (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct ProxyRule {
    https: Option<ProxyUrl>,
    http: Option<ProxyUrl>,
    no_proxy: Vec<Exception>,
}

impl ProxyRule {
    /// No proxy for anything.
    pub fn none() -> Self {
        ProxyRule::default()
    }

    /// The rule the process's environment describes.
    pub fn from_env() -> Result<Self, Error> {
        ProxyRule::from_lookup(|name| std::env::var(name).ok())
    }

    /// The rule the variables `lookup` gives describe (`None` or an empty value: not set).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let first = |names: &[&'static str]| -> Option<(&'static str, String)> {
            names.iter().find_map(|name| lookup(name).filter(|value| !value.trim().is_empty()).map(|v| (*name, v)))
        };
        let proxy = |names: &[&'static str]| -> Result<Option<ProxyUrl>, Error> {
            first(names)
                .map(|(name, value)| {
                    ProxyUrl::parse(value.trim()).map_err(|reason| Error::Config {
                        reason: format!("{name} is not a usable proxy URL: {reason}"),
                    })
                })
                .transpose()
        };
        let no_proxy = first(&NO_PROXY_VARIABLES).map(|(_, list)| exceptions(&list)).unwrap_or_default();
        Ok(ProxyRule { https: proxy(&HTTPS_VARIABLES)?, http: proxy(&HTTP_VARIABLES)?, no_proxy })
    }

    /// Whether some URL would go through a proxy.
    pub fn has_proxy(&self) -> bool {
        self.https.is_some() || self.http.is_some()
    }

    /// The proxy for a request to `url`, or `None` to go straight to it.
    pub fn route(&self, url: &url::Url) -> Option<&ProxyUrl> {
        let host = match url.host()? {
            url::Host::Domain(name) => Host::Name(name.trim_end_matches('.').to_ascii_lowercase()),
            url::Host::Ipv4(ip) => Host::Ip(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => Host::Ip(IpAddr::V6(ip)),
        };
        let proxy = match url.scheme() {
            "https" => self.https.as_ref()?,
            "http" => self.http.as_ref()?,
            _ => return None,
        };
        let port = url.port_or_known_default()?;
        if self.no_proxy.iter().any(|exception| exception.matches(&host, port)) {
            return None;
        }
        Some(proxy)
    }

    /// [`route`](Self::route) for an `http::Uri`.
    pub fn route_uri(&self, uri: &http::Uri) -> Option<&ProxyUrl> {
        url::Url::parse(&uri.to_string()).ok().and_then(|url| self.route(&url))
    }
}

/// A proxy's URL. `Debug` and [`shown`](Self::shown) leave out its user and password.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    url: url::Url,
    shown: String,
}

impl ProxyUrl {
    /// Parses a proxy URL (see the module docs); the error says what is wrong without repeating it.
    pub fn parse(text: &str) -> Result<ProxyUrl, String> {
        let with_scheme = if text.contains("://") { text.to_owned() } else { format!("http://{text}") };
        let authority = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
        let authority = authority.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.matches('@').count() > 1 {
            return Err("its user or password holds an `@`: percent-encode it as `%40` (and `:` as `%3A`, `/` as \
                        `%2F`), e.g. `http://user:p%40ss@proxy:3128`"
                .to_owned());
        }
        let url = url::Url::parse(&with_scheme).map_err(|err| {
            format!(
                "it does not parse ({err}); expected `http://[user:password@]host:port`, with `@`, `:` and `/` in \
                     the user or password percent-encoded"
            )
        })?;
        match url.scheme() {
            "http" | "https" => {}
            scheme if scheme.starts_with("socks") => {
                return Err("SOCKS proxies are not supported: give an HTTP proxy (`http://host:port`), which \
                            td-oauth asks to tunnel with CONNECT"
                    .to_owned());
            }
            _ => return Err("it must start with `http://` (or `https://` for TLS to the proxy)".to_owned()),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("it names no host; expected `http://host:port`".to_owned());
        }
        let shown = crate::text::display_url(&url).trim_end_matches('/').to_owned();
        Ok(ProxyUrl { url, shown })
    }

    /// The URL, user and password (percent-encoded) included: what an HTTP client is given.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The URL without user and password, for messages and logs.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// What a failure to reach the proxy, or to get a tunnel from it, is: [`Error::ProxyRefused`] for its
    /// 407 (credentials) or 403 (its rules), which trying again does not change; [`Error::Proxy`] otherwise.
    pub fn tunnel_failed(&self, status: Option<u16>, reason: impl Into<String>) -> Error {
        match status {
            Some(status @ (403 | 407)) => Error::ProxyRefused { proxy: self.shown.clone(), status },
            _ => Error::Proxy { proxy: self.shown.clone(), reason: reason.into() },
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProxyUrl").field(&self.shown).finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Name(String),
    Ip(IpAddr),
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone)]
enum Exception {
    Everything,
    /// A name and the names under it; the port, when one was given.
    Name(String, Option<u16>),
    Ip(IpAddr, Option<u16>),
    Range(ipnet::IpNet),
}

impl Exception {
    fn matches(&self, host: &Host, port: u16) -> bool {
        let port_ok = |wanted: &Option<u16>| wanted.is_none_or(|wanted| wanted == port);
        match (self, host) {
            (Exception::Everything, _) => true,
            (Exception::Name(name, wanted), Host::Name(host)) => {
                port_ok(wanted)
                    && (host == name || host.strip_suffix(name.as_str()).is_some_and(|head| head.ends_with('.')))
            }
            (Exception::Ip(ip, wanted), Host::Ip(host)) => port_ok(wanted) && ip == host,
            (Exception::Range(range), Host::Ip(host)) => range.contains(host),
            _ => false,
        }
    }
}

/// The entries of a `NO_PROXY` list; entries that are none of the forms in the module docs are skipped.
fn exceptions(list: &str) -> Vec<Exception> {
    list.split(',').map(str::trim).filter(|entry| !entry.is_empty()).filter_map(exception).collect()
}

fn exception(entry: &str) -> Option<Exception> {
    if entry == "*" {
        return Some(Exception::Everything);
    }
    if let Ok(range) = entry.parse::<ipnet::IpNet>() {
        return Some(Exception::Range(range));
    }
    if let Ok(ip) = entry.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Some(Exception::Ip(ip, None));
    }
    // `[v6]:port`, `v4:port`, `name:port`.
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.ends_with(':') => (host, Some(port.parse::<u16>().ok()?)),
        _ => (entry, None),
    };
    if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Some(Exception::Ip(ip, port));
    }
    let name = host.trim_start_matches("*.").trim_start_matches('.').trim_end_matches('.').to_ascii_lowercase();
    (!name.is_empty() && !name.contains(['/', '*', '[', ']', '@'])).then_some(Exception::Name(name, port))
}
