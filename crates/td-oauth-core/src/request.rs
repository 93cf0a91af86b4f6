//! Token requests: one grant, one client authentication, one `http::Request`.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request};
use url::form_urlencoded;
use zeroize::Zeroizing;

use crate::assertion::{AssertionSigner, CLIENT_ASSERTION_TYPE, ClientAssertion, UnsignedAssertion};
use crate::clock::offset::{self, Observation};
use crate::clock::{ClockOffset, OffsetEstimate};
use crate::endpoints::EndpointUrl;
use crate::random::{OsRandom, RandomSource};
use crate::response::TokenKind;
use crate::signer::{ExternalSigner, SignFailure, SignatureJob};
use crate::{
    AuthorizationCode, ClientId, ClientSecret, Credentials, Endpoints, Error, PkceVerifier, RefreshToken, Scopes,
};

/// What the client asks the token endpoint for.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Grant {
    /// `client_credentials`: a token for the client itself.
    ClientCredentials {
        /// Scopes to ask for; empty asks for all the client is allowed.
        scopes: Scopes,
    },
    /// `authorization_code`: exchange the code from the authorize redirect.
    AuthorizationCode {
        /// The code from the redirect.
        code: AuthorizationCode,
        /// The redirect URI sent in the authorize request, byte for byte.
        redirect_uri: String,
        /// The PKCE verifier, when the authorize request carried a challenge.
        code_verifier: Option<PkceVerifier>,
    },
    /// `refresh_token`: a new access token from a refresh token.
    RefreshToken {
        /// The refresh token.
        refresh_token: RefreshToken,
        /// Scopes to narrow to; empty keeps the original ones.
        scopes: Scopes,
    },
}

impl Grant {
    /// The client-credentials grant.
    pub fn client_credentials(scopes: Scopes) -> Self {
        Grant::ClientCredentials { scopes }
    }

    /// The authorization-code grant.
    pub fn authorization_code(
        code: AuthorizationCode,
        redirect_uri: impl Into<String>,
        code_verifier: Option<PkceVerifier>,
    ) -> Self {
        Grant::AuthorizationCode { code, redirect_uri: redirect_uri.into(), code_verifier }
    }

    /// The refresh-token grant.
    pub fn refresh_token(refresh_token: RefreshToken, scopes: Scopes) -> Self {
        Grant::RefreshToken { refresh_token, scopes }
    }

    /// The `grant_type` value.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::RefreshToken { .. } => "refresh_token",
        }
    }

    /// Refuses what the server would refuse anyway, before anything is signed or sent: a redirect URI
    /// that cannot receive a code ([`check_redirect_uri`](crate::endpoints::check_redirect_uri)) and a PKCE verifier
    /// outside RFC 7636 ([`PkceVerifier::check`]).
    fn check(&self) -> Result<(), Error> {
        if let Grant::AuthorizationCode { redirect_uri, code_verifier, .. } = self {
            crate::endpoints::check_redirect_uri(redirect_uri)?;
            code_verifier.as_ref().map(PkceVerifier::check).transpose()?;
        }
        Ok(())
    }

    /// The parameters the grant puts in the body, in order.
    fn params(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let (a, b, c) = match self {
            Grant::ClientCredentials { scopes } => (non_empty("scope", scopes.as_str()), None, None),
            Grant::AuthorizationCode { code, redirect_uri, code_verifier } => (
                Some(("code", code.secret())),
                Some(("redirect_uri", redirect_uri.as_str())),
                code_verifier.as_ref().map(|v| ("code_verifier", v.secret())),
            ),
            Grant::RefreshToken { refresh_token, scopes } => {
                (Some(("refresh_token", refresh_token.secret())), non_empty("scope", scopes.as_str()), None)
            }
        };
        std::iter::once(("grant_type", self.grant_type())).chain(a).chain(b).chain(c)
    }
}

fn non_empty<'a>(name: &'static str, value: &'a str) -> Option<(&'static str, &'a str)> {
    (!value.is_empty()).then_some((name, value))
}

/// A form-encoded request body. It may hold an assertion, a code or a refresh token, so `Debug` shows only
/// its length and the bytes are wiped on drop.
#[derive(Clone)]
pub struct FormBody(Zeroizing<Vec<u8>>);

impl FormBody {
    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the body is empty (never, for a token request).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The bytes, for an HTTP client that needs a `Vec<u8>`. The returned vector is no longer wiped on drop.
    pub fn into_vec(mut self) -> Vec<u8> {
        std::mem::take(&mut *self.0)
    }
}

