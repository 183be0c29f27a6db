//! What a handler remembers between events: a map shared by the handler's clones (and its
//! lanes), bounded by starting afresh when it grows past its capacity.
//!
//! A handler keeps folds of committed events here, so that the next event of a stream is folded
//! onto what the last one left instead of reading the whole stream again. What it holds can
//! fall behind (another replica applied an event) but is never a source: each handler decides
//! when an entry still agrees with what the database says, and reads afresh otherwise.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A bounded, shared map from a stream's key to what a handler folded of it.
#[derive(Debug)]
pub struct HandlerMemory<K, V> {
    entries: Mutex<HashMap<K, V>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> HandlerMemory<K, V> {
    /// An empty memory that starts afresh once it holds `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::default(),
            capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, V>> {
        // A panic while holding it leaves a whole map of folds, each still a fold of committed
        // events: nothing to repair.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry of `key`, if there is one and `usable` accepts it.
    pub fn get_if(&self, key: &K, usable: impl FnOnce(&V) -> bool) -> Option<V> {
        self.lock().get(key).filter(|value| usable(value)).cloned()
    }

    /// What `read` makes of the entry of `key`, without copying it.
    pub fn inspect<R>(&self, key: &K, read: impl FnOnce(&V) -> R) -> Option<R> {
        self.lock().get(key).map(read)
    }

    /// Remembers `value` for `key`, unless `keep` prefers the entry already held.
    pub fn remember_unless(&self, key: K, value: V, keep: impl FnOnce(&V) -> bool) {
        let mut entries = self.lock();
        if entries.get(&key).is_some_and(keep) {
            return;
        }
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, value);
    }

    /// Remembers `value` for `key`.
    pub fn remember(&self, key: K, value: V) {
        self.remember_unless(key, value, |_| false);
    }

    /// Forgets `key`.
    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_memory_starts_afresh_and_keeps_what_it_prefers() {
        let memory = HandlerMemory::new(2);
        memory.remember(1, 10);
        memory.remember(2, 20);
        memory.remember(2, 21);
        assert_eq!(
            memory.get_if(&1, |_| true),
            Some(10),
            "an update is no new entry"
        );
        memory.remember(3, 30);
        assert_eq!(memory.get_if(&1, |_| true), None, "full: started afresh");
        assert_eq!(memory.get_if(&3, |_| true), Some(30));

        memory.remember_unless(3, 29, |held| *held > 29);
        assert_eq!(
            memory.get_if(&3, |v| *v == 30),
            Some(30),
            "the later entry stays"
        );
        assert_eq!(memory.inspect(&3, |v| v + 1), Some(31));
        memory.forget(&3);
        assert_eq!(memory.get_if(&3, |_| true), None);
    }
}
