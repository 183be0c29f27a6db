//! Live consumption: [`ScoringProjector`], the [`Handler`] of the three durable consumers
//! (the requests stream, the tickets stream, scoring's own feedback). For each event, inside
//! the consumer's inbox transaction:
//!
//! 1. take the projection lock (`pg_advisory_xact_lock`): projections of many subjects change
//!    together (an impact touches a customer and every link on its path), so events from the
//!    three consumers, and from several replicas, are applied one at a time;
//! 2. load the slice of the state the event reads, [`ProjectionState::apply`] it, load what
//!    the derivation reads, [`derive()`];
//! 3. write the changed facts and derived rows, count the event, and append the output events
//!    ([`super::outputs`]) to scoring's store — all committed with the event's processed mark.

use chain_bus::BusLayout;
use chain_consumer::{ConsumerConfig, Handler, HandlerError, PendingCounts};
use chain_proto::customerchain::v1::EventEnvelope;
use chain_store::{EventMetadata, EventStore, StreamId, append_in};
use sqlx::PgConnection;

use std::collections::BTreeMap;
use std::sync::Arc;

use chain_telemetry::attributes;

use super::derive::{Derived, ProjectionConfig, derive};
use super::outputs::{Output, outputs};
use super::rows::{ProjectionRows, ScoreRow};
use super::state::ProjectionState;
use super::tables::{Tables, TablesError};
use crate::codec::{FEEDBACK_AGGREGATE, InputStore, decode};

/// The advisory lock key that serialises projection transactions ("scoring" in ASCII).
pub const PROJECTION_LOCK: i64 = 0x73_636f_7269_6e67;

/// The durable consumer name for an input store.
pub fn consumer_name(store: InputStore) -> String {
    format!("scoring-{}", store.token())
}

/// The consumer settings for `store` under `layout`: the whole requests and tickets streams,
/// and only the feedback aggregate of scoring's own (its other events are outputs).
pub fn consumer_config(layout: &BusLayout, store: InputStore) -> ConsumerConfig {
    let filter = match store {
        InputStore::Scoring => format!(
            "{}.v1.{}.{FEEDBACK_AGGREGATE}.>",
            layout.root(),
            store.token()
        ),
        InputStore::Requests | InputStore::Tickets => layout.service_subjects(store.token()),
    };
    ConsumerConfig::new(
        consumer_name(store),
        layout.stream_name(store.token()),
        filter,
    )
}

/// Applies one input store's events to the live projections.
#[derive(Debug, Clone)]
pub struct ScoringProjector {
    store: InputStore,
    tables: Tables,
    config: ProjectionConfig,
    counts: Arc<PendingCounts>,
    relay: Option<EventStore>,
}

impl ScoringProjector {
    /// A projector of `store`'s events into the live tables.
    pub fn new(store: InputStore, config: ProjectionConfig) -> Self {
        Self {
            store,
            tables: Tables::live(),
            config,
            counts: Arc::default(),
            relay: None,
        }
    }

    /// This projector, waking the relay of `store` (scoring's own) after each commit that may
    /// have appended outputs, so they are published at once instead of at the relay's next poll.
    #[must_use]
    pub fn waking(mut self, store: EventStore) -> Self {
        self.relay = Some(store);
        self
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PROJECTION_LOCK)
            .execute(&mut *conn)
            .await?;
        if !self.store.consumes(&envelope.aggregate_type) {
            return Ok(());
        }
        let input =
            decode(self.store, envelope).map_err(|e| HandlerError::Poison(e.to_string()))?;
        record_subject(envelope);
        let mut state = ProjectionState::new();
        self.tables
            .load_for_apply(conn, &mut state, &input.fact)
            .await
            .map_err(tables_error)?;
        let dirty = state.apply(&input);
        self.tables
            .load_for_derive(conn, &mut state, &dirty)
            .await
            .map_err(tables_error)?;
        let before = self
            .tables
            .load_scores(conn, &dirty.score_subjects())
            .await
            .map_err(tables_error)?;
        let derived = derive(&state, &dirty, &self.config);
        record_scores(&before, &derived, &self.counts);
        let emitted = outputs(&input, &dirty, &before, &derived, &self.config.model);
        let mut rows = ProjectionRows::facts_of(&state, &dirty);
        rows.add_derived(derived);
        self.tables.write(conn, &rows).await.map_err(tables_error)?;
        self.tables
            .add_progress(conn, self.store, 1)
            .await
            .map_err(tables_error)?;
        append(conn, envelope, emitted).await
    }
}

