//! [`FetchTicket`]: the elected fetcher's duty to report, exactly once.

use std::fmt;
use std::sync::Arc;

use super::state::Election;
use super::{BackoffRule, Driver, Round};
use crate::Error;
use crate::cache::FetchKind;
use crate::{Grant, TokenResponse};

/// The right, and the duty, to run one fetch round: handed to exactly one caller at a time.
///
/// Fetch with [`grant`](Self::grant) (telling a shared cache to drop [`take_discard`](Self::take_discard)'s
/// token first), then hand the result to [`report`](Self::report), which consumes the ticket: a round can be
/// reported only once, and the compiler sees to it. A ticket dropped unreported (the fetching task was
/// cancelled, or it panicked, even while the report was being recorded) reports the round abandoned, so
/// that its waiters poll again and one of them fetches; nothing can leave the provider waiting on a fetch
/// nobody runs.
#[must_use = "a fetch ticket must be reported with `report`; dropping it abandons the fetch"]
pub struct FetchTicket<D: Driver> {
    driver: D,
    election: Election,
    /// Cleared once the outcome is recorded (or the election given back).
    armed: bool,
}

impl<D: Driver> fmt::Debug for FetchTicket<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchTicket")
            .field("round", &self.election.round)
            .field("kind", &self.election.kind)
            .field("grant_type", &self.election.grant.grant_type())
            .finish_non_exhaustive()
    }
}

impl<D: Driver> FetchTicket<D> {
    pub(super) fn new(driver: D, election: Election) -> Self {
        FetchTicket { driver, election, armed: true }
    }

    /// The grant to fetch with (the provider's grant when the round began, rotated refresh token included).
    pub fn grant(&self) -> &Grant {
        &self.election.grant
    }

    /// Which round this is.
    pub fn round(&self) -> Round {
        self.election.round
    }

    /// A cold fetch (callers wait for it) or a refresh ahead of expiry (nobody waits).
    pub fn kind(&self) -> FetchKind {
        self.election.kind
    }

    /// The token the provider dropped since the last fetch (invalidated, or refused by the API), which a
    /// cache shared with other processes must stop handing out before this fetch asks it for a token.
    pub fn take_discard(&mut self) -> Option<Arc<TokenResponse>> {
        self.election.discard.take()
    }

    /// The fleet's backoff rule for this round: hand it to a cache shared with other processes along with
    /// the fetch, so that it records a refusal for the others and honours one they recorded (see
    /// [`backoff`](super::backoff)).
    pub fn backoff_rule(&self) -> &BackoffRule {
        &self.election.backoff
    }

    /// Records the fetch's result and hands it to every caller waiting for this round; returns it.
    pub fn report(mut self, result: Result<TokenResponse, Error>) -> Result<Arc<TokenResponse>, Error> {
        let outcome = result.map(Arc::new);
        let driver = self.driver.clone();
        let round = self.election.round;
        self.driver.with_state(|state| {
            // The time is read here, under the lock: a clock that panics is a panic while recording, which
            // the disarm below (not before) turns into an abandoned round.
            let now = driver.clock().now();
            state
                .end(round, &outcome, now, driver.clock().wall(), driver.random(), |snapshot| driver.publish(snapshot));
        });
        self.armed = false;
        self.driver.wake(round, Some(&outcome));
        outcome
    }

    /// Gives the election back without fetching (nothing was sent: say, no runtime to run a background
    /// refresh on). Unlike dropping the ticket, this is no failure: nothing backs off.
    pub fn release(mut self) {
        let driver = self.driver.clone();
        driver.with_state(|state| state.release(&self.election));
        self.armed = false;
        self.driver.wake(self.election.round, None);
    }
}

impl<D: Driver> Drop for FetchTicket<D> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (round, at, random) = (self.election.round, self.election.at, self.election.random);
        // No clock read, no random draw: this may run while unwinding from a panic in either.
        self.driver.with_state(|state| state.abandon(round, at, random));
        tracing::debug!(round = round.0, "token fetch abandoned; a waiting caller takes over");
        self.driver.wake(round, None);
    }
}
