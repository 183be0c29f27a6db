//! The tickets service's events scoring reads: customers (registration, value, tier) and the
//! promises of each ticket (at risk, broken, notice, resolution). The other ticket events
//! (details, responses, renegotiations, risk cleared) are ignored: what they change reaches
//! scoring through the events above (a renegotiated promise has a new number; the resolution
//! says how it ended and whether the customer was told in time).

use chain_domain::ticket::PromiseOutcome;
use chain_proto::customerchain::v1 as pb;

use super::{
    CodecError, Fact, Payload, PromiseHurt, Value, id, optional_id, optional_time, path, span,
    tier, time,
};

pub(super) fn decode(payload: &Payload<'_>) -> Result<Fact, CodecError> {
    if payload.is::<pb::CustomerRegistered>() {
        type M = pb::CustomerRegistered;
        let m: M = payload.message()?;
        return Ok(Fact::CustomerRegistered {
            customer: id::<M, _>("customer_id", &m.customer_id)?,
            value: Value::of(m.value.as_ref()),
        });
    }
    if payload.is::<pb::CustomerValueChanged>() {
        type M = pb::CustomerValueChanged;
        let m: M = payload.message()?;
        return Ok(Fact::CustomerValueChanged {
            customer: id::<M, _>("customer_id", &m.customer_id)?,
            value: Value::of(m.new_value.as_ref()),
        });
    }
    if payload.is::<pb::CustomerTierChanged>() {
        type M = pb::CustomerTierChanged;
        let m: M = payload.message()?;
        return Ok(Fact::CustomerTierChanged {
            customer: id::<M, _>("customer_id", &m.customer_id)?,
            tier: tier(m.new_tier()),
        });
    }
    if payload.is::<pb::TicketOpened>() {
        type M = pb::TicketOpened;
        let m: M = payload.message()?;
        return Ok(Fact::TicketOpened {
            ticket: id::<M, _>("ticket_id", &m.ticket_id)?,
            customer: id::<M, _>("customer_id", &m.customer_id)?,
            front_line: optional_id::<M, _>("front_line_team_id", &m.front_line_team_id)?,
        });
    }
    if payload.is::<pb::PromiseAtRisk>() {
        type M = pb::PromiseAtRisk;
        let m: M = payload.message()?;
        return Ok(Fact::PromiseAtRisk {
            hurt: PromiseHurt {
                ticket: id::<M, _>("ticket_id", &m.ticket_id)?,
                promise: m.promise_number,
                customer: id::<M, _>("customer_id", &m.customer_id)?,
                tier: tier(m.tier()),
                value: Value::of(m.value_at_stake.as_ref()),
                due_at: time::<M>("due_at", m.due_at.as_ref())?,
                path: path::<M>(m.path.as_ref(), m.root_cause.as_ref())?,
            },
            projected_delay: span::<M>("projected_delay", m.projected_delay.as_ref())?
                .unwrap_or_default(),
        });
    }
    if payload.is::<pb::PromiseBroken>() {
        type M = pb::PromiseBroken;
        let m: M = payload.message()?;
        return Ok(Fact::PromiseBroken {
            hurt: PromiseHurt {
                ticket: id::<M, _>("ticket_id", &m.ticket_id)?,
                promise: m.promise_number,
                customer: id::<M, _>("customer_id", &m.customer_id)?,
                tier: tier(m.tier()),
                value: Value::of(m.value_at_stake.as_ref()),
                due_at: time::<M>("due_at", m.due_at.as_ref())?,
                path: path::<M>(m.path.as_ref(), m.root_cause.as_ref())?,
            },
            notified: m.notified_before_due,
        });
    }
    if payload.is::<pb::CustomerNotified>() {
        type M = pb::CustomerNotified;
        let m: M = payload.message()?;
        return Ok(Fact::CustomerNotified {
            ticket: id::<M, _>("ticket_id", &m.ticket_id)?,
            promise: m.promise_number,
            before_due: m.before_due,
        });
    }
    if payload.is::<pb::TicketResolved>() {
        type M = pb::TicketResolved;
        let m: M = payload.message()?;
        let outcome = match m.outcome() {
            pb::PromiseOutcome::Unspecified => None,
            pb::PromiseOutcome::Kept => Some(PromiseOutcome::Kept),
            pb::PromiseOutcome::KeptLate => Some(PromiseOutcome::KeptLate),
            pb::PromiseOutcome::KeptAfterRenegotiation => {
                Some(PromiseOutcome::KeptAfterRenegotiation)
            }
            pb::PromiseOutcome::Broken => Some(PromiseOutcome::Broken),
        };
        return Ok(Fact::TicketResolved {
            ticket: id::<M, _>("ticket_id", &m.ticket_id)?,
            customer: id::<M, _>("customer_id", &m.customer_id)?,
            outcome,
            promised_at: optional_time::<M>("promised_at", m.promised_at.as_ref())?,
            due_at: optional_time::<M>("due_at", m.due_at.as_ref())?,
            late_by: span::<M>("late_by", m.late_by.as_ref())?,
            notified: m.notified_before_due,
        });
    }
    Ok(Fact::Ignored)
}
