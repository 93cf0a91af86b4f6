//! A [`reqwest_middleware::Middleware`] that puts a token on every request of a `reqwest-middleware` chain
//! and follows td-oauth-core's 401 rule ([`send_authorized`]): one new token and one retry, only for a
//! request whose body can be cloned, never with the refused token again.

use std::fmt;
use std::sync::Arc;

use http::Extensions;
use http::header::AUTHORIZATION;
use http::{HeaderValue, StatusCode};
use reqwest_middleware::{Middleware, Next};
use td_oauth_api::SentCredentials;
use td_oauth_core::transport::{Authorizing, send_authorized};

use crate::source::AuthSource;
use crate::{TokenProvider, TokenResponse};

/// Attaches `Authorization` from a token source to each request (the header's form is td-oauth-core's
/// [`authorization`](td_oauth_core::transport::authorization)).
///
/// Generic over the source: over a [`TokenProvider`] (the default) a warm hit is a direct call, without the
/// boxed future of a `dyn` [`TokenSource`](crate::source::TokenSource); your own source goes in as
/// `Arc<dyn TokenSource>`. A failure to get a token is a `reqwest_middleware::Error::Middleware` holding
/// the [`Error`](crate::Error) (downcast it to act on it).
///
/// Put it after middleware that retries transport failures (so each retry gets a current token) and
/// before anything that logs headers only if that logger honours sensitive headers: the value is marked
/// sensitive.
///
/// ```
/// # use td_oauth_testkit::{Algorithm, TestServer};
/// use td_oauth_reqwest::{Client, ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey};
/// use td_oauth_reqwest::middleware::BearerMiddleware;
/// # let server = TestServer::start()?;
/// # let registered = server.register_client(Algorithm::Es256)?;
/// # let (token_url, me_url) = (server.token_url(), server.me_url());
/// # let (client_id, key_id, key) = (&registered.client_id, &registered.key_id, &registered.private_key);
///
/// let credentials = Credentials::private_key_jwt(ClientId::new(client_id)?, KeyId::new(key_id)?, PrivateKey::parse(key)?);
/// let provider = Client::new(&Endpoints::from_token_url(token_url)?, credentials)?
///     .provider(Grant::client_credentials("users:read".parse()?));
/// // The token client's own reqwest client (rustls on ring, no redirects) serves API calls too.
/// let api = reqwest_middleware::ClientBuilder::new(provider.client().http_client().clone())
///     .with(BearerMiddleware::new(provider))
///     .build();
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// assert_eq!(api.get(&me_url).send().await?.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BearerMiddleware<S: AuthSource = TokenProvider> {
    source: S,
}

impl<S: AuthSource> fmt::Debug for BearerMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerMiddleware").finish_non_exhaustive()
    }
}

impl<S: AuthSource> BearerMiddleware<S> {
    /// Middleware attaching tokens from `source`.
    pub fn new(source: S) -> Self {
        BearerMiddleware { source }
    }

    /// The token source.
    pub fn source(&self) -> &S {
        &self.source
    }
}

#[async_trait::async_trait]
impl<S: AuthSource> Middleware for BearerMiddleware<S> {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let replay = request.try_clone();
        send_authorized(&mut Chain { source: &self.source, extensions, next }, request, replay).await
    }
}

/// The middleware's I/O for the 401 rule: its source's tokens, the rest of the chain.
struct Chain<'a, S> {
    source: &'a S,
    extensions: &'a mut Extensions,
    next: Next<'a>,
}

impl<S: AuthSource> Authorizing for Chain<'_, S> {
    type Request = reqwest::Request;
    type Response = reqwest::Response;
    type Error = reqwest_middleware::Error;

    async fn token(&mut self) -> Result<Arc<TokenResponse>, reqwest_middleware::Error> {
        self.source.token().await.map_err(reqwest_middleware::Error::middleware)
    }

    fn token_rejected(&mut self, token: &Arc<TokenResponse>) {
        self.source.token_rejected(token);
    }

    async fn send(
        &mut self,
        mut request: reqwest::Request,
        authorization: HeaderValue,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        request.headers_mut().insert(AUTHORIZATION, authorization);
        self.next.clone().run(request, self.extensions).await
    }

    fn status(response: &reqwest::Response) -> StatusCode {
        response.status()
    }

    fn keep_sent(response: &mut reqwest::Response, sent: &Arc<TokenResponse>) {
        response.extensions_mut().insert(SentCredentials::from_token(Arc::clone(sent)));
    }

    fn error(err: td_oauth_core::Error) -> reqwest_middleware::Error {
        reqwest_middleware::Error::middleware(err)
    }
}
