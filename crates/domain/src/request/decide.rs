//! `decide` for requests: the rules of the lifecycle, the actors, and the re-assessment of
//! risk after anything that moves the request's expected time or its children's outlook.

use chrono::{DateTime, Utc};

use super::command::{OpenRequest, RequestCommand};
use super::event::RequestEvent;
use super::risk::assess;
use super::state::{BreakdownKind, Parent, Request, RequestState, RequestStatus, evolve, fold};
use crate::decider::Decider;
use crate::error::DomainError;
use crate::field::{MAX_REASON_CHARS, MAX_TITLE_CHARS, required_text};
use crate::ids::{CaseId, TeamId};
use crate::link::Role;

/// Decides a request command at time `now`.
///
/// Checks run in this order: the request exists (or, for `Open`, does not), the actor plays
/// the required role, the transition is allowed in the current status, then the fields.
pub fn decide(
    command: &RequestCommand,
    state: &RequestState,
    now: DateTime<Utc>,
) -> Result<Vec<RequestEvent>, DomainError> {
    let Some(request) = &state.request else {
        return match command {
            RequestCommand::Open(open) => open_request(open, now),
            other => Err(DomainError::InvalidTransition {
                command: other.name(),
                state: state.state_name(),
            }),
        };
    };
    let name = command.name();
    let parent = request.parent;
    let request_id = request.id;
    match command {
        RequestCommand::Open(_) => Err(DomainError::AlreadyExists {
            kind: "request",
            id: request_id.to_string(),
        }),
        RequestCommand::Commit {
            actor,
            due_at,
            kind,
        } => {
            require_actor(request, name, *actor, Role::Provider)?;
            require_status(request, name, |s| matches!(s, RequestStatus::Opened))?;
            require_future("due_at", *due_at, now)?;
            let commitment = crate::commitment::Commitment {
                due_at: *due_at,
                kind: *kind,
                committed_at: now,
            };
            with_reassessment(
                state,
                vec![RequestEvent::Committed {
                    request_id,
                    parent,
                    commitment,
                }],
                now,
            )
        }
        RequestCommand::Revise {
            actor,
            new_due_at,
            reason,
        } => {
            require_actor(request, name, *actor, Role::Provider)?;
            require_status(request, name, |s| matches!(s, RequestStatus::Committed))?;
            require_future("new_due_at", *new_due_at, now)?;
            let previous_due = request.expected_by();
            if *new_due_at == previous_due {
                return Err(DomainError::invalid_field(
                    "new_due_at",
                    "must differ from the current due time",
                ));
            }
            let reason = required_text("reason", reason, MAX_REASON_CHARS)?;
            with_reassessment(
                state,
                vec![RequestEvent::Revised {
                    request_id,
                    parent,
                    previous_due,
                    new_due: *new_due_at,
                    reason,
                    // A notice given before the promise breaks is proactive; one given after
                    // the due time is an excuse, and scores as a surprise.
                    proactive: now < previous_due,
                    at: now,
                }],
                now,
            )
        }
        RequestCommand::Fulfil { actor } => {
            require_actor(request, name, *actor, Role::Provider)?;
            require_status(request, name, |s| matches!(s, RequestStatus::Committed))?;
            let due_at = request.expected_by();
            Ok(vec![RequestEvent::Fulfilled {
                request_id,
                parent,
                due_at,
                on_time: now <= due_at,
                at: now,
            }])
        }
        RequestCommand::Cancel { actor, reason } => {
            require_actor(request, name, *actor, Role::Consumer)?;
            require_status(request, name, RequestStatus::is_open)?;
            let reason = required_text("reason", reason, MAX_REASON_CHARS)?;
            Ok(vec![RequestEvent::Cancelled {
                request_id,
                parent,
                reason,
                at: now,
            }])
        }
        RequestCommand::ReportBreakdown {
            actor,
            kind,
            reason,
        } => {
            require_actor(request, name, *actor, Role::Consumer)?;
            match kind {
                // "Delivered but not usable" needs a delivery.
                BreakdownKind::NotUsable => require_status(request, name, |s| {
                    matches!(s, RequestStatus::Fulfilled { .. })
                })?,
                BreakdownKind::NotServedWell => require_status(request, name, |s| {
                    !matches!(s, RequestStatus::Cancelled { .. })
                })?,
            }
            let reason = required_text("reason", reason, MAX_REASON_CHARS)?;
            Ok(vec![RequestEvent::BreakdownReported {
                request_id,
                parent,
                kind: *kind,
                reason,
                at: now,
            }])
        }
        RequestCommand::ResolveBreakdown { actor } => {
            require_actor(request, name, *actor, Role::Consumer)?;
            if request.outstanding_breakdown().is_none() {
                return Err(DomainError::InvalidTransition {
                    command: name,
                    state: request.status.name(),
                });
            }
            Ok(vec![RequestEvent::BreakdownResolved {
                request_id,
                parent,
                at: now,
            }])
        }
        RequestCommand::MarkBreached => {
            if matches!(request.status, RequestStatus::Breached { .. }) {
                // The deadline already fired (another replica, or a retry): nothing to do.
                return Ok(Vec::new());
            }
            require_status(request, name, RequestStatus::is_open)?;
            let due_at = request.expected_by();
            if now < due_at {
                return Err(DomainError::DeadlineNotReached {
                    command: name,
                    deadline: due_at,
                    now,
                });
            }
            Ok(vec![RequestEvent::Breached {
                request_id,
                parent,
                due_at,
                committed: request.commitment.is_some(),
                cause_path: request
                    .risk
                    .as_ref()
                    .map(|r| r.cause_path.clone())
                    .unwrap_or_default(),
                at: now,
            }])
        }
        RequestCommand::ObserveChild(outlook) => {
            let child = outlook.child;
            if child.request_id == request_id {
                return Err(DomainError::invalid_field(
                    "child",
                    "a request cannot be its own child",
                ));
            }
            if child.consumer != request.provider {
                return Err(DomainError::invalid_field(
                    "child",
                    format!(
                        "child {} is asked by team {}, not by this request's provider {}",
                        child.request_id, child.consumer, request.provider
                    ),
                ));
            }
            if !request.is_open() {
                // A closed request's risk no longer matters; nothing to record.
                return Ok(Vec::new());
            }
            let known = request.children.get(&child.request_id);
            if known.is_some_and(|k| k.version >= outlook.version) {
                // A duplicate or an outlook overtaken by a newer one.
                return Ok(Vec::new());
            }
            with_reassessment(
                state,
                vec![RequestEvent::ChildObserved {
                    request_id,
                    outlook: outlook.clone(),
                    at: now,
                }],
                now,
            )
        }
    }
}

