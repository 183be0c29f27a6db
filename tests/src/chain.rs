//! The three services started together for a story, with clients that act as a team and the
//! spans they exported.
//!
//! Test support: a failure to start or connect is a failed test, so it panics.
#![allow(clippy::unwrap_used)]

use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_proto::customerchain::v1::satisfaction_service_client::SatisfactionServiceClient;
use chain_proto::customerchain::v1::ticket_service_client::TicketServiceClient;
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chain_server::ChainService;
use chain_telemetry::SpanCounts;
use chain_testkit::{NatsRoot, wait_until};
use chrono::{TimeDelta, Utc};
use std::time::Duration;
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::otlp::{ExportedSpan, TraceReceiver};
use crate::services::{Environment, ServiceUnderTest};

/// Sets `x-chain-actor` on every call.
#[derive(Clone, Debug)]
pub struct ActAs(AsciiMetadataValue);

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

/// A requests-svc client acting as a team.
pub type Requests = InternalRequestServiceClient<InterceptedService<Channel, ActAs>>;
/// A tickets-svc client acting as a team.
pub type Tickets = TicketServiceClient<InterceptedService<Channel, ActAs>>;
/// A scoring-svc client acting as a team.
pub type Scoring = SatisfactionServiceClient<InterceptedService<Channel, ActAs>>;

