//! Credentials from AppConnect events: `app.installed` hands a partner app one set of credentials per
//! installed account, and `app.credentials_rotated` replaces them.
//!
//! Every field is checked here, before anything is stored: the account name is a DNS label, the key parses
//! and fits `key_algorithm`, and the `_links` URLs pass the same checks as any other endpoint (https, no
//! user info, canonical form), so a forged event cannot point a client's credentials at another host.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::RawJson;

use td_oauth_api::GatewayAllowList;
use td_oauth_core::endpoints::EndpointUrl;
use td_oauth_core::text::excerpt;
use td_oauth_core::{Account, Algorithm, ClientId, ClientSecret, Credentials, Endpoints, KeyId, PrivateKey};

use crate::Error;

/// CredentialSet event the credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// `app.installed`: the first credentials of an installation.
    Installed,
    /// `app.credentials_rotated`: new credentials; the old ones stay valid for seven days unless they were
    /// compromised.
    CredentialsRotated,
}

/// One installation's credentials and endpoints, read from an AppConnect event.
///
/// ```
/// use td_oauth_partner::{EventKind, InstallationCredentials};
///
/// # let key = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguP8KEeq/YKLNfrDUyWBxTGyR4qzPBnE4yJjZmNm77EWhRANCAARzGKI064Mfeuxtw7nSKquamH9g52ich42C91ye4++jg66T2uFsASlg1ZUSqJ0QdiZi737m083RqsWyZ/bEpj/C";
/// let event = format!(r#"{{
///   "id": "8b62e0c6001548d7b59f8240d79cb0d7", "type": "app.installed",
///   "data": {{
///     "installation_id": "9514148a170c4d4aaa344a540cec08c5", "account_name": "starship",
///     "client_id": "23de1fee7658490f8021465553402546", "client_secret": "CLIENT_SECRET",
///     "private_key": "{key}", "key_id": "78a574781e434d0b9991edd0994fbeed", "key_algorithm": "ES256"
///   }},
///   "_links": {{
///     "root": {{ "href": "https://api.talkdeskapp.com" }},
///     "token": {{ "href": "https://starship.talkdeskid.com/oauth/token" }}
///   }}
/// }}"#);
/// let installation = InstallationCredentials::from_event(event.as_bytes())?;
/// assert_eq!(installation.kind(), EventKind::Installed);
/// assert_eq!(installation.endpoints().token_url().as_str(), "https://starship.talkdeskid.com/oauth/token");
/// let credentials = installation.credentials(); // a signed JWT, since the event carries a key
/// # Ok::<(), td_oauth_partner::Error>(())
/// ```
#[derive(Clone)]
pub struct InstallationCredentials {
    kind: EventKind,
    event_id: Option<String>,
    installation_id: String,
    account_id: Option<String>,
    account: Account,
    client_id: ClientId,
    secrets: Secrets,
    endpoints: Endpoints,
}

/// What the client authenticates with; an event always carries at least one of the two.
#[derive(Clone)]
enum Secrets {
    /// A private key (AppConnect apps must use it), and usually the client secret too. `text` is the key as
    /// the event sent it, kept only until the credentials are sealed into an installation store's record
    /// (a parsed key cannot be written back); the managers drop it before keeping the credentials.
    Key { key_id: KeyId, key: PrivateKey, client_secret: Option<ClientSecret>, text: Option<Arc<Zeroizing<String>>> },
    /// Only a client secret.
    Secret(ClientSecret),
}

impl fmt::Debug for InstallationCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstallationCredentials")
            .field("kind", &self.kind)
            .field("installation_id", &self.installation_id)
            .field("account", &self.account.as_str())
            .field("client_id", &self.client_id.as_str())
            .field("key_id", &self.key_id().map(KeyId::as_str))
            .field("algorithm", &self.algorithm())
            .field("token_url", &self.endpoints.token_url().as_str())
            .finish_non_exhaustive()
    }
}

