//! One trace from an internal breakdown to the external customer it hurts, across the three
//! services, as an operator would find it in Jaeger.
//!
//! The three services run in this process (see `chain_e2e::services`), each exporting over
//! OTLP/gRPC to an in-process receiver under its own `service.name`. The story: a customer has a
//! ticket and a promise in tickets-svc; the promise rests on a request from Sales to the
//! Workshop in requests-svc; the Workshop delivers and Sales reports the delivery unusable (a
//! breakdown). Then:
//!
//! - one trace holds spans of all three services;
//! - it runs in order: requests-svc's `ReportBreakdown` call (the root) → tickets-svc's chain
//!   view processing the breakdown → scoring-svc processing the `PromiseAtRisk` that tickets-svc
//!   emitted under it, each an ancestor of the next, with each relay's publish span in between;
//! - the spans name the chain (`chain.team`, `chain.link`, `chain.request_id`,
//!   `chain.ticket_id`, `chain.case_id`, `chain.customer_tier`) and mark the breakdown and the
//!   promise going at risk with span events;
//! - no span of any trace holds the customer's name or e-mail, a feedback comment or any other
//!   free text the callers sent.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use chain_e2e::chain::{Chain, Customer, Parties, key};
use chain_e2e::otlp::ExportedSpan;
use chain_e2e::trace::{PRODUCER_KIND, Trace, is_processing};
use chain_proto::customerchain::v1 as pb;
use chain_testkit::wait_until;
use chain_tickets::chain_view::CHAIN_VIEW_NAME;
use chrono::TimeDelta;

/// Personal data and free text the callers send; none of it may reach a span.
const CUSTOMER_NAME: &str = "Philippa Quennell-Odunsi";
const CUSTOMER_EMAIL: &str = "philippa.quennell@example.org";
const FEEDBACK_COMMENT: &str = "The loan desk wobbled and nobody called back, Zanzibar";
const TICKET_SUBJECT: &str = "Walnut standing desk for Philippa";
const REQUEST_TITLE: &str = "Build the walnut desk, Quennell order";
const BREAKDOWN_REASON: &str = "The walnut top arrived split, Quennell desk unusable";

/// The call that starts the story's trace, as its server span is named.
const BREAKDOWN_CALL: &str = "customerchain.v1.InternalRequestService/ReportBreakdown";
/// The durable consumer of scoring-svc that reads tickets-svc's events.
const SCORING_TICKETS_CONSUMER: &str = "scoring-tickets";

/// What the story leaves behind: the ids to find in the trace.
struct Story {
    sales: String,
    workshop: String,
    ticket_id: String,
    request_id: String,
}

