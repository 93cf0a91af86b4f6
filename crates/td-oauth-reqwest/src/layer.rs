//! A [`tower::Layer`] and its [`tower::Service`] that put a token on every `http::Request`
//! going through a tower stack (a hyper-util client, tonic, axum's outgoing calls) and follow td-oauth-core's
//! 401 rule ([`send_authorized`]): one new token and one retry, only for a request whose body can be replayed
//! ([`ReplayBody`]), never with the refused token again.
//!
//! Transport-agnostic: the inner service may be any HTTP client; only the token source is this crate's.

use std::fmt;
use std::future::{Future, poll_fn};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Response, StatusCode};
use td_oauth_api::SentCredentials;
use td_oauth_core::transport::{Authorizing, send_authorized};
use tower::Service;

use crate::source::AuthSource;
use crate::{Error, TokenProvider, TokenResponse};

/// Wraps a service in a [`BearerService`] with tokens from a source (a [`TokenProvider`] by default, or
/// `Arc<dyn TokenSource>` for your own).
///
/// ```
/// # use td_oauth_testkit::{Algorithm, TestServer};
/// use http_body_util::Empty;
/// use hyper_util::client::legacy::Client as HyperClient;
/// use hyper_util::rt::TokioExecutor;
/// use td_oauth_reqwest::layer::BearerLayer;
/// use td_oauth_reqwest::{Client, ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey};
/// use tower::{Layer, ServiceExt};
/// # let server = TestServer::start()?;
/// # let registered = server.register_client(Algorithm::Es256)?;
/// # let (token_url, me_url) = (server.token_url(), server.me_url());
/// # let (client_id, key_id, key) = (&registered.client_id, &registered.key_id, &registered.private_key);
///
/// let credentials = Credentials::private_key_jwt(ClientId::new(client_id)?, KeyId::new(key_id)?, PrivateKey::parse(key)?);
/// let provider = Client::new(&Endpoints::from_token_url(token_url)?, credentials)?
///     .provider(Grant::client_credentials("users:read".parse()?));
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # rt.block_on(async {
/// let http = HyperClient::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
/// let api = BearerLayer::new(provider).layer(http);
/// let request = http::Request::get(me_url).body(Empty::new())?;
/// assert_eq!(api.oneshot(request).await?.status(), 200);
/// # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
/// # }).map_err(|e| e.to_string())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct BearerLayer<S: AuthSource = TokenProvider> {
    source: S,
}

impl<S: AuthSource> BearerLayer<S> {
    /// A layer attaching tokens from `source`.
    pub fn new(source: S) -> Self {
        BearerLayer { source }
    }
}

impl<S: AuthSource> fmt::Debug for BearerLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerLayer").finish_non_exhaustive()
    }
}

impl<S: AuthSource, Inner> tower::Layer<Inner> for BearerLayer<S> {
    type Service = BearerService<S, Inner>;

    fn layer(&self, inner: Inner) -> Self::Service {
        BearerService { source: self.source.clone(), inner }
    }
}

/// The service [`BearerLayer`] makes: `Authorization` from the source on each request (the header's form is
/// td-oauth-core's [`authorization`](td_oauth_core::transport::authorization)), the 401 rule around the
/// inner service. Its future is boxed (a tower service's future must be nameable); the token source is
/// called directly.
#[derive(Clone)]
pub struct BearerService<S: AuthSource, Inner> {
    source: S,
    inner: Inner,
}

impl<S: AuthSource, Inner: fmt::Debug> fmt::Debug for BearerService<S, Inner> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerService").field("inner", &self.inner).finish_non_exhaustive()
    }
}

/// Why a [`BearerService`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum BearerError<E> {
    /// No token for the request: the fetch failed (see the [`Error`] for what to do).
    #[error("no access token for the request: {0}")]
    Token(#[source] Error),
    /// The inner service failed.
    #[error(transparent)]
    Service(E),
}

/// A request body that can be copied for a second send, as the 401 retry needs. Implemented for the
/// bodies that are whole in memory; a stream returns `None` and its 401 is returned as it is.
pub trait ReplayBody: Sized {
    /// A copy of the body, if it can be sent again.
    fn replay(&self) -> Option<Self>;
}

macro_rules! replay_by_clone {
    ($($body:ty),* $(,)?) => {$(
        impl ReplayBody for $body {
            fn replay(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

replay_by_clone!(String, Vec<u8>, bytes::Bytes, &'static str, &'static [u8]);

impl<D: Clone> ReplayBody for http_body_util::Full<D> {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> ReplayBody for http_body_util::Empty<D> {
    fn replay(&self) -> Option<Self> {
        Some(http_body_util::Empty::new())
    }
}

impl<D, E> ReplayBody for http_body_util::combinators::BoxBody<D, E> {
    fn replay(&self) -> Option<Self> {
        None
    }
}

impl<D, E> ReplayBody for http_body_util::combinators::UnsyncBoxBody<D, E> {
    fn replay(&self) -> Option<Self> {
        None
    }
}

/// A copy of `request` for the retry, extensions included, if its body can be replayed.
fn replay<B: ReplayBody>(request: &Request<B>) -> Option<Request<B>> {
    let body = request.body().replay()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}

impl<S, Inner, B, RB> Service<Request<B>> for BearerService<S, Inner>
where
    S: AuthSource,
    Inner: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    Inner::Future: Send,
    Inner::Error: Send,
    B: ReplayBody + Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = BearerError<Inner::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(BearerError::Service)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The service that was polled ready takes this request; a clone is left for the next caller.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let source = self.source.clone();
        Box::pin(async move {
            let replay = replay(&request);
            send_authorized(&mut Ready { source, inner, polled: true, bodies: PhantomData }, request, replay).await
        })
    }
}

/// The service's I/O for the 401 rule: its source's tokens, the inner service (polled ready for the first
/// request by its caller, and again here before the replay).
struct Ready<S, Inner, B, RB> {
    source: S,
    inner: Inner,
    polled: bool,
    /// The request and answer bodies the inner service takes and gives.
    bodies: PhantomData<fn(B) -> RB>,
}

impl<S, Inner, B, RB> Authorizing for Ready<S, Inner, B, RB>
where
    S: AuthSource,
    Inner: Service<Request<B>, Response = Response<RB>> + Send,
    Inner::Future: Send,
    Inner::Error: Send,
    B: Send,
    RB: Send,
{
    type Request = Request<B>;
    type Response = Response<RB>;
    type Error = BearerError<Inner::Error>;

    async fn token(&mut self) -> Result<Arc<TokenResponse>, Self::Error> {
        self.source.token().await.map_err(BearerError::Token)
    }

    fn token_rejected(&mut self, token: &Arc<TokenResponse>) {
        self.source.token_rejected(token);
    }

    async fn send(&mut self, mut request: Request<B>, authorization: HeaderValue) -> Result<Response<RB>, Self::Error> {
        if !std::mem::replace(&mut self.polled, false) {
            poll_fn(|cx| self.inner.poll_ready(cx)).await.map_err(BearerError::Service)?;
        }
        request.headers_mut().insert(AUTHORIZATION, authorization);
        self.inner.call(request).await.map_err(BearerError::Service)
    }

    fn status(response: &Response<RB>) -> StatusCode {
        response.status()
    }

    fn keep_sent(response: &mut Response<RB>, sent: &Arc<TokenResponse>) {
        response.extensions_mut().insert(SentCredentials::from_token(Arc::clone(sent)));
    }

    fn error(err: td_oauth_core::Error) -> Self::Error {
        BearerError::Token(err)
    }
}
