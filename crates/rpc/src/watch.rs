//! The loop every `Watch*` stream runs: follow the service's log ([`Follower`]), keep the
//! events the watch wants, and send them to the client through a bounded channel, so a slow
//! client slows its own task only. It ends when the client goes away, or with the status of a
//! failed read or filter.

use chain_store::{Follower, RecordedEvent};
use tokio::sync::mpsc;
use tonic::Status;

use crate::IntoStatus;

/// What one watch keeps of the log (its filters, and what it remembers to apply them).
pub trait WatchFilter: Send {
    /// Whether the watch sends `event` to its client; an error ends the stream.
    fn wants(
        &mut self,
        event: &RecordedEvent,
    ) -> impl std::future::Future<Output = Result<bool, Status>> + Send;
}

/// Sends the client behind `sender` every event of `log` that `filter` wants, as `respond`
/// makes it, in commit order, until the client goes away or a read or filter fails (whose
/// status then ends the stream).
pub async fn forward<R>(
    mut log: Follower,
    sender: mpsc::Sender<Result<R, Status>>,
    mut filter: impl WatchFilter,
    respond: impl Fn(&RecordedEvent) -> R,
) {
    loop {
        let batch = tokio::select! {
            () = sender.closed() => return,
            batch = log.next() => batch,
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                let _ = sender.send(Err(error.into_status())).await;
                return;
            }
        };
        for event in batch.iter() {
            match filter.wants(event).await {
                Ok(false) => {}
                Ok(true) => {
                    if sender.send(Ok(respond(event))).await.is_err() {
                        return;
                    }
                }
                Err(status) => {
                    let _ = sender.send(Err(status)).await;
                    return;
                }
            }
        }
    }
}
