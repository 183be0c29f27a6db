//! The company's teams at work: each call acts as the team that would make it (the consumer
//! opens, the provider commits, the front line promises), with a fresh idempotency key reused
//! across retries of the same call.

use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, Utc};

use crate::client::{
    Actor, Connection, RequestsClient, ScoringClient, Service, TicketsClient, call,
};
use crate::error::Failure;
use crate::input::{key, stamp};

/// Clients of the three services.
#[derive(Debug, Clone)]
pub struct Chain {
    /// requests-svc.
    pub requests: RequestsClient,
    /// tickets-svc.
    pub tickets: TicketsClient,
    /// scoring-svc.
    pub scoring: ScoringClient,
    /// The operator tool's own identity, for reads and team creation.
    pub operator: Actor,
}

impl Chain {
    /// Connects to all three services first, so a missing one fails before anything is seeded.
    pub async fn connect(connection: &Connection) -> Result<Self, Failure> {
        Ok(Self {
            requests: connection.requests().await?,
            tickets: connection.tickets().await?,
            scoring: connection.scoring().await?,
            operator: connection.actor(),
        })
    }

    /// `consumer` asks `provider` for something, serving `parent`.
    pub async fn open_request(
        &self,
        consumer: &str,
        provider: &str,
        parent: pb::open_request_request::Parent,
        needed_by: DateTime<Utc>,
        title: &str,
    ) -> Result<pb::InternalRequest, Failure> {
        let message = pb::OpenRequestRequest {
            idempotency_key: key(None),
            provider_team_id: provider.to_owned(),
            title: title.to_owned(),
            needed_by: stamp(needed_by),
            parent: Some(parent),
        };
        let actor = Actor::new(consumer);
        call(Service::Requests, "OpenRequest", || {
            let mut client = self.requests.clone();
            let request = actor.unary(message.clone());
            async move { client.open_request(request).await }
        })
        .await
    }

    /// `provider` commits to `request_id`, due at `due`.
    pub async fn commit(
        &self,
        provider: &str,
        request_id: &str,
        due: DateTime<Utc>,
    ) -> Result<(), Failure> {
        let message = pb::CommitRequestRequest {
            idempotency_key: key(None),
            request_id: request_id.to_owned(),
            expected_version: 0,
            due_at: stamp(due),
            kind: pb::CommitmentKind::OrganisationalCommitment.into(),
        };
        let actor = Actor::new(provider);
        call(Service::Requests, "CommitRequest", || {
            let mut client = self.requests.clone();
            let request = actor.unary(message.clone());
            async move { client.commit_request(request).await }
        })
        .await
        .map(drop)
    }

    /// `provider` announces a new due time.
    pub async fn revise(
        &self,
        provider: &str,
        request_id: &str,
        due: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), Failure> {
        let message = pb::ReviseRequestRequest {
            idempotency_key: key(None),
            request_id: request_id.to_owned(),
            expected_version: 0,
            new_due_at: stamp(due),
            reason: reason.to_owned(),
        };
        let actor = Actor::new(provider);
        call(Service::Requests, "ReviseRequest", || {
            let mut client = self.requests.clone();
            let request = actor.unary(message.clone());
            async move { client.revise_request(request).await }
        })
        .await
        .map(drop)
    }

    /// `provider` delivers.
    pub async fn fulfil(&self, provider: &str, request_id: &str) -> Result<(), Failure> {
        let message = pb::FulfilRequestRequest {
            idempotency_key: key(None),
            request_id: request_id.to_owned(),
            expected_version: 0,
        };
        let actor = Actor::new(provider);
        call(Service::Requests, "FulfilRequest", || {
            let mut client = self.requests.clone();
            let request = actor.unary(message.clone());
            async move { client.fulfil_request(request).await }
        })
        .await
        .map(drop)
    }

    /// `consumer` reports it is not served well.
    pub async fn report_breakdown(
        &self,
        consumer: &str,
        request_id: &str,
        reason: &str,
    ) -> Result<(), Failure> {
        let message = pb::ReportBreakdownRequest {
            idempotency_key: key(None),
            request_id: request_id.to_owned(),
            expected_version: 0,
            kind: pb::BreakdownKind::NotServedWell.into(),
            reason: reason.to_owned(),
        };
        let actor = Actor::new(consumer);
        call(Service::Requests, "ReportBreakdown", || {
            let mut client = self.requests.clone();
            let request = actor.unary(message.clone());
            async move { client.report_breakdown(request).await }
        })
        .await
        .map(drop)
    }