impl Handler for ScoringProjector {
    type Pending = ();

    async fn handle(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
        _: &mut (),
    ) -> Result<(), HandlerError> {
        self.apply(tx, envelope).await
    }

    fn after_commit(&self) {
        self.counts.publish();
        if let Some(store) = &self.relay {
            store.signal_appended();
        }
    }

    fn after_rollback(&self) {
        self.counts.discard();
    }
}

/// Names on the consumer's processing span what the event is about: its request or ticket and
/// its case (the correlation id of request and ticket events; customer events are correlated
/// by the customer, which is no case).
fn record_subject(envelope: &EventEnvelope) {
    let span = tracing::Span::current();
    let id = envelope.aggregate_id.as_str();
    match envelope.aggregate_type.as_str() {
        "request" => {
            span.record(attributes::REQUEST_ID, id);
            span.record(attributes::CASE_ID, envelope.correlation_id.as_str());
        }
        "ticket" => {
            span.record(attributes::TICKET_ID, id);
            span.record(attributes::CASE_ID, envelope.correlation_id.as_str());
        }
        _ => {}
    }
}

/// Records the customer's tier on the processing span and a `score dropped` span event (and
/// `chain_scores_dropped_total`, once the transaction commits) for every score the event lowered: the last hop of a
/// breakdown's trace, where it reaches the customer. Subjects are ids (`customer:<id>`, a
/// link's team ids), never names.
fn record_scores(before: &BTreeMap<String, ScoreRow>, derived: &Derived, counts: &PendingCounts) {
    for row in derived.scores.values() {
        if row.customer_id.is_some() && !row.tier.is_empty() {
            tracing::Span::current().record(attributes::CUSTOMER_TIER, row.tier.as_str());
        }
        let Some(previous) = before.get(&row.subject) else {
            continue;
        };
        if row.score_hundredths < previous.score_hundredths {
            counts.add("chain_scores_dropped_total", 1);
            tracing::info!(
                score.subject = %row.subject,
                score.previous = f64::from(previous.score_hundredths) / 100.0,
                score.now = f64::from(row.score_hundredths) / 100.0,
                "score dropped"
            );
        }
    }
}

/// Appends the output events, caused by `envelope` and in its case, under the current trace
/// (the consumer's processing span, a child of the event's producer).
async fn append(
    conn: &mut PgConnection,
    envelope: &EventEnvelope,
    emitted: Vec<Output>,
) -> Result<(), HandlerError> {
    if emitted.is_empty() {
        return Ok(());
    }
    let trace = chain_telemetry::TraceContext::current()
        .or_else(|| chain_bus::stored_trace(envelope))
        .unwrap_or_default();
    let metadata = EventMetadata::new(
        &envelope.correlation_id,
        &envelope.event_id,
        crate::SERVICE_ACTOR,
    )
    .traced(&trace.traceparent, &trace.tracestate, &trace.baggage);
    for output in emitted {
        let version = stream_version(conn, &output.stream).await?;
        append_in(
            &mut *conn,
            &output.stream,
            version,
            std::slice::from_ref(&output.event),
            &metadata,
            None,
        )
        .await
        .map_err(|e| HandlerError::Transient(e.to_string()))?;
    }
    Ok(())
}

async fn stream_version(conn: &mut PgConnection, stream: &StreamId) -> Result<u64, HandlerError> {
    let version: Option<i64> = sqlx::query_scalar(
        "SELECT max(aggregate_version) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(&stream.aggregate_type)
    .bind(&stream.aggregate_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(u64::try_from(version.unwrap_or(0)).unwrap_or(0))
}

fn tables_error(error: TablesError) -> HandlerError {
    match error {
        TablesError::Database(e) => HandlerError::Transient(e.to_string()),
        other => HandlerError::Poison(other.to_string()),
    }
}
