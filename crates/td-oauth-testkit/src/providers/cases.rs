//! The cases: what each does to a subject and what it must observe. Each returns the first disagreement as
//! text, for the report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CACHE_BACKOFF, DEADLINE, LIFETIME, RETRIES, Setup, SetupGrant, Subject};
use crate::matrix::Kind;
use crate::{Algorithm, Fault, TOKEN_PATH, TestServer};

/// Due for refresh: 80 % of the lifetime gone (no jitter).
const DUE: Duration = Duration::from_secs(480);
/// How many callers make a herd.
const HERD: usize = 100;

macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// Which case; the names are in [`ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Which {
    ColdHerd,
    Expiry,
    RefreshAhead,
    FailedRefresh,
    InvalidateAndReject,
    TotalDeadline,
    RefreshTokenRotation,
    Cancellation,
    FailingEndpoint,
    PanicWhileRecording,
}

pub(super) const ALL: [(&str, Which); 10] = [
    ("a cold herd sends one request and shares its token", Which::ColdHerd),
    ("an expired token costs one request for the whole herd", Which::Expiry),
    ("refresh ahead: everyone keeps the valid token while one refresh runs", Which::RefreshAhead),
    ("a failed refresh keeps the valid token and backs off", Which::FailedRefresh),
    ("invalidate, force a fetch, and drop a refused token only if current", Which::InvalidateAndReject),
    ("the total deadline ends the retries", Which::TotalDeadline),
    ("a rotated refresh token is used for the next fetch", Which::RefreshTokenRotation),
    ("a cancelled fetcher hands over to a waiter", Which::Cancellation),
    ("a failing endpoint is not hammered by 100 callers", Which::FailingEndpoint),
    ("a panic while recording a fetch leaves no caller stuck", Which::PanicWhileRecording),
];

pub(super) async fn run<S: Subject>(which: Which, server: &TestServer) -> Result<Option<String>, String> {
    server.set_token_lifetime(LIFETIME);
    let client = server.register_client(Algorithm::Es256).map_err(|e| format!("registering a client: {e}"))?;
    let grant = match which {
        Which::RefreshTokenRotation => SetupGrant::RefreshToken(server.issue_refresh_token(&client.client_id, &[])),
        _ => SetupGrant::ClientCredentials,
    };
    let subject = S::new(server, Setup { grant, client });
    match which {
        Which::ColdHerd => cold_herd(&subject, server).await,
        Which::Expiry => expiry(&subject, server).await,
        Which::RefreshAhead => refresh_ahead(&subject, server).await,
        Which::FailedRefresh => failed_refresh(&subject, server).await,
        Which::InvalidateAndReject => invalidate_and_reject(&subject, server).await,
        Which::TotalDeadline => total_deadline(&subject, server).await,
        Which::RefreshTokenRotation => rotation(&subject, server).await,
        Which::Cancellation => return cancellation(&subject, server).await,
        Which::FailingEndpoint => failing_endpoint(&subject, server).await,
        Which::PanicWhileRecording => panic_while_recording(&subject, server).await,
    }
    .map(|()| None)
}

async fn token<S: Subject>(subject: &S, what: &str) -> Result<Arc<S::Token>, String> {
    subject.token().await.map_err(|e| format!("{what} failed: {e:?}"))
}

/// `n` callers at once; every one's token.
async fn herd<S: Subject>(subject: &S, n: usize) -> Result<Vec<Arc<S::Token>>, String> {
    let calls: Vec<_> = (0..n).map(|_| subject.spawn()).collect();
    let mut tokens = Vec::with_capacity(n);
    for call in calls {
        match call.await {
            Some(Ok(token)) => tokens.push(token),
            Some(Err(e)) => return Err(format!("a caller of the herd failed: {e:?}")),
            None => return Err("a caller of the herd panicked".into()),
        }
    }
    Ok(tokens)
}

