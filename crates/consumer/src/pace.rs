//! Pacing: how a consumer that nobody waits on trades a little freshness for fewer, larger
//! transactions.
//!
//! A busy stream arriving a few events at a time would otherwise cost a transaction (begin,
//! admission, the handler's reads and flush, commit, acks) for every few events. A paced
//! consumer starts its next batch no sooner than [`ConsumerConfig::pace`] after the last one
//! started, so what arrives meanwhile is applied together. It never waits after a full batch (a
//! backlog drains at full speed) nor after a quiet spell (a lone event is applied at once).
//!
//! [`ConsumerConfig::pace`]: crate::ConsumerConfig::pace

use std::time::Duration;
use tokio::time::Instant;

/// When a consumer (or one of its lanes) may start its next batch.
#[derive(Debug)]
pub(crate) struct Pacer {
    pace: Duration,
    batch_size: usize,
    next: Option<Instant>,
}

impl Pacer {
    /// A pacer spacing batches of up to `batch_size` messages by `pace` (zero: never waits).
    pub(crate) fn new(pace: Duration, batch_size: usize) -> Self {
        Self {
            pace,
            batch_size,
            next: None,
        }
    }

    /// Waits until the next batch may start.
    pub(crate) async fn ready(&self) {
        if let Some(next) = self.next {
            tokio::time::sleep_until(next).await;
        }
    }

    /// Records that a batch of `len` messages starts now: one that did not fill leaves the
    /// next to wait out the pace; a full one, a sign of a backlog, does not.
    pub(crate) fn started(&mut self, len: usize) {
        self.next =
            (!self.pace.is_zero() && len < self.batch_size).then(|| Instant::now() + self.pace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACE: Duration = Duration::from_millis(50);

    #[tokio::test(start_paused = true)]
    async fn after_a_partial_batch_the_next_waits_out_the_pace() {
        let mut pacer = Pacer::new(PACE, 4);
        let start = Instant::now();
        pacer.ready().await;
        assert_eq!(Instant::now(), start, "the first batch starts at once");
        pacer.started(3);
        pacer.ready().await;
        assert_eq!(Instant::now(), start + PACE);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_full_batch_or_without_a_pace_nothing_waits() {
        let mut full = Pacer::new(PACE, 4);
        let mut unpaced = Pacer::new(Duration::ZERO, 4);
        let start = Instant::now();
        full.started(4);
        full.ready().await;
        unpaced.started(1);
        unpaced.ready().await;
        assert_eq!(Instant::now(), start);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_after_a_quiet_spell_starts_at_once() {
        let mut pacer = Pacer::new(PACE, 4);
        pacer.started(1);
        tokio::time::sleep(PACE * 3).await;
        let quiet = Instant::now();
        pacer.ready().await;
        assert_eq!(Instant::now(), quiet);
    }
}
