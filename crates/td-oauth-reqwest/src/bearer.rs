//! Calling the Talkdesk API with a token: `Authorization: Bearer …` on every request, and one new token
//! and one retry when the API answers 401.

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderValue, StatusCode};
use td_oauth_api::SentCredentials;
use td_oauth_core::text::display_url;
use td_oauth_core::transport::{Authorizing, send_authorized};

use crate::source::TokenSource;
use crate::{Error, TokenResponse, send};

/// Sends API requests with a bearer token from a [`TokenSource`].
///
/// On a 401 the source is told the token was refused ([`TokenSource::token_rejected`]), a new token is
/// fetched and the request is sent once more; a second 401 is returned as it is, never looped on.
/// Talkdesk documents a new token as the remedy for a 401 (newly granted scopes, for one, take minutes
/// to reach the API). A request whose body cannot be cloned (a stream) is not retried: its 401 is returned,
/// and the refused token is still dropped, so the next request gets a new one. The rule is td-oauth-core's
/// [`send_authorized`], the same loop the middleware and the tower layer run.
///
/// ```
/// # use td_oauth_testkit::{Algorithm, TestServer};
/// use td_oauth_reqwest::{Client, ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey};
///
/// # let server = TestServer::start()?;
/// # let registered = server.register_client(Algorithm::Es256)?;
/// # let (token_url, me_url) = (server.token_url(), server.me_url());
/// # let (client_id, key_id, key) = (&registered.client_id, &registered.key_id, &registered.private_key);
/// let endpoints = Endpoints::from_token_url(token_url)?;
/// let credentials = Credentials::private_key_jwt(ClientId::new(client_id)?, KeyId::new(key_id)?, PrivateKey::parse(key)?);
/// let provider = Client::new(&endpoints, credentials)?.provider(Grant::client_credentials("users:read".parse()?));
/// let api = provider.bearer_client();
///
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// let response = api.execute(api.http_client().get(&me_url).build()?).await?;
/// assert_eq!(response.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BearerClient {
    http: reqwest::Client,
    source: Arc<dyn TokenSource>,
}

impl fmt::Debug for BearerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerClient").field("http", &self.http).finish_non_exhaustive()
    }
}

impl BearerClient {
    /// Sends through `http` with tokens from `source`.
    pub fn new(http: reqwest::Client, source: Arc<dyn TokenSource>) -> Self {
        BearerClient { http, source }
    }

    /// The HTTP client, to build requests with (`api.http_client().get(url).build()?`).
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// The token source.
    pub fn source(&self) -> &Arc<dyn TokenSource> {
        &self.source
    }

    /// Sends `request` with `Authorization: Bearer <token>` (marked sensitive, so HTTP stacks do not log
    /// it). On a 401, gets a new token and sends a clone of the request once more. Any answer, success or
    /// not, is returned as a response; errors are for getting a token and for transport failures. The answer's
    /// extensions hold the [`SentCredentials`](td_oauth_api::SentCredentials) its request carried,
    /// which td-oauth-api's `ApiError::from_response` replaces in the texts it keeps.
    pub async fn execute(&self, request: reqwest::Request) -> Result<reqwest::Response, Error> {
        let replay = request.try_clone();
        send_authorized(&mut Direct(self), request, replay).await
    }

    async fn send(&self, request: reqwest::Request) -> Result<reqwest::Response, Error> {
        let url = display_url(request.url());
        let timeout = request.timeout().copied();
        self.http.execute(request).await.map_err(|err| send::from_reqwest(err, &url, timeout))
    }
}

/// A [`BearerClient`]'s I/O for the 401 rule: its source's tokens, its HTTP client.
struct Direct<'a>(&'a BearerClient);

impl Authorizing for Direct<'_> {
    type Request = reqwest::Request;
    type Response = reqwest::Response;
    type Error = Error;

    fn token(&mut self) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        self.0.source.token()
    }

    fn token_rejected(&mut self, token: &Arc<TokenResponse>) {
        self.0.source.token_rejected(token);
    }

    async fn send(
        &mut self,
        mut request: reqwest::Request,
        authorization: HeaderValue,
    ) -> Result<reqwest::Response, Error> {
        request.headers_mut().insert(AUTHORIZATION, authorization);
        self.0.send(request).await
    }

    fn status(response: &reqwest::Response) -> StatusCode {
        response.status()
    }

    fn keep_sent(response: &mut reqwest::Response, sent: &Arc<TokenResponse>) {
        response.extensions_mut().insert(SentCredentials::from_token(Arc::clone(sent)));
    }

    fn error(err: td_oauth_core::Error) -> Error {
        err
    }
}
