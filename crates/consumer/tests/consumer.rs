//! Durable consumers against real PostgreSQL and NATS: duplicates and reordering converge on the
//! in-order state, poison messages are parked while later ones flow, failures retry then park.

use async_nats::jetstream;
use chain_bus::{BusLayout, encode_envelope, ensure_stream};
use chain_consumer::{
    ConsumerConfig, EventConsumer, Handler, HandlerError, applied_count, list_dead_letters, migrate,
};
use chain_proto::customerchain::v1::EventEnvelope;
use chain_testkit::{NatsRoot, TestDatabase, nats_url, wait_until};
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SERVICE: &str = "requests";

/// Appends each applied event to a projection table, so the final state shows order and
/// multiplicity. It holds the rows until the end of the transaction (`Handler::flush`), so a
/// row written twice or lost would show a batch whose pending writes outlived its rollback, or
/// a commit without its flush. Each event must have been prepared (`Handler::prepare`) in its
/// transaction before it is handled. Event types steer failures: `Poison` is refused, `Flaky`
/// fails its first two deliveries, `Broken` always fails, `Unbatchable` fails the preparation
/// of any batch of more than one event it is in.
#[derive(Default)]
struct Recorder {
    flaky_failures: AtomicU32,
}

/// The rows a transaction's events leave to write: (aggregate id, version, event type).
type Rows = Vec<(String, i64, String)>;

/// What the recorder holds over a transaction: the events prepared, and the rows to write.
#[derive(Default)]
struct Pending {
    prepared: std::collections::HashSet<(String, u64)>,
    rows: Rows,
}

impl Handler for Recorder {
    type Pending = Pending;

    async fn prepare(
        &self,
        _: &mut PgConnection,
        events: &[&EventEnvelope],
        pending: &mut Pending,
    ) -> Result<(), HandlerError> {
        if events.len() > 1 && events.iter().any(|e| e.event_type == "test.Unbatchable") {
            return Err(HandlerError::Transient("not in a batch".into()));
        }
        for event in events {
            pending
                .prepared
                .insert((event.aggregate_id.clone(), event.aggregate_version));
        }
        Ok(())
    }

    async fn handle(
        &self,
        _: &mut PgConnection,
        event: &EventEnvelope,
        pending: &mut Pending,
    ) -> Result<(), HandlerError> {
        let key = (event.aggregate_id.clone(), event.aggregate_version);
        if !pending.prepared.contains(&key) {
            return Err(HandlerError::Poison(
                "handled without being prepared".into(),
            ));
        }
        match event.event_type.as_str() {
            "test.Poison" => {
                return Err(HandlerError::Poison(
                    "unknown event type test.Poison".into(),
                ));
            }
            "test.Broken" => return Err(HandlerError::Transient("dependency down".into())),
            "test.Flaky" if self.flaky_failures.fetch_add(1, Ordering::SeqCst) < 2 => {
                return Err(HandlerError::Transient("hiccup".into()));
            }
            _ => {}
        }
        let version = i64::try_from(event.aggregate_version).expect("small version");
        pending.rows.push((
            event.aggregate_id.clone(),
            version,
            event.event_type.clone(),
        ));
        Ok(())
    }

    async fn flush(&self, tx: &mut PgConnection, pending: Pending) -> Result<(), HandlerError> {
        for (aggregate_id, version, event_type) in pending.rows {
            sqlx::query(
                "INSERT INTO applied (aggregate_id, version, event_type) VALUES ($1, $2, $3)",
            )
            .bind(aggregate_id)
            .bind(version)
            .bind(event_type)
            .execute(&mut *tx)
            .await?;
        }
        Ok(())
    }
}

struct Fixture {
    _db: TestDatabase,
    pool: PgPool,
    js: jetstream::Context,
    layout: BusLayout,
}

impl Fixture {
    async fn new() -> Fixture {
        let db = TestDatabase::create().await;
        let pool = db.pool();
        migrate(&pool).await.expect("inbox migrations");
        sqlx::query("CREATE TABLE applied (seq bigserial, aggregate_id text, version bigint, event_type text)")
            .execute(&pool)
            .await
            .expect("projection table");
        let js = chain_bus::connect(&nats_url()).await.expect("nats");
        let layout = BusLayout::new(NatsRoot::unique());
        ensure_stream(&js, &layout, SERVICE).await.expect("stream");
        Fixture {
            _db: db,
            pool,
            js,
            layout,
        }
    }

