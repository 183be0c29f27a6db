//! An in-process scoring-svc against real PostgreSQL and NATS, fed by two producer stores:
//! the requests and tickets services' event stores, each in a database of its own with its
//! own relay, all on one subject root. The test appends events to the producers' stores;
//! the relays publish them; scoring's three consumers apply them; the gRPC server answers on
//! 127.0.0.1. Everything stops when the harness is dropped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use chain_bus::{BusLayout, Publisher, ensure_stream};
use chain_consumer::{ConsumerConfig, EventConsumer};
use chain_proto::customerchain::v1::satisfaction_service_client::SatisfactionServiceClient;
use chain_relay::{Relay, RelayConfig};
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chain_scoring::ScoringService;
use chain_scoring::codec::InputStore;
use chain_scoring::projection::{ProjectionConfig, ScoringProjector, Tables, consumer_config};
use chain_store::ChangeFeed;
use chain_store::{EventMetadata, EventStore, NewEvent, StreamId};
use chain_testkit::{NatsRoot, TestDatabase, nats_url, wait_until};
use chrono::{DateTime, Utc};
use prost::Name;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use uuid::Uuid;

/// A client that acts as one caller.
pub type Client = SatisfactionServiceClient<InterceptedService<Channel, ActAs>>;

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

/// A producer's event store (requests-svc's or tickets-svc's), written to by the test.
pub struct Producer {
    _db: TestDatabase,
    pub store: EventStore,
    versions: HashMap<(String, String), u64>,
    pub appended: u64,
}

impl Producer {
    async fn start(
        token: &str,
        js: &async_nats::jetstream::Context,
        layout: &BusLayout,
        stop: &CancellationToken,
    ) -> Self {
        let db = TestDatabase::create().await;
        let store = EventStore::new(db.pool());
        store.migrate().await.expect("producer store migrations");
        ensure_stream(js, layout, token)
            .await
            .expect("producer stream");
        let relay = Relay::new(
            store.clone(),
            Publisher::new(js.clone(), layout.clone(), token, 256),
            RelayConfig {
                fallback_poll: Duration::from_millis(100),
                ..RelayConfig::named(token)
            },
        );
        tokio::spawn(relay.run(stop.clone()));
        Self {
            _db: db,
            store,
            versions: HashMap::new(),
            appended: 0,
        }
    }

    /// Appends one event to stream `aggregate`/`id` of case `case`, at `at`.
    pub async fn emit<M: Name>(
        &mut self,
        aggregate: &str,
        id: &str,
        case: &str,
        at: DateTime<Utc>,
        message: &M,
    ) {
        let version = self
            .versions
            .entry((aggregate.to_owned(), id.to_owned()))
            .or_insert(0);
        let event = NewEvent {
            event_id: Uuid::now_v7(),
            event_type: M::full_name(),
            schema_version: 1,
            occurred_at: at,
            payload: message.encode_to_vec(),
        };
        self.store
            .append(
                &StreamId::new(aggregate, id),
                *version,
                &[event],
                &EventMetadata::new(case, "test", "test"),
                None,
            )
            .await
            .expect("append");
        *version += 1;
        self.appended += 1;
    }
}

/// scoring-svc with its two producers.
pub struct Harness {
    _db: TestDatabase,
    pub pool: PgPool,
    pub store: EventStore,
    pub requests: Producer,
    pub tickets: Producer,
    addr: SocketAddr,
    pub stop: CancellationToken,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Harness {
    pub async fn start() -> Self {
        let db = TestDatabase::create().await;
        let pool = db.connect_pool(16).await.expect("pool");
        let store = EventStore::new(pool.clone());
        store.migrate().await.expect("store migrations");
        chain_consumer::migrate(&pool)
            .await
            .expect("inbox migrations");
        chain_scoring::projection::migrate(&pool)
            .await
            .expect("projection migrations");
        let js = chain_bus::connect(&nats_url()).await.expect("nats");
        let layout = BusLayout::new(NatsRoot::unique());
        let stop = CancellationToken::new();
        let requests = Producer::start("requests", &js, &layout, &stop).await;
        let tickets = Producer::start("tickets", &js, &layout, &stop).await;
        ensure_stream(&js, &layout, chain_scoring::SERVICE)
            .await
            .expect("scoring stream");
        let relay = Relay::new(
            store.clone(),
            Publisher::new(js.clone(), layout.clone(), chain_scoring::SERVICE, 256),
            RelayConfig {
                fallback_poll: Duration::from_millis(100),
                ..RelayConfig::named(chain_scoring::SERVICE)
            },
        );
        tokio::spawn(relay.run(stop.clone()));
        for input in InputStore::ALL {
            let consumer = EventConsumer::new(
                pool.clone(),
                js.clone(),
                ConsumerConfig {
                    retry_backoff: vec![Duration::from_millis(20), Duration::from_millis(100)],
                    gap_delay: Duration::from_millis(20),
                    ..consumer_config(&layout, input)
                },
                ScoringProjector::new(input, ProjectionConfig::default()),
            );
            tokio::spawn(consumer.run(stop.clone()));
        }
        let feed = ChangeFeed::new();
        tokio::spawn(feed.clone().run(store.clone(), stop.clone()));
        let service = ScoringService::new(store.clone(), feed).into_server();
        let addr = chain_testkit::serve(Routes::new(service), &stop).await;
        Self {
            _db: db,
            pool,
            store,
            requests,
            tickets,
            addr,
            stop,
        }
    }

    /// The service's address, for clients built elsewhere.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client acting as `actor` (a team id or a service name).
    pub async fn client(&self, actor: &str) -> Client {
        let value: AsciiMetadataValue = MetadataValue::try_from(actor).expect("ascii actor");
        self.connect(ActAs(Some(value))).await
    }

    /// A client that sends no identity.
    pub async fn anonymous(&self) -> Client {
        self.connect(ActAs(None)).await
    }

    async fn connect(&self, act_as: ActAs) -> Client {
        SatisfactionServiceClient::with_interceptor(chain_testkit::channel(self.addr).await, act_as)
    }

    /// Events of each input store the live projections hold.
    pub async fn progress(&self) -> HashMap<String, u64> {
        let mut conn = self.pool.acquire().await.expect("connection");
        Tables::live()
            .progress(&mut conn)
            .await
            .expect("progress")
            .into_iter()
            .collect()
    }

    /// Feedback events in scoring's own store.
    pub async fn feedback_events(&self) -> u64 {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'feedback'")
                .fetch_one(&self.pool)
                .await
                .expect("count");
        u64::try_from(n).unwrap_or(0)
    }

    /// Waits until the projections hold every event appended so far.
    pub async fn settled(&self) {
        let (requests, tickets) = (self.requests.appended, self.tickets.appended);
        let mut last = HashMap::new();
        let caught_up = wait_until(
            Duration::from_secs(20),
            Duration::from_millis(25),
            async || {
                let feedback = self.feedback_events().await;
                last = self.progress().await;
                let count = |name: &str| last.get(name).copied().unwrap_or(0);
                count("requests-svc") == requests
                    && count("tickets-svc") == tickets
                    && count("scoring-svc") == feedback
            },
        )
        .await;
        assert!(
            caught_up,
            "the projections caught up: {last:?}, expected requests {requests}, tickets {tickets}"
        );
    }
}
