//! Appending events to a stream: one statement, one round trip, atomic with the idempotency record.

use crate::{EventMetadata, EventStore, NewEvent, StoreError, StreamId};
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgExecutor, Row};
use uuid::Uuid;

/// The idempotency record stored with an append: a retry with the same `scope` and `key` returns
/// `response` and appends nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    /// Namespace of the key, e.g. the RPC name and the caller, so two callers' keys never collide.
    pub scope: String,
    /// The client-chosen key.
    pub key: String,
    /// A digest of the request, to tell an honest retry from a reused key.
    pub fingerprint: Vec<u8>,
    /// The encoded response the first attempt returned.
    pub response: Vec<u8>,
}

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The events were appended.
    Appended {
        /// Position (identity) of the first appended event.
        first_position: i64,
        /// The stream's version after the append.
        version: u64,
    },
    /// The idempotency key was seen before: nothing appended, here is the first response.
    Replayed {
        /// The encoded response of the first attempt.
        response: Vec<u8>,
    },
}

/// SQLSTATE raised by `append_events` when the stream is not at the expected version.
const VERSION_CONFLICT: &str = "CCV01";
/// SQLSTATE of a unique violation: a concurrent writer took the same stream version.
const UNIQUE_VIOLATION: &str = "23505";

impl EventStore {
    /// Appends `events` to `stream`, which must be at `expected_version` (0 for a new stream).
    ///
    /// A lost race surfaces as [`StoreError::Conflict`]. With `idempotency`, the record commits in
    /// the same statement as the events, and a repeat returns [`AppendOutcome::Replayed`].
    pub async fn append(
        &self,
        stream: &StreamId,
        expected_version: u64,
        events: &[NewEvent],
        metadata: &EventMetadata,
        idempotency: Option<&Idempotency>,
    ) -> Result<AppendOutcome, StoreError> {
        let outcome = append_in(
            self.pool(),
            stream,
            expected_version,
            events,
            metadata,
            idempotency,
        )
        .await?;
        if matches!(outcome, AppendOutcome::Appended { .. }) {
            self.signal_appended();
        }
        Ok(outcome)
    }
}

/// [`EventStore::append`] on any executor, so a caller can append inside its own transaction
/// (a consumer that reacts to one event by appending another commits both changes at once).
pub async fn append_in<'e>(
    executor: impl PgExecutor<'e>,
    stream: &StreamId,
    expected_version: u64,
    events: &[NewEvent],
    metadata: &EventMetadata,
    idempotency: Option<&Idempotency>,
) -> Result<AppendOutcome, StoreError> {
    if events.is_empty() {
        return Err(StoreError::EmptyAppend);
    }
    let expected = i64::try_from(expected_version)
        .map_err(|_| StoreError::Corrupt(format!("expected version {expected_version}")))?;
    if events.len() <= PLAIN_APPEND_MAX {
        return append_plain(executor, stream, expected, events, metadata, idempotency).await;
    }
    let columns = Columns::from(events);
    let row = sqlx::query(
        "SELECT replayed, first_position, fingerprint, response FROM append_events(
                $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&stream.aggregate_type)
    .bind(&stream.aggregate_id)
    .bind(expected)
    .bind(&columns.ids)
    .bind(&columns.types)
    .bind(&columns.schema_versions)
    .bind(&columns.occurred_at)
    .bind(&columns.payloads)
    .bind(&metadata.correlation_id)
    .bind(&metadata.causation_id)
    .bind(&metadata.actor)
    .bind(&metadata.traceparent)
    .bind(&metadata.tracestate)
    .bind(&metadata.baggage)
    .bind(idempotency.map(|i| &i.scope))
    .bind(idempotency.map(|i| &i.key))
    .bind(idempotency.map(|i| &i.fingerprint))
    .bind(idempotency.map(|i| &i.response))
    .fetch_one(executor)
    .await
    .map_err(|e| classify(e, stream))?;

    if row.try_get::<bool, _>("replayed")? {
        return replayed(idempotency, row.try_get("fingerprint")?, &row);
    }
    Ok(appended(
        stream,
        expected_version,
        events.len(),
        row.try_get("first_position")?,
    ))
}

