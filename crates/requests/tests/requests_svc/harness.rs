//! An in-process requests-svc on 127.0.0.1:0 against real PostgreSQL and NATS: its own
//! database and subject root, the event store, inbox and read-model migrations, the stream,
//! the outbox relay, the projector, the change feed, deadline watches and the gRPC server,
//! all stopped by one cancellation token when the harness is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use chain_bus::{BusLayout, Publisher, ensure_stream};
use chain_consumer::{ConsumerConfig, EventConsumer};
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_relay::{Relay, RelayConfig};
use chain_requests::deadline_watch::DeadlineStats;
use chain_requests::{
    ChangeFeed, DeadlineWatch, RequestService, RequestsProjector, projector_config,
};
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chain_store::{EventStore, RecordedEvent, StreamId};
use chain_testkit::{NatsRoot, TestDatabase, nats_url, wait_until};
use chrono::{DateTime, TimeDelta, Utc};
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

/// A client that acts as one caller.
pub type Client = InternalRequestServiceClient<InterceptedService<Channel, ActAs>>;

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

/// One running service.
pub struct Harness {
    _db: TestDatabase,
    pub pool: PgPool,
    pub store: EventStore,
    pub js: jetstream::Context,
    pub layout: BusLayout,
    addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub watches: Vec<Arc<DeadlineStats>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.cancel();
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
        chain_requests::migrate(&pool)
            .await
            .expect("read model migrations");
        let js = chain_bus::connect(&nats_url()).await.expect("nats");
        let layout = BusLayout::new(NatsRoot::unique());
        ensure_stream(&js, &layout, chain_requests::SERVICE)
            .await
            .expect("stream");
        let shutdown = CancellationToken::new();

        let relay = Relay::new(
            store.clone(),
            Publisher::new(js.clone(), layout.clone(), chain_requests::SERVICE, 256),
            RelayConfig {
                fallback_poll: Duration::from_millis(200),
                ..RelayConfig::named(chain_requests::SERVICE)
            },
        );
        tokio::spawn(relay.run(shutdown.clone()));
        let projector = EventConsumer::new(
            pool.clone(),
            js.clone(),
            ConsumerConfig {
                retry_backoff: vec![Duration::from_millis(20), Duration::from_millis(100)],
                gap_delay: Duration::from_millis(20),
                ..projector_config(&layout)
            },
            RequestsProjector::new(store.clone()),
        );
        tokio::spawn(projector.run(shutdown.clone()));
        let feed = ChangeFeed::new();
        tokio::spawn(feed.clone().run(store.clone(), shutdown.clone()));

        let addr = serve(RequestService::new(store.clone(), feed), &shutdown).await;

        let mut harness = Self {
            _db: db,
            pool,
            store,
            js,
            layout,
            addr,
            shutdown,
            watches: Vec::new(),
        };
        for _ in 0..options.deadline_watches {
            harness.spawn_watch();
        }
        harness
    }

    /// Starts one more deadline watch on the service's database.
    pub fn spawn_watch(&mut self) -> Arc<DeadlineStats> {
        let watch = DeadlineWatch::new(
            self.store.clone(),
            chain_requests::deadline_watch::RequestDeadlines,
        );
        let stats = watch.stats();
        tokio::spawn(watch.run(self.shutdown.clone()));
        self.watches.push(Arc::clone(&stats));
        stats
    }

    /// A client acting as `actor` (a team id or a service name).
    pub async fn client(&self, actor: &str) -> Client {
        let value: AsciiMetadataValue = MetadataValue::try_from(actor).expect("ascii actor");
        connect(self.addr, ActAs(Some(value))).await
    }

    /// A client acting as `actor` on a second replica of the gRPC service, on the same
    /// database: it remembers what it wrote, apart from the first.
    pub async fn client_of_another_replica(&self, actor: &str) -> Client {
        let feed = ChangeFeed::new();
        let replica = RequestService::new(self.store.clone(), feed);
        let addr = serve(replica, &self.shutdown).await;
        let value: AsciiMetadataValue = MetadataValue::try_from(actor).expect("ascii actor");
        connect(addr, ActAs(Some(value))).await
    }

    /// A client that sends no identity.
    pub async fn anonymous(&self) -> Client {
        connect(self.addr, ActAs(None)).await
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

    /// How many events the store holds.
    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// Waits until the projector has processed every stored event, so nothing (no
    /// propagation) is in flight.
    pub async fn settled(&self) {
        let quiet = wait_until(
            Duration::from_secs(10),
            Duration::from_millis(20),
            async || {
                let processed = chain_consumer::applied_count(
                    &self.pool,
                    chain_requests::projection::PROJECTOR_NAME,
                )
                .await
                .expect("count");
                processed == self.event_count().await
            },
        )
        .await;
        assert!(quiet, "the projector caught up");
    }

    /// Waits (up to `seconds`) until GetRequest shows `check` holding.
    pub async fn eventually_request(
        &self,
        client: &Client,
        request_id: &str,
        seconds: u64,
        check: impl Fn(&pb::InternalRequest) -> bool,
    ) -> pb::InternalRequest {
        let mut last = None;
        let held = wait_until(
            Duration::from_secs(seconds),
            Duration::from_millis(20),
            async || {
                let got = client
                    .clone()
                    .get_request(pb::GetRequestRequest {
                        request_id: request_id.to_owned(),
                    })
                    .await
                    .expect("GetRequest")
                    .into_inner();
                let ok = check(&got);
                last = Some(got);
                ok
            },
        )
        .await;
        let last = last.expect("at least one read");
        assert!(held, "request never reached the expected shape: {last:#?}");
        last
    }
}

