//! The InternalRequest aggregate: a consumer team asks a provider team for something, the
//! provider commits to a due time (and may revise it), and the request ends Fulfilled,
//! Breached or Cancelled. The consumer can report a breakdown.
//!
//! Lifecycle: `Opened → Committed → Fulfilled | Breached | Cancelled` (`Cancelled` also from
//! `Opened`; `Breached` also from `Opened` when the needed-by time passes with no commitment).
//! A revision is an event, not a state: the request stays `Committed` with a new due time.
//! *At risk* is an overlay on an open request ([`Request::risk`]), set and cleared by the
//! [`RequestEvent::AtRisk`] / [`RequestEvent::RiskCleared`] events.
//!
//! A request may serve a parent (another request, or an external ticket), which builds the
//! case tree. The parent learns about its children only through
//! [`RequestCommand::ObserveChild`], whose [`ChildOutlook`] is derived from the child's events
//! by [`crate::propagation`]; after each observation (and after its own commit or revision) the
//! parent re-assesses its risk: `projected completion = max(own due, children's projected
//! completions)`, and a child breached, broken down or projected past the parent's own due
//! time puts the parent at risk with the cause path, root cause first.

mod command;
mod decide;
mod event;
mod risk;
mod state;

#[cfg(test)]
mod tests;

pub use command::{OpenRequest, RequestCommand};
pub use decide::{RequestDecider, decide};
pub use event::RequestEvent;
pub use risk::{ChildCondition, ChildOutlook, Risk, assess};
pub use state::{
    Breakdown, BreakdownKind, Parent, Request, RequestState, RequestStatus, Revision, evolve, fold,
};

pub(crate) use risk::condition_of;
