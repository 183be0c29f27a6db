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
//!   emitted under it (each an ancestor of the next, so a relay publish span in between keeps
//!   the test valid);
//! - the spans name the chain (`chain.team`, `chain.link`, `chain.request_id`,
//!   `chain.ticket_id`, `chain.case_id`, `chain.customer_tier`) and mark the breakdown and the
//!   promise going at risk with span events;
//! - no span of any trace holds the customer's name or e-mail, a feedback comment or any other
//!   free text the callers sent.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chain_e2e::otlp::{ExportedSpan, TraceReceiver};
use chain_e2e::services::{Environment, ServiceUnderTest};
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_proto::customerchain::v1::satisfaction_service_client::SatisfactionServiceClient;
use chain_proto::customerchain::v1::ticket_service_client::TicketServiceClient;
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chain_server::ChainService;
use chain_testkit::{NatsRoot, wait_until};
use chrono::{TimeDelta, Utc};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Personal data and free text the callers send; none of it may reach a span.
const CUSTOMER_NAME: &str = "Philippa Quennell-Odunsi";
const CUSTOMER_EMAIL: &str = "philippa.quennell@example.org";
const FEEDBACK_COMMENT: &str = "The loan desk wobbled and nobody called back, Zanzibar";
const TICKET_SUBJECT: &str = "Walnut standing desk for Philippa";
const REQUEST_TITLE: &str = "Build the walnut desk, Quennell order";
const BREAKDOWN_REASON: &str = "The walnut top arrived split, Quennell desk unusable";

/// The call that starts the story's trace, as its server span is named.
const BREAKDOWN_CALL: &str = "customerchain.v1.InternalRequestService/ReportBreakdown";
/// The durable consumer of tickets-svc that reads requests-svc's events.
const TICKETS_CHAIN_VIEW: &str = "tickets-chain-view";
/// The durable consumer of scoring-svc that reads tickets-svc's events.
const SCORING_TICKETS_CONSUMER: &str = "scoring-tickets";

/// Sets `x-chain-actor` on every call.
#[derive(Clone)]
struct ActAs(AsciiMetadataValue);

impl Interceptor for ActAs {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert(ACTOR_METADATA_KEY, self.0.clone());
        Ok(request)
    }
}

type Requests = InternalRequestServiceClient<InterceptedService<Channel, ActAs>>;
type Tickets = TicketServiceClient<InterceptedService<Channel, ActAs>>;
type Scoring = SatisfactionServiceClient<InterceptedService<Channel, ActAs>>;

