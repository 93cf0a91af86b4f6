//! The fault matrix both transports' end-to-end tests run: every fault the server can inject at the token
//! endpoint ([`rows`]), against a cold cache, a warm cache and a cache due for refresh ahead of expiry
//! ([`State`]), with the outcome of every cell written down: the token or which error ([`Kind`]), how many
//! requests reached the server, and how long the fetch took. Above all, a still-valid cached token is never
//! lost to a failed refresh.
//!
//! The table and the checks live here, in the testkit's terms (faults, status codes, OAuth error codes,
//! counts, durations), so that both transports assert exactly the same cells. A transport's test supplies
//! only a [`Subject`]: how to build its token provider for a cell (with the settings the table assumes:
//! [`ATTEMPT`], [`RETRIES`], [`BACKOFF`], [`DEADLINE`], [`REFRESH_REMAINING_PERCENT`], [`CACHE_BACKOFF`]), how
//! to call it, how to
//! wait, and which of its errors is which [`Kind`]. It then runs [`cells`] a bounded number at a time, each
//! against a server of its own, with [`Cell::check`] (async) or [`Cell::check_blocking`], and hands every
//! result to [`report`], which names every cell that disagrees at once.

mod cell;
mod table;

use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::{Fault, TestServer};

pub use table::rows;

/// How long one attempt may take (connect and response): what a subject's timeouts must be.
pub const ATTEMPT: Duration = Duration::from_millis(400);
/// How many retries follow a failed first attempt.
pub const RETRIES: u32 = 2;
/// The backoff between attempts: from 10 ms, at most 50 ms.
pub const BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_millis(50));
/// The total deadline of one fetch, retries included.
pub const DEADLINE: Duration = Duration::from_secs(3);
/// Refresh ahead of expiry when this share of a token's lifetime (percent) is left.
pub const REFRESH_REMAINING_PERCENT: u32 = 75;
/// The cache's backoff after a failed fetch (its initial and maximum wait): a failed cold fetch's error is
/// shared with the callers that come within it.
pub const CACHE_BACKOFF: Duration = Duration::from_millis(200);

/// What a failed call's error is, in terms both transports share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The server's OAuth error, with this code.
    OAuth(&'static str),
    /// A non-OAuth answer with this status (an HTML page, an empty body).
    Status(u16),
    /// A 2xx whose body is not a usable token response.
    Malformed,
    /// The connection failed or closed early.
    Transport,
    /// An attempt ran out of time.
    Timeout,
    /// The body was over the cap.
    TooLarge,
}

/// What one cell must end in. `requests` counts what reached the server because of the injected fault(s),
/// including the successful request that follows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The caller gets a token from the server.
    Token {
        /// Requests the fetch took.
        requests: usize,
    },
    /// The caller gets this error.
    Error {
        /// Which error.
        kind: Kind,
        /// Requests the fetch took.
        requests: usize,
    },
    /// The caller gets the cached token, and still gets it once any refresh is over: after `requests`
    /// requests (0 when the cache did not need the server at all).
    OldToken {
        /// Requests the refresh took.
        requests: usize,
    },
    /// Refresh ahead: the caller gets the cached token at once, and a background refresh of `requests`
    /// requests replaces it with a new one.
    NewToken {
        /// Requests the refresh took.
        requests: usize,
    },
}

/// The cache states every fault meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A new provider: the fault hits the first fetch, which the caller waits for.
    Cold,
    /// A provider holding a fresh token: the fault is queued but nothing asks the server.
    Warm,
    /// A provider whose token is due for refresh: the fault hits the background refresh.
    RefreshAhead,
}

/// One fault (row of the matrix) and its expected outcome in each cache state.
#[derive(Debug, Clone)]
pub struct Row {
    /// What the row injects, for the report.
    pub name: String,
    /// The fault, built when injected (so that an HTTP date is relative to then).
    pub fault: fn() -> Fault,
    /// How many requests get the fault.
    pub times: usize,
    /// The outcome with a cold cache.
    pub cold: Outcome,
    /// The outcome with a warm cache.
    pub warm: Outcome,
    /// The outcome with a cache due for refresh ahead of expiry.
    pub refresh: Outcome,
    /// The faulty fetch (the cold call, or the background refresh) takes at least this long…
    pub min: Duration,
    /// … and less than this.
    pub max: Duration,
    /// Whether a token from this fetch is cached (false for `expires_in: 0`: handed to its caller, then
    /// fetched anew by the next).
    pub cached: bool,
}