impl AsRef<[u8]> for FormBody {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<FormBody> for Vec<u8> {
    fn from(body: FormBody) -> Vec<u8> {
        body.into_vec()
    }
}

impl fmt::Debug for FormBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FormBody(<redacted, {} bytes>)", self.0.len())
    }
}

/// `Authorization: Basic …` as RFC 6749 §2.3.1 has it: the client id and the secret each
/// application/x-www-form-urlencoded, joined by `:`, then Base64. Encoding first is what lets an id hold `:`
/// and a secret hold `+`, `%` or `&` and still arrive as they are. The buffers built here are wiped on drop; the
/// header value is marked sensitive.
fn basic_header(client_id: &ClientId, secret: &ClientSecret) -> HeaderValue {
    let (id, secret) = (client_id.as_str().as_bytes(), secret.secret().as_bytes());
    // Sized for the worst case (every byte percent-encoded) so no reallocation leaves a copy behind.
    let mut pair = Zeroizing::new(String::with_capacity(3 * (id.len() + secret.len()) + 1));
    pair.extend(form_urlencoded::byte_serialize(id));
    pair.push(':');
    pair.extend(form_urlencoded::byte_serialize(secret));
    let mut value = Zeroizing::new(String::with_capacity(6 + pair.len().div_ceil(3) * 4));
    value.push_str("Basic ");
    base64::engine::general_purpose::STANDARD.encode_string(pair.as_bytes(), &mut value);
    // Base64 text is always a valid header value; an empty one would be refused by the server.
    let mut header = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""));
    header.set_sensitive(true);
    header
}

enum Authentication {
    Jwt(AssertionSigner),
    Basic { client_id: ClientId, header: HeaderValue },
}

/// Builds token requests for one client at one token endpoint. Holds no connection and reads no clock: the
/// caller passes `now` and sends the request with any HTTP client.
///
/// It also holds the estimate of its token endpoint's clock offset ([`clock_offset`](Self::clock_offset)),
/// which only the endpoint's own answers to a [`TokenFetch`](crate::transport::TokenFetch) over this client
/// move; once it is over 30 s, assertions are signed on the endpoint's time (see
/// [`clock::offset`](crate::clock::offset)).
///
/// ```
/// use std::time::SystemTime;
/// use td_oauth_core::{ClientId, ClientSecret, Credentials, Endpoints, Grant, Region, Scopes, TokenClient};
///
/// let endpoints = Endpoints::talkdesk("acme", Region::Us)?;
/// let credentials = Credentials::client_secret(ClientId::new("my-client")?, ClientSecret::new("s3cret"))?;
/// let client = TokenClient::new(&endpoints, credentials);
/// let request = client.token_request(&Grant::client_credentials("users:read".parse()?), SystemTime::now())?;
/// assert_eq!(request.uri(), "https://acme.talkdeskid.com/oauth/token");
/// assert_eq!(request.body().as_bytes(), b"grant_type=client_credentials&scope=users%3Aread");
/// # Ok::<(), td_oauth_core::Error>(())
/// ```
pub struct TokenClient {
    token_url: EndpointUrl,
    auth: Authentication,
    rng: Box<dyn RandomSource>,
    kind: TokenKind,
    offset: Mutex<OffsetEstimate>,
}

impl fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = match &self.auth {
            Authentication::Jwt(signer) => format!("{signer:?}"),
            Authentication::Basic { client_id, .. } => format!("Basic {{ client_id: {client_id} }}"),
        };
        f.debug_struct("TokenClient").field("token_url", &self.token_url.as_str()).field("auth", &auth).finish()
    }
}

impl TokenClient {
    /// A client for `endpoints`' token URL. Assertions are addressed to that URL and live 300 s.
    pub fn new(endpoints: &Endpoints, credentials: Credentials) -> Self {
        let token_url = endpoints.token_url().clone();
        let auth = match credentials {
            Credentials::PrivateKeyJwt { client_id, key_id, key } => {
                Authentication::Jwt(AssertionSigner::new(client_id, key_id, key, &token_url))
            }
            Credentials::KeySet { client_id, keys } => {
                Authentication::Jwt(AssertionSigner::with_key_set(client_id, keys, &token_url))
            }
            Credentials::Signer { client_id, signer } => {
                Authentication::Jwt(AssertionSigner::external_checked(client_id, signer, &token_url))
            }
            Credentials::ClientSecret { client_id, secret } => {
                let header = basic_header(&client_id, &secret);
                Authentication::Basic { client_id, header }
            }
        };
        TokenClient {
            token_url,
            auth,
            rng: Box::new(OsRandom::new()),
            kind: TokenKind::Bearer,
            offset: Mutex::new(OffsetEstimate::new()),
        }
    }