fn invalid(field: &str, reason: impl fmt::Display) -> Error {
    Error::InvalidEvent { field: field.to_owned(), reason: reason.to_string() }
}

/// The event body as a JSON object.
fn json_object(body: &[u8]) -> Result<Map<String, Value>, Error> {
    let event: Value = serde_json::from_slice(body)
        .map_err(|err| invalid("event", format!("is not JSON (line {}, column {})", err.line(), err.column())))?;
    match event {
        Value::Object(object) => Ok(object),
        _ => Err(invalid("event", "is not a JSON object")),
    }
}

/// A required string field of `object`, named `path` in errors.
fn string<'a>(object: &'a Map<String, Value>, name: &str, path: &str) -> Result<&'a str, Error> {
    match object.get(name) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text),
        Some(Value::String(_)) => Err(invalid(path, "is empty")),
        Some(_) => Err(invalid(path, "is not a string")),
        None => Err(invalid(path, "is missing")),
    }
}

/// An optional string field; present but not a string is still an error.
fn optional<'a>(object: &'a Map<String, Value>, name: &str, path: &str) -> Result<Option<&'a str>, Error> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(invalid(path, "is not a string")),
    }
}

/// `_links.<name>.href`, checked as an endpoint URL.
fn link(links: Option<&Map<String, Value>>, name: &str, which: &'static str) -> Result<Option<EndpointUrl>, Error> {
    let Some(entry) = links.and_then(|links| links.get(name)) else { return Ok(None) };
    let path = format!("_links.{name}.href");
    let href = entry.as_object().ok_or_else(|| invalid(&path, "is missing"))?;
    let href = string(href, "href", &path)?;
    EndpointUrl::parse(which, href).map(Some).map_err(|err| invalid(&path, err))
}

impl InstallationCredentials {
    /// Reads an `app.installed` or `app.credentials_rotated` event body. Its `_links.root` must be one of
    /// Talkdesk's documented API gateways ([`GatewayAllowList::default`]); see
    /// [`from_event_with`](Self::from_event_with) to allow others.
    pub fn from_event(body: &[u8]) -> Result<Self, Error> {
        // Built once: a partner app reads thousands of these events.
        static DOCUMENTED: std::sync::LazyLock<GatewayAllowList> = std::sync::LazyLock::new(GatewayAllowList::default);
        Self::from_event_with(body, &DOCUMENTED)
    }

    /// [`from_event`](Self::from_event), with `_links.root` checked against `gateways`.
    pub fn from_event_with(body: &[u8], gateways: &GatewayAllowList) -> Result<Self, Error> {
        let event = json_object(body)?;
        Self::from_object(&event, gateways)
    }

