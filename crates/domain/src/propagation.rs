//! How a parent learns about its children: after a child's new events are stored, the
//! service asks [`parent_signal`] what to tell the parent, and sends the parent
//! [`RequestCommand::ObserveChild`] with the child's [`ChildOutlook`]. The parent's own new
//! events may in turn produce a signal for *its* parent, and so the risk climbs to the root.
//!
//! When the parent is an external ticket, the signal is for the tickets service; the child's
//! events already carry `parent: Some(Parent::Ticket(..))` for it to act on, and
//! [`ChildOutlook::full_path`] gives the full path from the root cause to the ticket.
//!
//! ```text
//! events = decide(cmd, &child, now)?; append(child, events)
//! while let Some(signal) = parent_signal(&child_after, &events) {
//!     let Some((parent_id, cmd)) = signal.request_command() else { break }; // ticket
//!     events = decide(&cmd, &load(parent_id), now)?; append(parent_id, events)
//! }
//! ```

use crate::ids::{RequestId, TicketId};
use crate::request::{
    ChildOutlook, Parent, RequestCommand, RequestEvent, RequestState, condition_of,
};

/// What a child's parent must be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentSignal {
    /// The parent: a request (send it [`RequestCommand::ObserveChild`]) or a ticket.
    pub parent: Parent,
    /// The child's outlook after its new events.
    pub outlook: ChildOutlook,
}

impl ParentSignal {
    /// The command for a request parent, or `None` when the parent is a ticket.
    pub fn request_command(&self) -> Option<(RequestId, RequestCommand)> {
        match self.parent {
            Parent::Request(parent) => {
                Some((parent, RequestCommand::ObserveChild(self.outlook.clone())))
            }
            Parent::Ticket(_) => None,
        }
    }

    /// The ticket parent, if the parent is a ticket.
    pub const fn ticket(&self) -> Option<TicketId> {
        match self.parent {
            Parent::Ticket(ticket) => Some(ticket),
            Parent::Request(_) => None,
        }
    }
}

/// What a request's parent sees of it now: `None` before the request is opened.
pub fn outlook(state: &RequestState) -> Option<ChildOutlook> {
    let request = state.request.as_ref()?;
    Some(ChildOutlook {
        child: request.link(),
        version: state.version,
        condition: condition_of(request, request.risk.as_ref()),
    })
}

/// The signal for the parent of a request whose state is `after` once `new_events` were
/// applied; `None` when the request has no parent or none of the events concerns it.
/// One signal covers the whole batch, since it carries a snapshot, not a delta.
pub fn parent_signal(after: &RequestState, new_events: &[RequestEvent]) -> Option<ParentSignal> {
    if !new_events.iter().any(RequestEvent::concerns_parent) {
        return None;
    }
    let parent = after.request.as_ref()?.parent?;
    Some(ParentSignal {
        parent,
        outlook: outlook(after)?,
    })
}
