//! Getting events out: the store's commit-order read, the relay draining everything to
//! JetStream, and raw JetStream publishing with `Nats-Msg-Id` as the physical limit beside it.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture};
use bytes::Bytes;
use chain_bus::{BusLayout, MSG_ID_HEADER, Publisher};
use chain_relay::{Relay, RelayConfig};
use chain_store::{EventStore, Position};
use tokio::time::Instant;
use uuid::Uuid;

use crate::fixture::BenchNats;

/// The service token of the relay's stream.
const RELAY_SERVICE: &str = "bench";
/// The service token of the raw publishing stream.
const RAW_SERVICE: &str = "raw";

/// How many items took how long.
pub struct Throughput {
    /// Items moved.
    pub count: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl Throughput {
    /// Items per second.
    pub fn rate(&self) -> f64 {
        crate::measure::per_second(self.count, self.elapsed)
    }
}

/// How long to wait for transactions elsewhere on the server to end, before relaying or when a
/// read finds nothing new.
const HORIZON_WAIT: Duration = Duration::from_secs(60);
/// The pause between two looks while waiting.
const STALL_PAUSE: Duration = Duration::from_millis(20);

/// Waits until every one of the store's `events` is visible to a commit-order read.
///
/// The read stops below the oldest transaction still running on the whole PostgreSQL server,
/// in any database (transaction ids are server-wide), so a transaction of some other program
/// holds the relay back. Waiting here keeps such a stall out of the timed figures. Returns how
/// long it waited.
pub async fn wait_for_horizon(store: &EventStore, events: u64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let visible: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())",
        )
        .fetch_one(store.pool())
        .await?;
        if u64::try_from(visible)? >= events {
            return Ok(started.elapsed());
        }
        ensure!(
            started.elapsed() < HORIZON_WAIT,
            "only {visible} of {events} events became readable within {HORIZON_WAIT:?}: a \
             transaction elsewhere on the server stays open"
        );
        tokio::time::sleep(STALL_PAUSE).await;
    }
}

/// Reads every event in commit order, `batch` at a time, without publishing: the relay's
/// read side on its own.
pub async fn read_everything(
    store: &EventStore,
    batch: u32,
    events: u64,
) -> anyhow::Result<Throughput> {
    let started = Instant::now();
    let mut after = Position::START;
    let mut count = 0;
    let mut stalls = 0;
    while count < events {
        let read = store.read_all(after, batch).await?;
        match read.last() {
            Some(last) => {
                after = last.position;
                count += read.len() as u64;
            }
            None => {
                stalled(store, "the commit-order read", after, count, events, stalls).await?;
                stalls += 1;
            }
        }
    }
    Ok(Throughput {
        count,
        elapsed: started.elapsed(),
    })
}

/// `reader` came back empty at `after` with only `count` of `events` read. Fails at once when
/// nothing is left after `after` (the reader skipped events: a correctness bug, not a wait),
/// otherwise pauses so a transaction elsewhere can end, and fails after [`HORIZON_WAIT`].
async fn stalled(
    store: &EventStore,
    reader: &str,
    after: Position,
    count: u64,
    events: u64,
    stalls: u32,
) -> anyhow::Result<()> {
    let (rest, readable, snapshot): (i64, i64, String) = sqlx::query_as(
        "SELECT count(*),
                count(*) FILTER (WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot())),
                pg_current_snapshot()::text
         FROM events WHERE (tx_id, position) > ($1::text::xid8, $2)",
    )
    .bind(after.tx_id.to_string())
    .bind(after.position)
    .fetch_one(store.pool())
    .await?;
    ensure!(
        rest > 0,
        "{reader} skipped {} events: it returned {count} of {events}, yet none is left after \
         position {after} (snapshot {snapshot})",
        events.saturating_sub(count)
    );
    if stalls == 0 {
        eprintln!(
            "store-bench: {reader} waits at {after} after {count} of {events} events: {rest} \
             left, {readable} readable now (snapshot {snapshot})"
        );
    }
    ensure!(
        STALL_PAUSE * stalls < HORIZON_WAIT,
        "{reader} stalled at {count} of {events} events"
    );
    tokio::time::sleep(STALL_PAUSE).await;
    Ok(())
}

