//! A bounded map that remembers when each entry was last used, for caches of per-installation providers.
//!
//! Sans-IO like the rest of the core: every call that uses or ages an entry takes `now`. Eviction scans the
//! map (O(n)); that is cheap next to a token fetch as long as the caller sweeps at most a few times per idle
//! timeout, which is what the transports' token managers do.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A map with a last-use time per entry and a size bound: inserting into a full map evicts the least
/// recently used entry, and [`evict_idle`](Self::evict_idle) removes the entries unused for longer than a
/// timeout.
///
/// ```text
/// use std::time::{Duration, Instant};
/// use td_oauth_core::IdleMap;
///
/// let start = Instant::now();
/// let mut map = IdleMap::new(2);
/// map.insert("a", 1, start);
/// map.insert("b", 2, start + Duration::from_secs(1));
/// assert_eq!(map.get(&"a", start + Duration::from_secs(2)), Some(&1)); // "a" is now the most recent
/// let evicted = map.insert("c", 3, start + Duration::from_secs(3));
/// assert_eq!(evicted, Some(("b", 2)));
/// let idle = map.evict_idle(start + Duration::from_secs(10), Duration::from_secs(5));
/// assert_eq!(idle.len(), 2);
/// assert!(map.is_empty());
/// ```
#[derive(Debug, Clone)]
pub(crate) struct IdleMap<K, V> {
    entries: HashMap<K, Slot<V>>,
    capacity: usize,
}

#[derive(Debug, Clone)]
struct Slot<V> {
    value: V,
    last_use: Instant,
}

