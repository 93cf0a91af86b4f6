//! The token cache's policy as a plain state machine: time comes in, decisions come out.
//!
//! Like quinn-proto, this holds no lock, spawns nothing and reads no clock. A transport keeps one
//! [`TokenCache`] behind its own synchronisation, asks [`TokenCache::poll`] what to do whenever a caller
//! wants a token, and reports back with [`TokenCache::fetch_succeeded`] or [`TokenCache::fetch_failed`].
//! Because every input is explicit, the policy is tested by stepping time.
//!
//! ```text
//!            fetched                 refresh_at                usable_until        expires_at
//!  ------------|--------- fresh ---------|------ due (refresh) -------|--- unusable ---|-------->
//!                                      (callers keep the token)       (margin for skew and flight)
//! ```

use std::time::{Duration, Instant};

use crate::Error;

/// When cached tokens are refreshed and how failures back off. Defaults: refresh when under 20 % of the
/// lifetime is left, treat as expired 30 s early, back off 1 s doubling to 60 s after failed refreshes, cache
/// a token for at most 24 h whatever `expires_in` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    refresh_percent: u32,
    expiry_margin: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    max_lifetime: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        CachePolicy {
            refresh_percent: 20,
            expiry_margin: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(24 * 3600),
        }
    }
}

impl CachePolicy {
    /// Refresh ahead when less than `percent` % of the token's lifetime is left (0 to 90).
    pub fn refresh_when_remaining_percent(mut self, percent: u32) -> Result<Self, Error> {
        if percent > 90 {
            return Err(Error::InvalidParameter {
                field: "refresh percent",
                reason: format!("{percent} % is above 90 %; tokens would be refreshed almost continuously"),
            });
        }
        self.refresh_percent = percent;
        Ok(self)
    }

    /// Treat tokens as expired this long before `expires_in` runs out (clock skew, time in flight). For
    /// tokens shorter than ten margins, a tenth of the lifetime is used instead, so short tokens keep a
    /// refresh-ahead window.
    pub fn expiry_margin(mut self, margin: Duration) -> Self {
        self.expiry_margin = margin;
        self
    }

    /// After a failed refresh, wait `initial`, doubling up to `max`, before the next background refresh.
    pub fn refresh_backoff(mut self, initial: Duration, max: Duration) -> Result<Self, Error> {
        if initial.is_zero() || max < initial {
            return Err(Error::InvalidParameter {
                field: "refresh backoff",
                reason: "the initial delay must be positive and no larger than the maximum".into(),
            });
        }
        self.backoff_initial = initial;
        self.backoff_max = max;
        Ok(self)
    }

    /// Never cache a token longer than this, whatever `expires_in` says (guards against absurd values).
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// When a token fetched at `now` with `expires_in` becomes due for refresh, and stops being usable.
    pub fn schedule(&self, now: Instant, expires_in: Duration) -> (Instant, Instant) {
        let lifetime = expires_in.min(self.max_lifetime);
        let margin = self.expiry_margin.min(lifetime / 10);
        let ahead = (lifetime * self.refresh_percent / 100).max(margin);
        let expires_at = now.checked_add(lifetime).unwrap_or(now);
        let usable_until = expires_at.checked_sub(margin).unwrap_or(now);
        let refresh_at = expires_at.checked_sub(ahead).unwrap_or(now);
        (refresh_at, usable_until)
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
        self.backoff_initial.saturating_mul(factor).min(self.backoff_max)
    }
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
}

#[derive(Debug, Clone)]
struct Entry<T> {
    value: T,
    refresh_at: Instant,
    usable_until: Instant,
}

/// The cache's state: at most one token, at most one fetch in flight.
#[derive(Debug, Clone)]
pub struct TokenCache<T> {
    policy: CachePolicy,
    entry: Option<Entry<T>>,
    fetching: bool,
    failures: u32,
    next_refresh_attempt: Option<Instant>,
    fetches_ended: u64,
}

