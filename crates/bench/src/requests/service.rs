//! The service under test: the release `requests-svc` binary started as a child process on a
//! free loopback port, with its output in a log file, waited on until gRPC health says SERVING,
//! and stopped with SIGTERM.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// The binary's name, next to the bench's own executable in `target/release`.
pub const BINARY_NAME: &str = "requests-svc";

/// The name the service reports its readiness under in `grpc.health.v1`.
const HEALTH_NAME: &str = "customerchain.v1.InternalRequestService";

/// How the service is configured (its environment).
pub struct ServiceSettings<'a> {
    /// Its own database.
    pub database_url: &'a str,
    /// The nats-server.
    pub nats_url: &'a str,
    /// The subject root and stream prefix, unique to this run.
    pub bus_root: &'a str,
    /// Size of its PostgreSQL pool.
    pub db_connections: u32,
    /// Its log filter: the bench measures the service, not its logging.
    pub rust_log: &'a str,
}

/// How the service traces, and where it says what became of its spans.
#[derive(Clone, Copy, Debug)]
pub struct TracingSettings<'a> {
    /// The mode.
    pub mode: TracingMode,
    /// Where spans go when [`TracingMode::Exported`] (`OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub otlp_endpoint: Option<&'a str>,
    /// Where it serves `/metrics` (`METRICS_ADDR`), if anywhere.
    pub metrics_addr: Option<SocketAddr>,
}

impl Default for TracingSettings<'_> {
    /// What the bench always measured: trace contexts, no exporter, no metrics endpoint.
    fn default() -> Self {
        Self {
            mode: TracingMode::Unexported,
            otlp_endpoint: None,
            metrics_addr: None,
        }
    }
}

/// How the service under test traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TracingMode {
    /// `OTEL_SDK_DISABLED=true`: no OpenTelemetry layer at all, no trace context is made.
    Disabled,
    /// The default without a collector: every span gets a W3C context (and events store it),
    /// nothing is exported.
    Unexported,
    /// Spans exported over OTLP/gRPC to the bench's own receiver, through the batch queue.
    Exported,
}

impl TracingMode {
    /// The name used in the report and the figures.
    pub fn name(self) -> &'static str {
        match self {
            TracingMode::Disabled => "disabled",
            TracingMode::Unexported => "unexported",
            TracingMode::Exported => "exported",
        }
    }
}

/// A running `requests-svc`. Dropping it kills the process (SIGKILL) if it still runs and
/// removes its log.
pub struct ServiceProcess {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

/// `requests-svc` beside the running executable, or `explicit` when given. The bench never
/// builds it: a stale or missing binary would make the numbers lie, so that stays the caller's
/// decision.
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
        "{} not found: build it first with `cargo build --release -p requests-svc` \
         (or pass --service-bin)",
        path.display()
    );
    Ok(path)
}

impl ServiceProcess {
    /// Starts `binary serve` on a free loopback port with `settings`, tracing as `tracing` says.
    pub fn spawn_traced(
        binary: &Path,
        settings: &ServiceSettings<'_>,
        tracing: &TracingSettings<'_>,
    ) -> anyhow::Result<Self> {
        let addr = free_addr()?;
        let log = std::env::temp_dir().join(format!(
            "requests-bench-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log handle")?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            // The tracing mode alone decides whether spans are exported, and where.
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .env_remove("OTEL_SDK_DISABLED")
            .env_remove("METRICS_ADDR");
        match (tracing.mode, tracing.otlp_endpoint) {
            (TracingMode::Disabled, _) => {
                command.env("OTEL_SDK_DISABLED", "true");
            }
            (TracingMode::Exported, Some(endpoint)) => {
                command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
            }
            (TracingMode::Exported, None) => {
                anyhow::bail!("exported tracing needs an OTLP endpoint")
            }
            (TracingMode::Unexported, _) => {}
        }
        if let Some(metrics) = tracing.metrics_addr {
            command.env("METRICS_ADDR", metrics.to_string());
        }
        let child = command
            .env("DATABASE_URL", settings.database_url)
            .env("NATS_URL", settings.nats_url)
            .env("CHAIN_BUS_ROOT", settings.bus_root)
            .env("LISTEN_ADDR", addr.to_string())
            .env(
                "DATABASE_MAX_CONNECTIONS",
                settings.db_connections.to_string(),
            )
            .env("SHUTDOWN_GRACE_SECONDS", "0.2")
            .env("SHUTDOWN_DRAIN_SECONDS", "5")
            .env("RUST_LOG", settings.rust_log)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self { child, addr, log })
    }

    /// The process id, for `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An endpoint for a channel to the service.
    pub fn endpoint(&self) -> anyhow::Result<Endpoint> {
        Ok(Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true))
    }

    /// The exit status, once it exited.
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        self.child.try_wait().context("polling requests-svc")
    }

    /// Waits until health reports SERVING for the service, at most `timeout`; returns how long
    /// it took from the call.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<Duration> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited()? {
                anyhow::bail!(
                    "requests-svc exited during start-up ({status}); its output:\n{}",
                    self.log_tail(40)
                );
            }
            if self.serving().await {
                return Ok(start.elapsed());
            }
            if start.elapsed() > timeout {
                anyhow::bail!(
                    "requests-svc was not SERVING after {timeout:?}; its output:\n{}",
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn serving(&self) -> bool {
        let Ok(endpoint) = self.endpoint() else {
            return false;
        };
        let Ok(channel) = endpoint
            .connect_timeout(Duration::from_millis(500))
            .connect()
            .await
        else {
            return false;
        };
        health(channel, HEALTH_NAME).await == Some(ServingStatus::Serving)
    }

    /// Asks it to stop (SIGTERM, as an orchestrator would) and waits at most `timeout` for the
    /// exit; kills it after that.
    pub async fn stop(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.exited()? {
            return Ok(status);
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .context("running kill -TERM")?;
        anyhow::ensure!(sent.success(), "kill -TERM {} failed", self.pid());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.child.kill().context("killing requests-svc")?;
                let status = self.child.wait().context("reaping requests-svc")?;
                anyhow::bail!("requests-svc ignored SIGTERM for {timeout:?}; killed ({status})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last `lines` lines of its output.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// How many lines it wrote.
    pub fn log_lines(&self) -> usize {
        std::fs::read_to_string(&self.log).map_or(0, |text| text.lines().count())
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            // Only reached on an error path: the orderly stop is `stop`.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::env::var_os("BENCH_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// The status `service` reports in `grpc.health.v1`, or `None` when the call fails.
async fn health(channel: Channel, service: &str) -> Option<ServingStatus> {
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .ok()?;
    Some(response.into_inner().status())
}

/// A loopback port nobody listens on right now (the service binds it a moment later).
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free loopback port")?;
    Ok(listener.local_addr()?)
}
