//! What the service asked of PostgreSQL: the transactions committed or rolled back in its
//! database (`pg_stat_database`), so a phase can be put as transactions per command. Every
//! autocommit statement counts as one, so this is close to the statement round trips of the
//! service, its relay and its projector together.
//!
//! The server publishes a backend's counters only every second or so, so figures lag by up to a
//! second at both ends of a phase; over a 20 s phase the ratio is good to a few per cent.

use anyhow::Context as _;
use sqlx::PgPool;

/// Transactions (committed and rolled back) in the current database so far.
pub async fn transactions(pool: &PgPool) -> anyhow::Result<u64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database \
         WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await
    .context("reading pg_stat_database")?;
    Ok(u64::try_from(count)?)
}

/// The server's version and `synchronous_commit`, for the report.
pub async fn describe(pool: &PgPool) -> anyhow::Result<(String, String)> {
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(pool)
        .await?;
    let synchronous_commit: String = sqlx::query_scalar("SHOW synchronous_commit")
        .fetch_one(pool)
        .await?;
    Ok((version, synchronous_commit))
}