fn open_request(open: &OpenRequest, now: DateTime<Utc>) -> Result<Vec<RequestEvent>, DomainError> {
    let title = required_text("title", &open.title, MAX_TITLE_CHARS)?;
    if open.provider == open.consumer {
        return Err(DomainError::invalid_field(
            "provider",
            "a team cannot ask itself",
        ));
    }
    require_future("needed_by", open.needed_by, now)?;
    let case_ok = match open.parent {
        None => open.case_id == CaseId::Request(open.request_id),
        Some(Parent::Ticket(ticket)) => open.case_id == CaseId::Ticket(ticket),
        Some(Parent::Request(parent)) => {
            if parent == open.request_id {
                return Err(DomainError::invalid_field(
                    "parent",
                    "a request cannot serve itself",
                ));
            }
            open.case_id != CaseId::Request(open.request_id)
        }
    };
    if !case_ok {
        return Err(DomainError::invalid_field(
            "case_id",
            "must be the request's own id with no parent, the ticket it serves, or its \
             parent's case",
        ));
    }
    Ok(vec![RequestEvent::Opened {
        request_id: open.request_id,
        case_id: open.case_id,
        consumer: open.consumer,
        provider: open.provider,
        title,
        needed_by: open.needed_by,
        parent: open.parent,
        at: now,
    }])
}

fn require_actor(
    request: &Request,
    command: &'static str,
    actor: TeamId,
    expected: Role,
) -> Result<(), DomainError> {
    if request.role_of(actor) == Some(expected) {
        Ok(())
    } else {
        Err(DomainError::WrongActor {
            command,
            expected,
            actor,
        })
    }
}

fn require_status(
    request: &Request,
    command: &'static str,
    allowed: impl FnOnce(&RequestStatus) -> bool,
) -> Result<(), DomainError> {
    if allowed(&request.status) {
        Ok(())
    } else {
        Err(DomainError::InvalidTransition {
            command,
            state: request.status.name(),
        })
    }
}

fn require_future(
    field: &'static str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    if at > now {
        Ok(())
    } else {
        Err(DomainError::invalid_field(
            field,
            format!("must be after now ({now}), got {at}"),
        ))
    }
}

/// Appends to `events` the risk change they cause: the request's expected time or its
/// children's outlook moved, so it may have become at risk, changed risk, or recovered.
fn with_reassessment(
    state: &RequestState,
    mut events: Vec<RequestEvent>,
    now: DateTime<Utc>,
) -> Result<Vec<RequestEvent>, DomainError> {
    let after = events.iter().fold(state.clone(), evolve);
    let Some(request) = after.request.as_ref().filter(|r| r.is_open()) else {
        return Ok(events);
    };
    let risk = assess(
        request.expected_by(),
        request
            .children
            .values()
            .map(|outlook| (&outlook.child, &outlook.condition)),
    );
    match (&request.risk, risk) {
        (None, None) => {}
        (Some(old), Some(new)) if *old == new => {}
        (_, Some(risk)) => events.push(RequestEvent::AtRisk {
            request_id: request.id,
            parent: request.parent,
            risk,
            at: now,
        }),
        (Some(_), None) => events.push(RequestEvent::RiskCleared {
            request_id: request.id,
            parent: request.parent,
            projected_completion: request.expected_by(),
            at: now,
        }),
    }
    Ok(events)
}

/// The request aggregate as a [`Decider`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestDecider;

impl Decider for RequestDecider {
    type Command = RequestCommand;
    type Event = RequestEvent;
    type State = RequestState;

    fn decide(
        command: &RequestCommand,
        state: &RequestState,
        now: DateTime<Utc>,
    ) -> Result<Vec<RequestEvent>, DomainError> {
        decide(command, state, now)
    }

    fn evolve(state: RequestState, event: &RequestEvent) -> RequestState {
        evolve(state, event)
    }

    fn fold<'a, I>(events: I) -> RequestState
    where
        I: IntoIterator<Item = &'a RequestEvent>,
    {
        fold(events)
    }
}
