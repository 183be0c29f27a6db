//! The inbox: which events a consumer applied and how far each aggregate stream got, checked
//! and moved inside the same transaction as the projection change.

use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// Whether an event may be applied now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Next in its stream and never seen: the stream now stands at its version (row locked
    /// until the transaction ends); apply it.
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
    /// The stream moved while this was admitted (another replica applied this version first).
    Lost,
}

/// Marks the event processed, compares its version with the stream's and, when it is next,
/// moves the stream to it, in one round trip. Moving the stream before the handler runs holds
/// the stream's row lock for the rest of the transaction, so a replica admitting the same
/// stream waits for this one to end instead of applying the same version beside it. A caller
/// rolls the transaction back unless the outcome is `Next` (and the handler succeeded),
/// `Duplicate` or `Stale`.
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
             ON CONFLICT DO NOTHING RETURNING 1),
         moved AS (
             INSERT INTO inbox_stream_versions AS s (consumer, aggregate_type, aggregate_id,
                                                     version)
             SELECT $1, $3, $4, $5
             WHERE EXISTS (SELECT 1 FROM fresh)
               AND ($5 = 1 OR EXISTS (SELECT 1 FROM inbox_stream_versions
                                      WHERE consumer = $1 AND aggregate_type = $3
                                        AND aggregate_id = $4))
             ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE
             SET version = EXCLUDED.version WHERE s.version = EXCLUDED.version - 1
             RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM fresh) AS fresh,
                EXISTS (SELECT 1 FROM moved) AS moved,
                (SELECT version FROM inbox_stream_versions
                 WHERE consumer = $1 AND aggregate_type = $3 AND aggregate_id = $4) AS applied",
    )
    .bind(consumer)
    .bind(event_id)
    .bind(aggregate.0)
    .bind(aggregate.1)
    .bind(i64::try_from(version).unwrap_or(i64::MAX))
    .fetch_one(&mut *tx)
    .await?;
    if !row.try_get::<bool, _>("fresh")? {
        return Ok(Admission::Duplicate);
    }
    if row.try_get::<bool, _>("moved")? {
        return Ok(Admission::Next);
    }
    // `applied` is read as the statement began, before `moved` ran.
    let applied = row
        .try_get::<Option<i64>, _>("applied")?
        .map_or(0, |v| u64::try_from(v).unwrap_or(0));
    Ok(match version {
        v if v <= applied => Admission::Stale,
        v if v == applied + 1 => Admission::Lost,
        _ => Admission::Gap {
            expected: applied + 1,
        },
    })
}
