//! [`Lru`]: entries in least-recently-used order, for the token manager's providers. Every operation is
//! O(1) but [`compact`](Lru::compact), and none allocates but an insert into a full slab.
//!
//! The entries live in one `Vec` (a slab) and are linked into a doubly linked list through indices, most
//! recently used at the head. An entry is named by the [`Handle`] its insert returned, which stays valid until
//! the entry is removed; the owner keeps the handle where it finds the entry by its own key (the manager:
//! in the installation's credential set, by scopes), so no key is hashed or cloned here.
//!
//! Time is passed in. Last-use times never decrease from the tail to the head: an entry used at `now` is
//! stamped with the later of `now` and the head's stamp, so two callers that read the clock in one order
//! and took the lock in the other cannot break the order. That is what lets [`pop_idle`](Lru::pop_idle)
//! stop at the first entry that is not idle.
//!
//! Uses are recorded to a resolution given at construction: an entry used again within it of its stamp
//! stays where it is. Moving an entry writes to its neighbours and the head, memory that a warm lookup
//! through thousands of entries would otherwise fetch on every call; the order, and so idle eviction, is
//! then exact to that resolution.

use std::time::{Duration, Instant};

/// Names an entry of an [`Lru`] from its insert to its removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Handle(u32);

/// The index that means "no entry".
const NIL: u32 = u32::MAX;

#[derive(Debug)]
enum Node<V> {
    Occupied { value: V, last_use: Instant, prev: u32, next: u32 },
    Vacant { next_free: u32 },
}

/// Entries in least-recently-used order (see the [module docs](self)).
#[derive(Debug)]
pub(crate) struct Lru<V> {
    nodes: Vec<Node<V>>,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
    free: u32,
    len: usize,
    resolution: Duration,
}

impl<V> Lru<V> {
    /// No entries; uses are recorded to `resolution` (see the [module docs](self)).
    pub(crate) fn new(resolution: Duration) -> Self {
        Lru { nodes: Vec::new(), head: NIL, tail: NIL, free: NIL, len: 0, resolution }
    }

    /// How many entries there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds `value` as the most recently used entry, used at `now`.
    pub(crate) fn insert(&mut self, value: V, now: Instant) -> Handle {
        let last_use = self.stamp(now);
        let node = Node::Occupied { value, last_use, prev: NIL, next: self.head };
        let index = if self.free == NIL {
            // More entries than u32::MAX - 1 cannot be held in memory anyway: a provider is far larger than a byte.
            let index = u32::try_from(self.nodes.len()).unwrap_or(NIL - 1);
            self.nodes.push(node);
            index
        } else {
            let index = self.free;
            if let Some(Node::Vacant { next_free }) = self.nodes.get(index as usize) {
                self.free = *next_free;
            }
            self.nodes[index as usize] = node;
            index
        };
        self.set_prev(self.head, index);
        self.head = index;
        if self.tail == NIL {
            self.tail = index;
        }
        self.len += 1;
        Handle(index)
    }

    /// The entry of `handle`, made the most recently used at `now` (unless it was, within the resolution);
    /// `None` if it was removed.
    pub(crate) fn touch(&mut self, handle: Handle, now: Instant) -> Option<&V> {
        match self.nodes.get(handle.0 as usize) {
            Some(Node::Occupied { last_use, .. }) if now.saturating_duration_since(*last_use) < self.resolution => {}
            Some(Node::Occupied { .. }) => return self.move_to_front(handle, now),
            _ => return None,
        }
        match self.nodes.get(handle.0 as usize) {
            Some(Node::Occupied { value, .. }) => Some(value),
            _ => None,
        }
    }

    fn move_to_front(&mut self, handle: Handle, now: Instant) -> Option<&V> {
        if self.head != handle.0 {
            self.unlink(handle.0);
            self.link_front(handle.0);
        }
        let stamp = self.stamp(now);
        match self.nodes.get_mut(handle.0 as usize) {
            Some(Node::Occupied { value, last_use, .. }) => {
                *last_use = stamp;
                Some(value)
            }
            _ => None,
        }
    }

