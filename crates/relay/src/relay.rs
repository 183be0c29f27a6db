//! The relay loop: take leadership, then publish every committed event after the checkpoint,
//! waking on `NOTIFY` and shutting down on request.

use crate::fast_path::FastPath;
use crate::leader::Leadership;
use crate::{RelayError, to_envelope};
use chain_bus::Publisher;
use chain_store::{
    APPENDED_CHANNEL, EventStore, HORIZON_RETRY, Position, RecordedEvent, advance_checkpoint,
    load_checkpoint, save_checkpoint,
};
use sqlx::postgres::PgListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// How a relay behaves.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Names the checkpoint and the leadership lock; one per service database.
    pub name: String,
    /// Events read and published per round.
    pub batch_size: u32,
    /// How often a leader looks for events when no `NOTIFY` arrived.
    pub fallback_poll: Duration,
    /// How often a standby replica tries to take over.
    pub standby_retry: Duration,
}

impl RelayConfig {
    /// Defaults for relay `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            batch_size: 1_000,
            fallback_poll: Duration::from_millis(250),
            standby_retry: Duration::from_secs(1),
        }
    }
}

/// How often the durable read moves the checkpoint while the fast path publishes.
const DURABLE_EVERY: Duration = Duration::from_millis(100);

/// How a publishing pass ended, with the number of events it published.
#[derive(Debug)]
enum Pass {
    /// Everything committed was published.
    Done(u64),
    /// Committed events remain that an older, still running transaction keeps unreadable.
    HeldBack(u64),
}

/// Counters a relay keeps, for metrics and tests.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Events the server stored.
    pub published: AtomicU64,
    /// Events the server dropped as repeats.
    pub duplicates: AtomicU64,
    /// Whether this replica currently leads.
    pub leading: AtomicBool,
}

/// Publishes one service's events.
#[derive(Clone)]
pub struct Relay {
    store: EventStore,
    publisher: Publisher,
    config: RelayConfig,
    stats: Arc<RelayStats>,
}