    /// Publishes raw bytes, without a dedup id, so duplicates reach the consumer.
    async fn publish_raw(&self, event_type: &str, body: Vec<u8>) {
        let subject = self.layout.subject(SERVICE, "request", event_type);
        self.js
            .publish(subject, body.into())
            .await
            .expect("publish")
            .await
            .expect("ack");
    }

    async fn publish(&self, envelope: &EventEnvelope) {
        let (_, body) = encode_envelope(envelope);
        self.publish_raw(&envelope.event_type, body.to_vec()).await;
    }

    fn start(
        &self,
        config: ConsumerConfig,
    ) -> (
        CancellationToken,
        tokio::task::JoinHandle<()>,
        Arc<chain_consumer::ConsumerStats>,
    ) {
        let consumer = EventConsumer::new(
            self.pool.clone(),
            self.js.clone(),
            config,
            Recorder::default(),
        );
        let stats = consumer.stats();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(consumer.run(shutdown.clone()));
        (shutdown, task, stats)
    }

    fn config(&self) -> ConsumerConfig {
        ConsumerConfig {
            retry_backoff: vec![Duration::from_millis(20)],
            gap_delay: Duration::from_millis(20),
            ..ConsumerConfig::new(
                "projector",
                self.layout.stream_name(SERVICE),
                self.layout.service_subjects(SERVICE),
            )
        }
    }

    async fn applied(&self) -> Vec<(String, i64, String)> {
        sqlx::query_as("SELECT aggregate_id, version, event_type FROM applied ORDER BY seq")
            .fetch_all(&self.pool)
            .await
            .expect("projection")
    }
}

fn envelope(aggregate_id: &str, version: u64, event_type: &str) -> EventEnvelope {
    EventEnvelope {
        // A stable id per (stream, version): a duplicate is the same event delivered again.
        event_id: uuid::Uuid::from_u64_pair(
            aggregate_id
                .bytes()
                .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
            version,
        )
        .to_string(),
        aggregate_type: "request".into(),
        aggregate_id: aggregate_id.into(),
        aggregate_version: version,
        event_type: event_type.into(),
        schema_version: 1,
        ..Default::default()
    }
}

#[tokio::test]
async fn duplicates_and_reordering_end_in_the_in_order_state() {
    let fx = Fixture::new().await;
    // Stream A arrives shuffled and with repeats; stream B in order, interleaved.
    let order = [
        ("a", 3),
        ("b", 1),
        ("a", 1),
        ("a", 1),
        ("b", 2),
        ("a", 2),
        ("a", 5),
        ("a", 3),
        ("b", 2),
        ("a", 4),
        ("b", 3),
        ("a", 2),
    ];
    for (stream, version) in order {
        fx.publish(&envelope(stream, version, "test.Step")).await;
    }
    let (shutdown, task, stats) = fx.start(fx.config());
    assert!(
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(25),
            async || fx.applied().await.len() >= 8
        )
        .await,
        "all eight distinct events applied"
    );
    // Let any stray redelivery arrive before judging.
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    task.await.expect("consumer stops");

    let applied = fx.applied().await;
    let versions_of = |id: &str| -> Vec<i64> {
        applied
            .iter()
            .filter(|(a, _, _)| a == id)
            .map(|(_, v, _)| *v)
            .collect()
    };
    assert_eq!(
        versions_of("a"),
        [1, 2, 3, 4, 5],
        "stream a in order, once each"
    );
    assert_eq!(versions_of("b"), [1, 2, 3], "stream b in order, once each");
    assert_eq!(stats.applied.load(Ordering::Relaxed), 8);
    assert!(
        stats.skipped.load(Ordering::Relaxed) >= 4,
        "the repeats were skipped"
    );
    assert_eq!(
        applied_count(&fx.pool, "projector").await.expect("count"),
        8,
        "the inbox counts each distinct event once"
    );
    assert!(
        list_dead_letters(&fx.pool, "projector")
            .await
            .expect("dlq")
            .is_empty()
    );
}

