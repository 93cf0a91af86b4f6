//! The shared token provider: td-oauth-core's provider machine driven with tokio. This file holds only what
//! is async about it (the state and the lock-free snapshot are the core's `ProviderCell`, whose lock is never
//! held across an `.await`): a `watch` channel over the last round's outcome for waiters, a task for
//! refreshes ahead of expiry, and the fetch (through the config's shared cache, if any).

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use td_oauth_core::clock::SharedClock;
use td_oauth_core::provider::{self, Driver, FetchTicket, Outcome, ProviderCell, Round};
use td_oauth_core::{Grant, TokenResponse};
use tokio::sync::watch;

use crate::source::TokenSource;
use crate::{BearerClient, Client, Error};

/// A token shared by every caller, fetched once however many ask, refreshed ahead of expiry in the
/// background, and fetched again after [`invalidate`](Self::invalidate).
///
/// `Clone + Send + Sync`; clones share one cache. Make one per client and grant (usually client
/// credentials with the scopes the service needs) and hand clones to every task.
///
/// - Warm: [`token`](Self::token) returns the cached token without taking a lock;
///   [`with_token`](Self::with_token) lends it without even touching its reference count.
/// - Cold or expired: one caller fetches; the others wait for that fetch and get its token, or its error.
///   Callers that come within the jittered backoff after a failed fetch get its error at once instead of each
///   sending a request to a failing endpoint.
/// - Due for refresh (20 % of the lifetime left, by default): callers keep getting the valid token at once
///   while one background task refreshes it; if that fails, the valid token is still served and the next
///   refresh backs off.
/// - With a refresh-token grant (or an authorization code), a refresh token that comes with a token is used
///   for the next fetch, so servers that rotate refresh tokens work.
///
/// The rules are td-oauth-core's [`provider`](td_oauth_core::provider) machine, the same that
/// td-oauth-ureq's provider drives.
#[derive(Clone)]
pub struct TokenProvider {
    handle: Handle,
}

/// The provider as the core's machine sees it.
#[derive(Clone)]
struct Handle(Arc<Inner>);

struct Inner {
    client: Client,
    /// The machine's state, and the snapshot warm hits read without its lock.
    cell: ProviderCell,
    /// The last round to end and its outcome; waiters watch it until their round is over.
    published: watch::Sender<(Round, Outcome)>,
}

td_oauth_core::provider_face!(calls: async await);

impl TokenProvider {
    /// A provider for `grant` over `client`, with the client's [`CachePolicy`](td_oauth_core::cache::CachePolicy).
    pub fn new(client: Client, grant: Grant) -> Self {
        let cell = ProviderCell::for_grant(grant, client.token_client(), client.config().cache_policy().clone());
        let (published, _) = watch::channel((Round::default(), None));
        let inner = Inner { client, cell, published };
        TokenProvider { handle: Handle(Arc::new(inner)) }
    }

    /// A token usable now: the cached one, or one fetched for this call and everyone waiting with it.
    pub async fn token(&self) -> Result<Arc<TokenResponse>, Error> {
        match self.fresh_token() {
            Some(token) => Ok(token),
            None => self.token_slow().await,
        }
    }

    /// Calls `f` with a usable token and returns what it returns. Warm, the token is lent straight from the
    /// snapshot: no lock, no allocation, not even a reference-count update, so many threads scale.
    pub async fn with_token<R>(&self, f: impl FnOnce(&TokenResponse) -> R) -> Result<R, Error> {
        let f = match provider::lend(&self.handle, f) {
            Ok(lent) => return Ok(lent),
            Err(f) => f,
        };
        let token = self.token_slow().await?;
        Ok(f(&token))
    }

    /// The cached token if it can be handed out without waiting, else `None` (then call
    /// [`token`](Self::token)). Synchronous, for code that cannot `.await`. Starts a background refresh
    /// when one is due, if called inside a tokio runtime.
    pub fn try_token_now(&self) -> Option<Arc<TokenResponse>> {
        if let Some(token) = self.fresh_token() {
            return Some(token);
        }
        let (token, refresh) = provider::poll_ready(&self.handle)?;
        if let Some(ticket) = refresh {
            self.handle.refresh_in_background(ticket);
        }
        Some(token)
    }

    /// Forgets the cached token and fetches a new one (or joins the fetch in flight).
    pub async fn force_refresh(&self) -> Result<Arc<TokenResponse>, Error> {
        self.invalidate();
        self.token_slow().await
    }

    /// A [`BearerClient`] that sends API requests through this provider's HTTP client with its tokens.
    pub fn bearer_client(&self) -> BearerClient {
        BearerClient::new(self.handle.0.client.http_client().clone(), Arc::new(self.clone()))
    }

    async fn token_slow(&self) -> Result<Arc<TokenResponse>, Error> {
        provider::token(&self.handle).await
    }
}

impl Driver for Handle {
    fn cell(&self) -> &ProviderCell {
        &self.0.cell
    }

    fn wake(&self, round: Round, outcome: Option<&Result<Arc<TokenResponse>, Error>>) {
        self.0.published.send_if_modified(|published| provider::record_outcome(published, round, outcome));
    }

    fn clock(&self) -> &SharedClock {
        self.0.client.config().clock()
    }

    fn random(&self) -> u64 {
        self.0.client.jitter()
    }

    fn fetch(&self, ticket: FetchTicket<Handle>) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        self.run(ticket)
    }

    fn wait(&self, round: Round) -> impl Future<Output = Outcome> + Send {
        let mut published = self.0.published.subscribe();
        async move {
            // The sender lives as long as the provider, which this caller holds: the channel cannot close.
            let ended = published.wait_for(|(ended, _)| *ended >= round).await.ok()?;
            ended.1.clone()
        }
    }

    /// Runs the refresh the machine just asked for on a task of its own, so that nobody waits.
    fn refresh_in_background(&self, ticket: FetchTicket<Handle>) {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                tracing::debug!(
                    token_url = self.0.client.token_client().token_url().as_str(),
                    "refreshing the token ahead of expiry"
                );
                let handle = self.clone();
                // The outcome reaches the cache and any waiters through the ticket.
                runtime.spawn(async move { handle.run(ticket).await.map(drop) });
            }
            // Outside a runtime (a synchronous caller) nothing can run the refresh: give the election back.
            Err(_) => ticket.release(),
        }
    }
}

#[async_trait]
impl TokenSource for TokenProvider {
    async fn token(&self) -> Result<Arc<TokenResponse>, Error> {
        TokenProvider::token(self).await
    }

    fn invalidate(&self) {
        TokenProvider::invalidate(self);
    }

    fn token_rejected(&self, rejected: &Arc<TokenResponse>) {
        if TokenProvider::token_rejected(self, rejected) {
            tracing::debug!("the API refused the token; it is dropped");
        }
    }
}
