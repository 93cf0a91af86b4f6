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
use crate::key_set::KeySet;
use crate::random::{RandomSource, uuid_v4};
use crate::signer::{ExternalSigner, SignFailure, SignatureCheck, SignatureJob};
use crate::{Algorithm, ClientId, Error, KeyId, PrivateKey};

/// The assertion lifetime Talkdesk's samples use.
pub const DEFAULT_ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// The longest assertion lifetime accepted; a long-lived assertion is a long replay window if it leaks.
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);

/// The `typ` header RFC 7523bis asks client assertions to carry, so that a server can tell them from every
/// other JWT ([`AssertionSigner::with_client_authentication_typ`]); Talkdesk documents `JWT`, the default.
pub const CLIENT_AUTHENTICATION_TYP: &str = "client-authentication+jwt";

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
    key: SigningKey,
    client_id: ClientId,
    key_id: KeyId,
    audience: String,
    lifetime: Duration,
    /// The `typ` header: `JWT`, or [`CLIENT_AUTHENTICATION_TYP`].
    typ: &'static str,
    /// base64url of the header, which never changes (a key set's is made per assertion).
    header_b64: String,
    /// `{"iss":…,"sub":…,"aud":…,"jti":"`: the claims up to the per-assertion values.
    claims_prefix: String,
}

/// What signs: a key in memory (the fast path), or a signer outside it.
enum SigningKey {
    Memory(PrivateKey),
    External(Box<SignatureCheck>),
    Set(KeySet),
}

impl SigningKey {
    fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::Memory(key) => key.algorithm(),
            SigningKey::External(check) => check.algorithm(),
            SigningKey::Set(keys) => keys.algorithm(),
        }
    }
}

impl fmt::Debug for AssertionSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signer = match &self.key {
            SigningKey::Memory(_) => "in memory",
            SigningKey::External(check) if check.signer().is_async() => "async signer",
            SigningKey::External(_) => "blocking signer",
            SigningKey::Set(_) => "key set",
        };
        f.debug_struct("AssertionSigner")
            .field("client_id", &self.client_id)
            .field("key_id", &self.key_id)
            .field("algorithm", &self.key.algorithm())
            .field("signer", &signer)
            .field("audience", &self.audience)
            .field("lifetime", &self.lifetime)
            .field("typ", &self.typ)
            .finish_non_exhaustive()
    }
}

impl AssertionSigner {
    /// A signer whose assertions are addressed to `token_url` and live 300 s.
    pub fn new(client_id: ClientId, key_id: KeyId, key: PrivateKey, token_url: &EndpointUrl) -> Self {
        Self::with_key(client_id, key_id, SigningKey::Memory(key), token_url)
    }

    /// A signer whose signatures come from `signer` (its key id is the `kid`), addressed to `token_url`.
    /// Refuses a signer whose public key does not fit the algorithm it announces.
    pub fn external(client_id: ClientId, signer: ExternalSigner, token_url: &EndpointUrl) -> Result<Self, Error> {
        let check = SignatureCheck::new(signer);
        if let Some(mismatch) = check.mismatch() {
            return Err(mismatch.clone().into());
        }
        let key_id = check.key_id().clone();
        Ok(Self::with_key(client_id, key_id, SigningKey::External(Box::new(check)), token_url))
    }

    /// [`external`](Self::external) for a signer whose public key was checked already (by its
    /// [`Credentials`](crate::Credentials)); should it not fit after all, every assertion is refused.
    pub(crate) fn external_checked(client_id: ClientId, signer: ExternalSigner, token_url: &EndpointUrl) -> Self {
        let check = SignatureCheck::new(signer);
        let key_id = check.key_id().clone();
        Self::with_key(client_id, key_id, SigningKey::External(Box::new(check)), token_url)
    }

    /// A signer whose assertions are signed with the active key of `keys` (see [`key_set`](crate::key_set)),
    /// under that key's id, addressed to `token_url`.
    pub fn with_key_set(client_id: ClientId, keys: KeySet, token_url: &EndpointUrl) -> Self {
        let key_id = keys.active_key_id();
        Self::with_key(client_id, key_id, SigningKey::Set(keys), token_url)
    }

    fn with_key(client_id: ClientId, key_id: KeyId, key: SigningKey, token_url: &EndpointUrl) -> Self {
        let mut signer = AssertionSigner {
            key,
            client_id,
            key_id,
            audience: token_url.as_str().to_owned(),
            lifetime: DEFAULT_ASSERTION_LIFETIME,
            typ: "JWT",
            header_b64: String::new(),
            claims_prefix: String::new(),
        };
        signer.prepare_constants();
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
        self.prepare_constants();
        Ok(self)
    }

