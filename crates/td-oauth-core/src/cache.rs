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
        let factor = 1u32.checked_shl(failures.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
        let backoff = self.backoff_initial.saturating_mul(factor).min(self.backoff_max);
        let wait = backoff.max(retry_after.unwrap_or_default().min(self.backoff_max));
        let half = wait / 2;
        half.saturating_add(fraction(wait.saturating_sub(half), random))
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
        self.fetching = None;
        self.failures = self.failures.saturating_add(1);
        let until = now.checked_add(self.policy.wait_after_failure(self.failures, retry_after, random));
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const TEN_MINUTES: Duration = Duration::from_secs(600);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn cold_cache_elects_one_fetcher() {
        let t0 = Instant::now();
        let mut cache = TokenCache::<&str>::new(CachePolicy::default());
        assert_eq!(cache.poll(t0), Decision::Fetch);
        for _ in 0..100 {
            assert_eq!(cache.poll(t0), Decision::Wait);
        }
        cache.fetch_succeeded("a", TEN_MINUTES, t0, 0);
        assert_eq!(cache.poll(t0), Decision::Use("a"));
    }

    #[test]
    fn default_schedule_refreshes_at_80_percent_and_expires_30_s_early() {
        let t0 = Instant::now();
        let mut cache = TokenCache::new(CachePolicy::default());
        assert_eq!(cache.poll(t0), Decision::Fetch);
        cache.fetch_succeeded("a", TEN_MINUTES, t0, 0);
        assert_eq!(cache.schedule(), Some(Schedule { refresh_at: t0 + secs(480), usable_until: t0 + secs(570) }));
        assert_eq!(cache.freshness(t0 + secs(479)), Freshness::Fresh);
        assert_eq!(cache.poll(t0 + secs(479)), Decision::Use("a"));
        // At 480 s one caller refreshes; everyone, that caller included, keeps the old token meanwhile.
        assert_eq!(cache.poll(t0 + secs(480)), Decision::UseAndRefresh("a"));
        for step in 481..570 {
            assert_eq!(cache.poll(t0 + secs(step)), Decision::Use("a"));
        }
        // Past the margin nobody gets the old token; they wait for the refresh still in flight.
        assert_eq!(cache.poll(t0 + secs(570)), Decision::Wait);
        cache.fetch_succeeded("b", TEN_MINUTES, t0 + secs(571), 0);
        assert_eq!(cache.poll(t0 + secs(571)), Decision::Use("b"));
    }

    #[test]
    fn the_refresh_point_is_jittered_over_the_first_half_of_the_window() {
        let t0 = Instant::now();
        let policy = CachePolicy::default();
        // Window: 480 s (20 % left) to 570 s (the margin); its first half ends at 525 s.
        assert_eq!(
            policy.clone().with_refresh_jitter_percent(0).unwrap().schedule(t0, TEN_MINUTES, u64::MAX).refresh_at,
            t0 + secs(480)
        );
        assert!(policy.clone().with_refresh_jitter_percent(101).is_err());
        let points: Vec<Duration> = [0, 1, u64::MAX / 3, u64::MAX / 2, u64::MAX]
            .iter()
            .map(|&r| policy.schedule(t0, TEN_MINUTES, r).refresh_at - t0)
            .collect();
        assert_eq!(points[0], secs(480));
        assert!(points.iter().all(|p| (secs(480)..=secs(525)).contains(p)), "{points:?}");
        assert!(points.windows(2).any(|w| w[0] != w[1]), "different random numbers, different points");
        assert_eq!(
            policy.schedule(t0, TEN_MINUTES, u64::MAX).usable_until,
            t0 + secs(570),
            "the margin is not jittered"
        );
    }

    #[test]
    fn failed_refresh_keeps_the_valid_token_and_backs_off() {
        let t0 = Instant::now();
        let mut cache = TokenCache::new(CachePolicy::default());
        cache.poll(t0);
        cache.fetch_succeeded("a", TEN_MINUTES, t0, 0);
        let due = t0 + secs(480);
        assert_eq!(cache.poll(due), Decision::UseAndRefresh("a"));
        // random = u64::MAX: the longest wait of the jitter range, i.e. the whole backoff.
        cache.fetch_failed(due, None, u64::MAX);
        assert_eq!(cache.failures(), 1);
        assert_eq!(cache.poll(due + Duration::from_millis(999)), Decision::Use("a"));
        assert_eq!(cache.poll(due + secs(1)), Decision::UseAndRefresh("a"));
        cache.fetch_failed(due + secs(1), None, u64::MAX);
        assert_eq!(cache.poll(due + secs(2)), Decision::Use("a"));
        assert_eq!(cache.poll(due + secs(3)), Decision::UseAndRefresh("a"));
        // Retry-After longer than the backoff wins.
        cache.fetch_failed(due + secs(3), Some(secs(30)), u64::MAX);
        assert_eq!(cache.poll(due + secs(32)), Decision::Use("a"));
        assert_eq!(cache.poll(due + secs(33)), Decision::UseAndRefresh("a"));
        cache.fetch_succeeded("b", TEN_MINUTES, due + secs(34), 0);
        assert_eq!(cache.failures(), 0);
    }

    #[test]
    fn the_wait_doubles_up_to_the_maximum_with_equal_jitter() {
        let policy = CachePolicy::default();
        let longest: Vec<u64> = (1..=9).map(|n| policy.wait_after_failure(n, None, u64::MAX).as_secs()).collect();
        assert_eq!(longest, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(policy.wait_after_failure(u32::MAX, None, u64::MAX), secs(60));
        // Never under half the backoff, so a convoy cannot form at zero.
        assert_eq!(policy.wait_after_failure(3, None, 0), secs(2));
        // A Retry-After is honoured up to the maximum, never beyond (a hostile server cannot stop the cache).
        assert_eq!(policy.wait_after_failure(1, Some(secs(40)), u64::MAX), secs(40));
        assert_eq!(policy.wait_after_failure(1, Some(Duration::MAX), u64::MAX), secs(60));
    }

    #[test]
    fn a_failed_cold_fetch_shares_its_failure_for_the_backoff() {
        let t0 = Instant::now();
        let mut cache = TokenCache::<&str>::new(CachePolicy::default());
        assert_eq!(cache.poll(t0), Decision::Fetch);
        cache.fetch_failed(t0, None, u64::MAX);
        for ms in [0, 1, 500, 999] {
            assert_eq!(cache.poll(t0 + Duration::from_millis(ms)), Decision::Backoff);
        }
        assert_eq!(cache.poll(t0 + secs(1)), Decision::Fetch, "the backoff is over: one caller tries again");
        cache.fetch_failed(t0 + secs(1), None, u64::MAX);
        assert_eq!(cache.poll(t0 + secs(2)), Decision::Backoff, "and the next wait is twice as long");
        assert_eq!(cache.poll(t0 + secs(3)), Decision::Fetch);
        // invalidate (an explicit "try again") clears the backoff.
        cache.fetch_failed(t0 + secs(3), None, u64::MAX);
        cache.invalidate();
        assert_eq!(cache.poll(t0 + secs(3)), Decision::Fetch);
    }

    #[test]
    fn an_abandoned_cold_fetch_hands_over_at_once_and_an_abandoned_refresh_backs_off() {
        let t0 = Instant::now();
        let mut cache = TokenCache::new(CachePolicy::default());
        assert_eq!(cache.poll(t0), Decision::Fetch);
        cache.fetch_abandoned(t0, u64::MAX);
        assert_eq!(cache.poll(t0), Decision::Fetch, "a waiter takes over at once");
        cache.fetch_succeeded("a", TEN_MINUTES, t0, 0);
        let due = t0 + secs(480);
        assert_eq!(cache.poll(due), Decision::UseAndRefresh("a"));
        cache.fetch_abandoned(due, u64::MAX);
        // A refresh that died (a panic, say) is not restarted by every call: it backs off.
        assert_eq!(cache.poll(due + Duration::from_millis(500)), Decision::Use("a"));
        assert_eq!(cache.poll(due + secs(1)), Decision::UseAndRefresh("a"));
    }

    #[test]
    fn a_refresh_unusable_on_arrival_keeps_the_valid_token() {
        let t0 = Instant::now();
        let mut cache = TokenCache::new(CachePolicy::default());
        cache.poll(t0);
        assert!(cache.fetch_succeeded("a", TEN_MINUTES, t0, 0));
        let due = t0 + secs(480);
        assert_eq!(cache.poll(due), Decision::UseAndRefresh("a"));
        assert!(!cache.fetch_succeeded("dead", Duration::ZERO, due, u64::MAX));
        assert_eq!(cache.failures(), 1);
        assert_eq!(cache.poll(due), Decision::Use("a"), "the valid token is kept and the refresh backs off");
        assert_eq!(cache.poll(due + secs(1)), Decision::UseAndRefresh("a"));
        // With nothing usable cached, an unusable token is still stored (and the next poll fetches again).
        let mut cold = TokenCache::new(CachePolicy::default());
        cold.poll(t0);
        assert!(cold.fetch_succeeded("dead", Duration::ZERO, t0, 0));
        assert_eq!(cold.poll(t0), Decision::Fetch);
    }

    #[test]
    fn invalidate_forces_a_fetch() {
        let t0 = Instant::now();
        let mut cache = TokenCache::new(CachePolicy::default());
        cache.poll(t0);
        cache.fetch_succeeded("a", TEN_MINUTES, t0, 0);
        cache.invalidate();
        assert_eq!(cache.freshness(t0), Freshness::Empty);
        assert_eq!(cache.poll(t0), Decision::Fetch);
    }

    #[test]
    fn short_and_absurd_lifetimes() {
        let t0 = Instant::now();
        let policy = CachePolicy::default();
        // A 60 s token: a 6 s margin (a tenth), refreshed with 20 % (12 s) left.
        assert_eq!(
            policy.schedule(t0, secs(60), 0),
            Schedule { refresh_at: t0 + secs(48), usable_until: t0 + secs(54) }
        );
        // expires_in 0: unusable at once, so every caller waits on a fetch rather than getting a dead token.
        assert_eq!(policy.schedule(t0, Duration::ZERO, 0), Schedule { refresh_at: t0, usable_until: t0 });
        // A year is capped at a day.
        assert_eq!(policy.schedule(t0, secs(365 * 24 * 3600), 0).usable_until, t0 + secs(24 * 3600 - 30));
        // No cap of one's own, and a server that sends u64::MAX seconds: 50 years, no panic.
        let uncapped = policy.with_max_lifetime(Duration::MAX);
        let schedule = uncapped.schedule(t0, Duration::MAX, u64::MAX);
        assert!(schedule.refresh_at > t0 + secs(40 * 365 * 24 * 3600));
        assert!(schedule.refresh_at <= schedule.usable_until);
    }

    #[test]
    fn policy_is_configurable() {
        let policy = CachePolicy::default()
            .with_refresh_percent(50)
            .unwrap()
            .with_expiry_margin(secs(10))
            .with_backoff(secs(2), secs(8))
            .unwrap();
        let t0 = Instant::now();
        assert_eq!(
            policy.schedule(t0, TEN_MINUTES, 0),
            Schedule { refresh_at: t0 + secs(300), usable_until: t0 + secs(590) }
        );
        assert_eq!(policy.wait_after_failure(5, None, u64::MAX), secs(8));
        assert_eq!(policy.backoff(), (secs(2), secs(8)));
        assert!(CachePolicy::default().with_refresh_percent(95).is_err());
        assert!(CachePolicy::default().with_backoff(secs(5), secs(1)).is_err());
    }

    fn any_policy() -> impl Strategy<Value = CachePolicy> {
        let duration = prop_oneof![
            Just(Duration::ZERO),
            Just(Duration::MAX),
            any::<u64>().prop_map(Duration::from_secs),
            any::<u64>().prop_map(Duration::from_nanos),
            (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        ];
        (0u32..=90, duration.clone(), duration.clone(), duration.clone(), duration).prop_map(
            |(percent, margin, initial, extra, max_lifetime)| {
                let initial = initial.max(Duration::from_nanos(1));
                CachePolicy::default()
                    .with_refresh_percent(percent)
                    .unwrap()
                    .with_expiry_margin(margin)
                    .with_backoff(initial, initial.saturating_add(extra))
                    .unwrap()
                    .with_max_lifetime(max_lifetime)
            },
        )
    }

    fn any_expires_in() -> impl Strategy<Value = Duration> {
        prop_oneof![
            Just(Duration::ZERO),
            Just(Duration::MAX),
            any::<u64>().prop_map(Duration::from_secs),
            (0u64..100_000).prop_map(Duration::from_secs),
        ]
    }

    proptest! {
        /// No policy and no server value makes the cache's arithmetic panic, and its deadlines stay in order.
        #[test]
        fn no_policy_and_no_expires_in_panics(
            policy in any_policy(),
            expires_in in any_expires_in(),
            retry_after in proptest::option::of(any_expires_in()),
            failures in any::<u32>(),
            random in any::<u64>(),
        ) {
            let t0 = Instant::now();
            let schedule = policy.schedule(t0, expires_in, random);
            prop_assert!(t0 <= schedule.refresh_at && schedule.refresh_at <= schedule.usable_until);
            let wait = policy.wait_after_failure(failures, retry_after, random);
            prop_assert!(wait <= policy.backoff().1);
            let mut cache = TokenCache::new(policy);
            prop_assert_eq!(cache.poll(t0), Decision::Fetch);
            cache.fetch_succeeded(1, expires_in, t0, random);
            let later = t0 + Duration::from_secs(u64::from(failures % 100_000));
            let _ = cache.poll(later);
            cache.fetch_failed(later, retry_after, random);
            cache.fetch_abandoned(later, random);
            let _ = cache.poll(later);
        }
    }
}
