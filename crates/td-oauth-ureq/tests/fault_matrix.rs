//! The fault matrix: every fault the testkit can inject at the token endpoint, against a cold cache, a warm
//! cache and a cache due for refresh ahead of expiry, with the outcome of every cell asserted: the token or
//! which error, how many requests reached the server, and how long it took. Above all, a still-valid cached
//! token is never lost to a failed refresh.
//!
//! The matrix is data ([`rows`]); one driver runs every cell, each against its own server, a bounded number
//! at a time (threads here), and reports every cell that disagrees at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{fast_config, jwt_client, register};
use td_oauth_testkit::{Fault, TestServer};
use td_oauth_ureq::core::{CachePolicy, RetryPolicy, Scopes, TokenResponse};
use td_oauth_ureq::{Config, Error, TokenProvider};

/// What a failed call's error is, in terms both transports share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
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
enum Outcome {
    /// The caller gets a token from the server.
    Token { requests: usize },
    /// The caller gets this error.
    Error { kind: Kind, requests: usize },
    /// The caller gets the cached token, and still gets it once any refresh is over: after `requests`
    /// requests (0 when the cache did not need the server at all).
    OldToken { requests: usize },
    /// Refresh ahead: the caller gets the cached token at once, and a background refresh of `requests`
    /// requests replaces it with a new one.
    NewToken { requests: usize },
}

use Kind::*;

const fn token(requests: usize) -> Outcome {
    Outcome::Token { requests }
}
const fn error(kind: Kind, requests: usize) -> Outcome {
    Outcome::Error { kind, requests }
}
const fn old(requests: usize) -> Outcome {
    Outcome::OldToken { requests }
}
const fn new(requests: usize) -> Outcome {
    Outcome::NewToken { requests }
}
/// A warm cache never asks the server: whatever is queued stays queued.
const WARM: Outcome = old(0);

/// One fault (row of the matrix) and its expected outcome in each cache state.
struct Row {
    name: String,
    /// The fault, built when injected (so an HTTP date is relative to then), and how many requests get it.
    fault: fn() -> Fault,
    times: usize,
    cold: Outcome,
    warm: Outcome,
    refresh: Outcome,
    /// How long the faulty fetch takes (the cold call, or the background refresh): at least `min`, under `max`.
    min: Duration,
    max: Duration,
    /// Whether a token from this fetch is cached (false for `expires_in: 0`: handed to its caller, then
    /// fetched anew by the next).
    cached: bool,
}

const MS: fn(u64) -> Duration = Duration::from_millis;
/// An upper bound for fetches that involve no waiting beyond a few quick attempts: generous, as these tests
/// share two busy cores.
const QUICK: Duration = Duration::from_millis(1500);
const NONE: Duration = Duration::ZERO;

// The settings every cell uses (see `config`): 400 ms per attempt, 2 retries, 10..50 ms backoff, a 3 s deadline.
const ATTEMPT: Duration = Duration::from_millis(400);
const RETRIES: usize = 2;
const DEADLINE: Duration = Duration::from_secs(3);
/// Refresh ahead: 8 s tokens, due with 75 % left (after 2 s), usable until 7.2 s (a tenth is the margin).
const LIFETIME: Duration = Duration::from_secs(8);
const DUE_AFTER: Duration = Duration::from_millis(2100);

/// A fault a retry can get past, in two rows: injected `RETRIES + 1` times every attempt fails and the last
/// error is returned (taking `exhausted` at least); injected once, the second request succeeds (taking
/// `recovered` at least).
fn transient(name: &str, fault: fn() -> Fault, kind: Kind, exhausted: Duration, recovered: Duration) -> [Row; 2] {
    let max = |min: Duration| if min.is_zero() { QUICK } else { min + MS(1500) };
    [
        Row {
            name: format!("{name} x{}", RETRIES + 1),
            fault,
            times: RETRIES + 1,
            cold: error(kind, RETRIES + 1),
            warm: WARM,
            refresh: old(RETRIES + 1),
            min: exhausted,
            max: max(exhausted),
            cached: true,
        },
        Row {
            name: format!("{name} x1"),
            fault,
            times: 1,
            cold: token(2),
            warm: WARM,
            refresh: new(2),
            min: recovered,
            max: max(recovered),
            cached: true,
        },
    ]
}

