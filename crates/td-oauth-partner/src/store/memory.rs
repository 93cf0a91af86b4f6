//! [`MemoryStore`]: an [`InstallationStore`] in this process's memory, for tests and for a single process
//! that needs no persistence. Clones share one store, so several managers over clones of it behave as the
//! replicas of a fleet over one Redis or PostgreSQL.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::store::seam::{EventClaim, InstallationStore, Notice, NoticeSink, Put, StoreError, Subscription, Versioned};

/// An [`InstallationStore`] in memory: values, versions, event claims and change notices (sent to every
/// subscriber of every clone, synchronously, from the writing call). Nothing survives the process.
///
/// [`set_available`](Self::set_available) makes it answer as a store that is down, to see what a fleet
/// does then (tests, drills): every call fails with [`StoreError::Unavailable`] and subscribers hear
/// [`Notice::Lost`], then [`Notice::Resumed`] when it is back.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    values: BTreeMap<String, Versioned>,
    events: HashMap<String, EventEntry>,
    sinks: Vec<(u64, NoticeSink)>,
    next_sink: u64,
    down: bool,
}

#[derive(Clone)]
enum EventEntry {
    Claimed { holder: String, until: Instant },
    Done { until: Instant },
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("MemoryStore")
            .field("values", &state.values.len())
            .field("events", &state.events.len())
            .field("subscribers", &state.sinks.len())
            .finish()
    }
}

const LOCATION: &str = "memory";

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// `false`: every call fails with [`StoreError::Unavailable`] and subscribers are sent [`Notice::Lost`]
    /// until it is `true` again (then [`Notice::Resumed`]). What is stored is kept.
    pub fn set_available(&self, available: bool) {
        let sinks = {
            let mut state = self.lock();
            if state.down != available {
                return;
            }
            state.down = !available;
            state.sinks.iter().map(|(_, sink)| Arc::clone(sink)).collect::<Vec<_>>()
        };
        let notice = if available { Notice::Resumed } else { Notice::Lost };
        for sink in sinks {
            sink(notice.clone());
        }
    }

    /// How many event ids are claimed or remembered now (expired ones are forgotten as calls come).
    pub fn event_count(&self) -> usize {
        self.lock().events.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code holding the lock panics; recover the state if a bug did.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, unless the store is "down".
    fn up(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let state = self.lock();
        if state.down {
            return Err(StoreError::Unavailable {
                location: LOCATION.to_owned(),
                reason: "the memory store was set unavailable".to_owned(),
            });
        }
        Ok(state)
    }
}

impl State {
    fn expire_events(&mut self, now: Instant) {
        self.events.retain(|_, entry| match entry {
            EventEntry::Claimed { until, .. } | EventEntry::Done { until } => now < *until,
        });
    }
}

