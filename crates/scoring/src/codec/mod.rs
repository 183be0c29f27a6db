//! Input events → [`Input`]s: what each event of the requests, tickets and scoring stores says
//! that scoring needs, in the domain's types. The proto messages are the contract (the other
//! services' crates are not a dependency), decoded straight from the envelope.
//!
//! - Every time is cut to whole microseconds, the precision PostgreSQL keeps, so a fact read
//!   back from a table equals the fact decoded from the event and a rebuild hashes the same.
//! - An event type scoring does not use is [`Fact::Ignored`] (counted, nothing else), so a
//!   producer may add event types without breaking this consumer; a known type in another
//!   schema version, or a payload that does not decode, is an error (the consumer parks it).

mod feedback;
mod requests;
mod tickets;

use std::fmt;

use chain_domain::customer::Tier;
use chain_domain::ids::{CustomerId, EventId, RequestId, TeamId, TicketId};
use chain_domain::link::{LinkKey, RequestLink};
use chain_domain::request::{BreakdownKind, Parent};
use chain_domain::scoring::Feedback;
use chain_domain::ticket::PromiseOutcome;
use chain_proto::customerchain::v1 as pb;
use chain_proto::{duration, timestamp};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use prost::Name;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use feedback::{encode_feedback, feedback_subject_to_proto};

/// The schema version of every event type scoring reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// The event store an input comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputStore {
    /// requests-svc: teams, links and internal requests.
    Requests,
    /// tickets-svc: customers and tickets.
    Tickets,
    /// scoring-svc itself: feedback.
    Scoring,
}

impl InputStore {
    /// Every input store, in the order a rebuild reads them.
    pub const ALL: [Self; 3] = [Self::Requests, Self::Tickets, Self::Scoring];

    /// The producing service's name, the key of `ProjectionDigest.input_positions`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Requests => "requests-svc",
            Self::Tickets => "tickets-svc",
            Self::Scoring => "scoring-svc",
        }
    }

    /// The producing service's token on the bus.
    pub const fn token(&self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tickets => "tickets",
            Self::Scoring => "scoring",
        }
    }

    /// Reads [`InputStore::name`] back.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether scoring consumes events of `aggregate_type` from this store: everything of the
    /// requests and tickets stores, only the feedback of its own (the rest are its outputs).
    pub fn consumes(&self, aggregate_type: &str) -> bool {
        !matches!(self, Self::Scoring) || aggregate_type == FEEDBACK_AGGREGATE
    }
}

impl fmt::Display for InputStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The aggregate type of feedback streams.
pub const FEEDBACK_AGGREGATE: &str = "feedback";
/// The aggregate type of score streams.
pub const SCORE_AGGREGATE: &str = "score";
/// The aggregate type of impact streams.
pub const IMPACT_AGGREGATE: &str = "impact";

/// An amount at stake: minor units of a currency, as the events carry it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Value {
    /// Minor units (never negative for customer values; clamped at 0).
    pub minor: i64,
    /// ISO 4217 code; empty when unknown.
    pub currency: String,
}

impl Value {
    fn of(money: Option<&pb::Money>) -> Option<Self> {
        money.map(|m| Self {
            minor: m.value_minor.max(0),
            currency: m.currency_code.clone(),
        })
    }

    /// On the wire.
    pub fn to_proto(&self) -> pb::Money {
        pb::Money {
            currency_code: self.currency.clone(),
            value_minor: self.minor,
        }
    }
}

/// What a request's terminal event says of its time ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFacts {
    /// How late it completed against its consumer's need, ms (0 when on time).
    pub late_by_ms: i64,
    /// The part of that charged to its own link, ms.
    pub own_delay_ms: i64,
}

/// Who gave feedback about what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeedbackAbout {
    /// An external customer about a ticket.
    Ticket {
        /// The customer.
        customer: CustomerId,
        /// The ticket.
        ticket: TicketId,
    },
    /// An internal consumer team about a request it received.
    Request {
        /// The team that gives it (the consumer).
        consumer: TeamId,
        /// The team rated (the provider).
        provider: TeamId,
        /// The request.
        request: RequestId,
    },
}

