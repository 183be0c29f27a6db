//! The cases under test, set up through both APIs as the teams would: sales (the front line)
//! registers customers and opens their tickets; for each ticket sales asks the workshop to
//! build (a request serving the ticket), the workshop asks transport to deliver (a request
//! serving the build), both commit to the same due time, and sales promises the customer that
//! time. Each ticket then has a two-link chain behind it, and the promise is exactly feasible,
//! so a late revision of the delivery puts it at risk and an early one clears the risk.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_proto::customerchain::v1::ticket_service_client::TicketServiceClient;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;
use tokio::time::Instant;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;

use super::{acting, fresh_key};
use crate::requests::teams::LinkUnderTest;

/// How far ahead the chain commits and the promise is due.
const DUE_IN: TimeDelta = TimeDelta::days(14);

/// The three teams of every chain, as actor metadata values.
#[derive(Clone)]
pub struct Teams {
    /// The front line: opens tickets, promises, asks the workshop.
    pub sales: AsciiMetadataValue,
    /// Builds for sales, asks transport.
    pub workshop: AsciiMetadataValue,
    /// Delivers for the workshop; its revisions are the load.
    pub transport: AsciiMetadataValue,
    workshop_id: String,
    transport_id: String,
}

impl Teams {
    /// The teams of the first two links of a ring of at least three (`teams::declare_ring`):
    /// team 1 serves team 0 (sales), team 2 serves team 1.
    pub fn from_ring(links: &[LinkUnderTest]) -> anyhow::Result<Self> {
        anyhow::ensure!(links.len() >= 3, "the chain needs a ring of three teams");
        Ok(Self {
            sales: links[0].consumer.clone(),
            workshop: links[0].provider.clone(),
            transport: links[1].provider.clone(),
            workshop_id: links[0].provider_team_id.clone(),
            transport_id: links[1].provider_team_id.clone(),
        })
    }
}

/// One ticket under test and the request whose revisions move it.
#[derive(Clone, Debug)]
pub struct Case {
    /// The ticket.
    pub ticket_id: String,
    /// Transport's request, two links below the ticket.
    pub delivery_id: String,
    /// The due time the promise and both commitments share.
    pub due_at: DateTime<Utc>,
}

/// How many cases and customers, and how many set-up calls run at once.
pub struct Plan {
    /// Tickets (one case each).
    pub tickets: usize,
    /// Customers the tickets are spread over.
    pub customers: usize,
    /// Concurrent set-up workers.
    pub workers: usize,
}

/// Registers the customers and sets up every case; returns them in ticket order.
pub async fn set_up(
    requests: Channel,
    tickets: Channel,
    teams: &Teams,
    plan: &Plan,
) -> anyhow::Result<Vec<Case>> {
    anyhow::ensure!(plan.tickets > 0 && plan.customers > 0, "nothing to set up");
    let mut customers = Vec::with_capacity(plan.customers);
    let mut api = TicketServiceClient::new(tickets.clone());
    for i in 0..plan.customers {
        let customer = api
            .register_customer(acting(
                &teams.sales,
                pb::RegisterCustomerRequest {
                    idempotency_key: fresh_key(),
                    display_name: format!("Bench customer {i}"),
                    email: format!("customer{i}@bench.invalid"),
                    value: Some(pb::Money {
                        currency_code: "EUR".to_owned(),
                        // A skewed book: a few customers carry most of the value.
                        value_minor: 10_000 * (1 + i64::try_from(i * i % 997).unwrap_or(0)),
                    }),
                },
            ))
            .await
            .with_context(|| format!("RegisterCustomer {i}"))?
            .into_inner();
        customers.push(customer.customer_id);
    }
    let customers = Arc::new(customers);
    let next = Arc::new(AtomicUsize::new(0));
    let due_at = chain_rpc::clock::now() + DUE_IN;
    let mut workers = Vec::with_capacity(plan.workers);
    for _ in 0..plan.workers.max(1) {
        let worker = Worker {
            requests: InternalRequestServiceClient::new(requests.clone()),
            tickets: TicketServiceClient::new(tickets.clone()),
            teams: teams.clone(),
            due_at,
        };
        let (customers, next, total) = (Arc::clone(&customers), Arc::clone(&next), plan.tickets);
        workers.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return anyhow::Ok(made);
                }
                let customer = &customers[i % customers.len()];
                made.push((i, worker.case(customer).await?));
            }
        }));
    }
    let mut cases = Vec::with_capacity(plan.tickets);
    for worker in workers {
        cases.extend(worker.await.context("a set-up worker panicked")??);
    }
    cases.sort_by_key(|(i, _)| *i);
    Ok(cases.into_iter().map(|(_, case)| case).collect())
}

