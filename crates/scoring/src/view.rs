//! The API's resources (`Score`, `LinkHealth`, `Impact`, `LinkShare`) built from projection
//! rows: what the queries return and what the output events carry.

use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use crate::projection::rows::{HealthRow, ImpactRow, ScoreRow, ShareRow};

/// A lifecycle name (as stored) on the wire.
pub fn lifecycle(name: &str) -> pb::CustomerLifecycle {
    match name {
        "new" => pb::CustomerLifecycle::New,
        "retained" => pb::CustomerLifecycle::Retained,
        "at_risk" => pb::CustomerLifecycle::AtRisk,
        "dissatisfied" => pb::CustomerLifecycle::Dissatisfied,
        "won_back" => pb::CustomerLifecycle::WonBack,
        _ => pb::CustomerLifecycle::Unspecified,
    }
}

/// A promise outcome name (as stored) on the wire.
pub fn outcome(name: &str) -> pb::PromiseOutcome {
    match name {
        "kept" => pb::PromiseOutcome::Kept,
        "kept_late" => pb::PromiseOutcome::KeptLate,
        "kept_after_renegotiation" => pb::PromiseOutcome::KeptAfterRenegotiation,
        "broken" => pb::PromiseOutcome::Broken,
        _ => pb::PromiseOutcome::Unspecified,
    }
}

/// A tier name (as stored) on the wire.
pub fn tier(name: &str) -> pb::CustomerTier {
    match name {
        "A" => pb::CustomerTier::A,
        "B" => pb::CustomerTier::B,
        "C" => pb::CustomerTier::C,
        _ => pb::CustomerTier::Unspecified,
    }
}

/// An impact kind name (as stored) on the wire.
pub fn impact_kind(name: &str) -> pb::ImpactKind {
    match name {
        "at_risk" => pb::ImpactKind::AtRisk,
        "broken" => pb::ImpactKind::Broken,
        _ => pb::ImpactKind::Unspecified,
    }
}

/// An amount on the wire.
pub fn money(minor: i64, currency: &str) -> Option<pb::Money> {
    Some(pb::Money {
        currency_code: currency.to_owned(),
        value_minor: minor,
    })
}

fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(chain_proto::timestamp::from_datetime(at))
}

/// A span in milliseconds on the wire.
pub fn millis(ms: i64) -> Option<prost_types::Duration> {
    chain_proto::duration::from_chrono(TimeDelta::milliseconds(ms)).ok()
}

/// The subject of a score row.
pub fn subject(row: &ScoreRow) -> pb::ScoreSubject {
    let subject = match (row.customer_id, row.provider_team_id, row.consumer_team_id) {
        (Some(customer), _, _) => pb::score_subject::Subject::CustomerId(customer.to_string()),
        (None, provider, consumer) => pb::score_subject::Subject::Link(pb::LinkRef {
            provider_team_id: provider.map(|p| p.to_string()).unwrap_or_default(),
            consumer_team_id: consumer.map(|c| c.to_string()).unwrap_or_default(),
        }),
    };
    pb::ScoreSubject {
        subject: Some(subject),
    }
}

/// A score row on the wire, at score-stream version `version`.
pub fn score(row: &ScoreRow, version: u64) -> pb::Score {
    pb::Score {
        subject: Some(subject(row)),
        score: f64::from(row.score_hundredths) / 100.0,
        confidence: f64::from(row.confidence_e4) / 10_000.0,
        lifecycle: lifecycle(&row.lifecycle).into(),
        signal_count: u32::try_from(row.signal_count).unwrap_or(0),
        as_of: ts(row.as_of),
        version,
    }
}

/// A link-health row on the wire, with the loss attributed to the link.
pub fn link_health(row: &HealthRow, attributed_loss: i64) -> pb::LinkHealth {
    pb::LinkHealth {
        link: Some(pb::LinkRef {
            provider_team_id: row.provider_team_id.to_string(),
            consumer_team_id: row.consumer_team_id.to_string(),
        }),
        health_score: f64::from(row.health_hundredths) / 100.0,
        confidence: f64::from(row.confidence_e4) / 10_000.0,
        completed_requests: u32::try_from(row.completed).unwrap_or(0),
        on_time_requests: u32::try_from(row.on_time).unwrap_or(0),
        on_time_rate: f64::from(row.on_time_rate_e4) / 10_000.0,
        on_time_lower_bound: f64::from(row.lower_bound_e4) / 10_000.0,
        mean_lateness: millis(row.mean_lateness_ms),
        breakdowns: u32::try_from(row.breakdowns).unwrap_or(0),
        customers_hurt: u32::try_from(row.customers_hurt).unwrap_or(0),
        value_at_risk: money(row.value_at_risk_minor, &row.currency),
        attributed_loss: money(attributed_loss, &row.currency),
    }
}

/// The shares of an impact on the wire.
pub fn shares(row: &ImpactRow) -> Vec<pb::LinkShare> {
    row.shares
        .iter()
        .map(|share: &ShareRow| pb::LinkShare {
            link: Some(pb::LinkRef {
                provider_team_id: share.provider_team_id.to_string(),
                consumer_team_id: share.consumer_team_id.to_string(),
            }),
            request_id: share.request_id.to_string(),
            delay_charged: millis(share.delay_ms),
            share: f64::from(share.share_e6) / 1e6,
            value_charged: money(share.value_minor, &row.currency),
        })
        .collect()
}

/// The path of an impact, root cause first.
pub fn path(row: &ImpactRow) -> pb::CausePath {
    pb::CausePath {
        links: row
            .links
            .iter()
            .map(|l| pb::CauseLink {
                provider_team_id: l.provider_team_id.to_string(),
                consumer_team_id: l.consumer_team_id.to_string(),
                request_id: l.request_id.to_string(),
            })
            .collect(),
    }
}

/// The root cause of an impact.
pub fn root_cause(row: &ImpactRow) -> Option<pb::CauseLink> {
    path(row).links.into_iter().next()
}

/// An impact row on the wire.
pub fn impact(row: &ImpactRow) -> pb::Impact {
    pb::Impact {
        impact_id: row.impact_id.to_string(),
        kind: impact_kind(&row.kind).into(),
        ticket_id: row.ticket_id.to_string(),
        promise_number: u32::try_from(row.promise_number).unwrap_or(0),
        customer_id: row.customer_id.to_string(),
        tier: tier(&row.tier).into(),
        value_at_stake: money(row.value_minor, &row.currency),
        root_cause: root_cause(row),
        path: Some(path(row)),
        projected_delay: millis(row.projected_delay_ms),
        due_at: ts(row.due_at),
        recorded_at: ts(row.recorded_at),
        notified_before_due: row.notified,
        resolved: row.resolved,
        outcome: outcome(&row.outcome).into(),
        late_by: row.late_by_ms.filter(|ms| *ms > 0).and_then(millis),
        attribution: shares(row),
    }
}

/// The text form of a uuid column that may be absent.
pub fn optional_id(id: Option<Uuid>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}
