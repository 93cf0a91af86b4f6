//! Registered clients: what a test asks for ([`ClientSpec`]), what it gets back
//! ([`ClientCredentials`] with a generated key, [`ClientInfo`] for a key it brought), and the
//! server's own record of each client.

use std::fmt;
use std::time::Duration;

use jsonwebtoken::DecodingKey;

use crate::algorithm::Algorithm;
use crate::error::Error;
use crate::keys;

/// Scopes a client may ask for unless its [`ClientSpec`] says otherwise.
pub const DEFAULT_SCOPES: [&str; 8] = [
    "account:read",
    "apps:read",
    "apps:write",
    "users:read",
    "contacts:read",
    "contacts:write",
    "openid",
    "offline_access",
];

/// An OAuth grant type the token endpoint supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grant {
    /// `client_credentials`.
    ClientCredentials,
    /// `authorization_code` (and the authorize endpoint).
    AuthorizationCode,
    /// `refresh_token`.
    RefreshToken,
}

impl Grant {
    /// Every grant.
    pub const ALL: [Grant; 3] = [Grant::ClientCredentials, Grant::AuthorizationCode, Grant::RefreshToken];

    /// The `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::AuthorizationCode => "authorization_code",
            Grant::RefreshToken => "refresh_token",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Grant> {
        Grant::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// What to register. Every field left `None` is generated (ids, secret) or defaulted.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// The key algorithm.
    pub algorithm: Algorithm,
    /// The client id; random (32 hex characters) if `None`.
    pub client_id: Option<String>,
    /// The key id (`kid`); random (32 lowercase hex characters) if `None`.
    pub key_id: Option<String>,
    /// The client secret for Basic authentication; random if `None`.
    pub client_secret: Option<String>,
    /// Scopes the client may be granted; [`DEFAULT_SCOPES`] by default.
    pub scopes: Vec<String>,
    /// Grants the client may use; all by default.
    pub grants: Vec<Grant>,
    /// Access-token lifetime for this client; the server's if `None`.
    pub token_lifetime: Option<Duration>,
    /// Redirect URIs the authorize endpoint accepts; any `http(s)` URI if empty.
    pub redirect_uris: Vec<String>,
}

impl ClientSpec {
    /// Defaults for `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        ClientSpec {
            algorithm,
            client_id: None,
            key_id: None,
            client_secret: None,
            scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            grants: Grant::ALL.to_vec(),
            token_lifetime: None,
            redirect_uris: Vec::new(),
        }
    }

    /// Sets the allowed scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the allowed grants.
    pub fn grants(mut self, grants: impl IntoIterator<Item = Grant>) -> Self {
        self.grants = grants.into_iter().collect();
        self
    }

    /// Sets the client id.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// Sets the key id.
    pub fn key_id(mut self, kid: impl Into<String>) -> Self {
        self.key_id = Some(kid.into());
        self
    }

    /// Sets the client secret.
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(secret.into());
        self
    }

    /// Sets this client's access-token lifetime (`expires_in`).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = Some(lifetime);
        self
    }

    /// Adds a redirect URI the authorize endpoint will accept.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }
}

/// A registered client whose key pair the server generated: everything Talkdesk's
/// `app.installed` event hands out. `Debug` hides the private key and the secret.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientCredentials {
    /// The client id (`iss` and `sub` of its assertions).
    pub client_id: String,
    /// The client secret, for Basic authentication.
    pub client_secret: String,
    /// The key id (`kid`), 32 lowercase hex characters unless chosen.
    pub key_id: String,
    /// The key algorithm.
    pub algorithm: Algorithm,
    /// The private key in Talkdesk's form: one-line Base64 of PKCS#8 DER, no PEM armour.
    pub private_key: String,
    /// The same private key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
    /// The private key as PKCS#8 DER.
    pub private_key_der: Vec<u8>,
    /// The public key as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
    /// The public key as SubjectPublicKeyInfo DER.
    pub public_key_der: Vec<u8>,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A registered client whose public key the test supplied.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The client id.
    pub client_id: String,
    /// The client secret, for Basic authentication.
    pub client_secret: String,
    /// The key id (`kid`).
    pub key_id: String,
    /// The key algorithm.
    pub algorithm: Algorithm,
    /// Scopes the client may be granted.
    pub scopes: Vec<String>,
}

/// The server's record of a client.
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) key_id: String,
    pub(crate) secret: String,
    pub(crate) algorithm: Algorithm,
    pub(crate) scopes: Vec<String>,
    pub(crate) grants: Vec<Grant>,
    pub(crate) token_lifetime: Option<Duration>,
    pub(crate) redirect_uris: Vec<String>,
    /// SubjectPublicKeyInfo DER (aws-lc-rs verifies ES512 with it).
    pub(crate) public_key_der: Vec<u8>,
    /// jsonwebtoken's key for every algorithm but ES512.
    pub(crate) decoding_key: Option<DecodingKey>,
    /// Keys added after registration ([`TestServer::add_client_key`](crate::TestServer::add_client_key)),
    /// by key id: a client holds several during a rotation.
    pub(crate) other_keys: std::collections::HashMap<String, OtherKey>,
}

/// A key added to a registered client.
#[derive(Debug, Clone)]
pub(crate) struct OtherKey {
    pub(crate) algorithm: Algorithm,
    pub(crate) public_key_der: Vec<u8>,
    pub(crate) decoding_key: Option<DecodingKey>,
}

/// jsonwebtoken's key for `public_key_der` (none for ES512, which aws-lc-rs verifies).
pub(crate) fn decoding_key(algorithm: Algorithm, public_key_der: &[u8]) -> Result<Option<DecodingKey>, Error> {
    if algorithm == Algorithm::Es512 {
        return Ok(None);
    }
    let pem = keys::pem("PUBLIC KEY", public_key_der);
    let key = if algorithm.is_rsa() {
        DecodingKey::from_rsa_pem(pem.as_bytes())
    } else {
        DecodingKey::from_ec_pem(pem.as_bytes())
    };
    key.map(Some).map_err(|e| Error::InvalidPublicKey { algorithm, reason: format!("jsonwebtoken rejected it ({e})") })
}

impl Client {
    /// Builds the record from a spec and a validated SPKI DER public key.
    pub(crate) fn new(spec: ClientSpec, public_key_der: Vec<u8>) -> Result<Client, Error> {
        let algorithm = spec.algorithm;
        let decoding_key = decoding_key(algorithm, &public_key_der)?;
        Ok(Client {
            id: spec.client_id.unwrap_or_else(|| keys::random_hex(16)),
            key_id: spec.key_id.unwrap_or_else(|| keys::random_hex(16)),
            secret: spec.client_secret.unwrap_or_else(|| keys::random_hex(24)),
            algorithm,
            scopes: spec.scopes,
            grants: spec.grants,
            token_lifetime: spec.token_lifetime,
            redirect_uris: spec.redirect_uris,
            public_key_der,
            decoding_key,
            other_keys: std::collections::HashMap::new(),
        })
    }

    pub(crate) fn info(&self) -> ClientInfo {
        ClientInfo {
            client_id: self.id.clone(),
            client_secret: self.secret.clone(),
            key_id: self.key_id.clone(),
            algorithm: self.algorithm,
            scopes: self.scopes.clone(),
        }
    }
}
