//! How long idempotency keys are kept: a retried command finds its first answer within the
//! retention window; after it, the key is forgotten and the same key is a new command.
//!
//! Keys are recorded with every keyed command, so without a sweep the table grows by one row
//! per command forever. [`EventStore::forget_idempotency_keys`] deletes one bounded batch of the
//! oldest expired keys, so a sweep never holds many row locks or a long transaction (which
//! would hold back the relays' horizon); a sweeper calls it until a batch comes back short.
//! Replicas may sweep at once: rows another sweep holds are skipped, not waited for.

use crate::{EventStore, StoreError};
use chrono::{DateTime, Utc};

impl EventStore {
    /// Deletes up to `batch` idempotency keys recorded before `recorded_before`, oldest first;
    /// returns how many it deleted.
    pub async fn forget_idempotency_keys(
        &self,
        recorded_before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, StoreError> {
        let forgotten = sqlx::query(
            "DELETE FROM idempotency_keys
             WHERE (scope, key) IN (
                 SELECT scope, key FROM idempotency_keys
                 WHERE created_at < $1
                 ORDER BY created_at
                 LIMIT $2
                 FOR UPDATE SKIP LOCKED)",
        )
        .bind(recorded_before)
        .bind(i64::from(batch))
        .execute(self.pool())
        .await?
        .rows_affected();
        if forgotten > 0 {
            metrics::counter!("chain_idempotency_keys_forgotten_total").increment(forgotten);
        }
        Ok(forgotten)
    }
}
