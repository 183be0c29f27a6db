//! Ticket events: one proto message per domain event (`TicketOpened`, `TicketChainObserved`,
//! `PromiseMade` … `TicketResolved`).

use chain_domain::case::Feasibility;
use chain_domain::customer::CustomerStanding;
use chain_domain::ticket::{PromiseRisk, RiskAcknowledgement, Ticket, TicketEvent};
use chain_proto::customerchain::v1 as pb;
use chain_store::NewEvent;
use chrono::{DateTime, Utc};
use prost::Name;

use super::{
    CodecError, StoredEvent, cause_link, cause_path, commitment_kind, commitment_kind_from, id_of,
    invalid, link_from, money, money_of, new_event, optional_span_of, optional_time_of, outcome,
    outcome_from, path_of, remedy_from, remedy_kind, span, tier, tier_from, time_of, ts,
};
use chain_requests::codec::{outlook_from_proto, outlook_to_proto};

/// Facts the proto events carry beyond the domain event, worked out by the service when it
/// records the events (they need the case tree, the request event at hand, or the caller's
/// free text, which the domain does not keep).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enrichment {
    /// What happened at the root cause, for `PromiseAtRisk`.
    pub trigger: pb::RiskTrigger,
    /// The requests-svc event that revealed the change, for `PromiseAtRisk` and
    /// `TicketChainObserved`; empty when a command of the service's own caught up.
    pub source_event_id: String,
    /// The chain's projected completion, for `PromiseRiskCleared`.
    pub projected_completion: Option<DateTime<Utc>>,
    /// What the chain could do when a promise was made without acknowledging a risk (an
    /// acknowledged one carries its own), for `PromiseMade`.
    pub feasibility: Option<Feasibility>,
    /// What the customer was told, for `CustomerNotified` (personal data).
    pub notice_message: String,
    /// The remedy's description and credit, for `CustomerNotified` (its kind comes from the
    /// event).
    pub remedy: Option<pb::Remedy>,
    /// What the customer said, for `CustomerResponded` (personal data).
    pub note: String,
}

/// The number of the promise in force on `ticket`: 1 for the first, one more after each
/// renegotiation.
pub fn promise_number(ticket: &Ticket) -> u32 {
    u32::try_from(ticket.renegotiations.len())
        .unwrap_or(u32::MAX - 1)
        .saturating_add(1)
}

fn standing_fields(standing: &CustomerStanding) -> (i32, Option<pb::Money>) {
    (tier(standing.tier).into(), Some(money(standing.value)))
}

