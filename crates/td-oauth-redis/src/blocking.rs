//! [`BlockingFleetCache`]: the fleet cache for blocking programs (td-oauth-ureq). The Redis connection lives
//! on a small tokio runtime of its own, whose one worker thread drives Redis I/O and timers; callers block
//! on it from their own threads, and the token request (ureq) runs on the caller's thread.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::sealed::FleetKey;
use td_oauth_core::crypto::SealingKey;
use td_oauth_core::provider::BackoffRule;
use td_oauth_core::{Grant, TokenResponse};
use td_oauth_ureq::{Client, SharedCache};
use tokio::runtime::{Handle, Runtime};

use crate::{Error, FleetCache, FleetConfig};

/// A [`FleetCache`] for blocking programs: the same Redis protocol, keys and sealing, so blocking and async
/// processes of one fleet share tokens, but every method blocks the calling thread instead of returning a
/// future.
///
/// Plug it into a td-oauth-ureq provider with
/// [`Config::with_shared_cache`](td_oauth_ureq::Config::with_shared_cache), or call
/// [`get_or_fetch`](Self::get_or_fetch) directly. `Clone`: clones share the connection and the runtime.
///
/// It owns a tokio runtime with one worker thread (named `td-oauth-redis`), which keeps the Redis
/// connection and the timeouts going while callers wait from their own threads. Called from inside a tokio
/// runtime (an async task, or `spawn_blocking`), it still works, but blocks that thread like any blocking
/// call: in async code prefer [`FleetCache`] with td-oauth-reqwest.
#[cfg_attr(docsrs, doc(cfg(feature = "ureq")))]
#[derive(Clone)]
pub struct BlockingFleetCache {
    inner: Arc<Inner>,
}

struct Inner {
    cache: FleetCache,
    /// The runtime's handle, which is all the callers need.
    handle: Handle,
    /// Owned here so that it lives as long as the cache; `Option` only so that `drop` can take it.
    runtime: Option<Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio refuses (with a panic) inside another runtime: the last
        // clone may well be dropped in async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for BlockingFleetCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingFleetCache").field("cache", &self.inner.cache).finish()
    }
}

impl BlockingFleetCache {
    /// A blocking fleet cache on the Redis at `redis_url` (`redis://[:password@]host[:port][/db]`), sealing
    /// tokens with `key`, with the default [`FleetConfig`]. Only checks the URL and starts the runtime's
    /// thread: it connects on first use, so a Redis that is down at start-up means direct fetches, not an
    /// error.
    pub fn new(redis_url: &str, key: SealingKey) -> Result<BlockingFleetCache, Error> {
        BlockingFleetCache::with_config(redis_url, key, FleetConfig::default())
    }

    /// [`new`](Self::new) with `config`.
    pub fn with_config(redis_url: &str, key: SealingKey, config: FleetConfig) -> Result<BlockingFleetCache, Error> {
        BlockingFleetCache::around(FleetCache::with_config(redis_url, key, config)?)
    }

    /// A blocking fleet cache on a Redis (or Valkey) Cluster (see [`FleetCache::cluster`]).
    pub fn cluster(nodes: &[&str], key: SealingKey) -> Result<BlockingFleetCache, Error> {
        BlockingFleetCache::cluster_with_config(nodes, key, FleetConfig::default())
    }

    /// [`cluster`](Self::cluster) with `config`.
    pub fn cluster_with_config(
        nodes: &[&str],
        key: SealingKey,
        config: FleetConfig,
    ) -> Result<BlockingFleetCache, Error> {
        BlockingFleetCache::around(FleetCache::cluster_with_config(nodes, key, config)?)
    }