    fn from_object(event: &Map<String, Value>, gateways: &GatewayAllowList) -> Result<Self, Error> {
        let kind = match string(event, "type", "type")? {
            "app.installed" => EventKind::Installed,
            "app.credentials_rotated" => EventKind::CredentialsRotated,
            other => {
                return Err(invalid(
                    "type",
                    format!(
                        "is {:?}; only app.installed and app.credentials_rotated carry credentials",
                        excerpt(other)
                    ),
                ));
            }
        };
        let data = event.get("data").and_then(Value::as_object).ok_or_else(|| invalid("data", "is missing"))?;

        let account = Account::new(string(data, "account_name", "data.account_name")?)
            .map_err(|err| invalid("data.account_name", err))?;
        let client_id = ClientId::new(string(data, "client_id", "data.client_id")?)
            .map_err(|err| invalid("data.client_id", err))?;
        let client_secret = optional(data, "client_secret", "data.client_secret")?.map(ClientSecret::new);
        let key = match optional(data, "private_key", "data.private_key")? {
            None => None,
            Some(text) => {
                let key_id =
                    KeyId::new(string(data, "key_id", "data.key_id")?).map_err(|err| invalid("data.key_id", err))?;
                let algorithm = optional(data, "key_algorithm", "data.key_algorithm")?
                    .map(|name| name.parse::<Algorithm>().map_err(|err| invalid("data.key_algorithm", err)))
                    .transpose()?;
                let key = parse_key(text, algorithm).map_err(|err| invalid("data.private_key", err))?;
                Some((key_id, key, Arc::new(Zeroizing::new(text.to_owned()))))
            }
        };
        let secrets = match (key, client_secret) {
            (Some((key_id, key, text)), client_secret) => Secrets::Key { key_id, key, client_secret, text: Some(text) },
            (None, Some(secret)) => {
                // Basic authentication cannot carry every client id: refuse now rather than at first use.
                Credentials::client_secret(client_id.clone(), secret.clone())
                    .map_err(|err| invalid("data.client_id", err))?;
                Secrets::Secret(secret)
            }
            (None, None) => return Err(invalid("data", "carries neither private_key nor client_secret")),
        };

        let links = event.get("_links").and_then(Value::as_object);
        let token = link(links, "token", "token")?.ok_or_else(|| invalid("_links.token.href", "is missing"))?;
        let mut endpoints = Endpoints::from_token_url(token.as_str())?;
        if let Some(authorize) = link(links, "authorization", "authorize")? {
            endpoints = endpoints.with_authorize_url(authorize.as_str())?;
        }
        if let Some(root) = link(links, "root", "API base")? {
            let gateway = gateways.gateway_from_root(root.as_str()).map_err(|err| invalid("_links.root.href", err))?;
            endpoints = endpoints.with_api_base(gateway.url().as_str())?;
        }

        Ok(InstallationCredentials {
            kind,
            event_id: optional(event, "id", "id")?.map(str::to_owned),
            installation_id: string(data, "installation_id", "data.installation_id")?.to_owned(),
            account_id: optional(data, "account_id", "data.account_id")?.map(str::to_owned),
            account,
            client_id,
            secrets,
            endpoints,
        })
    }

    /// Credentials rebuilt from what an installation store's record kept of them ([`StoredParts`]), with
    /// the same checks as an event's (the gateway was checked when the event was received).
    pub(crate) fn from_parts(parts: &StoredParts<'_>) -> Result<Self, Error> {
        let account = Account::new(parts.account)?;
        let client_id = ClientId::new(parts.client_id)?;
        let client_secret = parts.client_secret.map(ClientSecret::new);
        let secrets = match (parts.key, client_secret) {
            (Some((key_id, text, algorithm)), client_secret) => Secrets::Key {
                key_id: KeyId::new(key_id)?,
                key: parse_key(text, algorithm).map_err(td_oauth_core::Error::from)?,
                client_secret,
                text: Some(Arc::new(Zeroizing::new(text.to_owned()))),
            },
            (None, Some(secret)) => {
                Credentials::client_secret(client_id.clone(), secret.clone())?;
                Secrets::Secret(secret)
            }
            (None, None) => {
                return Err(invalid("stored credentials", "carry neither a private key nor a client secret"));
            }
        };
        let mut endpoints = Endpoints::from_token_url(parts.token_url)?;
        if let Some(authorize) = parts.authorize_url {
            endpoints = endpoints.with_authorize_url(authorize)?;
        }
        if let Some(api_base) = parts.api_base {
            endpoints = endpoints.with_api_base(api_base)?;
        }
        Ok(InstallationCredentials {
            kind: parts.kind,
            event_id: None,
            installation_id: parts.installation_id.to_owned(),
            account_id: parts.account_id.map(str::to_owned),
            account,
            client_id,
            secrets,
            endpoints,
        })
    }

    /// The private key as the event sent it, while these credentials still carry it (see [`Secrets::Key`]).
    pub(crate) fn key_text(&self) -> Option<&str> {
        match &self.secrets {
            Secrets::Key { text, .. } => text.as_deref().map(|text| text.as_str()),
            Secrets::Secret(_) => None,
        }
    }

