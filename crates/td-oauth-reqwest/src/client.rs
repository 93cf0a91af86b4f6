//! The one-shot client: the core's [`TokenFetch`] loop run with reqwest and tokio's sleep.

use std::sync::Arc;

use td_oauth_core::signer::{SignFailure, SignatureJob};
use td_oauth_core::transport::Transport;
use td_oauth_core::{Grant, TokenResponse};

use td_oauth_core::transport::proxy::ProxyRule;

use crate::{Config, Error, SharedCache, TokenProvider, config, send};

td_oauth_core::client_face! {
    /// Sends token requests for one client to one token endpoint. Every call is a request (plus retries);
    /// for a token shared by many callers and refreshed ahead of expiry, make a [`TokenProvider`] with
    /// [`provider`](Self::provider).
    ///
    /// Cheap to clone: clones share the HTTP client (and its connection pool) and the signer.
    http: reqwest::Client,
    calls: async await
}

impl Client {
    /// Requests a token for `grant`, retrying transport failures, timeouts, 5xx and 429 per the
    /// [`RetryPolicy`](td_oauth_core::retry::RetryPolicy); other errors (such as `invalid_client`) return at once.
    pub async fn fetch(&self, grant: &Grant) -> Result<TokenResponse, Error> {
        let parts = &*self.parts;
        let (url, shown, cap) =
            (parts.tokens().token_url().url(), parts.shown_url(), parts.config().max_response_bytes());
        let proxy = parts.proxies().and_then(|rule| rule.route(url));
        let send = |attempt| send::send(parts.http_client(), proxy, attempt, url, shown, cap);
        parts.token_fetch(grant).run(parts.config().clock(), || parts.jitter(), sign, send, tokio::time::sleep).await
    }
}

/// One signature from a signer outside the process, within the job's timeout (`None` past it): an async
/// signer awaited, a blocking one on tokio's blocking pool so that it holds up no task. A blocking call that
/// runs over is left to finish on its thread; its answer is dropped.
async fn sign(job: SignatureJob) -> Option<Result<Vec<u8>, SignFailure>> {
    let timeout = job.timeout();
    if job.signer().is_async() {
        return tokio::time::timeout(timeout, job.sign_async()).await.ok();
    }
    let call = tokio::task::spawn_blocking(move || job.sign_blocking());
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(answer)) => Some(answer),
        Ok(Err(_)) => Some(Err(SignFailure::panicked())),
        Err(_) => None,
    }
}

/// What td-oauth-core's [`Config`] needs of this transport.
impl Transport for Client {
    type HttpClient = reqwest::Client;
    type SharedCache = dyn SharedCache;
    const ADDS_ROOTS_TO_SYSTEM: bool = true;
    /// Async signers are awaited; blocking ones run on tokio's blocking pool.
    const DRIVES_ASYNC_SIGNERS: bool = true;

    fn build_http_client(config: &Config, proxies: &Arc<ProxyRule>) -> Result<reqwest::Client, Error> {
        config::build_http_client(config, Arc::clone(proxies))
    }
}
