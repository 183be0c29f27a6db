//! The furniture story of seed 002, played against the running services: a desk promised in two
//! weeks; transport revises its commitment three days late; the ticket goes at risk naming the
//! transport link; the customer is told before the due time and offered a loan desk; she
//! accepts; the desk arrives by the new time: kept after renegotiation.

use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chrono::{TimeDelta, Utc};
use tracing::Instrument as _;

use crate::demo::chain::Chain;
use crate::demo::org::Org;
use crate::demo::report::Report;
use crate::error::Failure;
use crate::output::Tone;
use crate::output::time::span_wire;

/// How long the story waits for the ticket to go at risk (events travel over NATS).
const RISK_WAIT: Duration = Duration::from_secs(30);

/// Plays the story; returns the trace id it ran under.
pub async fn play(
    chain: &Chain,
    org: &Org,
    registrar: &str,
    report: &Report,
) -> Result<Option<String>, Failure> {
    report.heading("The furniture story (seed 002)")?;
    let span = tracing::info_span!(
        parent: None,
        "chainctl.demo.story",
        otel.name = "demo: the furniture story",
        chain.case_id = tracing::field::Empty,
        chain.team = "Transport",
        chain.fault.injected = true,
        chain.fault.kind = "delay",
    );
    let told = steps(chain, org, registrar, report, &span)
        .instrument(span.clone())
        .await;
    let trace = crate::telemetry::trace_id(&span);
    told?;
    if let Some(trace) = &trace {
        report.step(format!("trace {trace}{}", jaeger_suffix(trace)))?;
    }
    Ok(trace)
}

async fn steps(
    chain: &Chain,
    org: &Org,
    registrar: &str,
    report: &Report,
    span: &tracing::Span,
) -> Result<(), Failure> {
    let (sales, workshop, transport) = (
        org.team("Sales")?,
        org.team("Workshop")?,
        org.team("Transport")?,
    );
    let (jane, _) =
        crate::demo::customers::seed_one(chain, registrar, "Jane Dowe", 2_500_000).await?;
    let desk = chain
        .open_ticket(&sales.id, &jane, "Made-to-order desk and chest of drawers")
        .await?;
    span.record("chain.case_id", desk.ticket_id.as_str());
    let two_weeks = Utc::now() + TimeDelta::days(14);
    let build = chain
        .open_request(
            &sales.id,
            &workshop.id,
            pb::open_request_request::Parent::ParentTicketId(desk.ticket_id.clone()),
            two_weeks,
            "Build the desk",
        )
        .await?;
    chain
        .commit(&workshop.id, &build.request_id, two_weeks)
        .await?;
    let deliver = chain
        .open_request(
            &workshop.id,
            &transport.id,
            pb::open_request_request::Parent::ParentRequestId(build.request_id.clone()),
            two_weeks,
            "Deliver the desk",
        )
        .await?;
    chain
        .commit(&transport.id, &deliver.request_id, two_weeks)
        .await?;
    chain
        .promise(
            &sales.id,
            &desk.ticket_id,
            two_weeks,
            "If we finish the design today, your desk is with you in two weeks",
        )
        .await?;
    report.step(format!(
        "1. Jane Dowe orders a made-to-order desk; Sales promises it in 14 d (ticket {})",
        desk.ticket_id
    ))?;
    report.step("2. Sales asks Workshop to build it, Workshop asks Transport to deliver it; both commit to 14 d")?;

    let three_days_late = two_weeks + TimeDelta::days(3);
    chain
        .revise(
            &transport.id,
            &deliver.request_id,
            three_days_late,
            "Transport runs three days late",
        )
        .await?;
    report.step("3. Transport finds it will be three days late and revises its commitment")?;

    let Some(at_risk) = wait_at_risk(chain, &desk.ticket_id).await? else {
        report.step(report.paint(
            format!(
                "the ticket did not go at risk within {} s; the rest of the story is skipped",
                RISK_WAIT.as_secs()
            ),
            Tone::Warn,
        ))?;
        return Ok(());
    };
    let risk = at_risk.risk.unwrap_or_default();
    let root = risk.root_cause.map_or_else(
        || "-".to_owned(),
        |l| org.directory.link(&l.provider_team_id, &l.consumer_team_id),
    );
    report.step(format!(
        "4. the ticket is {}: root cause {root}, projected {} late",
        report.paint("at risk", Tone::Warn),
        span_wire(risk.projected_delay.as_ref())
    ))?;

    let notified = chain
        .notify(
            &sales.id,
            &desk.ticket_id,
            three_days_late,
            pb::Remedy {
                kind: pb::RemedyKind::LoanOrSubstitute.into(),
                description: "A loan desk for the important meeting".to_owned(),
                credit: None,
            },
            "We are sorry: your desk will be three days late",
        )
        .await?;
    let before_due = notified.notices.last().is_some_and(|n| n.before_due);
    chain
        .respond(&sales.id, &desk.ticket_id, true, "The loan desk will do")
        .await?;
    report.step(format!(
        "5. Sales calls Jane {} and offers a loan desk; she accepts the new time",
        if before_due {
            "before the due time"
        } else {
            "(after the due time)"
        }
    ))?;

    chain.fulfil(&transport.id, &deliver.request_id).await?;
    chain.fulfil(&workshop.id, &build.request_id).await?;
    let resolved = chain.resolve(&sales.id, &desk.ticket_id, true).await?;
    let (outcome, tone) = crate::output::text::outcome(resolved.outcome());
    report.step(format!(
        "6. Transport delivers, Workshop builds, Sales hands the desk over: {}",
        report.paint(outcome, tone)
    ))
}

/// The ticket once tickets-svc shows it at risk; `None` after [`RISK_WAIT`].
async fn wait_at_risk(chain: &Chain, ticket_id: &str) -> Result<Option<pb::Ticket>, Failure> {
    let deadline = tokio::time::Instant::now() + RISK_WAIT;
    loop {
        let ticket = chain.ticket(ticket_id).await?;
        if ticket.state() == pb::TicketState::AtRisk {
            return Ok(Some(ticket));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `"  (http://…/trace/<id>)"` when spans are exported.
pub fn jaeger_suffix(trace: &str) -> String {
    crate::telemetry::jaeger_url(trace).map_or_else(String::new, |url| format!("  {url}"))
}