/// The answer to an append whose key was recorded before (`stored`, the recorded fingerprint;
/// `row` holds the recorded `response`): the first response again, or the key reused for
/// another request.
fn replayed(
    idempotency: Option<&Idempotency>,
    stored: Vec<u8>,
    row: &PgRow,
) -> Result<AppendOutcome, StoreError> {
    if let Some(record) = idempotency
        && record.fingerprint != stored
    {
        let key = record.key.clone();
        return Err(StoreError::IdempotencyKeyReused { key });
    }
    Ok(AppendOutcome::Replayed {
        response: row.try_get("response")?,
    })
}

/// The answer to an append that wrote `count` events after `expected_version`, counted.
fn appended(
    stream: &StreamId,
    expected_version: u64,
    count: usize,
    first_position: i64,
) -> AppendOutcome {
    metrics::counter!("chain_events_appended_total", "aggregate_type" => stream.aggregate_type.clone())
        .increment(count as u64);
    AppendOutcome::Appended {
        first_position,
        version: expected_version + count as u64,
    }
}

/// The most events an append writes with [`append_plain`]; more go through `append_events`,
/// whose arrays serve any number.
const PLAIN_APPEND_MAX: usize = 4;

/// The version check of [`append_plain`]: `$3` is the expected version of the stream `$1/$2`.
const AT_EXPECTED_VERSION: &str = "coalesce((SELECT max(aggregate_version) FROM events
                                    WHERE aggregate_type = $1 AND aggregate_id = $2), 0) = $3";

/// The common case, a few events (a command's, with its idempotency record; a reaction's:
/// `RequestChildObserved` and `RequestAtRisk`, `TicketChainObserved` and `PromiseAtRisk`), as
/// one plain prepared statement: the version check is a `WHERE`, so no function call and no
/// arrays (measured with pgbench, two events: 20–30 % more transactions a second than through
/// `append_events`). It must stay equivalent to `append_events` for that case, but for one
/// race: a retry whose key a concurrent first attempt records while this statement runs finds
/// neither the key nor its version free, and is a conflict (the function waited and replayed).
async fn append_plain<'e>(
    executor: impl PgExecutor<'e>,
    stream: &StreamId,
    expected: i64,
    events: &[NewEvent],
    metadata: &EventMetadata,
    idempotency: Option<&Idempotency>,
) -> Result<AppendOutcome, StoreError> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(plain_statement(
        events.len(),
        idempotency.is_some(),
    )))
    .bind(&stream.aggregate_type)
    .bind(&stream.aggregate_id)
    .bind(expected)
    .bind(&metadata.correlation_id)
    .bind(&metadata.causation_id)
    .bind(&metadata.actor)
    .bind(&metadata.traceparent)
    .bind(&metadata.tracestate)
    .bind(&metadata.baggage);
    if let Some(record) = idempotency {
        query = query
            .bind(&record.scope)
            .bind(&record.key)
            .bind(&record.fingerprint)
            .bind(&record.response);
    }
    for event in events {
        query = query
            .bind(event.event_id)
            .bind(&event.event_type)
            .bind(i32::try_from(event.schema_version).unwrap_or(i32::MAX))
            .bind(event.occurred_at)
            .bind(&event.payload);
    }
    let rows = query
        .fetch_all(executor)
        .await
        .map_err(|e| classify(e, stream))?;
    let first_position: Option<i64> = match idempotency {
        None => rows
            .iter()
            .map(|row| row.try_get::<i64, _>("position"))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .min(),
        Some(_) => {
            let row = rows
                .first()
                .ok_or_else(|| StoreError::Corrupt("no row".into()))?;
            if let Some(stored) = row.try_get::<Option<Vec<u8>>, _>("fingerprint")? {
                return replayed(idempotency, stored, row);
            }
            row.try_get("first_position")?
        }
    };
    let Some(first_position) = first_position else {
        return Err(StoreError::Conflict {
            stream: stream.clone(),
            detail: format!("stream {stream} is not at version {expected}"),
        });
    };
    let expected_version = u64::try_from(expected).unwrap_or(0);
    Ok(appended(
        stream,
        expected_version,
        events.len(),
        first_position,
    ))
}

