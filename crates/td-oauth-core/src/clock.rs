//! The time source the token providers' rules read, injectable as aws-smithy's `SharedTimeSource` is, so that
//! tests step time instead of sleeping.
//!
//! Every rule in this crate takes `now` as an argument. A transport asks its [`Clock`] for that `now`: the
//! [`SystemClock`] in production, a [`ManualClock`] in tests. The clock's [`now`](Clock::now) is the monotonic
//! time the rules run on (when a token is due, unusable, how long a backoff lasts, how long the retries have
//! taken); its [`wall`](Clock::wall) time, for JWT claims and HTTP dates, is the system's unless a clock says
//! otherwise, because the server checks those against its own clock. Waiting (a retry's backoff, an I/O
//! timeout) is real time: the transports sleep on their runtime.
//!
//! The token endpoint's clock may not agree with this machine's: [`offset`] measures by how much, from the
//! `Date` header of its answers, so that assertions are signed on its time ([`ClockOffset`],
//! [`OffsetEstimate`]).

pub mod offset;

pub use offset::{ClockOffset, OffsetEstimate};

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A source of monotonic time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, on a clock that never goes backwards.
    fn now(&self) -> Instant;

    /// Now, on the wall clock (JWT `iat`/`exp`, HTTP-date `Retry-After`). The system's by default.
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The system's monotonic clock ([`Instant::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock a test moves forward by hand: what the providers' behaviour tests step instead of sleeping.
/// [`new`](Self::new) stands still until [advanced](Self::advance); [`running`](Self::running) also moves with
/// real time, for tests where real I/O takes real time (timeouts, a retry deadline). Clones share one time.
/// Its wall time is the system's (the test server checks assertions against its own clock).
///
/// ```
/// use std::time::Duration;
/// use td_oauth_core::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new();
/// let start = clock.now();
/// assert_eq!(clock.now(), start);
/// clock.advance(Duration::from_secs(600));
/// assert_eq!(clock.now() - start, Duration::from_secs(600));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    running: bool,
    /// Nanoseconds advanced by hand, shared by the clones.
    advanced: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at the present instant.
    pub fn new() -> Self {
        ManualClock { start: Instant::now(), running: false, advanced: Arc::new(AtomicU64::new(0)) }
    }

    /// A clock that moves with real time, plus whatever it is advanced by.
    pub fn running() -> Self {
        ManualClock { running: true, ..ManualClock::new() }
    }

    /// Moves the clock forward by `by` (saturating at about 584 years from its start).
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update only fails when the closure returns None, which this one never does.
        let _ = self.advanced.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| Some(n.saturating_add(nanos)));
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        let advanced = Duration::from_nanos(self.advanced.load(Ordering::SeqCst));
        let real = if self.running { self.start.elapsed() } else { Duration::ZERO };
        self.start.checked_add(real.saturating_add(advanced)).unwrap_or(self.start)
    }
}

/// A cheaply cloned handle to any [`Clock`]; the [`SystemClock`] by default.
#[derive(Debug, Clone)]
pub struct SharedClock(Arc<dyn Clock>);

impl SharedClock {
    /// Shares `clock`.
    pub fn new(clock: impl Clock + 'static) -> Self {
        SharedClock(Arc::new(clock))
    }

    /// Now, on the shared clock.
    pub fn now(&self) -> Instant {
        self.0.now()
    }

    /// The wall-clock time, on the shared clock.
    pub fn wall(&self) -> SystemTime {
        self.0.wall()
    }
}

impl Default for SharedClock {
    fn default() -> Self {
        SharedClock::new(SystemClock)
    }
}

impl<C: Clock + 'static> From<C> for SharedClock {
    fn from(clock: C) -> Self {
        SharedClock::new(clock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_clones_share_it() {
        let clock = ManualClock::new();
        let shared = SharedClock::from(clock.clone());
        let start = shared.now();
        clock.advance(Duration::from_millis(1500));
        assert_eq!(shared.now() - start, Duration::from_millis(1500));
        clock.advance(Duration::MAX);
        assert!(shared.now() >= start, "saturates instead of wrapping or panicking");
        let running = ManualClock::running();
        let before = running.now();
        std::thread::sleep(Duration::from_millis(5));
        running.advance(Duration::from_secs(60));
        assert!(running.now() - before >= Duration::from_millis(60_005));
    }
}
