//! Pacing: how a consumer that nobody waits on trades a little freshness for fewer, larger
//! transactions.
//!
//! A busy stream arriving a few events at a time would otherwise cost a transaction (begin,
//! admission, the handler's reads and flush, commit, acks) for every few events. A paced
//! consumer starts its next batch no sooner than [`ConsumerConfig::pace`] after the last one
//! started, so what arrives meanwhile is applied together. It never waits while there is a
//! backlog (a full batch, or a batch's worth still on the server: the client holds fewer
//! messages than a batch, so a backlog drains at full speed) nor after a quiet spell (a lone
//! event is applied at once).
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

    /// Records that a batch of `len` messages starts now, with `pending` more on the server
    /// (its last message's count): the next waits out the pace unless the batch filled or a
    /// batch's worth is waiting, signs of a backlog.
    pub(crate) fn started(&mut self, len: usize, pending: u64) {
        let backlog = len >= self.batch_size
            || usize::try_from(pending).map_or(true, |pending| pending >= self.batch_size);
        self.next = (!self.pace.is_zero() && !backlog).then(|| Instant::now() + self.pace);
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
        pacer.started(3, 3);
        pacer.ready().await;
        assert_eq!(Instant::now(), start + PACE);
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_backlog_or_without_a_pace_nothing_waits() {
        let mut full = Pacer::new(PACE, 4);
        let mut behind = Pacer::new(PACE, 4);
        let mut unpaced = Pacer::new(Duration::ZERO, 4);
        let start = Instant::now();
        full.started(4, 0);
        full.ready().await;
        behind.started(2, 4);
        behind.ready().await;
        unpaced.started(1, 0);
        unpaced.ready().await;
        assert_eq!(Instant::now(), start);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_after_a_quiet_spell_starts_at_once() {
        let mut pacer = Pacer::new(PACE, 4);
        pacer.started(1, 0);
        tokio::time::sleep(PACE * 3).await;
        let quiet = Instant::now();
        pacer.ready().await;
        assert_eq!(Instant::now(), quiet);
    }
}
