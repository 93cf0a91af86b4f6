//! The authorization-code flow's front half: the authorize URL, and the redirect back.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq as _;
use url::Url;

use crate::endpoints::EndpointUrl;
use crate::oauth_error::ErrorCode;
use crate::random::{self, RandomSource};
use crate::{AuthorizationCode, ClientId, Error, Grant, PkceVerifier, Scopes, backend};

/// An authorize request to build: client, redirect URI, scopes, and optionally `state`, `nonce`, PKCE and
/// OpenID Connect's `prompt`.
///
/// `state` and `nonce` are generated when not given; PKCE (S256, RFC 7636) is off by default because Talkdesk
/// does not document it. `prompt` is not documented by Talkdesk either: none is sent unless the scopes ask
/// for `offline_access`, when `prompt=consent` is, because OpenID Connect Core §11 lets a server grant a
/// refresh token for `offline_access` only then (conforming servers drop the scope otherwise).
/// [`with_prompt`](Self::with_prompt) and [`without_prompt`](Self::without_prompt) choose otherwise.
///
/// ```
/// use td_oauth_core::random::OsRandom;
/// use td_oauth_core::{AuthorizeRequest, ClientId, Endpoints, Region};
///
/// let endpoints = Endpoints::talkdesk("acme", Region::Us)?;
/// let (url, pending) = AuthorizeRequest::new(ClientId::new("my-client")?, "https://app.example/callback")
///     .with_scopes("openid users:read".parse()?)
///     .with_pkce(true)
///     .build(endpoints.authorize_url().unwrap(), &OsRandom::new())?;
/// assert!(url.as_str().starts_with("https://acme.talkdeskid.com/oauth/authorize?response_type=code"));
///
/// // Later, the browser comes back to the redirect URI:
/// let back = format!("https://app.example/callback?code=abc&state={}", pending.state());
/// let grant = pending.finish(&back)?;
/// assert_eq!(grant.grant_type(), "authorization_code");
/// # Ok::<(), td_oauth_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    client_id: ClientId,
    redirect_uri: String,
    scopes: Scopes,
    state: Option<String>,
    nonce: Option<String>,
    pkce: bool,
    prompt: PromptChoice,
}

/// What the caller chose for `prompt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PromptChoice {
    /// `consent` with `offline_access`, else nothing.
    Default,
    /// This one, whatever the scopes.
    Send(Prompt),
    /// None, whatever the scopes.
    Omit,
}

/// OpenID Connect's `prompt` (Core §3.1.2.1): whether the server asks the user to sign in or consent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Prompt {
    /// `none`: show no page at all; the server answers `login_required` or `consent_required` if it would
    /// have to.
    None,
    /// `login`: ask the user to sign in again, even with a session.
    Login,
    /// `consent`: ask the user to consent again; what a refresh token for `offline_access` requires.
    Consent,
    /// `select_account`: let the user pick among the accounts they are signed in with.
    SelectAccount,
}

impl Prompt {
    /// Every value, in the order OpenID Connect lists them.
    pub const ALL: [Prompt; 4] = [Prompt::None, Prompt::Login, Prompt::Consent, Prompt::SelectAccount];

    /// The value as sent: `none`, `login`, `consent` or `select_account`.
    pub fn as_str(self) -> &'static str {
        match self {
            Prompt::None => "none",
            Prompt::Login => "login",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
        }
    }
}

impl fmt::Display for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Prompt {
    type Err = Error;

    /// One of `none`, `login`, `consent`, `select_account`, as OpenID Connect spells them.
    fn from_str(text: &str) -> Result<Self, Error> {
        Prompt::ALL.into_iter().find(|prompt| prompt.as_str() == text).ok_or_else(|| Error::InvalidParameter {
            field: "prompt",
            reason: format!(
                "{:?} is not one of none, login, consent, select_account (OpenID Connect Core §3.1.2.1)",
                crate::text::excerpt(text)
            ),
        })
    }
}