    /// The client secret, when the event carried one.
    pub(crate) fn client_secret(&self) -> Option<&ClientSecret> {
        match &self.secrets {
            Secrets::Key { client_secret, .. } => client_secret.as_ref(),
            Secrets::Secret(secret) => Some(secret),
        }
    }

    /// Drops the private key's text (see [`Secrets::Key`]): what a manager keeps in memory needs only the
    /// parsed key.
    pub(crate) fn forget_key_text(&mut self) {
        if let Secrets::Key { text, .. } = &mut self.secrets {
            *text = None;
        }
    }

    /// Whether `other` is the same credential set: the same client id and key id.
    pub(crate) fn same_set(&self, other: &InstallationCredentials) -> bool {
        self.client_id == other.client_id && self.key_id() == other.key_id()
    }

    /// CredentialSet event these came from.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The event's id, for acknowledging it.
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// The installation: one per account that installed the app.
    pub fn installation_id(&self) -> &str {
        &self.installation_id
    }

    /// The customer's Talkdesk account id.
    pub fn account_id(&self) -> Option<&str> {
        self.account_id.as_deref()
    }

    /// The customer's Talkdesk account name.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The key id, when the event carried a private key (so [`credentials`](Self::credentials) signs JWTs).
    pub fn key_id(&self) -> Option<&KeyId> {
        match &self.secrets {
            Secrets::Key { key_id, .. } => Some(key_id),
            Secrets::Secret(_) => None,
        }
    }

    /// The private key's algorithm, when the event carried one.
    pub fn algorithm(&self) -> Option<Algorithm> {
        match &self.secrets {
            Secrets::Key { key, .. } => Some(key.algorithm()),
            Secrets::Secret(_) => None,
        }
    }

    /// The token, authorize and API URLs from the event's `_links`.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The credentials to use: a signed JWT when the event carried a private key (required for
    /// AppConnect apps), else the client secret over Basic authentication.
    pub fn credentials(&self) -> Credentials {
        match &self.secrets {
            Secrets::Key { key_id, key, .. } => {
                Credentials::private_key_jwt(self.client_id.clone(), key_id.clone(), key.clone())
            }
            Secrets::Secret(secret) => {
                Credentials::ClientSecret { client_id: self.client_id.clone(), secret: secret.clone() }
            }
        }
    }

    /// Basic-authentication credentials from the client secret, when the event carried one.
    pub fn secret_credentials(&self) -> Option<Credentials> {
        let secret = match &self.secrets {
            Secrets::Key { client_secret, .. } => client_secret.as_ref()?,
            Secrets::Secret(secret) => secret,
        };
        Some(Credentials::ClientSecret { client_id: self.client_id.clone(), secret: secret.clone() })
    }
}

/// What an installation store's record keeps of one credential set, borrowed, to rebuild it with
/// [`InstallationCredentials::from_parts`].
pub(crate) struct StoredParts<'a> {
    pub kind: EventKind,
    pub installation_id: &'a str,
    pub account_id: Option<&'a str>,
    pub account: &'a str,
    pub client_id: &'a str,
    pub client_secret: Option<&'a str>,
    /// Key id, key text, algorithm.
    pub key: Option<(&'a str, &'a str, Option<Algorithm>)>,
    pub token_url: &'a str,
    pub authorize_url: Option<&'a str>,
    pub api_base: Option<&'a str>,
}

fn parse_key(text: &str, algorithm: Option<Algorithm>) -> Result<PrivateKey, td_oauth_core::key::KeyError> {
    match algorithm {
        Some(algorithm) => PrivateKey::parse_with_algorithm(text, algorithm),
        None => PrivateKey::parse(text),
    }
}

