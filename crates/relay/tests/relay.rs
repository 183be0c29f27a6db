//! The relay against real PostgreSQL and real NATS: commit order, exactly-once delivery into the
//! stream across kills and a wiped NATS store, one leader among replicas, wake-up on NOTIFY.

use async_nats::jetstream;
use chain_bus::{BusLayout, MSG_ID_HEADER, Publisher, decode_envelope, ensure_stream};
use chain_relay::{Relay, RelayConfig, rewind};
use chain_store::{EventMetadata, EventStore, NewEvent, Position, StreamId};
use chain_testkit::{NatsRoot, OwnNatsServer, TestDatabase, nats_url, wait_until};
use chrono::Utc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SERVICE: &str = "requests";

struct Fixture {
    _db: TestDatabase,
    store: EventStore,
    js: jetstream::Context,
    layout: BusLayout,
}

impl Fixture {
    async fn new(nats: &str) -> Fixture {
        let db = TestDatabase::create().await;
        let store = EventStore::new(db.pool());
        store.migrate().await.expect("migrate");
        let js = chain_bus::connect(nats).await.expect("nats");
        let layout = BusLayout::new(NatsRoot::unique());
        ensure_stream(&js, &layout, SERVICE).await.expect("stream");
        Fixture {
            _db: db,
            store,
            js,
            layout,
        }
    }

    fn relay(&self, config: RelayConfig) -> Relay {
        let publisher = Publisher::new(self.js.clone(), self.layout.clone(), SERVICE, 256);
        Relay::new(self.store.clone(), publisher, config)
    }

    /// Appends `count` events spread over a few streams; returns their ids in append order.
    async fn append(&self, count: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(count);
        for i in 0..count {
            let stream = StreamId::new("request", format!("r{}", i % 7));
            let version = self.store.stream_version(&stream).await.expect("version");
            let event = NewEvent::new("customerchain.v1.RequestOpened", 1, Utc::now(), vec![1; 64]);
            ids.push(event.event_id.to_string());
            self.store
                .append(&stream, version, &[event], &EventMetadata::default(), None)
                .await
                .expect("append");
        }
        ids
    }

    /// Every event id in the JetStream stream, in stream order.
    async fn published_ids(&self) -> Vec<String> {
        stream_ids(&self.js, &self.layout).await
    }
}

async fn stream_ids(js: &jetstream::Context, layout: &BusLayout) -> Vec<String> {
    let stream = js
        .get_stream(layout.stream_name(SERVICE))
        .await
        .expect("stream exists");
    let last = stream.get_info().await.expect("info").state.last_sequence;
    let mut ids = Vec::new();
    for sequence in 1..=last {
        let Ok(message) = stream.get_raw_message(sequence).await else {
            continue;
        };
        let envelope = decode_envelope(&message.payload).expect("envelope");
        let header = message
            .headers
            .get(MSG_ID_HEADER)
            .map(|v| v.as_str().to_owned());
        assert_eq!(
            header.as_deref(),
            Some(envelope.event_id.as_str()),
            "dedup header"
        );
        ids.push(envelope.event_id);
    }
    ids
}

/// Drains until `expected` events are in the stream. One drain may stop short: transaction ids
/// are cluster-wide, so another test's open transaction can hold the readable horizon back.
async fn drain_until(relay: &Relay, js: &jetstream::Context, layout: &BusLayout, expected: usize) {
    let done = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(10),
        async || {
            relay.drain().await.expect("drain");
            stream_ids(js, layout).await.len() >= expected
        },
    )
    .await;
    assert!(done, "{expected} events reach the stream");
}

