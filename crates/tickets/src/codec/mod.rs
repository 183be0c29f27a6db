//! Domain events ↔ stored events. The stored payload of every event is the protobuf encoding
//! of its `customerchain.v1` event message, its `event_type` the message's full name
//! (`prost::Name::full_name`, e.g. `customerchain.v1.PromiseMade`) and its schema version
//! [`SCHEMA_VERSION`], exactly as requests-svc writes its own: the bus, other services and
//! `ReadEvents` clients read the same bytes the service folds its aggregates from.
//!
//! - [`ticket`]: ticket events. The proto messages carry facts the domain event does not (a
//!   promise's number, the trigger of a risk and the request event that revealed it, what the
//!   customer was told): they are supplied when encoding ([`Enrichment`]) and ignored when
//!   decoding; [`TicketExtras`] reads them back for the API.
//! - [`customer`]: customer events, plus the service's own `CustomerTierChanged` and
//!   `CustomerDetailsChanged` (which the domain does not model). Personal details never enter
//!   an event: `display_name` and `email` stay empty (see [`crate::tiers`]).
//!
//! The requests service's own events are read (and, by tests standing in for requests-svc,
//! written) with requests-svc's codec, `chain_requests::codec`: one decoder of that wire
//! format, owned by the service that writes it. So is a request's outlook as a ticket records
//! it (`TicketChainObserved.outlook`, the `ChildOutlook` requests-svc writes on a parent).
//!
//! Cause paths: a ticket's paths on the wire end with the request serving the ticket, as the
//! domain's do; a request's paths on the wire end with the request itself, which the domain's
//! leave out, so the outlook mapping appends it when encoding and drops it when decoding.

pub mod customer;
pub mod ticket;

#[cfg(test)]
mod tests;

use chain_domain::commitment::CommitmentKind;
use chain_domain::customer::{Money, Tier};
use chain_domain::link::RequestLink;
use chain_domain::ticket::{PromiseOutcome, Remedy};
use chain_proto::customerchain::v1 as pb;
use chain_proto::{duration, timestamp};
use chain_store::{NewEvent, RecordedEvent};
use chrono::{DateTime, TimeDelta, Utc};
use prost::Name;
use uuid::Uuid;

pub use customer::{
    CustomerStreamEvent, decode_customer, encode_customer, encode_details_changed,
    encode_tier_changed,
};
pub use ticket::{Enrichment, TicketExtras, decode_ticket, encode_ticket};