/// What one input event says, as far as scoring is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    /// A provider → consumer link was declared.
    LinkDeclared {
        /// The link.
        link: LinkKey,
    },
    /// A request was opened.
    RequestOpened {
        /// The request.
        request: RequestId,
        /// Its case (the root ticket's or root request's id).
        case: Uuid,
        /// The team that asks.
        consumer: TeamId,
        /// The team asked.
        provider: TeamId,
        /// When the consumer needs it.
        needed_by: DateTime<Utc>,
        /// What it serves.
        parent: Option<Parent>,
    },
    /// The provider committed.
    RequestCommitted {
        /// The request.
        request: RequestId,
        /// The due time promised.
        due_at: DateTime<Utc>,
        /// The kind of commitment.
        kind: chain_domain::commitment::CommitmentKind,
    },
    /// The provider announced a new due time.
    RequestRevised {
        /// The request.
        request: RequestId,
        /// The due time before.
        previous_due: DateTime<Utc>,
        /// The due time after.
        new_due: DateTime<Utc>,
        /// Announced before the previous due time.
        proactive: bool,
    },
    /// The provider delivered.
    RequestFulfilled {
        /// The request.
        request: RequestId,
        /// By the due time in force.
        on_time: bool,
        /// Its time ledger.
        ledger: Option<LedgerFacts>,
    },
    /// The due time passed unfulfilled.
    RequestBreached {
        /// The request.
        request: RequestId,
        /// Its time ledger.
        ledger: Option<LedgerFacts>,
    },
    /// The consumer withdrew the request.
    RequestCancelled {
        /// The request.
        request: RequestId,
        /// Its time ledger.
        ledger: Option<LedgerFacts>,
    },
    /// The consumer reported a breakdown.
    BreakdownReported {
        /// The request.
        request: RequestId,
        /// What kind.
        kind: BreakdownKind,
    },
    /// The consumer settled the outstanding breakdowns.
    BreakdownResolved {
        /// The request.
        request: RequestId,
    },
    /// A customer was registered.
    CustomerRegistered {
        /// The customer.
        customer: CustomerId,
        /// Its value.
        value: Option<Value>,
    },
    /// A customer's value changed.
    CustomerValueChanged {
        /// The customer.
        customer: CustomerId,
        /// The new value.
        value: Option<Value>,
    },
    /// A customer's tier changed.
    CustomerTierChanged {
        /// The customer.
        customer: CustomerId,
        /// The new tier.
        tier: Option<Tier>,
    },
    /// A ticket was opened.
    TicketOpened {
        /// The ticket.
        ticket: TicketId,
        /// Its customer.
        customer: CustomerId,
        /// The front-line team.
        front_line: Option<TeamId>,
    },
    /// A promise went at risk.
    PromiseAtRisk {
        /// What is hurt.
        hurt: PromiseHurt,
        /// The projected delay.
        projected_delay: TimeDelta,
    },
    /// A promise broke.
    PromiseBroken {
        /// What is hurt.
        hurt: PromiseHurt,
        /// Whether the customer had been told before the due time.
        notified: bool,
    },
    /// The customer was told a promise will not be met.
    CustomerNotified {
        /// The ticket.
        ticket: TicketId,
        /// The promise.
        promise: u32,
        /// Before the due time.
        before_due: bool,
    },
    /// The ticket was resolved.
    TicketResolved {
        /// The ticket.
        ticket: TicketId,
        /// Its customer.
        customer: CustomerId,
        /// How the promise ended; `None` when no promise was made.
        outcome: Option<PromiseOutcome>,
        /// When the promise in force was made.
        promised_at: Option<DateTime<Utc>>,
        /// Its due time.
        due_at: Option<DateTime<Utc>>,
        /// How late, after `due_at`.
        late_by: Option<TimeDelta>,
        /// Whether the customer was told before a due time passed.
        notified: bool,
    },
    /// Feedback was recorded.
    Feedback {
        /// The feedback's id.
        feedback: Uuid,
        /// Who about what.
        about: FeedbackAbout,
        /// The ratings.
        ratings: Feedback,
    },
    /// Nothing scoring uses.
    Ignored,
}

