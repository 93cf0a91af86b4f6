//! When to retry a failed token request, and how long to wait: exponential backoff with full jitter,
//! `Retry-After` honoured, a cap on attempts and a total deadline.
//!
//! Pure arithmetic: the transports pass in what happened, how long they have been at it and a random
//! number, and sleep for what comes back.

use std::time::Duration;

use crate::Error;
use crate::response::ResponseError;

/// Retry settings. Defaults: 3 retries after the first try, backoff from 200 ms doubling up to 5 s with full
/// jitter, all attempts within 30 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
        }
    }
}

/// What went wrong with one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The request may not have reached the server, or the answer was lost: connection refused or reset,
    /// timeout, truncated body. Token requests are safe to repeat (each carries a fresh assertion).
    Transport,
    /// The server answered; retry only if [`Error::is_retryable`] (5xx, 429, `temporarily_unavailable`).
    Answer {
        /// Whether the answer is worth retrying.
        retryable: bool,
        /// How long the server asked us to wait, if it did.
        retry_after: Option<Duration>,
    },
    /// Anything else (bad configuration, a response too large, a malformed success): never retried.
    Permanent,
}

impl Failure {
    /// Classifies the token endpoint's answer; `now` resolves an HTTP-date `Retry-After`.
    pub fn from_answer(error: &ResponseError, now: std::time::SystemTime) -> Self {
        Failure::Answer { retryable: error.is_retryable(), retry_after: error.retry_after().map(|r| r.delay_from(now)) }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy { max_retries: 0, ..RetryPolicy::default() }
    }

    /// Retries after the first attempt (0 disables retrying).
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The retry limit.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The backoff before the first retry, doubling each time up to `max`; the actual wait is uniformly
    /// random between zero and that ("full jitter"), so many clients do not retry in step.
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Result<Self, Error> {
        if initial.is_zero() || max < initial {
            return Err(Error::InvalidParameter {
                field: "retry backoff",
                reason: "the initial delay must be positive and no larger than the maximum".into(),
            });
        }
        self.initial_backoff = initial;
        self.max_backoff = max;
        Ok(self)
    }

    /// The backoff before the first retry and the most it doubles to.
    pub fn backoff(&self) -> (Duration, Duration) {
        (self.initial_backoff, self.max_backoff)
    }

    /// The time all attempts together may take; no retry starts that would wait past it, and no attempt
    /// runs past it.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The total deadline.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// After `attempts` attempts (1 after the first) have failed, the last with `failure`, `elapsed` since the
    /// first began: how long to wait before the next, or `None` to give up. `random` is any uniformly random
    /// number (the jitter: 0 waits least, `u64::MAX` the whole ceiling).
    pub fn next_delay(&self, attempts: u32, failure: Failure, elapsed: Duration, random: u64) -> Option<Duration> {
        let retry_after = match failure {
            Failure::Permanent | Failure::Answer { retryable: false, .. } => return None,
            Failure::Transport => None,
            Failure::Answer { retry_after, .. } => retry_after,
        };
        if attempts > self.max_retries {
            return None;
        }
        let exponent = attempts.saturating_sub(1).min(20);
        let ceiling = self.initial_backoff.saturating_mul(1 << exponent).min(self.max_backoff);
        let delay = crate::cache::fraction(ceiling, random).max(retry_after.unwrap_or_default());
        // A wait that would end past the deadline is pointless: give up now and report the last error.
        (elapsed.saturating_add(delay) < self.deadline).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn retry_after(secs: u64) -> Failure {
        Failure::Answer { retryable: true, retry_after: Some(Duration::from_secs(secs)) }
    }

    #[test]
    fn full_jitter_stays_under_the_doubling_ceiling() {
        let policy = RetryPolicy::default();
        for (attempt, ceiling) in [(1, 200), (2, 400), (3, 800)] {
            for random in [0, 1, 12_345, 99_999_999_999, u64::MAX / 2] {
                let delay = policy.next_delay(attempt, Failure::Transport, MS(0), random).unwrap();
                assert!(delay <= MS(ceiling), "{attempt}: {delay:?}");
            }
            assert_eq!(policy.next_delay(attempt, Failure::Transport, MS(0), 0), Some(MS(0)));
            assert_eq!(policy.next_delay(attempt, Failure::Transport, MS(0), u64::MAX), Some(MS(ceiling)));
        }
        assert_eq!(policy.next_delay(4, Failure::Transport, MS(0), 0), None, "3 retries, then give up");
    }

    #[test]
    fn backoff_is_capped() {
        let policy = RetryPolicy::default().with_max_retries(30).with_deadline(Duration::from_secs(3600));
        let delay = policy.next_delay(25, Failure::Transport, MS(0), u64::MAX).unwrap();
        assert!(delay <= Duration::from_secs(5));
    }

    #[test]
    fn retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.next_delay(1, retry_after(1), MS(0), 0), Some(Duration::from_secs(1)));
        // Longer than the deadline allows: give up at once rather than sleep in vain.
        assert_eq!(policy.next_delay(1, retry_after(40), MS(0), 0), None);
        assert_eq!(policy.next_delay(1, retry_after(10), Duration::from_secs(25), 0), None);
    }

    #[test]
    fn non_retryable_answers_are_never_retried() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.next_delay(1, Failure::Answer { retryable: false, retry_after: None }, MS(0), 0), None);
        assert_eq!(policy.next_delay(1, Failure::Permanent, MS(0), 0), None);
        assert_eq!(RetryPolicy::none().next_delay(1, Failure::Transport, MS(0), 0), None);
    }

    #[test]
    fn classifies_core_errors() {
        let now = std::time::SystemTime::now();
        let invalid_client = ResponseError::OAuth(crate::oauth_error::OAuthError {
            code: crate::ErrorCode::InvalidClient,
            description: None,
            status: http::StatusCode::UNAUTHORIZED,
            retry_after: None,
            clock_offset: None,
        });
        assert_eq!(Failure::from_answer(&invalid_client, now), Failure::Answer { retryable: false, retry_after: None });
        let busy = ResponseError::UnexpectedStatus {
            status: http::StatusCode::TOO_MANY_REQUESTS,
            detail: String::new(),
            retry_after: Some(crate::oauth_error::RetryAfter::Delay(Duration::from_secs(2))),
        };
        assert_eq!(Failure::from_answer(&busy, now), retry_after(2));
    }
}
