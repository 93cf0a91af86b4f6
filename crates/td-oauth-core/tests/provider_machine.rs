//! td-oauth-core's provider machine, as a transport drives it: driven by a driver that records what it is told, on a clock the tests step.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use td_oauth_core::cache::CachePolicy;
use td_oauth_core::cache::FetchKind;
use td_oauth_core::clock::{Clock, ManualClock, SharedClock};
use td_oauth_core::provider::*;
use td_oauth_core::transport::run_ready;
use td_oauth_core::{AuthorizationCode, Error, Grant, RefreshToken, Scopes, TokenResponse};

/// A [`ManualClock`] that can be told to panic on its next reading.
#[derive(Debug, Clone, Default)]
struct TestClock {
    time: ManualClock,
    panic_next: Arc<AtomicBool>,
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("the clock failed");
        }
        self.time.now()
    }
}

type Woken = (Round, Option<Result<Arc<TokenResponse>, Error>>);

#[derive(Clone)]
struct TestDriver(Arc<Inner>);

struct Inner {
    cell: ProviderCell,
    woken: Mutex<Vec<Woken>>,
    clock: TestClock,
    shared: SharedClock,
    random: AtomicU64,
    /// What the next fetch returns (a token named "fetched" when empty).
    answers: Mutex<Vec<Result<TokenResponse, Error>>>,
    /// Refreshes handed to the background, for the test to run.
    background: Mutex<Vec<FetchTicket<TestDriver>>>,
}

impl Driver for TestDriver {
    fn cell(&self) -> &ProviderCell {
        &self.0.cell
    }
    fn wake(&self, round: Round, outcome: Option<&Result<Arc<TokenResponse>, Error>>) {
        self.0.woken.lock().unwrap().push((round, outcome.cloned()));
    }
    fn clock(&self) -> &SharedClock {
        &self.0.shared
    }
    fn random(&self) -> u64 {
        self.0.random.load(Ordering::SeqCst)
    }
    fn fetch(&self, ticket: FetchTicket<Self>) -> impl Future<Output = Result<Arc<TokenResponse>, Error>> + Send {
        let answer = self.0.answers.lock().unwrap().pop().unwrap_or_else(|| Ok(token("fetched", 600, None)));
        std::future::ready(ticket.report(answer))
    }
    fn wait(&self, round: Round) -> impl Future<Output = Outcome> + Send {
        let woken = self.0.woken.lock().unwrap().iter().rev().find(|(r, _)| *r >= round).cloned();
        std::future::ready(woken.and_then(|(_, outcome)| outcome))
    }
    fn refresh_in_background(&self, ticket: FetchTicket<Self>) {
        self.0.background.lock().unwrap().push(ticket);
    }
}

impl TestDriver {
    fn new(grant: Grant) -> Self {
        let clock = TestClock::default();
        TestDriver(Arc::new(Inner {
            cell: ProviderCell::new(ProviderState::new(grant, CachePolicy::default())),
            woken: Mutex::new(Vec::new()),
            shared: SharedClock::new(clock.clone()),
            clock,
            random: AtomicU64::new(0),
            answers: Mutex::new(Vec::new()),
            background: Mutex::new(Vec::new()),
        }))
    }

    fn client_credentials() -> Self {
        TestDriver::new(Grant::client_credentials(Scopes::none()))
    }

    fn advance(&self, secs: u64) {
        self.0.clock.time.advance(Duration::from_secs(secs));
    }

    fn warm(&self) -> Option<Arc<TokenResponse>> {
        let now = self.0.clock.time.now();
        self.0.cell.fresh(now)
    }

    fn last_woken(&self) -> Option<Woken> {
        self.0.woken.lock().unwrap().last().cloned()
    }

    fn fetch_ticket(&self) -> FetchTicket<TestDriver> {
        match poll(self) {
            Next::Fetch(ticket) => ticket,
            other => panic!("expected to be elected, got {other:?}"),
        }
    }
}