/// Runs `relay` until `shutdown` and waits until it leads; returns its task and counters.
async fn run_leading(
    relay: Relay,
    shutdown: &CancellationToken,
) -> (
    tokio::task::JoinHandle<()>,
    std::sync::Arc<chain_relay::RelayStats>,
) {
    let stats = relay.stats();
    let task = tokio::spawn(relay.run(shutdown.clone()));
    assert!(
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(10),
            async || stats.leading.load(std::sync::atomic::Ordering::Relaxed)
        )
        .await,
        "the relay leads"
    );
    (task, stats)
}

fn quick(name: &str) -> RelayConfig {
    RelayConfig {
        fallback_poll: Duration::from_millis(50),
        standby_retry: Duration::from_millis(50),
        ..RelayConfig::named(name)
    }
}

#[tokio::test]
async fn publishes_every_committed_event_once_in_commit_order() {
    let fx = Fixture::new(&nats_url()).await;
    let ids = fx.append(40).await;
    let relay = fx.relay(quick("relay"));
    drain_until(&relay, &fx.js, &fx.layout, 40).await;
    assert_eq!(
        relay.drain().await.expect("second drain"),
        Some(0),
        "nothing twice"
    );

    let committed: Vec<String> = fx
        .store
        .read_all(Position::START, 1_000)
        .await
        .expect("read")
        .iter()
        .map(|e| e.event_id.to_string())
        .collect();
    assert_eq!(committed, ids, "sequential appends commit in append order");
    assert_eq!(fx.published_ids().await, committed);
}

#[tokio::test]
async fn a_relay_killed_before_its_checkpoint_leaves_no_duplicate_in_the_stream() {
    let fx = Fixture::new(&nats_url()).await;
    let mut ids = fx.append(30).await;

    // Abort the running relay again and again while more events are appended; some aborts land
    // between publishing a batch and moving the checkpoint.
    for round in 0..8u64 {
        let shutdown = CancellationToken::new();
        let relay = fx.relay(RelayConfig {
            batch_size: 7,
            ..quick("relay")
        });
        let task = tokio::spawn(relay.run(shutdown.clone()));
        ids.extend(fx.append(10).await);
        tokio::time::sleep(Duration::from_millis(5 * round)).await;
        task.abort();
        let _ = task.await;
    }
    let relay = fx.relay(quick("relay"));
    drain_until(&relay, &fx.js, &fx.layout, ids.len()).await;

    let published = fx.published_ids().await;
    let mut sorted_published = published.clone();
    sorted_published.sort();
    sorted_published.dedup();
    assert_eq!(sorted_published.len(), published.len(), "no event twice");
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(sorted_published, sorted_ids, "every event once");
}

#[tokio::test]
async fn republishes_everything_after_nats_loses_its_store() {
    let mut nats = OwnNatsServer::start().await;
    let fx = Fixture::new(&nats.url()).await;
    let ids = fx.append(25).await;
    let relay = fx.relay(quick("relay"));
    drain_until(&relay, &fx.js, &fx.layout, 25).await;
    assert_eq!(fx.published_ids().await, ids);

    nats.kill().expect("kill nats");
    nats.wipe_store().expect("wipe");
    nats.restart().await.expect("restart");

    let js = chain_bus::connect(&nats.url()).await.expect("reconnect");
    ensure_stream(&js, &fx.layout, SERVICE)
        .await
        .expect("stream again");
    assert!(
        stream_ids(&js, &fx.layout).await.is_empty(),
        "the store was wiped"
    );

    // Without a rewind the relay believes everything is out already.
    let relay = Relay::new(
        fx.store.clone(),
        Publisher::new(js.clone(), fx.layout.clone(), SERVICE, 64),
        quick("relay"),
    );
    assert_eq!(relay.drain().await.expect("drain"), Some(0));

    rewind(&fx.store, "relay", Position::START)
        .await
        .expect("rewind");
    drain_until(&relay, &js, &fx.layout, 25).await;
    assert_eq!(stream_ids(&js, &fx.layout).await, ids);

    // A second rewind republishes into a stream that still has everything: all duplicates.
    rewind(&fx.store, "relay", Position::START)
        .await
        .expect("rewind");
    let stats = relay.stats();
    let all_repeated = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(10),
        async || {
            relay.drain().await.expect("republish again");
            stats.duplicates.load(std::sync::atomic::Ordering::Relaxed) == 25
        },
    )
    .await;
    assert!(all_repeated, "the server recognised all 25 as repeats");
    assert_eq!(stream_ids(&js, &fx.layout).await, ids);
}