/// A channel to `service`.
pub async fn channel(service: &ServiceUnderTest) -> Channel {
    Channel::from_shared(service.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// Acts as `actor` (a team id or an operator name).
pub fn act_as(actor: &str) -> ActAs {
    ActAs(actor.parse().unwrap())
}

/// A fresh idempotency key.
pub fn key() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `delta` from now, as a protobuf timestamp.
pub fn stamp(delta: TimeDelta) -> Option<prost_types::Timestamp> {
    Some(chain_proto::timestamp::from_datetime(Utc::now() + delta))
}

/// The three services, their clients' channels, and the receiver of their spans.
pub struct Chain {
    receiver: TraceReceiver,
    /// requests-svc.
    pub requests: ServiceUnderTest,
    /// tickets-svc.
    pub tickets: ServiceUnderTest,
    /// scoring-svc.
    pub scoring: ServiceUnderTest,
}

impl Chain {
    /// Starts the three services, exporting to a new receiver, under a NATS root of their own.
    pub async fn start() -> Self {
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

    /// A requests-svc client acting as `actor`.
    pub async fn requests(&self, actor: &str) -> Requests {
        InternalRequestServiceClient::with_interceptor(channel(&self.requests).await, act_as(actor))
    }

    /// A tickets-svc client acting as `actor`.
    pub async fn tickets(&self, actor: &str) -> Tickets {
        TicketServiceClient::with_interceptor(channel(&self.tickets).await, act_as(actor))
    }

    /// A scoring-svc client acting as `actor`.
    pub async fn scoring(&self, actor: &str) -> Scoring {
        SatisfactionServiceClient::with_interceptor(channel(&self.scoring).await, act_as(actor))
    }

    /// Exports what every service has ended so far and returns every span received.
    pub async fn spans(&self) -> Vec<ExportedSpan> {
        for service in [&self.requests, &self.tickets, &self.scoring] {
            service.flush_spans().await.unwrap();
        }
        self.receiver.spans()
    }
}

impl Chain {
    /// Stops the three services; their span counts, by binary name.
    pub async fn stop(self) -> Vec<(&'static str, SpanCounts)> {
        let mut counts = Vec::new();
        for service in [self.requests, self.tickets, self.scoring] {
            let name = service.service().binary_name();
            counts.push((name, service.stop().await.unwrap()));
        }
        counts
    }
}

/// The parties of a story: Sales (the front line) served by the Workshop, a customer of Sales
/// and the ticket opened for them.
#[derive(Clone, Debug)]
pub struct Parties {
    /// Sales' team id.
    pub sales: String,
    /// The Workshop's team id.
    pub workshop: String,
    /// The customer's id.
    pub customer_id: String,
    /// The customer's ticket.
    pub ticket_id: String,
}

/// Who the customer of a story is: what tickets-svc keeps apart from events and traces.
#[derive(Clone, Copy, Debug)]
pub struct Customer<'a> {
    /// Display name (personal data).
    pub name: &'a str,
    /// E-mail (personal data); may be empty.
    pub email: &'a str,
    /// Value, in euro cents.
    pub value_minor: i64,
    /// The ticket's subject (free text).
    pub subject: &'a str,
}

impl Chain {
    /// Creates Sales (front line) and the Workshop, declares the Workshop → Sales link (48-hour
    /// OLA), registers `customer` with Sales and opens their ticket.
    pub async fn parties(&self, customer: Customer<'_>) -> Parties {
        let mut admin = self.requests("e2e-admin").await;
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
        self.requests(&workshop)
            .await
            .declare_link(pb::DeclareLinkRequest {
                idempotency_key: key(),
                consumer_team_id: sales.clone(),
                ola: chain_proto::duration::from_chrono(TimeDelta::hours(48)).ok(),
                expected_version: 0,
            })
            .await
            .unwrap();
        let mut front = self.tickets(&sales).await;
        let customer_id = front
            .register_customer(pb::RegisterCustomerRequest {
                idempotency_key: key(),
                display_name: customer.name.to_owned(),
                email: customer.email.to_owned(),
                value: Some(pb::Money {
                    currency_code: "EUR".into(),
                    value_minor: customer.value_minor,
                }),
            })
            .await
            .unwrap()
            .into_inner()
            .customer_id;
        let ticket_id = front
            .open_ticket(pb::OpenTicketRequest {
                idempotency_key: key(),
                customer_id: customer_id.clone(),
                subject: customer.subject.to_owned(),
                front_line_team_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .ticket_id;
        Parties {
            sales,
            workshop,
            customer_id,
            ticket_id,
        }
    }

    /// Sales asks the Workshop for `title`, needed in two weeks, serving the parties' ticket;
    /// the Workshop commits to `due_in` from now. Returns the request's id.
    pub async fn committed_request(
        &self,
        parties: &Parties,
        title: &str,
        due_in: TimeDelta,
    ) -> String {
        let request_id = self
            .requests(&parties.sales)
            .await
            .open_request(pb::OpenRequestRequest {
                idempotency_key: key(),
                provider_team_id: parties.workshop.clone(),
                title: title.to_owned(),
                needed_by: stamp(TimeDelta::days(14)),
                parent: Some(pb::open_request_request::Parent::ParentTicketId(
                    parties.ticket_id.clone(),
                )),
            })
            .await
            .unwrap()
            .into_inner()
            .request_id;
        self.requests(&parties.workshop)
            .await
            .commit_request(pb::CommitRequestRequest {
                idempotency_key: key(),
                request_id: request_id.clone(),
                expected_version: 1,
                due_at: stamp(due_in),
                kind: pb::CommitmentKind::PersonalPromise.into(),
            })
            .await
            .unwrap();
        request_id
    }
}

impl Chain {
    /// Once tickets-svc knows the chain behind the parties' ticket (the request's commitment has
    /// reached its chain view), Sales promises the customer delivery `due_in` from now.
    pub async fn promise_once_the_chain_is_known(&self, parties: &Parties, due_in: TimeDelta) {
        let mut front = self.tickets(&parties.sales).await;
        let ticket = pb::GetTicketRequest {
            ticket_id: parties.ticket_id.clone(),
        };
        let chain_known = wait_until(
            Duration::from_secs(20),
            Duration::from_millis(50),
            async || {
                front
                    .get_ticket(ticket.clone())
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
                ticket_id: parties.ticket_id.clone(),
                expected_version: 0,
                due_at: stamp(due_in),
                kind: pb::CommitmentKind::PersonalPromise.into(),
                wording: "Your order is with you on time".into(),
                acknowledge_risk: false,
            })
            .await
            .unwrap();
    }
}
