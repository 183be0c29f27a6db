//! The inbox: how far each aggregate stream got with a consumer, checked and moved inside the
//! same transaction as the projection change, one event at a time ([`admit`]) or a whole batch
//! at once ([`admit_all`]).
//!
//! A stream's versions run 1, 2, 3… without gaps or repeats (the event store's unique
//! `(aggregate, version)`), so the version a stream stands at says exactly which of its events
//! were applied: a redelivery or a republished copy is at or below it. No row per event is
//! kept (the table `inbox_processed` of the first schema grew by one row per event and
//! consumer, forever; migration 0002 drops it), and [`applied_count`] is the sum of the
//! versions.

use sqlx::{PgConnection, PgPool, Row};

/// Whether an event may be applied now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Next in its stream: the stream now stands at its version (row locked until the
    /// transaction ends); apply it.
    Next,
    /// Its stream already stands at or past this version: a redelivery, or a republished copy
    /// under another delivery.
    Stale,
    /// An earlier version of its stream has not been applied yet.
    Gap {
        /// The version the stream is waiting for.
        expected: u64,
    },
    /// The stream moved while this was admitted (another replica applied this version first).
    Lost,
}

/// Compares the event's version with the stream's and, when it is next, moves the stream to
/// it, in one round trip. Moving the stream before the handler runs holds the stream's row lock
/// for the rest of the transaction, so a replica admitting the same stream waits for this one
/// to end instead of applying the same version beside it. A caller rolls the transaction back
/// unless the outcome is `Next` (and the handler succeeded) or `Stale`.
pub(crate) async fn admit(
    tx: &mut PgConnection,
    consumer: &str,
    aggregate: (&str, &str),
    version: u64,
) -> Result<Admission, sqlx::Error> {
    let row = sqlx::query(
        "WITH moved AS (
             INSERT INTO inbox_stream_versions AS s (consumer, aggregate_type, aggregate_id,
                                                     version)
             SELECT $1, $2, $3, $4
             WHERE $4 = 1 OR EXISTS (SELECT 1 FROM inbox_stream_versions
                                     WHERE consumer = $1 AND aggregate_type = $2
                                       AND aggregate_id = $3)
             ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE
             SET version = EXCLUDED.version WHERE s.version = EXCLUDED.version - 1
             RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM moved) AS moved,
                (SELECT version FROM inbox_stream_versions
                 WHERE consumer = $1 AND aggregate_type = $2 AND aggregate_id = $3) AS applied",
    )
    .bind(consumer)
    .bind(aggregate.0)
    .bind(aggregate.1)
    .bind(i64::try_from(version).unwrap_or(i64::MAX))
    .fetch_one(&mut *tx)
    .await?;
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

/// How many events `consumer` has applied (or skipped as none of its business): the sum of
/// the versions its streams stand at.
pub async fn applied_count(pool: &PgPool, consumer: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(version), 0)::int8 FROM inbox_stream_versions WHERE consumer = $1",
    )
    .bind(consumer)
    .fetch_one(pool)
    .await
}

/// A stream, as (aggregate type, aggregate id).
type Stream<'a> = (&'a str, &'a str);

/// One batch's events as the inbox sees them: for each stream, the run of versions the batch
/// brings.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BatchRuns<'a> {
    /// (aggregate type, aggregate id) → (first version, last version), in first-seen order.
    runs: Vec<(Stream<'a>, (u64, u64))>,
}

impl<'a> BatchRuns<'a> {
    /// The runs of `events` (stream, version), in batch order; `None` when a stream's versions
    /// do not follow one another in the batch (a copy, a gap): the batch then needs the
    /// one-by-one admission, which tells those apart.
    pub(crate) fn of(events: impl IntoIterator<Item = (Stream<'a>, u64)>) -> Option<Self> {
        let mut batch = Self::default();
        for (stream, version) in events {
            match batch.runs.iter_mut().find(|(s, _)| *s == stream) {
                Some((_, (_, last))) if *last + 1 == version => *last = version,
                Some(_) => return None,
                None => batch.runs.push((stream, (version, version))),
            }
        }
        Some(batch)
    }
}

/// Admits a whole batch in one round trip when each stream's run starts right after the version
/// the stream stands at: moves each stream to the end of its run (holding its row lock until
/// the transaction ends), and returns true. Returns false when any run is not simply next; the
/// caller must then roll the transaction back and admit the events one by one ([`admit`]).
pub(crate) async fn admit_all(
    tx: &mut PgConnection,
    consumer: &str,
    batch: &BatchRuns<'_>,
) -> Result<bool, sqlx::Error> {
    let version = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let (kinds, ids): (Vec<&str>, Vec<&str>) = batch.runs.iter().map(|(stream, _)| *stream).unzip();
    let (firsts, lasts): (Vec<i64>, Vec<i64>) = batch
        .runs
        .iter()
        .map(|(_, (first, last))| (version(*first), version(*last)))
        .unzip();
    let row = sqlx::query(
        "WITH runs AS (
             SELECT * FROM unnest($2::text[], $3::text[], $4::int8[], $5::int8[])
                 AS r(kind, id, first, last)),
         -- An upsert, so each stream is found through the primary key whatever the plan.
         moved AS (
             INSERT INTO inbox_stream_versions AS s (consumer, aggregate_type, aggregate_id,
                                                     version)
             SELECT $1, kind, id, last FROM runs
             -- A scalar subquery with LIMIT is looked up per run; an EXISTS was planned as
             -- one hashed read of every stream of the consumer.
             WHERE first = 1
                OR (SELECT true FROM inbox_stream_versions v
                    WHERE v.consumer = $1 AND v.aggregate_type = runs.kind
                      AND v.aggregate_id = runs.id
                    LIMIT 1)
             ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE
             SET version = EXCLUDED.version
             WHERE s.version = (SELECT r.first - 1 FROM runs r
                                WHERE r.kind = EXCLUDED.aggregate_type
                                  AND r.id = EXCLUDED.aggregate_id)
             RETURNING 1)
         SELECT count(*) AS moved FROM moved",
    )
    .bind(consumer)
    .bind(kinds)
    .bind(ids)
    .bind(firsts)
    .bind(lasts)
    .fetch_one(&mut *tx)
    .await?;
    let moved: i64 = row.try_get("moved")?;
    Ok(usize::try_from(moved).ok() == Some(batch.runs.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_groups_each_streams_consecutive_versions_into_one_run() {
        let batch = BatchRuns::of([
            (("request", "a"), 3),
            (("request", "b"), 1),
            (("request", "a"), 4),
            (("ticket", "a"), 7),
        ])
        .expect("every stream runs on");
        assert_eq!(
            batch.runs,
            [
                (("request", "a"), (3, 4)),
                (("request", "b"), (1, 1)),
                (("ticket", "a"), (7, 7)),
            ]
        );
    }

    #[test]
    fn a_repeated_or_skipped_version_in_a_batch_needs_the_one_by_one_admission() {
        let a = ("request", "a");
        assert_eq!(BatchRuns::of([(a, 3), (a, 3)]), None);
        assert_eq!(BatchRuns::of([(a, 3), (a, 5)]), None);
        assert_eq!(BatchRuns::of([(a, 4), (a, 3)]), None);
    }
}
