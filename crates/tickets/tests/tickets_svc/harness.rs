//! An in-process tickets-svc on 127.0.0.1:0 against real PostgreSQL and NATS: its own
//! database and subject root, the event store, inbox and service migrations, both streams,
//! the outbox relay, the chain view, the projector, the change feed, deadline watches and the
//! gRPC server — and, standing in for requests-svc, a requests event store of its own (a
//! second database) with its own relay publishing on the same bus root. Everything stops on
//! one cancellation token when the harness is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use chain_bus::{BusLayout, Publisher, ensure_stream};
use chain_consumer::{ConsumerConfig, ConsumerStats, EventConsumer};
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::ticket_service_client::TicketServiceClient;
use chain_relay::{Relay, RelayConfig};
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chain_store::{EventStore, RecordedEvent, StreamId};
use chain_testkit::{NatsRoot, TestDatabase, nats_url, wait_until};
use chain_tickets::chain_view::CHAIN_VIEW_NAME;
use chain_tickets::deadline_watch::DeadlineStats;
use chain_tickets::{
    ChainView, ChangeFeed, DeadlineWatch, TicketService, TicketsProjector, chain_view_config,
    projector_config,
};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::chain::Chain;

/// A client that acts as one caller.
pub type Client = TicketServiceClient<InterceptedService<Channel, ActAs>>;

/// Sets `x-chain-actor` on every call (or nothing, for an anonymous caller).
#[derive(Clone)]
pub struct ActAs(Option<AsciiMetadataValue>);

impl Interceptor for ActAs {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(actor) = &self.0 {
            request
                .metadata_mut()
                .insert(ACTOR_METADATA_KEY, actor.clone());
        }
        Ok(request)
    }
}

/// What to start besides the service.
pub struct Options {
    /// How many deadline watches run on the database.
    pub deadline_watches: usize,
}

/// One running service, and the stand-in for requests-svc.
pub struct Harness {
    _db: TestDatabase,
    _requests_db: TestDatabase,
    pub pool: PgPool,
    pub store: EventStore,
    pub requests: EventStore,
    pub js: jetstream::Context,
    pub layout: BusLayout,
    addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub watches: Vec<Arc<DeadlineStats>>,
    /// The chain view consumer's counters.
    pub chain_view: Arc<ConsumerStats>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Fast retries, so a test never waits on production back-offs.
fn quick(config: ConsumerConfig) -> ConsumerConfig {
    ConsumerConfig {
        retry_backoff: vec![Duration::from_millis(20), Duration::from_millis(100)],
        gap_delay: Duration::from_millis(20),
        ..config
    }
}

impl Harness {
    /// The service with one deadline watch.
    pub async fn start() -> Self {
        Self::with(Options {
            deadline_watches: 1,
        })
        .await
    }

    pub async fn with(options: Options) -> Self {
        let db = TestDatabase::create().await;
        let pool = db.connect_pool(24).await.expect("pool");
        let store = EventStore::new(pool.clone());
        store.migrate().await.expect("store migrations");
        chain_consumer::migrate(&pool)
            .await
            .expect("inbox migrations");
        chain_tickets::migrate(&pool)
            .await
            .expect("service migrations");

        let requests_db = TestDatabase::create().await;
        let requests = EventStore::new(requests_db.pool());
        requests.migrate().await.expect("requests store migrations");

        let js = chain_bus::connect(&nats_url()).await.expect("nats");
        let layout = BusLayout::new(NatsRoot::unique());
        for service in [chain_tickets::SERVICE, chain_tickets::REQUESTS_SERVICE] {
            ensure_stream(&js, &layout, service).await.expect("stream");
        }
        let shutdown = CancellationToken::new();

        for (source, service) in [
            (&store, chain_tickets::SERVICE),
            (&requests, chain_tickets::REQUESTS_SERVICE),
        ] {
            let relay = Relay::new(
                source.clone(),
                Publisher::new(js.clone(), layout.clone(), service, 256),
                RelayConfig {
                    fallback_poll: Duration::from_millis(200),
                    ..RelayConfig::named(service)
                },
            );
            tokio::spawn(relay.run(shutdown.clone()));
        }
        let chain_view = EventConsumer::new(
            pool.clone(),
            js.clone(),
            quick(chain_view_config(&layout)),
            ChainView::new(store.clone()),
        );
        let chain_view_stats = chain_view.stats();
        tokio::spawn(chain_view.run(shutdown.clone()));
        let projector = EventConsumer::new(
            pool.clone(),
            js.clone(),
            quick(projector_config(&layout)),
            TicketsProjector::new(store.clone()),
        );
        tokio::spawn(projector.run(shutdown.clone()));
        let addr = serve(&store, &shutdown).await;

        let mut harness = Self {
            _db: db,
            _requests_db: requests_db,
            pool,
            store,
            requests,
            js,
            layout,
            addr,
            shutdown,
            watches: Vec::new(),
            chain_view: chain_view_stats,
        };
        for _ in 0..options.deadline_watches {
            harness.spawn_watch();
        }
        harness
    }

