//! `decide` for tickets: the lifecycle rules, feasibility of a promise against the chain, and
//! the re-assessment of the promise's risk after anything that moves its due time or the
//! chain's outlook.

use chrono::{DateTime, Utc};

use super::command::{MAX_WORDING_CHARS, MakePromise, OpenTicket, TicketCommand};
use super::event::TicketEvent;
use super::promise::{PromiseOutcome, PromiseRisk, RiskAcknowledgement};
use super::state::{Ticket, TicketState, TicketStatus, evolve, fold};
use crate::decider::Decider;
use crate::error::DomainError;
use crate::field::{MAX_TITLE_CHARS, required_text};
use crate::request::assess;

/// Decides a ticket command at time `now`.
///
/// Checks run in this order: the ticket exists (or, for `Open`, does not), the transition is
/// allowed in the current status, the fields, then feasibility.
pub fn decide(
    command: &TicketCommand,
    state: &TicketState,
    now: DateTime<Utc>,
) -> Result<Vec<TicketEvent>, DomainError> {
    let Some(ticket) = &state.ticket else {
        return match command {
            TicketCommand::Open(open) => open_ticket(open, now),
            other => Err(invalid(other.name(), state.state_name())),
        };
    };
    let name = command.name();
    let (ticket_id, customer_id) = (ticket.id, ticket.customer_id);
    match command {
        TicketCommand::Open(_) => Err(DomainError::AlreadyExists {
            kind: "ticket",
            id: ticket_id.to_string(),
        }),
        TicketCommand::MakePromise(promise) => {
            require_status(ticket, name, |s| matches!(s, TicketStatus::Opened))?;
            make_promise(state, ticket, promise, now)
        }
        TicketCommand::ObserveChain { outlook, standing } => {
            if matches!(
                ticket.status,
                TicketStatus::Broken { .. } | TicketStatus::Resolved { .. }
            ) {
                // A promise no longer in force cannot go at risk; nothing to record.
                return Ok(Vec::new());
            }
            let known = ticket.chain.get(&outlook.child.request_id);
            if known.is_some_and(|k| k.version >= outlook.version) {
                // A duplicate or an outlook overtaken by a newer one.
                return Ok(Vec::new());
            }
            Ok(with_reassessment(
                state,
                vec![TicketEvent::ChainObserved {
                    ticket_id,
                    outlook: outlook.clone(),
                    standing: *standing,
                    at: now,
                }],
                now,
            ))
        }
        TicketCommand::MarkBroken => {
            if matches!(ticket.status, TicketStatus::Broken { .. }) {
                // The deadline already fired (another replica, or a retry): nothing to do.
                return Ok(Vec::new());
            }
            let due_at = promise_due(ticket, name)?;
            if now < due_at {
                return Err(DomainError::DeadlineNotReached {
                    command: name,
                    deadline: due_at,
                    now,
                });
            }
            Ok(vec![TicketEvent::PromiseBroken {
                ticket_id,
                customer_id,
                due_at,
                notified_before_due: ticket.notified_before_due,
                cause_path: ticket
                    .risk
                    .as_ref()
                    .map(|r| r.cause_path.clone())
                    .unwrap_or_default(),
                // The promise broke at its due time, even when the watch fires late (after a
                // restart): replaying the same history gives the same event.
                at: due_at,
            }])
        }
        TicketCommand::NotifyCustomer {
            new_expected_at,
            remedy,
        } => {
            let due_at = promise_due_or_broken(ticket, name)?;
            if *new_expected_at <= now {
                return Err(DomainError::invalid_field(
                    "new_expected_at",
                    format!("must be after now ({now}), got {new_expected_at}"),
                ));
            }
            Ok(vec![TicketEvent::CustomerNotified {
                ticket_id,
                customer_id,
                due_at,
                new_expected_at: *new_expected_at,
                remedy: *remedy,
                // Told before the promise broke: a notice; after it: an apology.
                before_due: ticket.status == TicketStatus::Promised && now < due_at,
                at: now,
            }])
        }
        TicketCommand::RecordCustomerResponse { accepted } => {
            let due_at = promise_due_or_broken(ticket, name)?;
            let Some(notice) = ticket.pending_notice() else {
                return Err(invalid(name, "NoNoticePending"));
            };
            let mut events = vec![TicketEvent::CustomerResponded {
                ticket_id,
                customer_id,
                accepted: *accepted,
                at: now,
            }];
            // A broken promise cannot be renegotiated: the customer accepting a late delivery
            // is recorded, and the delivery will count as kept late.
            if *accepted && ticket.status == TicketStatus::Promised {
                if notice.new_expected_at <= now {
                    return Err(invalid(name, "NoticeExpired"));
                }
                events.push(TicketEvent::PromiseRenegotiated {
                    ticket_id,
                    customer_id,
                    previous_due: due_at,
                    new_due: notice.new_expected_at,
                    at: now,
                });
                return Ok(with_reassessment(state, events, now));
            }
            Ok(events)
        }
        TicketCommand::Resolve { delivered } => {
            let due_at = promise_due_or_broken(ticket, name)?;
            let Some(promise) = &ticket.promise else {
                return Err(invalid(name, ticket.status.name()));
            };
            let broken = matches!(ticket.status, TicketStatus::Broken { .. });
            let on_time = !broken && now <= due_at;
            let outcome = match (*delivered, on_time) {
                (false, _) => PromiseOutcome::Broken,
                (true, false) => PromiseOutcome::KeptLate,
                (true, true) if ticket.renegotiations.is_empty() => PromiseOutcome::Kept,
                (true, true) => PromiseOutcome::KeptAfterRenegotiation,
            };
            Ok(vec![TicketEvent::Resolved {
                ticket_id,
                customer_id,
                delivered: *delivered,
                outcome,
                due_at,
                original_due: promise.original_due,
                promised_at: promise.made_at,
                late_by: (*delivered && now > due_at).then(|| now - due_at),
                notified_before_due: ticket.notified_before_due,
                at: now,
            }])
        }
    }
}