/// Drains the store's `events` to a fresh stream with a relay of its own (its own checkpoint),
/// reading `batch_size` events per round with up to `in_flight` acks pending.
pub async fn drain(
    store: &EventStore,
    nats: &mut BenchNats,
    events: u64,
    batch_size: u32,
    in_flight: usize,
) -> anyhow::Result<Throughput> {
    let layout = nats.fresh_stream(RELAY_SERVICE).await?;
    let stream = layout.stream_name(RELAY_SERVICE);
    let publisher = Publisher::new(nats.js().clone(), layout, RELAY_SERVICE, in_flight);
    let name = format!("bench-{batch_size}-{in_flight}");
    let config = RelayConfig {
        batch_size,
        ..RelayConfig::named(name.clone())
    };
    let relay = Relay::new(store.clone(), publisher, config);

    let started = Instant::now();
    let mut count = 0;
    let mut stalls = 0;
    while count < events {
        let drained = relay
            .drain()
            .await?
            .context("another relay holds this relay's lock")?;
        if drained == 0 {
            let checkpoint = chain_store::load_checkpoint(store.pool(), &name).await?;
            stalled(store, "the relay", checkpoint, count, events, stalls).await?;
            stalls += 1;
        }
        count += drained;
    }
    let elapsed = started.elapsed();

    let stored = nats.stream_messages(&stream).await?;
    ensure!(
        stored == count,
        "the relay drained {count} events but stream {stream} holds {stored}"
    );
    Ok(Throughput { count, elapsed })
}

/// Publishes `count` messages of `size` bytes, each with a fresh `Nats-Msg-Id`, to a fresh stream,
/// keeping up to `in_flight` acks pending and awaiting them in order.
pub async fn raw_publish(
    nats: &mut BenchNats,
    count: u64,
    size: usize,
    in_flight: usize,
) -> anyhow::Result<Throughput> {
    let layout = nats.fresh_stream(RAW_SERVICE).await?;
    let stream = layout.stream_name(RAW_SERVICE);
    let subject = raw_subject(&layout);
    let body = Bytes::from(vec![0xab; size]);
    let js = nats.js().clone();

    let started = Instant::now();
    let mut pending: VecDeque<PublishAckFuture> = VecDeque::with_capacity(in_flight);
    for _ in 0..count {
        if pending.len() >= in_flight
            && let Some(oldest) = pending.pop_front()
        {
            settle(oldest).await?;
        }
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID_HEADER, Uuid::now_v7().to_string().as_str());
        pending.push_back(
            js.publish_with_headers(subject.clone(), headers, body.clone())
                .await
                .context("publishing")?,
        );
    }
    while let Some(oldest) = pending.pop_front() {
        settle(oldest).await?;
    }
    let elapsed = started.elapsed();

    let stored = nats.stream_messages(&stream).await?;
    ensure!(
        stored == count,
        "published {count} messages but stream {stream} holds {stored}"
    );
    Ok(Throughput { count, elapsed })
}

fn raw_subject(layout: &BusLayout) -> String {
    layout.subject(RAW_SERVICE, "bench", "RawMessage")
}

async fn settle(ack: PublishAckFuture) -> anyhow::Result<()> {
    let ack: jetstream::publish::PublishAck = ack.await.context("awaiting a publish ack")?;
    ensure!(
        !ack.duplicate,
        "a fresh message id was taken for a duplicate"
    );
    Ok(())
}

/// The encoded size (headers aside) of the first stored event's bus envelope, to set beside
/// the 128-byte raw messages.
pub async fn envelope_bytes(store: &EventStore) -> anyhow::Result<usize> {
    let first = store.read_all(Position::START, 1).await?;
    let event = first.first().context("the store is empty")?;
    let (_headers, body) = chain_bus::encode_envelope(&chain_relay::to_envelope(event));
    Ok(body.len())
}
