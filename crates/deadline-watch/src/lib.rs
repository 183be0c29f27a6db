//! The deadline watch: fires each due deadline exactly once, however many replicas run it,
//! and catches up on what fell due while no replica ran.
//!
//! A service keeps a `deadlines` table (its stream's key, `due_at`), maintained by its
//! projector from the domain's next deadline, and says what falls due through [`Deadlines`]:
//! requests-svc breaches requests, tickets-svc breaks promises. Each round locks a batch of
//! rows due now (`FOR UPDATE SKIP LOCKED`, so replicas share the work without firing one twice)
//! and asks the service what is due for each, decided at the deadline itself (so the event's
//! `occurred_at` is the due time whenever the watch runs, and a watch catching up after
//! downtime records the same event). The events are appended with the expected version in the
//! round's transaction, under a savepoint, and the row deleted. A stream settled meanwhile
//! loses its row; one whose deadline moved gets it rescheduled; a lost race with a concurrent
//! writer leaves the row for the next round.
//!
//! Between rounds the watch sleeps until the next deadline, at most [`DEADLINE_NOTICE`], or
//! until the service's projector notifies [`Deadlines::CHANNEL`] (only for a deadline due
//! sooner than that: a notifying transaction holds a server-wide lock through its commit).
//! It starts with a round, so everything that fell due while no replica ran fires at once, and
//! stops on shutdown.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chain_rpc::clock;
use chain_store::{EventMetadata, EventStore, NewEvent, StoreError, StreamId, append_in};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Row as _};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use uuid::Uuid;

/// How often a deadline watch re-plans its sleep at the least (its default `max_sleep`): a
/// deadline (re)scheduled to fall due later is found by that poll, so a projector notifies
/// [`Deadlines::CHANNEL`] only for a sooner one. Each notice costs every watch a round, and
/// most deadlines move days, not a second.
pub const DEADLINE_NOTICE: Duration = Duration::from_secs(1);

/// The shortest sleep between rounds: a due row another replica holds is not ours to spin on.
const MIN_SLEEP: Duration = Duration::from_millis(10);

/// How long a deadline whose stream cannot be read or decided on waits before it is tried
/// again: it must neither be dropped nor hold back the deadlines behind it.
const UNREADABLE_RETRY: Duration = Duration::from_secs(60);

/// What a service's deadlines are: its table's key, its wake-up channel, and what falls due.
pub trait Deadlines: Send + Sync + 'static {
    /// The key column of the service's `deadlines` table (its streams' ids, `uuid`).
    const KEY_COLUMN: &'static str;
    /// The channel the service's projector notifies when it schedules a deadline due within
    /// [`DEADLINE_NOTICE`].
    const CHANNEL: &'static str;
    /// The counter of deadlines fired, bumped once the round committed.
    const FIRED_METRIC: &'static str;
    /// What a fired deadline is called in logs and as its span's event ("request breached").
    const FIRED_EVENT: &'static str;

    /// What is due for the stream keyed `id`, read from `store` as it stands, at `now`.
    fn due(
        &self,
        store: &EventStore,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Due, WatchError>> + Send;
}

/// What [`Deadlines::due`] found for one row.
#[derive(Debug)]
pub enum Due {
    /// Nothing falls due any more (settled, already fired, or refused): the row goes.
    Never,
    /// The deadline moved on to this time: the row is rescheduled.
    Later(DateTime<Utc>),
    /// It fell due: append this.
    Now(Box<Firing>),
}

/// The events a due deadline appends, decided at the deadline.
#[derive(Debug)]
pub struct Firing {
    /// The stream they go on.
    pub stream: StreamId,
    /// Its version as the events were decided on.
    pub expected_version: u64,
    /// The events.
    pub events: Vec<NewEvent>,
    /// Their metadata (causation: the deadline; the span's trace context).
    pub metadata: EventMetadata,
    /// The span the append runs in (ids and tiers only).
    pub span: tracing::Span,
    /// The deadline that fell due.
    pub deadline: DateTime<Utc>,
}

/// How a deadline watch behaves.
#[derive(Debug, Clone)]
pub struct DeadlineWatchConfig {
    /// Deadlines locked and fired per transaction.
    pub batch_size: u32,
    /// The longest sleep between rounds (also the fallback when no `NOTIFY` arrives). Longer
    /// than [`DEADLINE_NOTICE`], a deadline scheduled to fall due within it may fire up to
    /// this much late.
    pub max_sleep: Duration,
    /// The pause after a round that had to leave a deadline for later (a lost race), so the
    /// watch does not spin on it.
    pub retry_pause: Duration,
}

impl Default for DeadlineWatchConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            max_sleep: DEADLINE_NOTICE,
            retry_pause: Duration::from_millis(50),
        }
    }
}

