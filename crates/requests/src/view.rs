//! The API's resources (`Team`, `Link`, `InternalRequest`, `TimeLedger`) built from folded
//! domain state: what every RPC returns and what the read model stores.

use chain_domain::ledger::Ledger;
use chain_domain::link::Link;
use chain_domain::request::{Parent, Request, RequestStatus};
use chain_domain::team::Team;
use chain_proto::customerchain::v1 as pb;
use chrono::TimeDelta;

use crate::codec::{breakdown_kind, commitment_kind, path_to, span, ts};
use crate::streams::link_id;

/// A team as the API shows it.
pub fn team(team: &Team, version: u64) -> pb::Team {
    pb::Team {
        team_id: team.id.to_string(),
        name: team.name.clone(),
        front_line: team.front_line,
        created_at: ts(team.created_at),
        version,
    }
}

/// A link as the API shows it.
pub fn link(link: &Link, version: u64) -> pb::Link {
    pb::Link {
        link_id: link_id(&link.key).to_string(),
        provider_team_id: link.key.provider.to_string(),
        consumer_team_id: link.key.consumer.to_string(),
        ola: span(link.ola),
        declared_at: ts(link.declared_at),
        version,
    }
}

/// The lifecycle state of a request on the wire (`REVISED` is a committed request whose due
/// time moved at least once).
pub fn request_state(request: &Request) -> pb::RequestState {
    match request.status {
        RequestStatus::Opened => pb::RequestState::Opened,
        RequestStatus::Committed if request.revisions.is_empty() => pb::RequestState::Committed,
        RequestStatus::Committed => pb::RequestState::Revised,
        RequestStatus::Fulfilled { .. } => pb::RequestState::Fulfilled,
        RequestStatus::Breached { .. } => pb::RequestState::Breached,
        RequestStatus::Cancelled { .. } => pb::RequestState::Cancelled,
    }
}

/// A request as the API shows it, at stream version `version`, with the trigger of its
/// latest risk and its time ledger (when known).
pub fn request(
    request: &Request,
    version: u64,
    trigger: Option<pb::RiskTrigger>,
    ledger: Option<&Ledger>,
) -> pb::InternalRequest {
    let mut view = pb::InternalRequest {
        request_id: request.id.to_string(),
        consumer_team_id: request.consumer.to_string(),
        provider_team_id: request.provider.to_string(),
        title: request.title.clone(),
        needed_by: ts(request.needed_by),
        parent: request.parent.map(|p| match p {
            Parent::Request(r) => pb::internal_request::Parent::ParentRequestId(r.to_string()),
            Parent::Ticket(t) => pb::internal_request::Parent::ParentTicketId(t.to_string()),
        }),
        case_id: request.case_id.as_uuid().to_string(),
        root_ticket_id: request
            .case_id
            .ticket()
            .map(|t| t.to_string())
            .unwrap_or_default(),
        state: request_state(request).into(),
        commitment: request.commitment.map(|c| pb::Commitment {
            due_at: ts(c.due_at),
            kind: commitment_kind(c.kind).into(),
            committed_at: ts(c.committed_at),
            original_due_at: ts(request
                .revisions
                .first()
                .map_or(c.due_at, |r| r.previous_due)),
        }),
        revisions: request
            .revisions
            .iter()
            .map(|r| pb::Revision {
                revised_at: ts(r.at),
                previous_due_at: ts(r.previous_due),
                new_due_at: ts(r.new_due),
                reason: r.reason.clone(),
                proactive: r.proactive,
            })
            .collect(),
        breakdowns: request
            .breakdowns
            .iter()
            .map(|b| pb::Breakdown {
                reported_at: ts(b.reported_at),
                kind: breakdown_kind(b.kind).into(),
                reason: b.reason.clone(),
                resolved_at: b.resolved_at.and_then(ts),
            })
            .collect(),
        projected_completion: request.projected_completion().and_then(ts),
        at_risk: request.is_at_risk(),
        risk: None,
        child_request_ids: request.children.keys().map(ToString::to_string).collect(),
        time_ledger: ledger.map(time_ledger),
        opened_at: ts(request.opened_at),
        closed_at: request.status.closed_at().and_then(ts),
        version,
    };
    if let Some(risk) = request.risk.as_ref().filter(|_| request.is_open()) {
        view.risk = Some(pb::Risk {
            cause_path: Some(path_to(&risk.cause_path, request.link())),
            projected_delay: risk.projected_delay.and_then(span),
            trigger: trigger.unwrap_or(pb::RiskTrigger::ProjectionLate).into(),
            since: request.at_risk_since.and_then(ts),
        });
    }
    view
}

/// A time ledger on the wire.
pub fn time_ledger(ledger: &Ledger) -> pb::TimeLedger {
    let own_delay = ledger.delay.as_ref().map(|delay| {
        delay
            .charges
            .iter()
            .filter(|c| c.link == ledger.request)
            .map(|c| c.time)
            .fold(TimeDelta::zero(), |sum, t| sum + t)
    });
    pb::TimeLedger {
        waiting_for_commitment: span(ledger.awaiting_commitment),
        in_progress: span(ledger.in_progress),
        waiting_on_children: span(ledger.waiting_on_children),
        handoff: span(ledger.hand_off),
        late_by: ledger.delay.as_ref().and_then(|d| span(d.late_by)),
        own_delay: own_delay.and_then(span),
    }
}
