//! Recording a ticket's new events: every writer (the RPCs, the chain view, the deadline
//! watch) decides through the domain and turns the events into stored events here, so they
//! all carry the same facts beyond the domain event (the promise's number, the risk's trigger
//! and source, the chain's feasibility and projection, what the customer was told).
//!
//! [`observe_chain`] is how the ticket learns of its case tree: for every request serving it
//! whose outlook changed, `ObserveChain` is decided in turn (re-assessing the promise each
//! time). The chain view does it after each request event; `MakePromise` does it first, so a
//! ticket opened while its requests were already on their way still promises against them.

use chain_domain::DomainError;
use chain_domain::customer::CustomerStanding;
use chain_domain::ticket::{TicketCommand, TicketEvent, TicketState, decide, evolve};
use chain_proto::customerchain::v1 as pb;
use chain_store::NewEvent;
use chrono::{DateTime, Utc};

use crate::chain_view::case::TicketCase;
use crate::codec::{Enrichment, encode_ticket};

/// What a writer knows beyond the events it records.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// The ticket's case tree, when loaded.
    pub case: Option<&'a TicketCase>,
    /// The requests-svc event that caused the recording; empty for a command.
    pub source_event_id: String,
    /// What the customer was told (a notice) and the remedy's description and credit.
    pub notice: Option<(String, pb::Remedy)>,
    /// What the customer said (a response).
    pub note: String,
}

/// A decision's events ready to append.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The stored events, in order.
    pub events: Vec<NewEvent>,
    /// The ticket's state after them.
    pub state: TicketState,
}

/// The stored events of `events`, decided on `before`, and the state after them.
pub fn encode_batch(before: &TicketState, events: &[TicketEvent], context: &Context<'_>) -> Batch {
    let mut state = before.clone();
    let mut encoded = Vec::with_capacity(events.len());
    for event in events {
        state = evolve(state, event);
        let Some(ticket) = state.ticket.as_ref() else {
            continue;
        };
        let mut extra = Enrichment {
            source_event_id: context.source_event_id.clone(),
            ..Enrichment::default()
        };
        match event {
            TicketEvent::PromiseAtRisk { risk, .. } => {
                extra.trigger = context
                    .case
                    .map_or(pb::RiskTrigger::ProjectionLate, |case| {
                        case.trigger(risk.root_cause.request_id)
                    });
            }
            TicketEvent::PromiseRiskCleared { .. } => {
                extra.projected_completion =
                    context.case.and_then(TicketCase::projected_completion);
            }
            TicketEvent::PromiseMade { .. } => {
                extra.feasibility = context.case.and_then(TicketCase::feasibility);
            }
            TicketEvent::CustomerNotified { .. } => {
                if let Some((message, remedy)) = &context.notice {
                    extra.notice_message = message.clone();
                    extra.remedy = Some(remedy.clone());
                }
            }
            TicketEvent::CustomerResponded { .. } => extra.note = context.note.clone(),
            _ => {}
        }
        encoded.push(encode_ticket(event, ticket, &extra));
    }
    Batch {
        events: encoded,
        state,
    }
}

/// The events that bring the ticket up to date with its case tree: `ObserveChain` for every
/// request serving it whose outlook is newer than, and different from, the one it knows.
/// Returns them with the state after them.
pub fn observe_chain(
    state: &TicketState,
    case: &TicketCase,
    standing: CustomerStanding,
    now: DateTime<Utc>,
) -> Result<(Vec<TicketEvent>, TicketState), DomainError> {
    let mut state = state.clone();
    let mut events = Vec::new();
    for outlook in case.outlooks() {
        let Some(ticket) = state.ticket.as_ref() else {
            break;
        };
        let known = ticket.chain.get(&outlook.child.request_id);
        // An unchanged condition needs no event: the ticket would assess the same risk.
        if known.is_some_and(|k| k.version >= outlook.version || k.condition == outlook.condition) {
            continue;
        }
        let command = TicketCommand::ObserveChain { outlook, standing };
        let new = decide(&command, &state, now)?;
        state = new.iter().fold(state, evolve);
        events.extend(new);
    }
    Ok((events, state))
}
