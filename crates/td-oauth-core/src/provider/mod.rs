//! The token provider as a deterministic state machine, which both transports drive (as quinn drives
//! quinn-proto): every rule of a provider is here, once, with its state and lock-free snapshot
//! ([`ProviderCell`]); a transport adds its way of waking waiters, of spawning a background refresh, of sleeping, and its I/O.
//!
//! ```text
//!   caller ──poll──▶ Ready(token)                         the cached token (the warm path never gets here:
//!                                                          it reads the transport's snapshot, no lock)
//!                    Refresh(token, ticket)               use the token; run the refresh in the background
//!                    Fetch(ticket)                        fetch now; everyone else waits for this round
//!                    Wait(round)                          a fetch is in flight: wait for it to end
//!                    Failed(error)                        the last fetch failed moments ago: its error, at once
//!
//!   ticket ──report(result)──▶ state recorded, snapshot published, waiters woken with the outcome
//!   ticket ──dropped─────────▶ round abandoned, waiters woken to poll again (one of them fetches)
//! ```
//!
//! The transport implements [`Driver`] for a cheap handle to its provider (an `Arc`): where its
//! [`ProviderCell`] is (the [`ProviderState`] under its lock, and the [`Snapshot`] for lock-free warm hits), how to wake the
//! waiters of a [`Round`] and how to wait for one, how to run a fetch and a background refresh, and its clock
//! and random numbers. [`token`] is the caller's loop over [`poll`], written once: async transports await
//! it, blocking ones run it with futures that are ready at once
//! ([`run_ready`](crate::transport::run_ready)). The functions here ([`token`], [`poll`], [`poll_ready`],
//! [`invalidate`], [`reject`]) and the [`FetchTicket`] are the only ways to change the state, so the rules
//! hold whatever the transport:
//!
//! - one fetch at a time; its outcome goes to every caller that waited for it;
//! - a token due for refresh is refreshed in the background while callers keep it, and a failed refresh
//!   keeps it and backs off (so does a refresh that was abandoned: a refresh that keeps dying does not turn
//!   every call into a request);
//! - with nothing usable, a failed fetch's error is shared with the callers that arrive during the jittered
//!   backoff that follows, instead of each sending its own request to a failing endpoint;
//! - a refresh token that comes with a token replaces the grant's, so rotating servers work;
//! - a token dropped after a 401 is dropped only if it is still the current one, and a shared cache is told
//!   to drop it before the next fetch;
//! - with a cache shared by a fleet, a refusal (429, `Retry-After`, repeated failures) is recorded there for
//!   the other processes, which wait it out instead of each sending a request ([`backoff`]).

pub mod backoff;
mod cell;
mod state;
mod ticket;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

pub use backoff::{BackoffRule, SharedBackoff};
pub use cell::{ProviderCell, record_outcome};
pub use state::{ProviderState, Round, Snapshot};
pub use ticket::FetchTicket;

use crate::Error;
use crate::TokenResponse;
use crate::clock::SharedClock;
use state::Decided;

/// What a provider's outcome is to its waiters: its token or its error; `None` when it was abandoned.
pub type Outcome = Option<Result<Arc<TokenResponse>, Error>>;

/// What a transport gives the provider machine: a cheap, cloneable handle to one provider.
pub trait Driver: Clone + Send + Sync {
    /// The provider's state and the snapshot its warm hits read.
    fn cell(&self) -> &ProviderCell;

    /// Runs `f` on the provider's state under its lock (see [`ProviderCell::with_state`]).
    fn with_state<R>(&self, f: impl FnOnce(&mut ProviderState) -> R) -> R {
        self.cell().with_state(f)
    }

    /// Replaces the snapshot that warm hits read (`None`: there is nothing a warm hit may use). Called with
    /// the state lock held, so snapshots are published in the order the state changed.
    fn publish(&self, snapshot: Option<Snapshot>) {
        self.cell().publish(snapshot);
    }

    /// Round `round` has ended: wake its waiters with its outcome (`None`: abandoned, poll again). Called
    /// after the state lock is released.
    fn wake(&self, round: Round, outcome: Option<&Result<Arc<TokenResponse>, Error>>);

    /// The clock the rules read.
    fn clock(&self) -> &SharedClock;

    /// A uniformly random number (jitter; no secrecy needed).
    fn random(&self) -> u64;

    /// Runs the fetch `ticket` was elected for (through a shared cache, or with the client) and reports it
    /// with [`FetchTicket::report`].
    fn fetch(&self, ticket: FetchTicket<Self>) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send;

    /// Waits until round `round`, or a later one, has ended (see [`wake`](Self::wake)): its outcome.
    fn wait(&self, round: Round) -> impl Future<Output = Outcome> + Send;

    /// Runs `ticket`'s refresh where no caller waits for it (a task, a thread), or, when that is impossible,
    /// [`release`](FetchTicket::release)s it.
    fn refresh_in_background(&self, ticket: FetchTicket<Self>);
}