/// The statement of [`append_plain`] for `events` events: `$1`–`$9` the stream, its expected
/// version and the metadata; with an idempotency record, `$10`–`$13` its scope, key,
/// fingerprint and response; then five parameters per event. Only numbers are formatted in.
///
/// With a record, the key is inserted only at the expected version, and the events only when
/// the key was new; a key already recorded is returned instead (whatever the version, as
/// `append_events` checks the key first).
fn plain_statement(events: usize, idempotent: bool) -> String {
    let first = if idempotent { 14 } else { 10 };
    let rows: Vec<String> = (0..events)
        .map(|i| {
            let p = first + 5 * i;
            format!(
                "(${p}::uuid, {n}, ${}::text, ${}::integer, ${}::timestamptz, ${}::bytea)",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                n = i + 1
            )
        })
        .collect();
    let guard = if idempotent {
        "EXISTS (SELECT 1 FROM idem)"
    } else {
        AT_EXPECTED_VERSION
    };
    let insert = format!(
        "INSERT INTO events (event_id, aggregate_type, aggregate_id, aggregate_version,
                             event_type, schema_version, occurred_at, correlation_id,
                             causation_id, actor, traceparent, tracestate, baggage, payload)
         SELECT e.event_id, $1, $2, $3 + e.n, e.event_type, e.schema_version, e.occurred_at,
                $4, $5, $6, $7, $8, $9, e.payload
         FROM (VALUES {}) AS e(event_id, n, event_type, schema_version, occurred_at, payload)
         WHERE {guard}
         ORDER BY e.n
         RETURNING position",
        rows.join(", ")
    );
    if !idempotent {
        return insert;
    }
    format!(
        "WITH idem AS (
             INSERT INTO idempotency_keys (scope, key, fingerprint, response)
             SELECT $10, $11, $12, $13 WHERE {AT_EXPECTED_VERSION}
             ON CONFLICT DO NOTHING
             RETURNING 1),
         inserted AS ({insert})
         SELECT (SELECT min(position) FROM inserted) AS first_position, k.fingerprint, k.response
         FROM (SELECT) one
         LEFT JOIN idempotency_keys k
                ON k.scope = $10 AND k.key = $11 AND NOT EXISTS (SELECT 1 FROM idem)"
    )
}

/// Turns a version conflict (checked or raced) into [`StoreError::Conflict`].
pub(crate) fn classify(error: sqlx::Error, stream: &StreamId) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        let code = db.code();
        let raced = code.as_deref() == Some(UNIQUE_VIOLATION)
            && db.constraint() == Some("events_stream_version");
        if code.as_deref() == Some(VERSION_CONFLICT) || raced {
            return StoreError::Conflict {
                stream: stream.clone(),
                detail: db.message().to_owned(),
            };
        }
    }
    StoreError::Database(error)
}

/// The events of one append as column arrays, for `unnest`.
struct Columns {
    ids: Vec<Uuid>,
    types: Vec<String>,
    schema_versions: Vec<i32>,
    occurred_at: Vec<DateTime<Utc>>,
    payloads: Vec<Vec<u8>>,
}

impl From<&[NewEvent]> for Columns {
    fn from(events: &[NewEvent]) -> Self {
        Columns {
            ids: events.iter().map(|e| e.event_id).collect(),
            types: events.iter().map(|e| e.event_type.clone()).collect(),
            schema_versions: events
                .iter()
                .map(|e| i32::try_from(e.schema_version).unwrap_or(i32::MAX))
                .collect(),
            occurred_at: events.iter().map(|e| e.occurred_at).collect(),
            payloads: events.iter().map(|e| e.payload.clone()).collect(),
        }
    }
}
