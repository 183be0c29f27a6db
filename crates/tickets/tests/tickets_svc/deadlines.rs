//! A promise whose due time passes unresolved breaks: exactly once with two watches running,
//! within about a second, at the due time itself; and a watch started after the due time
//! (the service was down) catches up with the same event.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chain_store::StreamId;
use chrono::TimeDelta;

use crate::harness::*;

async fn promised_soon(
    harness: &Harness,
    front: &Client,
) -> (pb::Ticket, chrono::DateTime<chrono::Utc>) {
    let jane = customer(front, "Jane Doe", 4_000).await;
    let desk = ticket(front, &jane.customer_id, "Desk").await;
    let due = chain_rpc::clock::now() + TimeDelta::milliseconds(1_500);
    let made = front
        .clone()
        .make_promise(promise(&desk.ticket_id, due, false))
        .await
        .expect("MakePromise")
        .into_inner();
    // The projector schedules the deadline.
    harness.settled().await;
    (made, due)
}

#[tokio::test]
async fn an_unresolved_promise_breaks_once_at_its_due_time() {
    let harness = Harness::with(Options {
        deadline_watches: 2,
    })
    .await;
    let sales = team();
    let front = harness.client(&sales).await;
    let (desk, due) = promised_soon(&harness, &front).await;
    let broken = harness
        .eventually_ticket(&front, &desk.ticket_id, 6, |t| {
            t.state() == pb::TicketState::Broken
        })
        .await;
    assert_eq!(broken.promise.map(|p| p.due_at), Some(stamp(due)));
    let noticed = chain_rpc::clock::now();
    assert!(
        noticed - due < TimeDelta::milliseconds(3_000),
        "broken within about a second of {due}, seen at {noticed}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stream = StreamId::new("ticket", desk.ticket_id.clone());
    let events = harness.events(&stream).await;
    let breaks: Vec<_> = events
        .iter()
        .filter(|e| short(&e.event_type) == "PromiseBroken")
        .collect();
    assert_eq!(breaks.len(), 1, "exactly once across two watches");
    assert_eq!(breaks[0].occurred_at, due, "at the due time itself");
    assert_eq!(breaks[0].metadata.actor, "tickets-svc");
    let fired: u64 = harness
        .watches
        .iter()
        .map(|w| w.fired.load(Ordering::Relaxed))
        .sum();
    assert_eq!(fired, 1);

    // An apology after the fact, then a late delivery.
    let apologised = front
        .clone()
        .notify_customer(pb::NotifyCustomerRequest {
            idempotency_key: key(),
            ticket_id: desk.ticket_id.clone(),
            expected_version: 0,
            new_expected_at: stamp(chain_rpc::clock::now() + TimeDelta::days(1)),
            remedy: Some(pb::Remedy {
                kind: pb::RemedyKind::Credit.into(),
                description: "10% off".into(),
                credit: eur(400),
            }),
            message: "Sorry, it is late".into(),
        })
        .await
        .expect("NotifyCustomer")
        .into_inner();
    let notice = apologised.notices.last().expect("a notice");
    assert!(!notice.before_due, "told after the due time");
    assert_eq!(
        notice.remedy.as_ref().and_then(|r| r.credit.clone()),
        eur(400)
    );
    let resolved = front
        .clone()
        .resolve_ticket(pb::ResolveTicketRequest {
            idempotency_key: key(),
            ticket_id: desk.ticket_id.clone(),
            expected_version: apologised.version,
            delivered: true,
        })
        .await
        .expect("ResolveTicket")
        .into_inner();
    assert_eq!(resolved.outcome(), pb::PromiseOutcome::KeptLate);
    harness.settled().await;
    let deadlines: i64 = sqlx::query_scalar("SELECT count(*) FROM deadlines")
        .fetch_one(&harness.pool)
        .await
        .expect("count");
    assert_eq!(deadlines, 0);
}

#[tokio::test]
async fn a_watch_started_late_catches_up_with_the_same_event() {
    let mut harness = Harness::with(Options {
        deadline_watches: 0,
    })
    .await;
    let sales = team();
    let front = harness.client(&sales).await;
    let (desk, due) = promised_soon(&harness, &front).await;
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let still = read_ticket(&front, &desk.ticket_id).await;
    assert_eq!(still.state(), pb::TicketState::Promised, "no watch ran");
    harness.spawn_watch();
    harness
        .eventually_ticket(&front, &desk.ticket_id, 5, |t| {
            t.state() == pb::TicketState::Broken
        })
        .await;
    let stream = StreamId::new("ticket", desk.ticket_id.clone());
    let events = harness.events(&stream).await;
    let broken = events
        .iter()
        .find(|e| short(&e.event_type) == "PromiseBroken")
        .expect("PromiseBroken");
    assert_eq!(
        broken.occurred_at, due,
        "the due time, not the time it was noticed"
    );
}