#[tokio::test]
async fn a_poison_message_is_parked_with_its_reason_while_later_ones_flow() {
    let fx = Fixture::new().await;
    fx.publish_raw("test.Garbage", b"\xff\xff not protobuf".to_vec())
        .await;
    fx.publish(&envelope("p", 1, "test.Poison")).await;
    fx.publish(&envelope("q", 1, "test.Step")).await;
    fx.publish(&envelope("q", 2, "test.Step")).await;

    let (shutdown, task, stats) = fx.start(fx.config());
    assert!(
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(25),
            async || fx.applied().await.len() == 2
        )
        .await,
        "later messages flow past the poison"
    );
    assert!(
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(25),
            async || stats.parked.load(Ordering::Relaxed) == 2
        )
        .await
    );
    shutdown.cancel();
    task.await.expect("consumer stops");

    let parked = list_dead_letters(&fx.pool, "projector").await.expect("dlq");
    assert_eq!(parked.len(), 2);
    assert!(
        parked[0].reason.contains("undecodable envelope"),
        "{}",
        parked[0].reason
    );
    assert_eq!(parked[0].event_id, None);
    assert_eq!(parked[0].body, b"\xff\xff not protobuf");
    assert!(
        parked[1].reason.contains("unknown event type"),
        "{}",
        parked[1].reason
    );
    assert_eq!(parked[1].event_type.as_deref(), Some("test.Poison"));
}

#[tokio::test]
async fn a_failing_handler_is_retried_then_parked_and_a_flaky_one_recovers() {
    let fx = Fixture::new().await;
    fx.publish(&envelope("broken", 1, "test.Broken")).await;
    fx.publish(&envelope("flaky", 1, "test.Flaky")).await;
    fx.publish(&envelope("fine", 1, "test.Step")).await;

    let config = ConsumerConfig {
        max_deliver: 3,
        ..fx.config()
    };
    let (shutdown, task, stats) = fx.start(config);
    assert!(
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(25),
            async || stats.parked.load(Ordering::Relaxed) == 1 && fx.applied().await.len() == 2
        )
        .await,
        "broken parked, flaky and fine applied"
    );
    shutdown.cancel();
    task.await.expect("consumer stops");

    let parked = list_dead_letters(&fx.pool, "projector").await.expect("dlq");
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].deliveries, 3);
    assert!(
        parked[0]
            .reason
            .contains("gave up after 3 deliveries: dependency down"),
        "{}",
        parked[0].reason
    );
    let applied: Vec<String> = fx
        .applied()
        .await
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert!(applied.contains(&"flaky".to_owned()) && applied.contains(&"fine".to_owned()));
}

#[tokio::test]
async fn a_restarted_consumer_resumes_without_reapplying() {
    let fx = Fixture::new().await;
    for version in 1..=3 {
        fx.publish(&envelope("r", version, "test.Step")).await;
    }
    let (shutdown, task, _) = fx.start(fx.config());
    assert!(
        wait_until(
            Duration::from_secs(10),
            Duration::from_millis(25),
            async || fx.applied().await.len() == 3
        )
        .await
    );
    shutdown.cancel();
    task.await.expect("stops");

    // The same events again (a relay republish) plus one new one, to a fresh process.
    for version in 1..=4 {
        fx.publish(&envelope("r", version, "test.Step")).await;
    }
    let (shutdown, task, stats) = fx.start(fx.config());
    assert!(
        wait_until(
            Duration::from_secs(10),
            Duration::from_millis(25),
            async || stats.skipped.load(Ordering::Relaxed) == 3
                && stats.applied.load(Ordering::Relaxed) == 1
        )
        .await
    );
    shutdown.cancel();
    task.await.expect("stops");
    let versions: Vec<i64> = fx.applied().await.into_iter().map(|(_, v, _)| v).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
}

