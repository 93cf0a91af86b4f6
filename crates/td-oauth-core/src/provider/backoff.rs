//! The backoff a fleet shares: when the token endpoint refuses one process, the others wait it out instead of
//! each sending its own request. The rule is here, once; a shared cache (td-oauth-redis) only stores and reads
//! the [`SharedBackoff`] records a [`BackoffRule`] makes and judges.
//!
//! - **What is shared**: a fetch that failed with a retryable error, at once when the endpoint refused the
//!   client outright (a 429, or any answer with `Retry-After`), and from the provider's second consecutive
//!   failed fetch for the others (5xx, `temporarily_unavailable`, the endpoint unreachable or timing out):
//!   one failed fetch may be this host's own trouble, and it was retried already. Errors that are no reason
//!   to wait (`invalid_client`, a configuration error) and a fleet's backoff read from the cache are never
//!   shared.
//! - **How long**: the same wait the provider's own backoff is drawn under
//!   ([`CachePolicy::backoff_ceiling`]): the doubling backoff, lengthened to the server's `Retry-After`, and
//!   never more than the backoff's maximum (60 s by default), whatever the server asked.
//! - **Who waits**: every provider sharing the cache, before it would send a request (a cold fetch or a
//!   refresh ahead of expiry), gets [`Error::FleetBackoff`] with the time left instead, capped again at its
//!   own backoff's maximum. A token shared with the fleet is served as usual: a record only stops requests.
//! - **With the local backoff**: a provider that gets a fleet's backoff holds exactly the time left
//!   ([`TokenCache::fetch_held`](crate::cache::TokenCache::fetch_held)): its callers get the same error
//!   meanwhile, a usable token it has is kept (and its refresh waits), and, as the refusal was not its own,
//!   its own backoff does not grow, so it is back when the fleet is. The refused process backs off as after
//!   any failure (its jittered wait is drawn under the same ceiling); when it comes back early, it finds the
//!   record and holds for the rest.
//! - **Cleared** when a token is stored for the fleet (the shared cache's part), or when it runs out.

use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::Error;
use crate::cache::CachePolicy;
use crate::response::ResponseError;

/// From which consecutive failed fetch of a provider a failure with no `Retry-After` (and no 429) is shared.
const SHARED_FROM_FAILURE: u32 = 2;

/// A refusal recorded for every process sharing a token: no token request until `until` (a wall-clock time,
/// as hosts share it). Holds nothing secret: the time, and the HTTP status the refusal came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedBackoff {
    until: SystemTime,
    status: Option<u16>,
}

impl SharedBackoff {
    /// A record of a refusal answered with `status` (`None`: the endpoint could not be reached) that lasts
    /// until `until`: what a shared cache reads back.
    pub fn new(until: SystemTime, status: Option<u16>) -> Self {
        SharedBackoff { until, status }
    }

    /// When the wait is over.
    pub fn until(&self) -> SystemTime {
        self.until
    }

    /// The HTTP status the refused process was answered with, if it got an answer.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// How much of the wait is left at `wall` (zero once it is over).
    pub fn remaining(&self, wall: SystemTime) -> Duration {
        self.until.duration_since(wall).unwrap_or_default()
    }
}

/// The fleet's backoff rule for one fetch round: what to record after it fails, and what a record found
/// before it means. The provider machine makes one per round
/// ([`FetchTicket::backoff_rule`](super::FetchTicket::backoff_rule)) from its policy and its failures so far;
/// a transport hands it to its shared cache with the fetch (`SharedCache::fetch_with_backoff` in
/// td-oauth-reqwest and td-oauth-ureq).
///
/// A cache that shares failures asks, before sending a token request, what a refusal the fleet recorded
/// means ([`refused`](Self::refused): an error instead of a request while it lasts), and after a request
/// failed, what to record for the others ([`after_failure`](Self::after_failure)); a token stored for the
/// fleet clears the record. The rule is here; the cache only stores and reads the records. A cache that
/// shares nothing ignores the rule, and each process backs off alone.
#[derive(Debug, Clone)]
pub struct BackoffRule {
    policy: CachePolicy,
    /// The provider's consecutive failed fetches before this round.
    failures: u32,
}

