//! The three services started in this process, each wired as its binary wires it (the same
//! `chain_server` runtime, migrations, relay, consumers, deadline watches and gRPC server), on a
//! database of its own and one NATS subject root shared by the three.
//!
//! Why in-process and how the traces stay apart: `chain_telemetry::init` installs one global
//! subscriber, so three services in one process would export every span under one
//! `service.name`. Instead each service gets its own telemetry pipeline
//! ([`chain_telemetry::pipeline`]: its own resource, OTLP exporter and batch queue) and its own
//! tokio runtime, whose threads all use that pipeline as their default subscriber. Every span a
//! service creates (gRPC handlers, relay, consumers, the database and NATS clients it spawned)
//! is created on its runtime's threads, so it reaches its own pipeline and is exported with its
//! own `service.name`, exactly as from three processes, and the test needs no prebuilt binaries.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use chain_requests::RequestsSetup;
use chain_scoring::ScoringSetup;
use chain_server::{
    BACKGROUND_STOP_TIMEOUT, BoxError, ChainService, ServiceConfig, ServiceRuntime, ServiceSetup,
    Shutdown,
};
use chain_telemetry::{SpanCounts, TelemetryConfig, TelemetryError, TelemetryGuard};
use chain_testkit::{TestDatabase, nats_url};
use chain_tickets::TicketsSetup;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::dispatcher::DefaultGuard;
use tracing_subscriber::fmt::TestWriter;

/// Worker threads of each service's runtime: two, like the machines the services run on.
const WORKER_THREADS: usize = 2;
/// How long a service may take to drain and stop its background tasks once asked to stop.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Log lines of the services, unless `RUST_LOG` says otherwise: only what went wrong.
const DEFAULT_LOG_FILTER: &str = "warn";

