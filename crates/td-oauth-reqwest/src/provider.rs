//! The shared token provider: the core's [`TokenCache`] policy driven with tokio.
//!
//! Three layers, fastest first:
//! - a snapshot of the current token and when it falls due, in an [`ArcSwapOption`]: a warm hit is one
//!   atomic load, a clock read and a reference-count increment; no lock, no allocation;
//! - the [`TokenCache`] behind a `std` mutex, held only to ask what to do and to record results, never
//!   across an `.await`;
//! - a fetch round: the one elected fetcher publishes its result through a `watch` channel that every
//!   waiter of that round holds, so waiters get the fetcher's token or its error, and do not fetch again.
//!   If the fetcher's future is dropped, a guard reports `fetch_abandoned` and closes the channel, and the
//!   waiters poll again: one of them becomes the fetcher.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use td_oauth_core::{Decision, Freshness, Grant, Scopes, TokenCache, TokenResponse};
use tokio::sync::watch;

use crate::source::TokenSource;
use crate::{BearerClient, Client, Error};

type Outcome = Option<Result<Arc<TokenResponse>, Error>>;

/// A token shared by every caller, fetched once however many ask, refreshed ahead of expiry in the
/// background, and fetched again after [`invalidate`](Self::invalidate).
///
/// `Clone + Send + Sync`; clones share one cache. Make one per client and grant (usually client
/// credentials with the scopes the service needs) and hand clones to every task.
///
/// - Warm: [`token`](Self::token) returns the cached token without taking a lock.
/// - Cold or expired: one caller fetches; the others wait for that fetch and get its token, or its error.
/// - Due for refresh (20 % of the lifetime left, by default): callers keep getting the valid token at once
///   while one background task refreshes it; if that fails, the valid token is still served and the next
///   refresh backs off.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    snapshot: ArcSwapOption<Snapshot>,
    state: Mutex<State>,
}

/// The current token and when it falls due: everything a warm hit needs.
struct Snapshot {
    token: Arc<TokenResponse>,
    refresh_at: Instant,
}

struct State {
    cache: TokenCache<Arc<TokenResponse>>,
    /// The fetch in flight, if any: waiters subscribe here.
    round: Option<watch::Receiver<Outcome>>,
    /// The grant; a rotated refresh token replaces the one it holds.
    grant: Grant,
    /// A token dropped by `invalidate` or a 401, which the shared cache (if any) must stop handing out:
    /// told before the next fetch, so that fetch cannot get it back.
    discard: Option<Arc<TokenResponse>>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("TokenProvider")
            .field("client", &self.inner.client)
            .field("grant_type", &state.grant.grant_type())
            .field("freshness", &state.cache.freshness(Instant::now()))
            .field("fetching", &state.cache.is_fetching())
            .finish()
    }
}

impl TokenProvider {
    /// A provider for `grant` over `client`, with the client's [`CachePolicy`](td_oauth_core::CachePolicy).
    pub fn new(client: Client, grant: Grant) -> Self {
        let cache = TokenCache::new(client.config().cache().clone());
        let state = State { cache, round: None, grant, discard: None };
        TokenProvider { inner: Arc::new(Inner { client, snapshot: ArcSwapOption::empty(), state: Mutex::new(state) }) }
    }

    /// A provider for the client-credentials grant with `scopes`.
    pub fn client_credentials(client: Client, scopes: Scopes) -> Self {
        TokenProvider::new(client, Grant::client_credentials(scopes))
    }

    /// A token usable now: the cached one, or one fetched for this call and everyone waiting with it.
    pub async fn token(&self) -> Result<Arc<TokenResponse>, Error> {
        if let Some(token) = self.inner.fresh(Instant::now()) {
            return Ok(token);
        }
        loop {
            // Decide under the lock; fetch or wait after releasing it.
            let next = {
                let mut state = self.inner.lock();
                match state.cache.poll(Instant::now()) {
                    Decision::Use(token) => return Ok(token),
                    Decision::UseAndRefresh(token) => {
                        self.refresh_in_background(&mut state);
                        return Ok(token);
                    }
                    Decision::Fetch => Ok(Round::open(&self.inner, &mut state)),
                    Decision::Wait => Err(state.round.clone()),
                }
            };
            let mut round = match next {
                Ok(fetch) => return fetch.run().await,
                Err(Some(round)) => round,
                // Unreachable while a fetch is in flight, which registers its round first; poll again.
                Err(None) => {
                    tokio::task::yield_now().await;
                    continue;
                }
            };
            if let Ok(outcome) = round.wait_for(Option::is_some).await
                && let Some(result) = outcome.as_ref()
            {
                return result.clone();
            }
            // Closed without a result: the fetcher was cancelled. Poll again; one of us fetches.
        }
    }

    /// The cached token if it can be handed out without waiting, else `None` (then call
    /// [`token`](Self::token)). Synchronous, for code that cannot `.await`. Starts a background refresh
    /// when one is due, if called inside a tokio runtime.
    pub fn try_token_now(&self) -> Option<Arc<TokenResponse>> {
        let now = Instant::now();
        if let Some(token) = self.inner.fresh(now) {
            return Some(token);
        }
        let mut state = self.inner.lock();
        if state.cache.freshness(now) != Freshness::Due {
            return None;
        }
        match state.cache.poll(now) {
            Decision::Use(token) => Some(token),
            Decision::UseAndRefresh(token) => {
                self.refresh_in_background(&mut state);
                Some(token)
            }
            Decision::Fetch | Decision::Wait => None,
        }
    }

