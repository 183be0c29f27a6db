//! How a durable consumer is set up on the server and how it retries.

use std::time::Duration;

/// A durable pull consumer's settings.
#[derive(Clone, Debug)]
pub struct ConsumerConfig {
    /// Durable name on the server, also the key of this consumer's inbox rows.
    pub name: String,
    /// The stream to read, e.g. `CHAIN_REQUESTS`.
    pub stream: String,
    /// The subject filter, covering whole aggregates (see the crate docs).
    pub filter_subject: String,
    /// Deliveries before a failing message is parked.
    pub max_deliver: i64,
    /// Delay before each redelivery after a handler failure; the last entry repeats.
    pub retry_backoff: Vec<Duration>,
    /// Delay before an event that skipped ahead of its stream is offered again.
    pub gap_delay: Duration,
    /// How long the server waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Unacknowledged messages the server lets this consumer hold.
    pub max_ack_pending: i64,
    /// Most messages applied in one transaction. Messages already delivered are taken together
    /// (never waited for), so a quiet stream still applies each event at once, while a busy one
    /// pays one commit per batch instead of one per event. Large, because past a few hundred
    /// events a second the per-transaction work (admission, reads, the flush, the commit)
    /// dominates: at 16 the tickets pipeline saturated 2 cores at about 450 revisions/s, at
    /// 256 it carried 667/s (README, benchmarks). A long batch holds back only readers that
    /// wait for the horizon (the relay's durable reads, the `Watch*` streams); the relay's
    /// snapshot-chained fast path publishes what commits meanwhile.
    pub batch_size: usize,
    /// How many lanes apply messages side by side, each in its own transactions. Messages are
    /// split by case (their envelope's correlation id), so every event of a case, and so of each
    /// of its aggregates, stays in order in one lane, and reactions inside a case (a parent told
    /// of its child, a ticket of its chain) never race each other. One lane (the default) applies everything in
    /// order; more lanes let a consumer keep up when many writers compete for the database.
    pub lanes: usize,
    /// The least time between the starts of two batches that did not fill (zero, the default:
    /// the next batch starts as soon as the last is applied). Pace a consumer that no caller
    /// waits on (a read model, propagation): under load what arrives a few events at a time
    /// is then applied in fewer, larger transactions, at the price of up to `pace` of
    /// staleness. A backlog (a full batch, or a batch's worth still on the server) and a lone
    /// event after a quiet spell never wait. On
    /// 2 cores, pacing the projectors by 50 ms cut PostgreSQL's CPU by a sixth at 2,000
    /// request events/s and by two fifths at 200/s (`tickets-bench`, README).
    pub pace: Duration,
}

impl ConsumerConfig {
    /// Defaults for consumer `name` on `stream`, filtered by `filter_subject`.
    pub fn new(
        name: impl Into<String>,
        stream: impl Into<String>,
        filter_subject: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            stream: stream.into(),
            filter_subject: filter_subject.into(),
            max_deliver: 8,
            retry_backoff: vec![
                Duration::from_millis(100),
                Duration::from_millis(500),
                Duration::from_secs(2),
                Duration::from_secs(5),
            ],
            gap_delay: Duration::from_millis(200),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1_000,
            batch_size: 256,
            lanes: 1,
            pace: Duration::ZERO,
        }
    }

    /// These settings with `lanes` lanes (at least 1); see [`ConsumerConfig::lanes`].
    #[must_use]
    pub fn with_lanes(mut self, lanes: usize) -> Self {
        self.lanes = lanes.max(1);
        self
    }

    /// These settings paced by `pace`; see [`ConsumerConfig::pace`].
    #[must_use]
    pub fn with_pace(mut self, pace: Duration) -> Self {
        self.pace = pace;
        self
    }

    /// The delay before redelivery after the `delivered`-th failed delivery.
    pub(crate) fn retry_delay(&self, delivered: i64) -> Duration {
        let index = usize::try_from(delivered.saturating_sub(1)).unwrap_or(0);
        self.retry_backoff
            .get(index)
            .or(self.retry_backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_follows_the_backoff_and_repeats_its_last_step() {
        let config = ConsumerConfig::new("c", "S", "s.>");
        assert_eq!(config.retry_delay(1), Duration::from_millis(100));
        assert_eq!(config.retry_delay(2), Duration::from_millis(500));
        assert_eq!(config.retry_delay(40), Duration::from_secs(5));
    }
}
