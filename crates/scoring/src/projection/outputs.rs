//! The events live consumption emits into scoring's own store, beside the projection change
//! (same transaction): `ImpactRecorded` when an impact is first recorded, `ScoreChanged` when
//! a score's value (in hundredths) or a customer's lifecycle changed, `ImpactResolved` when
//! an impact's ticket was resolved. A rebuild emits nothing: these events are a log of what
//! live consumption saw, in the order it saw it, not a projection.

use std::collections::BTreeMap;

use chain_domain::scoring::ScoringModel;
use chain_proto::customerchain::v1 as pb;
use chain_store::{NewEvent, StreamId};
use prost::Name;
use uuid::Uuid;

use super::derive::Derived;
use super::rows::ScoreRow;
use super::state::Dirty;
use crate::codec::{IMPACT_AGGREGATE, Input, SCHEMA_VERSION, SCORE_AGGREGATE};
use crate::view;

/// One event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Its stream.
    pub stream: StreamId,
    /// The event.
    pub event: NewEvent,
}

fn new_event<M: Name>(message: &M, at: chrono::DateTime<chrono::Utc>) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: M::full_name(),
        schema_version: SCHEMA_VERSION,
        occurred_at: at,
        payload: message.encode_to_vec(),
    }
}

/// The events one applied input gives: `before` holds the score rows as stored before it.
pub fn outputs(
    input: &Input,
    dirty: &Dirty,
    before: &BTreeMap<String, ScoreRow>,
    derived: &Derived,
    model: &ScoringModel,
) -> Vec<Output> {
    let mut out = Vec::new();
    let source = input.event_id.to_string();
    for key in &dirty.recorded {
        let Some(row) = derived.impacts.get(key) else {
            continue;
        };
        let message = pb::ImpactRecorded {
            impact_id: row.impact_id.to_string(),
            kind: view::impact_kind(&row.kind).into(),
            ticket_id: row.ticket_id.to_string(),
            promise_number: u32::try_from(row.promise_number).unwrap_or(0),
            customer_id: row.customer_id.to_string(),
            tier: view::tier(&row.tier).into(),
            value_at_stake: view::money(row.value_minor, &row.currency),
            root_cause: view::root_cause(row),
            path: Some(view::path(row)),
            projected_delay: view::millis(row.projected_delay_ms),
            due_at: Some(chain_proto::timestamp::from_datetime(row.due_at)),
            source_event_id: source.clone(),
        };
        out.push(Output {
            stream: StreamId::new(IMPACT_AGGREGATE, row.impact_id.to_string()),
            event: new_event(&message, row.recorded_at),
        });
    }
    for row in derived.scores.values() {
        let previous = before.get(&row.subject);
        let changed = previous.is_none_or(|p| {
            p.score_hundredths != row.score_hundredths || p.lifecycle != row.lifecycle
        });
        if !changed {
            continue;
        }
        let message = pb::ScoreChanged {
            subject: Some(view::subject(row)),
            previous_score: previous.map_or(model.prior, |p| f64::from(p.score_hundredths) / 100.0),
            score: f64::from(row.score_hundredths) / 100.0,
            confidence: f64::from(row.confidence_e4) / 10_000.0,
            signal: dirty
                .signal_kind
                .unwrap_or(pb::ScoreSignalKind::Unspecified)
                .into(),
            source_event_id: source.clone(),
            previous_lifecycle: previous
                .map_or(pb::CustomerLifecycle::Unspecified, |p| {
                    view::lifecycle(&p.lifecycle)
                })
                .into(),
            lifecycle: view::lifecycle(&row.lifecycle).into(),
        };
        out.push(Output {
            stream: StreamId::new(SCORE_AGGREGATE, row.subject.clone()),
            event: new_event(&message, input.at),
        });
    }
    for key in &dirty.resolved {
        let Some(row) = derived.impacts.get(key).filter(|r| r.resolved) else {
            continue;
        };
        let message = pb::ImpactResolved {
            impact_id: row.impact_id.to_string(),
            outcome: view::outcome(&row.outcome).into(),
            notified_before_due: row.notified,
            late_by: row.late_by_ms.filter(|ms| *ms > 0).and_then(view::millis),
            attribution: view::shares(row),
        };
        out.push(Output {
            stream: StreamId::new(IMPACT_AGGREGATE, row.impact_id.to_string()),
            event: new_event(&message, input.at),
        });
    }
    out
}
