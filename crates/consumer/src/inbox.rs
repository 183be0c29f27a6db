//! The inbox: which events a consumer applied and how far each aggregate stream got, checked
//! and moved inside the same transaction as the projection change.

use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// Whether an event may be applied now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Next in its stream and never seen: apply it.
    Next,
    /// This event id was processed before: a redelivery.
    Duplicate,
    /// Its stream is already past this version (a republished copy under another delivery).
    Stale,
    /// An earlier version of its stream has not been applied yet.
    Gap {
        /// The version the stream is waiting for.
        expected: u64,
    },
}

/// Marks the event processed and compares its version with the stream's, in one round trip.
pub(crate) async fn admit(
    tx: &mut PgConnection,
    consumer: &str,
    event_id: Uuid,
    aggregate: (&str, &str),
    version: u64,
) -> Result<Admission, sqlx::Error> {
    let row = sqlx::query(
        "WITH fresh AS (
             INSERT INTO inbox_processed (consumer, event_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM fresh) AS fresh,
                (SELECT version FROM inbox_stream_versions
                 WHERE consumer = $1 AND aggregate_type = $3 AND aggregate_id = $4) AS applied",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(aggregate.0)
    .bind(aggregate.1)
    .fetch_one(&mut *tx)
    .await?;
    if !row.try_get::<bool, _>("fresh")? {
        return Ok(Admission::Duplicate);
    }
    let applied = row
        .try_get::<Option<i64>, _>("applied")?
        .map_or(0, |v| u64::try_from(v).unwrap_or(0));
    Ok(match version {
        v if v <= applied => Admission::Stale,
        v if v == applied + 1 => Admission::Next,
        _ => Admission::Gap {
            expected: applied + 1,
        },
    })
}

/// Moves the stream to `version`, only from `version - 1`: a concurrent replica that applied
/// the same version first makes this fail, and the transaction is rolled back.
pub(crate) async fn advance(
    tx: &mut PgConnection,
    consumer: &str,
    aggregate: (&str, &str),
    version: u64,
) -> Result<bool, sqlx::Error> {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    let moved = sqlx::query(
        "INSERT INTO inbox_stream_versions AS s (consumer, aggregate_type, aggregate_id, version)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE
         SET version = EXCLUDED.version WHERE s.version = EXCLUDED.version - 1",
    )
    .bind(consumer)
    .bind(aggregate.0)
    .bind(aggregate.1)
    .bind(version)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(moved == 1)
}
