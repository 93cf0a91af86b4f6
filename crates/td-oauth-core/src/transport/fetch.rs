//! One token fetch's retry loop, as state: which attempt this is, the request to send and how long it may
//! take, what the answer means, and whether (and when) to try again.
//!
//! [`TokenFetch::run`] is the loop, written once: a transport hands it its way of sending an [`Attempt`] and
//! its way of sleeping, as futures (a blocking transport's are ready at once: see
//! [`run_ready`](super::run_ready)). Embedding the core in another stack, drive
//! [`start`](TokenFetch::start) and [`finish`](TokenFetch::finish) yourself:
//!
//! ```text
//! loop {
//!     let answer = match fetch.start(clock.now(), clock.wall()) {
//!         Ok(attempt) => send(attempt.request, attempt.timeout),   // your I/O
//!         Err(error) => Err(error),
//!     };
//!     match fetch.finish(answer, clock.now(), clock.wall(), random) {
//!         AttemptOutcome::Done(result) => return result,
//!         AttemptOutcome::Retry(delay) => sleep(delay),             // your way of waiting
//!     }
//! }
//! ```

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use http::{Request, Response};
use zeroize::Zeroize;

use super::{Config, Transport};
use crate::Error;
use crate::assertion::UnsignedAssertion;
use crate::clock::offset::{MAX_OFFSET_CORRECTION, OFFSET_THRESHOLD};
use crate::clock::{ClockOffset, SharedClock};
use crate::request::{FormBody, Prepared};
use crate::response::ResponseError;
use crate::retry::RetryPolicy;
use crate::signer::{SignFailure, SignatureJob};
use crate::telemetry::Labels;
use crate::{Grant, TokenClient, TokenResponse};

/// No attempt gets less time than this, so that a deadline nearly spent still allows one real try.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(10);

/// The state of one token fetch across its attempts. Every attempt signs a fresh request (a replayed
/// assertion `jti` would be refused).
#[derive(Debug)]
pub struct TokenFetch<'a> {
    client: &'a TokenClient,
    grant: &'a Grant,
    policy: &'a RetryPolicy,
    attempt_timeout: Duration,
    signer_timeout: Duration,
    started: Instant,
    attempt: u32,
    labels: Labels,
    /// When the current attempt was sent, on the wall clock: half of the offset sample's exchange.
    sent: SystemTime,
    /// The clock correction the current attempt's assertion was signed with.
    applied: ClockOffset,
    /// Whether this fetch already retried a refusal on corrected time: never more than once.
    skew_retried: bool,
}

/// What an attempt needs next: to be sent, or first a signature from a signer outside the process.
#[derive(Debug)]
pub enum Step {
    /// Send this.
    Send(Attempt),
    /// Obtain [`job`](PendingSignature::job)'s signature (within its timeout), then hand the answer to
    /// [`TokenFetch::signed`].
    Sign(PendingSignature),
}

/// An attempt whose assertion waits for an outside signer's signature.
#[derive(Debug)]
pub struct PendingSignature {
    job: SignatureJob,
    unsigned: UnsignedAssertion,
}

impl PendingSignature {
    /// What the signer must sign, and how long it may take.
    pub fn job(&self) -> &SignatureJob {
        &self.job
    }
}

/// One attempt to send: the request and how long it may take.
#[derive(Debug)]
pub struct Attempt {
    /// The signed, form-encoded token request.
    pub request: Request<FormBody>,
    /// The per-attempt timeout, cut to what is left of the retry deadline (never under 10 ms).
    pub timeout: Duration,
}

/// What to do after an attempt.
#[derive(Debug)]
pub enum AttemptOutcome {
    /// The fetch is over: the token, or the error to return (the last attempt's).
    Done(Result<TokenResponse, Error>),
    /// Wait this long, then [`start`](TokenFetch::start) the next attempt.
    Retry(Duration),
}

impl<'a> TokenFetch<'a> {
    /// A fetch of `grant` with `client`'s credentials, retried as `config` says, starting at `now`.
    pub fn new<T: Transport>(client: &'a TokenClient, grant: &'a Grant, config: &'a Config<T>, now: Instant) -> Self {
        TokenFetch {
            client,
            grant,
            policy: config.retry_policy(),
            attempt_timeout: config.timeout(),
            signer_timeout: config.signer_timeout(),
            started: now,
            attempt: 0,
            labels: Labels::new(grant, client.token_url().url().host_str().unwrap_or_default()),
            sent: SystemTime::UNIX_EPOCH,
            applied: ClockOffset::ZERO,
            skew_retried: false,
        }
    }

