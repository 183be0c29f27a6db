//! Request events: one proto message per domain event (`RequestOpened` … `RequestRiskCleared`,
//! `BreakdownReported`, `RequestBreakdownResolved`, `RequestChildObserved`).

use chain_domain::commitment::{Commitment, CommitmentKind};
use chain_domain::ids::{CaseId, RequestId};
use chain_domain::link::RequestLink;
use chain_domain::request::{
    BreakdownKind, ChildCondition, ChildOutlook, Parent, Request, RequestEvent, Risk,
};
use chain_proto::customerchain::v1 as pb;
use chain_store::NewEvent;
use chrono::{DateTime, Utc};
use prost::Name;

use super::{
    CodecError, StoredEvent, id_of, invalid, new_event, optional_time_of, span, span_of, time_of,
    ts,
};
use crate::streams::link_id;

/// Facts the proto events carry beyond the domain event, worked out by the service when it
/// records the events (they need other streams or the clock).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enrichment {
    /// Where the request's time went, for the terminal events (fulfilled, breached,
    /// cancelled).
    pub time_ledger: Option<pb::TimeLedger>,
    /// The parent request's due time at the moment of a commitment.
    pub parent_due_at: Option<DateTime<Utc>>,
    /// What happened at the root cause, for `RequestAtRisk`.
    pub trigger: pb::RiskTrigger,
}

