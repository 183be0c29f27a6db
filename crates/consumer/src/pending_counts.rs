//! Counters a handler bumps inside the consumer's transaction, made public only once that
//! transaction commits.
//!
//! A handler runs inside a transaction that may still roll back: a batch is undone when a later
//! message in it needs the one-by-one path, and its messages are then applied again. Counting
//! straight into `metrics` there would count those messages twice. A handler adds to
//! [`PendingCounts`] instead, and publishes them from [`crate::Handler::after_commit`] and drops
//! them from [`crate::Handler::after_rollback`].

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Counter increments waiting for their transaction to commit.
#[derive(Debug, Default)]
pub struct PendingCounts {
    pending: Mutex<BTreeMap<&'static str, u64>>,
}

impl PendingCounts {
    /// Adds `by` to counter `name`, once the transaction commits.
    pub fn add(&self, name: &'static str, by: u64) {
        *self.lock().entry(name).or_default() += by;
    }

    /// The transaction committed: increments the counters by what was added since the last
    /// publish or discard.
    pub fn publish(&self) {
        for (name, by) in std::mem::take(&mut *self.lock()) {
            metrics::counter!(name).increment(by);
        }
    }

    /// The transaction rolled back: forgets what was added since the last publish or discard.
    pub fn discard(&self) {
        self.lock().clear();
    }

    /// What is waiting for counter `name`.
    pub fn waiting(&self, name: &str) -> u64 {
        self.lock().get(name).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, u64>> {
        // A panic while holding the lock left at worst a half-added count: keep going.
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_discarded_is_not_published_later() {
        let counts = PendingCounts::default();
        counts.add("chain_test_total", 2);
        counts.discard();
        counts.add("chain_test_total", 1);
        assert_eq!(counts.waiting("chain_test_total"), 1);
        counts.publish();
        assert_eq!(counts.waiting("chain_test_total"), 0);
    }
}
