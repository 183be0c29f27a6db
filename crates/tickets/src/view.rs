//! The API's resources (`Customer`, `Ticket`) built from folded domain state, the extras the
//! stored events carry, and what is read at query time: a customer's tier and value now, and
//! the chain's projection behind a ticket.

use chain_domain::customer::CustomerStanding;
use chain_domain::ticket::{Ticket, TicketStatus};
use chain_proto::customerchain::v1 as pb;

use crate::chain_view::ChainSummary;
use crate::codec::{
    TicketExtras, cause_link, cause_path, commitment_kind, money, outcome, span, tier, ts,
};
use crate::tiers::{CustomerRow, Details};

/// A customer as the API shows it.
pub fn customer(row: &CustomerRow, details: &Details, value_rank: u32) -> pb::Customer {
    pb::Customer {
        customer_id: row.customer_id.to_string(),
        display_name: details.display_name.clone(),
        email: details.email.clone(),
        value: Some(money(row.value)),
        tier: row.tier.map_or(pb::CustomerTier::Unspecified, tier).into(),
        value_rank,
        registered_at: ts(row.registered_at),
        version: row.version,
    }
}

/// Where a ticket is on the wire: at risk is a promised ticket whose promise is at risk.
pub fn ticket_state(ticket: &Ticket) -> pb::TicketState {
    match ticket.status {
        TicketStatus::Opened => pb::TicketState::Open,
        TicketStatus::Promised if ticket.risk.is_some() => pb::TicketState::AtRisk,
        TicketStatus::Promised => pb::TicketState::Promised,
        TicketStatus::Broken { .. } => pb::TicketState::Broken,
        TicketStatus::Resolved { .. } => pb::TicketState::Resolved,
    }
}

/// A ticket as the API shows it, at stream version `version`. `standing` is the customer's
/// tier and value now (the ticket's last recorded one when `None`); `chain` what the chain
/// behind it is projected to do (unset when no request serves it).
pub fn ticket(
    ticket: &Ticket,
    version: u64,
    extras: &TicketExtras,
    standing: Option<CustomerStanding>,
    chain: Option<&ChainSummary>,
) -> pb::Ticket {
    let standing = standing.unwrap_or(ticket.standing);
    let promise_history = promise_history(ticket, extras);
    let notices = ticket
        .notices
        .iter()
        .enumerate()
        .map(|(index, notice)| {
            let (message, remedy) = extras.notices.get(index).cloned().unwrap_or_default();
            let mut remedy = remedy;
            remedy.set_kind(crate::codec::remedy_kind(notice.remedy));
            let number = 1 + ticket
                .renegotiations
                .iter()
                .filter(|r| r.at <= notice.at)
                .count();
            pb::Notice {
                promise_number: u32::try_from(number).unwrap_or(u32::MAX),
                notified_at: ts(notice.at),
                new_expected_at: ts(notice.new_expected_at),
                remedy: Some(remedy),
                before_due: notice.before_due,
                message,
                response: match notice.response {
                    None => pb::NoticeResponse::Unspecified,
                    Some(r) if r.accepted => pb::NoticeResponse::Accepted,
                    Some(_) => pb::NoticeResponse::Declined,
                }
                .into(),
                responded_at: notice.response.and_then(|r| ts(r.at)),
                response_note: extras
                    .notes
                    .iter()
                    .rev()
                    .find(|(i, _)| *i == index)
                    .map(|(_, note)| note.clone())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let risk = match (&ticket.status, &ticket.risk) {
        (TicketStatus::Promised, Some(risk)) => Some(pb::PromiseRisk {
            root_cause: Some(cause_link(risk.root_cause)),
            path: Some(cause_path(&risk.cause_path)),
            projected_completion: risk.projected_completion.and_then(ts),
            projected_delay: risk.projected_delay.and_then(span),
            trigger: extras.trigger.into(),
            since: ticket.at_risk_since.and_then(ts),
        }),
        (
            TicketStatus::Broken {
                cause_path: path, ..
            },
            _,
        ) if !path.is_empty() => Some(pb::PromiseRisk {
            root_cause: path.first().copied().map(cause_link),
            path: Some(cause_path(path)),
            projected_completion: None,
            projected_delay: None,
            trigger: extras.trigger.into(),
            since: None,
        }),
        _ => None,
    };
    let (outcome_value, resolved_at) = match &ticket.status {
        TicketStatus::Resolved { outcome: how, at } => (outcome(*how), ts(*at)),
        _ => (pb::PromiseOutcome::Unspecified, None),
    };
    pb::Ticket {
        ticket_id: ticket.id.to_string(),
        customer_id: ticket.customer_id.to_string(),
        subject: ticket.subject.clone(),
        front_line_team_id: ticket.front_line.to_string(),
        state: ticket_state(ticket).into(),
        promise: promise_history.last().cloned(),
        promise_history,
        risk,
        notices,
        outcome: outcome_value.into(),
        tier: tier(standing.tier).into(),
        value_at_stake: Some(money(standing.value)),
        chain_projected_completion: chain.and_then(|c| c.projected_completion).and_then(ts),
        critical_link: chain.and_then(|c| c.critical_link).map(cause_link),
        opened_at: ts(ticket.opened_at),
        resolved_at,
        version,
    }
}

/// Every promise made on the ticket, oldest first: the first one, then one per accepted
/// renegotiation.
fn promise_history(ticket: &Ticket, extras: &TicketExtras) -> Vec<pb::Promise> {
    let Some(promise) = &ticket.promise else {
        return Vec::new();
    };
    let count = 1 + ticket.renegotiations.len();
    let first = pb::Promise {
        promise_number: 1,
        due_at: ts(promise.original_due),
        kind: commitment_kind(promise.kind).into(),
        wording: promise.wording.clone(),
        made_at: ts(promise.made_at),
        risk_acknowledged: ticket.risk_acknowledged.is_some(),
        earliest_feasible_at: extras.earliest_feasible_at,
        superseded: count > 1,
    };
    std::iter::once(first)
        .chain(ticket.renegotiations.iter().enumerate().map(|(i, r)| {
            let number = i + 2;
            pb::Promise {
                promise_number: u32::try_from(number).unwrap_or(u32::MAX),
                due_at: ts(r.new_due),
                kind: commitment_kind(promise.kind).into(),
                wording: promise.wording.clone(),
                made_at: ts(r.at),
                risk_acknowledged: false,
                earliest_feasible_at: None,
                superseded: number < count,
            }
        }))
        .collect()
}