/// A transport's token provider, as the matrix drives it. An async provider returns its futures; a blocking
/// one does the work when called and returns a ready future (see [`Cell::check_blocking`]).
pub trait Subject: Debug + Send + Sync + Sized {
    /// What a successful call returns, shared.
    type Token: Debug + Send + Sync;

    /// Whether `a` and `b` are the same token (the same access token: two calls served from the cache may
    /// hand out two copies of it).
    fn same_token(a: &Arc<Self::Token>, b: &Arc<Self::Token>) -> bool;
    /// What a failed call returns.
    type Error: Debug + Send + Sync;

    /// A provider of a newly registered client of `server`, with the matrix's settings ([`ATTEMPT`] per
    /// attempt and to connect, [`RETRIES`], [`BACKOFF`], [`DEADLINE`], refresh with
    /// [`REFRESH_REMAINING_PERCENT`] left and no refresh jitter, a cache backoff of [`CACHE_BACKOFF`]). Its `Debug` must show
    /// `fetching: Some` while a fetch is in flight: that is how a cell sees a background refresh end.
    fn new(server: &TestServer) -> Self;

    /// Asks the provider for a token.
    fn token(&self) -> impl Future<Output = Result<Arc<Self::Token>, Self::Error>> + Send;

    /// Waits this long, in real time (without holding up the provider's own work).
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send;

    /// Moves the provider's clock forward (a clock that also moves with real time): how a cell reaches a
    /// token's refresh point, or the end of a backoff, without sleeping.
    fn advance(&self, by: Duration);

    /// Whether `error` is this transport's error for `kind`.
    fn is(error: &Self::Error, kind: Kind) -> bool;
}

/// One cell of the matrix: a row in one cache state.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The fault and its expectations.
    pub row: Row,
    /// The cache state it meets.
    pub state: State,
}

/// Every cell: each row in each state, the slowest state (refresh ahead) first so that the slow cells overlap
/// the most when run a few at a time.
pub fn cells() -> Vec<Cell> {
    let rows = rows();
    [State::RefreshAhead, State::Cold, State::Warm]
        .into_iter()
        .flat_map(|state| rows.iter().map(move |row| Cell { row: row.clone(), state }))
        .collect()
}

impl Cell {
    /// Runs the cell against a provider `S` builds for `server` (a server of this cell's own, not yet used):
    /// `Err` says which cell and what disagreed.
    pub async fn check<S: Subject>(&self, server: &TestServer) -> Result<(), String> {
        let result = match self.state {
            State::Cold => cell::cold::<S>(&self.row, server).await,
            State::Warm => cell::warm::<S>(&self.row, server).await,
            State::RefreshAhead => cell::refresh_ahead::<S>(&self.row, server).await,
        };
        result.map_err(|failure| format!("{} / {:?}: {failure}", self.row.name, self.state))
    }

    /// [`Cell::check`] for a blocking subject, whose futures are ready when made: one poll runs the cell to
    /// its end, on this thread.
    pub fn check_blocking<S: Subject>(&self, server: &TestServer) -> Result<(), String> {
        let check = pin!(self.check::<S>(server));
        match check.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result,
            Poll::Pending => Err(format!("{} / {:?}: the subject's future was not ready", self.row.name, self.state)),
        }
    }
}

/// The verdict on every cell's result: `Err` lists each cell that failed, all at once.
pub fn report(results: impl IntoIterator<Item = Result<(), String>>) -> Result<(), String> {
    let (mut cells, mut failures) = (0, Vec::new());
    for result in results {
        cells += 1;
        failures.extend(result.err());
    }
    if failures.is_empty() {
        return Ok(());
    }
    Err(format!("{} of {cells} cells failed:\n{}", failures.len(), failures.join("\n")))
}
