//! What can go wrong talking to the event store.

use crate::StreamId;

/// An event-store failure. Services map these to gRPC status in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended to the stream first: re-read and retry (gRPC `ABORTED`).
    #[error("concurrency conflict on stream {stream}: {detail}")]
    Conflict {
        /// The contested stream.
        stream: StreamId,
        /// What the database said.
        detail: String,
    },
    /// The idempotency key was used before for a different request (gRPC `INVALID_ARGUMENT`).
    #[error("idempotency key {key:?} was already used for a different request")]
    IdempotencyKeyReused {
        /// The reused key.
        key: String,
    },
    /// The append carried no events.
    #[error("an append needs at least one event")]
    EmptyAppend,
    /// A stored value does not fit the Rust type (corrupt row or schema drift).
    #[error("stored value out of range: {0}")]
    Corrupt(String),
    /// A read could not reach everything committed before it began: a transaction older than
    /// them, anywhere on the PostgreSQL server, ran longer than the reader would wait (gRPC
    /// `UNAVAILABLE`: retry).
    #[error("an older transaction on the database server held the read back for {waited_ms} ms")]
    HeldBack {
        /// How long the read waited.
        waited_ms: u64,
    },
    /// The database could not be reached or refused the statement (gRPC `UNAVAILABLE` when it is
    /// a connection problem).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start.
    #[error("migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True when the database itself is unreachable (as opposed to refusing a statement), which a
    /// service reports as `UNAVAILABLE`.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::HeldBack { .. }
                | StoreError::Database(
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::Tls(_)
                )
        )
    }
}
