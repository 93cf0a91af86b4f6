//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): what the provider
//! machine and the retry loop do, recorded where they do it, so that both transports emit the same.
//! Install any `metrics` recorder (Prometheus, StatsD, …) to collect them; without the feature, or without
//! a recorder, nothing is recorded.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | [`FETCHES`] | counter | grant, region, outcome | token fetches that ended (after their retries) |
//! | [`FETCH_SECONDS`] | histogram | grant, region, outcome | how long a fetch took, retries and backoff included |
//! | [`RETRIES`] | counter | grant, region | retries of a token request |
//! | [`CACHE_HITS`] | counter | grant, region | tokens handed out from a provider's cache |
//! | [`CACHE_MISSES`] | counter | grant, region | calls that found no usable token (they fetched, waited for a fetch, or got its error) |
//! | [`TOKEN_REMAINING_SECONDS`] | gauge | grant, region | the cached token's remaining lifetime, as of the last hit or fetch |
//! | [`CLOCK_OFFSET_SECONDS`] | gauge | grant, region | the token endpoint's clock minus this machine's, as estimated from its last answer's `Date` (see [`clock::offset`](crate::clock::offset)) |
//!
//! Labels are of low cardinality only: `grant` is the grant type (`client_credentials`, …), `region` the
//! Talkdesk region of the token URL (`us`, `eu`, `ca`, `au`, or `other`), `outcome` `success` or the kind
//! of failure (see [`outcome`]). No account name, client id or scope list is ever a label.

use std::time::{Duration, Instant};

use crate::Error;
use crate::{Grant, Region, TokenResponse};

/// Counter: token fetches that ended, by outcome.
pub const FETCHES: &str = "td_oauth_token_fetches_total";
/// Histogram (seconds): how long a fetch took, from its first attempt to its end.
pub const FETCH_SECONDS: &str = "td_oauth_token_fetch_duration_seconds";
/// Counter: token requests retried.
pub const RETRIES: &str = "td_oauth_token_fetch_retries_total";
/// Counter: tokens handed out from a provider's cache.
pub const CACHE_HITS: &str = "td_oauth_token_cache_hits_total";
/// Counter: calls that found no usable token cached.
pub const CACHE_MISSES: &str = "td_oauth_token_cache_misses_total";
/// Gauge (seconds): the cached token's remaining lifetime.
pub const TOKEN_REMAINING_SECONDS: &str = "td_oauth_token_remaining_seconds";
/// Gauge (seconds): the token endpoint's clock minus this machine's (positive: this machine is behind).
pub const CLOCK_OFFSET_SECONDS: &str = "td_oauth_clock_offset_seconds";

/// The `outcome` label of a fetch's result: `success`, or `oauth_error`, `unexpected_status`, `malformed`,
/// `transport`, `timeout`, `tls`, `too_large`, `redirected`, `config`.
pub fn outcome(result: &Result<TokenResponse, Error>) -> &'static str {
    use crate::response::ResponseError;
    match result {
        Ok(_) => "success",
        Err(Error::Response(ResponseError::OAuth(_))) => "oauth_error",
        Err(Error::Response(ResponseError::UnexpectedStatus { .. })) => "unexpected_status",
        Err(Error::Response(_)) => "malformed",
        Err(Error::Transport { .. }) => "transport",
        Err(Error::Timeout { .. }) => "timeout",
        Err(Error::Tls { .. }) => "tls",
        Err(Error::ResponseTooLarge { .. }) => "too_large",
        Err(Error::Redirected { .. }) => "redirected",
        Err(_) => "config",
    }
}

/// The `region` label of a token URL's host: the Talkdesk region whose identity domain it is under.
pub fn region(host: &str) -> &'static str {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    [(Region::Us, "us"), (Region::Eu, "eu"), (Region::Ca, "ca"), (Region::Au, "au")]
        .into_iter()
        .find(|(region, _)| {
            let domain = region.identity_domain();
            host == domain || host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
        })
        .map_or("other", |(_, label)| label)
}

/// The labels every metric of one provider or fetch carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Labels {
    grant: &'static str,
    region: &'static str,
}