    fn around(cache: FleetCache) -> Result<BlockingFleetCache, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("td-oauth-redis")
            .enable_all()
            .build()
            .map_err(|err| Error::Runtime { reason: err.to_string() })?;
        let handle = runtime.handle().clone();
        Ok(BlockingFleetCache { inner: Arc::new(Inner { cache, handle, runtime: Some(runtime) }) })
    }

    /// The settings.
    pub fn config(&self) -> &FleetConfig {
        self.inner.cache.config()
    }

    /// The Redis server's `host:port` (a cluster's first seed node's, followed by ` (cluster)`).
    pub fn redis_endpoint(&self) -> &str {
        self.inner.cache.redis_endpoint()
    }

    /// A token for `key`: a valid one from Redis, or the one `fetch` gets, shared with the fleet. Blocks
    /// until then. The same rules as [`FleetCache::get_or_fetch`]: `fetch` is called at most once, on this
    /// thread, and its error is returned as is; Redis being down, slow or failing means `fetch` is called
    /// directly, with a `tracing` warning.
    pub fn get_or_fetch<F, E>(&self, key: &FleetKey, fetch: F) -> Result<TokenResponse, E>
    where
        F: FnOnce() -> Result<TokenResponse, E>,
    {
        self.block_on(self.inner.cache.get_or_fetch(key, || async move { fetch() }))
    }

    /// Deletes the token stored for `key` if it is `token`, so that no process is handed it again (see
    /// [`FleetCache::discard`]). Blocks until done; Redis failures are warned about and otherwise ignored.
    pub fn discard(&self, key: &FleetKey, token: &TokenResponse) {
        self.block_on(self.inner.cache.discard(key, token));
    }

    /// Runs `work` to completion on this thread, with this cache's runtime driving Redis I/O and timers.
    fn block_on<T>(&self, work: impl Future<Output = T>) -> T {
        let handle = &self.inner.handle;
        match Handle::try_current() {
            // Outside any runtime: tokio's own blocking entry point.
            Err(_) => handle.block_on(work),
            // Inside one, `Handle::block_on` panics ("cannot start a runtime from within a runtime"), but only
            // to protect that runtime's own tasks; ours run on our worker. So poll here, with our runtime as
            // the context (for the timers and tasks the Redis client makes) and without the calling task's
            // cooperative budget, which this loop could otherwise spin on once spent.
            Ok(_) => {
                let _context = handle.enter();
                park_on(tokio::task::unconstrained(work))
            }
        }
    }
}

/// Polls `work` on this thread until it is ready, parking between polls; its wakers unpark this thread.
fn park_on<T>(work: impl Future<Output = T>) -> T {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut work = pin!(work);
    loop {
        if let Poll::Ready(output) = work.as_mut().poll(&mut context) {
            return output;
        }
        // A wake-up between the poll and here makes `park` return at once (the token is kept).
        std::thread::park();
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl SharedCache for BlockingFleetCache {
    /// Client-credentials tokens go through the fleet cache, keyed by token URL, client id and scopes (the
    /// same entries as the async [`FleetCache`]'s). Other grants are per user (authorization code, refresh
    /// token): they are fetched directly.
    fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, td_oauth_ureq::Error> {
        match FleetKey::for_grant(client.token_client(), grant) {
            Some(key) => self.get_or_fetch(&key, || client.fetch(grant)),
            None => client.fetch(grant),
        }
    }

    /// As [`fetch`](SharedCache::fetch), and the fleet backs off together (see [`FleetCache`]'s): the request
    /// is not sent while a refusal recorded by any process, async or blocking, holds, and a refusal of this
    /// one is recorded for the others.
    fn fetch_with_backoff(
        &self,
        client: &Client,
        grant: &Grant,
        backoff: &BackoffRule,
    ) -> Result<TokenResponse, td_oauth_ureq::Error> {
        let Some(key) = FleetKey::for_grant(client.token_client(), grant) else {
            return client.fetch(grant);
        };
        let cache = &self.inner.cache;
        self.block_on(
            cache.get_or_fetch(&key, || {
                cache.fetch_unless_refused(&key, backoff, || async move { client.fetch(grant) })
            }),
        )
    }

    /// Deletes the fleet's token if it is still `token`, so that no process is handed it again.
    fn discard(&self, client: &Client, grant: &Grant, token: &TokenResponse) {
        if let Some(key) = FleetKey::for_grant(client.token_client(), grant) {
            BlockingFleetCache::discard(self, &key, token);
        }
    }
}
