//! [`ProviderState`]: everything a token provider decides, with time and randomness passed in.

use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::BackoffRule;
use crate::Error;
use crate::cache::CachePolicy;
use crate::cache::{Decision, FetchKind, Freshness, TokenCache};
use crate::telemetry::{HitMeter, Labels};
use crate::{Grant, TokenResponse};

/// A fetch round's number. Rounds are numbered from 1 in the order they begin; a waiter of round `n` is done
/// waiting once a round numbered `n` or later has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Round(pub u64);

/// The current token and when it falls due: all a lock-free warm hit needs. The provider machine says when
/// to publish one ([`Driver::publish`](super::Driver::publish)); the transport keeps it where a read takes no
/// lock.
#[derive(Debug, Clone)]
pub struct Snapshot {
    token: Arc<TokenResponse>,
    refresh_at: Instant,
    meter: HitMeter,
}

impl Snapshot {
    /// The token, if it is not yet due for refresh at `now`: the warm path.
    pub fn fresh_at(&self, now: Instant) -> Option<&Arc<TokenResponse>> {
        if now >= self.refresh_at {
            return None;
        }
        self.meter.hit(now);
        Some(&self.token)
    }

    /// The token.
    pub fn token(&self) -> &Arc<TokenResponse> {
        &self.token
    }

    /// When it falls due for refresh.
    pub fn refresh_at(&self) -> Instant {
        self.refresh_at
    }
}

/// A fetch this caller was elected to run (the machine's half of a [`FetchTicket`](super::FetchTicket)).
#[derive(Debug)]
pub(super) struct Election {
    pub(super) round: Round,
    pub(super) kind: FetchKind,
    pub(super) grant: Grant,
    pub(super) discard: Option<Arc<TokenResponse>>,
    /// What the fleet is told if it fails, and what a fleet's record means before it.
    pub(super) backoff: BackoffRule,
    /// When it was elected, and a random number drawn then: what an abandonment is recorded with, so that
    /// dropping a ticket reads no clock and draws nothing.
    pub(super) at: Instant,
    pub(super) random: u64,
}

/// What [`ProviderState::decide`] says, before the transport's handle is attached.
#[derive(Debug)]
pub(super) enum Decided {
    Ready(Arc<TokenResponse>),
    Refresh(Arc<TokenResponse>, Election),
    Fetch(Election),
    Wait(Round),
    Failed(Error),
}

/// The state behind one token provider, for both transports: the [`TokenCache`], the grant (a rotated
/// refresh token replaces the one it holds), the token a shared cache must be told to drop, the fetch rounds,
/// and the last failure, shared with callers during the backoff that follows it.
///
/// A transport keeps it behind its own lock and reaches it only through the functions of
/// [`provider`](super) and the [`FetchTicket`](super::FetchTicket), which uphold its rules.
pub struct ProviderState {
    cache: TokenCache<Arc<TokenResponse>>,
    grant: Grant,
    discard: Option<Arc<TokenResponse>>,
    /// The last round begun, and the one in flight (`Some` while a fetch runs).
    round: Round,
    in_flight: Option<Round>,
    /// The last failed fetch's error, handed to callers while the cache backs off.
    last_error: Option<Error>,
    labels: Labels,
    /// The cached token's hit meter (see [`telemetry`](crate::telemetry)).
    meter: Option<HitMeter>,
}

impl fmt::Debug for ProviderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No token, no grant: they hold secrets.
        f.debug_struct("ProviderState")
            .field("grant_type", &self.grant.grant_type())
            .field("fetching", &self.cache.fetching())
            .field("failures", &self.cache.failures())
            .field("round", &self.round)
            .finish_non_exhaustive()
    }
}

impl ProviderState {
    /// A provider of `grant` tokens, cached as `policy` says; nothing fetched yet.
    pub fn new(grant: Grant, policy: CachePolicy) -> Self {
        let labels = Labels::new(&grant, "");
        ProviderState {
            cache: TokenCache::new(policy),
            grant,
            discard: None,
            round: Round(0),
            in_flight: None,
            last_error: None,
            labels,
            meter: None,
        }
    }

    /// Names the region of `token_url` in this provider's metrics (without it, `other`).
    pub fn with_token_url(mut self, token_url: &crate::endpoints::EndpointUrl) -> Self {
        self.labels = Labels::new(&self.grant, token_url.url().host_str().unwrap_or_default());
        self
    }

    /// The grant the next fetch uses.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// How the cached token stands at `now`.
    pub fn freshness(&self, now: Instant) -> Freshness {
        self.cache.freshness(now)
    }

    /// The fetch in flight, if any.
    pub fn fetching(&self) -> Option<FetchKind> {
        self.cache.fetching()
    }

    /// The cache, to read.
    pub fn cache(&self) -> &TokenCache<Arc<TokenResponse>> {
        &self.cache
    }

    /// What a caller at `now` does, if a usable token is cached; `None` (and nothing started) otherwise.
    pub(super) fn decide_ready(&mut self, now: Instant, random: impl FnOnce() -> u64) -> Option<Decided> {
        matches!(self.cache.freshness(now), Freshness::Fresh | Freshness::Due).then(|| self.decide(now, random))
    }

