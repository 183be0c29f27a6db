//! Relay checkpoints: how far, in commit order, each relay has published.
//!
//! A checkpoint only moves after the bus acknowledged everything before it, so a relay killed
//! between publishing and recording republishes (and the bus drops the repeats by event id).
//! The functions take any executor so the relay can use the very connection that holds its
//! leadership lock: if that connection is gone, so is the right to move the checkpoint.

use crate::read::parse_tx_id;
use crate::{Position, StoreError};
use sqlx::{PgExecutor, Row};

/// Where relay `name` has got to (`Position::START` if it never ran).
pub async fn load_checkpoint<'e>(
    executor: impl PgExecutor<'e>,
    name: &str,
) -> Result<Position, StoreError> {
    let row = sqlx::query(
        "SELECT last_tx_id::text AS tx_id_text, last_position FROM relay_checkpoints WHERE relay = $1",
    )
    .bind(name)
    .fetch_optional(executor)
    .await?;
    match row {
        None => Ok(Position::START),
        Some(row) => Ok(Position {
            tx_id: parse_tx_id(&row)?,
            position: row.try_get("last_position")?,
        }),
    }
}

/// Moves relay `name`'s checkpoint from `from` to `to`, only if nobody moved it meanwhile (a
/// rewind, or a second relay). Returns whether it moved.
pub async fn advance_checkpoint<'e>(
    executor: impl PgExecutor<'e>,
    name: &str,
    from: Position,
    to: Position,
) -> Result<bool, StoreError> {
    let moved = sqlx::query(
        "INSERT INTO relay_checkpoints AS c (relay, last_tx_id, last_position, updated_at)
         VALUES ($1, $4::text::xid8, $5, now())
         ON CONFLICT (relay) DO UPDATE
         SET last_tx_id = EXCLUDED.last_tx_id, last_position = EXCLUDED.last_position,
             updated_at = now()
         WHERE c.last_tx_id = $2::text::xid8 AND c.last_position = $3",
    )
    .bind(name)
    .bind(from.tx_id.to_string())
    .bind(from.position)
    .bind(to.tx_id.to_string())
    .bind(to.position)
    .execute(executor)
    .await?
    .rows_affected();
    Ok(moved == 1)
}

/// Sets relay `name`'s checkpoint to `position` unconditionally: the way to make a relay
/// republish everything after an earlier position.
pub async fn save_checkpoint<'e>(
    executor: impl PgExecutor<'e>,
    name: &str,
    position: Position,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (relay, last_tx_id, last_position, updated_at)
         VALUES ($1, $2::text::xid8, $3, now())
         ON CONFLICT (relay) DO UPDATE
         SET last_tx_id = EXCLUDED.last_tx_id, last_position = EXCLUDED.last_position,
             updated_at = now()",
    )
    .bind(name)
    .bind(position.tx_id.to_string())
    .bind(position.position)
    .execute(executor)
    .await?;
    Ok(())
}