#[tokio::test]
async fn a_backlog_is_applied_in_batches_and_a_poison_message_or_a_failed_preparation_in_one_costs_only_itself()
 {
    let fx = Fixture::new().await;
    for version in 1..=60 {
        let event_type = if version == 30 {
            "test.Unbatchable"
        } else {
            "test.Step"
        };
        fx.publish(&envelope("backlog", version, event_type)).await;
    }
    fx.publish(&envelope("bad", 1, "test.Poison")).await;
    for version in 61..=90 {
        fx.publish(&envelope("backlog", version, "test.Step")).await;
    }
    let (shutdown, task, stats) = fx.start(fx.config());
    assert!(
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(25),
            async || fx.applied().await.len() >= 90 && stats.parked.load(Ordering::Relaxed) == 1
        )
        .await,
        "the backlog applied and the poison parked"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    task.await.expect("consumer stops");

    let versions: Vec<i64> = fx.applied().await.into_iter().map(|(_, v, _)| v).collect();
    assert_eq!(
        versions,
        (1..=90).collect::<Vec<_>>(),
        "in order, once each"
    );
    assert!(
        stats.batches.load(Ordering::Relaxed) >= 1,
        "a backlog delivered together commits in batches"
    );
    let parked = list_dead_letters(&fx.pool, "projector").await.expect("dlq");
    assert_eq!(parked.len(), 1, "only the poison message is parked");
}

#[tokio::test]
async fn lanes_apply_cases_side_by_side_and_each_case_in_order() {
    let fx = Fixture::new().await;
    let cases: Vec<String> = (0..6).map(|n| format!("case-{n}")).collect();
    for version in 1..=30 {
        for case in &cases {
            let mut event = envelope(case, version, "test.Step");
            event.correlation_id = case.clone();
            fx.publish(&event).await;
        }
    }
    let (shutdown, task, stats) = fx.start(fx.config().with_lanes(4));
    assert!(
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(25),
            async || fx.applied().await.len() >= 180
        )
        .await,
        "every event applied"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    task.await.expect("consumer stops");

    let applied = fx.applied().await;
    assert_eq!(applied.len(), 180, "once each");
    for case in &cases {
        let versions: Vec<i64> = applied
            .iter()
            .filter(|(aggregate, _, _)| aggregate == case)
            .map(|(_, version, _)| *version)
            .collect();
        assert_eq!(versions, (1..=30).collect::<Vec<_>>(), "{case} in order");
    }
    assert_eq!(stats.parked.load(Ordering::Relaxed), 0);
    assert!(stats.batches.load(Ordering::Relaxed) >= 1);
}

/// The pace of the paced tests: long beside publishing nine events, short beside a test.
const PACE: Duration = Duration::from_secs(2);

/// A paced consumer applies a lone event at once, then holds what arrives within the pace and
/// applies it in one transaction.
async fn a_paced_consumer_applies_what_arrives_within_its_pace_together(lanes: usize) {
    let fx = Fixture::new().await;
    let (shutdown, task, stats) = fx.start(fx.config().with_lanes(lanes).with_pace(PACE));
    let event = |version| {
        let mut event = envelope("paced", version, "test.Step");
        event.correlation_id = "case".into();
        event
    };
    let applied = async |count: usize| {
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(10),
            async || fx.applied().await.len() == count,
        )
        .await
    };
    fx.publish(&event(1)).await;
    assert!(applied(1).await, "the first event is applied");
    let first_seen = std::time::Instant::now();
    for version in 2..=10 {
        fx.publish(&event(version)).await;
    }
    assert!(applied(10).await, "every event is applied");
    let waited = first_seen.elapsed();
    shutdown.cancel();
    task.await.expect("consumer stops");

    let versions: Vec<i64> = fx.applied().await.into_iter().map(|(_, v, _)| v).collect();
    assert_eq!(
        versions,
        (1..=10).collect::<Vec<_>>(),
        "in order, once each"
    );
    assert_eq!(
        stats.batches.load(Ordering::Relaxed),
        1,
        "the nine events that arrived within the pace went in one transaction"
    );
    assert!(waited >= PACE / 2, "they waited out the pace ({waited:?})");
}

#[tokio::test]
async fn a_paced_consumer_batches_what_arrives_within_its_pace() {
    a_paced_consumer_applies_what_arrives_within_its_pace_together(1).await;
}

#[tokio::test]
async fn a_paced_lane_batches_what_arrives_within_its_pace() {
    a_paced_consumer_applies_what_arrives_within_its_pace_together(2).await;
}

/// A handler that carries the batch's admission in a statement of its own, one that also
/// counts the batch's events in `carried`: the statement's writes stand only when it admitted.
#[derive(Default)]
struct Carrier {
    recorder: Recorder,
    refused: Arc<AtomicU32>,
}

