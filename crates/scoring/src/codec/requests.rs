//! The requests service's events scoring reads: link declarations and the life of each
//! internal request (opened, committed, revised, fulfilled, breached, cancelled,
//! breakdowns). Propagation and risk events (`RequestChildObserved`, `RequestAtRisk`,
//! `RequestRiskCleared`) and team events are ignored: the impact ledger takes risk from the
//! tickets service, which already traced it to the customer.

use chain_domain::commitment::CommitmentKind;
use chain_domain::request::{BreakdownKind, Parent};
use chain_proto::customerchain::v1 as pb;
use prost::Name;

use super::{CodecError, Fact, LedgerFacts, Payload, id, invalid, span, time};

pub(super) fn decode(payload: &Payload<'_>) -> Result<Fact, CodecError> {
    if payload.is::<pb::LinkDeclared>() {
        type M = pb::LinkDeclared;
        let m: M = payload.message()?;
        return Ok(Fact::LinkDeclared {
            link: chain_domain::link::LinkKey {
                provider: id::<M, _>("provider_team_id", &m.provider_team_id)?,
                consumer: id::<M, _>("consumer_team_id", &m.consumer_team_id)?,
            },
        });
    }
    if payload.is::<pb::RequestOpened>() {
        type M = pb::RequestOpened;
        let m: M = payload.message()?;
        let parent = match &m.parent {
            None => None,
            Some(pb::request_opened::Parent::ParentRequestId(r)) => {
                Some(Parent::Request(id::<M, _>("parent_request_id", r)?))
            }
            Some(pb::request_opened::Parent::ParentTicketId(t)) => {
                Some(Parent::Ticket(id::<M, _>("parent_ticket_id", t)?))
            }
        };
        let case = uuid::Uuid::parse_str(&m.case_id)
            .map_err(|e| invalid::<M>("case_id", e.to_string()))?;
        return Ok(Fact::RequestOpened {
            request: id::<M, _>("request_id", &m.request_id)?,
            case,
            consumer: id::<M, _>("consumer_team_id", &m.consumer_team_id)?,
            provider: id::<M, _>("provider_team_id", &m.provider_team_id)?,
            needed_by: time::<M>("needed_by", m.needed_by.as_ref())?,
            parent,
        });
    }
    if payload.is::<pb::RequestCommitted>() {
        type M = pb::RequestCommitted;
        let m: M = payload.message()?;
        let kind = match m.kind() {
            pb::CommitmentKind::OrganisationalCommitment => {
                CommitmentKind::OrganisationalCommitment
            }
            pb::CommitmentKind::GeneralExpectation => CommitmentKind::GeneralExpectation,
            pb::CommitmentKind::PersonalPromise => CommitmentKind::PersonalPromise,
            pb::CommitmentKind::Unspecified => return Err(invalid::<M>("kind", "unspecified")),
        };
        return Ok(Fact::RequestCommitted {
            request: id::<M, _>("request_id", &m.request_id)?,
            due_at: time::<M>("due_at", m.due_at.as_ref())?,
            kind,
        });
    }
    if payload.is::<pb::RequestRevised>() {
        type M = pb::RequestRevised;
        let m: M = payload.message()?;
        return Ok(Fact::RequestRevised {
            request: id::<M, _>("request_id", &m.request_id)?,
            previous_due: time::<M>("previous_due_at", m.previous_due_at.as_ref())?,
            new_due: time::<M>("new_due_at", m.new_due_at.as_ref())?,
            proactive: m.proactive,
        });
    }
    if payload.is::<pb::RequestFulfilled>() {
        type M = pb::RequestFulfilled;
        let m: M = payload.message()?;
        return Ok(Fact::RequestFulfilled {
            request: id::<M, _>("request_id", &m.request_id)?,
            on_time: m.on_time,
            ledger: ledger::<M>(m.time_ledger.as_ref())?,
        });
    }
    if payload.is::<pb::RequestBreached>() {
        type M = pb::RequestBreached;
        let m: M = payload.message()?;
        return Ok(Fact::RequestBreached {
            request: id::<M, _>("request_id", &m.request_id)?,
            ledger: ledger::<M>(m.time_ledger.as_ref())?,
        });
    }
    if payload.is::<pb::RequestCancelled>() {
        type M = pb::RequestCancelled;
        let m: M = payload.message()?;
        return Ok(Fact::RequestCancelled {
            request: id::<M, _>("request_id", &m.request_id)?,
            ledger: ledger::<M>(m.time_ledger.as_ref())?,
        });
    }
    if payload.is::<pb::BreakdownReported>() {
        type M = pb::BreakdownReported;
        let m: M = payload.message()?;
        let kind = match m.kind() {
            pb::BreakdownKind::NotUsable => BreakdownKind::NotUsable,
            pb::BreakdownKind::NotServedWell => BreakdownKind::NotServedWell,
            pb::BreakdownKind::Unspecified => return Err(invalid::<M>("kind", "unspecified")),
        };
        return Ok(Fact::BreakdownReported {
            request: id::<M, _>("request_id", &m.request_id)?,
            kind,
        });
    }
    if payload.is::<pb::RequestBreakdownResolved>() {
        type M = pb::RequestBreakdownResolved;
        let m: M = payload.message()?;
        return Ok(Fact::BreakdownResolved {
            request: id::<M, _>("request_id", &m.request_id)?,
        });
    }
    Ok(Fact::Ignored)
}

fn ledger<M: Name>(ledger: Option<&pb::TimeLedger>) -> Result<Option<LedgerFacts>, CodecError> {
    let Some(ledger) = ledger else {
        return Ok(None);
    };
    let ms = |field, value| -> Result<i64, CodecError> {
        Ok(span::<M>(field, value)?.map_or(0, |t| t.num_milliseconds().max(0)))
    };
    Ok(Some(LedgerFacts {
        late_by_ms: ms("time_ledger.late_by", ledger.late_by.as_ref())?,
        own_delay_ms: ms("time_ledger.own_delay", ledger.own_delay.as_ref())?,
    }))
}
