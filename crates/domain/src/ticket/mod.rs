//! The Ticket aggregate: an external customer's ticket and the promise made on it, checked
//! against the internal chain behind it, watched for risk, announced when it will break, and
//! resolved with its outcome.
//!
//! Lifecycle: `Opened → Promised → Resolved`, or `Promised → Broken → Resolved` when the due
//! time passes unresolved. *At risk* is an overlay on a promised ticket ([`Ticket::risk`]),
//! set and cleared by [`TicketEvent::PromiseAtRisk`] / [`TicketEvent::PromiseRiskCleared`].
//!
//! - **Feasibility** ([`MakePromise`]): the service computes the case tree's
//!   [`crate::case::Feasibility`] and passes it in; a promise due before the earliest
//!   feasible time is refused with [`crate::DomainError::PromiseNotFeasible`] naming the
//!   bounding link, unless the risk is acknowledged, which is then recorded on the event.
//! - **Impact** ([`TicketCommand::ObserveChain`]): each request serving the ticket directly
//!   reports its [`crate::request::ChildOutlook`] (from [`crate::propagation::parent_signal`]);
//!   the ticket keeps the newest per request (by version, so duplicates and reordering are
//!   harmless) and re-assesses the promise with [`crate::request::assess`] against its due
//!   time: the promise is at risk when a request serving it is projected past the due time,
//!   breached or broken down, with the cause path root cause first.
//! - **Breaking** ([`TicketCommand::MarkBroken`], from [`next_deadline`]): exactly once; the
//!   event's time is the due time itself.
//! - **Notice and remedy**: [`TicketCommand::NotifyCustomer`] records whether the customer was
//!   told before the due time; [`TicketCommand::RecordCustomerResponse`] accepting the latest
//!   notice renegotiates the promise to the notice's new time (only before it broke).
//! - **Outcome** ([`TicketCommand::Resolve`]): not delivered → `Broken`; delivered after the
//!   due time in force, or after the promise broke → `KeptLate`; delivered in time after an
//!   accepted renegotiation → `KeptAfterRenegotiation`; otherwise `Kept`.

mod command;
mod decide;
mod event;
mod promise;
mod state;

pub use command::{MAX_WORDING_CHARS, MakePromise, OpenTicket, TicketCommand};
pub use decide::{TicketDecider, decide};
pub use event::TicketEvent;
pub use promise::{
    CustomerResponse, Notice, Promise, PromiseOutcome, PromiseRisk, Remedy, Renegotiation,
    RiskAcknowledgement,
};
pub use state::{
    Ticket, TicketDeadlineKind, TicketState, TicketStatus, evolve, fold, next_deadline,
};