/// The stored event of `event`; `ticket` is the ticket as it is *after* the event.
pub fn encode_ticket(event: &TicketEvent, ticket: &Ticket, extra: &Enrichment) -> NewEvent {
    let number = promise_number(ticket);
    match event {
        TicketEvent::Opened {
            ticket_id,
            customer_id,
            subject,
            front_line,
            standing,
            at,
        } => {
            let (tier, value) = standing_fields(standing);
            new_event(
                &pb::TicketOpened {
                    ticket_id: ticket_id.to_string(),
                    customer_id: customer_id.to_string(),
                    subject: subject.clone(),
                    front_line_team_id: front_line.to_string(),
                    tier,
                    value,
                },
                *at,
            )
        }
        TicketEvent::ChainObserved {
            ticket_id,
            outlook,
            standing,
            at,
        } => {
            let (tier, value_at_stake) = standing_fields(standing);
            new_event(
                &pb::TicketChainObserved {
                    ticket_id: ticket_id.to_string(),
                    outlook: Some(outlook_to_proto(outlook)),
                    tier,
                    value_at_stake,
                    source_event_id: extra.source_event_id.clone(),
                },
                *at,
            )
        }
        TicketEvent::PromiseMade {
            ticket_id,
            customer_id,
            due_at,
            kind,
            wording,
            risk_acknowledged,
            at,
        } => {
            let (earliest, link, path) = match (risk_acknowledged, &extra.feasibility) {
                (Some(ack), _) => (
                    ts(ack.earliest_feasible),
                    Some(cause_link(ack.bound_by)),
                    Some(cause_path(&ack.critical_path)),
                ),
                (None, Some(f)) => (ts(f.earliest), Some(cause_link(f.bound_by)), None),
                (None, None) => (None, None, None),
            };
            new_event(
                &pb::PromiseMade {
                    ticket_id: ticket_id.to_string(),
                    promise_number: number,
                    due_at: ts(*due_at),
                    kind: commitment_kind(*kind).into(),
                    wording: wording.clone(),
                    risk_acknowledged: risk_acknowledged.is_some(),
                    earliest_feasible_at: earliest,
                    critical_link: link,
                    customer_id: customer_id.to_string(),
                    critical_path: path,
                },
                *at,
            )
        }
        TicketEvent::PromiseAtRisk {
            ticket_id,
            customer_id,
            due_at,
            risk,
            standing,
            at,
        } => {
            let (tier, value_at_stake) = standing_fields(standing);
            new_event(
                &pb::PromiseAtRisk {
                    ticket_id: ticket_id.to_string(),
                    promise_number: number,
                    root_cause: Some(cause_link(risk.root_cause)),
                    path: Some(cause_path(&risk.cause_path)),
                    projected_completion: risk.projected_completion.and_then(ts),
                    projected_delay: risk.projected_delay.and_then(span),
                    due_at: ts(*due_at),
                    customer_id: customer_id.to_string(),
                    tier,
                    value_at_stake,
                    trigger: extra.trigger.into(),
                    source_event_id: extra.source_event_id.clone(),
                },
                *at,
            )
        }
        TicketEvent::PromiseRiskCleared {
            ticket_id,
            customer_id,
            due_at,
            at,
        } => new_event(
            &pb::PromiseRiskCleared {
                ticket_id: ticket_id.to_string(),
                promise_number: number,
                projected_completion: extra.projected_completion.and_then(ts),
                customer_id: customer_id.to_string(),
                due_at: ts(*due_at),
            },
            *at,
        ),
        TicketEvent::PromiseBroken {
            ticket_id,
            customer_id,
            due_at,
            notified_before_due,
            cause_path: path,
            at,
        } => {
            let (tier, value_at_stake) = standing_fields(&ticket.standing);
            new_event(
                &pb::PromiseBroken {
                    ticket_id: ticket_id.to_string(),
                    promise_number: number,
                    due_at: ts(*due_at),
                    notified_before_due: *notified_before_due,
                    customer_id: customer_id.to_string(),
                    tier,
                    value_at_stake,
                    root_cause: path.first().copied().map(cause_link),
                    path: Some(cause_path(path)),
                },
                *at,
            )
        }
        TicketEvent::CustomerNotified {
            ticket_id,
            customer_id,
            due_at,
            new_expected_at,
            remedy,
            before_due,
            at,
        } => {
            let mut offered = extra.remedy.clone().unwrap_or_default();
            offered.set_kind(remedy_kind(*remedy));
            new_event(
                &pb::CustomerNotified {
                    ticket_id: ticket_id.to_string(),
                    promise_number: number,
                    new_expected_at: ts(*new_expected_at),
                    remedy: Some(offered),
                    before_due: *before_due,
                    message: extra.notice_message.clone(),
                    customer_id: customer_id.to_string(),
                    due_at: ts(*due_at),
                },
                *at,
            )
        }
        TicketEvent::CustomerResponded {
            ticket_id,
            customer_id,
            accepted,
            at,
        } => new_event(
            &pb::CustomerResponded {
                ticket_id: ticket_id.to_string(),
                promise_number: number,
                accepted: *accepted,
                note: extra.note.clone(),
                customer_id: customer_id.to_string(),
            },
            *at,
        ),
        TicketEvent::PromiseRenegotiated {
            ticket_id,
            customer_id,
            previous_due,
            new_due,
            at,
        } => {
            // The remedy of the notice the customer accepted.
            let remedy = ticket.notices.last().map(|notice| {
                let mut remedy = pb::Remedy::default();
                remedy.set_kind(remedy_kind(notice.remedy));
                remedy
            });
            new_event(
                &pb::PromiseRenegotiated {
                    ticket_id: ticket_id.to_string(),
                    previous_promise_number: number.saturating_sub(1),
                    promise_number: number,
                    previous_due_at: ts(*previous_due),
                    new_due_at: ts(*new_due),
                    remedy,
                    customer_id: customer_id.to_string(),
                },
                *at,
            )
        }
        TicketEvent::Resolved {
            ticket_id,
            customer_id,
            delivered,
            outcome: how,
            due_at,
            original_due,
            promised_at,
            late_by,
            notified_before_due,
            at,
        } => new_event(
            &pb::TicketResolved {
                ticket_id: ticket_id.to_string(),
                outcome: outcome(*how).into(),
                customer_id: customer_id.to_string(),
                promise_number: number,
                promised_at: ts(*promised_at),
                due_at: ts(*due_at),
                original_due_at: ts(*original_due),
                late_by: late_by.and_then(span),
                notified_before_due: *notified_before_due,
                delivered: *delivered,
            },
            *at,
        ),
    }
}

