//! [`BlockingStore`]: any [`InstallationStore`] driven from blocking code, on a tokio runtime of its own (as
//! td-oauth-redis's `BlockingFleetCache` drives Redis).

use std::fmt;
use std::future::Future;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use async_trait::async_trait;
use tokio::runtime::{Handle, Runtime};

use crate::store::seam::{EventClaim, InstallationStore, NoticeSink, Put, StoreError, Subscription, Versioned};

/// An [`InstallationStore`] for blocking programs: every method blocks the calling thread until the store
/// answers. The store's connections, timeouts and subscription run on a tokio runtime owned here (one
/// worker thread, named `td-oauth-store`).
///
/// It is itself an `InstallationStore` whose futures are ready when first polled, which is how the
/// [`BlockingFleetTokenManager`](crate::BlockingFleetTokenManager) drives the one
/// [`FleetManager`](crate::fleet::FleetManager) from blocking code. Called from inside another tokio
/// runtime, it still works, but blocks that thread like any blocking call. `Clone`: clones share the store
/// and the runtime.
#[derive(Clone)]
pub struct BlockingStore {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn InstallationStore>,
    handle: Handle,
    /// `Option` only so that `drop` can take it.
    runtime: Option<Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio refuses inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl fmt::Debug for BlockingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingStore").field("store", &self.inner.store).finish()
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable {
        location: "blocking store runtime".to_owned(),
        reason: "the runtime driving the store stopped".to_owned(),
    }
}

impl BlockingStore {
    /// Drives `store` from a runtime of its own. Fails when the system refuses the runtime's thread.
    pub fn new(store: Arc<dyn InstallationStore>) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("td-oauth-store")
            .enable_all()
            .build()
            .map_err(|err| StoreError::Unavailable {
                location: "blocking store runtime".to_owned(),
                reason: format!("its tokio runtime could not be started ({err}); check the process's thread limits"),
            })?;
        let handle = runtime.handle().clone();
        Ok(BlockingStore { inner: Arc::new(Inner { store, handle, runtime: Some(runtime) }) })
    }

    /// The store driven.
    pub fn store(&self) -> &Arc<dyn InstallationStore> {
        &self.inner.store
    }

    /// Runs `call` on the runtime and waits for its answer.
    fn block<R, F>(&self, call: impl FnOnce(Arc<dyn InstallationStore>) -> F) -> Result<R, StoreError>
    where
        F: Future<Output = Result<R, StoreError>> + Send + 'static,
        R: Send + 'static,
    {
        let (sender, receiver) = mpsc::sync_channel(1);
        let future = call(Arc::clone(&self.inner.store));
        self.inner.handle.spawn(async move {
            // The caller waits on the receiver; it only goes away with the caller.
            let _ = sender.send(future.await);
        });
        receiver.recv().map_err(|_| stopped())?
    }

    /// [`InstallationStore::get`], blocking.
    pub fn get_blocking(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let key = key.to_owned();
        self.block(move |store| async move { store.get(&key).await })
    }

    /// [`InstallationStore::put`], blocking.
    pub fn put_blocking(&self, key: &str, expected: Option<u64>, value: &[u8]) -> Result<Put, StoreError> {
        let (key, value) = (key.to_owned(), value.to_vec());
        self.block(move |store| async move { store.put(&key, expected, &value).await })
    }

    /// [`InstallationStore::list`], blocking.
    pub fn list_blocking(&self) -> Result<Vec<(String, Versioned)>, StoreError> {
        self.block(|store| async move { store.list().await })
    }

    /// [`InstallationStore::claim_event`], blocking.
    pub fn claim_event_blocking(
        &self,
        event_id: &str,
        holder: &str,
        lease: Duration,
    ) -> Result<EventClaim, StoreError> {
        let (event_id, holder) = (event_id.to_owned(), holder.to_owned());
        self.block(move |store| async move { store.claim_event(&event_id, &holder, lease).await })
    }

    /// [`InstallationStore::finish_event`], blocking.
    pub fn finish_event_blocking(&self, event_id: &str, remember: Duration) -> Result<(), StoreError> {
        let event_id = event_id.to_owned();
        self.block(move |store| async move { store.finish_event(&event_id, remember).await })
    }

    /// [`InstallationStore::release_event`], blocking.
    pub fn release_event_blocking(&self, event_id: &str, holder: &str) -> Result<(), StoreError> {
        let (event_id, holder) = (event_id.to_owned(), holder.to_owned());
        self.block(move |store| async move { store.release_event(&event_id, &holder).await })
    }

    /// [`InstallationStore::subscribe`], on this adapter's runtime, blocking until subscribed.
    pub fn subscribe_blocking(&self, sink: NoticeSink) -> Result<Subscription, StoreError> {
        self.block(move |store| async move { store.subscribe(sink).await })
    }
}

#[async_trait]
impl InstallationStore for BlockingStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.get_blocking(key)
    }

    async fn put(&self, key: &str, expected: Option<u64>, value: &[u8]) -> Result<Put, StoreError> {
        self.put_blocking(key, expected, value)
    }

    async fn list(&self) -> Result<Vec<(String, Versioned)>, StoreError> {
        self.list_blocking()
    }

    async fn claim_event(&self, event_id: &str, holder: &str, lease: Duration) -> Result<EventClaim, StoreError> {
        self.claim_event_blocking(event_id, holder, lease)
    }

    async fn finish_event(&self, event_id: &str, remember: Duration) -> Result<(), StoreError> {
        self.finish_event_blocking(event_id, remember)
    }

    async fn release_event(&self, event_id: &str, holder: &str) -> Result<(), StoreError> {
        self.release_event_blocking(event_id, holder)
    }

    async fn subscribe(&self, sink: NoticeSink) -> Result<Subscription, StoreError> {
        self.subscribe_blocking(sink)
    }
}
