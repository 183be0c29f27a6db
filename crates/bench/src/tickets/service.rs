//! tickets-svc under test. It starts like any service binary, so the requests bench's
//! [`ServiceProcess`] runs it; only its readiness is asked under its own health name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::requests::service::ServiceProcess;

/// The binary's name, next to the bench's own executable in `target/release`.
pub const BINARY_NAME: &str = "tickets-svc";

/// The name tickets-svc reports its readiness under in `grpc.health.v1`.
const HEALTH_NAME: &str = "customerchain.v1.TicketService";

/// `tickets-svc` beside the running executable, or `explicit` when given; never built here.
pub fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => std::env::current_exe()
            .context("finding the bench's own executable")?
            .parent()
            .context("the bench's executable has no directory")?
            .join(BINARY_NAME),
    };
    anyhow::ensure!(
        path.is_file(),
        "{} not found: build it first with `cargo build --release -p tickets-svc` \
         (or pass --tickets-bin)",
        path.display()
    );
    Ok(path)
}

/// Waits until tickets-svc reports SERVING, at most `timeout`; returns how long it took.
pub async fn wait_ready(
    process: &mut ServiceProcess,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        if let Some(status) = process.exited()? {
            anyhow::bail!(
                "tickets-svc exited during start-up ({status}); its output:\n{}",
                process.log_tail(40)
            );
        }
        if serving(process).await {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            anyhow::bail!(
                "tickets-svc was not SERVING after {timeout:?}; its output:\n{}",
                process.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn serving(process: &ServiceProcess) -> bool {
    let Ok(endpoint) = process.endpoint() else {
        return false;
    };
    let Ok(channel) = endpoint
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
    else {
        return false;
    };
    let Ok(response) = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: HEALTH_NAME.to_owned(),
        })
        .await
    else {
        return false;
    };
    response.into_inner().status() == ServingStatus::Serving
}
