//! The outbox relay: publishes committed events from a service's event store to its JetStream
//! stream in commit order, with exactly one replica publishing at a time.
//!
//! How it stays correct:
//! - **Commit order, no skipped rows.** Its checkpoint moves with [`EventStore::read_all`], which
//!   orders by `(tx_id, position)` and stops below the oldest running transaction. Each read
//!   goes out in `position` order, which is each stream's version order even where two
//!   transactions writing one stream took their ids the other way round (unless a read's end
//!   falls between them: consumers then wait out the gap).
//! - **Published at commit, not at the horizon.** That horizon trails the head by the longest
//!   transaction running anywhere on the server; a fast path (`fast_path.rs`) publishes each event
//!   as soon as its own transaction commits, by chaining snapshots, and the checkpoint read skips
//!   what it published. It steps aside (and the checkpoint read publishes everything) whenever it
//!   cannot be exact: a backlog, a rewind, a burst beyond one read.
//! - **At least once, deduplicated to exactly once.** The checkpoint moves only after JetStream
//!   acknowledged the whole batch; a relay killed in between republishes, and the server drops
//!   the repeats by `Nats-Msg-Id` (the event id).
//! - **One publisher.** A replica relays only while it holds a session advisory lock on a
//!   dedicated connection, and it moves the checkpoint through that same connection, so a replica
//!   that lost its connection (and with it the lock) can no longer move it.
//! - **Wakes on commit, without slowing commits.** An append in the leader's process wakes it
//!   in-process; a standby replica forwards its appends as one coalesced `NOTIFY chain_events`,
//!   sent outside any transaction (a NOTIFY inside the appending transaction would hold a
//!   cluster-wide lock through the commit flush and serialise every append). A short fallback
//!   poll catches appends made inside callers' transactions that did not signal.
//! - **PostgreSQL is the truth.** [`rewind`] moves the checkpoint back (to the start, after
//!   NATS lost its store) and the relay republishes from there.
//!
//! [`EventStore::read_all`]: chain_store::EventStore::read_all

mod envelope;
mod error;
mod fast_path;
mod leader;
mod relay;

pub use envelope::to_envelope;
pub use error::RelayError;
pub use relay::{Relay, RelayConfig, RelayStats, rewind};
