//! A request as known after its events, and `evolve`/`fold` that build it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::RequestEvent;
use super::risk::{ChildOutlook, Risk};
use crate::commitment::Commitment;
use crate::error::DomainError;
use crate::ids::{CaseId, RequestId, TeamId, TicketId};
use crate::link::{RequestLink, Role};

/// What a request serves: another internal request, or an external ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Parent {
    /// It serves another internal request.
    Request(RequestId),
    /// It serves an external customer's ticket directly.
    Ticket(TicketId),
}

/// What kind of breakdown a consumer reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakdownKind {
    /// Delivered, but what was delivered cannot be used.
    NotUsable,
    /// The consumer was not served well.
    NotServedWell,
}

impl BreakdownKind {
    /// A stable snake_case name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::NotUsable => "not_usable",
            Self::NotServedWell => "not_served_well",
        }
    }
}

/// Where a request is in its lifecycle. At risk is not a status but an overlay
/// ([`Request::risk`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestStatus {
    /// Asked; the provider has not committed.
    Opened,
    /// The provider has promised a due time.
    Committed,
    /// Delivered.
    Fulfilled {
        /// When.
        at: DateTime<Utc>,
        /// Whether it was delivered by the due time in force.
        on_time: bool,
    },
    /// The due time passed unfulfilled.
    Breached {
        /// When the breach was recorded.
        at: DateTime<Utc>,
        /// The cause path of the risk the request was under when it breached (root cause
        /// first); empty when it breached on its own.
        cause_path: Vec<RequestLink>,
    },
    /// Withdrawn by the consumer.
    Cancelled {
        /// When.
        at: DateTime<Utc>,
    },
}

impl RequestStatus {
    /// The status's name as used in errors: `Opened`, `Committed`, `Fulfilled`, `Breached`,
    /// `Cancelled`.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Opened => "Opened",
            Self::Committed => "Committed",
            Self::Fulfilled { .. } => "Fulfilled",
            Self::Breached { .. } => "Breached",
            Self::Cancelled { .. } => "Cancelled",
        }
    }

    /// Whether the request is still open (`Opened` or `Committed`).
    pub const fn is_open(&self) -> bool {
        matches!(self, Self::Opened | Self::Committed)
    }

    /// When the request reached a terminal status, if it has.
    pub const fn closed_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::Opened | Self::Committed => None,
            Self::Fulfilled { at, .. } | Self::Breached { at, .. } | Self::Cancelled { at } => {
                Some(*at)
            }
        }
    }
}

/// One revision of the due time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The due time before.
    pub previous_due: DateTime<Utc>,
    /// The due time after.
    pub new_due: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// Whether it was announced before the previous due time.
    pub proactive: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// One breakdown reported by the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakdown {
    /// What went wrong.
    pub kind: BreakdownKind,
    /// Why, in the consumer's words.
    pub reason: String,
    /// When it was reported.
    pub reported_at: DateTime<Utc>,
    /// When the consumer declared it settled, if it has.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// An internal request as known after its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its id.
    pub id: RequestId,
    /// The case (tree) it belongs to.
    pub case_id: CaseId,
    /// The team that asked.
    pub consumer: TeamId,
    /// The team that serves.
    pub provider: TeamId,
    /// What was asked for.
    pub title: String,
    /// When the consumer needs it.
    pub needed_by: DateTime<Utc>,
    /// What it serves, if anything.
    pub parent: Option<Parent>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Where it is in its lifecycle.
    pub status: RequestStatus,
    /// The provider's promise, once committed (due time moved by revisions).
    pub commitment: Option<Commitment>,
    /// Every revision of the due time, oldest first.
    pub revisions: Vec<Revision>,
    /// Every breakdown reported, oldest first.
    pub breakdowns: Vec<Breakdown>,
    /// The latest outlook of each child, by child id.
    pub children: BTreeMap<RequestId, ChildOutlook>,
    /// The risk overlay: set while the open request is projected late or something under it
    /// broke; `None` otherwise and always once closed.
    pub risk: Option<Risk>,
    /// When the current risk episode began.
    pub at_risk_since: Option<DateTime<Utc>>,
}

impl Request {
    /// The link this request crosses.
    pub const fn link(&self) -> RequestLink {
        RequestLink {
            request_id: self.id,
            provider: self.provider,
            consumer: self.consumer,
        }
    }

    /// Whether it is still open (`Opened` or `Committed`).
    pub const fn is_open(&self) -> bool {
        self.status.is_open()
    }

