//! td-oauth-partner's `MemoryStore` runs the same contract as the stores on real servers: two clones are
//! two replicas of one store; taking it down and up (`set_available`) stands for a server restart and an
//! outage.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use td_oauth_partner::store::MemoryStore;
use td_oauth_store_conformance as conformance;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_meets_the_store_contract() {
    let store = MemoryStore::new();
    let first: conformance::Store = Arc::new(store.clone());
    let second: conformance::Store = Arc::new(store);
    conformance::run(&first, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_reports_an_outage_as_lost_then_resumed() {
    let store = MemoryStore::new();
    let subscriber: conformance::Store = Arc::new(store.clone());
    let writer: conformance::Store = Arc::new(store.clone());
    conformance::lost_and_resumed(&subscriber, &writer, async || {
        store.set_available(false);
        store.set_available(true);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_down_is_unavailable() {
    let store = MemoryStore::new();
    store.set_available(false);
    let store: conformance::Store = Arc::new(store);
    conformance::unavailable(&store, "memory", "no-password-here").await;
}

#[test]
fn the_memory_store_works_from_blocking_code() {
    let store = MemoryStore::new();
    conformance::from_blocking_code(Arc::new(store.clone()), Arc::new(store));
}