    /// A client acting as `actor` on a second replica of the service, started now on the same
    /// database (it remembers nothing of what the first one read).
    pub async fn replica_client(&self, actor: &str) -> Client {
        let addr = serve(&self.store, &self.shutdown).await;
        connect(addr, acting_as(actor)).await
    }

    /// Starts one more deadline watch on the service's database.
    pub fn spawn_watch(&mut self) -> Arc<DeadlineStats> {
        let watch = DeadlineWatch::new(
            self.store.clone(),
            chain_tickets::deadline_watch::PromiseDeadlines,
        );
        let stats = watch.stats();
        tokio::spawn(watch.run(self.shutdown.clone()));
        self.watches.push(Arc::clone(&stats));
        stats
    }

    /// A stand-in for requests-svc appending to the requests store (its relay publishes).
    pub fn chain(&self) -> Chain {
        Chain::new(Some(self.requests.clone()))
    }

    /// A client acting as `actor` (a team id or a service name).
    pub async fn client(&self, actor: &str) -> Client {
        self.connect(acting_as(actor)).await
    }

    /// A client that sends no identity.
    pub async fn anonymous(&self) -> Client {
        self.connect(ActAs(None)).await
    }

    async fn connect(&self, act_as: ActAs) -> Client {
        connect(self.addr, act_as).await
    }

    /// The event types of a stream, in order.
    pub async fn event_types(&self, stream: &StreamId) -> Vec<String> {
        self.events(stream)
            .await
            .into_iter()
            .map(|e| short(&e.event_type))
            .collect()
    }

    /// The events of a stream, in order.
    pub async fn events(&self, stream: &StreamId) -> Vec<RecordedEvent> {
        self.store.load_stream(stream).await.expect("load stream")
    }

    /// How many events `consumer` applied or skipped.
    pub async fn processed(&self, consumer: &str) -> i64 {
        chain_consumer::applied_count(&self.pool, consumer)
            .await
            .expect("count")
    }

    /// Waits until the chain view has processed `events` distinct request events.
    pub async fn chain_view_saw(&self, events: i64) {
        let seen = wait_until(
            Duration::from_secs(15),
            Duration::from_millis(20),
            async || self.processed(CHAIN_VIEW_NAME).await >= events,
        )
        .await;
        assert!(
            seen,
            "the chain view processed {} of {events} request events",
            self.processed(CHAIN_VIEW_NAME).await
        );
    }

    /// Waits until the projector has processed every stored ticket and customer event.
    pub async fn settled(&self) {
        let quiet = wait_until(
            Duration::from_secs(15),
            Duration::from_millis(20),
            async || {
                let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                    .fetch_one(&self.pool)
                    .await
                    .expect("count");
                self.processed(chain_tickets::projection::PROJECTOR_NAME)
                    .await
                    == stored
            },
        )
        .await;
        assert!(quiet, "the projector caught up");
    }

