//! A wake-up signal for readers that follow the event store live (the services' `Watch*`
//! streams), fanned
//! out to every watcher through one `tokio::sync::watch` channel instead of a listening
//! connection per stream. It fires on this process's appends ([`EventStore::appended`]) and on
//! `NOTIFY chain_events` (appends other replicas forward, propagation commits). Watchers also
//! poll, so a missed signal only delays them.

use std::sync::Arc;
use std::time::Duration;

use crate::{APPENDED_CHANNEL, EventStore};
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Pause before listening again after the connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Tells watchers that events were appended.
#[derive(Debug, Clone)]
pub struct ChangeFeed {
    sender: Arc<watch::Sender<u64>>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeFeed {
    /// A feed nobody signals yet: run [`ChangeFeed::run`] to follow the store.
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::channel(0).0),
        }
    }

    /// A receiver that sees a change after each signal.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }

    /// Signals the watchers.
    pub fn notify(&self) {
        self.sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Follows `store`'s appends (in process and `NOTIFY`) until `shutdown` is cancelled.
    pub async fn run(self, store: EventStore, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(error) = self.follow(&store, &shutdown).await {
                tracing::warn!(%error, "change feed lost its listener; reconnecting");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RECONNECT_PAUSE) => {}
            }
        }
    }

    async fn follow(
        &self,
        store: &EventStore,
        shutdown: &CancellationToken,
    ) -> Result<(), sqlx::Error> {
        let mut local = store.appended();
        let mut listener = PgListener::connect_with(store.pool()).await?;
        listener.listen(APPENDED_CHANNEL).await?;
        // Anything appended before the listener was up is found by the watchers' next read.
        self.notify();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                // The sender lives in `store`, which outlives this loop: never closed.
                _ = local.changed() => self.notify(),
                notification = listener.recv() => {
                    notification?;
                    self.notify();
                }
            }
        }
    }
}