/// The stored event of `event`; `request` is the request as it is *after* the event.
pub fn encode_request(event: &RequestEvent, request: &Request, extra: &Enrichment) -> NewEvent {
    let id = |request_id: &RequestId| request_id.to_string();
    let root_ticket = || {
        request
            .case_id
            .ticket()
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    match event {
        RequestEvent::Opened {
            request_id,
            case_id,
            consumer,
            provider,
            title,
            needed_by,
            parent,
            at,
        } => new_event(
            &pb::RequestOpened {
                request_id: id(request_id),
                consumer_team_id: consumer.to_string(),
                provider_team_id: provider.to_string(),
                title: title.clone(),
                needed_by: ts(*needed_by),
                parent: parent.map(|p| match p {
                    Parent::Request(r) => {
                        pb::request_opened::Parent::ParentRequestId(r.to_string())
                    }
                    Parent::Ticket(t) => pb::request_opened::Parent::ParentTicketId(t.to_string()),
                }),
                case_id: case_id.as_uuid().to_string(),
                root_ticket_id: case_id.ticket().map(|t| t.to_string()).unwrap_or_default(),
                link_id: link_id(&request.link().key()).to_string(),
            },
            *at,
        ),
        RequestEvent::Committed {
            request_id,
            commitment,
            ..
        } => new_event(
            &pb::RequestCommitted {
                request_id: id(request_id),
                due_at: ts(commitment.due_at),
                kind: commitment_kind(commitment.kind).into(),
                parent_due_at: extra.parent_due_at.and_then(ts),
                root_ticket_id: root_ticket(),
            },
            commitment.committed_at,
        ),
        RequestEvent::Revised {
            request_id,
            previous_due,
            new_due,
            reason,
            proactive,
            at,
            ..
        } => new_event(
            &pb::RequestRevised {
                request_id: id(request_id),
                previous_due_at: ts(*previous_due),
                new_due_at: ts(*new_due),
                reason: reason.clone(),
                proactive: *proactive,
                root_ticket_id: root_ticket(),
            },
            *at,
        ),
        RequestEvent::Fulfilled {
            request_id,
            due_at,
            on_time,
            at,
            ..
        } => new_event(
            &pb::RequestFulfilled {
                request_id: id(request_id),
                due_at: ts(*due_at),
                on_time: *on_time,
                time_ledger: extra.time_ledger,
                root_ticket_id: root_ticket(),
            },
            *at,
        ),
        RequestEvent::Cancelled {
            request_id,
            reason,
            at,
            ..
        } => new_event(
            &pb::RequestCancelled {
                request_id: id(request_id),
                reason: reason.clone(),
                time_ledger: extra.time_ledger,
                root_ticket_id: root_ticket(),
            },
            *at,
        ),
        RequestEvent::Breached {
            request_id,
            due_at,
            committed,
            cause_path,
            at,
            ..
        } => new_event(
            &pb::RequestBreached {
                request_id: id(request_id),
                due_at: ts(*due_at),
                time_ledger: extra.time_ledger,
                committed: *committed,
                cause_path: Some(path_to(cause_path, request.link())),
                root_ticket_id: root_ticket(),
            },
            *at,
        ),
        RequestEvent::BreakdownReported {
            request_id,
            kind,
            reason,
            at,
            ..
        } => new_event(
            &pb::BreakdownReported {
                request_id: id(request_id),
                kind: breakdown_kind(*kind).into(),
                reason: reason.clone(),
                root_ticket_id: root_ticket(),
            },
            *at,
        ),
        RequestEvent::BreakdownResolved { request_id, at, .. } => new_event(
            &pb::RequestBreakdownResolved {
                request_id: id(request_id),
                root_ticket_id: root_ticket(),
            },
            *at,
        ),
        RequestEvent::ChildObserved {
            request_id,
            outlook,
            at,
        } => new_event(
            &pb::RequestChildObserved {
                request_id: id(request_id),
                outlook: Some(outlook_to_proto(outlook)),
                root_ticket_id: root_ticket(),
            },
            *at,
        ),
        RequestEvent::AtRisk {
            request_id,
            risk,
            at,
            ..
        } => new_event(
            &pb::RequestAtRisk {
                request_id: id(request_id),
                cause_path: Some(path_to(&risk.cause_path, request.link())),
                projected_completion: risk.projected_completion.and_then(ts),
                projected_delay: risk.projected_delay.and_then(span),
                due_at: ts(request.expected_by()),
                root_ticket_id: root_ticket(),
                trigger: extra.trigger.into(),
            },
            *at,
        ),
        RequestEvent::RiskCleared {
            request_id,
            projected_completion,
            at,
            ..
        } => new_event(
            &pb::RequestRiskCleared {
                request_id: id(request_id),
                projected_completion: ts(*projected_completion),
                root_ticket_id: root_ticket(),
            },
            *at,
        ),
    }
}

/// Decodes a request stream event by event, oldest first, filling in what the domain events
/// repeat from `RequestOpened` (the parent).
#[derive(Debug, Clone, Default)]
pub struct RequestStreamDecoder {
    /// The parent named by `RequestOpened`, once decoded.
    parent: Option<Option<Parent>>,
    /// The trigger of the latest `RequestAtRisk`.
    trigger: Option<pb::RiskTrigger>,
}

impl RequestStreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The trigger of the latest `RequestAtRisk` decoded (the domain keeps no trigger).
    pub fn last_trigger(&self) -> Option<pb::RiskTrigger> {
        self.trigger
    }

    /// The next event of the stream.
    pub fn decode(&mut self, stored: StoredEvent<'_>) -> Result<RequestEvent, CodecError> {
        let at = stored.occurred_at;
        if stored.is::<pb::RequestOpened>() {
            let m: pb::RequestOpened = stored.message()?;
            let event = opened(m, at)?;
            if let RequestEvent::Opened { parent, .. } = &event {
                self.parent = Some(*parent);
            }
            return Ok(event);
        }
        let parent = self
            .parent
            .ok_or_else(|| CodecError::BeforeOpened(stored.event_type.to_owned()))?;
        if stored.is::<pb::RequestCommitted>() {
            type M = pb::RequestCommitted;
            let m: M = stored.message()?;
            let kind = match m.kind() {
                pb::CommitmentKind::OrganisationalCommitment => {
                    CommitmentKind::OrganisationalCommitment
                }
                pb::CommitmentKind::GeneralExpectation => CommitmentKind::GeneralExpectation,
                pb::CommitmentKind::PersonalPromise => CommitmentKind::PersonalPromise,
                pb::CommitmentKind::Unspecified => return Err(invalid::<M>("kind", "unspecified")),
            };
            return Ok(RequestEvent::Committed {
                request_id: request_id::<M>(&m.request_id)?,
                parent,
                commitment: Commitment {
                    due_at: time_of::<M>("due_at", m.due_at.as_ref())?,
                    kind,
                    committed_at: at,
                },
            });
        }
        if stored.is::<pb::RequestRevised>() {
            type M = pb::RequestRevised;
            let m: M = stored.message()?;
            return Ok(RequestEvent::Revised {
                request_id: request_id::<M>(&m.request_id)?,
                parent,
                previous_due: time_of::<M>("previous_due_at", m.previous_due_at.as_ref())?,
                new_due: time_of::<M>("new_due_at", m.new_due_at.as_ref())?,
                reason: m.reason,
                proactive: m.proactive,
                at,
            });
        }
        if stored.is::<pb::RequestFulfilled>() {
            type M = pb::RequestFulfilled;
            let m: M = stored.message()?;
            return Ok(RequestEvent::Fulfilled {
                request_id: request_id::<M>(&m.request_id)?,
                parent,
                due_at: time_of::<M>("due_at", m.due_at.as_ref())?,
                on_time: m.on_time,
                at,
            });
        }
        if stored.is::<pb::RequestCancelled>() {
            type M = pb::RequestCancelled;
            let m: M = stored.message()?;
            return Ok(RequestEvent::Cancelled {
                request_id: request_id::<M>(&m.request_id)?,
                parent,
                reason: m.reason,
                at,
            });
        }
        if stored.is::<pb::RequestBreached>() {
            type M = pb::RequestBreached;
            let m: M = stored.message()?;
            return Ok(RequestEvent::Breached {
                request_id: request_id::<M>(&m.request_id)?,
                parent,
                due_at: time_of::<M>("due_at", m.due_at.as_ref())?,
                committed: m.committed,
                cause_path: path_from::<M>(m.cause_path.as_ref())?,
                at,
            });
        }
        if stored.is::<pb::BreakdownReported>() {
            type M = pb::BreakdownReported;
            let m: M = stored.message()?;
            return Ok(RequestEvent::BreakdownReported {
                request_id: request_id::<M>(&m.request_id)?,
                parent,
                kind: breakdown_kind_from::<M>("kind", m.kind())?,
                reason: m.reason,
                at,
            });
        }
        if stored.is::<pb::RequestBreakdownResolved>() {
            type M = pb::RequestBreakdownResolved;
            let m: M = stored.message()?;
            return Ok(RequestEvent::BreakdownResolved {
                request_id: request_id::<M>(&m.request_id)?,
                parent,
                at,
            });
        }
        if stored.is::<pb::RequestChildObserved>() {
            type M = pb::RequestChildObserved;
            let m: M = stored.message()?;
            let outlook = m
                .outlook
                .as_ref()
                .ok_or_else(|| invalid::<M>("outlook", "missing"))?;
            return Ok(RequestEvent::ChildObserved {
                request_id: request_id::<M>(&m.request_id)?,
                outlook: outlook_from_proto::<M>(outlook)?,
                at,
            });
        }
        if stored.is::<pb::RequestAtRisk>() {
            type M = pb::RequestAtRisk;
            let m: M = stored.message()?;
            self.trigger = Some(m.trigger());
            return Ok(RequestEvent::AtRisk {
                request_id: request_id::<M>(&m.request_id)?,
                parent,
                risk: Risk {
                    cause_path: path_from::<M>(m.cause_path.as_ref())?,
                    projected_completion: optional_time_of::<M>(
                        "projected_completion",
                        m.projected_completion.as_ref(),
                    )?,
                    projected_delay: m
                        .projected_delay
                        .as_ref()
                        .map(|d| span_of::<M>("projected_delay", Some(d)))
                        .transpose()?,
                },
                at,
            });
        }
        if stored.is::<pb::RequestRiskCleared>() {
            type M = pb::RequestRiskCleared;
            let m: M = stored.message()?;
            return Ok(RequestEvent::RiskCleared {
                request_id: request_id::<M>(&m.request_id)?,
                parent,
                projected_completion: time_of::<M>(
                    "projected_completion",
                    m.projected_completion.as_ref(),
                )?,
                at,
            });
        }
        Err(CodecError::UnknownType(stored.event_type.to_owned()))
    }
}