thread_local! {
    /// The subscriber of the service whose runtime owns this thread, for the thread's lifetime.
    static SERVICE_SUBSCRIBER: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

/// A service could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Its telemetry pipeline could not be built or flushed.
    #[error("{service}: telemetry")]
    Telemetry {
        /// The service.
        service: &'static str,
        /// What failed.
        #[source]
        source: TelemetryError,
    },
    /// Its tokio runtime could not be built.
    #[error("{service}: cannot build its runtime")]
    Runtime {
        /// The service.
        service: &'static str,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// It failed to start or to serve.
    #[error("{service} failed: {reason}")]
    Failed {
        /// The service.
        service: &'static str,
        /// What failed, with its causes.
        reason: String,
    },
    /// It did not stop within the time allowed.
    #[error("{service} did not stop within {STOP_TIMEOUT:?}")]
    Stuck {
        /// The service.
        service: &'static str,
    },
}

/// Where the services find each other and send their spans.
#[derive(Clone, Debug)]
pub struct Environment {
    /// The NATS subject root and stream prefix the three share (`CHAIN_BUS_ROOT`).
    pub bus_root: String,
    /// Where spans go over OTLP/gRPC (`OTEL_EXPORTER_OTLP_ENDPOINT`); `None` exports nothing.
    pub otlp_endpoint: Option<String>,
}

/// One running service with its database, runtime and telemetry pipeline. Dropping it abandons
/// the service (its runtime is shut down without draining); [`ServiceUnderTest::stop`] stops it
/// in order.
pub struct ServiceUnderTest {
    service: ChainService,
    addr: SocketAddr,
    shutdown: Shutdown,
    served: Option<JoinHandle<Result<(), String>>>,
    telemetry: Option<TelemetryGuard>,
    runtime: Option<Runtime>,
    _database: TestDatabase,
}

impl ServiceUnderTest {
    /// Starts `service` on a fresh database and a free loopback port, and returns once it
    /// listens. Must be called on a multi-threaded tokio runtime that outlives the service: the
    /// exporter's connection lives there.
    pub async fn start(
        service: ChainService,
        environment: &Environment,
    ) -> Result<Self, ServiceError> {
        match service {
            ChainService::Requests => Self::start_with(service, environment, RequestsSetup).await,
            ChainService::Tickets => Self::start_with(service, environment, TicketsSetup).await,
            ChainService::Scoring => {
                Self::start_with(service, environment, ScoringSetup::default()).await
            }
        }
    }

    async fn start_with(
        service: ChainService,
        environment: &Environment,
        setup: impl ServiceSetup + Send + 'static,
    ) -> Result<Self, ServiceError> {
        let name = service.binary_name();
        let database = TestDatabase::create().await;
        let config = ServiceConfig {
            nats_url: nats_url(),
            bus_root: environment.bus_root.clone(),
            unready_grace: Duration::ZERO,
            drain_timeout: Duration::from_secs(5),
            ..ServiceConfig::new(service, database.url())
        };

        let mut telemetry_config = TelemetryConfig::new(name, env!("CARGO_PKG_VERSION"));
        telemetry_config.otlp_endpoint = environment.otlp_endpoint.clone();
        telemetry_config.log_filter = std::env::var("RUST_LOG")
            .ok()
            .filter(|filter| !filter.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        let (dispatch, telemetry) = chain_telemetry::pipeline(telemetry_config, TestWriter::new())
            .map_err(|source| ServiceError::Telemetry {
                service: name,
                source,
            })?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name(name)
            .enable_all()
            .on_thread_start(move || {
                let guard = tracing::dispatcher::set_default(&dispatch);
                SERVICE_SUBSCRIBER.with(|slot| *slot.borrow_mut() = Some(guard));
            })
            .on_thread_stop(|| {
                SERVICE_SUBSCRIBER.with(|slot| slot.borrow_mut().take());
            })
            .build()
            .map_err(|source| ServiceError::Runtime {
                service: name,
                source,
            })?;

        let shutdown = Shutdown::new();
        let (listening, addr) = oneshot::channel();
        let served = runtime.spawn(serve(config, setup, shutdown.clone(), listening));
        let mut started = Self {
            service,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            shutdown,
            served: Some(served),
            telemetry: Some(telemetry),
            runtime: Some(runtime),
            _database: database,
        };
        match addr.await {
            Ok(addr) => {
                started.addr = addr;
                Ok(started)
            }
            // It ended before listening: its outcome says why.
            Err(_) => Err(started
                .outcome()
                .await
                .err()
                .unwrap_or(ServiceError::Failed {
                    service: name,
                    reason: "stopped before listening".to_owned(),
                })),
        }
    }

    /// Which service this is.
    pub fn service(&self) -> ChainService {
        self.service
    }

    /// The URL its gRPC server answers on.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Exports every span the service ended so far.
    pub async fn flush_spans(&self) -> Result<(), ServiceError> {
        let Some(telemetry) = &self.telemetry else {
            return Ok(());
        };
        telemetry
            .force_flush()
            .await
            .map_err(|source| ServiceError::Telemetry {
                service: self.service.binary_name(),
                source,
            })
    }

    /// What happened to the service's spans so far.
    pub fn span_counts(&self) -> SpanCounts {
        self.telemetry
            .as_ref()
            .map(TelemetryGuard::span_counts)
            .unwrap_or_default()
    }

    /// Stops the service as SIGTERM would (drain, then stop the relay and consumers), exports
    /// its last spans and returns its final span counts.
    pub async fn stop(mut self) -> Result<SpanCounts, ServiceError> {
        self.shutdown.trigger();
        self.outcome().await?;
        let name = self.service.binary_name();
        let counts = match self.telemetry.take() {
            Some(telemetry) => {
                telemetry
                    .shutdown()
                    .await
                    .map_err(|source| ServiceError::Telemetry {
                        service: name,
                        source,
                    })?
            }
            None => SpanCounts::default(),
        };
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        Ok(counts)
    }

    /// Waits for the serving task to end and reports how it ended.
    async fn outcome(&mut self) -> Result<(), ServiceError> {
        let service = self.service.binary_name();
        let Some(served) = self.served.take() else {
            return Ok(());
        };
        match tokio::time::timeout(STOP_TIMEOUT + BACKGROUND_STOP_TIMEOUT, served).await {
            Err(_) => Err(ServiceError::Stuck { service }),
            Ok(Err(join)) => Err(ServiceError::Failed {
                service,
                reason: format!("its task failed: {join}"),
            }),
            Ok(Ok(Err(reason))) => Err(ServiceError::Failed { service, reason }),
            Ok(Ok(Ok(()))) => Ok(()),
        }
    }
}

impl Drop for ServiceUnderTest {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime blocks, which panics inside the test's runtime.
            runtime.shutdown_background();
        }
    }
}

/// What `cli::run` does for `serve`, minus the signals and the global telemetry: start the
/// runtime (store, inbox, stream, relay), apply the service's migrations, build its routes and
/// background tasks, listen, and serve until `shutdown`. Reports the address once listening.
async fn serve(
    config: ServiceConfig,
    setup: impl ServiceSetup,
    shutdown: Shutdown,
    listening: oneshot::Sender<SocketAddr>,
) -> Result<(), String> {
    let runtime = ServiceRuntime::start(config)
        .await
        .map_err(|error| error_chain(&error))?;
    let prepared = async {
        setup.migrate(runtime.pool()).await?;
        let routes = setup.routes(&runtime).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Ok::<_, BoxError>((routes, listener))
    }
    .await;
    let (routes, listener) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => {
            runtime.stop_background(BACKGROUND_STOP_TIMEOUT).await;
            return Err(error_chain(error.as_ref()));
        }
    };
    let addr = listener.local_addr().map_err(|error| error.to_string())?;
    // The test may have given up waiting; the service then serves until dropped.
    let _ = listening.send(addr);
    runtime
        .serve(listener, routes, shutdown)
        .await
        .map_err(|error| error_chain(&error))
}

/// An error and its causes on one line.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
