//! [`ProviderCell`]: what every transport's provider keeps of the machine, the same in both: the state
//! behind a mutex and the snapshot that warm hits read without it. A transport adds only how it wakes
//! waiters, spawns and sends.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use arc_swap::ArcSwapOption;

use super::{Outcome, ProviderState, Round, Snapshot};
use crate::Error;
use crate::TokenResponse;

/// A provider's [`ProviderState`] under a mutex, and the latest [`Snapshot`] for lock-free warm hits.
/// A transport's [`Driver`](super::Driver) answers `with_state` and `publish` with it.
pub struct ProviderCell {
    state: Mutex<ProviderState>,
    /// The token and when it falls due, published by the machine under the state lock.
    snapshot: ArcSwapOption<Snapshot>,
}

impl ProviderCell {
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
        self.snapshot.store(snapshot.map(Arc::new));
    }

    /// The snapshot's token when it is fresh at `now` (no refresh due): no lock, no allocation.
    pub fn fresh(&self, now: Instant) -> Option<Arc<TokenResponse>> {
        self.snapshot.load().as_ref()?.fresh_at(now).cloned()
    }

    /// Calls `f` with the snapshot's token when it is fresh at `now`, without touching its reference count;
    /// hands `f` back when it is not (then take the slow path).
    pub fn lend<R, F: FnOnce(&TokenResponse) -> R>(&self, now: Instant, f: F) -> Result<R, F> {
        let snapshot = self.snapshot.load();
        match snapshot.as_ref().and_then(|snapshot| snapshot.fresh_at(now)) {
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