    /// Starts the clock-offset estimate from `offset`, one measured earlier (a previous run's, kept by the
    /// caller): assertions are signed on it from the first request, and the endpoint's first answer replaces
    /// it. A stale one costs at most the one corrected retry a first measurement costs.
    pub fn with_clock_offset(self, offset: ClockOffset) -> Self {
        *self.estimate() = OffsetEstimate::from_earlier(offset);
        self
    }

    /// Sets the assertions' `aud` (default: the token URL). No effect with Basic authentication.
    pub fn with_assertion_audience(mut self, audience: &str) -> Result<Self, Error> {
        if let Authentication::Jwt(signer) = self.auth {
            self.auth = Authentication::Jwt(signer.with_audience(audience)?);
        }
        Ok(self)
    }

    /// The RFC 7523bis preset (see [`AssertionSigner::rfc7523bis`]): `aud` is `issuer` and the header's `typ`
    /// is `client-authentication+jwt`. Talkdesk documents neither (its default is `aud` = the token URL and
    /// `typ: JWT`); docs/security.md says when to use it. No effect with Basic authentication.
    pub fn with_rfc7523bis(mut self, issuer: &str) -> Result<Self, Error> {
        if let Authentication::Jwt(signer) = self.auth {
            self.auth = Authentication::Jwt(signer.rfc7523bis(issuer)?);
        }
        Ok(self)
    }

    /// Sends `typ: client-authentication+jwt` in the assertions' header instead of `JWT`. No effect with
    /// Basic authentication.
    pub fn with_client_authentication_typ(mut self) -> Self {
        if let Authentication::Jwt(signer) = self.auth {
            self.auth = Authentication::Jwt(signer.with_client_authentication_typ());
        }
        self
    }

    /// Sets the assertions' lifetime (default 300 s). No effect with Basic authentication.
    pub fn with_assertion_lifetime(mut self, lifetime: Duration) -> Result<Self, Error> {
        if let Authentication::Jwt(signer) = self.auth {
            self.auth = Authentication::Jwt(signer.with_lifetime(lifetime)?);
        }
        Ok(self)
    }

    /// Draws every assertion's `jti` from `rng` instead of the operating system's source ([`OsRandom`]), e.g.
    /// a program's own generator, or a seeded one in a test; an `Arc` shares one source with other users.
    pub fn with_random(mut self, rng: impl RandomSource + 'static) -> Self {
        self.rng = Box::new(rng);
        self
    }

    /// Marks every token this client obtains as `kind`; [`TokenKind::Sts`] for Talkdesk's "Client
    /// Credentials - STS" tokens (which Talkdesk documents with Basic authentication), so that the bearer
    /// wrappers send them without the word `Bearer`.
    pub fn with_token_kind(mut self, kind: TokenKind) -> Self {
        self.kind = kind;
        self
    }

    /// What kind of token this client obtains.
    pub fn token_kind(&self) -> TokenKind {
        self.kind
    }

    /// The token endpoint.
    pub fn token_url(&self) -> &EndpointUrl {
        &self.token_url
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        match &self.auth {
            Authentication::Jwt(signer) => signer.client_id(),
            Authentication::Basic { client_id, .. } => client_id,
        }
    }

    /// The assertion signer, with signed-JWT credentials.
    pub fn assertion_signer(&self) -> Option<&AssertionSigner> {
        match &self.auth {
            Authentication::Jwt(signer) => Some(signer),
            Authentication::Basic { .. } => None,
        }
    }

    /// How far the token endpoint's clock is from this machine's, as measured from the `Date` header of its
    /// answers so far (`None` before the first).
    pub fn clock_offset(&self) -> Option<ClockOffset> {
        self.estimate().offset()
    }

    /// Takes the answer received at `received` to a request sent at `sent` (wall-clock times) into the
    /// offset estimate; `None` when it has no usable `Date` header.
    pub(crate) fn observe_answer(
        &self,
        headers: &http::HeaderMap,
        sent: SystemTime,
        received: SystemTime,
    ) -> Option<Observation> {
        let sample = offset::sample(headers, sent, received)?;
        Some(self.estimate().observe(sample))
    }

    fn estimate(&self) -> std::sync::MutexGuard<'_, OffsetEstimate> {
        // The estimate is a few integers, always whole: a panic elsewhere cannot leave it half-written.
        self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Builds the POST for `grant`, signing a fresh assertion issued at `now` when the client uses a JWT
    /// (moved to the token endpoint's time when its measured offset is over 30 s; refused with
    /// [`Error::ClockOffsetTooLarge`] beyond an hour). Refuses a redirect URI or PKCE verifier that breaks
    /// its RFC first (see [`check_redirect_uri`](crate::endpoints::check_redirect_uri) and
    /// [`PkceVerifier::check`]).
    pub fn token_request(&self, grant: &Grant, now: SystemTime) -> Result<Request<FormBody>, Error> {
        self.signed_request(grant, now).map(|(request, _)| request)
    }