    /// What a caller at `now` does. `random` is drawn only when this caller is elected to fetch.
    pub(super) fn decide(&mut self, now: Instant, random: impl FnOnce() -> u64) -> Decided {
        let decision = self.cache.poll(now);
        match (&decision, &self.meter) {
            (Decision::Use(_) | Decision::UseAndRefresh(_), Some(meter)) => meter.hit(now),
            _ => self.labels.missed(),
        }
        match decision {
            Decision::Use(token) => Decided::Ready(token),
            Decision::UseAndRefresh(token) => Decided::Refresh(token, self.elect(FetchKind::Refresh, now, random())),
            Decision::Fetch => Decided::Fetch(self.elect(FetchKind::Cold, now, random())),
            Decision::Wait => Decided::Wait(self.round),
            Decision::Backoff => match &self.last_error {
                Some(error) => Decided::Failed(error.clone()),
                // Unreachable (a backoff follows a recorded failure); fetching is the safe answer.
                None => {
                    self.cache.invalidate();
                    self.decide(now, random)
                }
            },
        }
    }

    fn elect(&mut self, kind: FetchKind, now: Instant, random: u64) -> Election {
        self.round = Round(self.round.0.saturating_add(1));
        self.in_flight = Some(self.round);
        Election {
            round: self.round,
            kind,
            grant: self.grant.clone(),
            discard: self.discard.take(),
            backoff: BackoffRule::new(self.cache.policy().clone(), self.cache.failures()),
            at: now,
            random,
        }
    }

    /// Records the end of `round` at `now`: caches the token (and publishes its snapshot with `publish`), or
    /// records the failure. Returns whether the token was cached. Nothing happens for a round that is not the
    /// one in flight.
    pub(super) fn end(
        &mut self,
        round: Round,
        outcome: &Result<Arc<TokenResponse>, Error>,
        now: Instant,
        wall: SystemTime,
        random: u64,
        publish: impl FnOnce(Option<Snapshot>),
    ) -> bool {
        if self.in_flight != Some(round) {
            return false;
        }
        self.in_flight = None;
        match outcome {
            Ok(token) => {
                let cached = self.cache.fetch_succeeded(Arc::clone(token), token.expires_in(), now, random);
                if cached {
                    let meter = self.labels.hit_meter(token.expires_at());
                    meter.lifetime(now);
                    self.meter = Some(meter.clone());
                    let usable = self.cache.schedule().filter(|s| s.usable_until > now);
                    publish(usable.map(|s| Snapshot { token: Arc::clone(token), refresh_at: s.refresh_at, meter }));
                } else {
                    tracing::warn!(
                        expires_in = token.expires_in().as_secs(),
                        "the refreshed token is unusable on arrival; keeping the valid one"
                    );
                }
                self.follow_refresh_token(token);
                self.last_error = None;
                cached
            }
            // Not this provider's failure: it holds as long as the fleet does (see `backoff`).
            Err(error @ Error::FleetBackoff { retry_after, .. }) => {
                self.cache.fetch_held(now, *retry_after);
                self.last_error = Some(error.clone());
                false
            }
            Err(error) => {
                self.cache.fetch_failed(now, error.retry_after().map(|r| r.delay_from(wall)), random);
                self.last_error = Some(error.clone());
                false
            }
        }
    }

    /// After a token that came with a refresh token, the next fetch uses it: a server that rotates refresh
    /// tokens has already invalidated the old one, and an authorization code works once.
    fn follow_refresh_token(&mut self, token: &TokenResponse) {
        let Some(refresh_token) = token.refresh_token() else { return };
        let scopes = match &self.grant {
            Grant::RefreshToken { scopes, .. } => scopes.clone(),
            Grant::AuthorizationCode { .. } => crate::Scopes::none(),
            Grant::ClientCredentials { .. } => return,
        };
        self.grant = Grant::refresh_token(refresh_token.clone(), scopes);
        self.labels = self.labels.with_grant(&self.grant);
    }

    /// The fetcher of `round` went away without a result.
    pub(super) fn abandon(&mut self, round: Round, at: Instant, random: u64) {
        if self.in_flight == Some(round) {
            self.in_flight = None;
            self.cache.fetch_abandoned(at, random);
        }
    }

    /// Gives back an election whose fetch never started (nothing was sent): no backoff.
    pub(super) fn release(&mut self, election: &Election) {
        if self.in_flight == Some(election.round) {
            self.in_flight = None;
            self.cache.fetch_released();
            if self.discard.is_none() {
                self.discard.clone_from(&election.discard);
            }
        }
    }

    /// Drops the cached token (or only `token`, if given and it is not the cached one, nothing) and the
    /// backoff; the next fetch tells a shared cache to drop it too. Returns whether a token was dropped.
    pub(super) fn invalidate(&mut self, only: Option<&Arc<TokenResponse>>) -> bool {
        let current = self.cache.current();
        if only.is_some_and(|token| !current.is_some_and(|current| current.is_same_token(token))) {
            return false;
        }
        let dropped = current.cloned();
        self.cache.invalidate();
        self.last_error = None;
        let was_cached = dropped.is_some();
        if dropped.is_some() {
            self.discard = dropped;
        }
        was_cached
    }
}