impl Handler for Carrier {
    type Pending = Pending;

    async fn admit_and_prepare(
        &self,
        tx: &mut PgConnection,
        events: &[&EventEnvelope],
        admission: chain_consumer::BatchAdmission<'_>,
        pending: &mut Pending,
    ) -> Result<bool, HandlerError> {
        let query = sqlx::query(concat!(
            "WITH ",
            chain_consumer::admission_ctes!(),
            ", noted AS (INSERT INTO carried (events) VALUES ($6))
             SELECT count(*) AS moved FROM inbox_moved"
        ));
        let events_in = i64::try_from(events.len()).expect("a small batch");
        let moved: i64 = sqlx::Row::try_get(
            &admission
                .bind(query)
                .bind(events_in)
                .fetch_one(&mut *tx)
                .await?,
            "moved",
        )?;
        if !admission.admitted(moved) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Ok(false);
        }
        self.recorder.prepare(tx, events, pending).await?;
        Ok(true)
    }

    async fn prepare(
        &self,
        tx: &mut PgConnection,
        events: &[&EventEnvelope],
        pending: &mut Pending,
    ) -> Result<(), HandlerError> {
        self.recorder.prepare(tx, events, pending).await
    }

    async fn handle(
        &self,
        tx: &mut PgConnection,
        event: &EventEnvelope,
        pending: &mut Pending,
    ) -> Result<(), HandlerError> {
        self.recorder.handle(tx, event, pending).await
    }

    async fn flush(&self, tx: &mut PgConnection, pending: Pending) -> Result<(), HandlerError> {
        self.recorder.flush(tx, pending).await
    }
}

#[tokio::test]
async fn an_admission_carried_in_the_handlers_statement_admits_only_what_is_next() {
    let fx = Fixture::new().await;
    sqlx::query("CREATE TABLE carried (events bigint NOT NULL)")
        .execute(&fx.pool)
        .await
        .expect("the carrier's table");
    // Versions 3 and 4 of `a` come first, together with `b`'s first: a batch whose runs follow
    // one another, but `a` stands at 0, so the carried admission refuses it, writes and all.
    for (stream, version) in [("a", 3), ("a", 4), ("b", 1)] {
        fx.publish(&envelope(stream, version, "test.Step")).await;
    }
    let carrier = Carrier::default();
    let refused = Arc::clone(&carrier.refused);
    let consumer = EventConsumer::new(fx.pool.clone(), fx.js.clone(), fx.config(), carrier);
    let stats = consumer.stats();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(consumer.run(shutdown.clone()));
    assert!(
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(25),
            async || !fx.applied().await.is_empty()
        )
        .await,
        "b's event applied"
    );
    assert!(
        refused.load(Ordering::SeqCst) >= 1,
        "the first batch was refused"
    );
    for (stream, version) in [("a", 1), ("a", 2)] {
        fx.publish(&envelope(stream, version, "test.Step")).await;
    }
    assert!(
        wait_until(
            Duration::from_secs(15),
            Duration::from_millis(25),
            async || fx.applied().await.len() >= 5
        )
        .await,
        "all five events applied"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    task.await.expect("consumer stops");

    let applied = fx.applied().await;
    let versions: Vec<(&str, i64)> = applied.iter().map(|(a, v, _)| (a.as_str(), *v)).collect();
    let of = |id: &str| -> Vec<i64> {
        versions
            .iter()
            .filter(|(a, _)| *a == id)
            .map(|(_, v)| *v)
            .collect()
    };
    assert_eq!(of("a"), [1, 2, 3, 4], "stream a in order, once each");
    assert_eq!(of("b"), [1]);
    assert_eq!(
        applied_count(&fx.pool, "projector").await.expect("count"),
        5
    );
    // Every batch the carrier admitted left its note; a refused one left none.
    let batches = stats.batches.load(Ordering::Relaxed);
    let carried_batches: i64 = sqlx::query_scalar("SELECT count(*) FROM carried")
        .fetch_one(&fx.pool)
        .await
        .expect("notes");
    assert_eq!(
        u64::try_from(carried_batches).expect("a count"),
        batches,
        "one note for each batch committed, none for a refused one"
    );
}
