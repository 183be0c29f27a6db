//! Duplicate and reordered request events leave the same ticket state. Two tickets with the
//! same chain behind them: one hears of it in order through the requests relay; the other
//! gets the same kind of events shuffled across and within the requests' streams, with
//! copies the server cannot deduplicate, and then every event all over again. Both end at
//! risk with the same root cause, path, projection and trigger, and the copies add nothing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chain_store::StreamId;
use chain_testkit::wait_until;
use chain_tickets::chain_view::CHAIN_VIEW_NAME;
use chrono::{DateTime, TimeDelta, Utc};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::chain::Chain;
use crate::harness::*;

/// The chain behind a ticket: the workshop builds (two weeks), transport delivers (two weeks,
/// then revised three days late), paint finishes (one day late, then delivered).
async fn run_chain(chain: &mut Chain, ticket: &str, teams: &Teams, base: DateTime<Utc>) {
    let two_weeks = base + TimeDelta::days(14);
    let build = chain
        .open(ticket, &teams.sales, &teams.workshop, two_weeks, None)
        .await;
    chain.commit(build, two_weeks).await;
    let deliver = chain
        .open(
            ticket,
            &teams.workshop,
            &teams.transport,
            two_weeks,
            Some(build),
        )
        .await;
    chain.commit(deliver, two_weeks).await;
    let paint = chain
        .open(
            ticket,
            &teams.workshop,
            &teams.paint,
            two_weeks,
            Some(build),
        )
        .await;
    chain.commit(paint, two_weeks + TimeDelta::days(1)).await;
    chain.revise(deliver, two_weeks + TimeDelta::days(3)).await;
    chain.fulfil(paint).await;
}

struct Teams {
    sales: String,
    workshop: String,
    transport: String,
    paint: String,
}

/// What must not depend on the order: everything but ids and times of recording.
fn shape(ticket: &pb::Ticket) -> impl PartialEq + std::fmt::Debug {
    let risk = ticket.risk.clone().unwrap_or_default();
    let teams =
        |link: &pb::CauseLink| (link.provider_team_id.clone(), link.consumer_team_id.clone());
    (
        ticket.state(),
        risk.root_cause.as_ref().map(teams),
        risk.path
            .as_ref()
            .map(|p| p.links.iter().map(teams).collect::<Vec<_>>()),
        risk.projected_completion,
        risk.projected_delay,
        risk.trigger(),
        ticket.chain_projected_completion,
        ticket.critical_link.as_ref().map(teams),
    )
}

async fn publish(harness: &Harness, envelope: &pb::EventEnvelope, with_id: bool) {
    let subject = harness.layout.subject(
        chain_tickets::REQUESTS_SERVICE,
        &envelope.aggregate_type,
        &envelope.event_type,
    );
    let (headers, body) = chain_bus::encode_envelope(envelope);
    let ack = if with_id {
        harness
            .js
            .publish_with_headers(subject, headers, body)
            .await
    } else {
        // No Nats-Msg-Id: the server keeps the copy, only the consumer's inbox can drop it.
        harness.js.publish(subject, body).await
    };
    ack.expect("publish").await.expect("stored");
}

async fn drained(harness: &Harness) {
    let stream = harness
        .js
        .get_stream(harness.layout.stream_name(chain_tickets::REQUESTS_SERVICE))
        .await
        .expect("the requests stream");
    let done = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        async || {
            stream
                .consumer_info(CHAIN_VIEW_NAME)
                .await
                .is_ok_and(|info| info.num_pending == 0 && info.num_ack_pending == 0)
        },
    )
    .await;
    assert!(done, "the chain view consumed everything");
}

#[tokio::test]
async fn duplicate_and_reordered_request_events_leave_the_same_ticket_state() {
    let harness = Harness::start().await;
    let teams = Teams {
        sales: team(),
        workshop: team(),
        transport: team(),
        paint: team(),
    };
    let front = harness.client(&teams.sales).await;
    let jane = customer(&front, "Jane Doe", 5_000).await;
    let in_order = ticket(&front, &jane.customer_id, "Desk, in order").await;
    let shuffled = ticket(&front, &jane.customer_id, "Desk, shuffled").await;
    let base = chain_rpc::clock::now();
    let promised = base + TimeDelta::days(15);
    for ticket in [&in_order, &shuffled] {
        front
            .clone()
            .make_promise(promise(&ticket.ticket_id, promised, false))
            .await
            .expect("nothing serves it yet");
    }

    let mut ordered = harness.chain();
    run_chain(&mut ordered, &in_order.ticket_id, &teams, base).await;
    let mut loose = Chain::new(None);
    run_chain(&mut loose, &shuffled.ticket_id, &teams, base).await;
    let mut envelopes = loose.envelopes.clone();
    envelopes.shuffle(&mut rand::rngs::StdRng::seed_from_u64(2026));
    for (i, envelope) in envelopes.iter().enumerate() {
        publish(&harness, envelope, true).await;
        if i % 3 == 0 {
            publish(&harness, envelope, false).await;
        }
    }
    harness
        .chain_view_saw(ordered.event_count() + loose.event_count())
        .await;
    drained(&harness).await;
    let stats = &harness.chain_view;
    assert!(
        stats.deferred.load(Ordering::Relaxed) > 0,
        "some event came before an earlier one of its stream"
    );
    assert!(
        stats.skipped.load(Ordering::Relaxed) > 0,
        "some copy was dropped by the inbox"
    );

    let a = read_ticket(&front, &in_order.ticket_id).await;
    let b = read_ticket(&front, &shuffled.ticket_id).await;
    assert_eq!(a.state(), pb::TicketState::AtRisk, "{a:#?}");
    assert_eq!(shape(&a), shape(&b));
    let risk = a.risk.clone().expect("a risk");
    assert_eq!(
        risk.root_cause.as_ref().map(|l| l.provider_team_id.clone()),
        Some(teams.transport.clone())
    );
    assert_eq!(risk.trigger(), pb::RiskTrigger::Revised);
    assert_eq!(
        risk.projected_delay,
        chain_proto::duration::from_chrono(TimeDelta::days(2)).ok()
    );

    // Everything again, with and without ids: nothing more happens to either ticket.
    let stream = StreamId::new("ticket", shuffled.ticket_id.clone());
    let before = harness.events(&stream).await.len();
    for envelope in loose.envelopes.iter().rev() {
        publish(&harness, envelope, false).await;
        publish(&harness, envelope, true).await;
    }
    drained(&harness).await;
    assert_eq!(harness.events(&stream).await.len(), before);
    assert_eq!(
        shape(&read_ticket(&front, &shuffled.ticket_id).await),
        shape(&b)
    );
    let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&harness.pool)
        .await
        .expect("count");
    assert_eq!(parked, 0, "nothing was poison");
}
