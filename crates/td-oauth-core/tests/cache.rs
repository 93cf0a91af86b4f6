//! td-oauth-core's cache policy as a custom stack drives it: `TokenCache` elects one fetcher, serves the
//! cached value until it is due, refreshes ahead, backs off after failures; `CachePolicy` schedules it.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use proptest::prelude::*;

use td_oauth_core::cache::{CachePolicy, Decision, Freshness, Schedule, TokenCache};

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
    assert_eq!(policy.schedule(t0, TEN_MINUTES, u64::MAX).usable_until, t0 + secs(570), "the margin is not jittered");
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
    assert_eq!(policy.schedule(t0, secs(60), 0), Schedule { refresh_at: t0 + secs(48), usable_until: t0 + secs(54) });
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
