//! Appends gathered over one transaction and written at its end in one statement.
//!
//! A consumer that reacts to events by appending to other streams (the chain view telling a
//! ticket, the requests projector telling a parent) would otherwise send one INSERT per
//! reaction: at saturation about one statement in five of the whole pipeline. Each stream's
//! appends must follow one another (the second at the version the first left it), and the
//! statement checks every stream's version before it writes anything, as [`crate::append_in`]
//! does for one. A lone append goes through [`crate::append_in`] itself: its statement is
//! prepared once, where one over arrays is planned afresh for each call, and most transactions
//! of a quiet consumer react once.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::append::{append_in, classify};
use crate::{EventMetadata, NewEvent, StoreError, StreamId};

/// A query over PostgreSQL arguments, as [`sqlx::query`] makes it.
pub type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The number of the first parameter a [`Rider`] binds: the appends' own come before it.
pub const RIDER_FIRST_PARAMETER: usize = 18;

/// The statement writing several streams' events, after its `WITH `: the expression `heads`
/// (each stream's kind `$15`, id `$16` and expected version `$17`), then the insert of the
/// events `$1`–`$14`, which writes nothing unless every stream is where it was expected, and
/// returns a row for each event written.
macro_rules! appends_sql {
    () => {
        "heads AS (
             SELECT * FROM unnest($15::text[], $16::text[], $17::int8[]) AS h(kind, id, expected))
         INSERT INTO events (event_id, aggregate_type, aggregate_id, aggregate_version,
                             event_type, schema_version, occurred_at, correlation_id,
                             causation_id, actor, traceparent, tracestate, baggage, payload)
         SELECT e.event_id, e.kind, e.id, e.version, e.event_type, e.schema_version,
                e.occurred_at, e.correlation_id, e.causation_id, e.actor, e.traceparent,
                e.tracestate, e.baggage, e.payload
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::uuid[], $5::text[],
                     $6::int4[], $7::timestamptz[], $8::text[], $9::text[], $10::text[],
                     $11::text[], $12::text[], $13::text[], $14::bytea[])
              WITH ORDINALITY AS e(kind, id, version, event_id, event_type, schema_version,
                                   occurred_at, correlation_id, causation_id, actor,
                                   traceparent, tracestate, baggage, payload, n)
         -- Uncorrelated with the rows: checked once, before any row is written.
         WHERE NOT EXISTS (
             SELECT 1 FROM heads h
             WHERE coalesce((SELECT max(v.aggregate_version) FROM events v
                             WHERE v.aggregate_type = h.kind AND v.aggregate_id = h.id),
                            0) <> h.expected)
         ORDER BY e.n
         RETURNING 1"
    };
}

/// Writes of a caller's own made in the statement that writes the held events
/// ([`PendingAppends::write_with`]): a consumer that ends its transaction with its rows and
/// its reactions then pays one round trip for both.
pub struct Rider {
    ctes: &'static str,
    bind: Box<dyn for<'q> FnOnce(PgQuery<'q>) -> PgQuery<'q> + Send>,
}

impl Rider {
    /// Writes made by `ctes`, one or more data-modifying common table expressions
    /// (`name AS (...)`, comma-separated, none named `heads`) whose parameters are numbered
    /// from [`RIDER_FIRST_PARAMETER`] on, and bound in that order by `bind` (with values it
    /// owns). A data-modifying expression runs whether or not the statement reads it.
    pub fn new(
        ctes: &'static str,
        bind: impl for<'q> FnOnce(PgQuery<'q>) -> PgQuery<'q> + Send + 'static,
    ) -> Self {
        Self {
            ctes,
            bind: Box::new(bind),
        }
    }
}

/// `sql` with every parameter `$n` numbered `$n + by`: a rider's expressions written for a
/// statement of their own (from `$1`), renumbered to follow the appends' parameters
/// (`by` = [`RIDER_FIRST_PARAMETER`] - 1). `sql` must hold no other `$` followed by a digit
/// (no dollar-quoted strings or positional references of its own).
pub fn shift_parameters(sql: &str, by: usize) -> String {
    let mut shifted = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        let (before, from) = rest.split_at(at);
        shifted.push_str(before);
        let digits = from[1..].len()
            - from[1..]
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .len();
        match from[1..=digits].parse::<usize>() {
            Ok(n) if digits > 0 => {
                shifted.push('$');
                shifted.push_str(&(n + by).to_string());
            }
            _ => shifted.push_str(&from[..=digits]),
        }
        rest = &from[1 + digits..];
    }
    shifted.push_str(rest);
    shifted
}