impl AuthorizeRequest {
    /// A request for `client_id` that returns to `redirect_uri`.
    pub fn new(client_id: ClientId, redirect_uri: impl Into<String>) -> Self {
        AuthorizeRequest {
            client_id,
            redirect_uri: redirect_uri.into(),
            scopes: Scopes::none(),
            state: None,
            nonce: None,
            pkce: false,
            prompt: PromptChoice::Default,
        }
    }

    /// The scopes to ask the user for.
    pub fn with_scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// A caller-chosen `state` (default: 128 random bits).
    pub fn with_state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// A caller-chosen `nonce` (default: 128 random bits).
    pub fn with_nonce(mut self, nonce: impl Into<String>) -> Self {
        self.nonce = Some(nonce.into());
        self
    }

    /// Whether to send a PKCE S256 challenge (and keep the verifier for the exchange).
    pub fn with_pkce(mut self, enabled: bool) -> Self {
        self.pkce = enabled;
        self
    }

    /// Sends `prompt`, whatever the scopes (instead of `consent` for `offline_access`).
    pub fn with_prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = PromptChoice::Send(prompt);
        self
    }

    /// Sends no `prompt`, even with `offline_access` (for a server that refuses the parameter).
    pub fn without_prompt(mut self) -> Self {
        self.prompt = PromptChoice::Omit;
        self
    }

    /// The `prompt` the URL will carry: the one chosen, else `consent` when the scopes ask for
    /// `offline_access`, else none.
    pub fn prompt(&self) -> Option<Prompt> {
        match self.prompt {
            PromptChoice::Send(prompt) => Some(prompt),
            PromptChoice::Omit => None,
            PromptChoice::Default => self.scopes.contains(OFFLINE_ACCESS).then_some(Prompt::Consent),
        }
    }

    /// Builds the URL to send the user to, and what must be kept until the redirect comes back.
    pub fn build(
        &self,
        authorize_url: &EndpointUrl,
        rng: &dyn RandomSource,
    ) -> Result<(Url, PendingAuthorization), Error> {
        if self.redirect_uri.is_empty() {
            return Err(Error::InvalidParameter { field: "redirect URI", reason: "it is empty".into() });
        }
        let state = match &self.state {
            Some(state) if state.is_empty() => {
                return Err(Error::InvalidParameter { field: "state", reason: "it is empty".into() });
            }
            Some(state) => state.clone(),
            None => random::random_token(rng, 16)?,
        };
        let nonce = match &self.nonce {
            Some(nonce) => nonce.clone(),
            None => random::random_token(rng, 16)?,
        };
        let code_verifier = if self.pkce { Some(PkceVerifier::new(random::random_token(rng, 32)?)) } else { None };

        let mut url = authorize_url.url().clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", self.client_id.as_str())
                .append_pair("redirect_uri", &self.redirect_uri);
            if !self.scopes.is_empty() {
                query.append_pair("scope", self.scopes.as_str());
            }
            query.append_pair("state", &state);
            if !nonce.is_empty() {
                query.append_pair("nonce", &nonce);
            }
            if let Some(prompt) = self.prompt() {
                query.append_pair("prompt", prompt.as_str());
            }
            if let Some(verifier) = &code_verifier {
                query
                    .append_pair("code_challenge", &pkce_challenge(verifier))
                    .append_pair("code_challenge_method", "S256");
            }
        }
        let pending = PendingAuthorization { redirect_uri: self.redirect_uri.clone(), state, nonce, code_verifier };
        Ok((url, pending))
    }
}

/// The scope that asks for a refresh token (OpenID Connect Core §11).
const OFFLINE_ACCESS: &str = "offline_access";

/// The S256 challenge for a verifier: base64url(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &PkceVerifier) -> String {
    URL_SAFE_NO_PAD.encode(backend::sha256(verifier.secret().as_bytes()))
}

