//! Views of feedback, scores, link health and impacts.

use chain_proto::customerchain::v1 as pb;

use crate::directory::Directory;
use crate::output::table::{Cell, Table};
use crate::output::time::{absolute_wire, relative_wire, span_wire};
use crate::output::{Printer, Tone, text};
use crate::views::block;

/// Recorded feedback.
pub fn feedback(feedback: &pb::Feedback) -> String {
    block(
        format!("feedback {}", feedback.feedback_id),
        &[
            (
                "csat",
                feedback
                    .csat
                    .map_or_else(|| "-".to_owned(), |v| v.to_string()),
            ),
            (
                "nps",
                feedback
                    .nps
                    .map_or_else(|| "-".to_owned(), |v| v.to_string()),
            ),
            ("recorded", absolute_wire(feedback.recorded_at.as_ref())),
        ],
    )
}

/// A score.
pub fn score(printer: &Printer, score: &pb::Score, directory: &Directory) -> String {
    let subject = match score.subject.as_ref().and_then(|s| s.subject.as_ref()) {
        Some(pb::score_subject::Subject::CustomerId(id)) => format!("customer {id}"),
        Some(pb::score_subject::Subject::Link(link)) => {
            format!(
                "link {}",
                directory.link(&link.provider_team_id, &link.consumer_team_id)
            )
        }
        None => "-".to_owned(),
    };
    block(
        format!("score of {subject}"),
        &[
            (
                "score",
                printer.paint(
                    format!("{:.1} / 100", score.score),
                    text::score_tone(score.score),
                ),
            ),
            ("confidence", format!("{:.2}", score.confidence)),
            ("lifecycle", text::lifecycle(score.lifecycle()).to_owned()),
            ("signals", score.signal_count.to_string()),
            ("as of", relative_wire(score.as_of.as_ref())),
        ],
    )
}

/// Link health as a table, worst first.
pub fn link_health(printer: &Printer, links: &[pb::LinkHealth], directory: &Directory) -> String {
    let mut table = Table::new(&[
        "PROVIDER → CONSUMER",
        "HEALTH",
        "ON TIME",
        "COMPLETED",
        "BREAKDOWNS",
        "MEAN LATE",
        "CUSTOMERS HURT",
        "VALUE AT RISK",
    ]);
    for health in links {
        let link = health.link.as_ref().map_or_else(
            || "-".to_owned(),
            |l| directory.link(&l.provider_team_id, &l.consumer_team_id),
        );
        table.row(vec![
            link.into(),
            Cell::toned(
                format!("{:.0}", health.health_score),
                text::score_tone(health.health_score),
            ),
            format!("{:.0}%", health.on_time_rate * 100.0).into(),
            health.completed_requests.to_string().into(),
            health.breakdowns.to_string().into(),
            span_wire(health.mean_lateness.as_ref()).into(),
            health.customers_hurt.to_string().into(),
            text::money(health.value_at_risk.as_ref()).into(),
        ]);
    }
    table.render(printer.colour, 0)
}

/// Impact records as a table.
pub fn impacts(printer: &Printer, impacts: &[pb::Impact], directory: &Directory) -> String {
    let mut table = Table::new(&[
        "KIND",
        "TIER",
        "AT STAKE",
        "ROOT CAUSE",
        "DELAY",
        "TOLD IN TIME",
        "OUTCOME",
        "TICKET",
    ]);
    for impact in impacts {
        let kind = match impact.kind() {
            pb::ImpactKind::Broken => Cell::toned("broken", Tone::Bad),
            pb::ImpactKind::AtRisk => Cell::toned("at risk", Tone::Warn),
            pb::ImpactKind::Unspecified => "-".into(),
        };
        let (outcome, tone) = text::outcome(impact.outcome());
        table.row(vec![
            kind,
            text::tier(impact.tier()).into(),
            text::money(impact.value_at_stake.as_ref()).into(),
            impact
                .root_cause
                .as_ref()
                .map_or_else(
                    || "-".to_owned(),
                    |l| directory.link(&l.provider_team_id, &l.consumer_team_id),
                )
                .into(),
            span_wire(impact.projected_delay.as_ref()).into(),
            if impact.notified_before_due {
                "yes"
            } else {
                "no"
            }
            .into(),
            Cell::toned(outcome, tone),
            Cell::toned(impact.ticket_id.clone(), Tone::Dim),
        ]);
    }
    table.render(printer.colour, 0)
}

/// Impact totals.
pub fn impact_summary(summary: &pb::ImpactSummary, directory: &Directory) -> String {
    let scope = if !summary.root_team_id.is_empty() {
        format!("rooted at {}", directory.name(&summary.root_team_id))
    } else if let Some(link) = &summary.link {
        format!(
            "through {}",
            directory.link(&link.provider_team_id, &link.consumer_team_id)
        )
    } else {
        "of every link".to_owned()
    };
    block(
        format!("impact ledger (scoring-svc) {scope}"),
        &[
            (
                "impacts",
                format!("{} ({} open)", summary.impacts, summary.open),
            ),
            ("customers hurt", summary.customers_hurt.to_string()),
            ("value at risk", text::money(summary.value_at_risk.as_ref())),
            (
                "kept",
                format!(
                    "{} on time, {} after notice, {} late",
                    summary.kept, summary.kept_after_notice, summary.kept_late
                ),
            ),
            (
                "broken",
                format!(
                    "{} after notice, {} as a surprise",
                    summary.broken_after_notice, summary.broken_surprise
                ),
            ),
        ],
    )
}

/// Customers at risk of leaving.
pub fn at_risk_customers(printer: &Printer, customers: &[pb::AtRiskCustomer]) -> String {
    let mut table = Table::new(&[
        "TIER",
        "VALUE",
        "SCORE",
        "RISK",
        "VALUE AT RISK",
        "LIFECYCLE",
        "OPEN IMPACTS",
        "CUSTOMER",
    ]);
    for customer in customers {
        table.row(vec![
            text::tier(customer.tier()).into(),
            text::money(customer.value.as_ref()).into(),
            Cell::toned(
                format!("{:.0}", customer.score),
                text::score_tone(customer.score),
            ),
            format!("{:.0}%", customer.risk * 100.0).into(),
            text::money(customer.value_at_risk.as_ref()).into(),
            text::lifecycle(customer.lifecycle()).into(),
            customer.open_impacts.to_string().into(),
            Cell::toned(customer.customer_id.clone(), Tone::Dim),
        ]);
    }
    table.render(printer.colour, 0)
}

/// The projection digest.
pub fn digest(digest: &pb::ProjectionDigest) -> String {
    let mut positions: Vec<String> = digest
        .input_positions
        .iter()
        .map(|(store, position)| format!("{store} {position}"))
        .collect();
    positions.sort();
    block(
        "projection digest (scoring-svc)".to_owned(),
        &[
            ("algorithm", digest.algorithm.clone()),
            ("digest", digest.digest.clone()),
            ("inputs applied", positions.join(", ")),
            ("events applied", digest.events_applied.to_string()),
        ],
    )
}
