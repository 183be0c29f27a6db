//! The projection code a consumer runs for each event.

use chain_proto::customerchain::v1::EventEnvelope;
use sqlx::PgConnection;
use std::future::Future;

/// Why a handler did not apply an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth retrying (a dependency hiccup); parked after the last delivery.
    #[error("transient: {0}")]
    Transient(String),
    /// Will never succeed (unknown event type or schema version, invalid payload): parked at once.
    #[error("poison: {0}")]
    Poison(String),
}

impl From<sqlx::Error> for HandlerError {
    fn from(error: sqlx::Error) -> Self {
        HandlerError::Transient(error.to_string())
    }
}

/// Applies events to a projection inside the consumer's transaction, so the projection change
/// and the processed mark commit together.
pub trait Handler: Send + Sync + 'static {
    /// Applies `event` using `tx`. Returning an error rolls the whole transaction back.
    fn handle(
        &self,
        tx: &mut PgConnection,
        event: &EventEnvelope,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Runs after the transaction of an applied event committed. A handler that appended events
    /// with `chain_store::append_in` calls `EventStore::signal_appended` here, so the relay
    /// publishes them at once instead of at its next poll.
    fn after_commit(&self) {}

    /// Runs after a transaction the handler ran in was rolled back (a batch undone for a later
    /// message, a lost race, a failure): whatever the handler held for `after_commit` since is
    /// void, and the events will be handled again. See [`crate::PendingCounts`].
    fn after_rollback(&self) {}
}