/// A promise at risk or broken, as the tickets service describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromiseHurt {
    /// The ticket.
    pub ticket: TicketId,
    /// The promise.
    pub promise: u32,
    /// The customer.
    pub customer: CustomerId,
    /// The customer's tier then.
    pub tier: Option<Tier>,
    /// The customer's value then: what is at stake.
    pub value: Option<Value>,
    /// The promise's due time.
    pub due_at: DateTime<Utc>,
    /// From the root cause to the request serving the ticket; empty when not internal.
    pub path: Vec<RequestLink>,
}

/// One decoded input event.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The store it comes from.
    pub store: InputStore,
    /// Its event id.
    pub event_id: EventId,
    /// Its event time (microseconds).
    pub at: DateTime<Utc>,
    /// What it says.
    pub fact: Fact,
}

/// Why an input event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The envelope itself is malformed.
    #[error("envelope {event_id}: invalid {field}: {reason}")]
    Envelope {
        /// Its event id as given.
        event_id: String,
        /// The envelope field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A type scoring reads, in a schema version it does not know.
    #[error("{event_type} schema version {version} is not supported (only {SCHEMA_VERSION})")]
    UnsupportedSchema {
        /// The event type.
        event_type: String,
        /// The version found.
        version: u32,
    },
    /// The payload does not decode.
    #[error("{event_type} does not decode: {reason}")]
    Decode {
        /// The event type.
        event_type: String,
        /// What went wrong.
        reason: String,
    },
    /// A payload field holds a value scoring cannot take.
    #[error("{event_type}: invalid {field}: {reason}")]
    Invalid {
        /// The event type.
        event_type: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// Decodes an envelope of `store`.
pub fn decode(store: InputStore, envelope: &pb::EventEnvelope) -> Result<Input, CodecError> {
    let envelope_error = |field, reason: String| CodecError::Envelope {
        event_id: envelope.event_id.clone(),
        field,
        reason,
    };
    let event_id = Uuid::parse_str(&envelope.event_id)
        .map(EventId::from_uuid)
        .map_err(|e| envelope_error("event_id", e.to_string()))?;
    let at = envelope
        .occurred_at
        .as_ref()
        .ok_or_else(|| envelope_error("occurred_at", "missing".into()))
        .and_then(|ts| {
            timestamp::to_datetime(ts).map_err(|e| envelope_error("occurred_at", e.to_string()))
        })?;
    let payload = Payload { envelope };
    let fact = match store {
        InputStore::Requests => requests::decode(&payload)?,
        InputStore::Tickets => tickets::decode(&payload)?,
        InputStore::Scoring => feedback::decode(&payload)?,
    };
    Ok(Input {
        store,
        event_id,
        at: micros(at),
        fact,
    })
}

/// An envelope's payload, decoded on demand.
struct Payload<'a> {
    envelope: &'a pb::EventEnvelope,
}

impl Payload<'_> {
    fn is<M: Name>(&self) -> bool {
        self.envelope.event_type == M::full_name()
    }

    fn message<M: Name + Default>(&self) -> Result<M, CodecError> {
        if self.envelope.schema_version != SCHEMA_VERSION {
            return Err(CodecError::UnsupportedSchema {
                event_type: self.envelope.event_type.clone(),
                version: self.envelope.schema_version,
            });
        }
        self.envelope.unpack::<M>().map_err(|e| CodecError::Decode {
            event_type: self.envelope.event_type.clone(),
            reason: e.to_string(),
        })
    }
}