fn opened(m: pb::RequestOpened, at: DateTime<Utc>) -> Result<RequestEvent, CodecError> {
    type M = pb::RequestOpened;
    let request_id: RequestId = request_id::<M>(&m.request_id)?;
    let parent = match &m.parent {
        None => None,
        Some(pb::request_opened::Parent::ParentRequestId(r)) => {
            Some(Parent::Request(id_of::<M, _>("parent_request_id", r)?))
        }
        Some(pb::request_opened::Parent::ParentTicketId(t)) => {
            Some(Parent::Ticket(id_of::<M, _>("parent_ticket_id", t)?))
        }
    };
    let case_id = if m.root_ticket_id.is_empty() {
        CaseId::Request(id_of::<M, _>("case_id", &m.case_id)?)
    } else {
        CaseId::Ticket(id_of::<M, _>("root_ticket_id", &m.root_ticket_id)?)
    };
    Ok(RequestEvent::Opened {
        request_id,
        case_id,
        consumer: id_of::<M, _>("consumer_team_id", &m.consumer_team_id)?,
        provider: id_of::<M, _>("provider_team_id", &m.provider_team_id)?,
        title: m.title,
        needed_by: time_of::<M>("needed_by", m.needed_by.as_ref())?,
        parent,
        at,
    })
}