#[tokio::test]
async fn only_one_replica_relays_and_another_takes_over() {
    let fx = Fixture::new(&nats_url()).await;
    let shutdown = CancellationToken::new();
    let (task, _) = run_leading(fx.relay(quick("relay")), &shutdown).await;

    let standby = fx.relay(quick("relay"));
    assert_eq!(standby.drain().await.expect("drain"), None, "lock is taken");

    let first = fx.append(5).await;
    assert!(
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(20),
            async || fx.published_ids().await.len() == 5
        )
        .await
    );

    shutdown.cancel();
    task.await.expect("leader stops");
    let standby_stats = standby.stats();
    let standby_shutdown = CancellationToken::new();
    let standby_task = tokio::spawn(standby.run(standby_shutdown.clone()));
    let second = fx.append(5).await;
    assert!(
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(20),
            async || fx.published_ids().await.len() == 10
        )
        .await,
        "the standby took over"
    );
    assert!(
        standby_stats
            .leading
            .load(std::sync::atomic::Ordering::Relaxed)
    );
    standby_shutdown.cancel();
    standby_task.await.expect("standby stops");
    assert_eq!(fx.published_ids().await, [first, second].concat());
}

#[tokio::test]
async fn a_commit_wakes_the_relay_without_waiting_for_its_poll() {
    let fx = Fixture::new(&nats_url()).await;
    let relay = fx.relay(RelayConfig {
        fallback_poll: Duration::from_secs(3_600),
        ..RelayConfig::named("relay")
    });
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(relay.run(shutdown.clone()));
    // Let it take the lead and block on LISTEN.
    tokio::time::sleep(Duration::from_millis(300)).await;
    fx.append(1).await;
    assert!(
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(10),
            async || fx.published_ids().await.len() == 1
        )
        .await,
        "NOTIFY woke the relay"
    );
    shutdown.cancel();
    task.await.expect("stops");
}

#[tokio::test]
async fn an_append_on_a_standby_replica_wakes_the_leader_elsewhere() {
    let fx = Fixture::new(&nats_url()).await;
    let slow = |name: &str| RelayConfig {
        fallback_poll: Duration::from_secs(3_600),
        standby_retry: Duration::from_secs(3_600),
        ..RelayConfig::named(name)
    };
    let shutdown = CancellationToken::new();
    let (leader_task, _) = run_leading(fx.relay(slow("relay")), &shutdown).await;

    // A second replica: its own store handle (so no in-process signal reaches the leader) and
    // its own relay, standing by.
    let replica_store = EventStore::new(fx.store.pool().clone());
    let replica = Relay::new(
        replica_store.clone(),
        Publisher::new(fx.js.clone(), fx.layout.clone(), SERVICE, 64),
        slow("relay"),
    );
    let replica_task = tokio::spawn(replica.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let event = NewEvent::new("customerchain.v1.RequestOpened", 1, Utc::now(), vec![2; 8]);
    replica_store
        .append(
            &StreamId::new("request", "x"),
            0,
            &[event],
            &EventMetadata::default(),
            None,
        )
        .await
        .expect("append on the replica");
    assert!(
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(10),
            async || fx.published_ids().await.len() == 1
        )
        .await,
        "the standby's NOTIFY woke the leader"
    );
    shutdown.cancel();
    leader_task.await.expect("leader stops");
    replica_task.await.expect("replica stops");
}