/// An AppConnect event, every documented type typed: the envelope (`id`, `type`, `app_id`, `created_at`,
/// `_links.root`) and what its `data` says. A type this crate does not know is [`EventPayload::Unknown`],
/// never an error, so a new event type from Talkdesk does not break a receiver.
///
/// ```
/// use td_oauth_api::GatewayAllowList;
/// use td_oauth_partner::{Event, EventPayload};
///
/// let body = br#"{"id":"be4cfd0a01a046ec98fde433d973d259","type":"app.uninstalled","app_id":"f918e2623486417791f3b5a18ca746ce",
///   "data":{"installation_id":"9514148a170c4d4aaa344a540cec08c5","account_name":"starship","reason":{"type":"other","message":"bye"}},
///   "_links":{"root":{"href":"https://api.talkdeskapp.com"}}}"#;
/// let event = Event::parse(body, &GatewayAllowList::default())?;
/// assert_eq!(event.event_type(), "app.uninstalled");
/// assert!(matches!(event.payload(), EventPayload::Uninstalled { .. }));
/// # Ok::<(), td_oauth_partner::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Event {
    id: String,
    event_type: String,
    created_at: Option<String>,
    app_id: Option<String>,
    installation_id: Option<String>,
    account_name: Option<String>,
    gateway: Option<td_oauth_api::ApiGateway>,
    payload: EventPayload,
}

/// What an [`Event`] says, by type. Data kept as sent is [`RawJson`], whose `Debug` hides secret-looking
/// values, so that an event of a type this crate does not know prints no credential it carries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum EventPayload {
    /// `app.installed`: an account installed the app; its credentials.
    Installed(Box<InstallationCredentials>),
    /// `app.credentials_rotated`: the installation's new credentials.
    CredentialsRotated(Box<InstallationCredentials>),
    /// `app.updated`: users added or removed, or the subscription changed.
    Updated {
        /// `data.users.adding`, as sent.
        adding: Vec<RawJson>,
        /// `data.users.removing`, as sent.
        removing: Vec<RawJson>,
        /// `data.subscription`, as sent.
        subscription: Option<RawJson>,
    },
    /// `app.uninstalled`: the account removed the app; acknowledge it, or it is deprovisioned after 7 days.
    Uninstalled {
        /// `data.reason.type`.
        reason_type: Option<String>,
        /// `data.reason.message`: the user's feedback.
        reason_message: Option<String>,
    },
    /// `app.trial_started`; `data` as sent (Talkdesk's pages list no fields).
    TrialStarted(RawJson),
    /// `app.trial_extended`; `data` as sent.
    TrialExtended(RawJson),
    /// `app.trial_ended`; `data` as sent.
    TrialEnded(RawJson),
    /// `user.logout`: a user logged out of Talkdesk; end their session in the app.
    UserLogout {
        /// `data.account_id`.
        account_id: Option<String>,
        /// `data.user_id`.
        user_id: String,
        /// `data.user_email`.
        user_email: Option<String>,
    },
    /// A type this crate does not know: its `data` as sent.
    Unknown(RawJson),
}

