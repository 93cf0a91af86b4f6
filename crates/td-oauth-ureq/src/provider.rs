//! The shared token: td-oauth-core's provider machine driven with blocking primitives. This file holds only
//! what is blocking about it (the state and the lock-free snapshot are the core's `ProviderCell`): a
//! `Condvar` over the last round's outcome for waiters, a thread for refreshes ahead of expiry, and
//! the fetch (through the config's shared cache, if any).

use std::future::{Future, ready};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use td_oauth_core::clock::SharedClock;
use td_oauth_core::provider::{self, Driver, FetchTicket, Outcome, ProviderCell, Round};
use td_oauth_core::transport::run_ready;
use td_oauth_core::{Grant, TokenResponse};

use crate::{BearerClient, Client, Error};

/// A token shared by every caller: fetched once, cached, refreshed ahead of expiry in the background.
///
/// `Clone` (an `Arc`), `Send` and `Sync`: make one per set of credentials and grant, and hand clones to every
/// thread.
///
/// - A warm [`token`](Self::token) reads an atomic snapshot: no lock, no allocation.
///   [`with_token`](Self::with_token) lends the token without even touching its reference count.
/// - A cold or expired cache sends exactly one request however many callers ask; the others block until
///   it ends and all receive its token, or its error. Callers that come within the jittered backoff after a
///   failed fetch get its error at once instead of each sending a request to a failing endpoint.
/// - Once the token is due for refresh (by default with 20 % of its lifetime left), one background thread
///   fetches a new one while every caller keeps getting the still-valid token. A failed refresh keeps
///   serving it and backs off (see [`CachePolicy`](td_oauth_core::cache::CachePolicy)).
/// - After the API answers 401, call [`token_rejected`](Self::token_rejected) with the refused token (or
///   [`invalidate`](Self::invalidate)) and ask again.
/// - With a refresh-token grant (or an authorization code), a refresh token that comes with a token is used
///   for the next fetch, so servers that rotate refresh tokens work.
///
/// The rules are td-oauth-core's [`provider`](td_oauth_core::provider) machine, the same that
/// td-oauth-reqwest's provider drives.
#[derive(Clone)]
pub struct TokenProvider {
    handle: Handle,
}

/// The provider as the core's machine sees it.
#[derive(Clone)]
struct Handle(Arc<Shared>);

struct Shared {
    client: Client,
    /// The machine's state, and the snapshot warm hits read without its lock.
    cell: ProviderCell,
    /// The last round to end and its outcome; waiters block on `ended` until their round is over.
    published: Mutex<(Round, Outcome)>,
    ended: Condvar,
}

td_oauth_core::provider_face!(calls:);

impl TokenProvider {
    /// A provider of tokens for `grant`, fetched with `client`, cached as its config's cache policy says.
    /// Nothing is fetched until the first [`token`](Self::token).
    pub fn new(client: Client, grant: Grant) -> Self {
        let cell = ProviderCell::for_grant(grant, client.token_client(), client.config().cache_policy().clone());
        TokenProvider {
            handle: Handle(Arc::new(Shared {
                client,
                cell,
                published: Mutex::new((Round::default(), None)),
                ended: Condvar::new(),
            })),
        }
    }

    /// A usable token: the cached one, or a new one if none is usable (blocking until it arrives).
    pub fn token(&self) -> Result<Arc<TokenResponse>, Error> {
        match self.fresh_token() {
            Some(token) => Ok(token),
            None => self.token_slow(),
        }
    }

    /// Calls `f` with a usable token and returns what it returns. Warm, the token is lent straight from the
    /// snapshot: no lock, no allocation, not even a reference-count update, so many threads scale.
    pub fn with_token<R>(&self, f: impl FnOnce(&TokenResponse) -> R) -> Result<R, Error> {
        match provider::lend(&self.handle, f) {
            Ok(lent) => Ok(lent),
            Err(f) => self.token_slow().map(|token| f(&token)),
        }
    }

    /// Fetches a new token now (or waits for the fetch already in flight) and returns it.
    pub fn force_refresh(&self) -> Result<Arc<TokenResponse>, Error> {
        self.invalidate();
        self.token_slow()
    }

    /// A [`BearerClient`] that sends API requests through this provider's agent with its tokens.
    pub fn bearer_client(&self) -> BearerClient {
        BearerClient::of_provider(self.clone())
    }

    fn token_slow(&self) -> Result<Arc<TokenResponse>, Error> {
        run_ready(provider::token(&self.handle))
    }
}

impl Driver for Handle {
    fn cell(&self) -> &ProviderCell {
        &self.0.cell
    }

    fn wake(&self, round: Round, outcome: Option<&Result<Arc<TokenResponse>, Error>>) {
        provider::record_outcome(&mut self.0.published.lock().unwrap_or_else(PoisonError::into_inner), round, outcome);
        self.0.ended.notify_all();
    }

    fn clock(&self) -> &SharedClock {
        self.0.client.config().clock()
    }

    fn random(&self) -> u64 {
        self.0.client.jitter()
    }

    fn fetch(&self, ticket: FetchTicket<Handle>) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        ready(self.run(ticket))
    }

    /// Blocks until round `round` (or a later one) has ended.
    fn wait(&self, round: Round) -> impl Future<Output = Outcome> + Send {
        let mut published = self.0.published.lock().unwrap_or_else(PoisonError::into_inner);
        while published.0 < round {
            published = self.0.ended.wait(published).unwrap_or_else(PoisonError::into_inner);
        }
        ready(published.1.clone())
    }

    /// Refreshes ahead of expiry on a thread of its own, so no caller waits for it.
    fn refresh_in_background(&self, ticket: FetchTicket<Handle>) {
        let handle = self.clone();
        tracing::debug!(grant_type = ticket.grant().grant_type(), "token due; refreshing in the background");
        let spawned = std::thread::Builder::new().name("td-oauth-refresh".into()).spawn(move || {
            // The outcome reaches the cache through the ticket; nobody waits for this thread.
            let _ = handle.run(ticket);
        });
        if let Err(err) = spawned {
            // The closure, and the ticket in it, were dropped: the refresh counts as abandoned and backs off.
            tracing::warn!(error = %err, "could not start the background refresh thread");
        }
    }
}