    /// Sends `typ: client-authentication+jwt` ([`CLIENT_AUTHENTICATION_TYP`]) in the header instead of
    /// Talkdesk's documented `JWT`, for servers that follow RFC 7523bis and check it.
    pub fn with_client_authentication_typ(mut self) -> Self {
        self.typ = CLIENT_AUTHENTICATION_TYP;
        self.prepare_constants();
        self
    }

    /// The RFC 7523bis preset: `aud` is `issuer` (the authorization server's issuer identifier) and `typ` is
    /// `client-authentication+jwt`. Talkdesk documents neither; see docs/security.md for when to use it.
    pub fn rfc7523bis(self, issuer: &str) -> Result<Self, Error> {
        Ok(self.with_audience(issuer)?.with_client_authentication_typ())
    }

    /// The `typ` header sent.
    pub fn typ(&self) -> &str {
        self.typ
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

    /// The key id (`kid`). With a key set, the key that was active when the signer was made: see
    /// [`KeySet::active_key_id`] for the one that signs now.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The algorithm (`alg`).
    pub fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }

    /// The audience (`aud`).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// How long each assertion lives.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The signing key, when it is in memory.
    pub fn key(&self) -> Option<&PrivateKey> {
        match &self.key {
            SigningKey::Memory(key) => Some(key),
            SigningKey::External(_) | SigningKey::Set(_) => None,
        }
    }

    /// The signer outside the process, when the signatures come from one.
    pub fn external_signer(&self) -> Option<&ExternalSigner> {
        match &self.key {
            SigningKey::Memory(_) | SigningKey::Set(_) => None,
            SigningKey::External(check) => Some(check.signer()),
        }
    }

