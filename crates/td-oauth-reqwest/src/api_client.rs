//! Calling the Talkdesk API, async: td-oauth-core builds each request and reads each answer
//! ([`td_oauth_api`]); this sends them through a
//! [`BearerClient`] (the source's token, one new token and one retry on a 401), with the client's timeout
//! and a body cap. Lists come back as a [`Stream`] of their items.

use std::sync::Arc;

use futures_util::Stream;
use http::{Method, Request, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use td_oauth_api::{self as api, ApiError, ApiLimits, PageStep, Paginator, UserId, UserInfo};
use td_oauth_core::Endpoints;
use td_oauth_core::text::display_uri;

use crate::source::TokenSource;
use crate::{BearerClient, TokenProvider, send};

td_oauth_api::api_client_face! {
    /// A Talkdesk API client on one gateway, with a [`TokenSource`]'s tokens.
    ///
    /// ```
    /// # use td_oauth_testkit::{Algorithm, TestServer};
    /// use futures_util::StreamExt as _;
    /// use td_oauth_reqwest::{ApiClient, Client, ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey};
    /// use td_oauth_reqwest::api::ApiGateway;
    ///
    /// # let server = TestServer::start()?;
    /// # let registered = server.register_client(Algorithm::Es256)?;
    /// # let (client_id, key_id, key) = (&registered.client_id, &registered.key_id, &registered.private_key);
    /// let endpoints = Endpoints::from_token_url(server.token_url())?;
    /// let credentials = Credentials::private_key_jwt(ClientId::new(client_id)?, KeyId::new(key_id)?, PrivateKey::parse(key)?);
    /// let provider = Client::new(&endpoints, credentials)?.provider(Grant::client_credentials("users:read".parse()?));
    /// let api = ApiClient::new(provider, ApiGateway::from_url(server.base_url())?);
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// # rt.block_on(async {
    /// let mut users = std::pin::pin!(api.paginate("/users")?);
    /// while let Some(user) = users.next().await {
    ///     println!("{}", user?["id"]);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
}

impl ApiClient {
    /// The token source.
    pub fn source(&self) -> &Arc<dyn TokenSource> {
        self.bearer.source()
    }

    /// Sends a request td-oauth-core built, with the token attached, and returns the answer whatever its
    /// status.
    pub async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, ApiError> {
        send_with(&self.bearer, request, self.limits).await
    }

    /// `method` on `path` of the gateway with a JSON `body` (empty for none); the answer whatever its status.
    pub async fn call(&self, method: Method, path: &str, body: Vec<u8>) -> Result<Response<Vec<u8>>, ApiError> {
        self.send(self.gateway().request(method, path, body, None)?).await
    }

    /// `GET path`, its JSON read as `T`; an error answer is an [`ApiError`].
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let response = self.call(Method::GET, path, Vec::new()).await?;
        api::read_json(&response)
    }

    /// The token's user (`/users/me`); a client-credentials token is [`ApiError::NoUserContext`].
    pub async fn userinfo(&self) -> Result<UserInfo, ApiError> {
        let response = self.send(UserInfo::request(self.gateway())?).await?;
        UserInfo::from_http(&response)
    }

    /// Every item of the HAL list at `path`, page after page along `_links.next`, fetched as the stream is
    /// polled. After an error (yielded once) the stream ends.
    pub fn paginate(&self, path: &str) -> Result<impl Stream<Item = Result<Value, ApiError>> + Send + '_, ApiError> {
        Ok(self.items(Paginator::new(self.gateway().clone(), path)?))
    }

    /// Every item `paginator` reaches (for its `with_embedded` or `with_max_pages`).
    pub fn items(&self, paginator: Paginator) -> impl Stream<Item = Result<Value, ApiError>> + Send + '_ {
        futures_util::stream::unfold(Some(paginator), move |state| async move {
            let mut paginator = state?;
            loop {
                let step = match paginator.next_step() {
                    Ok(step) => step,
                    Err(err) => return Some((Err(err), None)),
                };
                match step {
                    PageStep::Item(item) => return Some((Ok(item), Some(paginator))),
                    PageStep::Done => return None,
                    PageStep::Fetch(request) => {
                        let received = match self.send(*request).await {
                            Ok(response) => paginator.receive(&response),
                            Err(err) => Err(err),
                        };
                        if let Err(err) = received {
                            // The stream ends after its error.
                            return Some((Err(err), None));
                        }
                    }
                }
            }
        })
    }

    /// Ends `user`'s Talkdesk session on `endpoints`' identity host (the token needs scope
    /// `user-session-public:end`).
    pub async fn end_user_session(&self, endpoints: &Endpoints, user: &UserId) -> Result<(), ApiError> {
        let response = self.send(api::end_user_session_request(endpoints, user)?).await?;
        api::end_user_session_response(&response)
    }
}

/// Sends `request` through `bearer` within `limits`.
async fn send_with(
    bearer: &BearerClient,
    request: Request<Vec<u8>>,
    limits: ApiLimits,
) -> Result<Response<Vec<u8>>, ApiError> {
    let timeout = limits.timeout();
    let shown = display_uri(request.uri());
    let mut request = reqwest::Request::try_from(request).map_err(|err| ApiError::Build(err.to_string()))?;
    *request.timeout_mut() = Some(timeout);
    let response = bearer.execute(request).await?;
    let too_large = limits.too_large(response.status());
    send::read_capped(response, &shown, limits.max_response_bytes(), Some(timeout), too_large).await
}
