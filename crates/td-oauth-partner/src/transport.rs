//! What the token manager needs of a transport, and its two implementations: td-oauth-reqwest's `Client`
//! (feature `reqwest`) and td-oauth-ureq's (feature `ureq`). The manager's rules are written once, in
//! [`Manager`](crate::manager::Manager); a transport adds only how a client is made and how a token is
//! awaited.

use std::future::Future;
use std::sync::Arc;

use td_oauth_api::{ApiError, ApiGateway};
use td_oauth_core::transport::{Config, Transport};
use td_oauth_core::{Scopes, TokenResponse};

use crate::InstallationCredentials;

/// A transport the [`Manager`](crate::manager::Manager) can drive: implemented here for td-oauth-reqwest's
/// and td-oauth-ureq's `Client`.
pub trait ManagerTransport: Transport {
    /// The transport's token provider.
    type Provider: Clone + Send + Sync + 'static;

    /// A client for `credentials`, sending as `config` says.
    fn client(credentials: &InstallationCredentials, config: Config<Self>) -> Result<Self, td_oauth_core::Error>;

    /// A client-credentials provider of `scopes` over this client.
    fn provider(self, scopes: Scopes) -> Self::Provider;

    /// `provider`'s cached token when it is fresh now (no refresh due), read from its snapshot alone: no
    /// lock, no waiting. The manager asks this under its own lock, so that a warm hit clones no provider.
    fn fresh_token(provider: &Self::Provider) -> Option<Arc<TokenResponse>>;

    /// A token from `provider` (awaited by an async transport; ready at once from a blocking one).
    fn token(
        provider: &Self::Provider,
    ) -> impl Future<Output = Result<Arc<TokenResponse>, td_oauth_core::Error>> + Send;

    /// Sends an Apps API request on `gateway` with `provider`'s token (one new token and one retry on a 401),
    /// the answer's body read up to the API cap.
    fn send_api(
        provider: &Self::Provider,
        gateway: &ApiGateway,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, ApiError>> + Send;
}

#[cfg(feature = "reqwest")]
impl ManagerTransport for td_oauth_reqwest::Client {
    type Provider = td_oauth_reqwest::TokenProvider;

    fn client(credentials: &InstallationCredentials, config: Config<Self>) -> Result<Self, td_oauth_core::Error> {
        td_oauth_reqwest::Client::with_config(credentials.endpoints(), credentials.credentials(), config)
    }

    fn provider(self, scopes: Scopes) -> Self::Provider {
        td_oauth_reqwest::TokenProvider::client_credentials(self, scopes)
    }

    fn fresh_token(provider: &Self::Provider) -> Option<Arc<TokenResponse>> {
        provider.fresh_token()
    }

    async fn token(provider: &Self::Provider) -> Result<Arc<TokenResponse>, td_oauth_core::Error> {
        provider.token().await
    }

    async fn send_api(
        provider: &Self::Provider,
        gateway: &ApiGateway,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ApiError> {
        td_oauth_reqwest::ApiClient::new(provider.clone(), gateway.clone()).send(request).await
    }
}

#[cfg(feature = "ureq")]
impl ManagerTransport for td_oauth_ureq::Client {
    type Provider = td_oauth_ureq::TokenProvider;

    fn client(credentials: &InstallationCredentials, config: Config<Self>) -> Result<Self, td_oauth_core::Error> {
        td_oauth_ureq::Client::with_config(credentials.endpoints(), credentials.credentials(), config)
    }

    fn provider(self, scopes: Scopes) -> Self::Provider {
        td_oauth_ureq::TokenProvider::client_credentials(self, scopes)
    }

    fn fresh_token(provider: &Self::Provider) -> Option<Arc<TokenResponse>> {
        provider.fresh_token()
    }

    async fn token(provider: &Self::Provider) -> Result<Arc<TokenResponse>, td_oauth_core::Error> {
        provider.token()
    }

    async fn send_api(
        provider: &Self::Provider,
        gateway: &ApiGateway,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, ApiError> {
        td_oauth_ureq::ApiClient::new(provider.clone(), gateway.clone()).send(request)
    }
}
