//! A ticket as known after its events, `evolve`/`fold` that build it, and the deadline a
//! deadline watch schedules for it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::command::TicketCommand;
use super::event::TicketEvent;
use super::promise::{
    CustomerResponse, Notice, Promise, PromiseOutcome, PromiseRisk, Renegotiation,
    RiskAcknowledgement,
};
use crate::customer::CustomerStanding;
use crate::ids::{CustomerId, RequestId, TeamId, TicketId};
use crate::link::RequestLink;
use crate::request::ChildOutlook;

/// Where a ticket is in its lifecycle. At risk is not a status but an overlay on a promised
/// ticket ([`Ticket::risk`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketStatus {
    /// Opened; nothing promised yet.
    Opened,
    /// A promise is in force.
    Promised,
    /// The promise's due time passed unresolved; the ticket can still be resolved (late or
    /// not at all).
    Broken {
        /// The due time that passed.
        at: DateTime<Utc>,
        /// The cause path of the risk it was under, root cause first; empty if none.
        cause_path: Vec<RequestLink>,
    },
    /// Closed.
    Resolved {
        /// How the promise ended.
        outcome: PromiseOutcome,
        /// When.
        at: DateTime<Utc>,
    },
}

impl TicketStatus {
    /// The status's name as used in errors: `Opened`, `Promised`, `Broken`, `Resolved`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Opened => "Opened",
            Self::Promised => "Promised",
            Self::Broken { .. } => "Broken",
            Self::Resolved { .. } => "Resolved",
        }
    }
}

/// A ticket as known after its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Its id.
    pub id: TicketId,
    /// The customer it is for.
    pub customer_id: CustomerId,
    /// What it is about.
    pub subject: String,
    /// The front-line team serving the customer.
    pub front_line: TeamId,
    /// The customer's tier and value as last recorded.
    pub standing: CustomerStanding,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Where it is in its lifecycle.
    pub status: TicketStatus,
    /// The promise, once made (due time moved by renegotiations).
    pub promise: Option<Promise>,
    /// Set when the promise was made knowing the chain could not keep it.
    pub risk_acknowledged: Option<RiskAcknowledgement>,
    /// Every accepted renegotiation, oldest first.
    pub renegotiations: Vec<Renegotiation>,
    /// Every notice given to the customer, oldest first.
    pub notices: Vec<Notice>,
    /// The latest outlook of each request serving the ticket directly, by request id.
    pub chain: BTreeMap<RequestId, ChildOutlook>,
    /// The risk overlay: set while the promise is projected to break; `None` otherwise and
    /// always once broken or resolved.
    pub risk: Option<PromiseRisk>,
    /// When the current risk episode began.
    pub at_risk_since: Option<DateTime<Utc>>,
    /// Whether the customer was told before the due time in force: a notice given before it,
    /// since the due time last moved.
    pub notified_before_due: bool,
}

impl Ticket {
    /// Whether the promise is in force and at risk.
    pub fn is_at_risk(&self) -> bool {
        self.status == TicketStatus::Promised && self.risk.is_some()
    }

    /// The latest notice, if it still awaits the customer's answer.
    pub fn pending_notice(&self) -> Option<&Notice> {
        self.notices.last().filter(|n| n.response.is_none())
    }
}

/// A ticket's state: `ticket` is `None` before it is opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketState {
    /// The ticket, once opened.
    pub ticket: Option<Ticket>,
    /// How many events have been applied (the stream version).
    pub version: u64,
}

impl TicketState {
    /// The current state's name as used in errors (`NotOpened` before the first event).
    pub fn state_name(&self) -> &'static str {
        self.ticket
            .as_ref()
            .map_or("NotOpened", |t| t.status.name())
    }
}

/// Applies one ticket event. Events that do not fit the state (which `decide` never
/// produces) are counted in the version and otherwise ignored.
pub fn evolve(mut state: TicketState, event: &TicketEvent) -> TicketState {
    state.version += 1;
    if let TicketEvent::Opened {
        ticket_id,
        customer_id,
        subject,
        front_line,
        standing,
        at,
    } = event
    {
        state.ticket = Some(Ticket {
            id: *ticket_id,
            customer_id: *customer_id,
            subject: subject.clone(),
            front_line: *front_line,
            standing: *standing,
            opened_at: *at,
            status: TicketStatus::Opened,
            promise: None,
            risk_acknowledged: None,
            renegotiations: Vec::new(),
            notices: Vec::new(),
            chain: BTreeMap::new(),
            risk: None,
            at_risk_since: None,
            notified_before_due: false,
        });
        return state;
    }
    if let Some(ticket) = state.ticket.as_mut() {
        apply(ticket, event);
    }
    state
}