/// A customer, a ticket and a promise resting on one internal request; then the request's
/// consumer reports it broken down, and the customer leaves a comment.
async fn play_the_breakdown(chain: &Chain) -> Story {
    let parties = chain
        .parties(Customer {
            name: CUSTOMER_NAME,
            email: CUSTOMER_EMAIL,
            value_minor: 2_500_000,
            subject: TICKET_SUBJECT,
        })
        .await;
    let request_id = chain
        .committed_request(&parties, REQUEST_TITLE, TimeDelta::days(13))
        .await;
    chain
        .promise_once_the_chain_is_known(&parties, TimeDelta::days(14))
        .await;
    let Parties {
        sales,
        workshop,
        customer_id,
        ticket_id,
    } = parties;
    let mut as_workshop = chain.requests(&workshop).await;
    let mut as_sales = chain.requests(&sales).await;
    let mut front = chain.tickets(&sales).await;

    // The workshop delivers; Sales finds the delivery unusable: the breakdown, which the trace
    // under test starts with.
    as_workshop
        .fulfil_request(pb::FulfilRequestRequest {
            idempotency_key: key(),
            request_id: request_id.clone(),
            expected_version: 0,
        })
        .await
        .unwrap();
    as_sales
        .report_breakdown(pb::ReportBreakdownRequest {
            idempotency_key: key(),
            request_id: request_id.clone(),
            expected_version: 0,
            kind: pb::BreakdownKind::NotUsable.into(),
            reason: BREAKDOWN_REASON.to_owned(),
        })
        .await
        .unwrap();
    let at_risk = wait_until(
        Duration::from_secs(20),
        Duration::from_millis(50),
        async || {
            front
                .get_ticket(pb::GetTicketRequest {
                    ticket_id: ticket_id.clone(),
                })
                .await
                .is_ok_and(|t| t.into_inner().state() == pb::TicketState::AtRisk)
        },
    )
    .await;
    assert!(at_risk, "the promise never went at risk");

    // The customer complains; scoring-svc may not know the ticket yet, so retry until it does.
    let mut scoring = chain.scoring(&sales).await;
    let feedback = pb::RecordFeedbackRequest {
        idempotency_key: key(),
        subject: Some(pb::FeedbackSubject {
            subject: Some(pb::feedback_subject::Subject::Customer(
                pb::CustomerFeedbackSubject {
                    customer_id: customer_id.clone(),
                    ticket_id: ticket_id.clone(),
                },
            )),
        }),
        csat: Some(1),
        nps: None,
        comment: FEEDBACK_COMMENT.to_owned(),
    };
    let recorded = wait_until(
        Duration::from_secs(20),
        Duration::from_millis(100),
        async || scoring.record_feedback(feedback.clone()).await.is_ok(),
    )
    .await;
    assert!(recorded, "scoring-svc never took the customer's feedback");

    Story {
        sales,
        workshop,
        ticket_id,
        request_id,
    }
}

