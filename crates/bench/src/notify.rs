//! Swapping the bench database's `append_events` for a copy without its `pg_notify` call, to see
//! what the relay's wake-up signal costs an append. Only the bench database is touched.

use anyhow::{Context as _, ensure};
use sqlx::{AssertSqlSafe, PgPool};

/// The two versions of `append_events`: as migrated, and without the notify.
pub struct AppendFunction {
    migrated: String,
    without_notify: String,
}

impl AppendFunction {
    /// Reads the migrated function's definition and derives the copy without `pg_notify`.
    pub async fn read(pool: &PgPool) -> anyhow::Result<Self> {
        let migrated: String =
            sqlx::query_scalar("SELECT pg_get_functiondef('append_events'::regproc)")
                .fetch_one(pool)
                .await
                .context("reading append_events")?;
        let without_notify: String = migrated
            .lines()
            .filter(|line| !line.trim_start().starts_with("PERFORM pg_notify("))
            .collect::<Vec<_>>()
            .join("\n");
        ensure!(
            without_notify.len() < migrated.len(),
            "append_events has no `PERFORM pg_notify(` line to remove"
        );
        Ok(Self {
            migrated,
            without_notify,
        })
    }

    /// Installs the migrated function (`notify`) or the copy without the notify.
    pub async fn install(&self, pool: &PgPool, notify: bool) -> anyhow::Result<()> {
        let definition = if notify {
            &self.migrated
        } else {
            &self.without_notify
        };
        // pg_get_functiondef yields a complete `CREATE OR REPLACE FUNCTION` statement.
        sqlx::raw_sql(AssertSqlSafe(definition.clone()))
            .execute(pool)
            .await
            .context("replacing append_events")?;
        Ok(())
    }
}
