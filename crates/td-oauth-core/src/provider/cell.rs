//! [`ProviderCell`]: what every transport's provider keeps of the machine, the same in both: the state
//! behind a mutex and the snapshot that warm hits read without it. A transport adds only how it wakes
//! waiters, spawns and sends.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwapOption;

use super::{Outcome, ProviderState, Round, Snapshot};
use crate::Error;
use crate::cache::CachePolicy;
use crate::{Grant, TokenClient, TokenResponse};

/// A provider's [`ProviderState`] under a mutex, and the latest [`Snapshot`] for lock-free warm hits.
/// A transport's [`Driver`](super::Driver) answers `with_state` and `publish` with it.
pub struct ProviderCell {
    state: Mutex<ProviderState>,
    /// The token and when it falls due, published by the machine under the state lock.
    snapshot: ArcSwapOption<Published>,
}

/// A published [`Snapshot`], with the copies of its token that warm hits on other cores hand out.
///
/// Every `Arc` clone of one token writes its one reference count, and cores that write the same cache line
/// take turns at it: threads sharing one token would scale like one thread. So the threads are spread
/// over stripes, as many as the machine has cores: stripe 0 hands out the token itself, each other stripe
/// its own copy, made by the first warm hit that needs it and dropped with the snapshot (so no copy outlives
/// the token it copies). A thread's stripe is its ordinal modulo that count; lending the token
/// ([`ProviderCell::lend`]) needs no copy.
struct Published {
    snapshot: Snapshot,
    /// Stripes 1 and up; stripe 0 is the snapshot's own token.
    copies: Box<[OnceLock<Arc<TokenResponse>>]>,
}

impl Published {
    fn new(snapshot: Snapshot) -> Self {
        Published { snapshot, copies: (1..stripes()).map(|_| OnceLock::new()).collect() }
    }

    /// `token` (the snapshot's) as this thread's stripe hands it out.
    fn for_this_thread(&self, token: &Arc<TokenResponse>) -> Arc<TokenResponse> {
        let stripe = thread_ordinal() % (self.copies.len() + 1);
        match stripe.checked_sub(1).and_then(|copy| self.copies.get(copy)) {
            Some(copy) => Arc::clone(copy.get_or_init(|| Arc::new(TokenResponse::clone(token)))),
            None => Arc::clone(token),
        }
    }
}

/// How many stripes a snapshot has: the cores this process may use (at most 64), read once.
fn stripes() -> usize {
    static STRIPES: OnceLock<usize> = OnceLock::new();
    *STRIPES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(64)))
}

/// This thread's ordinal: threads are numbered in the order they first ask, so threads started together land
/// on different stripes.
fn thread_ordinal() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static ORDINAL: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    ORDINAL.with(|ordinal| *ordinal)
}

impl ProviderCell {
    /// A cell for a provider of `grant` whose tokens `tokens` fetches, cached as `policy` says, with nothing
    /// published yet: what a transport's provider starts from.
    pub fn for_grant(grant: Grant, tokens: &TokenClient, policy: CachePolicy) -> Self {
        ProviderCell::new(ProviderState::new(grant, policy).with_token_url(tokens.token_url()))
    }

    /// A cell over `state`, with nothing published yet.
    pub fn new(state: ProviderState) -> Self {
        ProviderCell { state: Mutex::new(state), snapshot: ArcSwapOption::empty() }
    }

    /// Runs `f` on the state under the lock. A poisoned lock is recovered: every change the machine makes
    /// leaves the state consistent.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut ProviderState) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the snapshot warm hits read.
    pub fn publish(&self, snapshot: Option<Snapshot>) {
        self.snapshot.store(snapshot.map(|snapshot| Arc::new(Published::new(snapshot))));
    }

    /// The snapshot's token when it is fresh at `now` (no refresh due): no lock, and no allocation but the
    /// first time this thread's stripe hands out this token. Each core's threads get their own copy of the
    /// token, so that warm hits on several cores do not take turns at one reference count: compare tokens
    /// with [`TokenResponse::is_same_token`], not by address.
    pub fn fresh(&self, now: Instant) -> Option<Arc<TokenResponse>> {
        let published = self.snapshot.load();
        let published = published.as_ref()?;
        Some(published.for_this_thread(published.snapshot.fresh_at(now)?))
    }

    /// Calls `f` with the snapshot's token when it is fresh at `now`, without touching its reference count;
    /// hands `f` back when it is not (then take the slow path).
    pub fn lend<R, F: FnOnce(&TokenResponse) -> R>(&self, now: Instant, f: F) -> Result<R, F> {
        let published = self.snapshot.load();
        match published.as_ref().and_then(|published| published.snapshot.fresh_at(now)) {
            Some(token) => Ok(f(token)),
            None => Err(f),
        }
    }
}

impl fmt::Debug for ProviderCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The state's Debug redacts the token and the grant's secrets.
        self.with_state(|state| fmt::Debug::fmt(state, f))
    }
}

/// Records that round `round` ended with `outcome` in `published` (the last round to end and its outcome,
/// which waiters watch), unless a later round was recorded already; returns whether it was.
pub fn record_outcome(
    published: &mut (Round, Outcome),
    round: Round,
    outcome: Option<&Result<Arc<TokenResponse>, Error>>,
) -> bool {
    let newer = published.0 <= round;
    if newer {
        *published = (round, outcome.cloned());
    }
    newer
}