impl Relay {
    /// A relay from `store` to `publisher`.
    pub fn new(store: EventStore, publisher: Publisher, config: RelayConfig) -> Self {
        Self {
            store,
            publisher,
            config,
            stats: Arc::default(),
        }
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.stats)
    }

    /// Relays until `shutdown` is cancelled: leads when it can, stands by otherwise, and
    /// recovers from store and bus failures by starting over from the checkpoint.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match Leadership::try_acquire(self.store.pool(), &self.config.name).await {
                Ok(Some(leadership)) => {
                    info!(relay = %self.config.name, "relay leads");
                    self.stats.leading.store(true, Ordering::Relaxed);
                    let outcome = self.lead(leadership, &shutdown).await;
                    self.stats.leading.store(false, Ordering::Relaxed);
                    match outcome {
                        Ok(()) => return,
                        Err(error) => {
                            warn!(relay = %self.config.name, %error, "relay stopped leading");
                        }
                    }
                }
                Ok(None) => {}
                Err(error) => warn!(relay = %self.config.name, %error, "cannot reach the store"),
            }
            self.stand_by(&shutdown).await;
        }
    }

    /// Leads: publishes, then waits for this process's appends, another replica's NOTIFY, or the
    /// fallback poll (which also catches events appended inside transactions that did not
    /// signal, and events held back by a transaction that was still running).
    async fn lead(
        &self,
        mut leadership: Leadership,
        shutdown: &CancellationToken,
    ) -> Result<(), RelayError> {
        let mut local = self.store.appended();
        let mut listener = PgListener::connect_with(self.store.pool()).await?;
        listener.listen(APPENDED_CHANNEL).await?;
        let mut fast = FastPath::default();
        let mut last_durable: Option<Instant> = None;
        loop {
            local.mark_unchanged();
            // With the fast path on, the durable read only moves the checkpoint: now and then.
            let durable =
                !fast.is_on() || last_durable.is_none_or(|at| at.elapsed() >= DURABLE_EVERY);
            let pass = self.pass(&mut leadership, &mut fast, durable).await?;
            if durable {
                last_durable = Some(Instant::now());
            }
            debug!(relay = %self.config.name, ?pass, "relay pass");
            let wait = match pass {
                Pass::HeldBack(_) if fast.is_on() => DURABLE_EVERY,
                Pass::HeldBack(_) => HORIZON_RETRY,
                Pass::Done(_) => self.config.fallback_poll,
            };
            tokio::select! {
                // Handed over at once to a replica standing by.
                () = shutdown.cancelled() => return Ok(leadership.release().await?),
                _ = local.changed() => {}
                notification = listener.recv() => { notification?; }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Stands by for `standby_retry`, forwarding this process's appends to the leader as one
    /// NOTIFY at a time: appends stay free of NOTIFY's commit-time lock, and under load many
    /// appends share one notification.
    async fn stand_by(&self, shutdown: &CancellationToken) {
        let mut local = self.store.appended();
        let retry = tokio::time::sleep(self.config.standby_retry);
        tokio::pin!(retry);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = &mut retry => return,
                changed = local.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if let Err(error) = notify_leader(&self.store).await {
                        debug!(relay = %self.config.name, %error, "cannot notify the leader");
                    }
                }
            }
        }
    }

    /// Publishes everything committed so far, if no other replica leads. Returns how many
    /// events were published, or `None` when another replica holds the lock.
    pub async fn drain(&self) -> Result<Option<u64>, RelayError> {
        match Leadership::try_acquire(self.store.pool(), &self.config.name).await? {
            Some(mut leadership) => {
                let pass = self
                    .pass(&mut leadership, &mut FastPath::default(), true)
                    .await?;
                leadership.release().await?;
                match pass {
                    Pass::Done(count) | Pass::HeldBack(count) => Ok(Some(count)),
                }
            }
            None => Ok(None),
        }
    }

    fn record(
        &self,
        report: &chain_bus::PublishReport,
        last_recorded_at: chrono::DateTime<chrono::Utc>,
    ) {
        let (stored, duplicates) = (report.stored as u64, report.duplicates as u64);
        self.stats.published.fetch_add(stored, Ordering::Relaxed);
        self.stats
            .duplicates
            .fetch_add(duplicates, Ordering::Relaxed);
        let relay = self.config.name.clone();
        metrics::counter!("chain_relay_published_total", "relay" => relay.clone())
            .increment(stored);
        metrics::counter!("chain_relay_duplicates_total", "relay" => relay.clone())
            .increment(duplicates);
        // Outbox lag: how long the newest event of the batch waited between commit and ack.
        let lag = (chrono::Utc::now() - last_recorded_at)
            .num_milliseconds()
            .max(0) as f64
            / 1e3;
        metrics::gauge!("chain_outbox_lag_seconds", "relay" => relay).set(lag);
    }

    /// Publishes what the fast path finds committed since its last look, then (when `durable`)
    /// reads after the checkpoint in commit order until nothing is left, publishing what the
    /// fast path did not and moving the checkpoint. A pass that skips the durable read is
    /// `HeldBack`: the checkpoint still has to move.
    async fn pass(
        &self,
        leadership: &mut Leadership,
        fast: &mut FastPath,
        durable: bool,
    ) -> Result<Pass, RelayError> {
        let batch_size = self.config.batch_size;
        let early = fast.look(&self.store, batch_size).await?;
        let mut total = self.publish(&early).await?;
        fast.published(&early);
        if !durable {
            return Ok(Pass::HeldBack(total));
        }
        // Standing aside, the fast path starts where this read ends: at the horizon as it is
        // now, which the read reaches (it only moves on).
        let horizon = if fast.is_on() {
            None
        } else {
            Some(self.store.horizon().await?)
        };
        loop {
            let from = load_checkpoint(leadership.connection(), &self.config.name).await?;
            fast.reading_from(from);
            let batch = self.store.read_all(from, batch_size).await?;
            if batch.len() >= usize::try_from(batch_size).unwrap_or(usize::MAX) {
                // A backlog: a new event published now could overtake an older one of its
                // stream still in it.
                fast.step_aside("backlog");
            }
            let Some(last) = batch.last() else {
                if let Some(horizon) = horizon
                    && !fast.is_on()
                {
                    fast.start(horizon);
                }
                return Ok(if self.store.held_back_after(from).await? {
                    Pass::HeldBack(total)
                } else {
                    Pass::Done(total)
                });
            };
            let to = last.position;
            let mut unpublished: Vec<RecordedEvent> = batch
                .into_iter()
                .filter(|event| fast.passes(event))
                .collect();
            // Commit order is not stream order: a transaction that took its id early can
            // append a stream's next version after a younger one appended the version before
            // (a command and a consumer's reaction on one ticket). Positions follow each
            // stream's versions, so the batch goes out in position order. A stream split
            // between two reads (by a full batch's end, or by the horizon falling between its
            // two transactions) still goes out of order; consumers wait out that gap.
            unpublished.sort_unstable_by_key(|event| event.position.position);
            total += self.publish(&unpublished).await?;
            if advance_checkpoint(leadership.connection(), &self.config.name, from, to).await? {
                fast.moved_to(to);
            } else {
                debug!(relay = %self.config.name, "checkpoint moved meanwhile (rewind); rereading");
            }
        }
    }

    /// Publishes `events` and waits for the server's acks; returns how many.
    async fn publish(&self, events: &[RecordedEvent]) -> Result<u64, RelayError> {
        let Some(last) = events.last() else {
            return Ok(0);
        };
        let envelopes: Vec<_> = events.iter().map(to_envelope).collect();
        let report = self.publisher.publish_all(&envelopes).await?;
        self.record(&report, last.recorded_at);
        Ok(events.len() as u64)
    }
}

/// Moves relay `name`'s checkpoint back to `to` (for example [`Position::START`] after NATS lost
/// its store) and wakes the leader, which republishes everything after it. Events the bus still
/// holds are dropped there as duplicates within its window; consumers deduplicate the rest.
pub async fn rewind(store: &EventStore, name: &str, to: Position) -> Result<(), RelayError> {
    save_checkpoint(store.pool(), name, to).await?;
    notify_leader(store).await?;
    info!(relay = name, position = %to, "relay rewound");
    Ok(())
}

/// Wakes the leading relay, wherever it runs.
async fn notify_leader(store: &EventStore) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(APPENDED_CHANNEL)
        .execute(store.pool())
        .await?;
    Ok(())
}