fn standing_of<M: Name>(
    tier_value: pb::CustomerTier,
    value: Option<&pb::Money>,
    value_field: &'static str,
) -> Result<CustomerStanding, CodecError> {
    Ok(CustomerStanding {
        tier: tier_from(tier_value).ok_or_else(|| invalid::<M>("tier", "unspecified"))?,
        value: money_of::<M>(value_field, value)?,
    })
}

/// Decodes one ticket event. Every ticket event carries what its domain event needs, so no
/// earlier event of the stream is required.
pub fn decode_ticket(stored: StoredEvent<'_>) -> Result<TicketEvent, CodecError> {
    let at = stored.occurred_at;
    if stored.is::<pb::TicketOpened>() {
        type M = pb::TicketOpened;
        let m: M = stored.message()?;
        return Ok(TicketEvent::Opened {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            front_line: id_of::<M, _>("front_line_team_id", &m.front_line_team_id)?,
            standing: standing_of::<M>(m.tier(), m.value.as_ref(), "value")?,
            subject: m.subject,
            at,
        });
    }
    if stored.is::<pb::TicketChainObserved>() {
        type M = pb::TicketChainObserved;
        let m: M = stored.message()?;
        let outlook = m
            .outlook
            .as_ref()
            .ok_or_else(|| invalid::<M>("outlook", "missing"))?;
        return Ok(TicketEvent::ChainObserved {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            outlook: outlook_from_proto::<M>(outlook)?,
            standing: standing_of::<M>(m.tier(), m.value_at_stake.as_ref(), "value_at_stake")?,
            at,
        });
    }
    if stored.is::<pb::PromiseMade>() {
        type M = pb::PromiseMade;
        let m: M = stored.message()?;
        let risk_acknowledged = if m.risk_acknowledged {
            let link = m
                .critical_link
                .as_ref()
                .ok_or_else(|| invalid::<M>("critical_link", "missing"))?;
            Some(RiskAcknowledgement {
                earliest_feasible: time_of::<M>(
                    "earliest_feasible_at",
                    m.earliest_feasible_at.as_ref(),
                )?,
                bound_by: link_from::<M>(link)?,
                critical_path: path_of::<M>(m.critical_path.as_ref())?,
            })
        } else {
            None
        };
        return Ok(TicketEvent::PromiseMade {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            due_at: time_of::<M>("due_at", m.due_at.as_ref())?,
            kind: commitment_kind_from(m.kind())
                .ok_or_else(|| invalid::<M>("kind", "unspecified"))?,
            wording: m.wording,
            risk_acknowledged,
            at,
        });
    }
    if stored.is::<pb::PromiseAtRisk>() {
        type M = pb::PromiseAtRisk;
        let m: M = stored.message()?;
        let root = m
            .root_cause
            .as_ref()
            .ok_or_else(|| invalid::<M>("root_cause", "missing"))?;
        return Ok(TicketEvent::PromiseAtRisk {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            due_at: time_of::<M>("due_at", m.due_at.as_ref())?,
            risk: PromiseRisk {
                root_cause: link_from::<M>(root)?,
                cause_path: path_of::<M>(m.path.as_ref())?,
                projected_completion: optional_time_of::<M>(
                    "projected_completion",
                    m.projected_completion.as_ref(),
                )?,
                projected_delay: optional_span_of::<M>(
                    "projected_delay",
                    m.projected_delay.as_ref(),
                )?,
            },
            standing: standing_of::<M>(m.tier(), m.value_at_stake.as_ref(), "value_at_stake")?,
            at,
        });
    }
    if stored.is::<pb::PromiseRiskCleared>() {
        type M = pb::PromiseRiskCleared;
        let m: M = stored.message()?;
        return Ok(TicketEvent::PromiseRiskCleared {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            due_at: time_of::<M>("due_at", m.due_at.as_ref())?,
            at,
        });
    }
    if stored.is::<pb::PromiseBroken>() {
        type M = pb::PromiseBroken;
        let m: M = stored.message()?;
        return Ok(TicketEvent::PromiseBroken {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            due_at: time_of::<M>("due_at", m.due_at.as_ref())?,
            notified_before_due: m.notified_before_due,
            cause_path: path_of::<M>(m.path.as_ref())?,
            at,
        });
    }
    if stored.is::<pb::CustomerNotified>() {
        type M = pb::CustomerNotified;
        let m: M = stored.message()?;
        let remedy = m
            .remedy
            .as_ref()
            .and_then(|r| remedy_from(r.kind()))
            .ok_or_else(|| invalid::<M>("remedy", "missing or unspecified"))?;
        return Ok(TicketEvent::CustomerNotified {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            due_at: time_of::<M>("due_at", m.due_at.as_ref())?,
            new_expected_at: time_of::<M>("new_expected_at", m.new_expected_at.as_ref())?,
            remedy,
            before_due: m.before_due,
            at,
        });
    }
    if stored.is::<pb::CustomerResponded>() {
        type M = pb::CustomerResponded;
        let m: M = stored.message()?;
        return Ok(TicketEvent::CustomerResponded {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            accepted: m.accepted,
            at,
        });
    }
    if stored.is::<pb::PromiseRenegotiated>() {
        type M = pb::PromiseRenegotiated;
        let m: M = stored.message()?;
        return Ok(TicketEvent::PromiseRenegotiated {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            previous_due: time_of::<M>("previous_due_at", m.previous_due_at.as_ref())?,
            new_due: time_of::<M>("new_due_at", m.new_due_at.as_ref())?,
            at,
        });
    }
    if stored.is::<pb::TicketResolved>() {
        type M = pb::TicketResolved;
        let m: M = stored.message()?;
        return Ok(TicketEvent::Resolved {
            ticket_id: id_of::<M, _>("ticket_id", &m.ticket_id)?,
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            delivered: m.delivered,
            outcome: outcome_from(m.outcome())
                .ok_or_else(|| invalid::<M>("outcome", "unspecified"))?,
            due_at: time_of::<M>("due_at", m.due_at.as_ref())?,
            original_due: time_of::<M>("original_due_at", m.original_due_at.as_ref())?,
            promised_at: time_of::<M>("promised_at", m.promised_at.as_ref())?,
            late_by: optional_span_of::<M>("late_by", m.late_by.as_ref())?,
            notified_before_due: m.notified_before_due,
            at,
        });
    }
    Err(CodecError::UnknownType(stored.event_type.to_owned()))
}