async fn channel(service: &ServiceUnderTest) -> Channel {
    Channel::from_shared(service.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn act_as(actor: &str) -> ActAs {
    ActAs(actor.parse().unwrap())
}

fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn stamp(delta: TimeDelta) -> Option<prost_types::Timestamp> {
    Some(chain_proto::timestamp::from_datetime(Utc::now() + delta))
}

/// The three services, their clients' channels, and the receiver of their spans.
struct Chain {
    receiver: TraceReceiver,
    requests: ServiceUnderTest,
    tickets: ServiceUnderTest,
    scoring: ServiceUnderTest,
}

impl Chain {
    async fn start() -> Self {
        let receiver = TraceReceiver::start().await.unwrap();
        let environment = Environment {
            bus_root: NatsRoot::unique(),
            otlp_endpoint: Some(receiver.endpoint()),
        };
        let (requests, tickets, scoring) = tokio::join!(
            ServiceUnderTest::start(ChainService::Requests, &environment),
            ServiceUnderTest::start(ChainService::Tickets, &environment),
            ServiceUnderTest::start(ChainService::Scoring, &environment),
        );
        Self {
            receiver,
            requests: requests.unwrap(),
            tickets: tickets.unwrap(),
            scoring: scoring.unwrap(),
        }
    }

    async fn requests(&self, actor: &str) -> Requests {
        InternalRequestServiceClient::with_interceptor(channel(&self.requests).await, act_as(actor))
    }

    async fn tickets(&self, actor: &str) -> Tickets {
        TicketServiceClient::with_interceptor(channel(&self.tickets).await, act_as(actor))
    }

    async fn scoring(&self, actor: &str) -> Scoring {
        SatisfactionServiceClient::with_interceptor(channel(&self.scoring).await, act_as(actor))
    }

    /// Exports what every service has ended so far and returns every span received.
    async fn spans(&self) -> Vec<ExportedSpan> {
        for service in [&self.requests, &self.tickets, &self.scoring] {
            service.flush_spans().await.unwrap();
        }
        self.receiver.spans()
    }
}

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
    let admin = chain.requests("e2e-admin").await;
    let team = |name: &str, front_line: bool| {
        let mut admin = admin.clone();
        let request = pb::CreateTeamRequest {
            idempotency_key: key(),
            name: name.to_owned(),
            front_line,
        };
        async move {
            admin
                .create_team(request)
                .await
                .unwrap()
                .into_inner()
                .team_id
        }
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
            display_name: CUSTOMER_NAME.to_owned(),
            email: CUSTOMER_EMAIL.to_owned(),
            value: Some(pb::Money {
                currency_code: "EUR".into(),
                value_minor: 2_500_000,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let ticket = front
        .open_ticket(pb::OpenTicketRequest {
            idempotency_key: key(),
            customer_id: customer.customer_id.clone(),
            subject: TICKET_SUBJECT.to_owned(),
            front_line_team_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let mut as_sales = chain.requests(&sales).await;
    let request = as_sales
        .open_request(pb::OpenRequestRequest {
            idempotency_key: key(),
            provider_team_id: workshop.clone(),
            title: REQUEST_TITLE.to_owned(),
            needed_by: stamp(TimeDelta::days(14)),
            parent: Some(pb::open_request_request::Parent::ParentTicketId(
                ticket.ticket_id.clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner();
    as_workshop
        .commit_request(pb::CommitRequestRequest {
            idempotency_key: key(),
            request_id: request.request_id.clone(),
            expected_version: 1,
            due_at: stamp(TimeDelta::days(13)),
            kind: pb::CommitmentKind::PersonalPromise.into(),
        })
        .await
        .unwrap();
    // tickets-svc learns the chain behind the ticket from requests-svc's events.
    let ticket_id = ticket.ticket_id.clone();
    let chain_known = wait_until(
        Duration::from_secs(20),
        Duration::from_millis(50),
        async || {
            front
                .get_ticket(pb::GetTicketRequest {
                    ticket_id: ticket_id.clone(),
                })
                .await
                .is_ok_and(|t| t.into_inner().chain_projected_completion.is_some())
        },
    )
    .await;
    assert!(
        chain_known,
        "tickets-svc never saw the request's commitment"
    );
    front
        .make_promise(pb::MakePromiseRequest {
            idempotency_key: key(),
            ticket_id: ticket_id.clone(),
            expected_version: 0,
            due_at: stamp(TimeDelta::days(14)),
            kind: pb::CommitmentKind::PersonalPromise.into(),
            wording: "Your desk is with you in two weeks".into(),
            acknowledge_risk: false,
        })
        .await
        .unwrap();

    // The workshop delivers; Sales finds the delivery unusable: the breakdown, which the trace
    // under test starts with.
    as_workshop
        .fulfil_request(pb::FulfilRequestRequest {
            idempotency_key: key(),
            request_id: request.request_id.clone(),
            expected_version: 0,
        })
        .await
        .unwrap();
    as_sales
        .report_breakdown(pb::ReportBreakdownRequest {
            idempotency_key: key(),
            request_id: request.request_id.clone(),
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
                    customer_id: customer.customer_id.clone(),
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
        request_id: request.request_id,
    }
}

/// The spans of one trace, by span id.
struct Trace<'a> {
    spans: HashMap<&'a [u8], &'a ExportedSpan>,
}

impl<'a> Trace<'a> {
    fn of(all: &'a [ExportedSpan], trace_id: &[u8]) -> Self {
        let spans = all
            .iter()
            .filter(|span| span.span.trace_id == trace_id)
            .map(|span| (span.span.span_id.as_slice(), span))
            .collect();
        Self { spans }
    }

    fn services(&self) -> BTreeSet<&'a str> {
        self.spans
            .values()
            .map(|span| span.service.as_str())
            .collect()
    }

    /// `span`, its parent, its parent's parent, … up to the root.
    fn ancestry(&self, span: &'a ExportedSpan) -> Vec<&'a ExportedSpan> {
        let mut line = vec![span];
        let mut current = span;
        while !current.span.parent_span_id.is_empty() {
            let Some(parent) = self.spans.get(current.span.parent_span_id.as_slice()) else {
                panic!(
                    "span {} ({}) names a parent that was not exported",
                    current.name(),
                    current.service
                );
            };
            line.push(parent);
            current = parent;
        }
        line
    }

    /// The span of `service` processing a message of `consumer` on a subject ending in
    /// `event`.
    fn processing(&self, service: &str, consumer: &str, event: &str) -> Option<&'a ExportedSpan> {
        self.spans.values().copied().find(|span| {
            span.service == service
                && span.attribute("messaging.consumer.group.name").as_deref() == Some(consumer)
                && span
                    .attribute("messaging.destination.name")
                    .is_some_and(|subject| subject.ends_with(event))
        })
    }
}

/// The breakdown call's span, once the whole trace behind it (down to scoring-svc) arrived.
fn breakdown_call(spans: &[ExportedSpan]) -> Option<&ExportedSpan> {
    let call = spans
        .iter()
        .find(|span| span.service == "requests-svc" && span.name() == BREAKDOWN_CALL)?;
    let trace = Trace::of(spans, &call.span.trace_id);
    trace
        .processing("scoring-svc", SCORING_TICKETS_CONSUMER, ".promise_at_risk")
        .map(|_| call)
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
    let chain_view = trace
        .processing("tickets-svc", TICKETS_CHAIN_VIEW, ".breakdown_reported")
        .expect("tickets-svc processed the breakdown in the trace");
    let scored = trace
        .processing("scoring-svc", SCORING_TICKETS_CONSUMER, ".promise_at_risk")
        .expect("scoring-svc processed the promise's risk in the trace");
    let line = trace.ancestry(scored);
    let position = |span: &ExportedSpan| {
        line.iter()
            .position(|s| s.span.span_id == span.span.span_id)
    };
    let (Some(at_view), Some(at_call)) = (position(chain_view), position(call)) else {
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
    assert_eq!(
        line.last().map(|s| s.span.span_id.clone()),
        Some(call.span.span_id.clone())
    );
    // Any relay publish span on the way sits between the services it connects.
    for (index, span) in line.iter().enumerate() {
        if span.span.kind == PRODUCER_KIND && span.service == "requests-svc" {
            assert!(
                index > at_view,
                "requests-svc publishes before tickets-svc consumes"
            );
        }
    }

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
    for service in [chain.requests, chain.tickets, chain.scoring] {
        let name = service.service().binary_name();
        let counts = service.stop().await.unwrap();
        assert_eq!(counts.not_exported(), 0, "{name}: {counts:?}");
        assert_eq!(counts.export_failed, 0, "{name}: {counts:?}");
    }
}

/// `SpanKind::Producer` in OTLP.
const PRODUCER_KIND: i32 = 4;