    /// Waits (up to `seconds`) until GetTicket shows `check` holding.
    pub async fn eventually_ticket(
        &self,
        client: &Client,
        ticket_id: &str,
        seconds: u64,
        check: impl Fn(&pb::Ticket) -> bool,
    ) -> pb::Ticket {
        let mut last = None;
        let held = wait_until(
            Duration::from_secs(seconds),
            Duration::from_millis(20),
            async || {
                let got = read_ticket(client, ticket_id).await;
                let ok = check(&got);
                last = Some(got);
                ok
            },
        )
        .await;
        let last = last.expect("at least one read");
        assert!(held, "ticket never reached the expected shape: {last:#?}");
        last
    }
}

/// Serves a `TicketService` on `store` (with its own change feed) until `shutdown`.
async fn serve(store: &EventStore, shutdown: &CancellationToken) -> SocketAddr {
    let feed = ChangeFeed::new();
    tokio::spawn(feed.clone().run(store.clone(), shutdown.clone()));
    let service = TicketService::new(store.clone(), feed).into_server();
    chain_testkit::serve(Routes::new(service), shutdown).await
}

/// The identity `actor` (a team id or a service name) sent with every call.
fn acting_as(actor: &str) -> ActAs {
    let value: AsciiMetadataValue = MetadataValue::try_from(actor).expect("ascii actor");
    ActAs(Some(value))
}

async fn connect(addr: SocketAddr, act_as: ActAs) -> Client {
    TicketServiceClient::with_interceptor(chain_testkit::channel(addr).await, act_as)
}

/// The message name without its package.
pub fn short(event_type: &str) -> String {
    event_type
        .rsplit('.')
        .next()
        .unwrap_or(event_type)
        .to_owned()
}

/// A fresh idempotency key.
pub fn key() -> String {
    Uuid::now_v7().to_string()
}

/// A time on the wire.
pub fn stamp(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(chain_proto::timestamp::from_datetime(at))
}

/// A time from the wire.
pub fn time(ts: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    chain_proto::timestamp::to_datetime(ts.expect("a time")).expect("a valid time")
}

/// EUR in minor units, on the wire.
pub fn eur(value_minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency_code: "EUR".into(),
        value_minor,
    })
}

/// Asserts `result` failed with `code`, and returns the status.
pub fn refused<T: std::fmt::Debug>(
    result: Result<tonic::Response<T>, Status>,
    code: Code,
) -> Status {
    let status = result.expect_err("the call must be refused");
    assert_eq!(status.code(), code, "{status:?}");
    status
}

/// Asserts `result` is INVALID_ARGUMENT naming `field` (in the BadRequest details and the
/// message).
pub fn invalid<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>, field: &str) {
    let status = refused(result, Code::InvalidArgument);
    let bad = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    assert_eq!(bad.field_violations[0].field, field, "{status:?}");
    assert!(status.message().contains(field), "{status:?}");
}

/// Registers a customer worth `value_minor` EUR cents.
pub async fn customer(client: &Client, name: &str, value_minor: i64) -> pb::Customer {
    client
        .clone()
        .register_customer(pb::RegisterCustomerRequest {
            idempotency_key: key(),
            display_name: name.to_owned(),
            email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
            value: eur(value_minor),
        })
        .await
        .expect("RegisterCustomer")
        .into_inner()
}

/// `GetTicket` of `ticket_id` through `client`, which must succeed.
pub async fn read_ticket(client: &Client, ticket_id: &str) -> pb::Ticket {
    client
        .clone()
        .get_ticket(pb::GetTicketRequest {
            ticket_id: ticket_id.to_owned(),
        })
        .await
        .expect("GetTicket")
        .into_inner()
}

/// `front_line` opens a ticket for `customer_id`.
pub async fn ticket(client: &Client, customer_id: &str, subject: &str) -> pb::Ticket {
    client
        .clone()
        .open_ticket(pb::OpenTicketRequest {
            idempotency_key: key(),
            customer_id: customer_id.to_owned(),
            subject: subject.to_owned(),
            front_line_team_id: String::new(),
        })
        .await
        .expect("OpenTicket")
        .into_inner()
}

/// A promise request due at `due_at`.
pub fn promise(
    ticket_id: &str,
    due_at: DateTime<Utc>,
    acknowledge_risk: bool,
) -> pb::MakePromiseRequest {
    pb::MakePromiseRequest {
        idempotency_key: key(),
        ticket_id: ticket_id.to_owned(),
        expected_version: 0,
        due_at: stamp(due_at),
        kind: pb::CommitmentKind::PersonalPromise.into(),
        wording: "If we finish the design today, your desk is with you in two weeks".into(),
        acknowledge_risk,
    }
}

/// A new team id.
pub fn team() -> String {
    Uuid::now_v7().to_string()
}