fn open_ticket(open: &OpenTicket, now: DateTime<Utc>) -> Result<Vec<TicketEvent>, DomainError> {
    let subject = required_text("subject", &open.subject, MAX_TITLE_CHARS)?;
    Ok(vec![TicketEvent::Opened {
        ticket_id: open.ticket_id,
        customer_id: open.customer_id,
        subject,
        front_line: open.front_line,
        standing: open.standing,
        at: now,
    }])
}

/// "Don't promise what you can't deliver": a due time before the chain's earliest feasible
/// time is refused, naming the link that bounds it, unless the caller acknowledges the risk;
/// then the acknowledgement is recorded with the promise.
fn make_promise(
    state: &TicketState,
    ticket: &Ticket,
    promise: &MakePromise,
    now: DateTime<Utc>,
) -> Result<Vec<TicketEvent>, DomainError> {
    if promise.due_at <= now {
        return Err(DomainError::invalid_field(
            "due_at",
            format!("must be after now ({now}), got {}", promise.due_at),
        ));
    }
    let wording = required_text("wording", &promise.wording, MAX_WORDING_CHARS)?;
    let infeasible = promise
        .feasibility
        .as_ref()
        .filter(|f| promise.due_at < f.earliest);
    let risk_acknowledged = match infeasible {
        None => None,
        Some(f) if promise.acknowledge_risk => Some(RiskAcknowledgement::from(f)),
        Some(f) => {
            return Err(DomainError::PromiseNotFeasible {
                due_at: promise.due_at,
                earliest: f.earliest,
                link: f.bound_by,
            });
        }
    };
    Ok(with_reassessment(
        state,
        vec![TicketEvent::PromiseMade {
            ticket_id: ticket.id,
            customer_id: ticket.customer_id,
            due_at: promise.due_at,
            kind: promise.kind,
            wording,
            risk_acknowledged,
            at: now,
        }],
        now,
    ))
}

fn invalid(command: &'static str, state: &'static str) -> DomainError {
    DomainError::InvalidTransition { command, state }
}

fn require_status(
    ticket: &Ticket,
    command: &'static str,
    allowed: impl FnOnce(&TicketStatus) -> bool,
) -> Result<(), DomainError> {
    if allowed(&ticket.status) {
        Ok(())
    } else {
        Err(invalid(command, ticket.status.name()))
    }
}

/// The due time of a promise in force (`Promised`), or the transition error.
fn promise_due(ticket: &Ticket, command: &'static str) -> Result<DateTime<Utc>, DomainError> {
    require_status(ticket, command, |s| matches!(s, TicketStatus::Promised))?;
    ticket
        .promise
        .as_ref()
        .map(|p| p.due_at)
        .ok_or_else(|| invalid(command, ticket.status.name()))
}

/// The due time of a promise in force or broken, or the transition error.
fn promise_due_or_broken(
    ticket: &Ticket,
    command: &'static str,
) -> Result<DateTime<Utc>, DomainError> {
    require_status(ticket, command, |s| {
        matches!(s, TicketStatus::Promised | TicketStatus::Broken { .. })
    })?;
    ticket
        .promise
        .as_ref()
        .map(|p| p.due_at)
        .ok_or_else(|| invalid(command, ticket.status.name()))
}

/// Appends to `events` the risk change they cause: the promise's due time or the chain's
/// outlook moved, so it may have become at risk, changed risk, or recovered. The risk is the
/// one [`assess`] gives the requests serving the ticket against the promise's due time.
fn with_reassessment(
    state: &TicketState,
    mut events: Vec<TicketEvent>,
    now: DateTime<Utc>,
) -> Vec<TicketEvent> {
    let after = events.iter().fold(state.clone(), evolve);
    let Some(ticket) = after
        .ticket
        .as_ref()
        .filter(|t| t.status == TicketStatus::Promised)
    else {
        return events;
    };
    let Some(promise) = &ticket.promise else {
        return events;
    };
    let risk = assess(
        promise.due_at,
        ticket
            .chain
            .values()
            .map(|outlook| (&outlook.child, &outlook.condition)),
    )
    .and_then(PromiseRisk::from_risk);
    match (&ticket.risk, risk) {
        (None, None) => {}
        (Some(old), Some(new)) if *old == new => {}
        (_, Some(risk)) => events.push(TicketEvent::PromiseAtRisk {
            ticket_id: ticket.id,
            customer_id: ticket.customer_id,
            due_at: promise.due_at,
            risk,
            standing: ticket.standing,
            at: now,
        }),
        (Some(_), None) => events.push(TicketEvent::PromiseRiskCleared {
            ticket_id: ticket.id,
            customer_id: ticket.customer_id,
            due_at: promise.due_at,
            at: now,
        }),
    }
    events
}

/// The ticket aggregate as a [`Decider`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketDecider;

impl Decider for TicketDecider {
    type Command = TicketCommand;
    type Event = TicketEvent;
    type State = TicketState;

    fn decide(
        command: &TicketCommand,
        state: &TicketState,
        now: DateTime<Utc>,
    ) -> Result<Vec<TicketEvent>, DomainError> {
        decide(command, state, now)
    }

    fn evolve(state: TicketState, event: &TicketEvent) -> TicketState {
        evolve(state, event)
    }

    fn fold<'a, I>(events: I) -> TicketState
    where
        I: IntoIterator<Item = &'a TicketEvent>,
    {
        fold(events)
    }
}
