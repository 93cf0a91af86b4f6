//! Where API calls go: the API gateway of a region, an explicit URL, or an event's `_links.root` checked
//! against an allow-list of Talkdesk API hosts; and paths joined onto it without ever leaving its origin.

use std::fmt;

use http::{Method, Request, Uri};
use url::Url;

use super::ApiError;
use td_oauth_core::endpoints::EndpointUrl;
use td_oauth_core::text::excerpt;
use td_oauth_core::{Endpoints, Region};

/// A Talkdesk API gateway: `https://api.talkdeskapp.com` (US), `.eu` (EU), `api.talkdeskappca.com` (CA), or
/// an explicit URL (https, or http to loopback). Every request built on it goes to its origin.
///
/// ```
/// use td_oauth_core::Region;
/// use td_oauth_api::ApiGateway;
///
/// let gateway = ApiGateway::for_region(Region::Eu)?;
/// assert_eq!(gateway.uri_for("/users/me?page=2")?, "https://api.talkdeskapp.eu/users/me?page=2");
/// assert!(gateway.uri_for("//evil.example/x").is_err());
/// assert!(ApiGateway::for_region(Region::Au).is_err()); // not documented: give its URL or use _links.root
/// # Ok::<(), td_oauth_api::ApiError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGateway {
    base: EndpointUrl,
}

impl ApiGateway {
    /// The documented gateway of `region`. Talkdesk documents none for AU: that is an
    /// [`ApiError::NoGateway`] saying to give the URL ([`ApiGateway::from_url`]) or to use the `_links.root`
    /// of the app's events ([`GatewayAllowList::gateway_from_root`]).
    pub fn for_region(region: Region) -> Result<Self, ApiError> {
        let base = region.api_base().ok_or_else(|| ApiError::NoGateway {
            reason: format!(
                "Talkdesk documents no API gateway for region {region}; give the gateway URL, or use the \
                 _links.root of the app's events"
            ),
        })?;
        Self::from_url(base)
    }

    /// An explicit gateway URL (https, or http to a loopback host; no query, user info or fragment).
    pub fn from_url(url: &str) -> Result<Self, ApiError> {
        let base = EndpointUrl::parse("API base", url)
            .map_err(|err| ApiError::InvalidPath { path: excerpt(url), reason: err.to_string() })?;
        if base.url().query().is_some() {
            return Err(ApiError::InvalidPath { path: excerpt(url), reason: "a gateway URL has no query".into() });
        }
        Ok(ApiGateway { base })
    }

    /// The gateway of `endpoints` (its API base: a region's, or an event's `_links.root`).
    pub fn from_endpoints(endpoints: &Endpoints) -> Result<Self, ApiError> {
        let base = endpoints.api_base().ok_or_else(|| ApiError::NoGateway {
            reason: "these endpoints carry no API base; build them for a region with a documented gateway, \
                     or set one with Endpoints::with_api_base"
                .into(),
        })?;
        Ok(ApiGateway { base: base.clone() })
    }

    /// The gateway's URL.
    pub fn url(&self) -> &EndpointUrl {
        &self.base
    }

    /// The gateway's origin, `scheme://host[:port]`.
    pub fn origin(&self) -> String {
        self.base.url().origin().ascii_serialization()
    }

    /// Whether `url` is on the gateway's origin (scheme, host and port).
    pub fn is_same_origin(&self, url: &Url) -> bool {
        url.origin() == self.base.url().origin()
    }

