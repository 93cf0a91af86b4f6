//! The [`Driver`] trait a transport's tests implement, and how scenarios are run: one poll for a blocking
//! driver ([`poll_ready`]), a few at a time on threads for a table ([`on_threads`]).

use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::{Method, Request, Response};
use serde_json::Value;
use td_oauth_api::{ApiError, ApiGateway, Paginator, UserId, UserInfo};
use td_oauth_core::clock::ClockOffset;
use td_oauth_core::transport::{Config, Transport};
use td_oauth_core::{Endpoints, Error, Grant, Scopes, TokenClient, TokenResponse};

/// One transport, as the scenarios drive it: its client, token provider and API client built from the
/// core's types, and each call the scenarios make.
///
/// An async transport returns its futures and runs them on a runtime in [`block_on`](Self::block_on); a
/// blocking one does the work when called, returns a ready future ([`std::future::ready`]), and runs a
/// scenario with [`poll_ready`]. Scenarios therefore make their calls one after another, awaiting each.
pub trait Driver: Sized + Send + Sync + 'static {
    /// The transport's client (`td_oauth_reqwest::Client`, `td_oauth_ureq::Client`), whose settings are
    /// `Config<Self::Client>`.
    type Client: Transport;
    /// The transport's token provider.
    type Provider: Clone + Debug + Send + Sync + 'static;
    /// The transport's Talkdesk API client.
    type Api;

    /// Whether calls block on the caller's thread (and cannot be cancelled half-way).
    const BLOCKING: bool;
    /// Whether a caller-supplied HTTP client that follows redirects is stopped before it follows one (ureq
    /// turns redirects off per request), or only its redirected answer refused (reqwest has no such
    /// switch).
    const STOPS_FOLLOWING_CLIENTS: bool;

    /// Runs a scenario to its end on this thread.
    fn block_on<F: Future>(future: F) -> F::Output;

    /// Waits this long, in real time (without holding up the transport's own work).
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;

    /// The transport's client around `tokens` (`Client::from_token_client`).
    fn client(tokens: TokenClient, config: Config<Self::Client>) -> Result<Self::Client, Error>;

    /// `config` with a caller-supplied HTTP client that follows redirects (and trusts what `config` trusts).
    fn following_redirects(config: Config<Self::Client>) -> Config<Self::Client>;

    /// A one-shot client-credentials token.
    fn client_credentials(client: &Self::Client, scopes: Scopes) -> impl Future<Output = Result<TokenResponse, Error>>;

    /// A token provider of `grant`.
    fn provider(client: &Self::Client, grant: Grant) -> Self::Provider;

    /// The provider's token.
    fn token(provider: &Self::Provider) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send;

    /// The provider's token through `with_token`, which lends it: here, its access token's text.
    fn with_token(provider: &Self::Provider) -> impl Future<Output = Result<String, Error>>;

    /// Starts asking for a token at once, on a task or thread of its own; the future yields the answer, or
    /// `None` if the call panicked.
    fn spawn_token(
        provider: &Self::Provider,
    ) -> impl Future<Output = Option<Result<Arc<TokenResponse>, Error>>> + Send + 'static;

    /// Asks for a token and gives up after `after` (the call's future dropped); `None` for a blocking
    /// transport.
    fn cancel_after(provider: &Self::Provider, after: Duration) -> Option<impl Future<Output = ()> + Send>;

    /// Drops the cached token.
    fn invalidate(provider: &Self::Provider);

    /// The token endpoint's clock offset as `provider` measured it.
    fn clock_offset(provider: &Self::Provider) -> Option<ClockOffset>;

    /// The token endpoint's clock offset as `client`'s `TokenClient` measured it.
    fn client_clock_offset(client: &Self::Client) -> Option<ClockOffset>;

    /// Tells the provider the API refused `token`; whether it was dropped.
    fn token_rejected(provider: &Self::Provider, token: &Arc<TokenResponse>) -> bool;

    /// An API client on `provider`'s tokens.
    fn api(provider: Self::Provider, gateway: ApiGateway) -> Self::Api;

    /// The user behind the token.
    fn userinfo(api: &Self::Api) -> impl Future<Output = Result<UserInfo, ApiError>>;

    /// Every item of `paginator`'s list, and the error that ended it early; checks that nothing follows
    /// the error.
    fn items(api: &Self::Api, paginator: Paginator) -> impl Future<Output = (Vec<Value>, Option<ApiError>)>;

    /// `GET path` read as JSON.
    fn get_json(api: &Self::Api, path: &str) -> impl Future<Output = Result<Value, ApiError>>;

    /// Sends a request built for the gateway (the Apps API's lifecycle calls).
    fn send(api: &Self::Api, request: Request<Vec<u8>>) -> impl Future<Output = Result<Response<Vec<u8>>, ApiError>>;

    /// `method path` with `body`.
    fn call(
        api: &Self::Api,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, ApiError>>;

    /// Ends `user`'s session.
    fn end_user_session(
        api: &Self::Api,
        endpoints: &Endpoints,
        user: &UserId,
    ) -> impl Future<Output = Result<(), ApiError>>;
}

/// [`Driver::block_on`] for a blocking driver, whose futures are ready when made: one poll runs `future`
/// to its end. A future that is not ready is a driver that does not block, and a failed test.
pub fn poll_ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a blocking driver's future was not ready: its calls must finish before they return"),
    }
}

/// Runs `run` on each item, `threads` at a time, and returns the results in the items' order.
pub(crate) fn on_threads<T: Sync, R: Send>(items: &[T], threads: usize, run: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while let Some((index, item)) = next_item(items, &next) {
                    let result = run(item);
                    results.lock().unwrap().push((index, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

fn next_item<'a, T>(items: &'a [T], next: &AtomicUsize) -> Option<(usize, &'a T)> {
    let index = next.fetch_add(1, Ordering::Relaxed);
    items.get(index).map(|item| (index, item))
}