fn token(access: &str, expires_in: u64, refresh: Option<&str>) -> TokenResponse {
    let refresh = refresh.map(|r| format!(r#","refresh_token":"{r}""#)).unwrap_or_default();
    let body = format!(r#"{{"access_token":"{access}","token_type":"Bearer","expires_in":{expires_in}{refresh}}}"#);
    TokenResponse::from_http(&http::Response::new(body), Instant::now()).unwrap()
}

fn refused() -> Error {
    Error::Transport { url: "https://acme.talkdeskid.com/oauth/token".into(), reason: "connection refused".into() }
}

fn ready(next: Next<TestDriver>) -> Arc<TokenResponse> {
    match next {
        Next::Ready(token) => token,
        other => panic!("expected a token, got {other:?}"),
    }
}

#[test]
fn one_fetch_for_every_caller_and_its_token_published() {
    let driver = TestDriver::client_credentials();
    let ticket = driver.fetch_ticket();
    assert_eq!((ticket.round(), ticket.kind()), (Round(1), FetchKind::Cold));
    for _ in 0..100 {
        assert!(matches!(poll(&driver), Next::Wait(Round(1))));
    }
    let token = ticket.report(Ok(token("a", 600, None))).unwrap();
    let (round, outcome) = driver.last_woken().unwrap();
    assert_eq!(round, Round(1));
    assert!(outcome.unwrap().unwrap().is_same_token(&token), "waiters get the fetcher's token");
    assert!(driver.warm().unwrap().is_same_token(&token), "and so does the warm path");
    assert!(ready(poll(&driver)).is_same_token(&token));
}

#[test]
fn a_dropped_ticket_abandons_the_round_and_a_waiter_takes_over() {
    let driver = TestDriver::client_credentials();
    let ticket = driver.fetch_ticket();
    drop(ticket);
    assert!(matches!(driver.last_woken(), Some((Round(1), None))), "waiters are told to poll again");
    let next = driver.fetch_ticket();
    assert_eq!(next.round(), Round(2), "at once: a cancelled cold fetch is no failure");
}

#[test]
fn a_panic_while_recording_the_outcome_cannot_leave_the_provider_stuck() {
    let driver = TestDriver::client_credentials();
    let ticket = driver.fetch_ticket();
    driver.0.clock.panic_next.store(true, Ordering::SeqCst);
    let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ticket.report(Ok(token("a", 600, None)))));
    assert!(report.is_err(), "the clock panicked while the outcome was being recorded");
    assert!(matches!(driver.last_woken(), Some((Round(1), None))));
    let next = driver.fetch_ticket();
    assert_eq!(next.round(), Round(2), "the next caller fetches instead of waiting for ever");
    next.report(Ok(token("b", 600, None))).unwrap();
    assert_eq!(ready(poll(&driver)).access_token().secret(), "b");
}

#[test]
fn refresh_ahead_keeps_the_token_for_everyone_and_publishes_the_new_one() {
    let driver = TestDriver::client_credentials();
    let old = driver.fetch_ticket().report(Ok(token("old", 600, None))).unwrap();
    driver.advance(480);
    assert!(driver.warm().is_none(), "due: the warm path hands over to the machine");
    let Next::Refresh(served, refresh) = poll(&driver) else { panic!("one caller refreshes") };
    assert!(served.is_same_token(&old));
    assert_eq!(refresh.kind(), FetchKind::Refresh);
    for _ in 0..10 {
        assert!(ready(poll(&driver)).is_same_token(&old), "the others keep the valid token");
    }
    let new = refresh.report(Ok(token("new", 600, None))).unwrap();
    assert!(driver.warm().unwrap().is_same_token(&new));
}

#[test]
fn a_failed_or_abandoned_refresh_keeps_the_token_and_backs_off() {
    let driver = TestDriver::client_credentials();
    let old = driver.fetch_ticket().report(Ok(token("old", 600, None))).unwrap();
    driver.advance(480);
    let Next::Refresh(_, refresh) = poll(&driver) else { panic!() };
    assert!(refresh.report(Err(refused())).is_err());
    for _ in 0..50 {
        assert!(ready(poll(&driver)).is_same_token(&old), "no new refresh during the backoff");
    }
    driver.advance(1);
    let Next::Refresh(_, refresh) = poll(&driver) else { panic!("the backoff is over") };
    drop(refresh);
    for _ in 0..50 {
        assert!(ready(poll(&driver)).is_same_token(&old), "an abandoned refresh backs off too");
    }
}

#[test]
fn callers_arriving_after_a_failed_cold_fetch_share_its_error_during_the_backoff() {
    let driver = TestDriver::client_credentials();
    assert!(driver.fetch_ticket().report(Err(refused())).is_err());
    for _ in 0..100 {
        assert!(matches!(poll(&driver), Next::Failed(Error::Transport { .. })), "no request of their own");
    }
    driver.advance(1);
    let retry = driver.fetch_ticket();
    assert_eq!(retry.round(), Round(2));
    retry.report(Ok(token("a", 600, None))).unwrap();
    assert_eq!(ready(poll(&driver)).access_token().secret(), "a");
}

#[test]
fn a_rotated_refresh_token_replaces_the_grant_and_a_code_turns_into_one() {
    let grant = Grant::refresh_token(RefreshToken::new("r1"), "users:read".parse().unwrap());
    let driver = TestDriver::new(grant);
    let first = driver.fetch_ticket();
    assert!(matches!(first.grant(), Grant::RefreshToken { refresh_token, .. } if refresh_token.secret() == "r1"));
    first.report(Ok(token("a", 600, Some("r2")))).unwrap();
    invalidate(&driver);
    let second = driver.fetch_ticket();
    assert!(
        matches!(second.grant(), Grant::RefreshToken { refresh_token, scopes } if refresh_token.secret() == "r2" && scopes.iter().eq(["users:read"]))
    );
    drop(second);

    let code = Grant::authorization_code(AuthorizationCode::new("code"), "http://127.0.0.1/cb", None);
    let driver = TestDriver::new(code);
    driver.fetch_ticket().report(Ok(token("a", 600, Some("r1")))).unwrap();
    invalidate(&driver);
    assert!(
        matches!(driver.fetch_ticket().grant(), Grant::RefreshToken { refresh_token, .. } if refresh_token.secret() == "r1")
    );
}

#[test]
fn a_refused_token_is_dropped_only_if_current_and_the_next_fetch_discards_it() {
    let driver = TestDriver::client_credentials();
    let old = driver.fetch_ticket().report(Ok(token("old", 600, None))).unwrap();
    assert!(reject(&driver, &old));
    assert!(driver.warm().is_none());
    let mut ticket = driver.fetch_ticket();
    assert!(ticket.take_discard().unwrap().is_same_token(&old), "a shared cache is told to drop it");
    assert!(ticket.take_discard().is_none());
    let new = ticket.report(Ok(token("new", 600, None))).unwrap();
    assert!(!reject(&driver, &old), "a stale 401 leaves the new token alone");
    assert!(ready(poll(&driver)).is_same_token(&new));
}

#[test]
fn poll_ready_never_starts_a_cold_fetch_and_a_released_refresh_is_no_failure() {
    let driver = TestDriver::client_credentials();
    assert!(poll_ready(&driver).is_none());
    assert_eq!(driver.0.cell.with_state(|state| state.fetching()), None);
    let old = driver.fetch_ticket().report(Ok(token("old", 600, None))).unwrap();
    assert!(poll_ready(&driver).is_some_and(|(t, refresh)| t.is_same_token(&old) && refresh.is_none()));
    driver.advance(480);
    let (_, refresh) = poll_ready(&driver).unwrap();
    refresh.unwrap().release();
    let (_, again) = poll_ready(&driver).unwrap();
    assert!(again.is_some(), "released, not failed: the next caller may refresh at once");
}

#[test]
fn a_token_unusable_on_arrival_is_handed_to_its_waiters_but_not_published() {
    let driver = TestDriver::client_credentials();
    let dead = driver.fetch_ticket().report(Ok(token("dead", 0, None))).unwrap();
    assert_eq!(dead.expires_in(), Duration::ZERO);
    assert!(driver.warm().is_none());
    assert!(matches!(poll(&driver), Next::Fetch(_)), "the next caller fetches again");
}

#[test]
fn the_callers_loop_fetches_cold_serves_warm_and_refreshes_in_the_background() {
    let driver = TestDriver::client_credentials();
    let first = run_ready(td_oauth_core::provider::token(&driver)).unwrap();
    assert_eq!(first.access_token().secret(), "fetched");
    assert!(run_ready(td_oauth_core::provider::token(&driver)).unwrap().is_same_token(&first));
    driver.advance(480);
    assert!(
        run_ready(td_oauth_core::provider::token(&driver)).unwrap().is_same_token(&first),
        "due: the caller keeps the valid token"
    );
    let refresh = driver.0.background.lock().unwrap().pop().expect("and a refresh went to the background");
    assert_eq!(refresh.kind(), FetchKind::Refresh);
    driver.0.answers.lock().unwrap().push(Ok(token("refreshed", 600, None)));
    run_ready(driver.fetch(refresh)).unwrap();
    assert_eq!(run_ready(td_oauth_core::provider::token(&driver)).unwrap().access_token().secret(), "refreshed");
}

#[test]
fn the_callers_loop_returns_a_failure_then_shares_it_without_a_request() {
    let driver = TestDriver::client_credentials();
    driver.0.answers.lock().unwrap().push(Err(refused()));
    assert!(matches!(run_ready(td_oauth_core::provider::token(&driver)), Err(Error::Transport { .. })));
    driver.0.answers.lock().unwrap().push(Ok(token("never-asked-for", 600, None)));
    for _ in 0..100 {
        assert!(matches!(run_ready(td_oauth_core::provider::token(&driver)), Err(Error::Transport { .. })));
    }
    assert_eq!(driver.0.answers.lock().unwrap().len(), 1, "no fetch during the backoff");
}