/// One set-up worker's clients.
struct Worker {
    requests: InternalRequestServiceClient<Channel>,
    tickets: TicketServiceClient<Channel>,
    teams: Teams,
    due_at: DateTime<Utc>,
}

impl Worker {
    /// A ticket for `customer` with its chain and its promise.
    async fn case(&self, customer: &str) -> anyhow::Result<Case> {
        let (mut tickets, teams) = (self.tickets.clone(), &self.teams);
        let due = Some(chain_proto::timestamp::from_datetime(self.due_at));
        let ticket = tickets
            .open_ticket(acting(
                &teams.sales,
                pb::OpenTicketRequest {
                    idempotency_key: fresh_key(),
                    customer_id: customer.to_owned(),
                    subject: "Made-to-order desk".to_owned(),
                    front_line_team_id: String::new(),
                },
            ))
            .await
            .context("OpenTicket")?
            .into_inner();
        let build = self
            .open(
                &teams.sales,
                &teams.workshop_id,
                pb::open_request_request::Parent::ParentTicketId(ticket.ticket_id.clone()),
            )
            .await?;
        self.commit(&teams.workshop, &build).await?;
        let delivery = self
            .open(
                &teams.workshop,
                &teams.transport_id,
                pb::open_request_request::Parent::ParentRequestId(build),
            )
            .await?;
        self.commit(&teams.transport, &delivery).await?;
        tickets
            .make_promise(acting(
                &teams.sales,
                pb::MakePromiseRequest {
                    idempotency_key: fresh_key(),
                    ticket_id: ticket.ticket_id.clone(),
                    expected_version: 0,
                    due_at: due,
                    kind: pb::CommitmentKind::PersonalPromise.into(),
                    wording: "Your desk in two weeks".to_owned(),
                    acknowledge_risk: false,
                },
            ))
            .await
            .context("MakePromise")?;
        Ok(Case {
            ticket_id: ticket.ticket_id,
            delivery_id: delivery,
            due_at: self.due_at,
        })
    }

    async fn open(
        &self,
        consumer: &AsciiMetadataValue,
        provider_team_id: &str,
        parent: pb::open_request_request::Parent,
    ) -> anyhow::Result<String> {
        let opened = self
            .requests
            .clone()
            .open_request(acting(
                consumer,
                pb::OpenRequestRequest {
                    idempotency_key: fresh_key(),
                    provider_team_id: provider_team_id.to_owned(),
                    title: "Bench chain link".to_owned(),
                    needed_by: Some(chain_proto::timestamp::from_datetime(self.due_at)),
                    parent: Some(parent),
                },
            ))
            .await
            .context("OpenRequest")?
            .into_inner();
        Ok(opened.request_id)
    }

    async fn commit(&self, provider: &AsciiMetadataValue, request_id: &str) -> anyhow::Result<()> {
        self.requests
            .clone()
            .commit_request(acting(
                provider,
                pb::CommitRequestRequest {
                    idempotency_key: fresh_key(),
                    request_id: request_id.to_owned(),
                    expected_version: 0,
                    due_at: Some(chain_proto::timestamp::from_datetime(self.due_at)),
                    kind: pb::CommitmentKind::OrganisationalCommitment.into(),
                },
            ))
            .await
            .context("CommitRequest")?;
        Ok(())
    }
}

/// Waits until tickets-svc's chain view has applied every request event requests-svc stored
/// (its projector's reactions included) and nothing new came for a moment; returns how long
/// it took, or `None` when `limit` passed first.
pub async fn wait_quiet(
    requests: &PgPool,
    tickets: &PgPool,
    limit: Duration,
) -> anyhow::Result<Option<Duration>> {
    let start = Instant::now();
    let mut last = (-1_i64, -1_i64);
    loop {
        let stored: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'request'")
                .fetch_one(requests)
                .await
                .context("counting request events")?;
        let applied = super::pipeline::chain_view_applied(tickets).await?;
        if applied >= stored && (stored, applied) == last {
            return Ok(Some(start.elapsed()));
        }
        if start.elapsed() > limit {
            return Ok(None);
        }
        last = (stored, applied);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