#[async_trait]
impl InstallationStore for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        Ok(self.up()?.values.get(key).cloned())
    }

    async fn put(&self, key: &str, expected: Option<u64>, value: &[u8]) -> Result<Put, StoreError> {
        let (version, sinks) = {
            let mut state = self.up()?;
            let current = state.values.get(key);
            if current.map(|current| current.version) != expected {
                return Ok(Put::Conflict { current: current.cloned() });
            }
            let version = expected.map_or(1, |version| version.saturating_add(1));
            state.values.insert(key.to_owned(), Versioned { version, value: value.to_vec() });
            (version, state.sinks.iter().map(|(_, sink)| Arc::clone(sink)).collect::<Vec<_>>())
        };
        // Outside the lock: a subscriber may read the store.
        for sink in sinks {
            sink(Notice::Changed { key: key.to_owned(), version });
        }
        Ok(Put::Written { version })
    }

    async fn list(&self) -> Result<Vec<(String, Versioned)>, StoreError> {
        Ok(self.up()?.values.iter().map(|(key, value)| (key.clone(), value.clone())).collect())
    }

    async fn claim_event(&self, event_id: &str, holder: &str, lease: Duration) -> Result<EventClaim, StoreError> {
        let now = Instant::now();
        let mut state = self.up()?;
        state.expire_events(now);
        match state.events.get(event_id) {
            Some(EventEntry::Done { .. }) => Ok(EventClaim::Done),
            Some(EventEntry::Claimed { .. }) => Ok(EventClaim::Busy),
            None => {
                let until = now.checked_add(lease).unwrap_or(now);
                state.events.insert(event_id.to_owned(), EventEntry::Claimed { holder: holder.to_owned(), until });
                Ok(EventClaim::Claimed)
            }
        }
    }

    async fn finish_event(&self, event_id: &str, remember: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let mut state = self.up()?;
        let until = now.checked_add(remember).unwrap_or(now);
        state.events.insert(event_id.to_owned(), EventEntry::Done { until });
        Ok(())
    }

    async fn release_event(&self, event_id: &str, holder: &str) -> Result<(), StoreError> {
        let mut state = self.up()?;
        if matches!(state.events.get(event_id), Some(EventEntry::Claimed { holder: held, .. }) if held == holder) {
            state.events.remove(event_id);
        }
        Ok(())
    }

    async fn subscribe(&self, sink: NoticeSink) -> Result<Subscription, StoreError> {
        let id = {
            let mut state = self.up()?;
            let id = state.next_sink;
            state.next_sink = state.next_sink.wrapping_add(1);
            state.sinks.push((id, sink));
            id
        };
        let store = Arc::downgrade(&self.inner);
        Ok(Subscription::new(move || {
            if let Some(store) = store.upgrade() {
                store.lock().unwrap_or_else(PoisonError::into_inner).sinks.retain(|(kept, _)| *kept != id);
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use td_oauth_core::transport::run_ready;

    #[test]
    fn compare_and_set_versions_and_notices() {
        let store = MemoryStore::new();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let sink_heard = Arc::clone(&heard);
        let subscription =
            run_ready(store.subscribe(Arc::new(move |notice| sink_heard.lock().unwrap().push(notice)))).unwrap();
        assert_eq!(run_ready(store.put("k", None, b"a")).unwrap(), Put::Written { version: 1 });
        let conflict = run_ready(store.put("k", None, b"b")).unwrap();
        assert!(matches!(conflict, Put::Conflict { current: Some(Versioned { version: 1, .. }) }));
        assert_eq!(run_ready(store.put("k", Some(1), b"b")).unwrap(), Put::Written { version: 2 });
        assert_eq!(run_ready(store.get("k")).unwrap().unwrap().value, b"b");
        store.set_available(false);
        assert!(run_ready(store.get("k")).unwrap_err().is_retryable());
        store.set_available(true);
        drop(subscription);
        run_ready(store.put("k", Some(2), b"c")).unwrap();
        let heard = heard.lock().unwrap().clone();
        assert_eq!(
            heard,
            [
                Notice::Changed { key: "k".into(), version: 1 },
                Notice::Changed { key: "k".into(), version: 2 },
                Notice::Lost,
                Notice::Resumed
            ]
        );
    }

    #[test]
    fn claims_are_exclusive_lapse_and_are_remembered_when_finished() {
        let store = MemoryStore::new();
        let long = Duration::from_secs(60);
        assert_eq!(run_ready(store.claim_event("e", "a", long)).unwrap(), EventClaim::Claimed);
        assert_eq!(run_ready(store.claim_event("e", "b", long)).unwrap(), EventClaim::Busy);
        run_ready(store.release_event("e", "b")).unwrap();
        assert_eq!(run_ready(store.claim_event("e", "b", long)).unwrap(), EventClaim::Busy, "only its holder frees it");
        run_ready(store.release_event("e", "a")).unwrap();
        assert_eq!(run_ready(store.claim_event("e", "c", Duration::ZERO)).unwrap(), EventClaim::Claimed);
        // A zero lease has lapsed already.
        assert_eq!(run_ready(store.claim_event("e", "d", long)).unwrap(), EventClaim::Claimed);
        run_ready(store.release_event("e", "c")).unwrap();
        assert_eq!(
            run_ready(store.claim_event("e", "c", long)).unwrap(),
            EventClaim::Busy,
            "a lapsed holder's release"
        );
        run_ready(store.finish_event("e", long)).unwrap();
        assert_eq!(run_ready(store.claim_event("e", "e", long)).unwrap(), EventClaim::Done);
        run_ready(store.release_event("e", "d")).unwrap();
        assert_eq!(run_ready(store.claim_event("e", "e", long)).unwrap(), EventClaim::Done, "a release keeps it done");
        run_ready(store.finish_event("f", Duration::ZERO)).unwrap();
        assert_eq!(run_ready(store.claim_event("f", "a", long)).unwrap(), EventClaim::Claimed, "forgotten");
    }
}
