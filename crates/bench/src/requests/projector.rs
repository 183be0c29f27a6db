//! How far the service's projector (read model and propagation) trails the event store: the
//! events it has not yet processed when the load stops, and how long it then takes to process
//! them all (through the outbox relay, JetStream and the projector's inbox).

use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use tokio::time::Instant;

/// The projector's consumer name in the inbox (`chain_requests::PROJECTOR_NAME`; the
/// bench talks to the service only over gRPC and SQL, so it does not link the crate).
const PROJECTOR_NAME: &str = "requests-projector";
/// How often the counts are compared while waiting. Counting is a scan of both tables (about
/// 19 ms of PostgreSQL at 68k events), so a tight poll would take CPU from the projector it
/// measures.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// The projector's position against the store.
#[derive(Clone, Copy)]
pub struct Backlog {
    /// Events in the store.
    pub events: u64,
    /// Events the projector has processed.
    pub processed: u64,
}

impl Backlog {
    /// Events still to process.
    pub fn behind(&self) -> u64 {
        self.events.saturating_sub(self.processed)
    }
}

/// What waiting for the projector found.
pub struct CatchUp {
    /// The backlog when the wait began.
    pub at_stop: Backlog,
    /// How long until it had processed every event; `None` when it had not within the limit.
    pub caught_up_after: Option<Duration>,
    /// The backlog when the wait ended.
    pub at_end: Backlog,
}

/// Reads the backlog now.
pub async fn backlog(pool: &PgPool) -> anyhow::Result<Backlog> {
    let (events, processed): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), \
                (SELECT coalesce(sum(version), 0)::int8 FROM inbox_stream_versions \
                 WHERE consumer = $1)",
    )
    .bind(PROJECTOR_NAME)
    .fetch_one(pool)
    .await
    .context("counting events and processed events")?;
    Ok(Backlog {
        events: u64::try_from(events)?,
        processed: u64::try_from(processed)?,
    })
}

/// Waits (at most `limit`) until the projector has processed every stored event. Propagation
/// appends events of its own, so "every" is re-counted on each poll.
pub async fn wait_until_caught_up(pool: &PgPool, limit: Duration) -> anyhow::Result<CatchUp> {
    let start = Instant::now();
    let at_stop = backlog(pool).await?;
    let mut now = at_stop;
    loop {
        if now.behind() == 0 {
            return Ok(CatchUp {
                at_stop,
                caught_up_after: Some(start.elapsed()),
                at_end: now,
            });
        }
        if start.elapsed() >= limit {
            return Ok(CatchUp {
                at_stop,
                caught_up_after: None,
                at_end: now,
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
        now = backlog(pool).await?;
    }
}
