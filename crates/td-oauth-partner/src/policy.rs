//! [`TokenManagerPolicy`]: the token manager's settings.

use std::time::Duration;

use td_oauth_core::Error;

/// The token managers' settings.
///
/// | setting | default |
/// |---|---|
/// | [`max_providers`](Self::max_providers): providers kept at once (least recently used evicted) | 10 000 |
/// | [`idle_timeout`](Self::idle_timeout): a provider unused this long is dropped | 30 min |
/// | [`grace`](Self::grace): how long old credentials serve as a fallback after a routine rotation | 7 days |
/// | [`retry_rotated_after`](Self::retry_rotated_after): after the new credentials were refused, use the old ones this long before trying the new ones again | 60 s |
///
/// ```
/// use std::time::Duration;
/// use td_oauth_partner::TokenManagerPolicy;
///
/// let policy = TokenManagerPolicy::default().with_max_providers(500)?.with_idle_timeout(Duration::from_secs(600))?;
/// assert_eq!(policy.max_providers(), 500);
/// # Ok::<(), td_oauth_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenManagerPolicy {
    max_providers: usize,
    idle_timeout: Duration,
    grace: Duration,
    retry_rotated_after: Duration,
}

impl Default for TokenManagerPolicy {
    fn default() -> Self {
        TokenManagerPolicy {
            max_providers: 10_000,
            idle_timeout: Duration::from_secs(30 * 60),
            grace: Duration::from_secs(7 * 24 * 3600),
            retry_rotated_after: Duration::from_secs(60),
        }
    }
}

impl TokenManagerPolicy {
    /// Keep at most `max` providers (one per account, credential set and scopes); when full, the least
    /// recently used is dropped, and its next use costs one token request. Must be at least 1.
    pub fn with_max_providers(mut self, max: usize) -> Result<Self, Error> {
        if max == 0 {
            return Err(Error::InvalidParameter {
                field: "max providers",
                reason: "0 would keep no token at all; use at least 1 (the default is 10 000)".into(),
            });
        }
        self.max_providers = max;
        Ok(self)
    }

    /// Drop providers unused for this long (their cached token goes with them). Must not be zero.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Result<Self, Error> {
        if timeout.is_zero() {
            return Err(Error::InvalidParameter {
                field: "idle timeout",
                reason: "zero would drop every token as soon as it is fetched; use a positive duration".into(),
            });
        }
        self.idle_timeout = timeout;
        Ok(self)
    }

    /// How long, after a routine rotation, the previous credentials may stand in for refused new ones.
    /// Talkdesk keeps old credentials valid for seven days; zero disables the fallback.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// After the new credentials were refused with `invalid_client`, how long to use the previous ones
    /// before trying the new ones again (they may not have propagated yet). Must not be zero.
    pub fn with_retry_rotated_after(mut self, delay: Duration) -> Result<Self, Error> {
        if delay.is_zero() {
            return Err(Error::InvalidParameter {
                field: "retry rotated after",
                reason: "zero would retry the refused credentials on every call; use a positive duration".into(),
            });
        }
        self.retry_rotated_after = delay;
        Ok(self)
    }

    /// The most providers kept at once.
    pub fn max_providers(&self) -> usize {
        self.max_providers
    }

    /// How long an unused provider is kept.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// How long previous credentials may stand in after a routine rotation.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// How long a fallback to the previous credentials lasts before the new ones are tried again.
    pub fn retry_rotated_after(&self) -> Duration {
        self.retry_rotated_after
    }
}