impl<T: Clone> TokenCache<T> {
    /// An empty cache.
    pub fn new(policy: CachePolicy) -> Self {
        TokenCache { policy, entry: None, fetching: false, failures: 0, next_refresh_attempt: None, fetches_ended: 0 }
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
                let backing_off = self.next_refresh_attempt.is_some_and(|at| now < at);
                if self.fetching || backing_off {
                    Decision::Use(entry.value.clone())
                } else {
                    self.fetching = true;
                    Decision::UseAndRefresh(entry.value.clone())
                }
            }
            _ if self.fetching => Decision::Wait,
            _ => {
                // With nothing usable, a caller is waiting: fetch now, whatever the refresh backoff says.
                self.fetching = true;
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

    /// How the cached token stands at `now`.
    pub fn freshness(&self, now: Instant) -> Freshness {
        match &self.entry {
            None => Freshness::Empty,
            Some(entry) if now >= entry.usable_until => Freshness::Unusable,
            Some(entry) if now >= entry.refresh_at => Freshness::Due,
            Some(_) => Freshness::Fresh,
        }
    }

    /// When the cached token becomes due for refresh and stops being usable.
    pub fn deadlines(&self) -> Option<(Instant, Instant)> {
        self.entry.as_ref().map(|e| (e.refresh_at, e.usable_until))
    }

    /// Whether a fetch is in flight.
    pub fn is_fetching(&self) -> bool {
        self.fetching
    }

    /// How many fetches have ended (succeeded, failed or abandoned). A waiter that saw [`Decision::Wait`]
    /// notes this number and knows its fetch is over once it changes.
    pub fn fetches_ended(&self) -> u64 {
        self.fetches_ended
    }

    /// Consecutive failed fetches since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The fetch ended with a token valid for `expires_in` from `now`; returns whether it was cached.
    ///
    /// A token that is already unusable when it arrives (`expires_in` of 0, or shorter than the expiry
    /// margin) never replaces one that is still usable: that refresh counts as failed, so the valid token
    /// keeps being served and the next refresh backs off. With nothing usable cached, it is stored anyway
    /// (the caller hands it to whoever waited for this fetch; the next poll fetches again).
    pub fn fetch_succeeded(&mut self, value: T, expires_in: Duration, now: Instant) -> bool {
        let (refresh_at, usable_until) = self.policy.schedule(now, expires_in);
        if usable_until <= now && matches!(self.freshness(now), Freshness::Fresh | Freshness::Due) {
            self.fetch_failed(now, None);
            return false;
        }
        self.entry = Some(Entry { value, refresh_at, usable_until });
        self.fetching = false;
        self.fetches_ended += 1;
        self.failures = 0;
        self.next_refresh_attempt = None;
        true
    }

    /// The fetch failed. A still-usable token is kept; the next background refresh waits for the backoff or
    /// the server's `Retry-After`, whichever is longer.
    pub fn fetch_failed(&mut self, now: Instant, retry_after: Option<Duration>) {
        self.fetching = false;
        self.fetches_ended += 1;
        self.failures = self.failures.saturating_add(1);
        let wait = self.policy.backoff(self.failures).max(retry_after.unwrap_or_default());
        self.next_refresh_attempt = now.checked_add(wait);
    }

    /// The fetcher went away without a result (its task was cancelled): let another caller fetch.
    pub fn fetch_abandoned(&mut self) {
        self.fetching = false;
        self.fetches_ended += 1;
    }

    /// Drops the cached token, e.g. after the API answered 401 to it. The next poll fetches.
    pub fn invalidate(&mut self) {
        self.entry = None;
        self.next_refresh_attempt = None;
    }
}

#[cfg(test)]
mod tests {
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
        cache.fetch_succeeded("a", TEN_MINUTES, t0);
        assert_eq!(cache.poll(t0), Decision::Use("a"));
    }

    #[test]
    fn default_schedule_refreshes_at_80_percent_and_expires_30_s_early() {
        let t0 = Instant::now();
        let mut cache = TokenCache::new(CachePolicy::default());
        assert_eq!(cache.poll(t0), Decision::Fetch);
        cache.fetch_succeeded("a", TEN_MINUTES, t0);
        assert_eq!(cache.deadlines(), Some((t0 + secs(480), t0 + secs(570))));
        assert_eq!(cache.freshness(t0 + secs(479)), Freshness::Fresh);
        assert_eq!(cache.poll(t0 + secs(479)), Decision::Use("a"));
        // At 480 s one caller refreshes; everyone, that caller included, keeps the old token meanwhile.
        assert_eq!(cache.poll(t0 + secs(480)), Decision::UseAndRefresh("a"));
        for step in 481..570 {
            assert_eq!(cache.poll(t0 + secs(step)), Decision::Use("a"));
        }
        // Past the margin nobody gets the old token; they wait for the refresh still in flight.
        assert_eq!(cache.poll(t0 + secs(570)), Decision::Wait);
        cache.fetch_succeeded("b", TEN_MINUTES, t0 + secs(571));
        assert_eq!(cache.poll(t0 + secs(571)), Decision::Use("b"));
    }

