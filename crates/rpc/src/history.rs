//! `ReadEvents`, alike in every service: a page of the service's own event store in commit
//! order, for a consumer refilling what NATS lost or a rebuild paging a whole history.
//!
//! A page holds everything committed before the call, so a page shorter than asked is the end
//! of the history as it stood then. Without that, an older transaction running anywhere on the
//! PostgreSQL server (transaction ids are cluster-wide) makes the commit-order read stop short,
//! and a rebuild would take the short page for the end.

use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chain_store::{EventStore, Position, RecordedEvent};
use tonic::Status;

use crate::{IntoStatus, status};

/// Events a page holds when the caller leaves `limit` at 0.
pub const READ_DEFAULT: u32 = 1_000;
/// The most events a page holds, whatever the caller asks.
pub const READ_MAX: u32 = 10_000;
/// How long a page waits for older transactions to end before answering `UNAVAILABLE`.
pub const READ_PATIENCE: Duration = Duration::from_secs(5);

/// The page `request` asks for, from `store`.
pub async fn read_page(
    store: &EventStore,
    request: &pb::ReadEventsRequest,
) -> Result<Vec<RecordedEvent>, Status> {
    let after = position("after_position", &request.after_position)?;
    let limit = match request.limit {
        0 => READ_DEFAULT,
        n => n.min(READ_MAX),
    };
    store
        .read_committed(after, limit, READ_PATIENCE)
        .await
        .map_err(IntoStatus::into_status)
}

/// A resume position from the request field `name` (an `EventEnvelope.position` value); empty
/// is the start of the store.
pub fn position(name: &str, value: &str) -> Result<Position, Status> {
    if value.is_empty() {
        return Ok(Position::START);
    }
    value
        .parse()
        .map_err(|reason: String| status::invalid_argument(name, reason))
}
