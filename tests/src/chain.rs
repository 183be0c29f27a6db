//! The three services started together for a story, with clients that act as a team and the
//! spans they exported.
//!
//! Test support: a failure to start or connect is a failed test, so it panics.
#![allow(clippy::unwrap_used)]

use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_proto::customerchain::v1::satisfaction_service_client::SatisfactionServiceClient;
use chain_proto::customerchain::v1::ticket_service_client::TicketServiceClient;
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chain_server::ChainService;
use chain_telemetry::SpanCounts;
use chain_testkit::NatsRoot;
use chrono::{TimeDelta, Utc};
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