    /// The entry of `handle`, without marking it used.
    #[cfg(test)]
    pub(crate) fn get(&self, handle: Handle) -> Option<&V> {
        match self.nodes.get(handle.0 as usize) {
            Some(Node::Occupied { value, .. }) => Some(value),
            _ => None,
        }
    }

    /// Removes the entry of `handle` and returns it; `None` if it was removed before.
    pub(crate) fn remove(&mut self, handle: Handle) -> Option<V> {
        if !matches!(self.nodes.get(handle.0 as usize), Some(Node::Occupied { .. })) {
            return None;
        }
        self.unlink(handle.0);
        let node = std::mem::replace(&mut self.nodes[handle.0 as usize], Node::Vacant { next_free: self.free });
        self.free = handle.0;
        self.len -= 1;
        match node {
            Node::Occupied { value, .. } => Some(value),
            Node::Vacant { .. } => None,
        }
    }

    /// Removes the least recently used entry and returns it with its handle.
    pub(crate) fn pop_least_recent(&mut self) -> Option<(Handle, V)> {
        let tail = Handle(self.tail);
        self.remove(tail).map(|value| (tail, value))
    }

    /// Removes the least recently used entry if it has not been used for `idle_timeout` at `now`.
    pub(crate) fn pop_idle(&mut self, now: Instant, idle_timeout: Duration) -> Option<(Handle, V)> {
        match self.nodes.get(self.tail as usize) {
            Some(Node::Occupied { last_use, .. }) if now.saturating_duration_since(*last_use) >= idle_timeout => {
                self.pop_least_recent()
            }
            _ => None,
        }
    }

    /// Gives memory back when at most a quarter of the slab is in use (after mass removals): the entries
    /// move to the front of a smaller slab, in the same order. Calls `moved(old, new, value)` for each entry
    /// whose handle changed, so that the owner can update the handles it keeps. O(slab size); does nothing
    /// when the slab is small or well used, so calling it after every removal costs O(1) amortized.
    pub(crate) fn compact(&mut self, mut moved: impl FnMut(Handle, Handle, &V)) {
        if self.nodes.capacity() < 64 || self.len > self.nodes.capacity() / 4 {
            return;
        }
        let mut nodes = Vec::with_capacity(self.len.saturating_mul(2));
        let mut old = self.head;
        while old != NIL {
            let Some(Node::Occupied { value, last_use, next, .. }) =
                self.nodes.get_mut(old as usize).map(|node| std::mem::replace(node, Node::Vacant { next_free: NIL }))
            else {
                break;
            };
            let new = u32::try_from(nodes.len()).unwrap_or(NIL - 1);
            let prev = new.checked_sub(1).unwrap_or(NIL);
            if old != new {
                moved(Handle(old), Handle(new), &value);
            }
            nodes.push(Node::Occupied { value, last_use, prev, next: new.saturating_add(1) });
            old = next;
        }
        if let Some(Node::Occupied { next, .. }) = nodes.last_mut() {
            *next = NIL;
        }
        self.head = if nodes.is_empty() { NIL } else { 0 };
        self.tail = nodes.len().checked_sub(1).map_or(NIL, |last| u32::try_from(last).unwrap_or(NIL - 1));
        self.free = NIL;
        self.len = nodes.len();
        self.nodes = nodes;
    }

    /// How many entries the slab has room for without growing.
    #[cfg(test)]
    pub(crate) fn slab_capacity(&self) -> usize {
        self.nodes.capacity()
    }

