//! The token provider's behaviour, as one table of cases both transports run: refresh ahead, a failed
//! refresh keeping the valid token, expiry, invalidation and rejection, the total deadline, refresh-token
//! rotation, the herd, cancellation, a failing endpoint not hammered by its own callers, and a panic while a
//! fetch's outcome is recorded.
//!
//! Time is stepped, not slept: a [`Subject`] runs its provider on a clock it can [advance](Subject::advance)
//! (td-oauth-core's `ManualClock::running`, which also moves with real time, since sockets and timeouts are
//! real), so a case jumps ten minutes ahead in a call. A delay injected into the server, which makes callers
//! overlap, is the only waiting.
//!
//! Like the fault [`matrix`](crate::matrix), the cases are written here in the testkit's terms; a transport's
//! test supplies a [`Subject`] and runs [`cases`] with [`Case::check`] (async) or [`Case::check_blocking`],
//! then hands the results to [`report`](crate::matrix::report). A case a transport cannot run is skipped by
//! its [`Subject`] with the reason (see [`Subject::cancel_after`]).

mod cases;

use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::TestServer;
use crate::matrix::Kind;

/// How long one attempt may take: what a subject's per-attempt and connect timeouts must be. Generous, so
/// that a loaded machine is not taken for a slow server.
pub const ATTEMPT: Duration = Duration::from_millis(1500);
/// Retries after a failed first attempt.
pub const RETRIES: u32 = 2;
/// The retry backoff: from 10 ms, at most 20 ms.
pub const BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_millis(20));
/// The total deadline of one fetch, retries included.
pub const DEADLINE: Duration = Duration::from_millis(2500);
/// How many cases a runner should run at once: enough to overlap their waits, few enough that a loaded
/// 2-core machine does not push a healthy exchange past [`ATTEMPT`].
pub const CONCURRENT: usize = 3;
/// The cache's backoff after a failed fetch (initial and maximum).
pub const CACHE_BACKOFF: Duration = Duration::from_secs(5);
/// The server's token lifetime in every case.
pub const LIFETIME: Duration = Duration::from_secs(600);
/// Refresh ahead of expiry with this share of the lifetime left, with no jitter: due after 480 s.
pub const REFRESH_PERCENT: u32 = 20;

/// The grant a case's provider is made for.
#[derive(Debug, Clone)]
pub enum SetupGrant {
    /// Client credentials, no scopes.
    ClientCredentials,
    /// The refresh-token grant from this refresh token (the server rotates it on every use).
    RefreshToken(String),
}

/// What a case's provider is made with, besides the settings above.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The grant.
    pub grant: SetupGrant,
    /// The client, registered at the case's server (ES256, every grant allowed).
    pub client: crate::ClientCredentials,
}

/// A transport's token provider, as the cases drive it. An async provider returns its futures; a blocking one
/// does the work when called and returns a ready future (see [`Case::check_blocking`]).
pub trait Subject: Debug + Send + Sync + Sized {
    /// What a successful call returns, shared.
    type Token: Debug + Send + Sync + 'static;

    /// Whether `a` and `b` are the same token (the same access token: two calls served from the cache may
    /// hand out two copies of it).
    fn same_token(a: &Arc<Self::Token>, b: &Arc<Self::Token>) -> bool;
    /// What a failed call returns.
    type Error: Debug + Send + Sync + 'static;

    /// A provider of `setup.grant` for `setup.client` at `server`, with this module's settings ([`ATTEMPT`]
    /// per attempt and to connect, [`RETRIES`], [`BACKOFF`], [`DEADLINE`], a cache refreshing with
    /// [`REFRESH_PERCENT`] left and no jitter, backing off [`CACHE_BACKOFF`]), on a clock of its own that
    /// moves with real time and can be advanced. Its `Debug` shows `fetching: Some` while a fetch is in
    /// flight.
    fn new(server: &TestServer, setup: Setup) -> Self;

    /// Asks for a token.
    fn token(&self) -> impl Future<Output = Result<Arc<Self::Token>, Self::Error>> + Send;

    /// Starts asking for a token at once, on a task or thread of its own; the future yields the answer, or
    /// `None` if the call panicked.
    fn spawn(&self) -> impl Future<Output = Option<Result<Arc<Self::Token>, Self::Error>>> + Send + 'static;

    /// Asks for a token and gives up after `after` (a cancelled caller: the call's future is dropped).
    /// `None` when this transport's calls cannot be cancelled; that case is then skipped.
    fn cancel_after(&self, after: Duration) -> Option<impl Future<Output = ()> + Send>;

    /// Drops the cached token.
    fn invalidate(&self);

    /// Tells the provider the API refused `token`; whether it was dropped.
    fn token_rejected(&self, token: &Arc<Self::Token>) -> bool;

    /// Moves the provider's clock forward.
    fn advance(&self, by: Duration);

    /// Makes the `nth` reading of the provider's clock from now panic (1: the next one).
    fn panic_on_clock_read(&self, nth: usize);

    /// Waits this long, in real time (without holding up the provider's own work).
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;

    /// Whether `error` is this transport's error for `kind`.
    fn is(error: &Self::Error, kind: Kind) -> bool;
}

/// One case of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// What it checks.
    pub name: &'static str,
    which: cases::Which,
}

/// Every case.
pub fn cases() -> Vec<Case> {
    cases::ALL.iter().map(|&(name, which)| Case { name, which }).collect()
}

impl Case {
    /// Runs the case against a provider `S` makes at `server` (a server of the case's own, not yet used).
    /// `Ok(Some(reason))`: the subject cannot run this case, and says why.
    pub async fn check<S: Subject>(&self, server: &TestServer) -> Result<Option<String>, String> {
        cases::run::<S>(self.which, server).await.map_err(|failure| format!("{}: {failure}", self.name))
    }

    /// [`Case::check`] for a blocking subject, whose futures are ready when made: one poll runs the case to
    /// its end, on this thread.
    pub fn check_blocking<S: Subject>(&self, server: &TestServer) -> Result<Option<String>, String> {
        let check = pin!(self.check::<S>(server));
        match check.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(format!("{}: the subject's future was not ready", self.name)),
        }
    }
}