fn request_id<M: Name>(value: &str) -> Result<RequestId, CodecError> {
    id_of::<M, _>("request_id", value)
}

/// The proto kind of a commitment.
pub(crate) fn commitment_kind(kind: CommitmentKind) -> pb::CommitmentKind {
    match kind {
        CommitmentKind::OrganisationalCommitment => pb::CommitmentKind::OrganisationalCommitment,
        CommitmentKind::GeneralExpectation => pb::CommitmentKind::GeneralExpectation,
        CommitmentKind::PersonalPromise => pb::CommitmentKind::PersonalPromise,
    }
}

/// The proto kind of a breakdown.
pub(crate) fn breakdown_kind(kind: BreakdownKind) -> pb::BreakdownKind {
    match kind {
        BreakdownKind::NotUsable => pb::BreakdownKind::NotUsable,
        BreakdownKind::NotServedWell => pb::BreakdownKind::NotServedWell,
    }
}

fn breakdown_kind_from<M: Name>(
    field: &'static str,
    kind: pb::BreakdownKind,
) -> Result<BreakdownKind, CodecError> {
    match kind {
        pb::BreakdownKind::NotUsable => Ok(BreakdownKind::NotUsable),
        pb::BreakdownKind::NotServedWell => Ok(BreakdownKind::NotServedWell),
        pb::BreakdownKind::Unspecified => Err(invalid::<M>(field, "unspecified")),
    }
}

/// One hop of a cause path on the wire.
pub(crate) fn cause_link(link: RequestLink) -> pb::CauseLink {
    pb::CauseLink {
        provider_team_id: link.provider.to_string(),
        consumer_team_id: link.consumer.to_string(),
        request_id: link.request_id.to_string(),
    }
}

/// A domain cause path (which leaves out the request it belongs to) on the wire, ending with
/// `this`, the request it was computed for.
pub(crate) fn path_to(path: &[RequestLink], this: RequestLink) -> pb::CausePath {
    pb::CausePath {
        links: path
            .iter()
            .copied()
            .chain(std::iter::once(this))
            .map(cause_link)
            .collect(),
    }
}

