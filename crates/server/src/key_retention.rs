//! The sweeper that keeps idempotency keys for the configured retention only
//! (`IDEMPOTENCY_RETENTION_SECONDS`), so the table holds a window of commands, not all of them.
//! Every replica runs one; the store's batches skip rows another replica's sweep holds.

use chain_store::EventStore;
use chrono::Utc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Keys deleted per statement: a short transaction, whatever the backlog.
const BATCH: u32 = 5_000;

/// Sweeps now and then every `every` until `stop`: deletes the keys older than `retention`,
/// batch after batch until a batch comes back short. A failed sweep (the database away) is
/// logged and tried again at the next tick; commands are not affected.
pub(crate) async fn forget_expired_keys(
    store: EventStore,
    retention: Duration,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        match sweep(&store, retention, &stop).await {
            Ok(0) => {}
            Ok(forgotten) => debug!(forgotten, "expired idempotency keys deleted"),
            Err(error) => warn!(%error, "idempotency key sweep failed; trying again later"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// One sweep: every key recorded before now − `retention`, in batches.
async fn sweep(
    store: &EventStore,
    retention: Duration,
    stop: &CancellationToken,
) -> Result<u64, chain_store::StoreError> {
    let Ok(retention) = chrono::Duration::from_std(retention) else {
        return Ok(0); // Longer than chrono can count: nothing is that old.
    };
    let Some(cutoff) = Utc::now().checked_sub_signed(retention) else {
        return Ok(0);
    };
    let mut total = 0;
    while !stop.is_cancelled() {
        let forgotten = store.forget_idempotency_keys(cutoff, BATCH).await?;
        total += forgotten;
        if forgotten < u64::from(BATCH) {
            break;
        }
    }
    Ok(total)
}
