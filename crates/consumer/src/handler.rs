//! The projection code a consumer runs for each event.

use crate::BatchAdmission;
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
    /// What the handler gathers over one transaction's events and writes in
    /// [`Handler::flush`] just before the transaction commits: a row that several events of a
    /// batch would each rewrite is then written once, and rows of many events go in one
    /// statement. `()` for a handler that writes as it goes.
    type Pending: Default + Send;

    /// Runs before a transaction's events are handled, once, with all of them (each admitted):
    /// what a handler would read or write for every event it can do here in one statement, and
    /// leave in `pending` for [`Handler::handle`]. Every event handled was first prepared in the
    /// same transaction. An error rolls the transaction back; its events are then applied one
    /// by one, each prepared on its own, so the event at fault is singled out.
    fn prepare(
        &self,
        tx: &mut PgConnection,
        events: &[&EventEnvelope],
        pending: &mut Self::Pending,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (tx, events, pending);
        std::future::ready(Ok(()))
    }

    /// Admits a batch of several events, then prepares them ([`Handler::prepare`]); whether
    /// the batch was admitted (when it was not, the transaction is rolled back and nothing in
    /// it counts). The default admits in a statement of its own. A handler whose `prepare` is
    /// one statement for the whole batch can carry the admission in it instead, one round trip
    /// fewer for every batch: see [`BatchAdmission`].
    fn admit_and_prepare(
        &self,
        tx: &mut PgConnection,
        events: &[&EventEnvelope],
        admission: BatchAdmission<'_>,
        pending: &mut Self::Pending,
    ) -> impl Future<Output = Result<bool, HandlerError>> + Send {
        async move {
            if !admission.run(tx).await? {
                return Ok(false);
            }
            self.prepare(tx, events, pending).await?;
            Ok(true)
        }
    }

    /// Applies `event` using `tx`, leaving in `pending` what is to be written at the end of the
    /// transaction. Returning an error rolls the whole transaction back, `pending` with it.
    fn handle(
        &self,
        tx: &mut PgConnection,
        event: &EventEnvelope,
        pending: &mut Self::Pending,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// Writes what the transaction's events left in `pending`, on `tx`, after the last of them
    /// and before the commit. A failure rolls the transaction back, and its events are applied
    /// again one by one, where a transient failure is retried and a poison one parks the event.
    fn flush(
        &self,
        tx: &mut PgConnection,
        pending: Self::Pending,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = (tx, pending);
        std::future::ready(Ok(()))
    }

    /// Runs after the transaction of an applied event committed. A handler that appended events
    /// with `chain_store::append_in` calls `EventStore::signal_appended` here, so the relay
    /// publishes them at once instead of at its next poll.
    fn after_commit(&self) {}

    /// Runs after a transaction the handler ran in was rolled back (a batch undone for a later
    /// message, a lost race, a failure): whatever the handler held for `after_commit` since is
    /// void, and the events will be handled again. See [`crate::PendingCounts`].
    fn after_rollback(&self) {}
}