    /// Forgets the cached token: the next call fetches a new one. For a 401 from the API, prefer
    /// [`TokenSource::token_rejected`], which leaves a newer token alone.
    pub fn invalidate(&self) {
        let mut state = self.inner.lock();
        state.cache.invalidate();
        if let Some(snapshot) = self.inner.snapshot.swap(None) {
            state.discard = Some(Arc::clone(&snapshot.token));
        }
        tracing::debug!(token_url = self.inner.client.token_client().token_url().as_str(), "token invalidated");
    }

    /// Forgets the cached token and fetches a new one (or joins the fetch in flight).
    pub async fn force_refresh(&self) -> Result<Arc<TokenResponse>, Error> {
        self.invalidate();
        self.token().await
    }

    /// A [`BearerClient`] that sends API requests through this provider's HTTP client with its tokens.
    pub fn bearer_client(&self) -> BearerClient {
        BearerClient::new(self.inner.client.http().clone(), Arc::new(self.clone()))
    }

    /// The client tokens are fetched with.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Runs the refresh the cache just asked this caller for, on a task of its own so that nobody waits.
    fn refresh_in_background(&self, state: &mut State) {
        let round = Round::open(&self.inner, state);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                tracing::debug!(
                    token_url = self.inner.client.token_client().token_url().as_str(),
                    "refreshing the token ahead of expiry"
                );
                runtime.spawn(async move {
                    // The result reaches the cache and any waiters through the round.
                    let _ = round.run().await;
                });
            }
            // Outside a runtime (a synchronous caller) nothing can run the refresh: give the election back.
            // The round's guard takes the state lock, which this caller holds: report without it.
            Err(_) => round.abandon_locked(state),
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is updated in single assignments: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The warm path: the snapshot's token if it is not yet due at `now`.
    fn fresh(&self, now: Instant) -> Option<Arc<TokenResponse>> {
        let snapshot = self.snapshot.load();
        match snapshot.as_deref() {
            Some(snapshot) if now < snapshot.refresh_at => Some(Arc::clone(&snapshot.token)),
            _ => None,
        }
    }
}

/// The one fetch in flight. Whatever happens to it, the cache hears back: [`Round::run`] reports success
/// or failure, and dropping it unfinished (a cancelled caller, a panic) reports an abandoned fetch.
struct Round {
    inner: Arc<Inner>,
    sender: Option<watch::Sender<Outcome>>,
}

impl Round {
    /// Registers a new round in `state`, which the caller has just been elected to fetch for.
    fn open(inner: &Arc<Inner>, state: &mut State) -> Round {
        let (sender, receiver) = watch::channel(None);
        state.round = Some(receiver);
        Round { inner: Arc::clone(inner), sender: Some(sender) }
    }

    async fn run(mut self) -> Result<Arc<TokenResponse>, Error> {
        let (grant, discard) = {
            let mut state = self.inner.lock();
            (state.grant.clone(), state.discard.take())
        };
        let client = &self.inner.client;
        let result = match client.config().shared() {
            Some(shared) => {
                if let Some(token) = discard {
                    shared.discard(client, &grant, &token).await;
                }
                shared.fetch(client, &grant).await
            }
            None => client.fetch(&grant).await,
        }
        .map(Arc::new);
        let now = Instant::now();
        {
            let mut state = self.inner.lock();
            match &result {
                Ok(token) => {
                    // The cache refuses a token unusable on arrival while a valid one is cached (a failed
                    // refresh, in effect): then the snapshot keeps the valid token.
                    if state.cache.fetch_succeeded(Arc::clone(token), token.expires_in(), now) {
                        let refresh_at = state.cache.deadlines().map_or(now, |(refresh_at, _)| refresh_at);
                        self.inner.snapshot.store(Some(Arc::new(Snapshot { token: Arc::clone(token), refresh_at })));
                    } else {
                        tracing::warn!(
                            expires_in = token.expires_in().as_secs(),
                            "the refreshed token is unusable on arrival; keeping the valid one"
                        );
                    }
                    if let (Grant::RefreshToken { scopes, .. }, Some(rotated)) = (&state.grant, token.refresh_token()) {
                        state.grant = Grant::refresh_token(rotated.clone(), scopes.clone());
                    }
                }
                Err(error) => state.cache.fetch_failed(now, error.retry_after()),
            }
            state.round = None;
        }
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(result.clone()));
        }
        result
    }

    /// Gives up the round while the caller holds the state lock.
    fn abandon_locked(mut self, state: &mut State) {
        state.cache.fetch_abandoned();
        state.round = None;
        self.sender = None;
    }
}

impl Drop for Round {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            {
                let mut state = self.inner.lock();
                state.cache.fetch_abandoned();
                state.round = None;
            }
            tracing::debug!("token fetch abandoned; a waiting caller takes over");
            // Dropping the sender closes the channel and wakes every waiter.
            drop(sender);
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
        let mut state = self.inner.lock();
        let current = self.inner.snapshot.load();
        if current.as_deref().is_some_and(|snapshot| Arc::ptr_eq(&snapshot.token, rejected)) {
            state.cache.invalidate();
            self.inner.snapshot.store(None);
            state.discard = Some(Arc::clone(rejected));
            tracing::debug!("the API refused the token; it is dropped");
        }
    }
}
