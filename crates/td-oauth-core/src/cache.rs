//! The token cache's policy as a plain state machine: time and random numbers come in, decisions come out.
//!
//! Like quinn-proto, this holds no lock, spawns nothing and reads no clock. The provider machine
//! ([`ProviderState`](crate::provider::ProviderState)) keeps one [`TokenCache`] and asks
//! [`TokenCache::poll`] what a caller should do; the one elected fetcher's outcome comes back through
//! [`fetch_succeeded`](TokenCache::fetch_succeeded), [`fetch_failed`](TokenCache::fetch_failed) or
//! [`fetch_abandoned`](TokenCache::fetch_abandoned). Because every input is explicit, the policy is tested by
//! stepping time.
//!
//! ```text
//!            fetched        refresh window      refresh_at (jittered)       usable_until        expires_at
//!  ------------|-------- fresh -----|=============|====== due (refresh) ==========|--- unusable ---|-------->
//!                                                 (callers keep the token)       (margin for skew and flight)
//! ```
//!
//! Every piece of arithmetic on a server's `expires_in`, a policy value or a `Retry-After` is checked or
//! saturating: no policy and no server value can make it panic.

use std::time::{Duration, Instant};

use crate::Error;

/// No token is cached longer than this, whatever `expires_in` and [`CachePolicy::max_lifetime`] say: far
/// enough to mean "no cap", near enough that adding it to any `Instant` fits on every platform.
const FAR_FUTURE: Duration = Duration::from_secs(50 * 365 * 24 * 3600);

/// When cached tokens are refreshed and how failures back off.
///
/// | setting | default |
/// |---|---|
/// | [`refresh_percent`](Self::refresh_percent): refresh ahead when less than this share of the lifetime is left | 20 % |
/// | [`expiry_margin`](Self::expiry_margin): treat as expired this long before `expires_in` runs out | 30 s |
/// | [`backoff`](Self::backoff): after a failed fetch, wait this long (doubling) | 1 s to 60 s |
/// | [`max_lifetime`](Self::max_lifetime): never cache a token longer | 24 h |
/// | [`refresh_jitter_percent`](Self::refresh_jitter_percent): how much of the refresh window the refresh point is spread over | 50 % |
///
/// The refresh happens at a random point in the first half (by default) of the refresh window, between the
/// refresh point and the margin, so that processes which fetched together do not all refresh in the same
/// second.
/// After a failed fetch the wait is random between half the backoff and the backoff ("equal jitter"); a
/// server's `Retry-After` lengthens it, up to the backoff's maximum.
///
/// ```
/// use std::time::Duration;
/// use td_oauth_core::cache::CachePolicy;
///
/// let policy = CachePolicy::default().with_refresh_percent(50)?.with_expiry_margin(Duration::from_secs(10));
/// assert_eq!(policy.refresh_percent(), 50);
/// # Ok::<(), td_oauth_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    refresh_percent: u32,
    expiry_margin: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_lifetime: Duration,
    refresh_jitter_percent: u32,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            refresh_percent: 20,
            expiry_margin: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(24 * 3600),
            refresh_jitter_percent: 50,
        }
    }
}

/// When a token becomes due for refresh and when it stops being usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// From here on, one caller refreshes it in the background while everyone keeps it.
    pub refresh_at: Instant,
    /// From here on, nobody is handed it.
    pub usable_until: Instant,
}

impl CachePolicy {
    /// Refresh ahead when less than `percent` % of the token's lifetime is left (0 to 90).
    pub fn with_refresh_percent(mut self, percent: u32) -> Result<Self, Error> {
        if percent > 90 {
            return Err(Error::InvalidParameter {
                field: "refresh percent",
                reason: format!("{percent} % is above 90 %; tokens would be refreshed almost continuously"),
            });
        }
        self.refresh_percent = percent;
        Ok(self)
    }

    /// The share of the lifetime (percent) under which a token is refreshed ahead of expiry.
    pub fn refresh_percent(&self) -> u32 {
        self.refresh_percent
    }

