//! Where the token and authorize endpoints are: a Talkdesk account and region, or explicit URLs.
//!
//! Every URL that will receive a signed assertion or a secret is checked here, before any request exists:
//! an account name must be one DNS label (so `acme.evil.com` cannot redirect credentials to another host),
//! and explicit URLs must be `https` unless they point at this machine's loopback interface.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use url::{Host, Url};

use crate::Error;
use crate::text::excerpt;

/// A Talkdesk account name, checked to be one lower-case DNS label (`[a-z0-9-]`, 1 to 63 characters, no
/// leading or trailing hyphen).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Account(String);

impl Account {
    /// Checks an account name, e.g. `acme` for `acme.mytalkdesk.com`.
    pub fn new(name: &str) -> Result<Self, Error> {
        let refuse = |reason: String| Err(Error::InvalidAccount { name: excerpt(name), reason });
        if name.is_empty() {
            return refuse("it is empty; give the account name, e.g. `acme` for acme.mytalkdesk.com".into());
        }
        if name.len() > 63 {
            return refuse(format!("it is {} bytes long; a DNS label holds at most 63", name.len()));
        }
        if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            let reason = match bad {
                'A'..='Z' => format!("account names are lower-case; did you mean `{}`?", name.to_ascii_lowercase()),
                '.' => "it contains `.`; give only the account name, not a host name".into(),
                c if c.is_whitespace() => "it contains whitespace".into(),
                c if c.is_ascii() => format!("it contains `{}`; only a-z, 0-9 and `-` are allowed", c.escape_default()),
                _ => "it contains non-ASCII characters; only a-z, 0-9 and `-` are allowed".into(),
            };
            return refuse(reason);
        }
        if name.starts_with('-') || name.ends_with('-') {
            return refuse("a DNS label cannot start or end with `-`".into());
        }
        if name.starts_with("xn--") && Host::parse(name).is_err() {
            return refuse(
                "it starts with `xn--`, which marks an internationalised (punycode) name, but the rest is not \
                 valid punycode; give the account name exactly as it appears in your Talkdesk URL"
                    .into(),
            );
        }
        Ok(Account(name.to_owned()))
    }

    /// The account name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Account {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        Account::new(name)
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The Talkdesk region an account lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Region {
    /// United States: `talkdeskid.com` (the default).
    #[default]
    Us,
    /// Europe: `talkdeskid.eu`.
    Eu,
    /// Canada: `talkdeskidca.com`.
    Ca,
    /// Australia: `talkdeskid.au`.
    Au,
}

impl Region {
    /// The identity service's domain for the region.
    pub const fn identity_domain(self) -> &'static str {
        match self {
            Region::Us => "talkdeskid.com",
            Region::Eu => "talkdeskid.eu",
            Region::Ca => "talkdeskidca.com",
            Region::Au => "talkdeskid.au",
        }
    }

    /// The API gateway for the region; Talkdesk documents none for AU.
    pub const fn api_base(self) -> Option<&'static str> {
        match self {
            Region::Us => Some("https://api.talkdeskapp.com"),
            Region::Eu => Some("https://api.talkdeskapp.eu"),
            Region::Ca => Some("https://api.talkdeskappca.com"),
            Region::Au => None,
        }
    }

    /// The lower-case code: `us`, `eu`, `ca`, `au`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::Ca => "ca",
            Region::Au => "au",
        }
    }
}

