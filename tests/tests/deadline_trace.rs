//! A deadline passing starts a trace of its own, and that trace reaches the customer's ticket.
//!
//! Nobody calls a service when a due time passes unfulfilled: requests-svc's deadline watch fires
//! the breach. The story: a ticket's promise rests on a request from Sales to the Workshop, which
//! the Workshop commits to deliver four seconds from now and never does. Then:
//!
//! - requests-svc exports a root `deadline.fire request_due` span naming the request, its link
//!   and its case, with a `request breached` event;
//! - tickets-svc's chain view processes the breach in that trace, under requests-svc's publish
//!   span, and puts the promise at risk there (`promise at risk`).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chain_e2e::chain::{Chain, Customer, Parties};
use chain_e2e::otlp::ExportedSpan;
use chain_e2e::trace::{PRODUCER_KIND, Trace};
use chain_testkit::wait_until;
use chain_tickets::chain_view::CHAIN_VIEW_NAME;
use chrono::TimeDelta;

/// The name requests-svc gives the span of a request's due time passing.
const DEADLINE_SPAN: &str = "deadline.fire request_due";

/// A ticket promised on a request that the Workshop commits to deliver in four seconds (time
/// enough for the promise to be made first, even on a busy machine).
/// Returns the parties and the request's id.
async fn promise_on_a_request_due_soon(chain: &Chain) -> (Parties, String) {
    let parties = chain
        .parties(Customer {
            name: "Customer 1",
            email: "",
            value_minor: 900_000,
            subject: "Desk",
        })
        .await;
    let request_id = chain
        .committed_request(&parties, "Build the desk", TimeDelta::seconds(4))
        .await;
    chain
        .promise_once_the_chain_is_known(&parties, TimeDelta::days(14))
        .await;
    (parties, request_id)
}

/// The deadline's span, once the chain view's processing of the breach arrived in its trace with
/// every span in between.
fn fired_and_seen(spans: &[ExportedSpan]) -> Option<(&ExportedSpan, &ExportedSpan)> {
    let fired = spans
        .iter()
        .find(|span| span.service == "requests-svc" && span.name() == DEADLINE_SPAN)?;
    let trace = Trace::of(spans, &fired.span.trace_id);
    let seen = trace.processing("tickets-svc", CHAIN_VIEW_NAME, ".request_breached")?;
    trace.ancestry(seen).map(|_| (fired, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_due_time_starts_a_trace_that_reaches_the_ticket() {
    let chain = Chain::start().await;
    let (parties, request_id) = promise_on_a_request_due_soon(&chain).await;

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
        Some(request_id.clone())
    );
    assert_eq!(
        fired.attribute("chain.link"),
        Some(format!("{}->{}", parties.workshop, parties.sales))
    );
    assert_eq!(
        fired.attribute("chain.case_id"),
        Some(parties.ticket_id.clone())
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
        Some(parties.ticket_id.clone())
    );
    assert!(seen.has_event("promise at risk"), "{:?}", seen.span.events);

    for (name, counts) in chain.stop().await {
        assert_eq!(counts.not_exported(), 0, "{name}: {counts:?}");
    }
}
