//! The one-shot client: the core's [`TokenFetch`] loop run with blocking I/O and `thread::sleep`.

use std::fmt;
use std::future::ready;
use std::sync::{Arc, mpsc};
use std::thread;

use td_oauth_core::signer::{SignFailure, SignatureJob};
use td_oauth_core::transport::proxy::ProxyRule;
use td_oauth_core::transport::{ClientParts, Transport, run_ready};
use td_oauth_core::{
    AuthorizationCode, Credentials, Endpoints, Grant, PkceVerifier, RefreshToken, Scopes, TokenClient, TokenResponse,
};

use crate::{Config, Error, SharedCache, TokenProvider, config, send};

/// A blocking token client: every grant, both client authentications, retries per the
/// [`RetryPolicy`](td_oauth_core::retry::RetryPolicy).
///
/// Cheap to clone (an `Arc`); share one per set of credentials. Each call signs a fresh assertion (new
/// `jti`) for every attempt, so retries are never refused as replays. For a token shared by many callers,
/// cached and refreshed ahead of expiry, make a [`TokenProvider`] with [`provider`](Self::provider).
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
        Client::with_config(endpoints, credentials, Config::default())
    }

    /// A client for `endpoints`' token URL with `credentials`, sending as `config` says. Fails with
    /// [`Error::Config`] for settings this transport cannot honour.
    pub fn with_config(endpoints: &Endpoints, credentials: Credentials, config: Config) -> Result<Self, Error> {
        Client::from_token_client(TokenClient::new(endpoints, credentials), config)
    }

    /// A client around a core [`TokenClient`] (e.g. one with a custom assertion audience or lifetime),
    /// sending as `config` says.
    pub fn from_token_client(tokens: TokenClient, config: Config) -> Result<Self, Error> {
        Ok(Client { parts: Arc::new(ClientParts::new(tokens, config)?) })
    }

    /// Gets a token for `grant`, retrying connection failures, timeouts, truncated answers, 5xx and 429
    /// (honouring `Retry-After`) with full-jitter backoff within the retry policy's deadline. Other answers,
    /// such as `invalid_client`, are returned at once.
    pub fn fetch(&self, grant: &Grant) -> Result<TokenResponse, Error> {
        let parts = &*self.parts;
        let (agent, proxies) = (parts.http_client(), parts.proxies().map(|rule| &**rule));
        let (shown, cap) = (parts.shown_url(), parts.config().max_response_bytes());
        run_ready(parts.token_fetch(grant).run(
            parts.config().clock(),
            || parts.jitter(),
            |job| ready(sign(job)),
            |attempt| ready(send::send(agent, proxies, attempt, shown, cap)),
            |delay| {
                std::thread::sleep(delay);
                ready(())
            },
        ))
    }

    /// The client-credentials grant: a token for the client itself.
    pub fn client_credentials(&self, scopes: Scopes) -> Result<TokenResponse, Error> {
        self.fetch(&Grant::client_credentials(scopes))
    }

    /// The authorization-code grant: exchanges the code from the authorize redirect. With
    /// [`PendingAuthorization::finish`](td_oauth_core::PendingAuthorization::finish), use [`fetch`](Self::fetch)
    /// with the grant it returns.
    pub fn authorization_code(
        &self,
        code: AuthorizationCode,
        redirect_uri: impl Into<String>,
        code_verifier: Option<PkceVerifier>,
    ) -> Result<TokenResponse, Error> {
        self.fetch(&Grant::authorization_code(code, redirect_uri, code_verifier))
    }

    /// The refresh-token grant. Talkdesk may rotate refresh tokens: keep the new one from the response (a
    /// [`TokenProvider`] over this grant does).
    pub fn refresh(&self, refresh_token: RefreshToken, scopes: Scopes) -> Result<TokenResponse, Error> {
        self.fetch(&Grant::refresh_token(refresh_token, scopes))
    }

    /// A shared, refreshing token source for `grant` over this client; the same as [`TokenProvider::new`].
    pub fn provider(&self, grant: Grant) -> TokenProvider {
        TokenProvider::new(self.clone(), grant)
    }

    /// The core client that builds (and signs) the requests.
    pub fn token_client(&self) -> &TokenClient {
        self.parts.tokens()
    }

    /// The agent requests are sent with (the caller's, if the config supplied one).
    pub fn http_client(&self) -> &ureq::Agent {
        self.parts.http_client()
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        self.parts.config()
    }

    /// The proxy rule requests through the agent this client built follow (`None` with a caller's agent).
    pub(crate) fn proxies(&self) -> Option<&Arc<ProxyRule>> {
        self.parts.proxies()
    }

    /// A random number for jitter, from the client's one random source.
    pub(crate) fn jitter(&self) -> u64 {
        self.parts.jitter()
    }
}

/// One signature from a blocking signer outside the process, within the job's timeout (`None` past it).
/// The signer runs on a helper thread of its own so that the timeout holds however it blocks; a call that
/// runs over is left to finish there and its answer is dropped.
fn sign(job: SignatureJob) -> Option<Result<Vec<u8>, SignFailure>> {
    let timeout = job.timeout();
    let (answer, answered) = mpsc::sync_channel(1);
    let helper = thread::Builder::new().name("td-oauth-signer".into()).spawn(move || {
        // The receiver is gone once the wait timed out; the answer is then dropped.
        let _ = answer.send(job.sign_blocking());
    });
    if let Err(err) = helper {
        return Some(Err(SignFailure::retryable(format!("could not start a thread for the signer: {err}"))));
    }
    match answered.recv_timeout(timeout) {
        Ok(answer) => Some(answer),
        Err(mpsc::RecvTimeoutError::Timeout) => None,
        Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(SignFailure::panicked())),
    }
}

/// What td-oauth-core's [`Config`] needs of this transport.
impl Transport for Client {
    type HttpClient = ureq::Agent;
    type SharedCache = dyn SharedCache;
    /// ureq 3 trusts one root store: the platform's, Mozilla's, or a given list, never a merge.
    const ADDS_ROOTS_TO_SYSTEM: bool = false;
    /// Blocking signers only: a client with an async one is refused when it is built.
    const DRIVES_ASYNC_SIGNERS: bool = false;

    /// The rule is applied to each request the client sends; the agent itself sends straight.
    fn build_http_client(config: &Config, _proxies: &Arc<ProxyRule>) -> Result<ureq::Agent, Error> {
        Ok(config::agent(config))
    }
}
