//! Counters a handler bumps inside the consumer's transaction, made public only once that
//! transaction commits.
//!
//! A handler runs inside a transaction that may still roll back: a batch is undone when a later
//! message in it needs the one-by-one path, and its messages are then applied again. Counting
//! straight into `metrics` there would count those messages twice. A handler adds to
//! [`PendingCounts`] instead, and publishes them from [`crate::Handler::after_commit`] and drops
//! them from [`crate::Handler::after_rollback`]. A consumer with several lanes runs several
//! transactions at once: each lane's counts are kept apart, so one lane's rollback never drops
//! another's.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

tokio::task_local! {
    /// The lane whose transaction the running handler call belongs to.
    static LANE: usize;
}

/// Runs `work` as lane `lane`'s: counts added inside it wait for that lane's transaction.
pub(crate) async fn in_lane<F: Future>(lane: usize, work: F) -> F::Output {
    LANE.scope(lane, work).await
}

/// The current lane; 0 outside [`in_lane`] (a consumer with one lane).
fn current_lane() -> usize {
    LANE.try_with(|lane| *lane).unwrap_or(0)
}

/// Counter increments waiting for their transaction to commit.
#[derive(Debug, Default)]
pub struct PendingCounts {
    pending: Mutex<BTreeMap<(usize, &'static str), u64>>,
}

impl PendingCounts {
    /// Adds `by` to counter `name`, once the current transaction commits.
    pub fn add(&self, name: &'static str, by: u64) {
        *self.lock().entry((current_lane(), name)).or_default() += by;
    }

    /// The current transaction committed: increments the counters by what it added.
    pub fn publish(&self) {
        for (name, by) in self.take_lane() {
            metrics::counter!(name).increment(by);
        }
    }

    /// The current transaction rolled back: forgets what it added.
    pub fn discard(&self) {
        self.take_lane();
    }

    /// What the current transaction added to counter `name` so far.
    pub fn waiting(&self, name: &str) -> u64 {
        self.lock()
            .get(&(current_lane(), name))
            .copied()
            .unwrap_or(0)
    }

    fn take_lane(&self) -> Vec<(&'static str, u64)> {
        let lane = current_lane();
        let mut pending = self.lock();
        let taken: Vec<_> = pending
            .iter()
            .filter(|((of, _), _)| *of == lane)
            .map(|((_, name), by)| (*name, *by))
            .collect();
        pending.retain(|(of, _), _| *of != lane);
        taken
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(usize, &'static str), u64>> {
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

    #[tokio::test]
    async fn a_lane_rolling_back_keeps_another_lanes_counts() {
        let counts = PendingCounts::default();
        in_lane(1, async { counts.add("chain_test_total", 5) }).await;
        in_lane(2, async {
            counts.add("chain_test_total", 7);
            counts.discard();
        })
        .await;
        assert_eq!(
            in_lane(1, async { counts.waiting("chain_test_total") }).await,
            5
        );
        assert_eq!(
            in_lane(2, async { counts.waiting("chain_test_total") }).await,
            0
        );
    }
}