/// The schema version of every event this service writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a stored event could not be read back as a domain event.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The event type is none this codec knows (for this aggregate).
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
    /// An envelope without a payload.
    #[error("event {0} has no payload")]
    MissingPayload(String),
    /// A part a ticket event shares with requests-svc's events (a request's outlook) does not
    /// decode with that service's codec.
    #[error(transparent)]
    Request(#[from] chain_requests::codec::CodecError),
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

impl<'a> From<&'a NewEvent> for StoredEvent<'a> {
    fn from(event: &'a NewEvent) -> Self {
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
    pub fn message<M: Name + Default>(&self) -> Result<M, CodecError> {
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
    pub fn is<M: Name>(&self) -> bool {
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

/// A time on the wire.
pub fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(timestamp::from_datetime(at))
}

/// A span of time on the wire (`None` beyond the protobuf range).
pub fn span(delta: TimeDelta) -> Option<prost_types::Duration> {
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

/// An optional span of payload `M`.
pub(crate) fn optional_span_of<M: Name>(
    field: &'static str,
    value: Option<&prost_types::Duration>,
) -> Result<Option<TimeDelta>, CodecError> {
    value
        .map(|d| duration::to_chrono(d).map_err(|e| invalid::<M>(field, e.to_string())))
        .transpose()
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

/// One hop of a cause path on the wire.
pub fn cause_link(link: RequestLink) -> pb::CauseLink {
    pb::CauseLink {
        provider_team_id: link.provider.to_string(),
        consumer_team_id: link.consumer.to_string(),
        request_id: link.request_id.to_string(),
    }
}

/// A path on the wire, exactly as given (root cause first).
pub fn cause_path(path: &[RequestLink]) -> pb::CausePath {
    pb::CausePath {
        links: path.iter().copied().map(cause_link).collect(),
    }
}

/// One hop of a cause path of payload `M`, back in the domain.
pub(crate) fn link_from<M: Name>(link: &pb::CauseLink) -> Result<RequestLink, CodecError> {
    Ok(RequestLink {
        request_id: id_of::<M, _>("request_id", &link.request_id)?,
        provider: id_of::<M, _>("provider_team_id", &link.provider_team_id)?,
        consumer: id_of::<M, _>("consumer_team_id", &link.consumer_team_id)?,
    })
}

/// A path of payload `M`, back in the domain, exactly as given.
pub(crate) fn path_of<M: Name>(
    path: Option<&pb::CausePath>,
) -> Result<Vec<RequestLink>, CodecError> {
    path.map_or(&[][..], |p| p.links.as_slice())
        .iter()
        .map(link_from::<M>)
        .collect()
}

/// Money on the wire.
pub fn money(value: Money) -> pb::Money {
    pb::Money {
        currency_code: value.currency.to_string(),
        value_minor: i64::try_from(value.minor_units).unwrap_or(i64::MAX),
    }
}

/// Money of payload `M`, back in the domain.
pub(crate) fn money_of<M: Name>(
    field: &'static str,
    value: Option<&pb::Money>,
) -> Result<Money, CodecError> {
    let value = value.ok_or_else(|| invalid::<M>(field, "missing"))?;
    Money::new(value.value_minor, &value.currency_code)
        .map_err(|e| invalid::<M>(field, e.to_string()))
}

/// A tier on the wire.
pub fn tier(tier: Tier) -> pb::CustomerTier {
    match tier {
        Tier::A => pb::CustomerTier::A,
        Tier::B => pb::CustomerTier::B,
        Tier::C => pb::CustomerTier::C,
    }
}

/// A tier from the wire; `None` for unspecified.
pub fn tier_from(tier: pb::CustomerTier) -> Option<Tier> {
    match tier {
        pb::CustomerTier::A => Some(Tier::A),
        pb::CustomerTier::B => Some(Tier::B),
        pb::CustomerTier::C => Some(Tier::C),
        pb::CustomerTier::Unspecified => None,
    }
}

/// A commitment kind on the wire.
pub fn commitment_kind(kind: CommitmentKind) -> pb::CommitmentKind {
    match kind {
        CommitmentKind::OrganisationalCommitment => pb::CommitmentKind::OrganisationalCommitment,
        CommitmentKind::GeneralExpectation => pb::CommitmentKind::GeneralExpectation,
        CommitmentKind::PersonalPromise => pb::CommitmentKind::PersonalPromise,
    }
}

/// A commitment kind from the wire; `None` for unspecified.
pub fn commitment_kind_from(kind: pb::CommitmentKind) -> Option<CommitmentKind> {
    match kind {
        pb::CommitmentKind::OrganisationalCommitment => {
            Some(CommitmentKind::OrganisationalCommitment)
        }
        pb::CommitmentKind::GeneralExpectation => Some(CommitmentKind::GeneralExpectation),
        pb::CommitmentKind::PersonalPromise => Some(CommitmentKind::PersonalPromise),
        pb::CommitmentKind::Unspecified => None,
    }
}

/// A remedy kind on the wire.
pub fn remedy_kind(remedy: Remedy) -> pb::RemedyKind {
    match remedy {
        Remedy::None => pb::RemedyKind::None,
        Remedy::LoanOrSubstitute => pb::RemedyKind::LoanOrSubstitute,
        Remedy::Credit => pb::RemedyKind::Credit,
        Remedy::PartialDelivery => pb::RemedyKind::PartialDelivery,
    }
}

/// A remedy kind from the wire; `None` for unspecified.
pub fn remedy_from(kind: pb::RemedyKind) -> Option<Remedy> {
    match kind {
        pb::RemedyKind::None => Some(Remedy::None),
        pb::RemedyKind::LoanOrSubstitute => Some(Remedy::LoanOrSubstitute),
        pb::RemedyKind::Credit => Some(Remedy::Credit),
        pb::RemedyKind::PartialDelivery => Some(Remedy::PartialDelivery),
        pb::RemedyKind::Unspecified => None,
    }
}

/// A promise outcome on the wire.
pub fn outcome(outcome: PromiseOutcome) -> pb::PromiseOutcome {
    match outcome {
        PromiseOutcome::Kept => pb::PromiseOutcome::Kept,
        PromiseOutcome::KeptLate => pb::PromiseOutcome::KeptLate,
        PromiseOutcome::KeptAfterRenegotiation => pb::PromiseOutcome::KeptAfterRenegotiation,
        PromiseOutcome::Broken => pb::PromiseOutcome::Broken,
    }
}

/// A promise outcome from the wire; `None` for unspecified.
pub fn outcome_from(outcome: pb::PromiseOutcome) -> Option<PromiseOutcome> {
    match outcome {
        pb::PromiseOutcome::Kept => Some(PromiseOutcome::Kept),
        pb::PromiseOutcome::KeptLate => Some(PromiseOutcome::KeptLate),
        pb::PromiseOutcome::KeptAfterRenegotiation => Some(PromiseOutcome::KeptAfterRenegotiation),
        pb::PromiseOutcome::Broken => Some(PromiseOutcome::Broken),
        pb::PromiseOutcome::Unspecified => None,
    }
}