impl<K: Hash + Eq + Clone, V> IdleMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one, whatever is passed).
    pub(crate) fn new(capacity: usize) -> Self {
        IdleMap { entries: HashMap::new(), capacity: capacity.max(1) }
    }

    /// The most entries the map holds.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The value under `key`, marking it used at `now`.
    pub(crate) fn get(&mut self, key: &K, now: Instant) -> Option<&V> {
        let slot = self.entries.get_mut(key)?;
        slot.last_use = slot.last_use.max(now);
        Some(&slot.value)
    }

    /// The value under `key`, without marking it used.
    #[cfg(test)]
    pub(crate) fn peek(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|slot| &slot.value)
    }

    /// Whether `key` has an entry.
    #[cfg(test)]
    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    /// Stores `value` under `key`, used at `now`. Returns what left the map to make room: the value this one
    /// replaces under the same key, or else, when the map was full, the least recently used entry.
    pub(crate) fn insert(&mut self, key: K, value: V, now: Instant) -> Option<(K, V)> {
        if let Some(slot) = self.entries.get_mut(&key) {
            let old = std::mem::replace(slot, Slot { value, last_use: now });
            return Some((key, old.value));
        }
        let evicted = if self.entries.len() >= self.capacity { self.remove_least_recent() } else { None };
        self.entries.insert(key, Slot { value, last_use: now });
        evicted
    }

    /// Removes and returns every entry not used for `idle_timeout` or longer at `now`.
    pub(crate) fn evict_idle(&mut self, now: Instant, idle_timeout: Duration) -> Vec<(K, V)> {
        let idle: Vec<K> = self
            .entries
            .iter()
            .filter(|(_, slot)| now.saturating_duration_since(slot.last_use) >= idle_timeout)
            .map(|(key, _)| key.clone())
            .collect();
        idle.into_iter().filter_map(|key| self.entries.remove(&key).map(|slot| (key, slot.value))).collect()
    }

    /// Removes the entry under `key`.
    #[cfg(test)]
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|slot| slot.value)
    }

    /// Keeps only the entries for which `keep` returns `true`; returns the others.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) -> Vec<(K, V)> {
        let dropped: Vec<K> =
            self.entries.iter().filter(|(key, slot)| !keep(key, &slot.value)).map(|(key, _)| key.clone()).collect();
        dropped.into_iter().filter_map(|key| self.entries.remove(&key).map(|slot| (key, slot.value))).collect()
    }

    /// How many entries the map holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn remove_least_recent(&mut self) -> Option<(K, V)> {
        let key = self.entries.iter().min_by_key(|(_, slot)| slot.last_use).map(|(key, _)| key.clone())?;
        self.entries.remove(&key).map(|slot| (key, slot.value))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn full_map_evicts_the_least_recently_used() {
        let t = Instant::now();
        let mut map = IdleMap::new(3);
        for (i, key) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(map.insert(key, i, at(t, i as u64)), None);
        }
        map.get(&"a", at(t, 10));
        assert_eq!(map.insert("d", 3, at(t, 11)), Some(("b", 1)));
        assert_eq!(map.insert("e", 4, at(t, 12)), Some(("c", 2)));
        assert_eq!(map.len(), 3);
        assert!(map.contains_key(&"a"));
    }

    #[test]
    fn replacing_a_key_returns_the_old_value_and_evicts_nothing() {
        let t = Instant::now();
        let mut map = IdleMap::new(2);
        map.insert("a", 1, t);
        map.insert("b", 2, t);
        assert_eq!(map.insert("a", 10, at(t, 1)), Some(("a", 1)));
        assert_eq!(map.len(), 2);
        assert_eq!(map.peek(&"b"), Some(&2));
    }

    #[test]
    fn idle_entries_go_and_touched_ones_stay() {
        let t = Instant::now();
        let mut map = IdleMap::new(10);
        map.insert(1, "one", t);
        map.insert(2, "two", t);
        map.get(&2, at(t, 900));
        let mut evicted = map.evict_idle(at(t, 1000), Duration::from_millis(500));
        evicted.sort();
        assert_eq!(evicted, vec![(1, "one")]);
        assert_eq!(map.peek(&2), Some(&"two"));
        // peek does not touch.
        assert_eq!(map.evict_idle(at(t, 1400), Duration::from_millis(500)), vec![(2, "two")]);
    }

    #[test]
    fn remove_and_retain() {
        let t = Instant::now();
        let mut map = IdleMap::new(10);
        for i in 0..6 {
            map.insert(i, i * 10, t);
        }
        assert_eq!(map.remove(&0), Some(0));
        assert_eq!(map.remove(&0), None);
        let mut dropped = map.retain(|key, _| key % 2 == 0);
        dropped.sort();
        assert_eq!(dropped, vec![(1, 10), (3, 30), (5, 50)]);
        assert_eq!(map.len(), 2);
        assert!(!map.is_empty());
    }

    #[test]
    fn capacity_is_at_least_one() {
        let mut map = IdleMap::new(0);
        assert_eq!(map.capacity(), 1);
        let t = Instant::now();
        map.insert("a", 1, t);
        assert_eq!(map.insert("b", 2, t), Some(("a", 1)));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8),
        Get(u8),
        Evict,
    }

    fn op() -> impl Strategy<Value = (Op, u16)> {
        (prop_oneof![any::<u8>().prop_map(Op::Insert), any::<u8>().prop_map(Op::Get), Just(Op::Evict)], 0u16..50)
    }

    proptest! {
        #[test]
        fn never_above_capacity_and_nothing_idle_survives_a_sweep(
            capacity in 1usize..20,
            timeout_ms in 1u64..200,
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let start = Instant::now();
            let timeout = Duration::from_millis(timeout_ms);
            let mut map = IdleMap::new(capacity);
            // The model: last use per key, to check what the map says.
            let mut last_use: HashMap<u8, Instant> = HashMap::new();
            let mut now = start;
            for (op, step) in ops {
                now += Duration::from_millis(u64::from(step));
                match op {
                    Op::Insert(key) => {
                        if let Some((gone, _)) = map.insert(key, u32::from(key), now)
                            && gone != key
                        {
                            last_use.remove(&gone);
                        }
                        last_use.insert(key, now);
                    }
                    Op::Get(key) => {
                        let found = map.get(&key, now).copied();
                        prop_assert_eq!(found, last_use.contains_key(&key).then_some(u32::from(key)));
                        if found.is_some() {
                            last_use.insert(key, now);
                            // A touched entry survives a sweep at the same instant.
                            for (gone, _) in map.evict_idle(now, timeout) {
                                last_use.remove(&gone);
                            }
                            prop_assert!(map.contains_key(&key));
                        }
                    }
                    Op::Evict => {
                        for (key, _) in map.evict_idle(now, timeout) {
                            let used = last_use.remove(&key);
                            prop_assert!(used.is_some_and(|used| now.duration_since(used) >= timeout));
                        }
                        // Nothing older than the timeout remains.
                        for (key, used) in &last_use {
                            prop_assert!(now.duration_since(*used) < timeout, "key {} survived", key);
                        }
                    }
                }
                prop_assert!(map.len() <= capacity);
                prop_assert_eq!(map.len(), last_use.len());
            }
        }
    }
}
