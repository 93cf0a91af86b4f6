//! What one cell does in each cache state: the calls it makes to the subject and what each must observe.
//! Every check returns the first disagreement as text, for the report.

use std::time::{Duration, Instant};

use super::table::QUICK;
use super::{CACHE_BACKOFF, Outcome, Row, Subject};
use crate::TestServer;

/// Refresh ahead: 8 s tokens, due with 75 % left (after 2 s), usable until 7.2 s (a tenth is the margin).
const LIFETIME: Duration = Duration::from_secs(8);
const DUE_AFTER: Duration = Duration::from_millis(2100);
/// How long a call may take that the cache answers.
const CACHED: Duration = Duration::from_millis(500);

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

/// The fault hits the first fetch, which the caller waits for.
pub(super) async fn cold<S: Subject>(row: &Row, server: &TestServer) -> Result<(), String> {
    let provider = S::new(server);
    server.inject_n((row.fault)(), row.times);
    let started = Instant::now();
    let result = provider.token().await;
    let took = started.elapsed();
    let requests = server.request_count();
    ensure!(server.pending_faults() == 0, "{} injected faults unused", server.pending_faults());
    match (row.cold, &result) {
        (Outcome::Token { requests: expected }, Ok(first)) => {
            ensure!(requests == expected, "{requests} requests, expected {expected}");
            ensure_took(row, took)?;
            // The next call: from the cache, or, for a token unusable at once, exactly one new fetch.
            let next = provider.token().await.map_err(|e| format!("the next call failed: {e:?}"))?;
            let more = server.request_count() - requests;
            if row.cached {
                ensure!(S::same_token(first, &next) && more == 0, "the token was not cached ({more} more requests)");
            } else {
                ensure!(!S::same_token(first, &next) && more == 1, "expected one new fetch, saw {more} requests");
            }
        }
        (Outcome::Error { kind, requests: expected }, Err(err)) => {
            ensure!(S::is(err, kind), "expected {kind:?}, got {err:?}");
            ensure!(requests == expected, "{requests} requests, expected {expected}");
            ensure_took(row, took)?;
            // A failed cold fetch's error is shared during the backoff that follows: the next call gets it at
            // once, with no request of its own (a failing endpoint is not hammered by its own clients).
            let started = Instant::now();
            match provider.token().await {
                Err(again) => ensure!(S::is(&again, kind), "the next call got {again:?}, not the shared {kind:?}"),
                Ok(_) => return Err("the next call fetched during the backoff".into()),
            }
            ensure!(server.request_count() == requests, "the next call sent a request during the backoff");
            ensure!(started.elapsed() < QUICK, "sharing the error took {:?}", started.elapsed());
            // Once the backoff is over, the next caller fetches at once.
            provider.advance(CACHE_BACKOFF);
            let started = Instant::now();
            provider.token().await.map_err(|e| format!("the call after the backoff failed: {e:?}"))?;
            ensure!(server.request_count() == requests + 1, "the recovery took more than one request");
            ensure!(started.elapsed() < QUICK, "the recovery took {:?}", started.elapsed());
        }
        (expected, got) => return Err(format!("expected {expected:?}, got {got:?}")),
    }
    Ok(())
}

/// The fault is queued but nothing asks the server: the cached token is served.
pub(super) async fn warm<S: Subject>(row: &Row, server: &TestServer) -> Result<(), String> {
    let provider = S::new(server);
    let first = provider.token().await.map_err(|e| format!("the first fetch failed: {e:?}"))?;
    server.inject_n((row.fault)(), row.times);
    let started = Instant::now();
    let again = provider.token().await.map_err(|e| format!("a warm call failed: {e:?}"))?;
    let took = started.elapsed();
    let Outcome::OldToken { requests: expected } = row.warm else {
        return Err(format!("a warm cache can only serve its token, not {:?}", row.warm));
    };
    ensure!(S::same_token(&first, &again), "a warm call did not return the cached token");
    ensure!(server.request_count() - 1 == expected, "{} requests, expected {expected}", server.request_count() - 1);
    ensure!(took < CACHED, "a warm call took {took:?}");
    // Nothing reached the server, so the fault is still queued: clear it.
    ensure!(server.pending_faults() == row.times, "{} faults queued, expected {}", server.pending_faults(), row.times);
    server.clear_faults();
    Ok(())
}

/// The fault hits the background refresh of a token that is due: the caller keeps the valid token meanwhile,
/// and keeps it after a failed refresh.
pub(super) async fn refresh_ahead<S: Subject>(row: &Row, server: &TestServer) -> Result<(), String> {
    server.set_token_lifetime(LIFETIME);
    let provider = S::new(server);
    let valid = provider.token().await.map_err(|e| format!("the first fetch failed: {e:?}"))?;
    provider.advance(DUE_AFTER);
    server.inject_n((row.fault)(), row.times);
    let before = server.request_count();
    let started = Instant::now();
    let served = provider.token().await.map_err(|e| format!("the due call failed: {e:?}"))?;
    ensure!(S::same_token(&served, &valid), "the due token was not served");
    ensure!(started.elapsed() < CACHED, "the caller waited {:?} for the refresh", started.elapsed());
    // The background refresh is over when the provider has no fetch in flight (its Debug says so).
    let give_up = started + row.max + Duration::from_millis(2000);
    while format!("{provider:?}").contains("fetching: Some") {
        ensure!(Instant::now() < give_up, "the background refresh never ended");
        S::sleep(Duration::from_millis(10)).await;
    }
    let took = started.elapsed();
    let requests = server.request_count() - before;
    ensure!(server.pending_faults() == 0, "{} injected faults unused", server.pending_faults());
    ensure_took(row, took)?;
    let after = provider.token().await.map_err(|e| format!("the call after the refresh failed: {e:?}"))?;
    let more = server.request_count() - before - requests;
    match row.refresh {
        Outcome::NewToken { requests: expected } => {
            ensure!(requests == expected, "{requests} refresh requests, expected {expected}");
            ensure!(!S::same_token(&after, &valid), "the refreshed token was not served");
        }
        Outcome::OldToken { requests: expected } => {
            ensure!(requests == expected, "{requests} refresh requests, expected {expected}");
            ensure!(S::same_token(&after, &valid), "the still-valid token was lost to a failed refresh");
        }
        other => return Err(format!("a refresh ahead cannot end in {other:?}")),
    }
    ensure!(more == 0, "the call after the refresh sent {more} requests");
    Ok(())
}