    /// Treat tokens as expired this long before `expires_in` runs out (clock skew, time in flight). For
    /// tokens shorter than ten margins, a tenth of the lifetime is used instead, so short tokens keep a
    /// refresh-ahead window.
    pub fn with_expiry_margin(mut self, margin: Duration) -> Self {
        self.expiry_margin = margin;
        self
    }

    /// How long before `expires_in` runs out a token stops being handed out.
    pub fn expiry_margin(&self) -> Duration {
        self.expiry_margin
    }

    /// After a failed fetch, wait `initial`, doubling up to `max`: before the next background refresh when a
    /// valid token is still cached, and, when none is, before the next request (callers meanwhile get the
    /// failed fetch's error at once instead of each sending a request of their own).
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Result<Self, Error> {
        if initial.is_zero() || max < initial {
            return Err(Error::InvalidParameter {
                field: "cache backoff",
                reason: "the initial delay must be positive and no larger than the maximum".into(),
            });
        }
        self.backoff_initial = initial;
        self.backoff_max = max;
        Ok(self)
    }

    /// The backoff after failed fetches: the first wait and the most it doubles to.
    pub fn backoff(&self) -> (Duration, Duration) {
        (self.backoff_initial, self.backoff_max)
    }

    /// Never cache a token longer than this, whatever `expires_in` says (guards against absurd values).
    /// `Duration::MAX` means no cap of your own (a token is still never kept past 50 years).
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// The longest a token is cached.
    pub fn max_lifetime(&self) -> Duration {
        self.max_lifetime
    }

    /// Spread the refresh point over the first `percent` % of the refresh window (0 to 100; 0 refreshes at
    /// its start, deterministically).
    pub fn with_refresh_jitter_percent(mut self, percent: u32) -> Result<Self, Error> {
        if percent > 100 {
            return Err(Error::InvalidParameter {
                field: "refresh jitter percent",
                reason: format!("{percent} % is more than the whole refresh window"),
            });
        }
        self.refresh_jitter_percent = percent;
        Ok(self)
    }

    /// How much of the refresh window (percent) the refresh point is spread over.
    pub fn refresh_jitter_percent(&self) -> u32 {
        self.refresh_jitter_percent
    }

    /// When a token fetched at `now` with `expires_in` becomes due for refresh and stops being usable.
    /// `random` (any uniformly random number) picks the refresh point in the jittered part of the refresh
    /// window; 0 picks its start.
    pub fn schedule(&self, now: Instant, expires_in: Duration, random: u64) -> Schedule {
        let lifetime = expires_in.min(self.max_lifetime).min(FAR_FUTURE);
        let margin = self.expiry_margin.min(lifetime / 10);
        let ahead = (lifetime / 100).saturating_mul(self.refresh_percent).max(margin);
        // Within the refresh window (ahead .. margin before expiry), a random point of its jittered part.
        let window = ahead.saturating_sub(margin);
        let jitter = fraction((window / 100).saturating_mul(self.refresh_jitter_percent), random);
        let Some(expires_at) = now.checked_add(lifetime) else {
            return Schedule { refresh_at: now, usable_until: now };
        };
        let usable_until = expires_at.checked_sub(margin).unwrap_or(now).max(now);
        let refresh_at = expires_at.checked_sub(ahead.saturating_sub(jitter)).unwrap_or(now).clamp(now, usable_until);
        Schedule { refresh_at, usable_until }
    }

    /// How long to wait after the `failures`-th consecutive failure: the doubling backoff, lengthened to the
    /// server's `retry_after` (up to the maximum), then random between half of it and all of it.
    pub fn wait_after_failure(&self, failures: u32, retry_after: Option<Duration>, random: u64) -> Duration {
        let wait = self.backoff_ceiling(failures, retry_after);
        let half = wait / 2;
        half.saturating_add(fraction(wait.saturating_sub(half), random))
    }

