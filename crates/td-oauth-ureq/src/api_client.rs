//! Calling the Talkdesk API, blocking: td-oauth-core builds each request and reads each answer
//! ([`td_oauth_api`]); this sends them through a
//! [`BearerClient`] (the provider's token, one new token and one retry on a 401), with no redirects, the
//! client's timeout and a body cap. Lists come back as an [`Iterator`] over their items.

use http::{Method, Request, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;
use td_oauth_api::{self as api, ApiError, ApiLimits, PageStep, Paginator, UserId, UserInfo};
use td_oauth_core::Endpoints;
use td_oauth_core::text::display_uri;

use crate::{BearerClient, TokenProvider, send};

td_oauth_api::api_client_face! {
    /// A Talkdesk API client on one gateway, with a [`TokenProvider`]'s tokens.
    ///
    /// ```
    /// # use td_oauth_testkit::{Algorithm, TestServer};
    /// use td_oauth_ureq::{ApiClient, Client, ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey};
    /// use td_oauth_ureq::api::ApiGateway;
    ///
    /// # let server = TestServer::start()?;
    /// # let registered = server.register_client(Algorithm::Es256)?;
    /// # let (client_id, key_id, key) = (&registered.client_id, &registered.key_id, &registered.private_key);
    /// let endpoints = Endpoints::from_token_url(server.token_url())?;
    /// let credentials = Credentials::private_key_jwt(ClientId::new(client_id)?, KeyId::new(key_id)?, PrivateKey::parse(key)?);
    /// let provider = Client::new(&endpoints, credentials)?.provider(Grant::client_credentials("users:read".parse()?));
    /// let api = ApiClient::new(provider, ApiGateway::from_url(server.base_url())?);
    /// for user in api.paginate("/users")? {
    ///     println!("{}", user?["id"]);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
}

impl ApiClient {
    /// Sends a request td-oauth-core built, with the token attached, and returns the answer whatever its
    /// status (redirects are not followed: the answer is the 3xx).
    pub fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, ApiError> {
        send_with(&self.bearer, request, self.limits)
    }

    /// `method` on `path` of the gateway with a JSON `body` (empty for none); the answer whatever its status.
    pub fn call(&self, method: Method, path: &str, body: Vec<u8>) -> Result<Response<Vec<u8>>, ApiError> {
        self.send(self.gateway().request(method, path, body, None)?)
    }

    /// `GET path`, its JSON read as `T`; an error answer is an [`ApiError`].
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let response = self.call(Method::GET, path, Vec::new())?;
        api::read_json(&response)
    }

    /// The token's user (`/users/me`); a client-credentials token is [`ApiError::NoUserContext`](td_oauth_api::ApiError::NoUserContext).
    pub fn userinfo(&self) -> Result<UserInfo, ApiError> {
        let response = self.send(UserInfo::request(self.gateway())?)?;
        UserInfo::from_http(&response)
    }

    /// Every item of the HAL list at `path`, page after page along `_links.next`, fetched as the iteration
    /// needs them. After an error (yielded once) the iteration ends.
    pub fn paginate(&self, path: &str) -> Result<impl Iterator<Item = Result<Value, ApiError>> + '_, ApiError> {
        Ok(self.items(Paginator::new(self.gateway().clone(), path)?))
    }

    /// Every item `paginator` reaches (for its `with_embedded` or `with_max_pages`).
    pub fn items(&self, paginator: Paginator) -> impl Iterator<Item = Result<Value, ApiError>> + '_ {
        Items { client: self, paginator, failed: false }
    }

    /// Ends `user`'s Talkdesk session on `endpoints`' identity host (the token needs scope
    /// `user-session-public:end`).
    pub fn end_user_session(&self, endpoints: &Endpoints, user: &UserId) -> Result<(), ApiError> {
        let response = self.send(api::end_user_session_request(endpoints, user)?)?;
        api::end_user_session_response(&response)
    }
}

/// Sends `request` through `api` within `limits` (each try given the timeout).
fn send_with(api: &BearerClient, request: Request<Vec<u8>>, limits: ApiLimits) -> Result<Response<Vec<u8>>, ApiError> {
    let timeout = limits.timeout();
    let url = display_uri(request.uri());
    let agent = api.http_client();
    let response = api.run(|| {
        let copy = copy_request(&request);
        agent.configure_request(copy).max_redirects(0).timeout_global(Some(timeout)).build()
    })?;
    let too_large = limits.too_large(response.status());
    send::read_capped(response, &url, limits.max_response_bytes(), Some(timeout), too_large)
}

/// `http::Request` is not `Clone`; a 401 retry needs the request again.
fn copy_request(request: &Request<Vec<u8>>) -> Request<Vec<u8>> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// The items of a HAL list, fetched a page at a time as the iteration needs them.
struct Items<'a> {
    client: &'a ApiClient,
    paginator: Paginator,
    failed: bool,
}

impl Iterator for Items<'_> {
    type Item = Result<Value, ApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let step = match self.paginator.next_step() {
                Ok(step) => step,
                Err(err) => return self.fail(err),
            };
            match step {
                PageStep::Item(item) => return Some(Ok(item)),
                PageStep::Done => return None,
                PageStep::Fetch(request) => {
                    let received = self.client.send(*request).and_then(|response| self.paginator.receive(&response));
                    if let Err(err) = received {
                        return self.fail(err);
                    }
                }
            }
        }
    }
}

impl Items<'_> {
    /// Yields `err` once; the iteration ends after it.
    fn fail(&mut self, err: ApiError) -> Option<Result<Value, ApiError>> {
        self.failed = true;
        Some(Err(err))
    }
}
