//! The PostgreSQL event store: append-only events with optimistic concurrency, idempotency keys,
//! and the commit-ordered read that both the outbox relay and replay use.
//!
//! The event log doubles as the transactional outbox: an event row *is* its outbox record, so they
//! commit together by construction, and a relay that reads in commit order (see [`Position`]) never
//! skips a row whose transaction committed after a later-numbered one.

mod append;
mod checkpoint;
mod error;
mod event;
mod feed;
mod pending_appends;
mod read;
mod retention;
mod since;
mod tail;

pub use append::{AppendOutcome, Idempotency, append_in};
pub use checkpoint::{advance_checkpoint, load_checkpoint, save_checkpoint};
pub use error::StoreError;
pub use event::{EventMetadata, NewEvent, Position, RecordedEvent, StreamId};
pub use feed::{ChangeFeed, Changes};
pub use pending_appends::{
    PendingAppends, PgQuery, RIDER_FIRST_PARAMETER, Rider, shift_parameters,
};
pub use read::{COLUMNS as EVENT_COLUMNS, CommitMark, decode as decode_event};
pub use since::{CommitSnapshot, CommittedSince};
pub use tail::{Events, Follower, LogTail, TAIL_BACKLOG};

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use std::sync::Arc;
use tokio::sync::watch;

/// The event store's own schema, tracked in sqlx's default `_sqlx_migrations` table. Other
/// migrators sharing the database (consumer inbox, service projections) track theirs in tables of
/// their own, so neither sees the other's versions as missing.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The NOTIFY channel on which a replica that appended tells the leading relay (on another
/// replica) to look for new events. Sent outside the appending transaction, coalesced.
pub const APPENDED_CHANNEL: &str = "chain_events";

/// How soon a reader in commit order (the relay, a watch) looks again when committed events are
/// held back by an older transaction still running ([`EventStore::held_back_after`]): nothing
/// signals when that transaction ends.
pub const HORIZON_RETRY: std::time::Duration = std::time::Duration::from_millis(5);

/// A handle on one service's event store.
#[derive(Clone, Debug)]
pub struct EventStore {
    pool: PgPool,
    appended: Arc<watch::Sender<u64>>,
}

impl EventStore {
    /// Wraps a pool on the service's own database.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            appended: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Changes after every committed append made through this handle (or its clones), so a relay
    /// in the same process wakes at once. Appends made with [`append_in`] inside a caller's
    /// transaction signal only when the caller calls [`signal_appended`](Self::signal_appended)
    /// after committing.
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// Tells this process's listeners that events were committed.
    pub fn signal_appended(&self) {
        self.appended
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Applies the event store's migrations (idempotent; safe with several replicas starting at once).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(StoreError::Migrate)
    }

    /// The pool this store uses, for services that keep projections in the same database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
