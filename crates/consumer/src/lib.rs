//! Durable JetStream consumers that apply each event exactly once, in per-stream order, and park
//! poison messages instead of dropping them or letting them block the stream.
//!
//! For every message, in one PostgreSQL transaction: check the aggregate version against the
//! last one applied and move the stream to it (an event that skips ahead waits with a delayed
//! NAK; one already applied, a redelivery or a republished copy, is acked and has no second
//! effect), run the [`Handler`] on the same transaction, then commit and ack. A message that
//! cannot be decoded, that the handler refuses, or that keeps failing until its last delivery, is
//! written to `dead_letters` with its reason and terminated, so later messages keep flowing.
//!
//! Messages that arrive together share a transaction: admitted in one statement when each is
//! new and next in its stream, handled in order, then the handler's [`Handler::flush`] writes
//! what they gathered (`Handler::Pending`) before the commit. Anything out of the ordinary
//! sends the batch back to the message-by-message path above. A consumer nobody waits on may
//! be paced ([`ConsumerConfig::pace`]) to apply in fewer, larger transactions.
//!
//! Ordering is per aggregate, so a consumer must receive whole aggregate streams: filter on
//! `<root>.v1.<service>.<aggregate>.>` or wider, never on single event types.

mod config;
mod dead_letter;
mod error;
mod handler;
mod inbox;
mod memory;
mod pace;
mod pending_counts;
mod report;
mod run;

pub use config::ConsumerConfig;
pub use dead_letter::{DeadLetter, list_dead_letters};
pub use error::ConsumerError;
pub use handler::{Handler, HandlerError};
pub use inbox::{BatchAdmission, applied_count};
pub use memory::HandlerMemory;
pub use pending_counts::PendingCounts;
pub use run::{ConsumerStats, EventConsumer};

use sqlx::PgPool;
use sqlx::migrate::Migrator;

/// Runs the inbox migrations, tracked apart from the event store's and the service's own.
pub async fn migrate(pool: &PgPool) -> Result<(), ConsumerError> {
    let mut migrator =
        Migrator::with_migrations(sqlx::migrate!("./migrations").iter().cloned().collect());
    migrator.dangerous_set_table_name("_chain_inbox_migrations");
    migrator.run(pool).await.map_err(ConsumerError::Migrate)
}
