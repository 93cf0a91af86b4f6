//! The one-shot client: build the core's request, send it, parse the answer; retry what is worth retrying.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use td_oauth_core::{
    AuthorizationCode, Credentials, Endpoints, Grant, OsRandom, PkceVerifier, RandomSource as _, RefreshToken, Scopes,
    TokenClient, TokenResponse,
};

use crate::send::{self, Limits};
use crate::{Config, Error, TokenProvider};

/// A blocking token client: every grant, both client authentications, retries per the [`RetryPolicy`].
///
/// Cheap to clone (an `Arc`); share one per set of credentials. Each call signs a fresh assertion (new
/// `jti`) for every attempt, so retries are never refused as replays. For a token shared by many callers,
/// cached and refreshed ahead of expiry, make a [`TokenProvider`] with [`provider`](Self::provider).
///
/// The constructors have the same names and arguments as td-oauth-reqwest's, but are infallible here:
/// building a `ureq::Agent` cannot fail, so they return `Client`, not `Result<Client, Error>`.
///
/// [`RetryPolicy`]: td_oauth_core::RetryPolicy
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    tokens: TokenClient,
    agent: ureq::Agent,
    config: Config,
    random: OsRandom,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // TokenClient's Debug shows the client id, key id and URL, never the key or secret.
        f.debug_struct("Client").field("tokens", &self.inner.tokens).field("config", &self.inner.config).finish()
    }
}

impl Client {
    /// A client for `endpoints`' token URL with `credentials` and the default [`Config`].
    pub fn new(endpoints: &Endpoints, credentials: Credentials) -> Self {
        Client::with_config(endpoints, credentials, Config::default())
    }

    /// A client for `endpoints`' token URL with `credentials`, sending as `config` says.
    pub fn with_config(endpoints: &Endpoints, credentials: Credentials, config: Config) -> Self {
        Client::from_token_client(TokenClient::new(endpoints, credentials), config)
    }

    /// A client around a core [`TokenClient`] (e.g. one with a custom assertion audience or lifetime),
    /// sending as `config` says.
    pub fn from_token_client(tokens: TokenClient, config: Config) -> Self {
        let agent = config.build_agent();
        Client { inner: Arc::new(Inner { tokens, agent, config, random: OsRandom::new() }) }
    }

    /// The core client that builds (and signs) the requests.
    pub fn token_client(&self) -> &TokenClient {
        &self.inner.tokens
    }

    /// The agent requests are sent with (the caller's, if [`Config::agent`] supplied one).
    pub fn agent(&self) -> &ureq::Agent {
        &self.inner.agent
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Gets a token for `grant`, retrying connection failures, timeouts, truncated answers, 5xx and 429
    /// (honouring `Retry-After`) with full-jitter backoff within the retry policy's deadline. Other answers,
    /// such as `invalid_client`, are returned at once.
    pub fn fetch(&self, grant: &Grant) -> Result<TokenResponse, Error> {
        let policy = &self.inner.config.retry;
        let url = self.inner.tokens.token_url().as_str();
        let started = Instant::now();
        let mut attempt: u32 = 1;
        loop {
            tracing::debug!(grant_type = grant.grant_type(), token_url = url, attempt, "token request");
            let error = match self.attempt(grant, started) {
                Ok(token) => {
                    tracing::debug!(
                        grant_type = grant.grant_type(),
                        token_url = url,
                        attempt,
                        expires_in = token.expires_in().as_secs(),
                        scope = token.scope().unwrap_or_default(),
                        "token received"
                    );
                    return Ok(token);
                }
                Err(error) => error,
            };
            let failure = error.failure(SystemTime::now());
            match policy.next_delay(attempt, failure, started.elapsed(), self.random_u64()) {
                Some(delay) => {
                    tracing::info!(
                        grant_type = grant.grant_type(),
                        token_url = url,
                        attempt,
                        delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        reason = %error,
                        "token request failed; retrying"
                    );
                    std::thread::sleep(delay);
                    attempt = attempt.saturating_add(1);
                }
                None => {
                    tracing::warn!(
                        grant_type = grant.grant_type(),
                        token_url = url,
                        attempt,
                        error = %error,
                        "token request failed"
                    );
                    return Err(error);
                }
            }
        }
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

    /// The refresh-token grant. Talkdesk may rotate refresh tokens: keep the new one from the response.
    pub fn refresh(&self, refresh_token: RefreshToken, scopes: Scopes) -> Result<TokenResponse, Error> {
        self.fetch(&Grant::refresh_token(refresh_token, scopes))
    }

    /// A shared, refreshing token source for `grant` (usually client credentials) over this client; the
    /// same as [`TokenProvider::new`].
    pub fn provider(&self, grant: Grant) -> TokenProvider {
        TokenProvider::new(self.clone(), grant)
    }

    /// One attempt: a freshly signed request, sent, parsed.
    fn attempt(&self, grant: &Grant, started: Instant) -> Result<TokenResponse, Error> {
        let config = &self.inner.config;
        let request = self.inner.tokens.token_request(grant, SystemTime::now())?;
        // No attempt may outlive the retry deadline; a floor keeps a nearly spent deadline usable.
        let remaining = config.retry.total_deadline().saturating_sub(started.elapsed());
        let limits = Limits {
            connect_timeout: config.connect_timeout,
            timeout: config.timeout.min(remaining).max(Duration::from_millis(10)),
            max_response_bytes: config.max_response_bytes,
        };
        let mut response = send::send(&self.inner.agent, request, limits, &config.user_agent)?;
        let parsed = TokenResponse::from_http(&response, Instant::now());
        // The raw body holds the tokens; the parsed copies are the ones that live on (and are wiped on drop).
        response.body_mut().fill(0);
        Ok(parsed?)
    }

    /// A random number for jitter; the clock's nanoseconds if the OS source fails (jitter needs no secrecy).
    fn random_u64(&self) -> u64 {
        let mut bytes = [0u8; 8];
        match self.inner.random.fill(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => {
                u64::from(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().subsec_nanos())
            }
        }
    }
}
