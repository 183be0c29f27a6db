//! The process's shutdown request: cancelled by SIGTERM or SIGINT, or by a call (tests, or a
//! service that decides it must stop).

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// A request to shut down, shared by everything that must react to it. Cloning is cheap; every
/// clone sees the same request.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A shutdown that only [`Shutdown::trigger`] requests.
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown requested by the first SIGTERM (what Kubernetes and `docker stop` send) or
    /// SIGINT (Ctrl-C). Must be called inside a tokio runtime. Once the handlers are installed
    /// the signals no longer kill the process: the caller must act on [`Shutdown::requested`].
    pub fn on_signals() -> std::io::Result<Self> {
        let shutdown = Self::new();
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
                () = token.cancelled() => return,
            };
            info!(signal = name, "shutdown requested");
            token.cancel();
        });
        Ok(shutdown)
    }

    /// Requests the shutdown.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether the shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once the shutdown is requested.
    pub async fn requested(&self) {
        self.token.cancelled().await;
    }

    /// The underlying token, for code that takes a [`CancellationToken`].
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_trigger_reaches_every_clone() {
        let shutdown = Shutdown::new();
        let waiter = shutdown.clone();
        assert!(!waiter.is_requested());
        let waiting = tokio::spawn(async move { waiter.requested().await });
        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the waiter wakes up")
            .expect("the waiter does not panic");
        assert!(shutdown.token().is_cancelled());
    }

    #[tokio::test]
    async fn signal_handlers_install_and_can_still_be_triggered() {
        let shutdown = Shutdown::on_signals().expect("handlers install");
        assert!(!shutdown.is_requested());
        shutdown.trigger();
        assert!(shutdown.is_requested());
    }
}
