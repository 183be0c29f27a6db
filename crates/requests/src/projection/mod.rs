//! The service's read model and the projector that keeps it: teams, links, requests (with
//! state, due and projected times, risk and cause path, case, parent, consumer, provider,
//! version and the encoded `InternalRequest`), and the `deadlines` the deadline watch fires.
//!
//! The tables live in the service's own database beside the event store and the consumer
//! inbox; their migrations are tracked in `_requests_migrations` so the three migrators never
//! see each other's versions. The [`RequestsProjector`] applies the service's own events
//! from its JetStream stream inside the consumer's inbox transaction, and also drives
//! propagation (see [`crate::propagation`]).
//!
//! What reads the model: `ListTeams`, `ListLinks`, `ListRequests` (eventually consistent) and
//! `GetCase` (which case a request belongs to; the requests themselves are folded from their
//! streams). `GetTeam` and `GetRequest` fold streams and are strongly consistent.

pub(crate) mod memory;
pub(crate) mod projector;
pub(crate) mod tables;

pub use projector::{PROJECTOR_NAME, RequestsProjector, projector_config};

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// The NOTIFY channel the projector signals when a deadline is (re)scheduled to fall due
/// within [`DEADLINE_NOTICE`], so a deadline watch wakes before its next poll.
pub const DEADLINES_CHANNEL: &str = "chain_deadlines";

pub use chain_deadline_watch::DEADLINE_NOTICE;

/// The table that tracks this crate's migrations.
const MIGRATIONS_TABLE: &str = "_requests_migrations";

/// Applies the read model's migrations (idempotent; safe with several replicas starting).
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    let mut migrator =
        Migrator::with_migrations(sqlx::migrate!("./migrations").iter().cloned().collect());
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator.run(pool).await
}
