//! The shapes of events going into the store and coming out of it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One aggregate's stream: its type (`request`, `ticket`, …) and its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamId {
    /// The aggregate type, also the subject token on the bus.
    pub aggregate_type: String,
    /// The aggregate's id within its type.
    pub aggregate_id: String,
}

impl StreamId {
    /// A stream of `aggregate_type` for the aggregate `aggregate_id`.
    pub fn new(aggregate_type: impl Into<String>, aggregate_id: impl Into<String>) -> Self {
        Self {
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.into(),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.aggregate_type, self.aggregate_id)
    }
}

/// What every event of one append shares: why it happened, in which case, by whom, under which trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventMetadata {
    /// The case the work serves: the ticket or root request id.
    pub correlation_id: String,
    /// The command or event that caused this append.
    pub causation_id: String,
    /// The team or service that acted.
    pub actor: String,
    /// W3C `traceparent` of the span the events were created under.
    pub traceparent: Option<String>,
    /// W3C `tracestate` that goes with `traceparent`.
    pub tracestate: Option<String>,
    /// W3C `baggage` of the span the events were created under: the case id and the customer's
    /// tier, never personal data.
    pub baggage: Option<String>,
}

impl EventMetadata {
    /// The metadata of events caused by `causation_id` in case `correlation_id`, by `actor`,
    /// outside any trace.
    pub fn new(
        correlation_id: impl Into<String>,
        causation_id: impl Into<String>,
        actor: impl Into<String>,
    ) -> Self {
        Self {
            correlation_id: correlation_id.into(),
            causation_id: causation_id.into(),
            actor: actor.into(),
            ..Self::default()
        }
    }

    /// These metadata under the trace of the W3C header values `traceparent`, `tracestate` and
    /// `baggage`; an empty value is stored as none.
    #[must_use]
    pub fn traced(mut self, traceparent: &str, tracestate: &str, baggage: &str) -> Self {
        let stored = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        self.traceparent = stored(traceparent);
        self.tracestate = stored(tracestate);
        self.baggage = stored(baggage);
        self
    }
}

/// An event about to be appended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    /// UUIDv7 chosen by the writer, so the id is known before the commit (dedup key on the bus).
    pub event_id: Uuid,
    /// Full protobuf message name of the payload, e.g. `customerchain.v1.RequestCommitted`.
    pub event_type: String,
    /// Version of the payload's schema, bumped on incompatible change.
    pub schema_version: u32,
    /// When the event happened in the domain (event time, not commit time).
    pub occurred_at: DateTime<Utc>,
    /// The encoded payload.
    pub payload: Vec<u8>,
}

impl NewEvent {
    /// A new event with a fresh UUIDv7 id.
    pub fn new(
        event_type: impl Into<String>,
        schema_version: u32,
        occurred_at: DateTime<Utc>,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            occurred_at,
            payload,
        }
    }
}

/// A place in commit order: the committing transaction's id, then the row's position.
///
/// Ordering by `position` alone would let a reader pass a row whose transaction started earlier but
/// committed later; ordering by `(tx_id, position)` and reading only below the oldest running
/// transaction cannot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// `pg_current_xact_id()` of the appending transaction.
    pub tx_id: u64,
    /// The row's identity value.
    pub position: i64,
}

impl Position {
    /// Before the first event.
    pub const START: Position = Position {
        tx_id: 0,
        position: 0,
    };
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.tx_id, self.position)
    }
}

impl std::str::FromStr for Position {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tx, pos) = s
            .split_once(':')
            .ok_or_else(|| format!("position {s:?} is not of the form <tx_id>:<position>"))?;
        Ok(Position {
            tx_id: tx.parse().map_err(|_| format!("bad tx_id in {s:?}"))?,
            position: pos.parse().map_err(|_| format!("bad position in {s:?}"))?,
        })
    }
}

/// An event as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    /// Where it stands in commit order.
    pub position: Position,
    /// The writer-chosen UUIDv7.
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// 1-based version within the stream.
    pub version: u64,
    /// Full protobuf message name of the payload.
    pub event_type: String,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// Event time.
    pub occurred_at: DateTime<Utc>,
    /// Commit-side time, for lag measurement only.
    pub recorded_at: DateTime<Utc>,
    /// Case, cause, actor and trace.
    pub metadata: EventMetadata,
    /// The encoded payload.
    pub payload: Vec<u8>,
}
