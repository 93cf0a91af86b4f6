//! The client assertion: a JWT signed with the client's key (RFC 7523, `private_key_jwt`).
//!
//! The header and the constant claims are serialised once, when the signer is built; each assertion then
//! costs one UUID, two integers, one Base64 pass and the signature itself, so building one is within a few
//! percent of the bare signature (see `cargo xtask bench`).

use std::fmt;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::endpoints::EndpointUrl;
use crate::random::{RandomSource, uuid_v4};
use crate::{ClientId, Error, KeyId, PrivateKey};

/// The assertion lifetime Talkdesk's samples use.
pub const DEFAULT_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// The longest assertion lifetime accepted; a long-lived assertion is a long replay window if it leaks.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The `client_assertion_type` value that announces a JWT assertion.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Builds client assertions for one client and key: header `alg`, `typ`, `kid`; claims `iss` = `sub` =
/// client id, `aud`, `jti` (a fresh UUID v4 each time), `iat`, `exp`.
///
/// ```
/// use std::time::SystemTime;
/// use td_oauth_core::assertion::AssertionSigner;
/// use td_oauth_core::random::OsRandom;
/// use td_oauth_core::{ClientId, Endpoints, KeyId, PrivateKey, Region};
///
/// # let key_text = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguP8KEeq/YKLNfrDUyWBxTGyR4qzPBnE4yJjZmNm77EWhRANCAARzGKI064Mfeuxtw7nSKquamH9g52ich42C91ye4++jg66T2uFsASlg1ZUSqJ0QdiZi737m083RqsWyZ/bEpj/C";
/// let endpoints = Endpoints::talkdesk("acme", Region::Us)?;
/// let signer = AssertionSigner::new(
///     ClientId::new("0123456789abcdef0123456789abcdef")?,
///     KeyId::new("fedcba9876543210fedcba9876543210")?,
///     PrivateKey::parse(key_text)?,
///     endpoints.token_url(),
/// );
/// let assertion = signer.sign(SystemTime::now(), &OsRandom::new())?;
/// assert_eq!(assertion.secret().split('.').count(), 3);
/// # Ok::<(), td_oauth_core::Error>(())
/// ```
pub struct AssertionSigner {
    key: PrivateKey,
    client_id: ClientId,
    key_id: KeyId,
    audience: String,
    lifetime: Duration,
    /// base64url of the header, which never changes.
    header_b64: String,
    /// `{"iss":…,"sub":…,"aud":…,"jti":"`: the claims up to the per-assertion values.
    claims_prefix: String,
}

impl fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssertionSigner")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .field("algorithm", &self.key.algorithm())
            .field("audience", &self.audience)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl AssertionSigner {
    /// A signer whose assertions are addressed to `token_url` and live 300 s.
    pub fn new(client_id: ClientId, key_id: KeyId, key: PrivateKey, token_url: &EndpointUrl) -> Self {
        let mut signer = AssertionSigner {
            key,
            client_id,
            key_id,
            audience: token_url.as_str().to_owned(),
            lifetime: DEFAULT_ASSERTION_LIFETIME,
            header_b64: String::new(),
            claims_prefix: String::new(),
        };
        signer.prepare();
        signer
    }

    /// Sets `aud` to something other than the token URL (e.g. the issuer, for servers that follow RFC 7523bis).
    pub fn with_audience(mut self, audience: &str) -> Result<Self, Error> {
        if audience.is_empty() || audience.chars().any(char::is_control) {
            return Err(Error::InvalidParameter {
                field: "audience",
                reason: "it must be non-empty text without control characters".into(),
            });
        }
        self.audience = audience.to_owned();
        self.prepare();
        Ok(self)
    }

    /// Sets how long each assertion is valid (`exp` - `iat`): whole seconds from 1 s to 1 hour.
    pub fn with_lifetime(mut self, lifetime: Duration) -> Result<Self, Error> {
        if lifetime < Duration::from_secs(1) || lifetime > MAX_ASSERTION_LIFETIME {
            return Err(Error::InvalidParameter {
                field: "assertion lifetime",
                reason: format!("{} s is outside 1 s ..= 3600 s", lifetime.as_secs()),
            });
        }
        self.lifetime = Duration::from_secs(lifetime.as_secs());
        Ok(self)
    }

    /// The client id (`iss`, `sub`).
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The key id (`kid`).
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The audience (`aud`).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// How long each assertion lives.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The signing key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    fn prepare(&mut self) {
        let header = format!(
            r#"{{"alg":"{}","typ":"JWT","kid":{}}}"#,
            self.key.algorithm().as_str(),
            json_string(self.key_id.as_str())
        );
        self.header_b64 = URL_SAFE_NO_PAD.encode(header);
        let client_id = json_string(self.client_id.as_str());
        self.claims_prefix =
            format!(r#"{{"iss":{client_id},"sub":{client_id},"aud":{},"jti":""#, json_string(&self.audience));
    }

    /// Signs a new assertion issued at `now`, with a fresh `jti` from `rng`.
    pub fn sign(&self, now: SystemTime, rng: &dyn RandomSource) -> Result<ClientAssertion, Error> {
        let issued_at = now.duration_since(UNIX_EPOCH).map_err(|_| Error::ClockBeforeEpoch)?.as_secs();
        let expires_at = issued_at.saturating_add(self.lifetime.as_secs());
        let jti = uuid_v4(rng)?;

        let mut claims = Zeroizing::new(String::with_capacity(self.claims_prefix.len() + 80));
        claims.push_str(&self.claims_prefix);
        claims.push_str(std::str::from_utf8(&jti).map_err(|_| Error::Crypto("jti is not ASCII"))?);
        // Writing to a String cannot fail.
        let _ = write!(claims, r#"","iat":{issued_at},"exp":{expires_at}}}"#);

        let claims_len = base64::encoded_len(claims.len(), false).unwrap_or(0);
        let mut jwt = Zeroizing::new(String::with_capacity(self.header_b64.len() + claims_len + 2 + 700));
        jwt.push_str(&self.header_b64);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(claims.as_bytes(), &mut jwt);
        let signature = self.key.sign(jwt.as_bytes())?;
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut jwt);

        Ok(ClientAssertion {
            jwt,
            jti,
            issued_at: UNIX_EPOCH + Duration::from_secs(issued_at),
            expires_at: UNIX_EPOCH + Duration::from_secs(expires_at),
        })
    }
}

/// A JSON string literal for `value`, quotes included.
fn json_string(value: &str) -> String {
    // Serialising a &str cannot fail; fall back to an empty literal rather than panic.
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned())
}

/// A signed client assertion: a compact JWS, secret until it is used once.
pub struct ClientAssertion {
    jwt: Zeroizing<String>,
    jti: [u8; 36],
    issued_at: SystemTime,
    expires_at: SystemTime,
}

impl ClientAssertion {
    /// The compact JWT, to send as `client_assertion`. Call this only where the value must be sent.
    pub fn secret(&self) -> &str {
        &self.jwt
    }

    /// The assertion's unique id (`jti`), safe to log.
    pub fn jti(&self) -> &str {
        std::str::from_utf8(&self.jti).unwrap_or_default()
    }

    /// `iat`.
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// `exp`: the server refuses the assertion after this.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }
}

impl fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertion")
            .field("jwt", &format_args!("<redacted, {} bytes>", self.jwt.len()))
            .field("jti", &self.jti())
            .field("expires_at", &self.expires_at)
            .finish()
    }
}