/// A token usable now: the cached one, or one fetched for this call and everyone waiting with it. The
/// caller's whole loop: poll; use the token, start a background refresh, fetch, wait for the round in flight
/// (and poll again if it was abandoned), or fail with the error of a fetch that failed moments ago.
pub async fn token<D: Driver>(driver: &D) -> Result<Arc<TokenResponse>, Error> {
    loop {
        match poll(driver) {
            Next::Ready(token) => return Ok(token),
            Next::Refresh(token, ticket) => {
                driver.refresh_in_background(ticket);
                return Ok(token);
            }
            // Boxed: the fetch's future is large, and every waiting caller's future would carry its room.
            Next::Fetch(ticket) => return Box::pin(driver.fetch(ticket)).await,
            Next::Wait(round) => {
                if let Some(outcome) = driver.wait(round).await {
                    return outcome;
                }
            }
            Next::Failed(error) => return Err(error),
        }
    }
}

/// What a caller should do, from [`poll`].
#[must_use]
pub enum Next<D: Driver> {
    /// Use this token.
    Ready(Arc<TokenResponse>),
    /// Use this token, and run this refresh in the background.
    Refresh(Arc<TokenResponse>, FetchTicket<D>),
    /// Fetch now, then report: the callers that arrive meanwhile wait for this round.
    Fetch(FetchTicket<D>),
    /// A fetch is in flight: wait until a round numbered this or later has ended, then take its outcome, or
    /// poll again if it was abandoned.
    Wait(Round),
    /// The last fetch failed moments ago and the provider is backing off: fail with its error.
    Failed(Error),
}

impl<D: Driver> fmt::Debug for Next<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Next::Ready(token) => f.debug_tuple("Ready").field(token).finish(),
            Next::Refresh(token, ticket) => f.debug_tuple("Refresh").field(token).field(ticket).finish(),
            Next::Fetch(ticket) => f.debug_tuple("Fetch").field(ticket).finish(),
            Next::Wait(round) => f.debug_tuple("Wait").field(round).finish(),
            Next::Failed(error) => f.debug_tuple("Failed").field(error).finish(),
        }
    }
}

/// What a caller wanting a token now should do.
pub fn poll<D: Driver>(driver: &D) -> Next<D> {
    let now = driver.clock().now();
    match driver.with_state(|state| state.decide(now, || driver.random())) {
        Decided::Ready(token) => Next::Ready(token),
        Decided::Refresh(token, election) => Next::Refresh(token, FetchTicket::new(driver.clone(), election)),
        Decided::Fetch(election) => Next::Fetch(FetchTicket::new(driver.clone(), election)),
        Decided::Wait(round) => Next::Wait(round),
        Decided::Failed(error) => Next::Failed(error),
    }
}

/// The token, if one can be handed out without waiting: for callers that cannot wait. A token due for
/// refresh comes with the refresh ticket to run (or [`release`](FetchTicket::release)); nothing usable is
/// `None`, and starts nothing.
pub fn poll_ready<D: Driver>(driver: &D) -> Option<(Arc<TokenResponse>, Option<FetchTicket<D>>)> {
    let now = driver.clock().now();
    match driver.with_state(|state| state.decide_ready(now, || driver.random()))? {
        Decided::Ready(token) => Some((token, None)),
        Decided::Refresh(token, election) => Some((token, Some(FetchTicket::new(driver.clone(), election)))),
        // Not reached with a usable token cached; a cold election is given back rather than left standing.
        Decided::Fetch(election) => {
            FetchTicket::new(driver.clone(), election).release();
            None
        }
        Decided::Wait(_) | Decided::Failed(_) => None,
    }
}

/// The cached token when it is fresh at the driver's clock's now, from the lock-free snapshot: no waiting,
/// no fetch, no background work ([`ProviderCell::fresh`]).
pub fn fresh<D: Driver>(driver: &D) -> Option<Arc<TokenResponse>> {
    driver.cell().fresh(driver.clock().now())
}

/// Calls `f` with the cached token when it is fresh at the driver's clock's now, without touching its
/// reference count; hands `f` back when it is not ([`ProviderCell::lend`]).
pub fn lend<D: Driver, R, F: FnOnce(&TokenResponse) -> R>(driver: &D, f: F) -> Result<R, F> {
    driver.cell().lend(driver.clock().now(), f)
}

/// Drops the cached token and any backoff: the next call fetches (and tells a shared cache to drop it).
pub fn invalidate<D: Driver>(driver: &D) {
    driver.with_state(|state| {
        state.invalidate(None);
        driver.publish(None);
    });
}

/// The API refused `token` (a 401): drops it if it is still the current token, so that many requests refused
/// at once cause one new fetch, not one each. Returns whether it was dropped.
pub fn reject<D: Driver>(driver: &D, token: &Arc<TokenResponse>) -> bool {
    driver.with_state(|state| {
        let dropped = state.invalidate(Some(token));
        if dropped {
            driver.publish(None);
        }
        dropped
    })
}
