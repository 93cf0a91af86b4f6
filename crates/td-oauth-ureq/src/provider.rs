//! The shared token: a lock-free snapshot for warm hits, the core's [`TokenCache`] behind a mutex for
//! everything else, a `Condvar` for callers waiting on the one fetch, a thread for refreshes ahead of expiry.
//! A cold fetch goes through the config's [`SharedCache`](crate::SharedCache), if any.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use td_oauth_core::{Decision, Grant, Scopes, TokenCache, TokenResponse};

use crate::{Client, Error};

/// A token shared by every caller: fetched once, cached, refreshed ahead of expiry in the background.
///
/// `Clone` (an `Arc`), `Send` and `Sync`: make one per set of credentials and grant, and hand clones to every
/// thread.
///
/// - A warm [`token`](Self::token) reads an atomic snapshot: no lock, no allocation.
/// - A cold or expired cache sends exactly one request however many callers ask; the others block until
///   it ends and all receive its token, or its error.
/// - Once the token is due for refresh (by default with 20 % of its lifetime left), one background thread
///   fetches a new one while every caller keeps getting the still-valid token. A failed refresh keeps
///   serving it and backs off (see [`CachePolicy`](td_oauth_core::CachePolicy)).
/// - After the API answers 401, call [`invalidate`](Self::invalidate) (or
///   [`invalidate_token`](Self::invalidate_token) with the refused token) and ask again.
///
/// The provider suits grants that can be repeated, normally client credentials. Refresh-token grants whose
/// server rotates refresh tokens cannot be repeated: use [`Client::fetch`] for those.
#[derive(Clone)]
pub struct TokenProvider {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    grant: Grant,
    /// The token and when it falls due, for lock-free warm hits; `None` whenever the cache must decide.
    snapshot: ArcSwapOption<Snapshot>,
    state: Mutex<State>,
    /// Signalled whenever a fetch ends, whatever its outcome.
    done: Condvar,
}

struct Snapshot {
    token: Arc<TokenResponse>,
    refresh_at: Instant,
}

struct State {
    cache: TokenCache<Arc<TokenResponse>>,
    /// How many fetches have ended, so a waiter can tell that the one it waited for is over.
    finished: u64,
    /// The outcome of the last fetch to end; `None` if it was abandoned.
    last: Option<Result<Arc<TokenResponse>, Error>>,
    /// A token dropped by `invalidate` or `invalidate_token`, which the shared cache (if any) must stop
    /// handing out: told before the next fetch, so that fetch cannot get it back.
    discard: Option<Arc<TokenResponse>>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("TokenProvider")
            .field("grant_type", &self.shared.grant.grant_type())
            .field("client", &self.shared.client)
            .field("freshness", &state.cache.freshness(Instant::now()))
            .field("fetching", &state.cache.is_fetching())
            .finish()
    }
}

impl TokenProvider {
    /// A provider of tokens for `grant`, fetched with `client`, cached as its config's cache policy says.
    /// Nothing is fetched until the first [`token`](Self::token).
    pub fn new(client: Client, grant: Grant) -> Self {
        let cache = TokenCache::new(client.config().cache.clone());
        TokenProvider {
            shared: Arc::new(Shared {
                client,
                grant,
                snapshot: ArcSwapOption::empty(),
                state: Mutex::new(State { cache, finished: 0, last: None, discard: None }),
                done: Condvar::new(),
            }),
        }
    }

    /// A provider for the client-credentials grant with `scopes`.
    pub fn client_credentials(client: Client, scopes: Scopes) -> Self {
        TokenProvider::new(client, Grant::client_credentials(scopes))
    }

    /// The client that fetches the tokens.
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// A usable token: the cached one, or a new one if none is usable (blocking until it arrives).
    pub fn token(&self) -> Result<Arc<TokenResponse>, Error> {
        if let Some(snapshot) = &*self.shared.snapshot.load()
            && Instant::now() < snapshot.refresh_at
        {
            return Ok(Arc::clone(&snapshot.token));
        }
        self.token_slow()
    }

