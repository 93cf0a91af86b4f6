//! The one-shot client: one token request (with retries) per call, for any grant.

use std::fmt;
use std::sync::Arc;

use td_oauth_core::{
    AuthorizationCode, Credentials, Endpoints, Grant, PkceVerifier, RefreshToken, Scopes, TokenClient, TokenResponse,
};

use crate::send::fetch_token;
use crate::{Config, Error, TokenProvider};

/// Sends token requests for one client to one token endpoint. Every call is a request (plus retries);
/// for a token shared by many callers and refreshed ahead of expiry, make a [`TokenProvider`] with
/// [`provider`](Self::provider).
///
/// Cheap to clone: clones share the HTTP client (and its connection pool) and the signer.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    token_client: TokenClient,
    config: Config,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("token_client", &self.inner.token_client)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `endpoints`' token URL with the default [`Config`].
    pub fn new(endpoints: &Endpoints, credentials: Credentials) -> Result<Self, Error> {
        Self::with_config(endpoints, credentials, Config::default())
    }

    /// A client for `endpoints`' token URL with `config`.
    pub fn with_config(endpoints: &Endpoints, credentials: Credentials, config: Config) -> Result<Self, Error> {
        Self::from_token_client(TokenClient::new(endpoints, credentials), config)
    }

    /// A client around a core [`TokenClient`], e.g. one with a custom assertion audience or lifetime.
    pub fn from_token_client(token_client: TokenClient, config: Config) -> Result<Self, Error> {
        let http = config.build_http_client()?;
        Ok(Client { inner: Arc::new(Inner { http, token_client, config }) })
    }

    /// Requests a token for `grant`, retrying transport failures, timeouts, 5xx and 429 per the
    /// [`RetryPolicy`](td_oauth_core::RetryPolicy); other errors (such as `invalid_client`) return at once.
    pub async fn fetch(&self, grant: &Grant) -> Result<TokenResponse, Error> {
        fetch_token(&self.inner.http, &self.inner.token_client, &self.inner.config, grant).await
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

    /// The refresh-token grant. Talkdesk may rotate refresh tokens: keep the new one from the response.
    pub async fn refresh(&self, refresh_token: RefreshToken, scopes: Scopes) -> Result<TokenResponse, Error> {
        self.fetch(&Grant::refresh_token(refresh_token, scopes)).await
    }

    /// A shared, refreshing token source for `grant` (usually client credentials) over this client.
    pub fn provider(&self, grant: Grant) -> TokenProvider {
        TokenProvider::new(self.clone(), grant)
    }

    /// The HTTP client token requests go through (also fine for API requests).
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The core request builder.
    pub fn token_client(&self) -> &TokenClient {
        &self.inner.token_client
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}
