//! The one-shot client: the core's [`TokenFetch`] loop run with reqwest and tokio's sleep.

use std::fmt;
use std::sync::Arc;

use td_oauth_core::signer::{SignFailure, SignatureJob};
use td_oauth_core::transport::{ClientParts, Transport};
use td_oauth_core::{
    AuthorizationCode, Credentials, Endpoints, Grant, PkceVerifier, RefreshToken, Scopes, TokenClient, TokenResponse,
};

use td_oauth_core::transport::proxy::ProxyRule;

use crate::{Config, Error, SharedCache, TokenProvider, config, send};

/// Sends token requests for one client to one token endpoint. Every call is a request (plus retries);
/// for a token shared by many callers and refreshed ahead of expiry, make a [`TokenProvider`] with
/// [`provider`](Self::provider).
///
/// Cheap to clone: clones share the HTTP client (and its connection pool) and the signer.
#[derive(Clone)]
pub struct Client {
    parts: Arc<ClientParts<Client>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.parts, f)
    }
}

impl Client {
    /// A client for `endpoints`' token URL with `credentials` and the default [`Config`].
    pub fn new(endpoints: &Endpoints, credentials: Credentials) -> Result<Self, Error> {
        Self::with_config(endpoints, credentials, Config::default())
    }

    /// A client for `endpoints`' token URL with `credentials`, sending as `config` says. Fails with
    /// [`Error::Config`] for settings that contradict each other or an HTTP client that cannot be built.
    pub fn with_config(endpoints: &Endpoints, credentials: Credentials, config: Config) -> Result<Self, Error> {
        Self::from_token_client(TokenClient::new(endpoints, credentials), config)
    }

    /// A client around a core [`TokenClient`], e.g. one with a custom assertion audience or lifetime.
    pub fn from_token_client(tokens: TokenClient, config: Config) -> Result<Self, Error> {
        Ok(Client { parts: Arc::new(ClientParts::new(tokens, config)?) })
    }

    /// Requests a token for `grant`, retrying transport failures, timeouts, 5xx and 429 per the
    /// [`RetryPolicy`](td_oauth_core::retry::RetryPolicy); other errors (such as `invalid_client`) return at once.
    pub async fn fetch(&self, grant: &Grant) -> Result<TokenResponse, Error> {
        let parts = &*self.parts;
        let (url, shown, cap) =
            (parts.tokens().token_url().url(), parts.shown_url(), parts.config().max_response_bytes());
        let proxy = parts.proxies().and_then(|rule| rule.route(url));
        let send = |attempt| send::send(parts.http_client(), proxy, attempt, url, shown, cap);
        parts.token_fetch(grant).run(parts.config().clock(), || parts.jitter(), sign, send, tokio::time::sleep).await
    }

    /// The client-credentials grant: a token for the client itself.
    pub async fn client_credentials(&self, scopes: Scopes) -> Result<TokenResponse, Error> {
        self.fetch(&Grant::client_credentials(scopes)).await
    }

    /// The authorization-code grant: exchanges the code from the authorize redirect. With
    /// [`PendingAuthorization::finish`](td_oauth_core::PendingAuthorization::finish), use [`fetch`](Self::fetch)
    /// with the grant it returns.
    pub async fn authorization_code(
        &self,
        code: AuthorizationCode,
        redirect_uri: impl Into<String>,
        code_verifier: Option<PkceVerifier>,
    ) -> Result<TokenResponse, Error> {
        self.fetch(&Grant::authorization_code(code, redirect_uri, code_verifier)).await
    }

    /// The refresh-token grant. Talkdesk may rotate refresh tokens: keep the new one from the response (a
    /// [`TokenProvider`] over this grant does).
    pub async fn refresh(&self, refresh_token: RefreshToken, scopes: Scopes) -> Result<TokenResponse, Error> {
        self.fetch(&Grant::refresh_token(refresh_token, scopes)).await
    }

    /// A shared, refreshing token source for `grant` over this client; the same as [`TokenProvider::new`].
    pub fn provider(&self, grant: Grant) -> TokenProvider {
        TokenProvider::new(self.clone(), grant)
    }

    /// The HTTP client token requests go through (also fine for API requests).
    pub fn http_client(&self) -> &reqwest::Client {
        self.parts.http_client()
    }

    /// The core client that builds (and signs) the requests.
    pub fn token_client(&self) -> &TokenClient {
        self.parts.tokens()
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        self.parts.config()
    }

    /// A random number for jitter, from the client's one random source.
    pub(crate) fn jitter(&self) -> u64 {
        self.parts.jitter()
    }
}

/// One signature from a signer outside the process, within the job's timeout (`None` past it): an async
/// signer awaited, a blocking one on tokio's blocking pool so that it holds up no task. A blocking call that
/// runs over is left to finish on its thread; its answer is dropped.
async fn sign(job: SignatureJob) -> Option<Result<Vec<u8>, SignFailure>> {
    let timeout = job.timeout();
    if job.signer().is_async() {
        return tokio::time::timeout(timeout, job.sign_async()).await.ok();
    }
    let call = tokio::task::spawn_blocking(move || job.sign_blocking());
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(answer)) => Some(answer),
        Ok(Err(_)) => Some(Err(SignFailure::panicked())),
        Err(_) => None,
    }
}

/// What td-oauth-core's [`Config`] needs of this transport.
impl Transport for Client {
    type HttpClient = reqwest::Client;
    type SharedCache = dyn SharedCache;
    const ADDS_ROOTS_TO_SYSTEM: bool = true;
    /// Async signers are awaited; blocking ones run on tokio's blocking pool.
    const DRIVES_ASYNC_SIGNERS: bool = true;

    fn build_http_client(config: &Config, proxies: &Arc<ProxyRule>) -> Result<reqwest::Client, Error> {
        config::build_http_client(config, Arc::clone(proxies))
    }
}
