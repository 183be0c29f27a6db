//! The relay's fast path: publish each event as soon as its transaction commits, instead of once
//! every older transaction of the cluster has ended.
//!
//! The durable checkpoint can only move in commit order below the oldest running transaction
//! (see [`chain_store::EventStore::read_all`]), which under load trails the head by the longest
//! transaction running anywhere on the PostgreSQL server: every event waited that long before
//! it was published. The fast path chains [`CommitSnapshot`]s instead: each look publishes
//! exactly the events committed since the previous one, and remembers their positions so the
//! durable read, passing them later, moves the checkpoint without publishing them again.
//!
//! It starts where a checkpoint read reaches the horizon ([`EventStore::horizon`]): older events
//! are the checkpoint read's, newer ones the fast path's, so none of a stream overtakes another.
//!
//! It is only a shortcut. What it published and the checkpoint has not passed is published again
//! after a crash or a change of leader (the server drops the copies by `Nats-Msg-Id`, consumers
//! by their inbox), and it steps aside — forgetting what it published, so the durable read
//! publishes everything again — whenever it cannot keep up exactly: while the durable read has
//! a backlog (a new event of a stream must not overtake an older one still in that backlog),
//! when more events committed between two looks than one read returns, or when too many of its
//! events wait for the checkpoint.

use std::collections::HashSet;

use chain_store::{CommitSnapshot, EventStore, Position, RecordedEvent, StoreError};

/// Published events the checkpoint has not passed yet, beyond which the fast path steps aside
/// (a transaction that runs for long holds the checkpoint back while the head moves on).
const MAX_AWAITING_CHECKPOINT: usize = 100_000;

/// The fast path's state during one leadership.
#[derive(Debug, Default)]
pub(crate) struct FastPath {
    /// The snapshot of the last look; `None` while the fast path stands aside.
    snapshot: Option<CommitSnapshot>,
    /// Positions of the events it published that the durable read has not passed yet.
    published: HashSet<i64>,
    /// The checkpoint as the durable read last left it.
    checkpoint: Option<Position>,
}

impl FastPath {
    /// Whether it is publishing (the durable read then need not hurry).
    pub(crate) fn is_on(&self) -> bool {
        self.snapshot.is_some()
    }

    /// Forgets everything: the durable read publishes what the fast path published since the
    /// checkpoint again, and the fast path waits for the next [`Self::start`].
    pub(crate) fn step_aside(&mut self, why: &'static str) {
        if self.is_on() {
            tracing::debug!(why, "relay fast path steps aside");
            metrics::counter!("chain_relay_fast_path_step_asides_total", "why" => why).increment(1);
        }
        self.snapshot = None;
        self.published.clear();
    }

    /// Starts publishing from `horizon` ([`EventStore::horizon`], taken before a checkpoint
    /// read that then read everything up to the horizon): events of older transactions are
    /// published or behind the checkpoint, the rest are the fast path's.
    pub(crate) fn start(&mut self, horizon: CommitSnapshot) {
        self.snapshot = Some(horizon);
    }

    /// The events committed since the last look and not passed by the checkpoint read yet;
    /// none while it stands aside, or when it has to step aside now.
    pub(crate) async fn look(
        &mut self,
        store: &EventStore,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if self.published.len() >= MAX_AWAITING_CHECKPOINT {
            self.step_aside("checkpoint far behind");
        }
        let Some(since) = self.snapshot.as_ref() else {
            return Ok(Vec::new());
        };
        // Nothing the checkpoint read already passed (and so published): only what it will
        // pass later, and skip because it is in `published`.
        let after = self.checkpoint.unwrap_or(Position::START);
        let read = store.committed_since(since, after, limit).await?;
        if !read.complete {
            self.step_aside("burst beyond one read");
            return Ok(Vec::new());
        }
        self.snapshot = Some(read.snapshot);
        Ok(read.events)
    }

    /// Records that `events` (from [`Self::look`]) were published.
    pub(crate) fn published(&mut self, events: &[RecordedEvent]) {
        self.published
            .extend(events.iter().map(|event| event.position.position));
    }

    /// Notes the checkpoint the durable read starts from. One that is not where the durable
    /// read left it was rewound (NATS lost its store): everything after it must be published
    /// again, including what the fast path published.
    pub(crate) fn reading_from(&mut self, checkpoint: Position) {
        if self.checkpoint.is_some_and(|left| left != checkpoint) {
            self.step_aside("rewound");
        }
        self.checkpoint = Some(checkpoint);
    }

    /// Notes that the durable read moved the checkpoint to `checkpoint`.
    pub(crate) fn moved_to(&mut self, checkpoint: Position) {
        self.checkpoint = Some(checkpoint);
    }

    /// Whether the durable read, passing `event`, must publish it (the fast path did not).
    pub(crate) fn passes(&mut self, event: &RecordedEvent) -> bool {
        !self.published.remove(&event.position.position)
    }
}
