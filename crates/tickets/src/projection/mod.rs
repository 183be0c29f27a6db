//! The service's read model and the projector that keeps it: customers (value, tier), tickets
//! (state, at risk, due time, the encoded `Ticket`) and the `deadlines` the deadline watch
//! fires; and the migrations of every table of the service (the command side's and the chain
//! view's too).
//!
//! The tables live in the service's own database beside the event store and the consumer
//! inbox; their migrations are tracked in `_tickets_migrations` so the three migrators never
//! see each other's versions. The [`TicketsProjector`] applies the service's own events from
//! its JetStream stream inside the consumer's inbox transaction.
//!
//! What reads the model: `ListCustomers`, `ListTickets`, `ListImpactedCustomers` and the
//! `chain_tickets_at_risk` gauge ([`at_risk`]), all eventually consistent. `GetCustomer` reads the command side and `GetTicket` folds the
//! ticket's stream: both strongly consistent.

pub mod at_risk;
pub(crate) mod memory;
pub(crate) mod projector;
pub(crate) mod tables;

pub use at_risk::{AT_RISK_GAUGE_PERIOD, AtRisk, run_at_risk_gauge, tickets_at_risk};
pub use projector::{PROJECTOR_NAME, TicketsProjector, projector_config};

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// The NOTIFY channel the projector signals when a deadline is (re)scheduled to fall due
/// within [`DEADLINE_NOTICE`], so a deadline watch wakes before its next poll.
pub const DEADLINES_CHANNEL: &str = "tickets_deadlines";

pub use chain_deadline_watch::DEADLINE_NOTICE;

/// The table that tracks this crate's migrations.
const MIGRATIONS_TABLE: &str = "_tickets_migrations";

/// Applies the service's own migrations (idempotent; safe with several replicas starting).
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    let mut migrator =
        Migrator::with_migrations(sqlx::migrate!("./migrations").iter().cloned().collect());
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator.run(pool).await
}