fn apply(ticket: &mut Ticket, event: &TicketEvent) {
    match event {
        TicketEvent::Opened { .. } => {}
        TicketEvent::ChainObserved {
            outlook, standing, ..
        } => {
            ticket.standing = *standing;
            ticket
                .chain
                .insert(outlook.child.request_id, outlook.clone());
        }
        TicketEvent::PromiseMade {
            due_at,
            kind,
            wording,
            risk_acknowledged,
            at,
            ..
        } => {
            ticket.status = TicketStatus::Promised;
            ticket.promise = Some(Promise {
                due_at: *due_at,
                original_due: *due_at,
                kind: *kind,
                wording: wording.clone(),
                made_at: *at,
            });
            ticket.risk_acknowledged = risk_acknowledged.clone();
        }
        TicketEvent::PromiseAtRisk {
            risk, standing, at, ..
        } => {
            ticket.standing = *standing;
            ticket.at_risk_since.get_or_insert(*at);
            ticket.risk = Some(risk.clone());
        }
        TicketEvent::PromiseRiskCleared { .. } => clear_risk(ticket),
        TicketEvent::PromiseBroken { cause_path, at, .. } => {
            ticket.status = TicketStatus::Broken {
                at: *at,
                cause_path: cause_path.clone(),
            };
            clear_risk(ticket);
        }
        TicketEvent::CustomerNotified {
            due_at,
            new_expected_at,
            remedy,
            before_due,
            at,
            ..
        } => {
            ticket.notified_before_due |= *before_due;
            ticket.notices.push(Notice {
                due_at: *due_at,
                new_expected_at: *new_expected_at,
                remedy: *remedy,
                before_due: *before_due,
                at: *at,
                response: None,
            });
        }
        TicketEvent::CustomerResponded { accepted, at, .. } => {
            if let Some(notice) = ticket.notices.last_mut() {
                notice.response = Some(CustomerResponse {
                    accepted: *accepted,
                    at: *at,
                });
            }
        }
        TicketEvent::PromiseRenegotiated {
            previous_due,
            new_due,
            at,
            ..
        } => {
            if let Some(promise) = ticket.promise.as_mut() {
                promise.due_at = *new_due;
            }
            ticket.renegotiations.push(Renegotiation {
                previous_due: *previous_due,
                new_due: *new_due,
                at: *at,
            });
            // The notice was about the old due time; the new one has not been warned about.
            ticket.notified_before_due = false;
        }
        TicketEvent::Resolved { outcome, at, .. } => {
            ticket.status = TicketStatus::Resolved {
                outcome: *outcome,
                at: *at,
            };
            clear_risk(ticket);
        }
    }
}

/// A promise no longer in force (broken or resolved) is not *at risk*: its own event says
/// what became of it.
fn clear_risk(ticket: &mut Ticket) {
    ticket.risk = None;
    ticket.at_risk_since = None;
}

/// Rebuilds a ticket's state from its events, oldest first.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a TicketEvent>) -> TicketState {
    events.into_iter().fold(TicketState::default(), evolve)
}

/// What fires at a ticket's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketDeadlineKind {
    /// The promise's due time passes unresolved: send [`TicketCommand::MarkBroken`].
    PromiseBroken,
}

impl TicketDeadlineKind {
    /// The command to decide when the deadline fires.
    pub const fn command(self) -> TicketCommand {
        match self {
            Self::PromiseBroken => TicketCommand::MarkBroken,
        }
    }
}

/// The next deadline of a ticket: the due time of the promise in force; `None` before a
/// promise is made and once it is broken or resolved. Recompute it after every event: a
/// renegotiation moves it.
pub fn next_deadline(state: &TicketState) -> Option<(DateTime<Utc>, TicketDeadlineKind)> {
    let ticket = state
        .ticket
        .as_ref()
        .filter(|t| t.status == TicketStatus::Promised)?;
    Some((
        ticket.promise.as_ref()?.due_at,
        TicketDeadlineKind::PromiseBroken,
    ))
}