impl std::fmt::Debug for Rider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rider")
            .field("ctes", &self.ctes)
            .finish_non_exhaustive()
    }
}

/// Appends to several streams, written together by [`PendingAppends::write_in`].
#[derive(Debug, Default)]
pub struct PendingAppends {
    /// Each append, in the order pushed: its stream, the version it expects, its events and
    /// their metadata.
    appends: Vec<(StreamId, u64, Vec<NewEvent>, EventMetadata)>,
}

/// The held events as columns, for `unnest`, borrowed from the appends they were pushed in.
#[derive(Debug, Default)]
struct Rows<'a> {
    kinds: Vec<&'a str>,
    ids: Vec<&'a str>,
    versions: Vec<i64>,
    event_ids: Vec<Uuid>,
    types: Vec<&'a str>,
    schema_versions: Vec<i32>,
    occurred_at: Vec<DateTime<Utc>>,
    correlation_ids: Vec<&'a str>,
    causation_ids: Vec<&'a str>,
    actors: Vec<&'a str>,
    traceparents: Vec<Option<&'a str>>,
    tracestates: Vec<Option<&'a str>>,
    baggages: Vec<Option<&'a str>>,
    payloads: Vec<&'a [u8]>,
}

impl PendingAppends {
    /// Holds `events` to append to `stream`, which must be at `expected_version` when written
    /// (or, when this already holds appends to it, where they leave it).
    pub fn push(
        &mut self,
        stream: &StreamId,
        expected_version: u64,
        events: &[NewEvent],
        metadata: &EventMetadata,
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        let held = self.appends.iter().rev().find(|(held, ..)| held == stream);
        if let Some((_, held_expected, held_events, _)) = held {
            let held_last = held_expected + held_events.len() as u64;
            if held_last != expected_version {
                return Err(StoreError::Conflict {
                    stream: stream.clone(),
                    detail: format!(
                        "appending at version {expected_version} after appends up to {held_last}"
                    ),
                });
            }
        }
        self.appends.push((
            stream.clone(),
            expected_version,
            events.to_vec(),
            metadata.clone(),
        ));
        Ok(())
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.appends.is_empty()
    }

    /// Writes every held event on `executor`, in the order pushed, when each stream is at the
    /// version its first append expected; [`StoreError::Conflict`] (naming the first stream)
    /// when any is not, and then nothing is written.
    pub async fn write_in<'e>(self, executor: impl PgExecutor<'e>) -> Result<(), StoreError> {
        match self.appends.as_slice() {
            [] => Ok(()),
            [(stream, expected, events, metadata)] => {
                append_in(executor, stream, *expected, events, metadata, None).await?;
                Ok(())
            }
            _ => self.write_together(executor, None).await,
        }
    }

    /// [`PendingAppends::write_in`] in one statement with `rider`'s writes, one round trip
    /// where there were two. When a stream moved, [`StoreError::Conflict`] is returned as
    /// from `write_in`, but the rider's writes were made: the caller rolls its transaction
    /// back. Holding nothing is [`StoreError::EmptyAppend`] (the rider's parameters need the
    /// appends' before them): write the rider's rows on their own then.
    pub async fn write_with<'e>(
        self,
        executor: impl PgExecutor<'e>,
        rider: Rider,
    ) -> Result<(), StoreError> {
        if self.appends.is_empty() {
            return Err(StoreError::EmptyAppend);
        }
        self.write_together(executor, Some(rider)).await
    }

    /// Writes every held event in one statement over arrays, with `rider`'s writes if any.
    async fn write_together<'e>(
        self,
        executor: impl PgExecutor<'e>,
        rider: Option<Rider>,
    ) -> Result<(), StoreError> {
        let Some((first, ..)) = self.appends.first() else {
            return Ok(());
        };
        let heads = self.heads();
        let mut rows = Rows::default();
        for (stream, expected, events, metadata) in &self.appends {
            for (event, version) in events.iter().zip(expected + 1..) {
                rows.push(stream, version, event, metadata);
            }
        }
        let written = match rider {
            None => {
                let query = sqlx::query(concat!("WITH ", appends_sql!()));
                rows.bind(query, &heads).fetch_all(executor).await
            }
            Some(rider) => {
                let sql = format!("WITH {}, {}", rider.ctes, appends_sql!());
                let query = sqlx::query(sqlx::AssertSqlSafe(sql));
                (rider.bind)(rows.bind(query, &heads))
                    .fetch_all(executor)
                    .await
            }
        }
        .map_err(|error| classify(error, first))?;
        if written.len() != rows.event_ids.len() {
            let streams: Vec<String> = heads.iter().map(|(s, _)| s.to_string()).collect();
            return Err(StoreError::Conflict {
                stream: first.clone(),
                detail: format!(
                    "one of {} moved past the version expected",
                    streams.join(", ")
                ),
            });
        }
        for kind in &rows.kinds {
            metrics::counter!("chain_events_appended_total", "aggregate_type" => kind.to_string())
                .increment(1);
        }
        Ok(())
    }

    /// Each stream once, in the order first pushed, with the version its first append expects.
    fn heads(&self) -> Vec<(&StreamId, i64)> {
        let mut heads: Vec<(&StreamId, i64)> = Vec::new();
        for (stream, expected, ..) in &self.appends {
            if !heads.iter().any(|(held, _)| *held == stream) {
                heads.push((stream, i64::try_from(*expected).unwrap_or(i64::MAX)));
            }
        }
        heads
    }
}