    /// [`token_request`](Self::token_request), with the correction its assertion was signed with (zero with
    /// Basic authentication, which carries no time).
    pub(crate) fn signed_request(
        &self,
        grant: &Grant,
        now: SystemTime,
    ) -> Result<(Request<FormBody>, ClockOffset), Error> {
        grant.check()?;
        let (assertion, correction) = match &self.auth {
            Authentication::Jwt(signer) => {
                let (at, correction) = self.estimate().signing_time(now)?;
                (Some(signer.sign(at, &*self.rng)?), correction)
            }
            Authentication::Basic { .. } => (None, ClockOffset::ZERO),
        };
        Ok((self.build_request(grant, assertion.as_ref())?, correction))
    }

    /// The request for `grant` at `now` when it needs no outside signer; otherwise its assertion without
    /// the signature, and the job that gets it (with `signer_timeout` to wait): [`Prepared::Unsigned`].
    pub(crate) fn prepare_request(
        &self,
        grant: &Grant,
        now: SystemTime,
        signer_timeout: Duration,
    ) -> Result<Prepared, Error> {
        let external = match &self.auth {
            Authentication::Jwt(signer) => signer.external_signer().is_some().then_some(signer),
            Authentication::Basic { .. } => None,
        };
        let Some(signer) = external else {
            let (request, correction) = self.signed_request(grant, now)?;
            return Ok(Prepared::Ready(request, correction));
        };
        grant.check()?;
        let (at, correction) = self.estimate().signing_time(now)?;
        let unsigned = signer.prepare(at, &*self.rng)?;
        let job = signer.signature_job(&unsigned, signer_timeout).ok_or(Error::Crypto("no outside signer"))?;
        Ok(Prepared::Unsigned { unsigned, job, correction })
    }

    /// The request for `grant` whose assertion, `unsigned`, the outside signer answered for with `answer`
    /// (`None`: no answer within `timeout`); the answer is checked first (see [`signer`](crate::signer)).
    pub(crate) fn finish_request(
        &self,
        grant: &Grant,
        unsigned: UnsignedAssertion,
        answer: Option<Result<Vec<u8>, SignFailure>>,
        timeout: Duration,
    ) -> Result<Request<FormBody>, Error> {
        let Authentication::Jwt(signer) = &self.auth else {
            return Err(Error::InvalidParameter {
                field: "signature",
                reason: "this client authenticates with a client secret; nothing is signed".into(),
            });
        };
        let assertion = signer.finish(unsigned, answer, timeout)?;
        self.build_request(grant, Some(&assertion))
    }

    /// Whether the assertions' signatures come from an async signer, which only an async transport drives.
    pub fn signs_async(&self) -> bool {
        self.assertion_signer().and_then(AssertionSigner::external_signer).is_some_and(ExternalSigner::is_async)
    }

    fn build_request(&self, grant: &Grant, assertion: Option<&ClientAssertion>) -> Result<Request<FormBody>, Error> {
        let client_params = assertion
            .iter()
            .flat_map(|a| [("client_assertion_type", CLIENT_ASSERTION_TYPE), ("client_assertion", a.secret())]);
        let params: Vec<(&str, &str)> = grant.params().chain(client_params).collect();

        // Sized for the worst case of percent-encoding so the secret is never left behind by a reallocation.
        let capacity = params.iter().map(|(k, v)| k.len() + 3 * v.len() + 2).sum();
        let mut body = form_urlencoded::Serializer::new(String::with_capacity(capacity));
        body.extend_pairs(params);
        let body = FormBody(Zeroizing::new(body.finish().into_bytes()));

        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.token_url.as_str())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"))
            .header(ACCEPT, HeaderValue::from_static("application/json"));
        if let Authentication::Basic { header, .. } = &self.auth {
            builder = builder.header(AUTHORIZATION, header.clone());
        }
        builder.body(body).map_err(|err| Error::InvalidUrl { which: "token", reason: err.to_string() })
    }
}

/// A token request as far as the core can build it alone.
pub(crate) enum Prepared {
    /// Signed (or needing no signature), with the clock correction it was signed with.
    Ready(Request<FormBody>, ClockOffset),
    /// Waiting for an outside signer's signature.
    Unsigned { unsigned: UnsignedAssertion, job: SignatureJob, correction: ClockOffset },
}