#[tokio::test]
async fn an_event_is_published_while_an_older_transaction_still_runs_and_nothing_twice() {
    let fx = Fixture::new(&nats_url()).await;
    let shutdown = CancellationToken::new();
    let (task, stats) = run_leading(fx.relay(quick("relay")), &shutdown).await;

    // An older transaction holds the commit-order horizon back while it runs.
    let slow_event = NewEvent::new("customerchain.v1.RequestOpened", 1, Utc::now(), vec![3; 8]);
    let mut slow = fx.store.pool().begin().await.expect("begin");
    chain_store::append_in(
        &mut *slow,
        &StreamId::new("request", "slow"),
        0,
        std::slice::from_ref(&slow_event),
        &EventMetadata::default(),
        None,
    )
    .await
    .expect("append in the open transaction");
    let quick_ids = fx.append(3).await;
    assert!(
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(10),
            async || fx.published_ids().await == quick_ids
        )
        .await,
        "events committed later are published without waiting for the open transaction"
    );

    slow.commit().await.expect("commit");
    fx.store.signal_appended();
    let everything = [quick_ids, vec![slow_event.event_id.to_string()]].concat();
    assert!(
        wait_until(
            Duration::from_secs(5),
            Duration::from_millis(10),
            async || fx.published_ids().await == everything
        )
        .await,
        "the late committer follows"
    );

    // The checkpoint passes all four without the durable read publishing them again. It moves
    // below the oldest transaction of the whole server, which other tests' transactions may
    // hold back for a while.
    assert!(
        wait_until(
            Duration::from_secs(60),
            Duration::from_millis(20),
            async || {
                let readable = fx.store.read_all(Position::START, 10).await.expect("read");
                let checkpoint = chain_store::load_checkpoint(fx.store.pool(), "relay").await;
                readable.len() == 4 && checkpoint.ok() == readable.last().map(|e| e.position)
            }
        )
        .await,
        "the checkpoint reaches the last event"
    );
    shutdown.cancel();
    task.await.expect("stops");
    assert_eq!(
        stats.duplicates.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "no event was sent twice"
    );
    assert_eq!(
        stats.published.load(std::sync::atomic::Ordering::Relaxed),
        4
    );
}

/// Two writers of one stream: the transaction that appends its second version took its id
/// before the one that appends the first. Commit order (transaction id) then puts version 2
/// first; the bus must still carry the stream in version order, or every consumer waits out a
/// gap it cannot fill until the redelivery.
#[tokio::test]
async fn a_stream_is_published_in_version_order_when_its_later_version_has_the_older_transaction() {
    let fx = Fixture::new(&nats_url()).await;
    let stream = StreamId::new("ticket", "t-shared");
    let event = || NewEvent::new("customerchain.v1.TicketOpened", 1, Utc::now(), vec![1; 16]);
    let (first, second) = (event(), event());
    let expected = vec![first.event_id.to_string(), second.event_id.to_string()];

    let mut older = fx.store.pool().begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *older)
        .await
        .expect("take a transaction id");
    fx.store
        .append(&stream, 0, &[first], &EventMetadata::default(), None)
        .await
        .expect("version 1, by the younger transaction");
    chain_store::append_in(
        &mut *older,
        &stream,
        1,
        &[second],
        &EventMetadata::default(),
        None,
    )
    .await
    .expect("version 2, by the older transaction");
    older.commit().await.expect("commit");
    // Both in one read: another test's transaction could hold the horizon between the two,
    // and a stream split between two reads still goes out in commit order.
    let mark = fx.store.commit_mark().await.expect("mark");
    let readable = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(10),
        async || fx.store.reads_past(&mark).await.expect("reads past"),
    )
    .await;
    assert!(readable, "both versions become readable");

    let relay = fx.relay(quick("relay"));
    drain_until(&relay, &fx.js, &fx.layout, 2).await;
    assert_eq!(
        fx.published_ids().await,
        expected,
        "version 1, then version 2"
    );
}