fn link_from<M: Name>(link: &pb::CauseLink) -> Result<RequestLink, CodecError> {
    Ok(RequestLink {
        request_id: id_of::<M, _>("cause_path.request_id", &link.request_id)?,
        provider: id_of::<M, _>("cause_path.provider_team_id", &link.provider_team_id)?,
        consumer: id_of::<M, _>("cause_path.consumer_team_id", &link.consumer_team_id)?,
    })
}

/// A wire cause path back into the domain's form: without its last link.
fn path_from<M: Name>(path: Option<&pb::CausePath>) -> Result<Vec<RequestLink>, CodecError> {
    let links = path.map_or(&[][..], |p| p.links.as_slice());
    let Some((_, before_last)) = links.split_last() else {
        return Ok(Vec::new());
    };
    before_last.iter().map(link_from::<M>).collect()
}

/// A child's outlook on the wire (`customerchain.v1.ChildOutlook`), as a parent request records
/// it and as a ticket records a request serving it.
pub fn outlook_to_proto(outlook: &ChildOutlook) -> pb::ChildOutlook {
    let mut message = pb::ChildOutlook {
        child: Some(cause_link(outlook.child)),
        child_version: outlook.version,
        cause_path: Some(path_to(outlook.condition.cause_path(), outlook.child)),
        ..pb::ChildOutlook::default()
    };
    let condition = match &outlook.condition {
        ChildCondition::AwaitingCommitment => pb::ChildCondition::AwaitingCommitment,
        ChildCondition::Projected { completion, .. } => {
            message.projected_completion = ts(*completion);
            pb::ChildCondition::Projected
        }
        ChildCondition::Unprojectable { .. } => pb::ChildCondition::Unprojectable,
        ChildCondition::Breached { at, .. } => {
            message.at = ts(*at);
            pb::ChildCondition::Breached
        }
        ChildCondition::BrokenDown { kind, .. } => {
            message.set_breakdown_kind(breakdown_kind(*kind));
            pb::ChildCondition::BrokenDown
        }
        ChildCondition::Fulfilled { at } => {
            message.at = ts(*at);
            pb::ChildCondition::Fulfilled
        }
        ChildCondition::Cancelled { at } => {
            message.at = ts(*at);
            pb::ChildCondition::Cancelled
        }
    };
    message.set_condition(condition);
    message
}

/// A child's outlook carried in payload `M`, back in the domain.
pub fn outlook_from_proto<M: Name>(outlook: &pb::ChildOutlook) -> Result<ChildOutlook, CodecError> {
    let child = outlook
        .child
        .as_ref()
        .ok_or_else(|| invalid::<M>("outlook.child", "missing"))?;
    let cause_path = path_from::<M>(outlook.cause_path.as_ref())?;
    let at = || time_of::<M>("outlook.at", outlook.at.as_ref());
    let condition = match outlook.condition() {
        pb::ChildCondition::Unspecified => {
            return Err(invalid::<M>("outlook.condition", "unspecified"));
        }
        pb::ChildCondition::AwaitingCommitment => ChildCondition::AwaitingCommitment,
        pb::ChildCondition::Projected => ChildCondition::Projected {
            completion: time_of::<M>(
                "outlook.projected_completion",
                outlook.projected_completion.as_ref(),
            )?,
            cause_path,
        },
        pb::ChildCondition::Unprojectable => ChildCondition::Unprojectable { cause_path },
        pb::ChildCondition::Breached => ChildCondition::Breached {
            at: at()?,
            cause_path,
        },
        pb::ChildCondition::BrokenDown => ChildCondition::BrokenDown {
            kind: breakdown_kind_from::<M>("outlook.breakdown_kind", outlook.breakdown_kind())?,
            cause_path,
        },
        pb::ChildCondition::Fulfilled => ChildCondition::Fulfilled { at: at()? },
        pb::ChildCondition::Cancelled => ChildCondition::Cancelled { at: at()? },
    };
    Ok(ChildOutlook {
        child: link_from::<M>(child)?,
        version: outlook.child_version,
        condition,
    })
}