    /// `front` opens a ticket for `customer_id`.
    pub async fn open_ticket(
        &self,
        front: &str,
        customer_id: &str,
        subject: &str,
    ) -> Result<pb::Ticket, Failure> {
        let message = pb::OpenTicketRequest {
            idempotency_key: key(None),
            customer_id: customer_id.to_owned(),
            subject: subject.to_owned(),
            front_line_team_id: front.to_owned(),
        };
        let actor = Actor::new(front);
        call(Service::Tickets, "OpenTicket", || {
            let mut client = self.tickets.clone();
            let request = actor.unary(message.clone());
            async move { client.open_ticket(request).await }
        })
        .await
    }

    /// `front` promises the customer `due`.
    pub async fn promise(
        &self,
        front: &str,
        ticket_id: &str,
        due: DateTime<Utc>,
        wording: &str,
    ) -> Result<pb::Ticket, Failure> {
        let message = pb::MakePromiseRequest {
            idempotency_key: key(None),
            ticket_id: ticket_id.to_owned(),
            expected_version: 0,
            due_at: stamp(due),
            kind: pb::CommitmentKind::PersonalPromise.into(),
            wording: wording.to_owned(),
            acknowledge_risk: false,
        };
        let actor = Actor::new(front);
        call(Service::Tickets, "MakePromise", || {
            let mut client = self.tickets.clone();
            let request = actor.unary(message.clone());
            async move { client.make_promise(request).await }
        })
        .await
    }

    /// `front` tells the customer of the delay, offering `remedy`.
    pub async fn notify(
        &self,
        front: &str,
        ticket_id: &str,
        new_expected: DateTime<Utc>,
        remedy: pb::Remedy,
        told: &str,
    ) -> Result<pb::Ticket, Failure> {
        let message = pb::NotifyCustomerRequest {
            idempotency_key: key(None),
            ticket_id: ticket_id.to_owned(),
            expected_version: 0,
            new_expected_at: stamp(new_expected),
            remedy: Some(remedy),
            message: told.to_owned(),
        };
        let actor = Actor::new(front);
        call(Service::Tickets, "NotifyCustomer", || {
            let mut client = self.tickets.clone();
            let request = actor.unary(message.clone());
            async move { client.notify_customer(request).await }
        })
        .await
    }

    /// `front` records the customer's answer to the latest notice.
    pub async fn respond(
        &self,
        front: &str,
        ticket_id: &str,
        accepted: bool,
        note: &str,
    ) -> Result<pb::Ticket, Failure> {
        let message = pb::RecordCustomerResponseRequest {
            idempotency_key: key(None),
            ticket_id: ticket_id.to_owned(),
            expected_version: 0,
            accepted,
            note: note.to_owned(),
        };
        let actor = Actor::new(front);
        call(Service::Tickets, "RecordCustomerResponse", || {
            let mut client = self.tickets.clone();
            let request = actor.unary(message.clone());
            async move { client.record_customer_response(request).await }
        })
        .await
    }

    /// `front` closes the ticket.
    pub async fn resolve(
        &self,
        front: &str,
        ticket_id: &str,
        delivered: bool,
    ) -> Result<pb::Ticket, Failure> {
        let message = pb::ResolveTicketRequest {
            idempotency_key: key(None),
            ticket_id: ticket_id.to_owned(),
            expected_version: 0,
            delivered,
        };
        let actor = Actor::new(front);
        call(Service::Tickets, "ResolveTicket", || {
            let mut client = self.tickets.clone();
            let request = actor.unary(message.clone());
            async move { client.resolve_ticket(request).await }
        })
        .await
    }

    /// The ticket as tickets-svc sees it now.
    pub async fn ticket(&self, ticket_id: &str) -> Result<pb::Ticket, Failure> {
        let message = pb::GetTicketRequest {
            ticket_id: ticket_id.to_owned(),
        };
        call(Service::Tickets, "GetTicket", || {
            let mut client = self.tickets.clone();
            let request = self.operator.unary(message.clone());
            async move { client.get_ticket(request).await }
        })
        .await
    }

    /// scoring-svc's impact totals, of one root team or of everything.
    pub async fn impact_summary(&self, root_team_id: &str) -> Result<pb::ImpactSummary, Failure> {
        let message = pb::GetImpactSummaryRequest {
            root_team_id: root_team_id.to_owned(),
            ..Default::default()
        };
        call(Service::Scoring, "GetImpactSummary", || {
            let mut client = self.scoring.clone();
            let request = self.operator.unary(message.clone());
            async move { client.get_impact_summary(request).await }
        })
        .await
    }
}