    /// The wait after the `failures`-th consecutive failure before its jitter: the doubling backoff,
    /// lengthened to the server's `retry_after`, and never longer than the backoff's maximum, whatever the
    /// server asked (a bogus `Retry-After` cannot stall a provider, nor a fleet, for long).
    pub fn backoff_ceiling(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 1u32.checked_shl(failures.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
        let backoff = self.backoff_initial.saturating_mul(factor).min(self.backoff_max);
        backoff.max(retry_after.unwrap_or_default().min(self.backoff_max))
    }
}

/// A duration between zero and `max`, as `random` is between zero and `u64::MAX`: uniformly random when
/// `random` is, and the two ends exactly for 0 and `u64::MAX`.
pub(crate) fn fraction(max: Duration, random: u64) -> Duration {
    let nanos = u128::from(u64::try_from(max.as_nanos()).unwrap_or(u64::MAX));
    let scaled = nanos * u128::from(random) / u128::from(u64::MAX);
    Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
}

/// How a cached token stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Nothing cached.
    Empty,
    /// Usable, not yet due for refresh.
    Fresh,
    /// Usable, but due for a refresh ahead of expiry.
    Due,
    /// Too close to (or past) expiry to hand out.
    Unusable,
}

/// Which kind of fetch is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchKind {
    /// Nothing usable was cached: callers wait for this fetch.
    Cold,
    /// A refresh ahead of expiry: callers keep the cached token meanwhile.
    Refresh,
}

/// What the caller of [`TokenCache::poll`] should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<T> {
    /// Use this token.
    Use(T),
    /// Use this token, and refresh it in the background: this caller is now the one fetcher.
    UseAndRefresh(T),
    /// No usable token: fetch one now. This caller is now the one fetcher; others will [`Decision::Wait`].
    Fetch,
    /// No usable token and a fetch is in flight: wait for its result.
    Wait,
    /// No usable token, and the last fetch failed moments ago: fail at once with that fetch's error rather
    /// than send another request, until the backoff is over.
    Backoff,
}

#[derive(Debug, Clone)]
struct Entry<T> {
    value: T,
    schedule: Schedule,
}

/// The cache's state: at most one token, at most one fetch in flight, the backoff after failures.
#[derive(Debug, Clone)]
pub struct TokenCache<T> {
    policy: CachePolicy,
    entry: Option<Entry<T>>,
    fetching: Option<FetchKind>,
    failures: u32,
    /// No background refresh starts before this.
    next_refresh: Option<Instant>,
    /// With nothing usable, no fetch starts before this: callers get the last error.
    next_fetch: Option<Instant>,
}

impl<T: Clone> TokenCache<T> {
    /// An empty cache.
    pub fn new(policy: CachePolicy) -> Self {
        TokenCache { policy, entry: None, fetching: None, failures: 0, next_refresh: None, next_fetch: None }
    }

    /// The policy.
    pub fn policy(&self) -> &CachePolicy {
        &self.policy
    }

    /// Decides what a caller wanting a token at `now` should do. Returns [`Decision::Fetch`] or
    /// [`Decision::UseAndRefresh`] to exactly one caller at a time; that caller must then report with
    /// [`fetch_succeeded`](Self::fetch_succeeded), [`fetch_failed`](Self::fetch_failed) or
    /// [`fetch_abandoned`](Self::fetch_abandoned).
    pub fn poll(&mut self, now: Instant) -> Decision<T> {
        match (self.freshness(now), &self.entry) {
            (Freshness::Fresh, Some(entry)) => Decision::Use(entry.value.clone()),
            (Freshness::Due, Some(entry)) => {
                let backing_off = self.next_refresh.is_some_and(|at| now < at);
                if self.fetching.is_some() || backing_off {
                    Decision::Use(entry.value.clone())
                } else {
                    self.fetching = Some(FetchKind::Refresh);
                    Decision::UseAndRefresh(entry.value.clone())
                }
            }
            _ if self.fetching.is_some() => Decision::Wait,
            _ if self.next_fetch.is_some_and(|at| now < at) => Decision::Backoff,
            _ => {
                self.fetching = Some(FetchKind::Cold);
                Decision::Fetch
            }
        }
    }

    /// The cached token if it is usable at `now`, without starting anything.
    pub fn peek(&self, now: Instant) -> Option<T> {
        match self.freshness(now) {
            Freshness::Fresh | Freshness::Due => self.entry.as_ref().map(|e| e.value.clone()),
            _ => None,
        }
    }

