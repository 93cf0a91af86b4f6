//! The one-shot client: the core's [`TokenFetch`] loop run with blocking I/O and `thread::sleep`.

use std::future::ready;
use std::sync::{Arc, mpsc};
use std::thread;

use td_oauth_core::signer::{SignFailure, SignatureJob};
use td_oauth_core::transport::proxy::ProxyRule;
use td_oauth_core::transport::{Transport, run_ready};
use td_oauth_core::{Grant, TokenResponse};

use crate::{Config, Error, SharedCache, TokenProvider, config, send};

td_oauth_core::client_face! {
    /// A blocking token client: every grant, both client authentications, retries per the
    /// [`RetryPolicy`](td_oauth_core::retry::RetryPolicy).
    ///
    /// Cheap to clone (an `Arc`); share one per set of credentials. Each call signs a fresh assertion (new
    /// `jti`) for every attempt, so retries are never refused as replays. For a token shared by many callers,
    /// cached and refreshed ahead of expiry, make a [`TokenProvider`] with [`provider`](Self::provider).
    http: ureq::Agent,
    calls:
}

impl Client {
    /// Gets a token for `grant`, retrying connection failures, timeouts, truncated answers, 5xx and 429
    /// (honouring `Retry-After`) with full-jitter backoff within the retry policy's deadline. Other answers,
    /// such as `invalid_client`, are returned at once.
    pub fn fetch(&self, grant: &Grant) -> Result<TokenResponse, Error> {
        let parts = &*self.parts;
        let (agent, proxies) = (parts.http_client(), parts.proxies().map(|rule| &**rule));
        let (shown, cap) = (parts.shown_url(), parts.config().max_response_bytes());
        run_ready(parts.token_fetch(grant).run(
            parts.config().clock(),
            || parts.jitter(),
            |job| ready(sign(job)),
            |attempt| ready(send::send(agent, proxies, attempt, shown, cap)),
            |delay| {
                std::thread::sleep(delay);
                ready(())
            },
        ))
    }

    /// The proxy rule requests through the agent this client built follow (`None` with a caller's agent).
    pub(crate) fn proxies(&self) -> Option<&Arc<ProxyRule>> {
        self.parts.proxies()
    }
}

/// One signature from a blocking signer outside the process, within the job's timeout (`None` past it).
/// The signer runs on a helper thread of its own so that the timeout holds however it blocks; a call that
/// runs over is left to finish there and its answer is dropped.
fn sign(job: SignatureJob) -> Option<Result<Vec<u8>, SignFailure>> {
    let timeout = job.timeout();
    let (answer, answered) = mpsc::sync_channel(1);
    let helper = thread::Builder::new().name("td-oauth-signer".into()).spawn(move || {
        // The receiver is gone once the wait timed out; the answer is then dropped.
        let _ = answer.send(job.sign_blocking());
    });
    if let Err(err) = helper {
        return Some(Err(SignFailure::retryable(format!("could not start a thread for the signer: {err}"))));
    }
    match answered.recv_timeout(timeout) {
        Ok(answer) => Some(answer),
        Err(mpsc::RecvTimeoutError::Timeout) => None,
        Err(mpsc::RecvTimeoutError::Disconnected) => Some(Err(SignFailure::panicked())),
    }
}

/// What td-oauth-core's [`Config`] needs of this transport.
impl Transport for Client {
    type HttpClient = ureq::Agent;
    type SharedCache = dyn SharedCache;
    /// ureq 3 trusts one root store: the platform's, Mozilla's, or a given list, never a merge.
    const ADDS_ROOTS_TO_SYSTEM: bool = false;
    /// Blocking signers only: a client with an async one is refused when it is built.
    const DRIVES_ASYNC_SIGNERS: bool = false;

    /// The rule is applied to each request the client sends; the agent itself sends straight.
    fn build_http_client(config: &Config, _proxies: &Arc<ProxyRule>) -> Result<ureq::Agent, Error> {
        Ok(config::agent(config))
    }
}
