//! Domain events ↔ stored events. The stored payload of every event is the protobuf encoding
//! of its `customerchain.v1` event message, its `event_type` the message's full name
//! (`prost::Name::full_name`, e.g. `customerchain.v1.RequestCommitted`) and its schema
//! version [`SCHEMA_VERSION`]. So the bus, other services and `ReadEvents` clients read the
//! same bytes the service folds its aggregates from.
//!
//! The mapping is not one to one in either direction:
//! - the proto messages carry facts the domain event does not (a `RequestFulfilled`'s time
//!   ledger, the `root_ticket_id` of an at-risk event, the `trigger` of a risk): they are
//!   supplied when encoding ([`request::Enrichment`]) and ignored when decoding;
//! - the domain events carry what the stream already says elsewhere (every request event
//!   names the request's parent; an event's time is the envelope's `occurred_at`): decoding
//!   a request stream fills them from `RequestOpened` and the envelope
//!   ([`request::RequestStreamDecoder`]).
//!
//! Cause paths on the wire always end with the request they were computed for (see
//! `CausePath` in `common.proto`); the domain's paths leave that request out, so encoding
//! appends it and decoding drops it.

mod link;
mod request;
mod team;

#[cfg(test)]
mod tests;

use chain_proto::customerchain::v1 as pb;
use chain_proto::{duration, timestamp};
use chain_store::{NewEvent, RecordedEvent};
use chrono::{DateTime, TimeDelta, Utc};
use prost::Name;
use uuid::Uuid;

pub use link::{decode_link, encode_link};
pub use request::{
    Enrichment, RequestStreamDecoder, encode_request, outlook_from_proto, outlook_to_proto,
};
pub(crate) use request::{breakdown_kind, cause_link, commitment_kind, path_to};
pub use team::{decode_team, encode_team};

/// The schema version of every event this service writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a stored event could not be read back as a domain event.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The event type is none this service writes (for this aggregate).
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// The event type is known, but not in this schema version.
    #[error("{event_type} schema version {version} is not supported (only {SCHEMA_VERSION})")]
    UnsupportedSchema {
        /// The event type.
        event_type: String,
        /// The version found.
        version: u32,
    },
    /// The payload is not a valid encoding of its message.
    #[error("{event_type} does not decode: {source}")]
    Decode {
        /// The event type.
        event_type: String,
        /// What protobuf said.
        #[source]
        source: prost::DecodeError,
    },
    /// A field of the payload holds a value the domain cannot take.
    #[error("{event_type}: invalid {field}: {reason}")]
    Invalid {
        /// The event type.
        event_type: &'static str,
        /// The payload field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A request stream does not start with `RequestOpened`.
    #[error("{0} found before RequestOpened")]
    BeforeOpened(String),
    /// An envelope without a payload.
    #[error("event {0} has no payload")]
    MissingPayload(String),
}

/// What a stored event or an envelope says, as far as decoding needs it.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    /// Full name of the payload message.
    pub event_type: &'a str,
    /// Schema version of the payload.
    pub schema_version: u32,
    /// When the event happened (the domain event's time).
    pub occurred_at: DateTime<Utc>,
    /// The protobuf payload.
    pub payload: &'a [u8],
}

impl<'a> From<&'a RecordedEvent> for StoredEvent<'a> {
    fn from(event: &'a RecordedEvent) -> Self {
        Self {
            event_type: &event.event_type,
            schema_version: event.schema_version,
            occurred_at: event.occurred_at,
            payload: &event.payload,
        }
    }
}

impl<'a> StoredEvent<'a> {
    /// The event an envelope carries.
    pub fn from_envelope(envelope: &'a pb::EventEnvelope) -> Result<Self, CodecError> {
        let payload = envelope
            .payload
            .as_ref()
            .ok_or_else(|| CodecError::MissingPayload(envelope.event_id.clone()))?;
        let occurred_at = envelope
            .occurred_at
            .as_ref()
            .ok_or(CodecError::Invalid {
                event_type: "EventEnvelope",
                field: "occurred_at",
                reason: "missing".into(),
            })
            .and_then(|ts| {
                timestamp::to_datetime(ts).map_err(|e| CodecError::Invalid {
                    event_type: "EventEnvelope",
                    field: "occurred_at",
                    reason: e.to_string(),
                })
            })?;
        Ok(Self {
            event_type: &envelope.event_type,
            schema_version: envelope.schema_version,
            occurred_at,
            payload: &payload.value,
        })
    }

    /// Decodes the payload as `M` after checking the schema version.
    pub(crate) fn message<M: Name + Default>(&self) -> Result<M, CodecError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(CodecError::UnsupportedSchema {
                event_type: self.event_type.to_owned(),
                version: self.schema_version,
            });
        }
        M::decode(self.payload).map_err(|source| CodecError::Decode {
            event_type: self.event_type.to_owned(),
            source,
        })
    }

    /// Whether the payload is an `M`.
    pub(crate) fn is<M: Name>(&self) -> bool {
        self.event_type == M::full_name()
    }
}

/// A new stored event holding `message`, at `occurred_at`.
pub(crate) fn new_event<M: Name>(message: &M, occurred_at: DateTime<Utc>) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: M::full_name(),
        schema_version: SCHEMA_VERSION,
        occurred_at,
        payload: message.encode_to_vec(),
    }
}

pub(crate) fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(timestamp::from_datetime(at))
}

pub(crate) fn span(delta: TimeDelta) -> Option<prost_types::Duration> {
    duration::from_chrono(delta).ok()
}

/// A required time of payload `M`.
pub(crate) fn time_of<M: Name>(
    field: &'static str,
    value: Option<&prost_types::Timestamp>,
) -> Result<DateTime<Utc>, CodecError> {
    optional_time_of::<M>(field, value)?.ok_or_else(|| invalid::<M>(field, "missing"))
}

/// An optional time of payload `M`.
pub(crate) fn optional_time_of<M: Name>(
    field: &'static str,
    value: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, CodecError> {
    value
        .map(|ts| timestamp::to_datetime(ts).map_err(|e| invalid::<M>(field, e.to_string())))
        .transpose()
}

/// A required span of payload `M`.
pub(crate) fn span_of<M: Name>(
    field: &'static str,
    value: Option<&prost_types::Duration>,
) -> Result<TimeDelta, CodecError> {
    let value = value.ok_or_else(|| invalid::<M>(field, "missing"))?;
    duration::to_chrono(value).map_err(|e| invalid::<M>(field, e.to_string()))
}

/// An id of payload `M`.
pub(crate) fn id_of<M: Name, T: std::str::FromStr<Err = chain_domain::ids::IdParseError>>(
    field: &'static str,
    value: &str,
) -> Result<T, CodecError> {
    value
        .parse()
        .map_err(|e: chain_domain::ids::IdParseError| invalid::<M>(field, e.to_string()))
}

pub(crate) fn invalid<M: Name>(field: &'static str, reason: impl Into<String>) -> CodecError {
    CodecError::Invalid {
        event_type: M::NAME,
        field,
        reason: reason.into(),
    }
}