    /// The URL of `path` on the gateway: `path` is `/…` with an optional query (joined after the
    /// gateway's own path), or an absolute URL on the gateway's origin (a HAL `_links` href). Refused:
    /// anything that would leave the origin (`//host`, another host), `.`/`..` segments, a fragment,
    /// whitespace or control characters.
    pub fn url_for(&self, path: &str) -> Result<Url, ApiError> {
        let refuse = |reason: &str| ApiError::InvalidPath { path: excerpt(path), reason: reason.to_owned() };
        if path.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            return Err(refuse("it contains whitespace or a control character"));
        }
        if path.contains('#') {
            return Err(refuse("it has a `#` fragment; remove it"));
        }
        let url = if path.starts_with("//") {
            return Err(refuse("it starts with `//`, which names another host; give a path such as /users"));
        } else if path.starts_with('/') {
            let (path_part, query) = match path.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (path, None),
            };
            // URL parsers read `%2e` as `.` in dot segments.
            let dot = |segment: &str| matches!(segment.to_ascii_lowercase().replace("%2e", ".").as_str(), "." | "..");
            if path_part.split('/').any(dot) {
                return Err(refuse("it has `.` or `..` segments; give the path as it is meant"));
            }
            let mut url = self.base.url().clone();
            let prefix = url.path().trim_end_matches('/').to_owned();
            url.set_path(&format!("{prefix}{path_part}"));
            url.set_query(query);
            url
        } else if path.contains("://") {
            Url::parse(path).map_err(|err| ApiError::InvalidPath { path: excerpt(path), reason: err.to_string() })?
        } else {
            return Err(refuse("give a path that starts with `/` (e.g. /users/me), or a URL on the gateway"));
        };
        if !self.is_same_origin(&url) {
            return Err(ApiError::InvalidPath {
                path: excerpt(path),
                reason: format!("it is not on the API gateway {}; the token is only sent there", self.origin()),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("it carries user info (`user@`); remove it"));
        }
        Ok(url)
    }

    /// [`url_for`](Self::url_for) as an [`http::Uri`].
    pub fn uri_for(&self, path: &str) -> Result<Uri, ApiError> {
        let url = self.url_for(path)?;
        Uri::try_from(url.as_str())
            .map_err(|err| ApiError::InvalidPath { path: excerpt(path), reason: err.to_string() })
    }

    /// A request of `method` to `path` on the gateway with `body`, asking for JSON. A body that is not empty
    /// is sent as `application/json` unless `content_type` says otherwise. No `Authorization` yet: the
    /// transports add the token ([`transport::authorization`](td_oauth_core::transport::authorization)).
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<Request<Vec<u8>>, ApiError> {
        let uri = self.uri_for(path)?;
        let mut builder = Request::builder().method(method).uri(uri).header(http::header::ACCEPT, "application/json");
        if !body.is_empty() || content_type.is_some() {
            builder = builder.header(http::header::CONTENT_TYPE, content_type.unwrap_or("application/json"));
        }
        builder.body(body).map_err(|err| ApiError::Build(err.to_string()))
    }
}

impl fmt::Display for ApiGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base.as_str())
    }
}

/// The origins an event's `_links.root` may name: by default Talkdesk's three documented gateways. A root
/// elsewhere is refused ([`ApiError::HostNotAllowed`]): the root decides where tokens are sent, and an event
/// can be forged. Add the AU gateway once you know it, or a local server in tests, with
/// [`with_origin`](Self::with_origin).
///
/// ```
/// use td_oauth_api::GatewayAllowList;
///
/// let allowed = GatewayAllowList::default();
/// assert!(allowed.gateway_from_root("https://api.talkdeskapp.com").is_ok());
/// assert!(allowed.gateway_from_root("https://api.talkdeskapp.com.evil.example").is_err());
/// # Ok::<(), td_oauth_api::ApiError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayAllowList {
    origins: Vec<String>,
}

impl Default for GatewayAllowList {
    fn default() -> Self {
        GatewayAllowList {
            origins: [Region::Us, Region::Eu, Region::Ca]
                .into_iter()
                .filter_map(Region::api_base)
                .filter_map(|base| Url::parse(base).ok())
                .map(|url| url.origin().ascii_serialization())
                .collect(),
        }
    }
}

impl GatewayAllowList {
    /// A list that allows nothing (add origins with [`with_origin`](Self::with_origin)).
    pub fn empty() -> Self {
        GatewayAllowList { origins: Vec::new() }
    }

    /// Also allows the origin of `url` (https, or http to loopback): e.g. the AU gateway, a proxy, a test
    /// server.
    pub fn with_origin(mut self, url: &str) -> Result<Self, ApiError> {
        let origin = ApiGateway::from_url(url)?.origin();
        if !self.origins.contains(&origin) {
            self.origins.push(origin);
        }
        Ok(self)
    }

    /// The allowed origins.
    pub fn origins(&self) -> impl Iterator<Item = &str> {
        self.origins.iter().map(String::as_str)
    }

    /// Whether `url`'s origin is allowed.
    pub fn allows(&self, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        self.origins.contains(&origin)
    }

    /// The gateway an event's `_links.root` href names, if its origin is allowed.
    pub fn gateway_from_root(&self, href: &str) -> Result<ApiGateway, ApiError> {
        let gateway = ApiGateway::from_url(href)?;
        if !self.allows(gateway.url().url()) {
            return Err(ApiError::HostNotAllowed { which: "_links.root".into(), origin: gateway.origin() });
        }
        Ok(gateway)
    }
}