/// Counters a deadline watch keeps, for metrics and tests.
#[derive(Debug, Default)]
pub struct DeadlineStats {
    /// Deadlines fired (events appended).
    pub fired: AtomicU64,
    /// Rows dropped because nothing falls due any more.
    pub dropped: AtomicU64,
    /// Rows moved because the deadline moved.
    pub rescheduled: AtomicU64,
    /// Rows left for the next round after a lost race.
    pub deferred: AtomicU64,
    /// Rows put off because their stream could not be read or decided on.
    pub unreadable: AtomicU64,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Due rows locked.
    pub locked: usize,
    /// Deadlines fired.
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
    /// The service could not read or decide on a stream.
    #[error("stream {id}: {source}")]
    Stream {
        /// The stream's key.
        id: Uuid,
        /// What went wrong.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Fires due deadlines of `D`; see the module docs.
#[derive(Debug)]
pub struct DeadlineWatch<D> {
    store: EventStore,
    deadlines: Arc<D>,
    config: DeadlineWatchConfig,
    stats: Arc<DeadlineStats>,
}

impl<D> Clone for DeadlineWatch<D> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            deadlines: Arc::clone(&self.deadlines),
            config: self.config.clone(),
            stats: Arc::clone(&self.stats),
        }
    }
}

impl<D: Deadlines> DeadlineWatch<D> {
    /// A watch over the deadlines in `store`'s database, with default settings.
    pub fn new(store: EventStore, deadlines: D) -> Self {
        Self {
            store,
            deadlines: Arc::new(deadlines),
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
        listener.listen(D::CHANNEL).await.ok()?;
        Some(listener)
    }

    fn batch_len(&self) -> usize {
        usize::try_from(self.config.batch_size).unwrap_or(usize::MAX)
    }

    /// How long until the next deadline, between [`MIN_SLEEP`] and `max_sleep`.
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
                .max(MIN_SLEEP),
            _ => self.config.max_sleep,
        }
    }

    /// Fires the deadlines due now (one batch); see the module docs.
    pub async fn round(&self) -> Result<Round, WatchError> {
        let now = clock::now();
        let mut tx = self.store.pool().begin().await?;
        let due: Vec<Uuid> = sqlx::query(AssertSqlSafe(format!(
            "SELECT {key} FROM deadlines WHERE due_at <= $1
             ORDER BY due_at FOR UPDATE SKIP LOCKED LIMIT $2",
            key = D::KEY_COLUMN
        )))
        .bind(now)
        .bind(i64::from(self.config.batch_size))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()?;
        let mut round = Round {
            locked: due.len(),
            ..Round::default()
        };
        for id in due {
            match self.fire(&mut tx, id, now).await? {
                Fired::Appended => round.fired += 1,
                Fired::Deferred => round.deferred += 1,
                Fired::Settled => {}
            }
        }
        tx.commit().await?;
        if round.fired > 0 {
            // Appended inside our own transaction: tell the relay now that it committed.
            self.store.signal_appended();
        }
        self.stats
            .fired
            .fetch_add(round.fired as u64, Ordering::Relaxed);
        // Counted after the commit, so a rolled-back round counts nothing.
        metrics::counter!(D::FIRED_METRIC).increment(round.fired as u64);
        Ok(round)
    }

    async fn fire(
        &self,
        tx: &mut PgConnection,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Fired, WatchError> {
        let firing = match self.deadlines.due(&self.store, id, now).await {
            Err(error @ WatchError::Stream { .. }) => {
                // Poison (history that does not decode): put off, logged, never dropped.
                tracing::error!(%error, "a due deadline's stream is unreadable; trying later");
                self.reschedule(tx, id, now + UNREADABLE_RETRY).await?;
                self.stats.unreadable.fetch_add(1, Ordering::Relaxed);
                return Ok(Fired::Settled);
            }
            Err(error) => return Err(error),
            Ok(Due::Never) => {
                self.delete(tx, id).await?;
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                return Ok(Fired::Settled);
            }
            Ok(Due::Later(deadline)) => {
                self.reschedule(tx, id, deadline).await?;
                self.stats.rescheduled.fetch_add(1, Ordering::Relaxed);
                return Ok(Fired::Settled);
            }
            Ok(Due::Now(firing)) => *firing,
        };
        // A savepoint, so a lost race undoes this append only, not the whole round.
        let mut savepoint = tx.begin().await?;
        let appended = append_in(
            &mut *savepoint,
            &firing.stream,
            firing.expected_version,
            &firing.events,
            &firing.metadata,
            None,
        )
        .instrument(firing.span.clone())
        .await;
        match appended {
            Ok(_) => {
                self.delete(&mut savepoint, id).await?;
                savepoint.commit().await?;
                let deadline = firing.deadline;
                firing
                    .span
                    .in_scope(|| tracing::info!(message = D::FIRED_EVENT, %deadline));
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

    async fn delete(&self, conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM deadlines WHERE {key} = $1",
            key = D::KEY_COLUMN
        )))
        .bind(id)
        .execute(conn)
        .await?;
        Ok(())
    }

    async fn reschedule(
        &self,
        conn: &mut PgConnection,
        id: Uuid,
        deadline: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE deadlines SET due_at = $2 WHERE {key} = $1",
            key = D::KEY_COLUMN
        )))
        .bind(id)
        .bind(deadline)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// What became of one due row.
enum Fired {
    /// The events were appended.
    Appended,
    /// Left for the next round.
    Deferred,
    /// Dropped or rescheduled: nothing to fire.
    Settled,
}
