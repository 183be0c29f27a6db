//! Reading what committed since an earlier look, exactly, without waiting for older
//! transactions to end: the relay's fast path.
//!
//! [`EventStore::read_all`] reads in commit order only below the oldest transaction still running
//! anywhere in the cluster, so a durable [`Position`](crate::Position) never passes a row that
//! commits late. That horizon trails the head by however long the longest running transaction
//! takes (a consumer's batch, a command), and every event waits for it. A [`CommitSnapshot`]
//! records which transactions had committed at a moment, including the ones still running below
//! the head; the events committed between two snapshots are exactly those whose transaction is
//! visible in the second and not in the first, so a reader that chains snapshots sees every
//! event once, as soon as its transaction commits.
//!
//! A snapshot is not a durable cursor (the relay keeps its `Position` for that): it is the
//! fast path's memory, and it is lost with the process.

use crate::read::{COLUMNS, decode};
use crate::{EventStore, Position, RecordedEvent, StoreError};
use sqlx::Row;

/// Which transactions of the cluster had committed at a moment (PostgreSQL's `pg_snapshot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSnapshot(String);

/// What [`EventStore::committed_since`] found.
#[derive(Debug)]
pub struct CommittedSince {
    /// The events committed between the two snapshots, in insertion (`position`) order, which
    /// keeps each stream's versions in order: a stream's next version is inserted only once the
    /// previous one committed.
    pub events: Vec<RecordedEvent>,
    /// The snapshot they were read at: pass it to the next call.
    pub snapshot: CommitSnapshot,
    /// False when more events committed than the limit allowed: the events are only the first
    /// of them, and `snapshot` must not be chained (read from a durable position instead).
    pub complete: bool,
}

impl EventStore {
    /// A snapshot in which exactly the transactions older than every one still running are
    /// committed: what [`EventStore::read_all`] can read now, or a little less by the time it
    /// reads (the horizon only moves on). A reader that has read everything up to the horizon
    /// after taking this snapshot can chain [`EventStore::committed_since`] from it.
    pub async fn horizon(&self) -> Result<CommitSnapshot, StoreError> {
        let xmin: String =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                .fetch_one(self.pool())
                .await?;
        Ok(CommitSnapshot(format!("{xmin}:{xmin}:")))
    }

    /// The events after `after` (in commit order, as [`EventStore::read_all`] reads) whose
    /// transaction committed after `since` was taken, up to `limit`, with the snapshot they were
    /// read at.
    pub async fn committed_since(
        &self,
        since: &CommitSnapshot,
        after: Position,
        limit: u32,
    ) -> Result<CommittedSince, StoreError> {
        // One round trip: the statement's own snapshot (`pg_current_snapshot()` is the active
        // one) decides both what it can see and what the next call starts from. The limit is
        // taken in commit order, the order of the index the `tx_id` bounds range over, so the
        // generic plan reads the newest few rows of that index; ordered by `position` it walked
        // the whole table (7 ms a call at 50k events), and planning each call afresh instead
        // cost 0.25 ms, more than the read, about once per event at a few hundred a second.
        // Which rows a full read holds does not matter: it is not chained (`complete`).
        let sql = format!(
            "SELECT now.s::text AS snapshot_text, e.*
             FROM (SELECT pg_current_snapshot() AS s) now
             LEFT JOIN LATERAL (
                 SELECT {COLUMNS} FROM events
                 WHERE tx_id >= pg_snapshot_xmin($1::text::pg_snapshot)
                   AND (tx_id, position) > ($3::text::xid8, $4)
                   AND NOT pg_visible_in_snapshot(tx_id, $1::text::pg_snapshot)
                   AND pg_visible_in_snapshot(tx_id, now.s)
                 ORDER BY tx_id, position
                 LIMIT $2) e ON true
             ORDER BY e.position"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&since.0)
            .bind(i64::from(limit))
            .bind(after.tx_id.to_string())
            .bind(after.position)
            .fetch_all(self.pool())
            .await?;
        let snapshot = match rows.first() {
            Some(row) => CommitSnapshot(row.try_get("snapshot_text")?),
            None => return Err(StoreError::Corrupt("no snapshot returned".into())),
        };
        let events = rows
            .iter()
            .filter(|row| matches!(row.try_get::<Option<i64>, _>("position"), Ok(Some(_))))
            .map(decode)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CommittedSince {
            complete: events.len() < usize::try_from(limit).unwrap_or(usize::MAX),
            events,
            snapshot,
        })
    }
}