/// The breakdown call's span, once the whole trace behind it (down to scoring-svc, with every
/// span in between) arrived.
fn breakdown_call(spans: &[ExportedSpan]) -> Option<&ExportedSpan> {
    let call = spans
        .iter()
        .find(|span| span.service == "requests-svc" && span.name() == BREAKDOWN_CALL)?;
    let trace = Trace::of(spans, &call.span.trace_id);
    let scored = trace.processing("scoring-svc", SCORING_TICKETS_CONSUMER, ".promise_at_risk")?;
    trace.ancestry(scored).map(|_| call)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_the_breakdown_to_the_customer_without_personal_data() {
    let chain = Chain::start().await;
    let story = play_the_breakdown(&chain).await;

    let mut spans = Vec::new();
    let complete = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        async || {
            spans = chain.spans().await;
            breakdown_call(&spans).is_some()
        },
    )
    .await;
    let services_seen: BTreeSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    assert!(
        complete,
        "no trace from ReportBreakdown down to scoring-svc among {} spans from {services_seen:?}",
        spans.len()
    );
    let call = breakdown_call(&spans).unwrap();
    let trace = Trace::of(&spans, &call.span.trace_id);

    // One trace, three services.
    assert_eq!(
        trace.services(),
        BTreeSet::from(["requests-svc", "scoring-svc", "tickets-svc"]),
    );

    // In order: the command is the root; tickets-svc's chain view continues it; scoring-svc
    // processes the promise's risk under the chain view's span.
    assert!(
        call.span.parent_span_id.is_empty(),
        "the call starts the trace"
    );
    let scored = trace
        .processing("scoring-svc", SCORING_TICKETS_CONSUMER, ".promise_at_risk")
        .expect("scoring-svc processed the promise's risk in the trace");
    let line = trace.ancestry(scored).unwrap();
    // The chain view's processing on scoring's line: a batch rolled back and applied again
    // processes the breakdown twice, and only the run that committed published the reaction.
    let at_view = line
        .iter()
        .position(|s| is_processing(s, "tickets-svc", CHAIN_VIEW_NAME, ".breakdown_reported"));
    let at_call = line
        .iter()
        .position(|s| s.span.span_id == call.span.span_id);
    let (Some(at_view), Some(at_call)) = (at_view, at_call) else {
        let names: Vec<String> = line
            .iter()
            .map(|s| format!("{} {}", s.service, s.name()))
            .collect();
        panic!("scoring-svc's span descends from {names:?}");
    };
    assert!(
        0 < at_view && at_view < at_call,
        "scoring → tickets → requests"
    );
    let chain_view = line[at_view];
    assert_eq!(
        line.last().map(|s| s.span.span_id.clone()),
        Some(call.span.span_id.clone())
    );
    // Each NATS hop has its relay's publish span between the services it connects.
    let publish_of = |service: &str| {
        line.iter()
            .position(|s| s.span.kind == PRODUCER_KIND && s.service == service)
    };
    let (Some(requests_publish), Some(tickets_publish)) =
        (publish_of("requests-svc"), publish_of("tickets-svc"))
    else {
        panic!("a relay publish span is missing from the line");
    };
    assert!(
        at_view < requests_publish && requests_publish < at_call,
        "requests-svc publishes after the call and before tickets-svc consumes"
    );
    assert!(
        0 < tickets_publish && tickets_publish < at_view,
        "tickets-svc publishes after its chain view and before scoring-svc consumes"
    );
    assert_eq!(
        line[requests_publish].attribute("chain.case_id"),
        Some(story.ticket_id.clone())
    );

    // The spans name the chain.
    assert_eq!(
        call.attribute("chain.request_id"),
        Some(story.request_id.clone())
    );
    assert_eq!(call.attribute("chain.team"), Some(story.sales.clone()));
    assert_eq!(
        call.attribute("chain.link"),
        Some(format!("{}->{}", story.workshop, story.sales))
    );
    assert_eq!(
        call.attribute("chain.case_id"),
        Some(story.ticket_id.clone())
    );
    assert!(
        call.has_event("request broken down"),
        "{:?}",
        call.span.events
    );
    assert_eq!(
        chain_view.attribute("chain.request_id"),
        Some(story.request_id.clone())
    );
    assert_eq!(
        chain_view.attribute("chain.ticket_id"),
        Some(story.ticket_id.clone())
    );
    assert_eq!(
        chain_view.attribute("chain.case_id"),
        Some(story.ticket_id.clone())
    );
    assert_eq!(
        chain_view.attribute("chain.customer_tier").as_deref(),
        Some("A")
    );
    assert!(
        chain_view.has_event("promise at risk"),
        "{:?}",
        chain_view.span.events
    );
    assert_eq!(
        scored.attribute("chain.ticket_id"),
        Some(story.ticket_id.clone())
    );
    assert_eq!(
        scored.attribute("chain.case_id"),
        Some(story.ticket_id.clone())
    );
    // tickets-svc put the customer's tier in the baggage of its reaction; it reached scoring-svc.
    assert_eq!(
        scored.attribute("chain.customer_tier").as_deref(),
        Some("A")
    );

    // No span of any trace holds personal data or free text, only ids and tiers.
    let forbidden = [
        CUSTOMER_NAME,
        "Philippa",
        "Quennell",
        CUSTOMER_EMAIL,
        FEEDBACK_COMMENT,
        "Zanzibar",
        TICKET_SUBJECT,
        REQUEST_TITLE,
        BREAKDOWN_REASON,
        "walnut",
    ];
    let feedback_call = spans
        .iter()
        .find(|s| s.name() == "customerchain.v1.SatisfactionService/RecordFeedback");
    assert!(feedback_call.is_some(), "the feedback call was traced too");
    for span in &spans {
        for text in span.texts() {
            let lowered = text.to_lowercase();
            for word in forbidden {
                assert!(
                    !lowered.contains(&word.to_lowercase()),
                    "span {} of {} holds {word:?}: {text:?}",
                    span.name(),
                    span.service
                );
            }
        }
    }
    assert!(
        spans
            .iter()
            .any(|s| s.attribute("chain.ticket_id").is_some()),
        "ids are there to be found"
    );

    // Every span the services ended reached the receiver.
    for (name, counts) in chain.stop().await {
        assert_eq!(counts.not_exported(), 0, "{name}: {counts:?}");
        assert_eq!(counts.export_failed, 0, "{name}: {counts:?}");
    }
}