impl<'a> Rows<'a> {
    /// Binds the rows and the streams' `heads` as [`appends_sql!`] numbers them, `$1`–`$17`.
    fn bind<'q>(&'q self, query: PgQuery<'q>, heads: &[(&'q StreamId, i64)]) -> PgQuery<'q> {
        query
            .bind(&self.kinds)
            .bind(&self.ids)
            .bind(&self.versions)
            .bind(&self.event_ids)
            .bind(&self.types)
            .bind(&self.schema_versions)
            .bind(&self.occurred_at)
            .bind(&self.correlation_ids)
            .bind(&self.causation_ids)
            .bind(&self.actors)
            .bind(&self.traceparents)
            .bind(&self.tracestates)
            .bind(&self.baggages)
            .bind(&self.payloads)
            .bind(
                heads
                    .iter()
                    .map(|(s, _)| s.aggregate_type.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                heads
                    .iter()
                    .map(|(s, _)| s.aggregate_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                heads
                    .iter()
                    .map(|(_, expected)| *expected)
                    .collect::<Vec<_>>(),
            )
    }

    fn push(
        &mut self,
        stream: &'a StreamId,
        version: u64,
        event: &'a NewEvent,
        meta: &'a EventMetadata,
    ) {
        self.kinds.push(&stream.aggregate_type);
        self.ids.push(&stream.aggregate_id);
        self.versions
            .push(i64::try_from(version).unwrap_or(i64::MAX));
        self.event_ids.push(event.event_id);
        self.types.push(&event.event_type);
        self.schema_versions
            .push(i32::try_from(event.schema_version).unwrap_or(i32::MAX));
        self.occurred_at.push(event.occurred_at);
        self.correlation_ids.push(&meta.correlation_id);
        self.causation_ids.push(&meta.causation_id);
        self.actors.push(&meta.actor);
        self.traceparents.push(meta.traceparent.as_deref());
        self.tracestates.push(meta.tracestate.as_deref());
        self.baggages.push(meta.baggage.as_deref());
        self.payloads.push(&event.payload);
    }
}

#[cfg(test)]
mod tests {
    use super::shift_parameters;

    #[test]
    fn parameters_shift_and_nothing_else_does() {
        assert_eq!(
            shift_parameters(
                "unnest($1::uuid[], $12::text[]) WHERE x = $2 AND y = '$'",
                17
            ),
            "unnest($18::uuid[], $29::text[]) WHERE x = $19 AND y = '$'"
        );
        assert_eq!(shift_parameters("$", 3), "$");
        assert_eq!(shift_parameters("no parameters", 3), "no parameters");
    }
}