impl FromStr for Region {
    type Err = Error;
    fn from_str(code: &str) -> Result<Self, Error> {
        match code.trim().to_ascii_lowercase().as_str() {
            "us" => Ok(Region::Us),
            "eu" => Ok(Region::Eu),
            "ca" => Ok(Region::Ca),
            "au" => Ok(Region::Au),
            _ => Err(Error::InvalidParameter {
                field: "region",
                reason: format!("{:?} is not one of us, eu, ca, au", excerpt(code)),
            }),
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URL that is safe to send credentials to: `https`, or `http` to a loopback host; no user info, no
/// fragment, and one that [`http::Uri`] reads too. Holds the parsed [`Url`] only: a partner app keeps three
/// per installation, and a second parsed copy would double that memory to save a parse per token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    url: Url,
}

impl EndpointUrl {
    /// Checks `text` as the URL named `which` (used in the error: `token`, `authorize`, …).
    ///
    /// The URL must be written the way it will be used: a host in percent-encoding, a decimal or hex IP, an
    /// internationalised name, a backslash, `..` segments or a trailing dot could make two parsers (ours,
    /// a proxy's, the HTTP client's) disagree on where the request goes, so such URLs are refused with the
    /// canonical spelling to use instead.
    pub fn parse(which: &'static str, text: &str) -> Result<Self, Error> {
        let refuse = |reason: String| Error::InvalidUrl { which, reason };
        let text = text.trim();
        let url = Url::parse(text).map_err(|err| refuse(format!("{:?} is not a URL ({err})", excerpt(text))))?;
        // URL parsers drop tabs and line breaks inside a URL, so the user would not see what is wrong.
        if let Some(at) = text.bytes().position(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            let what = match text.as_bytes()[at] {
                b'\t' => "a tab",
                b'\r' | b'\n' => "a line break",
                b' ' => "a space",
                _ => "a control character",
            };
            return Err(refuse(format!("it contains {what} at byte {at}; remove it")));
        }
        let canonical = url.as_str();
        if canonical != text && canonical.strip_suffix('/') != Some(text) {
            let at = text.bytes().zip(canonical.bytes()).take_while(|(a, b)| a == b).count();
            return Err(refuse(format!(
                "{:?} is not written in canonical form (it differs from it at byte {at}); if you meant it, use {:?}",
                excerpt(text),
                excerpt(canonical)
            )));
        }
        if url.host_str().is_some_and(|host| host.ends_with('.')) {
            return Err(refuse("its host ends with `.`; remove the trailing dot".into()));
        }
        Self::check(which, url)
    }

    fn check(which: &'static str, url: Url) -> Result<Self, Error> {
        let refuse = |reason: String| Error::InvalidUrl { which, reason };
        let host = url.host().ok_or_else(|| refuse("it has no host".into()))?;
        let loopback = is_loopback(&host);
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(refuse(
                    "credentials are only sent over https (http is allowed for loopback hosts only)".into(),
                ));
            }
            other => return Err(refuse(format!("scheme `{}` is not https", excerpt(other)))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("it carries user info (`user@`); remove it".into()));
        }
        if url.fragment().is_some() {
            return Err(refuse("it has a `#` fragment; remove it".into()));
        }
        http::Uri::try_from(url.as_str()).map_err(|err| refuse(format!("not a valid HTTP URI ({err})")))?;
        Ok(EndpointUrl { url })
    }

    /// The URL as text (normalised).
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL as an [`http::Uri`], for building requests (parsed on each call).
    #[allow(clippy::expect_used, reason = "construction checked that http::Uri reads this very text")]
    pub fn uri(&self) -> http::Uri {
        http::Uri::try_from(self.url.as_str()).expect("checked when the EndpointUrl was made")
    }