/// What a ticket's stored events say beyond its domain events, for the API: the chain's
/// feasibility when each promise was made, the trigger of the latest risk, and what the
/// customer was told and said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketExtras {
    /// `earliest_feasible_at` of the first promise (`PromiseMade`).
    pub earliest_feasible_at: Option<prost_types::Timestamp>,
    /// The trigger of the latest `PromiseAtRisk`.
    pub trigger: pb::RiskTrigger,
    /// Each notice's message and remedy (with description and credit), oldest first.
    pub notices: Vec<(String, pb::Remedy)>,
    /// Each answered notice's note, by notice index.
    pub notes: Vec<(usize, String)>,
}

impl TicketExtras {
    /// Reads the extras of every event of a stream, oldest first.
    pub fn of<'a>(events: impl IntoIterator<Item = StoredEvent<'a>>) -> Result<Self, CodecError> {
        let mut extras = Self::default();
        for event in events {
            extras.absorb(event)?;
        }
        Ok(extras)
    }

    /// Reads the extras of the stream's next event.
    pub fn absorb(&mut self, stored: StoredEvent<'_>) -> Result<(), CodecError> {
        if stored.is::<pb::PromiseMade>() {
            let m: pb::PromiseMade = stored.message()?;
            if self.earliest_feasible_at.is_none() {
                self.earliest_feasible_at = m.earliest_feasible_at;
            }
        } else if stored.is::<pb::PromiseAtRisk>() {
            let m: pb::PromiseAtRisk = stored.message()?;
            self.trigger = m.trigger();
        } else if stored.is::<pb::CustomerNotified>() {
            let m: pb::CustomerNotified = stored.message()?;
            self.notices.push((m.message, m.remedy.unwrap_or_default()));
        } else if stored.is::<pb::CustomerResponded>() {
            let m: pb::CustomerResponded = stored.message()?;
            if let Some(last) = self.notices.len().checked_sub(1) {
                self.notes.push((last, m.note));
            }
        }
        Ok(())
    }
}