impl Event {
    /// Reads an event body. `_links.root`, when present, must be on `gateways` (a forged event must not
    /// choose where tokens are sent); `app.installed` and `app.credentials_rotated` are read as
    /// [`InstallationCredentials::from_event_with`] reads them.
    pub fn parse(body: &[u8], gateways: &GatewayAllowList) -> Result<Self, Error> {
        let event = json_object(body)?;
        let id = string(&event, "id", "id")?.to_owned();
        if id.len() > MAX_EVENT_ID {
            return Err(invalid("id", format!("is {} bytes long; event ids are 32", id.len())));
        }
        let event_type = string(&event, "type", "type")?.to_owned();
        let empty = Map::new();
        let data = match event.get("data") {
            Some(Value::Object(data)) => data,
            None | Some(Value::Null) => &empty,
            Some(_) => return Err(invalid("data", "is not an object")),
        };
        let links = event.get("_links").and_then(Value::as_object);
        let gateway = match link(links, "root", "API base")? {
            Some(root) => {
                Some(gateways.gateway_from_root(root.as_str()).map_err(|err| invalid("_links.root.href", err))?)
            }
            None => None,
        };
        let owned = |name: &str| -> Result<Option<String>, Error> {
            Ok(optional(data, name, &format!("data.{name}"))?.map(str::to_owned))
        };
        let payload = match event_type.as_str() {
            "app.installed" => {
                EventPayload::Installed(Box::new(InstallationCredentials::from_object(&event, gateways)?))
            }
            "app.credentials_rotated" => {
                EventPayload::CredentialsRotated(Box::new(InstallationCredentials::from_object(&event, gateways)?))
            }
            "app.updated" => {
                let users = data.get("users").and_then(Value::as_object);
                let list = |name: &str| match users.and_then(|users| users.get(name)) {
                    Some(Value::Array(items)) => items.iter().cloned().map(RawJson::from).collect(),
                    _ => Vec::new(),
                };
                EventPayload::Updated {
                    adding: list("adding"),
                    removing: list("removing"),
                    subscription: data.get("subscription").cloned().map(RawJson::from),
                }
            }
            "app.uninstalled" => {
                let reason = data.get("reason").and_then(Value::as_object);
                let text = |name: &str| {
                    reason.and_then(|r| r.get(name)).and_then(Value::as_str).map(td_oauth_core::text::description)
                };
                EventPayload::Uninstalled { reason_type: text("type"), reason_message: text("message") }
            }
            "app.trial_started" => EventPayload::TrialStarted(raw(data)),
            "app.trial_extended" => EventPayload::TrialExtended(raw(data)),
            "app.trial_ended" => EventPayload::TrialEnded(raw(data)),
            "user.logout" => EventPayload::UserLogout {
                account_id: owned("account_id")?,
                user_id: string(data, "user_id", "data.user_id")?.to_owned(),
                user_email: owned("user_email")?,
            },
            _ => EventPayload::Unknown(raw(data)),
        };
        Ok(Event {
            id,
            event_type,
            created_at: optional(&event, "created_at", "created_at")?.map(str::to_owned),
            app_id: optional(&event, "app_id", "app_id")?.map(str::to_owned),
            installation_id: owned("installation_id")?,
            account_name: owned("account_name")?,
            gateway,
            payload,
        })
    }

    /// The event's id: what redeliveries share.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `type` as sent (`app.installed`, …, or one this crate does not know).
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// `created_at` as sent.
    pub fn created_at(&self) -> Option<&str> {
        self.created_at.as_deref()
    }

    /// The app's id (for the lifecycle calls).
    pub fn app_id(&self) -> Option<&str> {
        self.app_id.as_deref()
    }

    /// `data.installation_id`, when sent.
    pub fn installation_id(&self) -> Option<&str> {
        self.installation_id.as_deref()
    }

    /// `data.account_name`, when sent.
    pub fn account_name(&self) -> Option<&str> {
        self.account_name.as_deref()
    }

    /// The API gateway from `_links.root`, checked against the allow-list.
    pub fn gateway(&self) -> Option<&td_oauth_api::ApiGateway> {
        self.gateway.as_ref()
    }

    /// What the event says.
    pub fn payload(&self) -> &EventPayload {
        &self.payload
    }

    /// The payload, owned.
    pub fn into_payload(self) -> EventPayload {
        self.payload
    }
}

/// An event's `data`, kept as sent behind [`RawJson`]'s redacting `Debug`.
fn raw(data: &Map<String, Value>) -> RawJson {
    RawJson::from(Value::Object(data.clone()))
}

/// Event ids are 32 hex characters; anything far longer is refused rather than kept in the dedup set.
const MAX_EVENT_ID: usize = 128;
