//! Leadership: the right to relay, held as a session advisory lock on a dedicated connection.
//!
//! The lock lives exactly as long as the connection, so a replica that dies (even by `kill -9`)
//! or loses its connection lets another replica take over without any lease to expire.

use sqlx::{Connection as _, PgConnection, PgPool};

/// A held relay lock and the connection that holds it.
pub(crate) struct Leadership {
    connection: PgConnection,
    key: String,
}

impl Leadership {
    /// Takes the lock for relay `name` if no other replica holds it.
    pub(crate) async fn try_acquire(
        pool: &PgPool,
        name: &str,
    ) -> Result<Option<Self>, sqlx::Error> {
        let mut connection = pool.acquire().await?.detach();
        let key = format!("chain-relay:{name}");
        let acquired: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(&key)
                .fetch_one(&mut connection)
                .await?;
        Ok(acquired.then_some(Self { connection, key }))
    }

    /// Gives the lock up before the connection goes: a dropped connection frees it only once the
    /// server has noticed, so the next `try_acquire` (another replica's, or this one's next
    /// drain) could still find it taken.
    pub(crate) async fn release(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(&self.key)
            .execute(&mut self.connection)
            .await?;
        self.connection.close().await
    }

    /// The lock-holding connection, through which the checkpoint moves.
    pub(crate) fn connection(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}
