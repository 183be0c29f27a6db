//! A wake-up signal for `WatchScores` streams: one `LISTEN chain_events` connection per
//! process (the event store notifies it on every append), fanned out to every watcher
//! through a `tokio::sync::watch` channel. Watchers also poll, so a missed notification only
//! delays them. (requests-svc has the same small feed; a shared home for it would be the
//! server crate.)

use std::sync::Arc;
use std::time::Duration;

use chain_store::APPENDED_CHANNEL;
use sqlx::PgPool;
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
    /// A feed nobody signals yet: run [`ChangeFeed::run`] to follow the database.
    pub fn new() -> Self {
        Self {
            sender: Arc::new(watch::channel(0).0),
        }
    }

    /// A receiver that sees a change after each signal.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sender.subscribe()
    }

    fn notify(&self) {
        self.sender.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Listens on `chain_events` in `pool`'s database and signals each notification, until
    /// `shutdown` is cancelled.
    pub async fn run(self, pool: PgPool, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            if let Err(error) = self.follow(&pool, &shutdown).await {
                tracing::warn!(%error, "change feed lost its listener; reconnecting");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RECONNECT_PAUSE) => {}
            }
        }
    }

    async fn follow(&self, pool: &PgPool, shutdown: &CancellationToken) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(APPENDED_CHANNEL).await?;
        self.notify();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                notification = listener.recv() => {
                    notification?;
                    self.notify();
                }
            }
        }
    }
}