/// The message name without its package.
pub fn short(event_type: &str) -> String {
    event_type
        .rsplit('.')
        .next()
        .unwrap_or(event_type)
        .to_owned()
}

/// Serves `service` on a free loopback port until `shutdown`.
async fn serve(service: RequestService, shutdown: &CancellationToken) -> SocketAddr {
    chain_testkit::serve(Routes::new(service.into_server()), shutdown).await
}

async fn connect(addr: SocketAddr, act_as: ActAs) -> Client {
    InternalRequestServiceClient::with_interceptor(chain_testkit::channel(addr).await, act_as)
}

/// A fresh idempotency key.
pub fn key() -> String {
    Uuid::now_v7().to_string()
}

/// `now + delta` on the wire.
pub fn at(delta: TimeDelta) -> Option<prost_types::Timestamp> {
    Some(stamp(Utc::now() + delta))
}

pub fn stamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    chain_proto::timestamp::from_datetime(at)
}

pub fn time(ts: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    chain_proto::timestamp::to_datetime(ts.expect("a time")).expect("a valid time")
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

/// Creates a team as the test administrator.
pub async fn team(harness: &Harness, name: &str, front_line: bool) -> String {
    harness
        .client("test-admin")
        .await
        .create_team(pb::CreateTeamRequest {
            idempotency_key: key(),
            name: name.to_owned(),
            front_line,
        })
        .await
        .expect("CreateTeam")
        .into_inner()
        .team_id
}

/// Declares `provider` → `consumer` with an OLA of `hours`.
pub async fn link(harness: &Harness, provider: &str, consumer: &str, hours: i64) -> pb::Link {
    harness
        .client(provider)
        .await
        .declare_link(pb::DeclareLinkRequest {
            idempotency_key: key(),
            consumer_team_id: consumer.to_owned(),
            ola: chain_proto::duration::from_chrono(TimeDelta::hours(hours)).ok(),
            expected_version: 0,
        })
        .await
        .expect("DeclareLink")
        .into_inner()
}

/// `consumer` opens a request to `provider`, needed `needed_by` from now.
pub async fn open(
    harness: &Harness,
    consumer: &str,
    provider: &str,
    needed_by: TimeDelta,
    parent: Option<pb::open_request_request::Parent>,
) -> pb::InternalRequest {
    harness
        .client(consumer)
        .await
        .open_request(pb::OpenRequestRequest {
            idempotency_key: key(),
            provider_team_id: provider.to_owned(),
            title: "Build the desk".into(),
            needed_by: at(needed_by),
            parent,
        })
        .await
        .expect("OpenRequest")
        .into_inner()
}

/// `provider` commits to `request` due `due` from now.
pub async fn commit(
    harness: &Harness,
    provider: &str,
    request: &str,
    due: TimeDelta,
) -> pb::InternalRequest {
    harness
        .client(provider)
        .await
        .commit_request(pb::CommitRequestRequest {
            idempotency_key: key(),
            request_id: request.to_owned(),
            expected_version: 0,
            due_at: at(due),
            kind: pb::CommitmentKind::PersonalPromise.into(),
        })
        .await
        .expect("CommitRequest")
        .into_inner()
}

/// The request's stream id.
pub fn request_stream(request_id: &str) -> StreamId {
    StreamId::new("request", request_id)
}

/// Asserts a refusal is FAILED_PRECONDITION naming `state`.
pub fn in_state<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>, state: &str) {
    let status = refused(result, Code::FailedPrecondition);
    let failure = status
        .get_details_precondition_failure()
        .unwrap_or_else(|| panic!("no PreconditionFailure in {status:?}"));
    assert_eq!(failure.violations[0].subject, state, "{status:?}");
    assert!(status.message().contains(state), "{status:?}");
}