/// `at` cut to whole microseconds.
pub fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn invalid<M: Name>(field: &'static str, reason: impl Into<String>) -> CodecError {
    CodecError::Invalid {
        event_type: M::NAME,
        field,
        reason: reason.into(),
    }
}

fn id<M: Name, T>(field: &'static str, value: &str) -> Result<T, CodecError>
where
    T: std::str::FromStr<Err = chain_domain::ids::IdParseError>,
{
    value.parse().map_err(|e: chain_domain::ids::IdParseError| {
        invalid::<M>(field, format!("{}: {}", e.kind, e.reason))
    })
}

fn optional_id<M: Name, T>(field: &'static str, value: &str) -> Result<Option<T>, CodecError>
where
    T: std::str::FromStr<Err = chain_domain::ids::IdParseError>,
{
    if value.is_empty() {
        Ok(None)
    } else {
        id::<M, T>(field, value).map(Some)
    }
}

fn time<M: Name>(
    field: &'static str,
    value: Option<&prost_types::Timestamp>,
) -> Result<DateTime<Utc>, CodecError> {
    optional_time::<M>(field, value)?.ok_or_else(|| invalid::<M>(field, "missing"))
}

fn optional_time<M: Name>(
    field: &'static str,
    value: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, CodecError> {
    value
        .map(|ts| {
            timestamp::to_datetime(ts)
                .map(micros)
                .map_err(|e| invalid::<M>(field, e.to_string()))
        })
        .transpose()
}

fn span<M: Name>(
    field: &'static str,
    value: Option<&prost_types::Duration>,
) -> Result<Option<TimeDelta>, CodecError> {
    value
        .map(|d| {
            duration::to_chrono(d)
                .map(|t| TimeDelta::microseconds(t.num_microseconds().unwrap_or(i64::MAX)))
                .map_err(|e| invalid::<M>(field, e.to_string()))
        })
        .transpose()
}

fn tier(tier: pb::CustomerTier) -> Option<Tier> {
    match tier {
        pb::CustomerTier::Unspecified => None,
        pb::CustomerTier::A => Some(Tier::A),
        pb::CustomerTier::B => Some(Tier::B),
        pb::CustomerTier::C => Some(Tier::C),
    }
}

/// A tier on the wire.
pub fn tier_to_proto(tier: Option<Tier>) -> pb::CustomerTier {
    match tier {
        None => pb::CustomerTier::Unspecified,
        Some(Tier::A) => pb::CustomerTier::A,
        Some(Tier::B) => pb::CustomerTier::B,
        Some(Tier::C) => pb::CustomerTier::C,
    }
}

fn cause_link<M: Name>(link: &pb::CauseLink) -> Result<RequestLink, CodecError> {
    Ok(RequestLink {
        request_id: id::<M, _>("path.request_id", &link.request_id)?,
        provider: id::<M, _>("path.provider_team_id", &link.provider_team_id)?,
        consumer: id::<M, _>("path.consumer_team_id", &link.consumer_team_id)?,
    })
}

/// A wire cause path, root cause first; when empty, the root cause alone (if given).
fn path<M: Name>(
    path: Option<&pb::CausePath>,
    root: Option<&pb::CauseLink>,
) -> Result<Vec<RequestLink>, CodecError> {
    let links = path.map_or(&[][..], |p| p.links.as_slice());
    if links.is_empty() {
        return root.map(cause_link::<M>).into_iter().collect();
    }
    links.iter().map(cause_link::<M>).collect()
}

/// A link hop on the wire.
pub fn cause_link_to_proto(link: &RequestLink) -> pb::CauseLink {
    pb::CauseLink {
        provider_team_id: link.provider.to_string(),
        consumer_team_id: link.consumer.to_string(),
        request_id: link.request_id.to_string(),
    }
}

/// A link key on the wire.
pub fn link_ref(link: &LinkKey) -> pb::LinkRef {
    pb::LinkRef {
        provider_team_id: link.provider.to_string(),
        consumer_team_id: link.consumer.to_string(),
    }
}