/// Waits, in real time, until no fetch is in flight (its `Debug` says so).
async fn idle<S: Subject>(subject: &S) -> Result<(), String> {
    let give_up = Instant::now() + Duration::from_secs(10);
    while format!("{subject:?}").contains("fetching: Some") {
        ensure!(Instant::now() < give_up, "the fetch in flight never ended");
        S::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn cold_herd<S: Subject>(subject: &S, server: &TestServer) -> Result<(), String> {
    // Slow the one fetch down, so that every caller arrives while it is in flight.
    server.inject(Fault::Delay(Duration::from_millis(300)));
    let tokens = herd(subject, HERD).await?;
    ensure!(tokens.iter().all(|t| S::same_token(t, &tokens[0])), "the herd got different tokens");
    ensure!(server.count_path(TOKEN_PATH) == 1, "{} requests for one cold herd", server.count_path(TOKEN_PATH));
    Ok(())
}

async fn expiry<S: Subject>(subject: &S, server: &TestServer) -> Result<(), String> {
    let first = token(subject, "the first call").await?;
    // Past the margin before expiry (30 s of the 600): nothing usable is cached.
    subject.advance(LIFETIME - Duration::from_secs(29));
    server.inject(Fault::Delay(Duration::from_millis(300)));
    let tokens = herd(subject, HERD).await?;
    ensure!(
        tokens.iter().all(|t| S::same_token(t, &tokens[0]) && !S::same_token(t, &first)),
        "the herd did not share one new token"
    );
    ensure!(
        server.count_path(TOKEN_PATH) == 2,
        "{} requests: expected one more after expiry",
        server.count_path(TOKEN_PATH)
    );
    Ok(())
}

async fn refresh_ahead<S: Subject>(subject: &S, server: &TestServer) -> Result<(), String> {
    let old = token(subject, "the first call").await?;
    subject.advance(DUE);
    // Hold the refresh in flight past the herd (within one attempt's timeout).
    let delay = super::ATTEMPT - Duration::from_millis(100);
    server.inject(Fault::Delay(delay));
    let started = Instant::now();
    let tokens = herd(subject, HERD).await?;
    ensure!(tokens.iter().all(|t| S::same_token(t, &old)), "a caller did not get the valid token");
    ensure!(started.elapsed() < delay, "the herd waited {:?} for the refresh", started.elapsed());
    idle(subject).await?;
    ensure!(
        server.count_path(TOKEN_PATH) == 2,
        "{} requests: expected exactly one refresh",
        server.count_path(TOKEN_PATH)
    );
    let new = token(subject, "the call after the refresh").await?;
    ensure!(!S::same_token(&new, &old), "the refreshed token is not served");
    ensure!(server.count_path(TOKEN_PATH) == 2, "serving the refreshed token sent a request");
    Ok(())
}

async fn failed_refresh<S: Subject>(subject: &S, server: &TestServer) -> Result<(), String> {
    let valid = token(subject, "the first call").await?;
    subject.advance(DUE);
    server.inject(Fault::status(400));
    ensure!(S::same_token(&token(subject, "the due call").await?, &valid), "the due call did not get the valid token");
    idle(subject).await?;
    for _ in 0..20 {
        ensure!(
            S::same_token(&token(subject, "a call after the failed refresh").await?, &valid),
            "the valid token was lost"
        );
    }
    ensure!(
        server.count_path(TOKEN_PATH) == 2,
        "{} requests: no new refresh during the backoff",
        server.count_path(TOKEN_PATH)
    );
    // Once the backoff is over, the next caller refreshes (in the background, keeping the valid token).
    subject.advance(CACHE_BACKOFF);
    ensure!(
        S::same_token(&token(subject, "the call after the backoff").await?, &valid),
        "the valid token was not served"
    );
    idle(subject).await?;
    ensure!(
        server.count_path(TOKEN_PATH) == 3,
        "{} requests: expected one refresh after the backoff",
        server.count_path(TOKEN_PATH)
    );
    ensure!(!S::same_token(&token(subject, "the last call").await?, &valid), "the refreshed token is not served");
    Ok(())
}

async fn invalidate_and_reject<S: Subject>(subject: &S, server: &TestServer) -> Result<(), String> {
    let first = token(subject, "the first call").await?;
    subject.invalidate();
    let second = token(subject, "the call after invalidate").await?;
    ensure!(
        !S::same_token(&first, &second) && server.count_path(TOKEN_PATH) == 2,
        "invalidate did not cause one new fetch"
    );
    // A stale 401 (for a token no longer cached) leaves the current one alone, however many callers saw it.
    for _ in 0..20 {
        ensure!(!subject.token_rejected(&first), "a stale token was reported dropped");
    }
    ensure!(
        S::same_token(&token(subject, "a call after stale 401s").await?, &second),
        "a stale 401 dropped the new token"
    );
    ensure!(subject.token_rejected(&second), "the current token was not dropped");
    ensure!(!subject.token_rejected(&second), "the same 401 dropped a token twice");
    let third = token(subject, "the call after the 401").await?;
    ensure!(!S::same_token(&third, &second), "the refused token was served again");
    ensure!(
        server.count_path(TOKEN_PATH) == 3,
        "{} requests: expected one per dropped token",
        server.count_path(TOKEN_PATH)
    );
    Ok(())
}

async fn total_deadline<S: Subject>(subject: &S, server: &TestServer) -> Result<(), String> {
    // Every attempt times out: the retries stop at the deadline, whatever the retry count allows.
    server.inject_n(Fault::Delay(Duration::from_secs(5)), 10);
    let started = Instant::now();
    let result = subject.token().await;
    let took = started.elapsed();
    match result {
        Err(e) => ensure!(S::is(&e, Kind::Timeout), "expected a timeout, got {e:?}"),
        Ok(_) => return Err("a token arrived through 5 s delays".into()),
    }
    ensure!(
        took >= DEADLINE / 2 && took < DEADLINE + Duration::from_millis(1000),
        "took {took:?} for a {DEADLINE:?} deadline"
    );
    let requests = server.count_path(TOKEN_PATH);
    ensure!((1..=1 + RETRIES as usize).contains(&requests), "{requests} attempts");
    server.clear_faults();
    Ok(())
}

async fn rotation<S: Subject>(subject: &S, server: &TestServer) -> Result<(), String> {
    // The server rotates refresh tokens: each is good once. Three fetches succeed only if each uses the
    // refresh token the previous answer brought.
    for fetch in 1..=3 {
        token(subject, &format!("refresh {fetch}")).await?;
        subject.invalidate();
    }
    let refused = server.count(|r| r.grant_type.as_deref() == Some("refresh_token") && r.status != Some(200));
    ensure!(refused == 0, "{refused} refresh requests were refused (a used refresh token sent again?)");
    ensure!(
        server.count_grant("refresh_token") == 3,
        "{} refresh requests, expected 3",
        server.count_grant("refresh_token")
    );
    Ok(())
}

async fn cancellation<S: Subject>(subject: &S, server: &TestServer) -> Result<Option<String>, String> {
    server.inject(Fault::Delay(Duration::from_secs(3)));
    // The elected fetcher gives up mid-request while a waiter is queued behind it.
    let Some(cancelled) = subject.cancel_after(Duration::from_millis(300)) else {
        return Ok(Some("a blocking call cannot be cancelled: it runs to its end on the caller's thread".into()));
    };
    let waiter = async {
        S::sleep(Duration::from_millis(100)).await;
        subject.spawn().await
    };
    let (_, waited) = tokio::join!(cancelled, waiter);
    let started = Instant::now();
    match waited {
        Some(Ok(_)) => {}
        other => return Err(format!("the waiter did not take over: {other:?}")),
    }
    ensure!(started.elapsed() < Duration::from_secs(2), "the waiter hung");
    ensure!(
        server.count_path(TOKEN_PATH) == 2,
        "{} requests: the abandoned one and the waiter's",
        server.count_path(TOKEN_PATH)
    );
    Ok(None)
}

async fn failing_endpoint<S: Subject>(subject: &S, server: &TestServer) -> Result<(), String> {
    server.inject_n(Fault::status(503), 1000);
    for call in 0..100 {
        match subject.token().await {
            Err(e) => ensure!(S::is(&e, Kind::OAuth("server_error")), "call {call}: {e:?}"),
            Ok(_) => return Err(format!("call {call} got a token from a failing endpoint")),
        }
    }
    let requests = server.count_path(TOKEN_PATH);
    ensure!(requests == 1 + RETRIES as usize, "{requests} requests for 100 calls: one fetch and its retries expected");
    // The error was shared for the backoff only: after it, one caller tries again.
    server.clear_faults();
    subject.advance(CACHE_BACKOFF);
    token(subject, "the call after the backoff").await?;
    ensure!(server.count_path(TOKEN_PATH) == requests + 1, "the recovery took more than one request");
    Ok(())
}

async fn panic_while_recording<S: Subject>(subject: &S, server: &TestServer) -> Result<(), String> {
    server.inject(Fault::Delay(Duration::from_millis(600)));
    let fetcher = subject.spawn();
    S::sleep(Duration::from_millis(150)).await;
    let waiter = subject.spawn();
    S::sleep(Duration::from_millis(150)).await;
    // From here the fetcher reads the clock twice: when the answer arrives (the retry loop), and while
    // recording the outcome, under the provider's lock. The second reading panics.
    subject.panic_on_clock_read(2);
    ensure!(fetcher.await.is_none(), "the fetcher did not panic");
    match waiter.await {
        Some(Ok(_)) => {}
        other => return Err(format!("the waiter did not get a token after the fetcher's panic: {other:?}")),
    }
    token(subject, "a later call").await?;
    ensure!(
        server.count_path(TOKEN_PATH) == 2,
        "{} requests: the panicked fetch and the waiter's",
        server.count_path(TOKEN_PATH)
    );
    Ok(())
}
