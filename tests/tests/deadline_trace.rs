//! A deadline passing starts a trace of its own, and that trace reaches the customer's ticket.
//!
//! Nobody calls a service when a due time passes unfulfilled: requests-svc's deadline watch fires
//! the breach. The story: a ticket's promise rests on a request from Sales to the Workshop, which
//! the Workshop commits to deliver two seconds from now and never does. Then:
//!
//! - requests-svc exports a root `deadline.fire request_due` span naming the request, its link
//!   and its case, with a `request breached` event;
//! - tickets-svc's chain view processes the breach in that trace, under requests-svc's publish
//!   span, and puts the promise at risk there (`promise at risk`).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chain_e2e::chain::{Chain, key, stamp};
use chain_e2e::otlp::ExportedSpan;
use chain_e2e::trace::{PRODUCER_KIND, Trace};
use chain_proto::customerchain::v1 as pb;
use chain_testkit::wait_until;
use chrono::TimeDelta;

/// The name requests-svc gives the span of a request's due time passing.
const DEADLINE_SPAN: &str = "deadline.fire request_due";
/// The durable consumer of tickets-svc that reads requests-svc's events.
const TICKETS_CHAIN_VIEW: &str = "tickets-chain-view";

/// The ids to find in the trace.
struct Story {
    sales: String,
    workshop: String,
    ticket_id: String,
    request_id: String,
}

/// A ticket promised on a request that the Workshop commits to deliver in two seconds.
async fn promise_on_a_request_due_soon(chain: &Chain) -> Story {
    let mut admin = chain.requests("e2e-admin").await;
    let mut team = async |name: &str, front_line: bool| {
        admin
            .create_team(pb::CreateTeamRequest {
                idempotency_key: key(),
                name: name.to_owned(),
                front_line,
            })
            .await
            .unwrap()
            .into_inner()
            .team_id
    };
    let sales = team("Sales", true).await;
    let workshop = team("Workshop", false).await;
    let mut as_workshop = chain.requests(&workshop).await;
    as_workshop
        .declare_link(pb::DeclareLinkRequest {
            idempotency_key: key(),
            consumer_team_id: sales.clone(),
            ola: chain_proto::duration::from_chrono(TimeDelta::hours(48)).ok(),
            expected_version: 0,
        })
        .await
        .unwrap();
    let mut front = chain.tickets(&sales).await;
    let customer = front
        .register_customer(pb::RegisterCustomerRequest {
            idempotency_key: key(),
            display_name: "Customer 1".to_owned(),
            email: String::new(),
            value: Some(pb::Money {
                currency_code: "EUR".into(),
                value_minor: 900_000,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let ticket_id = front
        .open_ticket(pb::OpenTicketRequest {
            idempotency_key: key(),
            customer_id: customer.customer_id,
            subject: "Desk".to_owned(),
            front_line_team_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .ticket_id;
    let request_id = chain
        .requests(&sales)
        .await
        .open_request(pb::OpenRequestRequest {
            idempotency_key: key(),
            provider_team_id: workshop.clone(),
            title: "Build the desk".to_owned(),
            needed_by: stamp(TimeDelta::days(14)),
            parent: Some(pb::open_request_request::Parent::ParentTicketId(
                ticket_id.clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner()
        .request_id;
    as_workshop
        .commit_request(pb::CommitRequestRequest {
            idempotency_key: key(),
            request_id: request_id.clone(),
            expected_version: 1,
            due_at: stamp(TimeDelta::seconds(2)),
            kind: pb::CommitmentKind::OrganisationalCommitment.into(),
        })
        .await
        .unwrap();
    // The promise is made once tickets-svc knows the chain behind the ticket (so it is not
    // refused), and before the request falls due.
    let promise = pb::MakePromiseRequest {
        idempotency_key: key(),
        ticket_id: ticket_id.clone(),
        expected_version: 0,
        due_at: stamp(TimeDelta::days(14)),
        kind: pb::CommitmentKind::OrganisationalCommitment.into(),
        wording: "Your desk in two weeks".into(),
        acknowledge_risk: false,
    };
    let promised = wait_until(
        Duration::from_secs(20),
        Duration::from_millis(50),
        async || front.make_promise(promise.clone()).await.is_ok(),
    )
    .await;
    assert!(promised, "tickets-svc never took the promise");
    Story {
        sales,
        workshop,
        ticket_id,
        request_id,
    }
}

/// The deadline's span, once the chain view's processing of the breach arrived in its trace with
/// every span in between.
fn fired_and_seen(spans: &[ExportedSpan]) -> Option<(&ExportedSpan, &ExportedSpan)> {
    let fired = spans
        .iter()
        .find(|span| span.service == "requests-svc" && span.name() == DEADLINE_SPAN)?;
    let trace = Trace::of(spans, &fired.span.trace_id);
    let seen = trace.processing("tickets-svc", TICKETS_CHAIN_VIEW, ".request_breached")?;
    trace.ancestry(seen).map(|_| (fired, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_due_time_starts_a_trace_that_reaches_the_ticket() {
    let chain = Chain::start().await;
    let story = promise_on_a_request_due_soon(&chain).await;

    let mut spans = Vec::new();
    let complete = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            spans = chain.spans().await;
            fired_and_seen(&spans).is_some()
        },
    )
    .await;
    assert!(
        complete,
        "no trace from the deadline to tickets-svc among {} spans",
        spans.len()
    );
    let (fired, seen) = fired_and_seen(&spans).unwrap();

    // The deadline starts the trace and says what broke.
    assert!(fired.span.parent_span_id.is_empty(), "the firing is a root");
    assert_eq!(
        fired.attribute("chain.request_id"),
        Some(story.request_id.clone())
    );
    assert_eq!(
        fired.attribute("chain.link"),
        Some(format!("{}->{}", story.workshop, story.sales))
    );
    assert_eq!(
        fired.attribute("chain.case_id"),
        Some(story.ticket_id.clone())
    );
    assert!(
        fired.has_event("request breached"),
        "{:?}",
        fired.span.events
    );

    // The chain view continues it through the relay's publish span, and the promise goes at
    // risk there.
    let trace = Trace::of(&spans, &fired.span.trace_id);
    let line = trace.ancestry(seen).unwrap();
    let names: Vec<String> = line
        .iter()
        .map(|s| format!("{} {}", s.service, s.name()))
        .collect();
    assert_eq!(
        line.last().map(|s| s.span.span_id.clone()),
        Some(fired.span.span_id.clone()),
        "{names:?}"
    );
    assert!(
        line.iter()
            .any(|s| s.span.kind == PRODUCER_KIND && s.service == "requests-svc"),
        "the relay's publish span is on the way: {names:?}"
    );
    assert_eq!(
        seen.attribute("chain.ticket_id"),
        Some(story.ticket_id.clone())
    );
    assert!(seen.has_event("promise at risk"), "{:?}", seen.span.events);

    for (name, counts) in chain.stop().await {
        assert_eq!(counts.not_exported(), 0, "{name}: {counts:?}");
    }
}
