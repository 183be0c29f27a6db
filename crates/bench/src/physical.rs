//! The physical limit: a plain single-row autocommit `INSERT` into an events-like table, the
//! fastest durable write a client can make, to compare every append with.

use sqlx::PgPool;

use crate::measure::Writer;

/// An events-like table without any of the event store's checks.
const CREATE_TABLE: &str = "CREATE TABLE raw_insert (
    id bigserial PRIMARY KEY,
    stream text,
    version bigint,
    payload bytea
)";

/// Creates the `raw_insert` table.
pub async fn create_table(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query(CREATE_TABLE).execute(pool).await?;
    Ok(())
}

/// A writer inserting one row per operation, each in its own (autocommit) transaction.
pub struct InsertWriter {
    pool: PgPool,
    stream: String,
    version: i64,
    payload: Vec<u8>,
}

impl InsertWriter {
    /// Writer number `writer`, inserting rows of its own stream through `pool`.
    pub fn new(pool: PgPool, label: &str, writer: usize, payload: Vec<u8>) -> Self {
        Self {
            pool,
            stream: format!("raw-{label}-{writer}"),
            version: 0,
            payload,
        }
    }
}

impl Writer for InsertWriter {
    async fn step(&mut self) -> anyhow::Result<()> {
        self.version += 1;
        sqlx::query("INSERT INTO raw_insert (stream, version, payload) VALUES ($1, $2, $3)")
            .bind(&self.stream)
            .bind(self.version)
            .bind(&self.payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