impl Labels {
    pub(crate) fn new(grant: &Grant, host: &str) -> Self {
        Labels { grant: grant.grant_type(), region: region(host) }
    }

    /// The same labels for `grant` (a provider whose grant turned into a refresh-token grant).
    pub(crate) fn with_grant(self, grant: &Grant) -> Self {
        Labels { grant: grant.grant_type(), ..self }
    }

    /// A fetch ended with `result` after `took`.
    pub(crate) fn fetch_ended(self, result: &Result<TokenResponse, Error>, took: Duration) {
        #[cfg(feature = "metrics")]
        {
            let (grant, region, outcome) = (self.grant, self.region, outcome(result));
            metrics::counter!(FETCHES, "grant" => grant, "region" => region, "outcome" => outcome).increment(1);
            metrics::histogram!(FETCH_SECONDS, "grant" => grant, "region" => region, "outcome" => outcome)
                .record(took.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (self, result, took);
    }

    /// A token request is retried.
    pub(crate) fn retried(self) {
        #[cfg(feature = "metrics")]
        metrics::counter!(RETRIES, "grant" => self.grant, "region" => self.region).increment(1);
        #[cfg(not(feature = "metrics"))]
        let _ = self;
    }

    /// The token endpoint's clock offset was estimated anew.
    pub(crate) fn clock_offset(self, offset: crate::clock::ClockOffset) {
        #[cfg(feature = "metrics")]
        {
            // Milliseconds to seconds: exact enough for a gauge (f64 holds 2^53 ms exactly).
            #[allow(clippy::cast_precision_loss)]
            let seconds = offset.as_millis() as f64 / 1000.0;
            metrics::gauge!(CLOCK_OFFSET_SECONDS, "grant" => self.grant, "region" => self.region).set(seconds);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (self, offset);
    }

    /// A call found no usable token.
    pub(crate) fn missed(self) {
        #[cfg(feature = "metrics")]
        metrics::counter!(CACHE_MISSES, "grant" => self.grant, "region" => self.region).increment(1);
        #[cfg(not(feature = "metrics"))]
        let _ = self;
    }

    /// The handles a cached token's hits record with, registered once per token so that a warm hit looks
    /// nothing up.
    pub(crate) fn hit_meter(self, expires_at: Instant) -> HitMeter {
        #[cfg(feature = "metrics")]
        {
            HitMeter {
                hits: metrics::counter!(CACHE_HITS, "grant" => self.grant, "region" => self.region),
                remaining: metrics::gauge!(TOKEN_REMAINING_SECONDS, "grant" => self.grant, "region" => self.region),
                expires_at,
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (self, expires_at);
            HitMeter {}
        }
    }
}

/// What a cache hit records: a hit, and the token's remaining lifetime.
#[derive(Debug, Clone)]
pub(crate) struct HitMeter {
    #[cfg(feature = "metrics")]
    hits: metrics::Counter,
    #[cfg(feature = "metrics")]
    remaining: metrics::Gauge,
    #[cfg(feature = "metrics")]
    expires_at: Instant,
}

impl HitMeter {
    /// The token was handed out at `now` (also what a fresh token records on arrival).
    pub(crate) fn hit(&self, now: Instant) {
        #[cfg(feature = "metrics")]
        {
            self.hits.increment(1);
            self.lifetime(now);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = now;
    }

    /// Records the remaining lifetime at `now`.
    pub(crate) fn lifetime(&self, now: Instant) {
        #[cfg(feature = "metrics")]
        self.remaining.set(self.expires_at.saturating_duration_since(now).as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_come_from_the_identity_domain() {
        assert_eq!(region("acme.talkdeskid.com"), "us");
        assert_eq!(region("ACME.talkdeskid.eu."), "eu");
        assert_eq!(region("acme.talkdeskidca.com"), "ca");
        assert_eq!(region("acme.talkdeskid.au"), "au");
        assert_eq!(region("talkdeskid.com"), "us");
        assert_eq!(region("eviltalkdeskid.com"), "other");
        assert_eq!(region("127.0.0.1"), "other");
    }
}