/// What a client keeps between sending the user to the authorize URL and the redirect back.
#[derive(Clone)]
pub struct PendingAuthorization {
    redirect_uri: String,
    state: String,
    nonce: String,
    code_verifier: Option<PkceVerifier>,
}

impl fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("redirect_uri", &self.redirect_uri)
            .field("state", &self.state)
            .field("pkce", &self.code_verifier.is_some())
            .finish_non_exhaustive()
    }
}

/// Why an authorize redirect was refused: what [`PendingAuthorization::finish`] returns.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum RedirectError {
    /// The authorize redirect carried an `error` instead of a code.
    #[error("authorization failed: {code}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The error code from the redirect, e.g. `access_denied`.
        code: ErrorCode,
        /// The server's `error_description`, if any.
        description: Option<String>,
    },

    /// The redirect's `state` is missing or not the one sent: ignore the redirect (possible CSRF).
    #[error("the redirect's state does not match the authorize request's; ignore this redirect (possible forgery)")]
    StateMismatch,

    /// The authorize redirect could not be read.
    #[error("invalid authorize redirect: {reason}")]
    Invalid {
        /// What was wrong.
        reason: String,
    },
}

impl PendingAuthorization {
    /// The `state` sent.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The `nonce` sent; the ID token's `nonce` claim must equal it.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The redirect URI sent, which the exchange must repeat.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The PKCE verifier, when PKCE was used.
    pub fn code_verifier(&self) -> Option<&PkceVerifier> {
        self.code_verifier.as_ref()
    }

    /// Reads the redirect back (a full URL, or just its query string), checks `state`, and returns the
    /// authorization-code grant to send to the token endpoint.
    ///
    /// The state is checked before anything else: a redirect without exactly one `state`, equal to the one
    /// sent, is [`RedirectError::StateMismatch`] whatever else it carries (an `error`, a repeated `code`), so
    /// a listener can ignore every such request and keep waiting for the real one.
    pub fn finish(&self, redirect: &str) -> Result<Grant, RedirectError> {
        let code = self.code_from(redirect)?;
        Ok(Grant::authorization_code(code, self.redirect_uri.clone(), self.code_verifier.clone()))
    }

    fn code_from(&self, redirect: &str) -> Result<AuthorizationCode, RedirectError> {
        let redirect = redirect.trim();
        let query = match Url::parse(redirect) {
            Ok(url) => url.query().unwrap_or_default().to_owned(),
            Err(_) => redirect.trim_start_matches('?').to_owned(),
        };
        const NAMES: [&str; 4] = ["state", "code", "error", "error_description"];
        let mut values: [Vec<String>; 4] = Default::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if let Some(slot) = NAMES.iter().position(|known| *known == name) {
                values[slot].push(value.into_owned());
            }
        }
        let [state, code, error, description] = values;
        match state.as_slice() {
            // Constant time, so that timing does not reveal how much of a guessed `state` was right.
            [state] if bool::from(state.as_bytes().ct_eq(self.state.as_bytes())) => {}
            _ => return Err(RedirectError::StateMismatch),
        }
        let once = |name: &str, values: Vec<String>| match <[String; 1]>::try_from(values) {
            Ok([value]) => Ok(Some(value)),
            Err(values) if values.is_empty() => Ok(None),
            // A repeated parameter is a sign of tampering (RFC 6749 §3.1).
            Err(_) => Err(RedirectError::Invalid { reason: format!("parameter `{name}` appears more than once") }),
        };
        let (code, error, description) =
            (once("code", code)?, once("error", error)?, once("error_description", description)?);
        if let Some(error) = error {
            return Err(RedirectError::Refused {
                code: ErrorCode::parse(&error),
                description: description.map(|d| crate::text::description(&d)).filter(|d| !d.is_empty()),
            });
        }
        match code {
            Some(code) if !code.is_empty() => Ok(AuthorizationCode::new(code)),
            _ => Err(RedirectError::Invalid { reason: "it carries neither `code` nor `error`".into() }),
        }
    }
}
