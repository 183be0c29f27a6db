//! The scoring projections and the code that keeps them: signals per subject, scores (with
//! the customer lifecycle), link health, the impact ledger with the attribution of each loss
//! to links, and the facts they are derived from.
//!
//! Structure (pure core, thin persistence):
//!
//! - [`state`]: [`ProjectionState`] and `apply(&mut state, &Input) -> Dirty`, pure;
//! - [`derive()`]: the rows derived from the state (scores, link health, impacts), pure;
//! - [`rows`] and [`digest()`]: the tables' rows, their canonical encoding and the SHA-256
//!   digest over all of them;
//! - [`tables`]: the SQL layer (load a slice, write rows, read everything back), for any
//!   schema;
//! - [`projector`]: live consumption through `chain_consumer`;
//! - [`outputs`]: the events live consumption emits (`ScoreChanged`, `ImpactRecorded`,
//!   `ImpactResolved`).
//!
//! The same `apply` and `derive` serve live consumption (one event at a time, on a slice
//! loaded from the tables) and rebuild (every event in memory, derived once at the end):
//! since derived rows are functions of the facts and facts change only in their own stream's
//! order, both end in the same rows.

pub mod derive;
pub mod digest;
pub mod facts;
pub mod outputs;
pub mod projector;
pub mod rows;
pub mod state;
pub mod tables;

pub use derive::{Derived, ProjectionConfig, derive};
pub use digest::{ALGORITHM, digest};
pub use projector::{ScoringProjector, consumer_config, consumer_name};
pub use rows::ProjectionRows;
pub use state::{Dirty, ProjectionState};
pub use tables::{TABLES, Tables, TablesError};

use sqlx::PgPool;
use sqlx::migrate::{MigrateError, Migrator};

/// The table that tracks this crate's migrations.
pub const MIGRATIONS_TABLE: &str = "_scoring_migrations";

/// Applies the projections' migrations (idempotent; safe with several replicas starting).
pub async fn migrate(pool: &PgPool) -> Result<(), MigrateError> {
    let mut migrator =
        Migrator::with_migrations(sqlx::migrate!("./migrations").iter().cloned().collect());
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator.run(pool).await
}