impl BackoffRule {
    /// The rule for a round of a provider cached as `policy`, after `failures` consecutive failed fetches.
    pub fn new(policy: CachePolicy, failures: u32) -> Self {
        BackoffRule { policy, failures }
    }

    /// The error to return instead of sending a request, when the fleet recorded `recorded` and it is not
    /// over at `wall`: [`Error::FleetBackoff`] with the time left, never more than this provider's longest
    /// backoff (a record that claims more, from a process configured otherwise or a skewed clock, does not
    /// hold this one longer). `None`: go ahead.
    pub fn refused(&self, recorded: &SharedBackoff, wall: SystemTime) -> Option<Error> {
        let left = recorded.remaining(wall).min(self.policy.backoff().1);
        (!left.is_zero()).then_some(Error::FleetBackoff { status: recorded.status, retry_after: left })
    }

    /// What to record for the fleet after this round's request failed with `error` at `wall`, if anything
    /// (see the [module](self) for the rule). The record's wait is also how long a store should keep it.
    pub fn after_failure(&self, error: &Error, wall: SystemTime) -> Option<(SharedBackoff, Duration)> {
        if !error.is_retryable() || matches!(error, Error::FleetBackoff { .. }) {
            return None;
        }
        let status = match error {
            Error::Response(response) => Some(status_of(response)),
            _ => None,
        };
        let retry_after = error.retry_after().map(|retry_after| retry_after.delay_from(wall));
        let failures = self.failures.saturating_add(1);
        let refused_outright = retry_after.is_some() || status == Some(StatusCode::TOO_MANY_REQUESTS);
        if !refused_outright && failures < SHARED_FROM_FAILURE {
            return None;
        }
        let wait = self.policy.backoff_ceiling(failures, retry_after);
        let until = wall.checked_add(wait)?;
        (!wait.is_zero()).then_some((SharedBackoff { until, status: status.map(|s| s.as_u16()) }, wait))
    }
}