/// A fault that is never retried: one request, this outcome.
fn permanent(name: &str, fault: fn() -> Fault, kind: Kind) -> Row {
    Row {
        name: name.into(),
        fault,
        times: 1,
        cold: error(kind, 1),
        warm: WARM,
        refresh: old(1),
        min: NONE,
        max: QUICK,
        cached: true,
    }
}

/// A success whose `expires_in` is replaced by `value`.
fn expires_in(name: &str, fault: fn() -> Fault, cold: Outcome, refresh: Outcome, cached: bool) -> Row {
    Row { name: name.into(), fault, times: 1, cold, warm: WARM, refresh, min: NONE, max: QUICK, cached }
}

/// The matrix. Timeouts: 400 ms per attempt, so 3 timed-out attempts take at least 1.2 s.
fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    rows.extend(transient("503", || Fault::status(503), OAuth("server_error"), NONE, NONE));
    rows.extend(transient("500", || Fault::status(500), OAuth("server_error"), NONE, NONE));
    rows.extend(transient("502", || Fault::status(502), OAuth("server_error"), NONE, NONE));
    rows.extend(transient("504", || Fault::status(504), OAuth("server_error"), NONE, NONE));
    // The testkit's 429 body is an OAuth error with the code `invalid_request`: retried for its status.
    rows.extend(transient("429 no Retry-After", || Fault::status(429), OAuth("invalid_request"), NONE, NONE));
    rows.push(Row {
        name: "429 Retry-After: 1".into(),
        fault: || Fault::retry_after(429, "1"),
        times: 1,
        cold: token(2),
        warm: WARM,
        refresh: new(2),
        min: MS(1000),
        max: MS(2500),
        cached: true,
    });
    rows.push(Row {
        name: "429 Retry-After: HTTP-date +2 s".into(),
        // Whole seconds: the wait is between 1 and 2 s.
        fault: || Fault::retry_after(429, http_date_in(Duration::from_secs(2))),
        times: 1,
        cold: token(2),
        warm: WARM,
        refresh: new(2),
        min: MS(1000),
        max: MS(3500),
        cached: true,
    });
    // Past the 3 s deadline: no point waiting, the 429 is returned at once.
    rows.push(permanent(
        "429 Retry-After: 10 (past the deadline)",
        || Fault::retry_after(429, "10"),
        OAuth("invalid_request"),
    ));
    rows.push(permanent(
        "429 Retry-After: HTTP-date +60 s (past the deadline)",
        || Fault::retry_after(429, http_date_in(Duration::from_secs(60))),
        OAuth("invalid_request"),
    ));
    rows.push(permanent("400 invalid_client", || status_json(400, "invalid_client"), OAuth("invalid_client")));
    rows.push(permanent("401 invalid_client", || status_json(401, "invalid_client"), OAuth("invalid_client")));
    rows.push(permanent("401 bare (text/plain)", || Fault::body(401, "text/plain", "Unauthorized"), Status(401)));
    rows.push(permanent("400 invalid_grant", || status_json(400, "invalid_grant"), OAuth("invalid_grant")));
    rows.extend(transient("dropped connection", || Fault::DropConnection, Transport, NONE, NONE));
    rows.extend(transient("reset connection (RST)", || Fault::ResetConnection, Transport, NONE, NONE));
    rows.extend(transient("closed mid-body (FIN)", || Fault::TruncateBody { sent: 20 }, Transport, NONE, NONE));
    rows.extend(transient("reset mid-body (RST)", || Fault::ResetMidBody { sent: 20 }, Transport, NONE, NONE));
    rows.extend(transient(
        "slow headers (2 s)",
        || Fault::Delay(Duration::from_secs(2)),
        Timeout,
        ATTEMPT * 3,
        ATTEMPT,
    ));
    rows.extend(transient(
        "slowloris body (1 B / 100 ms)",
        || Fault::SlowBody { chunk: 1, interval: MS(100) },
        Timeout,
        ATTEMPT * 3,
        ATTEMPT,
    ));
    rows.push(permanent("10 MiB body", || Fault::large_body(200, 10 * 1024 * 1024), TooLarge));
    rows.push(permanent("truncated JSON (200)", Fault::malformed_json, Malformed));
    rows.extend(transient("HTML error page (502)", || Fault::html(502), Status(502), NONE, NONE));
    rows.push(permanent("HTML page (200)", || Fault::html(200), Malformed));
    rows.push(permanent("empty body (200)", || Fault::body(200, "application/json", ""), Malformed));
    rows.extend(transient("empty body (503)", || Fault::body(503, "application/json", ""), Status(503), NONE, NONE));
    // expires_in 0: the caller of that fetch gets the token; the cache cannot keep it (it is unusable at
    // once), so the next caller fetches. As a refresh, it must not push out the still-valid token.
    rows.push(expires_in("expires_in 0", || Fault::ExpiresIn(0.into()), token(1), old(1), false));
    rows.push(permanent("expires_in -1", || Fault::ExpiresIn((-1).into()), Malformed));
    rows.push(permanent("expires_in \"soon\"", || Fault::ExpiresIn("soon".into()), Malformed));
    // Usable; the cache keeps it at most 24 h (see `a_huge_expires_in_is_cached_no_longer_than_the_cap`).
    rows.push(expires_in("expires_in 10^9 s", || Fault::ExpiresIn(1_000_000_000u64.into()), token(1), new(1), true));
    // Too large to add to a clock reading: refused as malformed.
    rows.push(permanent("expires_in u64::MAX", || Fault::ExpiresIn(u64::MAX.into()), Malformed));
    rows.push(expires_in("expires_in \"600\"", || Fault::ExpiresIn("600".into()), token(1), new(1), true));
    rows
}