    /// Drops the cached token, e.g. after the API answered 401 to it; the next [`token`](Self::token)
    /// fetches a new one.
    pub fn invalidate(&self) {
        let mut state = self.shared.lock();
        state.cache.invalidate();
        if let Some(snapshot) = self.shared.snapshot.swap(None) {
            state.discard = Some(Arc::clone(&snapshot.token));
        }
    }

    /// Drops the cached token only if it is `token`: when many callers saw the same 401, the first one's
    /// invalidation triggers one new fetch and the others do not throw away the new token.
    pub fn invalidate_token(&self, token: &Arc<TokenResponse>) {
        let mut state = self.shared.lock();
        if state.cache.peek(Instant::now()).is_some_and(|current| Arc::ptr_eq(&current, token)) {
            state.cache.invalidate();
            self.shared.snapshot.store(None);
            state.discard = Some(Arc::clone(token));
        }
    }

    /// Fetches a new token now (or waits for the fetch already in flight) and returns it.
    pub fn force_refresh(&self) -> Result<Arc<TokenResponse>, Error> {
        self.invalidate();
        self.token_slow()
    }

    fn token_slow(&self) -> Result<Arc<TokenResponse>, Error> {
        let shared = &self.shared;
        let mut state = shared.lock();
        loop {
            match state.cache.poll(Instant::now()) {
                Decision::Use(token) => return Ok(token),
                Decision::UseAndRefresh(token) => {
                    drop(state);
                    self.spawn_refresh();
                    return Ok(token);
                }
                Decision::Fetch => {
                    drop(state);
                    let guard = FetchGuard { shared: Arc::clone(shared), armed: true };
                    tracing::debug!(grant_type = shared.grant.grant_type(), "no usable token; fetching one");
                    let result = shared.fetch();
                    return guard.complete(result);
                }
                Decision::Wait => {
                    let seen = state.finished;
                    while state.finished == seen {
                        state = shared.done.wait(state).unwrap_or_else(PoisonError::into_inner);
                    }
                    match &state.last {
                        Some(outcome) => return outcome.clone(),
                        // The fetcher died: ask the cache again; this caller may become the fetcher.
                        None => continue,
                    }
                }
            }
        }
    }