fn status_of(error: &ResponseError) -> StatusCode {
    match error {
        ResponseError::OAuth(err) => err.status(),
        ResponseError::Malformed { status, .. } | ResponseError::UnexpectedStatus { status, .. } => *status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth_error::RetryAfter;

    const SECS: fn(u64) -> Duration = Duration::from_secs;

    fn answer(status: u16, retry_after: Option<RetryAfter>) -> Error {
        Error::Response(ResponseError::UnexpectedStatus {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            detail: String::new(),
            retry_after,
        })
    }

    fn unreachable() -> Error {
        Error::Transport { url: "https://acme.talkdeskid.com/oauth/token".into(), reason: "refused".into() }
    }

    fn policy(max: u64) -> CachePolicy {
        CachePolicy::default().with_backoff(SECS(1), SECS(max)).unwrap_or_default()
    }

    #[test]
    fn a_429_with_retry_after_is_shared_at_once_for_the_time_asked() {
        let wall = SystemTime::UNIX_EPOCH + SECS(1_000_000);
        let rule = BackoffRule::new(policy(60), 0);
        let (record, wait) = rule.after_failure(&answer(429, Some(RetryAfter::Delay(SECS(7)))), wall).unwrap();
        assert_eq!((record.until(), record.status(), wait), (wall + SECS(7), Some(429), SECS(7)));
        // An HTTP date counts from `wall`.
        let at = RetryAfter::At(wall + SECS(20));
        assert_eq!(rule.after_failure(&answer(503, Some(at)), wall).unwrap().1, SECS(20));
        // A 429 without Retry-After: the backoff's first step.
        assert_eq!(rule.after_failure(&answer(429, None), wall).unwrap().1, SECS(1));
    }

    #[test]
    fn retry_after_beyond_the_maximum_backoff_is_capped() {
        let wall = SystemTime::UNIX_EPOCH + SECS(1_000_000);
        let rule = BackoffRule::new(policy(3), 0);
        let (record, wait) = rule.after_failure(&answer(429, Some(RetryAfter::Delay(SECS(3600)))), wall).unwrap();
        assert_eq!((record.until(), wait), (wall + SECS(3), SECS(3)));
        let huge = RetryAfter::Delay(Duration::MAX);
        assert_eq!(rule.after_failure(&answer(429, Some(huge)), wall).unwrap().1, SECS(3));
    }

    #[test]
    fn other_failures_are_shared_from_the_second_in_a_row() {
        let wall = SystemTime::UNIX_EPOCH + SECS(1_000_000);
        for error in [answer(500, None), answer(503, None), unreachable()] {
            assert_eq!(BackoffRule::new(policy(60), 0).after_failure(&error, wall), None, "{error}");
            let (record, wait) = BackoffRule::new(policy(60), 1).after_failure(&error, wall).unwrap();
            assert_eq!(wait, SECS(2), "the backoff after the second failure: {error}");
            assert_eq!(record.until(), wall + SECS(2));
            let (_, wait) = BackoffRule::new(policy(60), 30).after_failure(&error, wall).unwrap();
            assert_eq!(wait, SECS(60), "capped: {error}");
        }
        let (record, _) = BackoffRule::new(policy(60), 1).after_failure(&unreachable(), wall).unwrap();
        assert_eq!(record.status(), None);
    }

    #[test]
    fn refusals_that_are_no_reason_to_wait_and_the_fleets_own_are_not_shared() {
        let wall = SystemTime::UNIX_EPOCH + SECS(1_000_000);
        let rule = BackoffRule::new(policy(60), 5);
        let invalid_client = Error::Response(ResponseError::OAuth(crate::OAuthError {
            code: crate::ErrorCode::InvalidClient,
            description: None,
            status: StatusCode::UNAUTHORIZED,
            retry_after: Some(RetryAfter::Delay(SECS(5))),
            clock_offset: None,
        }));
        assert_eq!(rule.after_failure(&invalid_client, wall), None);
        assert_eq!(rule.after_failure(&answer(400, None), wall), None);
        let fleet = Error::FleetBackoff { status: Some(429), retry_after: SECS(5) };
        assert_eq!(rule.after_failure(&fleet, wall), None);
        assert_eq!(rule.after_failure(&Error::Config { reason: "bad".into() }, wall), None);
    }

    #[test]
    fn a_fleet_hold_lasts_the_time_left_and_is_not_a_failure() {
        use crate::cache::{Decision, TokenCache};
        let mut cache = TokenCache::<u32>::new(CachePolicy::default());
        let t = std::time::Instant::now();
        assert_eq!(cache.poll(t), Decision::Fetch);
        cache.fetch_held(t, SECS(5));
        assert_eq!(cache.failures(), 0, "the fleet's refusal is not this provider's failure");
        assert_eq!(cache.poll(t + SECS(4)), Decision::Backoff);
        assert_eq!(cache.poll(t + SECS(5)), Decision::Fetch, "back when the fleet is");
        // With a usable token: it is kept, and its refresh waits.
        cache.fetch_succeeded(7, SECS(100), t + SECS(5), 0);
        let due = t + SECS(90);
        assert_eq!(cache.poll(due), Decision::UseAndRefresh(7));
        cache.fetch_held(due, SECS(3));
        assert_eq!(cache.poll(due + SECS(1)), Decision::Use(7));
        assert_eq!(cache.poll(due + SECS(3)), Decision::UseAndRefresh(7));
    }

    #[test]
    fn a_record_holds_requests_for_the_time_left_and_no_longer_than_the_readers_maximum() {
        let wall = SystemTime::UNIX_EPOCH + SECS(1_000_000);
        let record = SharedBackoff::new(wall + SECS(10), Some(429));
        let rule = BackoffRule::new(policy(60), 0);
        let error = rule.refused(&record, wall + SECS(4)).unwrap();
        assert!(error.is_retryable());
        assert_eq!(error.retry_after(), Some(RetryAfter::Delay(SECS(6))));
        assert!(matches!(error, Error::FleetBackoff { status: Some(429), .. }));
        assert!(error.to_string().contains("HTTP 429") && error.to_string().contains("6000 ms"), "{error}");
        assert!(rule.refused(&record, wall + SECS(10)).is_none(), "over");
        assert!(rule.refused(&record, wall + SECS(11)).is_none());
        let far = SharedBackoff::new(wall + SECS(86_400), None);
        let capped = BackoffRule::new(policy(3), 0).refused(&far, wall).unwrap();
        assert_eq!(capped.retry_after(), Some(RetryAfter::Delay(SECS(3))));
        assert!(capped.to_string().contains("kept failing"), "{capped}");
    }
}