    fn prepare_constants(&mut self) {
        self.header_b64 = header_b64(self.key.algorithm(), self.typ, &self.key_id);
        let client_id = json_string(self.client_id.as_str());
        self.claims_prefix =
            format!(r#"{{"iss":{client_id},"sub":{client_id},"aud":{},"jti":""#, json_string(&self.audience));
    }

    /// Signs a new assertion issued at `now`, with a fresh `jti` from `rng`. With a blocking signer outside
    /// the process, calls it on this thread with no timeout (the transports arrange one: see
    /// [`signer`](crate::signer)); an async signer is refused here, as it must be awaited
    /// ([`prepare`](Self::prepare), then [`finish`](Self::finish)).
    pub fn sign(&self, now: SystemTime, rng: &dyn RandomSource) -> Result<ClientAssertion, Error> {
        let unsigned = self.prepare(now, rng)?;
        let answer = match &self.key {
            SigningKey::External(check) => match check.signer() {
                ExternalSigner::Blocking(signer) => Some(signer.sign(unsigned.signing_input())),
                ExternalSigner::Async(_) => {
                    return Err(Error::InvalidParameter {
                        field: "signer",
                        reason: "an async signer must be awaited: build the assertion with `prepare` and \
                                 `finish`, or through td-oauth-reqwest"
                            .into(),
                    });
                }
            },
            SigningKey::Memory(_) | SigningKey::Set(_) => None,
        };
        self.finish(unsigned, answer, Duration::ZERO)
    }

    /// The assertion issued at `now` without its signature: its signing input (header and claims), for a
    /// signer outside the process to sign. Hand the answer to [`finish`](Self::finish).
    /// With a key set, the header names the key active now; [`finish`](Self::finish) signs with the key
    /// active then.
    pub fn prepare(&self, now: SystemTime, rng: &dyn RandomSource) -> Result<UnsignedAssertion, Error> {
        match &self.key {
            SigningKey::Set(keys) => {
                let keys = keys.current();
                let (key_id, key) = keys.active();
                let mut unsigned = self.prepare_with(&header_b64(key.algorithm(), self.typ, key_id), now, rng)?;
                unsigned.key = Some(key.clone());
                Ok(unsigned)
            }
            SigningKey::Memory(_) | SigningKey::External(_) => self.prepare_with(&self.header_b64, now, rng),
        }
    }

    fn prepare_with(
        &self,
        header_b64: &str,
        now: SystemTime,
        rng: &dyn RandomSource,
    ) -> Result<UnsignedAssertion, Error> {
        let issued_at = now.duration_since(UNIX_EPOCH).map_err(|_| Error::ClockBeforeEpoch)?.as_secs();
        let expires_at = issued_at.saturating_add(self.lifetime.as_secs());
        let jti = uuid_v4(rng)?;

        let mut claims = Zeroizing::new(String::with_capacity(self.claims_prefix.len() + 80));
        claims.push_str(&self.claims_prefix);
        claims.push_str(std::str::from_utf8(&jti).map_err(|_| Error::Crypto("jti is not ASCII"))?);
        // Writing to a String cannot fail.
        let _ = write!(claims, r#"","iat":{issued_at},"exp":{expires_at}}}"#);

        let claims_len = base64::encoded_len(claims.len(), false).unwrap_or(0);
        // Room for the largest signature (RSA-4096 in base64url) so that appending it does not reallocate.
        let mut jwt = Zeroizing::new(String::with_capacity(header_b64.len() + claims_len + 2 + 700));
        jwt.push_str(header_b64);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(claims.as_bytes(), &mut jwt);
        Ok(UnsignedAssertion {
            jwt,
            key: None,
            jti,
            issued_at: UNIX_EPOCH + Duration::from_secs(issued_at),
            expires_at: UNIX_EPOCH + Duration::from_secs(expires_at),
        })
    }

    /// The signature job for `unsigned`, when the signatures come from a signer outside the process:
    /// what a transport hands that signer, with `timeout` to wait.
    pub fn signature_job(&self, unsigned: &UnsignedAssertion, timeout: Duration) -> Option<SignatureJob> {
        match &self.key {
            SigningKey::Memory(_) | SigningKey::Set(_) => None,
            SigningKey::External(check) => {
                Some(SignatureJob::new(check.signer().clone(), unsigned.signing_input(), timeout))
            }
        }
    }

    /// Completes `unsigned` with the outside signer's answer: the signature, its failure, or `None` when it
    /// gave none within `timeout`. The signature's form is checked, and the first one verified against the
    /// signer's public key when it gave one (see [`signer`](crate::signer)). With a key in memory or a key
    /// set, signs `unsigned` with the key it was prepared for and ignores `answer`.
    pub fn finish(
        &self,
        mut unsigned: UnsignedAssertion,
        answer: Option<Result<Vec<u8>, SignFailure>>,
        timeout: Duration,
    ) -> Result<ClientAssertion, Error> {
        match (&self.key, unsigned.key.take()) {
            (SigningKey::External(check), _) => {
                let signature = check.accept(unsigned.signing_input(), answer, timeout)?;
                unsigned.append(&signature);
            }
            (SigningKey::Memory(key), _) => unsigned.append(key.sign(unsigned.jwt.as_bytes())?.as_ref()),
            (SigningKey::Set(_), Some(key)) => unsigned.append(key.sign(unsigned.jwt.as_bytes())?.as_ref()),
            (SigningKey::Set(_), None) => {
                return Err(Error::InvalidParameter {
                    field: "assertion",
                    reason: "it was prepared by another signer; finish it with the signer that prepared it".into(),
                });
            }
        }
        Ok(unsigned.into_assertion())
    }
}

/// An assertion waiting for its signature: `base64url(header) "." base64url(claims)`.
pub struct UnsignedAssertion {
    jwt: Zeroizing<String>,
    /// The key set's key the header names, which signs it.
    key: Option<PrivateKey>,
    jti: [u8; 36],
    issued_at: SystemTime,
    expires_at: SystemTime,
}

impl UnsignedAssertion {
    /// The JWS signing input: the bytes the signature covers.
    pub fn signing_input(&self) -> &[u8] {
        self.jwt.as_bytes()
    }

    /// The assertion's `jti`.
    pub fn jti(&self) -> &str {
        std::str::from_utf8(&self.jti).unwrap_or_default()
    }

    /// Appends `.` and the signature in base64url (into the room reserved for it: no reallocation).
    fn append(&mut self, signature: &[u8]) {
        self.jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut self.jwt);
    }

    fn into_assertion(self) -> ClientAssertion {
        ClientAssertion { jwt: self.jwt, jti: self.jti, issued_at: self.issued_at, expires_at: self.expires_at }
    }
}

impl fmt::Debug for UnsignedAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsignedAssertion").field("jti", &self.jti()).finish_non_exhaustive()
    }
}

/// base64url of the header `{"alg":…,"typ":…,"kid":…}`.
fn header_b64(algorithm: Algorithm, typ: &str, key_id: &KeyId) -> String {
    let header = format!(
        r#"{{"alg":"{}","typ":{},"kid":{}}}"#,
        algorithm.as_str(),
        json_string(typ),
        json_string(key_id.as_str())
    );
    URL_SAFE_NO_PAD.encode(header)
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