    /// The stamp of a use at `now`: never earlier than the head's.
    fn stamp(&self, now: Instant) -> Instant {
        match self.nodes.get(self.head as usize) {
            Some(Node::Occupied { last_use, .. }) => now.max(*last_use),
            _ => now,
        }
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next) = match self.nodes.get(index as usize) {
            Some(Node::Occupied { prev, next, .. }) => (*prev, *next),
            _ => return,
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.set_next(prev, next);
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.set_prev(next, prev);
        }
    }

    fn link_front(&mut self, index: u32) {
        let old_head = self.head;
        if let Some(Node::Occupied { prev, next, .. }) = self.nodes.get_mut(index as usize) {
            *prev = NIL;
            *next = old_head;
        }
        self.set_prev(old_head, index);
        self.head = index;
        if self.tail == NIL {
            self.tail = index;
        }
    }

    fn set_prev(&mut self, index: u32, to: u32) {
        if let Some(Node::Occupied { prev, .. }) = self.nodes.get_mut(index as usize) {
            *prev = to;
        }
    }

    fn set_next(&mut self, index: u32, to: u32) {
        if let Some(Node::Occupied { next, .. }) = self.nodes.get_mut(index as usize) {
            *next = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn at(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    /// The values from least to most recently used.
    fn order<V: Copy>(lru: &mut Lru<V>) -> Vec<V> {
        let mut out = Vec::new();
        let mut index = lru.tail;
        while let Some(Node::Occupied { value, prev, .. }) = lru.nodes.get(index as usize) {
            out.push(*value);
            index = *prev;
        }
        out
    }

    #[test]
    fn touched_entries_move_to_the_front_and_the_least_recent_pops_first() {
        let t = Instant::now();
        let mut lru = Lru::new(Duration::ZERO);
        let a = lru.insert('a', t);
        let b = lru.insert('b', at(t, 1));
        let _c = lru.insert('c', at(t, 2));
        assert_eq!(lru.touch(a, at(t, 3)), Some(&'a'));
        assert_eq!(order(&mut lru), ['b', 'c', 'a']);
        assert_eq!(lru.pop_least_recent(), Some((b, 'b')));
        assert_eq!(lru.touch(b, at(t, 4)), None, "a removed entry is gone");
        assert_eq!(lru.len(), 2);
    }

    #[test]
    fn removed_slots_are_reused() {
        let t = Instant::now();
        let mut lru = Lru::new(Duration::ZERO);
        let a = lru.insert(1, t);
        lru.insert(2, t);
        assert_eq!(lru.remove(a), Some(1));
        assert_eq!(lru.remove(a), None);
        let c = lru.insert(3, t);
        assert_eq!(c, a, "the freed slot");
        assert_eq!(lru.get(c), Some(&3));
        assert_eq!(order(&mut lru), [2, 3]);
    }

    #[test]
    fn only_idle_entries_pop_and_a_late_clock_reading_keeps_the_order() {
        let t = Instant::now();
        let mut lru = Lru::new(Duration::ZERO);
        lru.insert(1, t);
        let two = lru.insert(2, at(t, 900));
        // A caller that read the clock before the last one took the lock after it.
        let one_again = lru.insert(3, at(t, 100));
        assert_eq!(lru.pop_idle(at(t, 1000), Duration::from_millis(500)), Some((Handle(0), 1)));
        assert_eq!(lru.pop_idle(at(t, 1000), Duration::from_millis(500)), None);
        assert_eq!(lru.pop_idle(at(t, 1400), Duration::from_millis(500)), Some((two, 2)));
        // Stamped 900, not 100: idle only from 1400.
        assert_eq!(lru.pop_idle(at(t, 1400), Duration::from_millis(500)), Some((one_again, 3)));
        assert_eq!(lru.len(), 0);
    }

    #[test]
    fn compaction_shrinks_the_slab_and_reports_every_move() {
        let t = Instant::now();
        let mut lru = Lru::new(Duration::ZERO);
        let handles: Vec<Handle> = (0..1000).map(|i| lru.insert(i, at(t, i))).collect();
        for handle in &handles[..990] {
            lru.remove(*handle);
        }
        let mut moves = HashMap::new();
        lru.compact(|old, new, value| {
            moves.insert(old, (new, *value));
        });
        assert!(lru.slab_capacity() < 100, "slab of {} after compaction", lru.slab_capacity());
        assert_eq!(moves.len(), 10);
        for (i, handle) in handles[990..].iter().enumerate() {
            let (new, value) = moves[handle];
            assert_eq!((lru.get(new), value), (Some(&(990 + i as u64)), 990 + i as u64));
        }
        assert_eq!(order(&mut lru), (990..1000).collect::<Vec<_>>());
        // Still a working list.
        let (new_first, _) = moves[&handles[990]];
        lru.touch(new_first, at(t, 2000));
        assert_eq!(order(&mut lru).last(), Some(&990));
        lru.insert(5000, at(t, 2001));
        assert_eq!(lru.len(), 11);
    }

    #[test]
    fn a_use_within_the_resolution_moves_nothing() {
        let t = Instant::now();
        let mut lru = Lru::new(Duration::from_secs(1));
        let a = lru.insert('a', t);
        lru.insert('b', at(t, 10));
        assert_eq!(lru.touch(a, at(t, 900)), Some(&'a'));
        assert_eq!(order(&mut lru), ['a', 'b'], "used 900 ms after its stamp: stays");
        lru.touch(a, at(t, 1000));
        assert_eq!(order(&mut lru), ['b', 'a']);
        let second = Duration::from_secs(1);
        assert_eq!(lru.pop_idle(at(t, 1500), second).map(|(_, v)| v), Some('b'));
        // Stamped at 1000 now: idle from 2000.
        assert_eq!(lru.pop_idle(at(t, 1999), second), None);
        assert_eq!(lru.pop_idle(at(t, 2000), second).map(|(_, v)| v), Some('a'));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert,
        Touch(usize),
        Remove(usize),
        PopIdle,
        PopLeast,
        Compact,
    }

    fn op() -> impl Strategy<Value = (Op, u16)> {
        let op = prop_oneof![
            Just(Op::Insert),
            any::<usize>().prop_map(Op::Touch),
            any::<usize>().prop_map(Op::Remove),
            Just(Op::PopIdle),
            Just(Op::PopLeast),
            Just(Op::Compact),
        ];
        (op, 0u16..50)
    }

    proptest! {
        /// Against a model (a list of live values with their last use, oldest first): the same order, the
        /// same entries popped, handles that stay valid through compaction.
        #[test]
        fn behaves_as_an_ordered_list(timeout_ms in 1u64..200, ops in proptest::collection::vec(op(), 1..300)) {
            let start = Instant::now();
            let timeout = Duration::from_millis(timeout_ms);
            let mut lru = Lru::new(Duration::ZERO);
            let mut model: Vec<(u32, Instant)> = Vec::new();
            let mut handles: HashMap<u32, Handle> = HashMap::new();
            let mut next_value = 0u32;
            let mut now = start;
            for (op, step) in ops {
                now += Duration::from_millis(u64::from(step));
                match op {
                    Op::Insert => {
                        handles.insert(next_value, lru.insert(next_value, now));
                        model.push((next_value, now));
                        next_value += 1;
                    }
                    Op::Touch(pick) if !model.is_empty() => {
                        let (value, _) = model.remove(pick % model.len());
                        prop_assert_eq!(lru.touch(handles[&value], now), Some(&value));
                        model.push((value, now));
                    }
                    Op::Remove(pick) if !model.is_empty() => {
                        let (value, _) = model.remove(pick % model.len());
                        prop_assert_eq!(lru.remove(handles.remove(&value).unwrap()), Some(value));
                    }
                    Op::PopIdle => {
                        let expected = model.first().filter(|(_, used)| now.duration_since(*used) >= timeout).copied();
                        let popped = lru.pop_idle(now, timeout).map(|(_, value)| value);
                        prop_assert_eq!(popped, expected.map(|(value, _)| value));
                        if popped.is_some() {
                            handles.remove(&model.remove(0).0);
                        }
                    }
                    Op::PopLeast => {
                        let popped = lru.pop_least_recent().map(|(_, value)| value);
                        prop_assert_eq!(popped, model.first().map(|(value, _)| *value));
                        if popped.is_some() {
                            handles.remove(&model.remove(0).0);
                        }
                    }
                    Op::Compact => lru.compact(|old, new, value| {
                        assert_eq!(handles.insert(*value, new), Some(old));
                    }),
                    Op::Touch(_) | Op::Remove(_) => {}
                }
                prop_assert_eq!(lru.len(), model.len());
                let values: Vec<u32> = model.iter().map(|(value, _)| *value).collect();
                prop_assert_eq!(order(&mut lru), values);
            }
        }
    }
}