    /// The cached token, usable or not.
    pub fn current(&self) -> Option<&T> {
        self.entry.as_ref().map(|e| &e.value)
    }

    /// How the cached token stands at `now`.
    pub fn freshness(&self, now: Instant) -> Freshness {
        match &self.entry {
            None => Freshness::Empty,
            Some(entry) if now >= entry.schedule.usable_until => Freshness::Unusable,
            Some(entry) if now >= entry.schedule.refresh_at => Freshness::Due,
            Some(_) => Freshness::Fresh,
        }
    }

    /// When the cached token becomes due for refresh and stops being usable.
    pub fn schedule(&self) -> Option<Schedule> {
        self.entry.as_ref().map(|e| e.schedule)
    }

    /// The fetch in flight, if any.
    pub fn fetching(&self) -> Option<FetchKind> {
        self.fetching
    }

    /// Consecutive failed fetches since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The fetch ended with a token valid for `expires_in` from `now`; returns whether it was cached.
    /// `random` jitters its refresh point (see [`CachePolicy::schedule`]).
    ///
    /// A token that is already unusable when it arrives (`expires_in` of 0, or shorter than the expiry
    /// margin) never replaces one that is still usable: that refresh counts as failed, so the valid token
    /// keeps being served and the next refresh backs off. With nothing usable cached, it is stored anyway
    /// (the caller hands it to whoever waited for this fetch; the next poll fetches again).
    pub fn fetch_succeeded(&mut self, value: T, expires_in: Duration, now: Instant, random: u64) -> bool {
        let schedule = self.policy.schedule(now, expires_in, random);
        if schedule.usable_until <= now && self.peek(now).is_some() {
            self.fetch_failed(now, None, random);
            return false;
        }
        self.entry = Some(Entry { value, schedule });
        self.fetching = None;
        self.failures = 0;
        self.next_refresh = None;
        self.next_fetch = None;
        true
    }

    /// The fetch failed at `now`. A still-usable token is kept, and the next background refresh waits for
    /// the backoff (see [`CachePolicy::wait_after_failure`]). With nothing usable left, callers get
    /// [`Decision::Backoff`] until that wait is over.
    pub fn fetch_failed(&mut self, now: Instant, retry_after: Option<Duration>, random: u64) {
        self.failures = self.failures.saturating_add(1);
        let wait = self.policy.wait_after_failure(self.failures, retry_after, random);
        self.fetch_held(now, wait);
    }

    /// The fetch was not sent at `now`: the fleet this cache's owner shares tokens with is backing off for
    /// `wait` (see [`provider::backoff`](crate::provider::backoff)). Held exactly that long, as after a
    /// failure (a usable token is kept and the next refresh waits; with none, callers get
    /// [`Decision::Backoff`]), but it is not one of this cache's failures: its own backoff does not grow.
    pub fn fetch_held(&mut self, now: Instant, wait: Duration) {
        self.fetching = None;
        let until = now.checked_add(wait);
        self.next_refresh = until;
        self.next_fetch = if self.peek(now).is_some() { None } else { until };
    }

    /// The fetcher went away without a result (its task was cancelled, or it panicked). After a cold fetch,
    /// the next caller fetches at once: someone is waiting. After a refresh, the next refresh backs off as
    /// after a failure, so that a refresh that keeps dying does not turn every call into a request.
    pub fn fetch_abandoned(&mut self, now: Instant, random: u64) {
        match self.fetching.take() {
            Some(FetchKind::Refresh) => {
                self.failures = self.failures.saturating_add(1);
                self.next_refresh = now.checked_add(self.policy.wait_after_failure(self.failures, None, random));
            }
            Some(FetchKind::Cold) | None => {}
        }
    }

    /// The elected fetcher never started (nothing was sent, e.g. no runtime could run a background refresh):
    /// as if nobody had been elected.
    pub fn fetch_released(&mut self) {
        self.fetching = None;
    }

    /// Drops the cached token, e.g. after the API answered 401 to it, and any backoff: the next poll fetches.
    pub fn invalidate(&mut self) {
        self.entry = None;
        self.next_refresh = None;
        self.next_fetch = None;
    }
}
