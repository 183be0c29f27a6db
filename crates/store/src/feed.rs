//! A wake-up signal for readers that follow the event store live (the services' `Watch*`
//! streams), fanned out to every watcher through one `tokio::sync::watch` channel instead of a
//! listening connection per stream. It fires on this process's appends, and on its consumers'
//! commits that appended ([`EventStore::appended`]), and on `NOTIFY chain_events` (appends
//! other replicas forward). Each watcher waits on its [`Changes`]: for a signal, shortly when
//! committed events are held back behind an older transaction (nothing signals when that one
//! ends, least of all a transaction in another service's database), or for a poll, so a missed
//! signal only delays it.

use std::sync::Arc;
use std::time::Duration;

use crate::{APPENDED_CHANNEL, EventStore, HORIZON_RETRY, Position};
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Pause before listening again after the connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);
/// How long a watcher waits for a signal before reading again anyway.
const POLL: Duration = Duration::from_millis(500);

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

    /// A watcher's subscription: it sees a change after each signal.
    pub fn subscribe(&self) -> Changes {
        Changes {
            receiver: self.sender.subscribe(),
            open: true,
        }
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

/// One watcher's subscription to a [`ChangeFeed`].
#[derive(Debug)]
pub struct Changes {
    receiver: watch::Receiver<u64>,
    /// False once the feed is gone: the watcher then only polls.
    open: bool,
}

impl Changes {
    /// Waits, after a read that reached the readable end of `store` at `after`, until there may
    /// be more to read: an append was signalled, or the poll came round, or — when the read
    /// found nothing (`found_none`) though events committed after `after` are held back by an
    /// older transaction still running — shortly.
    pub async fn wait(&mut self, store: &EventStore, after: Position, found_none: bool) {
        let held_back = found_none && store.held_back_after(after).await.unwrap_or(false);
        let changed = async {
            if self.open {
                self.open = self.receiver.changed().await.is_ok();
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = tokio::time::sleep(if held_back { HORIZON_RETRY } else { POLL }) => {}
            () = changed => {}
        }
    }
}
