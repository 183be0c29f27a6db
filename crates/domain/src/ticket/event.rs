//! What happens to a ticket. Every event names its ticket and customer, and the events a
//! scorer or an impact ledger reacts to carry what it needs (due time, cause path, standing,
//! whether the customer was told in time), so they can be acted on without the history.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::promise::{PromiseOutcome, PromiseRisk, Remedy, RiskAcknowledgement};
use crate::commitment::CommitmentKind;
use crate::customer::CustomerStanding;
use crate::decider::DomainEvent;
use crate::ids::{CustomerId, TeamId, TicketId};
use crate::link::RequestLink;
use crate::request::ChildOutlook;

/// An event of the Ticket aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TicketEvent {
    /// The ticket was opened.
    #[serde(rename = "TicketOpened")]
    Opened {
        /// The ticket.
        ticket_id: TicketId,
        /// The customer.
        customer_id: CustomerId,
        /// What it is about.
        subject: String,
        /// The front-line team serving the customer.
        front_line: TeamId,
        /// The customer's tier and value when opened.
        standing: CustomerStanding,
        /// When.
        at: DateTime<Utc>,
    },
    /// The ticket learned the latest outlook of a request serving it.
    #[serde(rename = "TicketChainObserved")]
    ChainObserved {
        /// The ticket.
        ticket_id: TicketId,
        /// The outlook of the request serving the ticket.
        outlook: ChildOutlook,
        /// The customer's tier and value now.
        standing: CustomerStanding,
        /// When.
        at: DateTime<Utc>,
    },
    /// A promise was made to the customer.
    #[serde(rename = "PromiseMade")]
    PromiseMade {
        /// The ticket.
        ticket_id: TicketId,
        /// The customer.
        customer_id: CustomerId,
        /// When it is due.
        due_at: DateTime<Utc>,
        /// What kind of promise it is.
        kind: CommitmentKind,
        /// What was said.
        wording: String,
        /// Set when the promise was made knowing the chain could not keep it.
        risk_acknowledged: Option<RiskAcknowledgement>,
        /// When (the start of the promised window).
        at: DateTime<Utc>,
    },
    /// The promise became at risk, or its risk changed (another cause or projection).
    #[serde(rename = "PromiseAtRisk")]
    PromiseAtRisk {
        /// The ticket.
        ticket_id: TicketId,
        /// The customer.
        customer_id: CustomerId,
        /// The due time at risk.
        due_at: DateTime<Utc>,
        /// Root cause, path and projection.
        risk: PromiseRisk,
        /// The customer's tier and value: what is at stake.
        standing: CustomerStanding,
        /// When.
        at: DateTime<Utc>,
    },
    /// The promise is no longer at risk (the chain recovered, or the due time moved).
    #[serde(rename = "PromiseRiskCleared")]
    PromiseRiskCleared {
        /// The ticket.
        ticket_id: TicketId,
        /// The customer.
        customer_id: CustomerId,
        /// The due time now on track.
        due_at: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The due time passed with the ticket unresolved.
    #[serde(rename = "PromiseBroken")]
    PromiseBroken {
        /// The ticket.
        ticket_id: TicketId,
        /// The customer.
        customer_id: CustomerId,
        /// The due time that passed.
        due_at: DateTime<Utc>,
        /// Whether the customer had been told before it passed.
        notified_before_due: bool,
        /// The cause path of the risk it was under, root cause first; empty if none.
        cause_path: Vec<RequestLink>,
        /// The due time itself: the promise broke then, however late the watch noticed.
        at: DateTime<Utc>,
    },
    /// The customer was told the promise would not be kept as made.
    #[serde(rename = "CustomerNotified")]
    CustomerNotified {
        /// The ticket.
        ticket_id: TicketId,
        /// The customer.
        customer_id: CustomerId,
        /// The due time in force when told.
        due_at: DateTime<Utc>,
        /// The new time given.
        new_expected_at: DateTime<Utc>,
        /// What was offered.
        remedy: Remedy,
        /// Told before the due time.
        before_due: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// The customer answered the latest notice.
    #[serde(rename = "CustomerResponded")]
    CustomerResponded {
        /// The ticket.
        ticket_id: TicketId,
        /// The customer.
        customer_id: CustomerId,
        /// Whether the customer accepted the new time.
        accepted: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// The customer accepted a new due time for a promise not yet broken.
    #[serde(rename = "PromiseRenegotiated")]
    PromiseRenegotiated {
        /// The ticket.
        ticket_id: TicketId,
        /// The customer.
        customer_id: CustomerId,
        /// The due time before.
        previous_due: DateTime<Utc>,
        /// The due time after.
        new_due: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The ticket was closed with the promise's outcome.
    #[serde(rename = "TicketResolved")]
    Resolved {
        /// The ticket.
        ticket_id: TicketId,
        /// The customer.
        customer_id: CustomerId,
        /// Whether it was delivered.
        delivered: bool,
        /// How the promise ended.
        outcome: PromiseOutcome,
        /// The due time in force at the end.
        due_at: DateTime<Utc>,
        /// The due time first promised.
        original_due: DateTime<Utc>,
        /// When the promise was made (`due_at - promised_at` is the promised window).
        promised_at: DateTime<Utc>,
        /// How late the delivery was after `due_at`; `None` when on time or not delivered.
        #[serde(with = "crate::duration_ms::option", rename = "late_by_ms")]
        late_by: Option<TimeDelta>,
        /// Whether the customer was told before the due time in force passed.
        notified_before_due: bool,
        /// When.
        at: DateTime<Utc>,
    },
}

impl TicketEvent {
    /// The ticket the event belongs to (its stream).
    pub const fn ticket_id(&self) -> TicketId {
        match self {
            Self::Opened { ticket_id, .. }
            | Self::ChainObserved { ticket_id, .. }
            | Self::PromiseMade { ticket_id, .. }
            | Self::PromiseAtRisk { ticket_id, .. }
            | Self::PromiseRiskCleared { ticket_id, .. }
            | Self::PromiseBroken { ticket_id, .. }
            | Self::CustomerNotified { ticket_id, .. }
            | Self::CustomerResponded { ticket_id, .. }
            | Self::PromiseRenegotiated { ticket_id, .. }
            | Self::Resolved { ticket_id, .. } => *ticket_id,
        }
    }
}

impl DomainEvent for TicketEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Opened { .. } => "TicketOpened",
            Self::ChainObserved { .. } => "TicketChainObserved",
            Self::PromiseMade { .. } => "PromiseMade",
            Self::PromiseAtRisk { .. } => "PromiseAtRisk",
            Self::PromiseRiskCleared { .. } => "PromiseRiskCleared",
            Self::PromiseBroken { .. } => "PromiseBroken",
            Self::CustomerNotified { .. } => "CustomerNotified",
            Self::CustomerResponded { .. } => "CustomerResponded",
            Self::PromiseRenegotiated { .. } => "PromiseRenegotiated",
            Self::Resolved { .. } => "TicketResolved",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }

    fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::Opened { at, .. }
            | Self::ChainObserved { at, .. }
            | Self::PromiseMade { at, .. }
            | Self::PromiseAtRisk { at, .. }
            | Self::PromiseRiskCleared { at, .. }
            | Self::PromiseBroken { at, .. }
            | Self::CustomerNotified { at, .. }
            | Self::CustomerResponded { at, .. }
            | Self::PromiseRenegotiated { at, .. }
            | Self::Resolved { at, .. } => *at,
        }
    }
}