fn status_json(status: u16, code: &str) -> Fault {
    Fault::body(status, "application/json", format!(r#"{{"error":"{code}","error_description":"injected"}}"#))
}

/// An HTTP-date (IMF-fixdate) `ahead` from now, as a `Retry-After` header carries it.
fn http_date_in(ahead: Duration) -> String {
    let secs = (SystemTime::now() + ahead).duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm); 1970-01-01 was a Thursday.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][month as usize - 1];
    format!("{weekday}, {day:02} {month} {year} {:02}:{:02}:{:02} GMT", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The cache states every fault meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A new provider: the fault hits the first fetch, which the caller waits for.
    Cold,
    /// A provider holding a fresh token: the fault is queued but nothing asks the server.
    Warm,
    /// A provider whose token is due for refresh: the fault hits the background refresh.
    RefreshAhead,
}

/// How many cells run at once: enough to overlap their waits, few enough that a loaded 2-core machine does
/// not push a healthy exchange past the 400 ms attempt timeout.
const CONCURRENT: usize = 4;

/// The settings every cell uses: short attempts and backoffs, a small deadline, refresh with 75 % left.
fn config(server: &TestServer) -> Config {
    fast_config(server)
        .timeout(ATTEMPT)
        .connect_timeout(ATTEMPT)
        .retry_policy(
            RetryPolicy::default().max_retries(RETRIES as u32).backoff(MS(10), MS(50)).unwrap().deadline(DEADLINE),
        )
        .cache_policy(CachePolicy::default().refresh_when_remaining_percent(75).unwrap())
}

fn provider_with(server: &TestServer, config: Config) -> TokenProvider {
    TokenProvider::client_credentials(jwt_client(server, &register(server), |_| config), Scopes::none())
}

/// Whether `err` is this transport's error for `kind`.
fn is(err: &Error, kind: Kind) -> bool {
    use td_oauth_ureq::core::Error as Core;
    match (kind, err) {
        (OAuth(code), Error::Core(Core::OAuth(oauth))) => oauth.code().as_str() == code,
        (Status(expected), Error::Core(Core::UnexpectedStatus { status, .. })) => status.as_u16() == expected,
        (Malformed, Error::Core(Core::MalformedResponse { .. }))
        | (Transport, Error::Transport { .. })
        | (Timeout, Error::Timeout { .. })
        | (TooLarge, Error::ResponseTooLarge { .. }) => true,
        _ => false,
    }
}

macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

fn ensure_took(row: &Row, took: Duration) -> Result<(), String> {
    ensure!(took >= row.min && took < row.max, "took {took:?}, expected {:?}..{:?}", row.min, row.max);
    Ok(())
}

fn same(a: &Arc<TokenResponse>, b: &Arc<TokenResponse>) -> bool {
    Arc::ptr_eq(a, b)
}

fn cold(row: &Row, server: &TestServer) -> Result<(), String> {
    let provider = provider_with(server, config(server));
    server.inject_n((row.fault)(), row.times);
    let started = Instant::now();
    let result = provider.token();
    let took = started.elapsed();
    let requests = server.request_count();
    ensure!(server.pending_faults() == 0, "{} injected faults unused", server.pending_faults());
    match (row.cold, &result) {
        (Outcome::Token { requests: expected }, Ok(first)) => {
            ensure!(requests == expected, "{requests} requests, expected {expected}");
            ensure_took(row, took)?;
            // The next call: from the cache, or, for a token unusable at once, exactly one new fetch.
            let next = provider.token().map_err(|e| format!("the next call failed: {e:?}"))?;
            let more = server.request_count() - requests;
            if row.cached {
                ensure!(same(first, &next) && more == 0, "the token was not cached ({more} more requests)");
            } else {
                ensure!(!same(first, &next) && more == 1, "expected one new fetch, saw {more} requests");
            }
        }
        (Outcome::Error { kind, requests: expected }, Err(err)) => {
            ensure!(is(err, kind), "expected {kind:?}, got {err:?}");
            ensure!(requests == expected, "{requests} requests, expected {expected}");
            ensure_took(row, took)?;
            // A failed cold fetch leaves no backoff behind: the next caller fetches at once.
            let started = Instant::now();
            provider.token().map_err(|e| format!("the next call failed: {e:?}"))?;
            ensure!(server.request_count() == requests + 1, "the recovery took more than one request");
            ensure!(started.elapsed() < QUICK, "the recovery took {:?}", started.elapsed());
        }
        (expected, got) => return Err(format!("expected {expected:?}, got {got:?}")),
    }
    Ok(())
}

fn warm(row: &Row, server: &TestServer) -> Result<(), String> {
    let provider = provider_with(server, config(server));
    let first = provider.token().map_err(|e| format!("the first fetch failed: {e:?}"))?;
    server.inject_n((row.fault)(), row.times);
    let started = Instant::now();
    let again = provider.token().map_err(|e| format!("a warm call failed: {e:?}"))?;
    let took = started.elapsed();
    let Outcome::OldToken { requests: expected } = row.warm else {
        return Err(format!("a warm cache can only serve its token, not {:?}", row.warm));
    };
    ensure!(same(&first, &again), "a warm call did not return the cached token");
    ensure!(server.request_count() - 1 == expected, "{} requests, expected {expected}", server.request_count() - 1);
    ensure!(took < MS(500), "a warm call took {took:?}");
    // Nothing reached the server, so the fault is still queued: clear it.
    ensure!(server.pending_faults() == row.times, "{} faults queued, expected {}", server.pending_faults(), row.times);
    server.clear_faults();
    Ok(())
}

fn refresh_ahead(row: &Row, server: &TestServer) -> Result<(), String> {
    server.set_token_lifetime(LIFETIME);
    let provider = provider_with(server, config(server));
    let valid = provider.token().map_err(|e| format!("the first fetch failed: {e:?}"))?;
    std::thread::sleep(DUE_AFTER);
    server.inject_n((row.fault)(), row.times);
    let before = server.request_count();
    let started = Instant::now();
    let served = provider.token().map_err(|e| format!("the due call failed: {e:?}"))?;
    ensure!(same(&served, &valid), "the due token was not served");
    ensure!(started.elapsed() < MS(500), "the caller waited {:?} for the refresh", started.elapsed());
    // The background refresh is over when the provider has no fetch in flight (its Debug says so).
    let give_up = started + row.max + MS(2000);
    while format!("{provider:?}").contains("fetching: true") {
        ensure!(Instant::now() < give_up, "the background refresh never ended");
        std::thread::sleep(MS(10));
    }
    let took = started.elapsed();
    let requests = server.request_count() - before;
    ensure!(server.pending_faults() == 0, "{} injected faults unused", server.pending_faults());
    ensure_took(row, took)?;
    let after = provider.token().map_err(|e| format!("the call after the refresh failed: {e:?}"))?;
    let more = server.request_count() - before - requests;
    match row.refresh {
        Outcome::NewToken { requests: expected } => {
            ensure!(requests == expected, "{requests} refresh requests, expected {expected}");
            ensure!(!same(&after, &valid), "the refreshed token was not served");
        }
        Outcome::OldToken { requests: expected } => {
            ensure!(requests == expected, "{requests} refresh requests, expected {expected}");
            ensure!(same(&after, &valid), "the still-valid token was lost to a failed refresh");
        }
        other => return Err(format!("a refresh ahead cannot end in {other:?}")),
    }
    ensure!(more == 0, "the call after the refresh sent {more} requests");
    Ok(())
}

fn run_cell(row: &Row, state: State) -> Result<(), String> {
    let server = TestServer::start().unwrap();
    match state {
        State::Cold => cold(row, &server),
        State::Warm => warm(row, &server),
        State::RefreshAhead => refresh_ahead(row, &server),
    }
}

#[test]
fn fault_matrix() {
    let rows = rows();
    // The slowest cells first, so that they overlap the most; `CONCURRENT` threads take cells in turn.
    let cells: Vec<(usize, State)> = [State::RefreshAhead, State::Cold, State::Warm]
        .into_iter()
        .flat_map(|state| (0..rows.len()).map(move |index| (index, state)))
        .collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..CONCURRENT {
            scope.spawn(|| {
                while let Some(&(index, state)) = cells.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let row = &rows[index];
                    if let Err(failure) = run_cell(row, state) {
                        failures.lock().unwrap().push(format!("{} / {state:?}: {failure}", row.name));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} of {} cells failed:\n{}", failures.len(), cells.len(), failures.join("\n"));
}

/// The matrix's "huge" `expires_in` is usable; the cache still keeps it no longer than its cap (24 h by
/// default, 2 s here so that the test can see it), after which it is refreshed like any other.
#[test]
fn a_huge_expires_in_is_cached_no_longer_than_the_cap() {
    let server = TestServer::start().unwrap();
    let cache = CachePolicy::default().refresh_when_remaining_percent(75).unwrap().max_lifetime(MS(2000));
    let provider = provider_with(&server, config(&server).cache_policy(cache));
    server.inject(Fault::ExpiresIn(1_000_000_000u64.into()));
    let huge = provider.token().unwrap();
    assert_eq!(huge.expires_in(), Duration::from_secs(1_000_000_000));
    // Capped at 2 s, due with 75 % left: due after 0.5 s.
    std::thread::sleep(MS(700));
    let served = provider.token().unwrap();
    assert!(same(&served, &huge), "the capped token is still valid");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.request_count() < 2 {
        assert!(Instant::now() < deadline, "the capped token was never refreshed");
        std::thread::sleep(MS(10));
    }
}

/// A server that always answers `expires_in: 0`: every call gets a token (the one fetched for it), at the
/// cost of exactly one request per call; no loop, no storm, no error.
#[test]
fn expires_in_zero_every_time_costs_one_request_per_call() {
    let server = TestServer::start().unwrap();
    let provider = provider_with(&server, config(&server));
    server.inject_n(Fault::ExpiresIn(0.into()), 100);
    for call in 1..=5 {
        let token = provider.token().unwrap();
        assert_eq!(token.expires_in(), Duration::ZERO);
        assert_eq!(server.request_count(), call);
    }
}