    /// The next attempt at `now`: a freshly signed request (`wall` is the wall-clock time for its
    /// assertion) and its timeout.
    ///
    /// A blocking signer outside the process is called on this thread, with no timeout; an async one is
    /// refused. Transports use [`begin`](Self::begin), which hands the signature out instead.
    pub fn start(&mut self, now: Instant, wall: SystemTime) -> Result<Attempt, Error> {
        let timeout = self.next_attempt(now, wall);
        let (request, applied) = self.client.signed_request(self.grant, wall)?;
        self.applied = applied;
        Ok(Attempt { request, timeout })
    }

    /// `timeout` cut to what is left of the retry deadline at `now`, never under 10 ms.
    fn cut_to_deadline(&self, timeout: Duration, now: Instant) -> Duration {
        let remaining = self.policy.deadline().saturating_sub(self.elapsed(now));
        timeout.min(remaining).max(MIN_ATTEMPT_TIMEOUT)
    }

    /// Counts a new attempt at `now` (`wall` on the wall clock) and returns its timeout.
    fn next_attempt(&mut self, now: Instant, wall: SystemTime) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        let timeout = self.cut_to_deadline(self.attempt_timeout, now);
        tracing::debug!(
            grant_type = self.grant.grant_type(),
            token_url = self.client.token_url().as_str(),
            attempt = self.attempt,
            timeout_ms = millis(timeout),
            "requesting a token"
        );
        self.sent = wall;
        timeout
    }

    /// The next attempt at `now`, as [`start`](Self::start), except that an assertion signed outside the
    /// process is handed out as a [`Step::Sign`] (its signature job) rather than signed here: how a
    /// transport drives a signer with its own I/O and timeout. The signer gets the config's signer timeout,
    /// cut to what is left of the retry deadline.
    pub fn begin(&mut self, now: Instant, wall: SystemTime) -> Result<Step, Error> {
        let timeout = self.next_attempt(now, wall);
        let signer_timeout = self.cut_to_deadline(self.signer_timeout, now);
        match self.client.prepare_request(self.grant, wall, signer_timeout)? {
            Prepared::Ready(request, applied) => {
                self.applied = applied;
                Ok(Step::Send(Attempt { request, timeout }))
            }
            Prepared::Unsigned { unsigned, job, correction } => {
                self.applied = correction;
                Ok(Step::Sign(PendingSignature { job, unsigned }))
            }
        }
    }

    /// The attempt `pending` becomes with the signer's `answer`, received at `now` (`wall` on the wall
    /// clock): its signature, its failure, or `None` when it gave none within the job's timeout. The
    /// signature is checked (see [`signer`](crate::signer)); a signer's failure is an [`Error::Signer`] to
    /// hand to [`finish`](Self::finish) like any other. The attempt's timeout, and the send time the clock
    /// offset is measured from, start here, after the signer's time.
    pub fn signed(
        &mut self,
        pending: PendingSignature,
        answer: Option<Result<Vec<u8>, SignFailure>>,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Attempt, Error> {
        let PendingSignature { job, unsigned } = pending;
        let request = self.client.finish_request(self.grant, unsigned, answer, job.timeout())?;
        self.sent = wall;
        Ok(Attempt { request, timeout: self.cut_to_deadline(self.attempt_timeout, now) })
    }

    /// The answer to the attempt (or why there was none), received at `now`: the token, the error to
    /// return, or how long to wait before retrying. The body is parsed, then wiped (it holds the tokens; the
    /// parsed copies are the ones that live on). `random` is the jitter.
    ///
    /// An answer that is the token endpoint's own (a token or an OAuth error, not a proxy's page) moves the
    /// client's clock-offset estimate by its `Date` header, read against `wall`. A refusal whose timing
    /// shows a skewed assertion (`invalid_client` or `invalid_grant`, signed with a correction more than 30 s
    /// from the estimate now) is retried at once on corrected time, once per fetch; when it is returned, its
    /// message names the offset.
    pub fn finish(
        &mut self,
        answer: Result<Response<Vec<u8>>, Error>,
        now: Instant,
        wall: SystemTime,
        random: u64,
    ) -> AttemptOutcome {
        let (grant_type, token_url, attempt) =
            (self.grant.grant_type(), self.client.token_url().as_str(), self.attempt);
        let parsed = answer.and_then(|mut response| {
            let kind = self.client.token_kind();
            let parsed = TokenResponse::from_http(&response, now).map(|token| token.with_kind(kind));
            response.body_mut().zeroize();
            if matches!(parsed, Ok(_) | Err(ResponseError::OAuth(_))) {
                self.observe(response.headers(), wall);
            }
            parsed.map_err(Error::from)
        });
        let parsed = match parsed {
            Err(Error::Response(ResponseError::OAuth(refusal))) if refusal.may_be_skew() => {
                match self.skewed(refusal) {
                    Ok(delay) => return AttemptOutcome::Retry(delay),
                    Err(refusal) => Err(Error::Response(ResponseError::OAuth(refusal))),
                }
            }
            other => other,
        };
        let error = match parsed {
            Ok(token) => {
                tracing::debug!(
                    grant_type,
                    token_url,
                    attempt,
                    expires_in = token.expires_in().as_secs(),
                    scope = token.scope().unwrap_or_default(),
                    "token received"
                );
                let result = Ok(token);
                self.labels.fetch_ended(&result, self.elapsed(now));
                return AttemptOutcome::Done(result);
            }
            Err(error) => error,
        };
        match self.policy.next_delay(attempt, error.failure(wall), self.elapsed(now), random) {
            Some(delay) => {
                tracing::info!(grant_type, token_url, attempt, delay_ms = millis(delay), reason = %error, "token request failed; retrying");
                self.labels.retried();
                AttemptOutcome::Retry(delay)
            }
            None => {
                tracing::warn!(grant_type, token_url, attempt, error = %error, "token request failed");
                let result = Err(error);
                self.labels.fetch_ended(&result, self.elapsed(now));
                AttemptOutcome::Done(result)
            }
        }
    }

    /// Takes the answer's `Date` into the client's offset estimate, saying so the first time it crosses the
    /// threshold.
    fn observe(&self, headers: &http::HeaderMap, received: SystemTime) {
        let Some(seen) = self.client.observe_answer(headers, self.sent, received) else { return };
        self.labels.clock_offset(seen.offset);
        if seen.crossed_threshold {
            let token_url = self.client.token_url().as_str();
            if seen.offset.magnitude() > MAX_OFFSET_CORRECTION {
                tracing::warn!(
                    token_url,
                    offset_s = seen.offset.as_secs(),
                    "{}; that is more than the {} s assertions are corrected for: set this machine's clock right",
                    seen.offset,
                    MAX_OFFSET_CORRECTION.as_secs()
                );
            } else {
                tracing::warn!(
                    token_url,
                    offset_s = seen.offset.as_secs(),
                    "{}; assertions are signed on its time",
                    seen.offset
                );
            }
        }
    }

    /// A refusal a skewed assertion gets: `Ok` with the delay before retrying it once on corrected time, or
    /// the refusal to return, naming the offset when it is over the threshold.
    fn skewed(&mut self, mut refusal: crate::OAuthError) -> Result<Duration, crate::OAuthError> {
        let Some(offset) = self.client.clock_offset() else {
            return Err(refusal);
        };
        let over = offset.magnitude() > OFFSET_THRESHOLD;
        // What the estimate corrects by now, against what this assertion was corrected by: an offset kept
        // from an earlier run may have been wrong, either way.
        let correction = if over { offset } else { ClockOffset::ZERO };
        let signed = self.client.assertion_signer().is_some();
        let misjudged = correction.saturating_sub(self.applied).magnitude() > OFFSET_THRESHOLD;
        if signed && misjudged && !self.skew_retried {
            self.skew_retried = true;
            tracing::info!(
                token_url = self.client.token_url().as_str(),
                offset_s = offset.as_secs(),
                "the assertion was refused and {offset}; retrying once on its time"
            );
            self.labels.retried();
            return Ok(Duration::ZERO);
        }
        if over {
            refusal.clock_offset = Some(offset);
        }
        Err(refusal)
    }

    /// The whole loop on `clock`: each outside signature obtained with `sign` (which gives up after the
    /// job's timeout, answering `None`), each attempt sent with `send`, each backoff waited with `sleep`,
    /// `random` drawn for the jitter.
    pub async fn run<G, S, Z>(
        mut self,
        clock: &SharedClock,
        random: impl Fn() -> u64,
        mut sign: impl FnMut(SignatureJob) -> G,
        mut send: impl FnMut(Attempt) -> S,
        mut sleep: impl FnMut(Duration) -> Z,
    ) -> Result<TokenResponse, Error>
    where
        G: Future<Output = Option<Result<Vec<u8>, SignFailure>>>,
        S: Future<Output = Result<Response<Vec<u8>>, Error>>,
        Z: Future<Output = ()>,
    {
        loop {
            let attempt = match self.begin(clock.now(), clock.wall()) {
                Ok(Step::Send(attempt)) => Ok(attempt),
                Ok(Step::Sign(pending)) => {
                    let answer = sign(pending.job().clone()).await;
                    self.signed(pending, answer, clock.now(), clock.wall())
                }
                Err(error) => Err(error),
            };
            let answer = match attempt {
                Ok(attempt) => send(attempt).await,
                Err(error) => Err(error),
            };
            match self.finish(answer, clock.now(), clock.wall(), random()) {
                AttemptOutcome::Done(result) => return result,
                AttemptOutcome::Retry(delay) => sleep(delay).await,
            }
        }
    }

    /// Attempts started so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::{ClientId, ClientSecret, Credentials, Endpoints, Scopes};

    type Test = crate::transport::config::tests::Strict;

    fn client() -> TokenClient {
        let endpoints = Endpoints::from_token_url("https://acme.talkdeskid.com/oauth/token").unwrap();
        let credentials =
            Credentials::client_secret(ClientId::new("client").unwrap(), ClientSecret::new("secret")).unwrap();
        TokenClient::new(&endpoints, credentials)
    }

    fn answer(status: u16, body: &str) -> Result<Response<Vec<u8>>, Error> {
        let mut response = Response::new(body.as_bytes().to_vec());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        Ok(response)
    }

    fn config() -> Config<Test> {
        Config::new()
            .with_timeout(Duration::from_secs(10))
            .with_retry_policy(RetryPolicy::default().with_max_retries(2).with_deadline(Duration::from_secs(15)))
    }

    #[test]
    fn retries_5xx_until_the_limit_then_returns_the_last_error() {
        let (client, grant, config) = (client(), Grant::client_credentials(Scopes::none()), config());
        let t0 = Instant::now();
        let mut fetch = TokenFetch::new(&client, &grant, &config, t0);
        for attempt in 1..=3 {
            let started = fetch.start(t0, SystemTime::now()).unwrap();
            assert_eq!(started.timeout, Duration::from_secs(10));
            assert_eq!(fetch.attempts(), attempt);
            match fetch.finish(answer(503, ""), t0, SystemTime::now(), 0) {
                AttemptOutcome::Retry(_) if attempt < 3 => {}
                AttemptOutcome::Done(Err(Error::Response(crate::response::ResponseError::UnexpectedStatus {
                    status,
                    ..
                }))) if attempt == 3 => {
                    assert_eq!(status, 503)
                }
                other => panic!("attempt {attempt}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_attempt_timeout_is_cut_to_the_deadline_with_a_floor() {
        let (client, grant, config) = (client(), Grant::client_credentials(Scopes::none()), config());
        let t0 = Instant::now();
        let mut fetch = TokenFetch::new(&client, &grant, &config, t0);
        assert_eq!(
            fetch.start(t0 + Duration::from_secs(12), SystemTime::now()).unwrap().timeout,
            Duration::from_secs(3)
        );
        assert_eq!(fetch.start(t0 + Duration::from_secs(20), SystemTime::now()).unwrap().timeout, MIN_ATTEMPT_TIMEOUT);
    }

    #[test]
    fn a_token_ends_the_fetch_and_a_4xx_is_never_retried() {
        let (client, grant, config) = (client(), Grant::client_credentials(Scopes::none()), config());
        let t0 = Instant::now();
        let mut fetch = TokenFetch::new(&client, &grant, &config, t0);
        fetch.start(t0, SystemTime::now()).unwrap();
        let body = r#"{"access_token":"a","token_type":"Bearer","expires_in":600}"#;
        assert!(matches!(fetch.finish(answer(200, body), t0, SystemTime::now(), 0), AttemptOutcome::Done(Ok(_))));
        let mut fetch = TokenFetch::new(&client, &grant, &config, t0);
        fetch.start(t0, SystemTime::now()).unwrap();
        let refused = answer(401, r#"{"error":"invalid_client"}"#);
        match fetch.finish(refused, t0, SystemTime::now(), 0) {
            AttemptOutcome::Done(Err(error)) => assert!(error.oauth().is_some_and(|e| e.is_invalid_client())),
            other => panic!("{other:?}"),
        }
    }

    /// A blocking signer over a key in memory, so that its signatures verify.
    #[derive(Debug)]
    struct KeySigner(crate::PrivateKey, crate::KeyId);

    impl crate::signer::Signer for KeySigner {
        fn algorithm(&self) -> crate::Algorithm {
            self.0.algorithm()
        }
        fn key_id(&self) -> &crate::KeyId {
            &self.1
        }
        fn public_key(&self) -> Option<crate::key::PublicKey> {
            Some(self.0.public_key())
        }
        fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignFailure> {
            Ok(self.0.sign(message).unwrap().as_ref().to_vec())
        }
    }

    fn signer_client() -> (TokenClient, std::sync::Arc<KeySigner>) {
        let key = crate::PrivateKey::parse(include_str!("../../tests/keys/es256.pkcs8.pem")).unwrap();
        let signer = std::sync::Arc::new(KeySigner(key, crate::KeyId::new("kid").unwrap()));
        let endpoints = Endpoints::from_token_url("https://acme.talkdeskid.com/oauth/token").unwrap();
        let credentials = Credentials::signer(ClientId::new("client").unwrap(), signer.clone()).unwrap();
        (TokenClient::new(&endpoints, credentials), signer)
    }

    #[test]
    fn an_outside_signature_is_handed_out_as_a_job_and_its_answer_checked() {
        let ((client, signer), grant, config) = (signer_client(), Grant::client_credentials(Scopes::none()), config());
        let config = config.with_signer_timeout(Duration::from_secs(2));
        let t0 = Instant::now();
        let mut fetch = TokenFetch::new(&client, &grant, &config, t0);
        let Step::Sign(pending) = fetch.begin(t0, SystemTime::now()).unwrap() else { panic!("no signature job") };
        assert_eq!(pending.job().timeout(), Duration::from_secs(2));
        let input = pending.job().input().to_vec();
        assert_eq!(input.iter().filter(|&&b| b == b'.').count(), 1, "header.claims, no signature yet");
        let answer = crate::signer::Signer::sign(&*signer, &input);
        let attempt = fetch.signed(pending, Some(answer), t0, SystemTime::now()).unwrap();
        assert_eq!(attempt.timeout, Duration::from_secs(10));
        let body = String::from_utf8(attempt.request.body().as_bytes().to_vec()).unwrap();
        assert!(body.contains("client_assertion=") && body.contains(&String::from_utf8(input).unwrap()));

        // No answer in time: a retryable signer error, handed to `finish` like any failure.
        let Step::Sign(pending) = fetch.begin(t0, SystemTime::now()).unwrap() else { panic!("no signature job") };
        let err = fetch.signed(pending, None, t0, SystemTime::now()).unwrap_err();
        assert!(matches!(err, Error::Signer(crate::signer::SignerError::TimedOut { .. })), "{err:?}");
        assert!(matches!(fetch.finish(Err(err), t0, SystemTime::now(), 0), AttemptOutcome::Retry(_)));

        // The signer timeout is cut to what is left of the retry deadline.
        let Step::Sign(pending) = fetch.begin(t0 + Duration::from_secs(14), SystemTime::now()).unwrap() else {
            panic!("no signature job")
        };
        assert_eq!(pending.job().timeout(), Duration::from_secs(1));
    }

    #[test]
    fn transport_failures_are_retried_and_configuration_errors_are_not() {
        let (client, grant, config) = (client(), Grant::client_credentials(Scopes::none()), config());
        let t0 = Instant::now();
        let mut fetch = TokenFetch::new(&client, &grant, &config, t0);
        fetch.start(t0, SystemTime::now()).unwrap();
        let dropped = Err(Error::Transport { url: "u".into(), reason: "reset".into() });
        assert!(matches!(fetch.finish(dropped, t0, SystemTime::now(), 0), AttemptOutcome::Retry(_)));
        let refused = Err(Error::Tls { url: "u".into(), reason: "unknown issuer".into() });
        assert!(matches!(fetch.finish(refused, t0, SystemTime::now(), 0), AttemptOutcome::Done(Err(_))));
    }
}
