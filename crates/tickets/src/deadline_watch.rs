//! The deadline watch: breaks each promise whose due time passed with its ticket unresolved,
//! exactly once, however many replicas run it.
//!
//! One round, in one transaction: lock up to 100 due rows of `deadlines`
//! (`FOR UPDATE SKIP LOCKED`, so a second replica takes other rows or none), and for each
//! fold the ticket and decide [`TicketCommand::MarkBroken`] at the deadline itself (so the
//! `PromiseBroken`'s `occurred_at` is the due time whenever the watch runs, and a watch
//! catching up after downtime records the same event). The event is appended with the
//! expected version in the same transaction (under a savepoint) and the row deleted. A
//! ticket resolved meanwhile loses its row; one whose due time moved (a renegotiation) gets it
//! rescheduled; a lost race with a concurrent writer leaves the row for the next round.
//!
//! Between rounds it sleeps until the next deadline, at most a second, and wakes early on
//! `NOTIFY tickets_deadlines` (sent by the projector when it schedules a deadline). It starts
//! with a round, so everything that fell due while the service was down fires at once.
//!
//! [`TicketCommand::MarkBroken`]: chain_domain::ticket::TicketCommand::MarkBroken

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chain_domain::ids::TicketId;
use chain_domain::ticket::{decide, next_deadline};
use chain_rpc::clock;
use chain_store::{EventMetadata, EventStore, StoreError, append_in};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, Row};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::SERVICE_ACTOR;
use crate::projection::DEADLINES_CHANNEL;
use crate::record::{Context, encode_batch};
use crate::streams::{LoadError, load_ticket, ticket_stream};

/// How a deadline watch behaves.
#[derive(Debug, Clone)]
pub struct DeadlineWatchConfig {
    /// Deadlines locked and fired per transaction.
    pub batch_size: u32,
    /// The longest sleep between rounds (also the fallback when no `NOTIFY` arrives). Longer
    /// than [`crate::projection::DEADLINE_NOTICE`], a deadline scheduled to fall due within it
    /// may fire up to this much late.
    pub max_sleep: Duration,
    /// The pause after a round that had to leave a deadline for later (a lost race), so the
    /// watch does not spin on it.
    pub retry_pause: Duration,
}

impl Default for DeadlineWatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            max_sleep: crate::projection::DEADLINE_NOTICE,
            retry_pause: Duration::from_millis(50),
        }
    }
}

/// Counters a deadline watch keeps, for metrics and tests.
#[derive(Debug, Default)]
pub struct DeadlineStats {
    /// Broken promises this watch appended.
    pub fired: AtomicU64,
    /// Rows dropped because their ticket was resolved (or already broken).
    pub dropped: AtomicU64,
    /// Rows moved because the promise's due time moved.
    pub rescheduled: AtomicU64,
    /// Rows left for the next round after a lost race.
    pub deferred: AtomicU64,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Due rows locked.
    pub locked: usize,
    /// Broken promises appended.
    pub fired: usize,
    /// Rows left for later (lost race).
    pub deferred: usize,
}

/// Why a round failed (it is retried on the next one).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A ticket could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Fires due deadlines; see the module docs.
#[derive(Debug, Clone)]
pub struct DeadlineWatch {
    store: EventStore,
    config: DeadlineWatchConfig,
    stats: Arc<DeadlineStats>,
}