    /// Whether the host is this machine (127.0.0.0/8, `[::1]` or `localhost`).
    pub fn is_loopback(&self) -> bool {
        self.url.host().is_some_and(|host| is_loopback(&host))
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks a redirect URI before it is sent in an authorize or token request: an absolute URI without a
/// fragment (RFC 6749 §3.1.2) that can safely receive an authorization code: `https`; `http` to a loopback
/// address only (RFC 8252 §7.3); or a native app's private-use scheme in reverse-domain form such as
/// `com.example.app:/callback` (RFC 8252 §7.1). `javascript:`, `data:`, `file:` and other schemes are
/// refused. The URI is not changed: the server compares it byte for byte.
///
/// ```
/// use td_oauth_core::endpoints::check_redirect_uri;
///
/// assert!(check_redirect_uri("https://app.example/callback").is_ok());
/// assert!(check_redirect_uri("http://127.0.0.1:8400/callback").is_ok());
/// assert!(check_redirect_uri("javascript:alert(1)").is_err());
/// ```
pub fn check_redirect_uri(uri: &str) -> Result<(), Error> {
    let refuse = |reason: String| Error::InvalidUrl { which: "redirect", reason };
    if let Some(at) = uri.bytes().position(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(refuse(format!("byte {at} is whitespace or a control character; remove it")));
    }
    let url = Url::parse(uri).map_err(|err| {
        refuse(format!(
            "{:?} is not an absolute URI ({err}); give the full URI, e.g. https://app.example/callback",
            excerpt(uri)
        ))
    })?;
    if url.fragment().is_some() {
        return Err(refuse("it has a `#` fragment, which RFC 6749 §3.1.2 forbids; remove it".into()));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host().is_some_and(|host| is_loopback(&host)) => Ok(()),
        "http" => Err(refuse(
            "an authorization code may only come back over http to this machine's loopback address \
             (127.0.0.1, [::1], localhost); use https"
                .into(),
        )),
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(refuse(format!(
            "scheme `{}` cannot receive an authorization code; use https, http to a loopback address, or a \
             private-use scheme in reverse-domain form such as com.example.app: (RFC 8252 §7.1)",
            excerpt(scheme)
        ))),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => *ip == Ipv6Addr::LOCALHOST,
        Host::Domain(name) => *name == "localhost",
    }
}

/// The identity service's URLs for one client: token endpoint, authorize endpoint and API gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    token: EndpointUrl,
    authorize: Option<EndpointUrl>,
    api_base: Option<EndpointUrl>,
}

impl Endpoints {
    /// Talkdesk's endpoints for the account named `account` in `region`; the name is checked first (see
    /// [`Account`]).
    ///
    /// ```
    /// use td_oauth_core::{Endpoints, Region};
    ///
    /// let endpoints = Endpoints::talkdesk("acme", Region::Eu)?;
    /// assert_eq!(endpoints.token_url().as_str(), "https://acme.talkdeskid.eu/oauth/token");
    /// assert!(Endpoints::talkdesk("acme.evil.com", Region::Us).is_err());
    /// # Ok::<(), td_oauth_core::Error>(())
    /// ```
    pub fn talkdesk(account: &str, region: Region) -> Result<Self, Error> {
        let account = Account::new(account)?;
        let domain = region.identity_domain();
        let token = EndpointUrl::parse("token", &format!("https://{account}.{domain}/oauth/token"))?;
        let authorize = EndpointUrl::parse("authorize", &format!("https://{account}.{domain}/oauth/authorize"))?;
        let api_base = region.api_base().map(|base| EndpointUrl::parse("API base", base)).transpose()?;
        Ok(Endpoints { token, authorize: Some(authorize), api_base })
    }

    /// Explicit endpoints from a token URL (a local server, a proxy, the `_links.token` of an install event).
    /// The authorize URL is derived when the path ends in `/oauth/token`; set it with
    /// [`Endpoints::with_authorize_url`] otherwise.
    pub fn from_token_url(token_url: &str) -> Result<Self, Error> {
        let token = EndpointUrl::parse("token", token_url)?;
        let authorize = token.url.path().strip_suffix("/oauth/token").and_then(|prefix| {
            let mut url = token.url.clone();
            url.set_path(&format!("{prefix}/oauth/authorize"));
            url.set_query(None);
            EndpointUrl::check("authorize", url).ok()
        });
        Ok(Endpoints { token, authorize, api_base: None })
    }

    /// Replaces the authorize URL.
    pub fn with_authorize_url(mut self, url: &str) -> Result<Self, Error> {
        self.authorize = Some(EndpointUrl::parse("authorize", url)?);
        Ok(self)
    }

    /// Replaces the API base URL.
    pub fn with_api_base(mut self, url: &str) -> Result<Self, Error> {
        self.api_base = Some(EndpointUrl::parse("API base", url)?);
        Ok(self)
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &EndpointUrl {
        &self.token
    }

    /// The authorize endpoint, when known.
    pub fn authorize_url(&self) -> Option<&EndpointUrl> {
        self.authorize.as_ref()
    }

    /// The API gateway, when known.
    pub fn api_base(&self) -> Option<&EndpointUrl> {
        self.api_base.as_ref()
    }
}
