//! The inbox: how far each aggregate stream got with a consumer, checked and moved inside the
//! same transaction as the projection change, one event at a time ([`admit`]) or a whole batch
//! at once ([`BatchAdmission`]).
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

/// The two common table expressions that admit a batch (see [`BatchAdmission`]): `inbox_runs`,
/// the runs of `$2`–`$5` (aggregate types, ids, first and last versions), and `inbox_moved`, one
/// row for each stream moved to the end of its run (for consumer `$1`). A statement that writes
/// `WITH ` followed by them, then its own expressions with parameters from `$6` on, admits the
/// batch as it runs: a data-modifying expression runs whether or not the statement reads it.
/// Each stream moves only when its run starts right after the version it stands at.
#[macro_export]
macro_rules! admission_ctes {
    () => {
        "inbox_runs AS (
             SELECT * FROM unnest($2::text[], $3::text[], $4::int8[], $5::int8[])
                 AS r(kind, id, first, last)),
         -- An upsert, so each stream is found through the primary key whatever the plan.
         inbox_moved AS (
             INSERT INTO inbox_stream_versions AS s (consumer, aggregate_type, aggregate_id,
                                                     version)
             SELECT $1, kind, id, last FROM inbox_runs
             -- A scalar subquery with LIMIT is looked up per run; an EXISTS was planned as
             -- one hashed read of every stream of the consumer.
             WHERE first = 1
                OR (SELECT true FROM inbox_stream_versions v
                    WHERE v.consumer = $1 AND v.aggregate_type = inbox_runs.kind
                      AND v.aggregate_id = inbox_runs.id
                    LIMIT 1)
             ON CONFLICT (consumer, aggregate_type, aggregate_id) DO UPDATE
             SET version = EXCLUDED.version
             WHERE s.version = (SELECT r.first - 1 FROM inbox_runs r
                                WHERE r.kind = EXCLUDED.aggregate_type
                                  AND r.id = EXCLUDED.aggregate_id)
             RETURNING 1)"
    };
}

/// A batch to admit: each stream's run moves the stream to its end, in one statement, when every
/// run starts right after the version its stream stands at (holding the streams' row locks until
/// the transaction ends). When any run does not, nothing may be applied: the caller rolls the
/// transaction back and admits the events one by one ([`admit`]).
///
/// [`BatchAdmission::run`] admits in a statement of its own. A handler that reads or writes
/// in one statement for the whole batch anyway can carry the admission in it and save the
/// round trip ([`crate::Handler::admit_and_prepare`]): it starts its statement with
/// [`admission_ctes!`], binds [`BatchAdmission::bind`] first, and hands the count of
/// `inbox_moved` rows to [`BatchAdmission::admitted`].
#[derive(Debug, Clone, Copy)]
pub struct BatchAdmission<'a> {
    consumer: &'a str,
    batch: &'a BatchRuns<'a>,
}

impl<'a> BatchAdmission<'a> {
    pub(crate) fn new(consumer: &'a str, batch: &'a BatchRuns<'a>) -> Self {
        Self { consumer, batch }
    }

    /// Binds the admission's parameters, `$1`–`$5`, onto `query`, whose own come after them.
    pub fn bind<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>
    where
        'a: 'q,
    {
        let version = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let runs = &self.batch.runs;
        let kinds: Vec<&str> = runs.iter().map(|((kind, _), _)| *kind).collect();
        let ids: Vec<&str> = runs.iter().map(|((_, id), _)| *id).collect();
        let firsts: Vec<i64> = runs.iter().map(|(_, (first, _))| version(*first)).collect();
        let lasts: Vec<i64> = runs.iter().map(|(_, (_, last))| version(*last)).collect();
        query
            .bind(self.consumer)
            .bind(kinds)
            .bind(ids)
            .bind(firsts)
            .bind(lasts)
    }

    /// Whether the batch was admitted, from the number of `inbox_moved` rows.
    pub fn admitted(&self, moved: i64) -> bool {
        usize::try_from(moved).ok() == Some(self.batch.runs.len())
    }

    /// Admits the batch in a statement of its own; whether it was admitted.
    pub async fn run(&self, tx: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let query = sqlx::query(concat!(
            "WITH ",
            admission_ctes!(),
            " SELECT count(*) AS moved FROM inbox_moved"
        ));
        let moved: i64 = self
            .bind(query)
            .fetch_one(&mut *tx)
            .await?
            .try_get("moved")?;
        Ok(self.admitted(moved))
    }
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