impl DeadlineWatch {
    /// A watch over the deadlines in `store`'s database, with default settings.
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            config: DeadlineWatchConfig::default(),
            stats: Arc::default(),
        }
    }

    /// The same watch with `config`.
    pub fn with_config(mut self, config: DeadlineWatchConfig) -> Self {
        self.config = config;
        self
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<DeadlineStats> {
        Arc::clone(&self.stats)
    }

    /// Fires deadlines until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener = None;
        while !shutdown.is_cancelled() {
            if listener.is_none() {
                listener = self.listen().await;
            }
            let pause = match self.round().await {
                Ok(round) if round.locked >= self.batch_len() => Duration::ZERO,
                Ok(round) if round.deferred > 0 => self.config.retry_pause,
                Ok(_) => self.sleep_until_next().await,
                Err(error) => {
                    tracing::warn!(%error, "deadline round failed");
                    self.config.max_sleep
                }
            };
            if pause.is_zero() {
                continue;
            }
            let woken = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            let lost = tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(pause) => false,
                woken = woken => woken.is_err(),
            };
            if lost {
                tracing::warn!("deadline listener lost; polling until it is back");
                listener = None;
            }
        }
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(self.store.pool()).await.ok()?;
        listener.listen(DEADLINES_CHANNEL).await.ok()?;
        Some(listener)
    }

    fn batch_len(&self) -> usize {
        usize::try_from(self.config.batch_size).unwrap_or(usize::MAX)
    }

    /// How long until the next deadline, at most `max_sleep`.
    async fn sleep_until_next(&self) -> Duration {
        let next: Result<Option<DateTime<Utc>>, sqlx::Error> =
            sqlx::query_scalar("SELECT min(due_at) FROM deadlines")
                .fetch_one(self.store.pool())
                .await;
        match next {
            Ok(Some(due)) => (due - clock::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(self.config.max_sleep)
                .max(Duration::from_millis(1)),
            _ => self.config.max_sleep,
        }
    }

    /// Fires the deadlines due now (one batch); see the module docs.
    pub async fn round(&self) -> Result<Round, WatchError> {
        let now = clock::now();
        let mut tx = self.store.pool().begin().await?;
        let due: Vec<Uuid> = sqlx::query(
            "SELECT ticket_id FROM deadlines WHERE due_at <= $1
             ORDER BY due_at FOR UPDATE SKIP LOCKED LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(self.config.batch_size))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get("ticket_id"))
        .collect::<Result<_, _>>()?;
        let mut round = Round {
            locked: due.len(),
            ..Round::default()
        };
        for id in due {
            match self.fire(&mut tx, TicketId::from_uuid(id), now).await? {
                Fired::Appended => round.fired += 1,
                Fired::Deferred => round.deferred += 1,
                Fired::Settled => {}
            }
        }
        tx.commit().await?;
        if round.fired > 0 {
            self.store.signal_appended();
        }
        self.stats
            .fired
            .fetch_add(round.fired as u64, Ordering::Relaxed);
        // Counted after the commit, so a rolled-back round counts nothing (promises broken by the deadline watch).
        metrics::counter!("chain_promises_broken_total").increment(round.fired as u64);
        Ok(round)
    }

    async fn fire(
        &self,
        tx: &mut PgConnection,
        id: TicketId,
        now: DateTime<Utc>,
    ) -> Result<Fired, WatchError> {
        let loaded = load_ticket(&self.store, id).await?;
        let (deadline, kind) = match next_deadline(&loaded.state) {
            None => {
                delete(tx, id).await?;
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(Fired::Settled);
            }
            Some((deadline, _)) if deadline > now => {
                sqlx::query("UPDATE deadlines SET due_at = $2 WHERE ticket_id = $1")
                    .bind(id.as_uuid())
                    .bind(deadline)
                    .execute(&mut *tx)
                    .await?;
                self.stats.rescheduled.fetch_add(1, Ordering::Relaxed);
                return Ok(Fired::Settled);
            }
            Some(next) => next,
        };
        // Decided at the deadline itself: the promise broke then, not when noticed.
        let events = match decide(&kind.command(), &loaded.state, deadline) {
            Ok(events) if !events.is_empty() => events,
            Ok(_) => {
                delete(tx, id).await?;
                return Ok(Fired::Settled);
            }
            Err(refusal) => {
                tracing::warn!(ticket_id = %id, %refusal, "a due deadline was refused; dropping it");
                delete(tx, id).await?;
                return Ok(Fired::Settled);
            }
        };
        let batch = encode_batch(&loaded.state, &events, &Context::default());
        let span = chain_telemetry::deadline::fire_span("promise_due");
        span.record("chain.ticket_id", tracing::field::display(id));
        span.record("chain.case_id", tracing::field::display(id));
        let trace = span
            .in_scope(chain_telemetry::TraceContext::current)
            .unwrap_or_default();
        let metadata = EventMetadata::new(
            id.to_string(),
            format!("deadline:{id}@{}", deadline.to_rfc3339()),
            SERVICE_ACTOR,
        )
        .traced(&trace.traceparent, &trace.tracestate, &trace.baggage);
        // A savepoint, so a lost race undoes this append only, not the whole round.
        let mut savepoint = tx.begin().await?;
        match append_in(
            &mut *savepoint,
            &ticket_stream(id),
            loaded.state.version,
            &batch.events,
            &metadata,
            None,
        )
        .instrument(span.clone())
        .await
        {
            Ok(_) => {
                delete(&mut savepoint, id).await?;
                savepoint.commit().await?;
                span.in_scope(
                    || tracing::info!(ticket_id = %id, %deadline, "promise broken at its due time"),
                );
                Ok(Fired::Appended)
            }
            Err(StoreError::Conflict { .. }) => {
                savepoint.rollback().await?;
                self.stats.deferred.fetch_add(1, Ordering::Relaxed);
                Ok(Fired::Deferred)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// What became of one due row.
enum Fired {
    /// The broken promise was appended.
    Appended,
    /// Left for the next round.
    Deferred,
    /// Dropped or rescheduled: nothing to fire.
    Settled,
}

async fn delete(conn: &mut PgConnection, id: TicketId) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM deadlines WHERE ticket_id = $1")
        .bind(id.as_uuid())
        .execute(conn)
        .await?;
    Ok(())
}
