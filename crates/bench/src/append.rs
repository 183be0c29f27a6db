//! Event-store appends as a command makes them: one event appended to an existing stream at
//! the version the command read, with the metadata a real command carries.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context as _, bail};
use chain_store::{AppendOutcome, EventMetadata, EventStore, Idempotency, NewEvent, StreamId};
use chrono::Utc;
use uuid::Uuid;

use crate::measure::Writer;

/// The aggregate every benchmark stream belongs to.
const AGGREGATE_TYPE: &str = "ticket";
/// A realistic event type for a command on an open ticket.
const EVENT_TYPE: &str = "customerchain.v1.PromiseAtRisk";
/// The acting service.
const ACTOR: &str = "tickets-svc";
/// The idempotency scope: the RPC and the caller.
const IDEMPOTENCY_SCOPE: &str = "customerchain.v1.TicketService/FlagPromiseAtRisk:bench";
/// Streams each writer rotates over, so consecutive appends of one writer hit different
/// streams, as commands on different tickets would.
const STREAMS_PER_WRITER: usize = 4;

/// A writer appending one event per operation to streams it owns, at their known versions.
pub struct AppendWriter {
    store: EventStore,
    streams: Vec<(StreamId, u64)>,
    next: usize,
    payload: Vec<u8>,
    idempotent: bool,
}

impl AppendWriter {
    /// Writer number `writer` of run `label`. Its streams are created here, with one event each,
    /// so that every measured append goes to an existing stream (the common case).
    pub async fn open(
        store: EventStore,
        label: &str,
        writer: usize,
        payload: Vec<u8>,
        idempotent: bool,
    ) -> anyhow::Result<Self> {
        let mut this = Self {
            store,
            streams: (0..STREAMS_PER_WRITER)
                .map(|k| {
                    let id = format!("{label}-{writer}-{k}-{}", Uuid::now_v7().simple());
                    (StreamId::new(AGGREGATE_TYPE, id), 0)
                })
                .collect(),
            next: 0,
            payload,
            idempotent,
        };
        for _ in 0..STREAMS_PER_WRITER {
            this.append_one()
                .await
                .context("creating a writer's stream")?;
        }
        Ok(this)
    }

    async fn append_one(&mut self) -> anyhow::Result<()> {
        let index = self.next;
        self.next = (index + 1) % self.streams.len();
        let (stream, version) = &mut self.streams[index];
        let event = NewEvent::new(EVENT_TYPE, 1, Utc::now(), self.payload.clone());
        let idempotency = self.idempotent.then(fresh_idempotency);
        let outcome = self
            .store
            .append(
                stream,
                *version,
                &[event],
                &command_metadata(stream),
                idempotency.as_ref(),
            )
            .await?;
        match outcome {
            AppendOutcome::Appended { version: now, .. } => *version = now,
            AppendOutcome::Replayed { .. } => bail!("a fresh idempotency key was replayed"),
        }
        Ok(())
    }
}

impl Writer for AppendWriter {
    async fn step(&mut self) -> anyhow::Result<()> {
        self.append_one().await
    }
}

/// Appends `events_per_append`-event batches to new streams from `writers` concurrent tasks
/// until at least `target` events were added; returns how many were.
pub async fn bulk_fill(
    store: &EventStore,
    target: u64,
    writers: usize,
    events_per_append: usize,
    payload: &[u8],
) -> anyhow::Result<u64> {
    let added = Arc::new(AtomicU64::new(0));
    let batch = events_per_append as u64;
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let store = store.clone();
            let added = Arc::clone(&added);
            let payload = payload.to_vec();
            tokio::spawn(async move {
                while added.fetch_add(batch, Ordering::Relaxed) < target {
                    let stream =
                        StreamId::new(AGGREGATE_TYPE, format!("bulk-{}", Uuid::now_v7().simple()));
                    let events: Vec<_> = (0..events_per_append)
                        .map(|_| NewEvent::new(EVENT_TYPE, 1, Utc::now(), payload.clone()))
                        .collect();
                    store
                        .append(&stream, 0, &events, &command_metadata(&stream), None)
                        .await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await.context("a bulk writer panicked")??;
    }
    // Every task overshot the target by one reservation it did not use.
    Ok(added.load(Ordering::Relaxed) - batch * writers as u64)
}

/// The metadata of a command on `stream`'s ticket, traced under a fresh W3C trace.
fn command_metadata(stream: &StreamId) -> EventMetadata {
    let trace = Uuid::now_v7().simple().to_string();
    let span = Uuid::now_v7().simple().to_string();
    EventMetadata {
        correlation_id: stream.aggregate_id.clone(),
        causation_id: Uuid::now_v7().to_string(),
        actor: ACTOR.to_owned(),
        // The tail of a v7 UUID is random, so it makes a plausible span id.
        traceparent: Some(format!("00-{trace}-{}-01", &span[16..])),
        tracestate: None,
        baggage: None,
    }
}

/// A fresh client key with a request digest and a stored response of realistic sizes.
fn fresh_idempotency() -> Idempotency {
    let key = Uuid::now_v7();
    let mut fingerprint = key.as_bytes().to_vec();
    fingerprint.extend_from_slice(Uuid::now_v7().as_bytes());
    Idempotency {
        scope: IDEMPOTENCY_SCOPE.to_owned(),
        key: key.to_string(),
        fingerprint,
        response: vec![0x5a; 48],
    }
}