    #[test]
    fn failed_refresh_keeps_the_valid_token_and_backs_off() {
        let t0 = Instant::now();
        let mut cache = TokenCache::new(CachePolicy::default());
        cache.poll(t0);
        cache.fetch_succeeded("a", TEN_MINUTES, t0);
        let due = t0 + secs(480);
        assert_eq!(cache.poll(due), Decision::UseAndRefresh("a"));
        cache.fetch_failed(due, None);
        assert_eq!(cache.failures(), 1);
        // Backing off 1 s: the token is still served, no new refresh yet.
        assert_eq!(cache.poll(due + Duration::from_millis(999)), Decision::Use("a"));
        assert_eq!(cache.poll(due + secs(1)), Decision::UseAndRefresh("a"));
        cache.fetch_failed(due + secs(1), None);
        assert_eq!(cache.poll(due + secs(2)), Decision::Use("a"));
        assert_eq!(cache.poll(due + secs(3)), Decision::UseAndRefresh("a"));
        // Retry-After longer than the backoff wins.
        cache.fetch_failed(due + secs(3), Some(secs(30)));
        assert_eq!(cache.poll(due + secs(32)), Decision::Use("a"));
        assert_eq!(cache.poll(due + secs(33)), Decision::UseAndRefresh("a"));
        cache.fetch_succeeded("b", TEN_MINUTES, due + secs(34));
        assert_eq!(cache.failures(), 0);
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let policy = CachePolicy::default();
        let waits: Vec<u64> = (1..=9).map(|n| policy.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(policy.backoff(u32::MAX), secs(60));
    }

    #[test]
    fn a_failed_cold_fetch_lets_the_next_caller_fetch_at_once() {
        let t0 = Instant::now();
        let mut cache = TokenCache::<&str>::new(CachePolicy::default());
        assert_eq!(cache.poll(t0), Decision::Fetch);
        cache.fetch_failed(t0, Some(secs(5)));
        assert_eq!(cache.poll(t0), Decision::Fetch);
        cache.fetch_abandoned();
        assert_eq!(cache.poll(t0), Decision::Fetch);
    }

    #[test]
    fn a_refresh_unusable_on_arrival_keeps_the_valid_token() {
        let t0 = Instant::now();
        let mut cache = TokenCache::new(CachePolicy::default());
        cache.poll(t0);
        assert!(cache.fetch_succeeded("a", TEN_MINUTES, t0));
        let due = t0 + secs(480);
        assert_eq!(cache.poll(due), Decision::UseAndRefresh("a"));
        assert!(!cache.fetch_succeeded("dead", Duration::ZERO, due));
        assert_eq!(cache.failures(), 1);
        assert_eq!(cache.poll(due), Decision::Use("a"), "the valid token is kept and the refresh backs off");
        assert_eq!(cache.poll(due + secs(1)), Decision::UseAndRefresh("a"));
        // With nothing usable cached, an unusable token is still stored (and the next poll fetches again).
        let mut cold = TokenCache::new(CachePolicy::default());
        cold.poll(t0);
        assert!(cold.fetch_succeeded("dead", Duration::ZERO, t0));
        assert_eq!(cold.poll(t0), Decision::Fetch);
    }

    #[test]
    fn every_ended_fetch_is_counted() {
        let t0 = Instant::now();
        let mut cache = TokenCache::<&str>::new(CachePolicy::default());
        assert_eq!(cache.fetches_ended(), 0);
        cache.poll(t0);
        cache.fetch_failed(t0, None);
        cache.poll(t0);
        cache.fetch_abandoned();
        cache.poll(t0);
        cache.fetch_succeeded("a", TEN_MINUTES, t0);
        assert_eq!(cache.fetches_ended(), 3);
    }

    #[test]
    fn invalidate_forces_a_fetch() {
        let t0 = Instant::now();
        let mut cache = TokenCache::new(CachePolicy::default());
        cache.poll(t0);
        cache.fetch_succeeded("a", TEN_MINUTES, t0);
        cache.invalidate();
        assert_eq!(cache.freshness(t0), Freshness::Empty);
        assert_eq!(cache.poll(t0), Decision::Fetch);
    }

    #[test]
    fn short_and_absurd_lifetimes() {
        let t0 = Instant::now();
        let policy = CachePolicy::default();
        // A 60 s token: a 6 s margin (a tenth), refreshed with 20 % (12 s) left.
        assert_eq!(policy.schedule(t0, secs(60)), (t0 + secs(48), t0 + secs(54)));
        // expires_in 0: unusable at once, so every caller waits on a fetch rather than getting a dead token.
        let (refresh_at, usable_until) = policy.schedule(t0, Duration::ZERO);
        assert_eq!((refresh_at, usable_until), (t0, t0));
        // A year is capped at a day.
        let (_, usable_until) = policy.schedule(t0, secs(365 * 24 * 3600));
        assert_eq!(usable_until, t0 + secs(24 * 3600 - 30));
    }

    #[test]
    fn policy_is_configurable() {
        let policy = CachePolicy::default()
            .refresh_when_remaining_percent(50)
            .unwrap()
            .expiry_margin(secs(10))
            .refresh_backoff(secs(2), secs(8))
            .unwrap();
        let t0 = Instant::now();
        assert_eq!(policy.schedule(t0, TEN_MINUTES), (t0 + secs(300), t0 + secs(590)));
        assert_eq!(policy.backoff(5), secs(8));
        assert!(CachePolicy::default().refresh_when_remaining_percent(95).is_err());
        assert!(CachePolicy::default().refresh_backoff(secs(5), secs(1)).is_err());
    }
}