    /// The committed due time, if the provider has committed.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        self.commitment.map(|c| c.due_at)
    }

    /// The time this request is expected by: the committed due time, or the needed-by time
    /// before any commitment. Risk and breach are judged against it.
    pub fn expected_by(&self) -> DateTime<Utc> {
        self.due_at().unwrap_or(self.needed_by)
    }

    /// Whether the open request is at risk.
    pub fn is_at_risk(&self) -> bool {
        self.is_open() && self.risk.is_some()
    }

    /// When the open request is projected to complete: `max(own due, children's projected
    /// completions)`. `None` once closed, or while a breach or breakdown under it makes the
    /// completion impossible to project.
    pub fn projected_completion(&self) -> Option<DateTime<Utc>> {
        if !self.is_open() {
            return None;
        }
        match &self.risk {
            None => Some(self.expected_by()),
            Some(risk) => risk.projected_completion,
        }
    }

    /// The latest breakdown not yet settled, if any.
    pub fn outstanding_breakdown(&self) -> Option<&Breakdown> {
        self.breakdowns
            .iter()
            .rev()
            .find(|b| b.resolved_at.is_none())
    }

    /// The ticket this request serves directly, if its parent is a ticket.
    pub const fn serves_ticket(&self) -> Option<TicketId> {
        match self.parent {
            Some(Parent::Ticket(ticket)) => Some(ticket),
            _ => None,
        }
    }

    /// The role `team` plays on this request, if any.
    pub fn role_of(&self, team: TeamId) -> Option<Role> {
        if team == self.provider {
            Some(Role::Provider)
        } else if team == self.consumer {
            Some(Role::Consumer)
        } else {
            None
        }
    }

    /// Checks that a child request opened by `consumer` may serve this request: this request
    /// must be open and `consumer` must be its provider (the provider asks others for help).
    /// The child then belongs to this request's `case_id`.
    pub fn accepts_child(&self, consumer: TeamId) -> Result<(), DomainError> {
        if !self.is_open() {
            return Err(DomainError::InvalidTransition {
                command: "OpenRequest",
                state: self.status.name(),
            });
        }
        if consumer != self.provider {
            return Err(DomainError::invalid_field(
                "parent",
                format!(
                    "a child of request {} must be opened by its provider {}",
                    self.id, self.provider
                ),
            ));
        }
        Ok(())
    }
}

/// A request's state: `request` is `None` before it is opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestState {
    /// The request, once opened.
    pub request: Option<Request>,
    /// How many events have been applied (the stream version).
    pub version: u64,
}

impl RequestState {
    /// The current state's name as used in errors (`NotOpened` before the first event).
    pub fn state_name(&self) -> &'static str {
        self.request
            .as_ref()
            .map_or("NotOpened", |r| r.status.name())
    }
}

/// Applies one request event. Events that do not fit the state (which `decide` never
/// produces) are counted in the version and otherwise ignored.
pub fn evolve(mut state: RequestState, event: &RequestEvent) -> RequestState {
    state.version += 1;
    if let RequestEvent::Opened {
        request_id,
        case_id,
        consumer,
        provider,
        title,
        needed_by,
        parent,
        at,
    } = event
    {
        state.request = Some(Request {
            id: *request_id,
            case_id: *case_id,
            consumer: *consumer,
            provider: *provider,
            title: title.clone(),
            needed_by: *needed_by,
            parent: *parent,
            opened_at: *at,
            status: RequestStatus::Opened,
            commitment: None,
            revisions: Vec::new(),
            breakdowns: Vec::new(),
            children: BTreeMap::new(),
            risk: None,
            at_risk_since: None,
        });
        return state;
    }
    if let Some(request) = state.request.as_mut() {
        apply(request, event);
    }
    state
}

fn apply(request: &mut Request, event: &RequestEvent) {
    match event {
        RequestEvent::Opened { .. } => {}
        RequestEvent::Committed { commitment, .. } => {
            request.status = RequestStatus::Committed;
            request.commitment = Some(*commitment);
        }
        RequestEvent::Revised {
            previous_due,
            new_due,
            reason,
            proactive,
            at,
            ..
        } => {
            if let Some(commitment) = request.commitment.as_mut() {
                commitment.due_at = *new_due;
            }
            request.revisions.push(Revision {
                previous_due: *previous_due,
                new_due: *new_due,
                reason: reason.clone(),
                proactive: *proactive,
                at: *at,
            });
        }
        RequestEvent::Fulfilled { on_time, at, .. } => {
            close(
                request,
                RequestStatus::Fulfilled {
                    at: *at,
                    on_time: *on_time,
                },
            );
        }
        RequestEvent::Cancelled { at, .. } => close(request, RequestStatus::Cancelled { at: *at }),
        RequestEvent::Breached { cause_path, at, .. } => close(
            request,
            RequestStatus::Breached {
                at: *at,
                cause_path: cause_path.clone(),
            },
        ),
        RequestEvent::BreakdownReported {
            kind, reason, at, ..
        } => request.breakdowns.push(Breakdown {
            kind: *kind,
            reason: reason.clone(),
            reported_at: *at,
            resolved_at: None,
        }),
        RequestEvent::BreakdownResolved { at, .. } => {
            for breakdown in &mut request.breakdowns {
                breakdown.resolved_at.get_or_insert(*at);
            }
        }
        RequestEvent::ChildObserved { outlook, .. } => {
            request
                .children
                .insert(outlook.child.request_id, outlook.clone());
        }
        RequestEvent::AtRisk { risk, at, .. } => {
            request.at_risk_since.get_or_insert(*at);
            request.risk = Some(risk.clone());
        }
        RequestEvent::RiskCleared { .. } => {
            request.risk = None;
            request.at_risk_since = None;
        }
    }
}

/// A closed request is no longer *at risk*: it is done, broken or withdrawn. Its terminal
/// event says so; no separate `RiskCleared` is recorded.
fn close(request: &mut Request, status: RequestStatus) {
    request.status = status;
    request.risk = None;
    request.at_risk_since = None;
}

/// Rebuilds a request's state from its events, oldest first.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a RequestEvent>) -> RequestState {
    events.into_iter().fold(RequestState::default(), evolve)
}
