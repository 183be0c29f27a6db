//! What callers (the front line, the deadline watch, and the chain behind the ticket) can ask
//! of a ticket.

use chrono::{DateTime, Utc};

use super::promise::Remedy;
use crate::case::Feasibility;
use crate::commitment::CommitmentKind;
use crate::customer::CustomerStanding;
use crate::ids::{CustomerId, TeamId, TicketId};
use crate::request::ChildOutlook;

/// Longest wording of a promise, in characters.
pub const MAX_WORDING_CHARS: usize = 2000;

/// The data needed to open a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenTicket {
    /// The new ticket's id (made by the service).
    pub ticket_id: TicketId,
    /// The customer it is for (the service checks the customer exists).
    pub customer_id: CustomerId,
    /// What it is about: required, at most 200 characters, trimmed.
    pub subject: String,
    /// The front-line team that serves the customer on it.
    pub front_line: TeamId,
    /// The customer's tier and value now (the service computes the tier).
    pub standing: CustomerStanding,
}

/// The data needed to make a promise on a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakePromise {
    /// When it is promised for; must be after now.
    pub due_at: DateTime<Utc>,
    /// What kind of promise it is.
    pub kind: CommitmentKind,
    /// What is said to the customer: required, at most 2000 characters, trimmed.
    pub wording: String,
    /// Promise it even if the chain behind the ticket cannot deliver by `due_at`.
    pub acknowledge_risk: bool,
    /// What the chain behind the ticket can do, computed by the service from the case
    /// ([`crate::case::CaseView::feasibility`]); `None` when no request serves the ticket yet.
    pub feasibility: Option<Feasibility>,
}

/// A command on a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketCommand {
    /// Open the ticket.
    Open(OpenTicket),
    /// Promise the customer a due time (from `Opened`). A promise due before the chain's
    /// earliest feasible time is refused unless the risk is acknowledged.
    MakePromise(MakePromise),
    /// The chain behind the ticket changed: the latest outlook of one request that serves the
    /// ticket directly (its [`crate::propagation::ParentSignal`]), with the customer's tier
    /// and value now. An outlook no newer than the one known for that request is ignored.
    ObserveChain {
        /// The outlook of a request serving the ticket.
        outlook: ChildOutlook,
        /// The customer's tier and value now.
        standing: CustomerStanding,
    },
    /// The deadline watch: the promise's due time passed unresolved. A repeat on a broken
    /// promise is a no-op.
    MarkBroken,
    /// Record that the customer was told the promise will not be kept as made (from
    /// `Promised` or `Broken`).
    NotifyCustomer {
        /// The new time the customer is given; must be after now.
        new_expected_at: DateTime<Utc>,
        /// What is offered meanwhile.
        remedy: Remedy,
    },
    /// The customer's answer to the latest notice: accepting it renegotiates a promise that
    /// has not broken yet to the notice's new time.
    RecordCustomerResponse {
        /// Whether the customer accepted.
        accepted: bool,
    },
    /// Close the ticket: delivered or not, now (from `Promised` or `Broken`).
    Resolve {
        /// Whether what was promised was delivered.
        delivered: bool,
    },
}

impl TicketCommand {
    /// The command's name as used in errors.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Open(_) => "OpenTicket",
            Self::MakePromise(_) => "MakePromise",
            Self::ObserveChain { .. } => "ObserveChain",
            Self::MarkBroken => "MarkPromiseBroken",
            Self::NotifyCustomer { .. } => "NotifyCustomer",
            Self::RecordCustomerResponse { .. } => "RecordCustomerResponse",
            Self::Resolve { .. } => "ResolveTicket",
        }
    }
}