    /// Refreshes ahead of expiry on a thread of its own, so no caller waits for it.
    fn spawn_refresh(&self) {
        let guard = FetchGuard { shared: Arc::clone(&self.shared), armed: true };
        tracing::debug!(grant_type = self.shared.grant.grant_type(), "token due; refreshing in the background");
        let spawned = std::thread::Builder::new().name("td-oauth-refresh".into()).spawn(move || {
            let result = guard.shared.fetch();
            // The outcome is recorded in the cache; callers never see this thread's result directly.
            let _ = guard.complete(result);
        });
        if let Err(err) = spawned {
            // The closure, and the guard in it, were dropped: the cache was told the fetch was abandoned.
            tracing::warn!(error = %err, "could not start the background refresh thread");
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The elected fetcher's request: through the shared cache if the config has one (after telling it
    /// of a dropped token), else straight to the token endpoint.
    fn fetch(&self) -> Result<TokenResponse, Error> {
        let discard = self.lock().discard.take();
        match self.client.config().shared() {
            Some(shared) => {
                if let Some(token) = discard {
                    shared.discard(&self.client, &self.grant, &token);
                }
                shared.fetch(&self.client, &self.grant)
            }
            None => self.client.fetch(&self.grant),
        }
    }
}

/// The elected fetcher's duty to report back: [`complete`](Self::complete) with the outcome, or, if the
/// fetch unwinds or its thread never starts, `fetch_abandoned` on drop so another caller can fetch.
struct FetchGuard {
    shared: Arc<Shared>,
    armed: bool,
}

impl FetchGuard {
    fn complete(mut self, result: Result<TokenResponse, Error>) -> Result<Arc<TokenResponse>, Error> {
        self.armed = false;
        let shared = &self.shared;
        let now = Instant::now();
        let mut state = shared.lock();
        let outcome = match result {
            Ok(token) => {
                let expires_in = token.expires_in();
                let received = token.received_at();
                let token = Arc::new(token);
                // The cache refuses a token unusable on arrival while a valid one is cached (a failed
                // refresh, in effect): then the snapshot keeps the valid token.
                if state.cache.fetch_succeeded(Arc::clone(&token), expires_in, received) {
                    let snapshot = state
                        .cache
                        .deadlines()
                        .map(|(refresh_at, _)| Arc::new(Snapshot { token: Arc::clone(&token), refresh_at }));
                    shared.snapshot.store(snapshot);
                } else {
                    tracing::warn!(
                        expires_in = expires_in.as_secs(),
                        "the refreshed token is unusable on arrival; keeping the valid one"
                    );
                }
                Ok(token)
            }
            Err(error) => {
                state.cache.fetch_failed(now, error.retry_after());
                Err(error)
            }
        };
        state.finished = state.finished.wrapping_add(1);
        state.last = Some(outcome.clone());
        drop(state);
        shared.done.notify_all();
        outcome
    }
}

impl Drop for FetchGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self.shared.lock();
        state.cache.fetch_abandoned();
        state.finished = state.finished.wrapping_add(1);
        state.last = None;
        drop(state);
        self.shared.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use td_oauth_core::{ClientId, ClientSecret, Credentials, Endpoints};
    use td_oauth_testkit::{Algorithm, TOKEN_PATH, TestServer};

    use super::*;
    use crate::Config;

    fn provider(server: &TestServer) -> TokenProvider {
        let creds = server.register_client(Algorithm::Es256).unwrap();
        let credentials = Credentials::client_secret(
            ClientId::new(&creds.client_id).unwrap(),
            ClientSecret::new(creds.client_secret),
        )
        .unwrap();
        let endpoints = Endpoints::from_token_url(server.token_url()).unwrap();
        TokenProvider::client_credentials(
            Client::with_config(&endpoints, credentials, Config::new()),
            "".parse().unwrap(),
        )
    }

    /// Elects this thread as the fetcher, as `token_slow` does on `Decision::Fetch`.
    fn elect(provider: &TokenProvider) -> FetchGuard {
        assert!(matches!(provider.shared.lock().cache.poll(Instant::now()), Decision::Fetch));
        FetchGuard { shared: Arc::clone(&provider.shared), armed: true }
    }

    #[test]
    fn a_panicking_fetcher_releases_its_waiters() {
        let server = TestServer::start().unwrap();
        let provider = provider(&server);
        let guard = elect(&provider);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| provider.token());
            // The waiter is blocked on the fetch in flight and sends nothing.
            std::thread::sleep(Duration::from_millis(200));
            assert!(!waiter.is_finished());
            assert_eq!(server.count_path(TOKEN_PATH), 0);
            // The fetcher unwinds: its guard reports the fetch abandoned, and the waiter fetches instead.
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                let _guard = guard;
                panic!("fetcher died");
            }));
            assert!(unwound.is_err());
            assert!(waiter.join().unwrap().is_ok());
        });
        assert_eq!(server.count_path(TOKEN_PATH), 1);
    }

    #[test]
    fn a_refresh_thread_that_cannot_start_leaves_the_cache_usable() {
        let server = TestServer::start().unwrap();
        let provider = provider(&server);
        // Dropping an unused guard is what happens when `thread::spawn` fails: the closure is dropped.
        drop(elect(&provider));
        assert!(!provider.shared.lock().cache.is_fetching());
        provider.token().unwrap();
    }

    #[test]
    fn warm_hits_come_from_the_snapshot() {
        let server = TestServer::start().unwrap();
        let provider = provider(&server);
        let token = provider.token().unwrap();
        let snapshot = provider.shared.snapshot.load_full().unwrap();
        assert!(Arc::ptr_eq(&snapshot.token, &token));
        assert!(snapshot.refresh_at > Instant::now());
        provider.invalidate();
        assert!(provider.shared.snapshot.load().is_none());
    }
}
