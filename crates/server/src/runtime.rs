//! A started service: its pool and event store (migrated), its NATS connection and stream, the
//! outbox relay and any other background tasks, and the order in which they stop.

use crate::endpoint::{describe_database, describe_nats};
use crate::key_retention;
use crate::{MutualTls, ServeError, ServeOptions, ServiceConfig, Shutdown, StartError, serve_grpc};
use async_nats::jetstream;
use chain_bus::{BusLayout, Publisher, ensure_stream};
use chain_relay::{Relay, RelayConfig, RelayStats};
use chain_store::EventStore;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgPool};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::Routes;
use tracing::{Instrument as _, info, info_span, warn};

/// How long the background tasks get to stop once cancelled, before the process leaves them.
pub const BACKGROUND_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes the relay keeps unacknowledged at once: enough to keep JetStream busy, few enough
/// to republish quickly after a failure.
const RELAY_ACKS_IN_FLIGHT: usize = 1_024;

/// A running service process minus its gRPC server. Dropping it does not stop the background
/// tasks: call [`ServiceRuntime::serve`] or [`ServiceRuntime::stop_background`].
#[derive(Debug)]
pub struct ServiceRuntime {
    config: ServiceConfig,
    store: EventStore,
    database_at: String,
    jetstream: jetstream::Context,
    layout: BusLayout,
    relay_stats: Arc<RelayStats>,
    tls: Option<MutualTls>,
    background: CancellationToken,
    tasks: TaskTracker,
}

impl ServiceRuntime {
    /// Connects the pool and runs the event store's and the consumer inbox's migrations,
    /// connects NATS and makes sure the service's stream exists, then starts the outbox relay.
    ///
    /// Fails with an error naming PostgreSQL or NATS and where it was looked for, or the TLS
    /// file it could not read.
    pub async fn start(config: ServiceConfig) -> Result<Self, StartError> {
        let tls = match &config.tls {
            Some(files) => Some(MutualTls::load(files).await?),
            None => None,
        };
        let (store, database_at) = connect_store(&config).await?;
        migrate_store(&store, &database_at).await?;

        let nats_at = describe_nats(&config.nats_url);
        let jetstream = chain_bus::connect(&config.nats_url)
            .await
            .map_err(|source| StartError::Nats {
                at: nats_at.clone(),
                source,
            })?;
        let layout = BusLayout::new(config.bus_root.clone());
        let token = config.service.token();
        ensure_stream(&jetstream, &layout, token)
            .await
            .map_err(|source| StartError::Stream {
                at: nats_at.clone(),
                source,
            })?;
        info!(
            service = token,
            database = %database_at,
            nats = %nats_at,
            stream = %layout.stream_name(token),
            "connected"
        );

        let relay = Relay::new(
            store.clone(),
            Publisher::new(
                jetstream.clone(),
                layout.clone(),
                token,
                RELAY_ACKS_IN_FLIGHT,
            ),
            RelayConfig::named(token),
        );
        let runtime = Self {
            relay_stats: relay.stats(),
            tls,
            config,
            store,
            database_at,
            jetstream,
            layout,
            background: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        runtime.spawn_background("relay", |stop| relay.run(stop));
        let (store, retention, every) = (
            runtime.store.clone(),
            runtime.config.idempotency_retention,
            runtime.config.idempotency_sweep_every,
        );
        runtime.spawn_background("idempotency-retention", move |stop| {
            key_retention::forget_expired_keys(store, retention, every, stop)
        });
        Ok(runtime)
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The service's event store.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// The pool on the service's own database (projections live there too).
    pub fn pool(&self) -> &PgPool {
        self.store.pool()
    }

    /// `user@host:port/database` of the service's database, for messages.
    pub fn database_at(&self) -> &str {
        &self.database_at
    }

    /// The JetStream context.
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Stream and subject names under the configured root.
    pub fn layout(&self) -> &BusLayout {
        &self.layout
    }

    /// The relay's counters.
    pub fn relay_stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.relay_stats)
    }

    /// The token the background tasks stop on. It is cancelled after the gRPC server drained
    /// (not when the shutdown is requested), so in-flight calls still see their consumers and
    /// the relay running.
    pub fn background_token(&self) -> CancellationToken {
        self.background.clone()
    }

    /// Spawns a background task (a consumer, a projector) that is cancelled and awaited on
    /// shutdown: `task` receives the [`ServiceRuntime::background_token`] and must return soon
    /// after it is cancelled. `name` labels its span and log lines.
    pub fn spawn_background<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let future = task(self.background.clone());
        self.tasks
            .spawn(future.instrument(info_span!("background", task = name)));
    }

    /// Cancels the background tasks and waits up to `timeout` for them to finish. Returns
    /// whether they all did.
    pub async fn stop_background(&self, timeout: Duration) -> bool {
        self.background.cancel();
        self.tasks.close();
        match tokio::time::timeout(timeout, self.tasks.wait()).await {
            Ok(()) => {
                info!("background tasks stopped");
                true
            }
            Err(_) => {
                warn!(
                    ?timeout,
                    still_running = self.tasks.len(),
                    "background tasks did not stop in time; leaving them"
                );
                false
            }
        }
    }

    /// Serves `routes` (see [`serve_grpc`]) on `listener` until `shutdown` is requested, then
    /// drains the server and stops the background tasks (up to [`BACKGROUND_STOP_TIMEOUT`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        routes: Routes,
        shutdown: Shutdown,
    ) -> Result<(), ServeError> {
        let options = ServeOptions {
            tls: self.tls.clone(),
            ..ServeOptions::for_config(&self.config)
        };
        let served = serve_grpc(listener, routes, options, shutdown).await;
        self.stop_background(BACKGROUND_STOP_TIMEOUT).await;
        served
    }
}

/// Connects a pool to the service's database as `config` says. Returns the store and where the
/// database is (`user@host:port/database`), for messages.
pub async fn connect_store(config: &ServiceConfig) -> Result<(EventStore, String), StartError> {
    let options: PgConnectOptions = config
        .database_url
        .parse()
        .map_err(StartError::InvalidDatabaseUrl)?;
    let at = describe_database(&options);
    // A pool that cannot connect only reports "pool timed out"; one plain connection first
    // surfaces the real cause (refused, unknown host, bad password, no such database).
    let probe = tokio::time::timeout(
        config.db_acquire_timeout,
        PgConnection::connect_with(&options),
    )
    .await
    .unwrap_or_else(|_| {
        Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {:?}", config.db_acquire_timeout),
        )))
    })
    .map_err(|source| StartError::Postgres {
        at: at.clone(),
        source,
    })?;
    // Closing is a courtesy to the server; the pool opens its own connections.
    let _ = probe.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(config.db_acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|source| StartError::Postgres {
            at: at.clone(),
            source,
        })?;
    Ok((EventStore::new(pool), at))
}

/// Connects to the service's database and applies the event store's and the consumer inbox's
/// migrations (what the `migrate` command does). Returns the store for further migrations.
pub async fn migrate(config: &ServiceConfig) -> Result<(EventStore, String), StartError> {
    let (store, at) = connect_store(config).await?;
    migrate_store(&store, &at).await?;
    Ok((store, at))
}

async fn migrate_store(store: &EventStore, at: &str) -> Result<(), StartError> {
    store
        .migrate()
        .await
        .map_err(|source| StartError::StoreMigrations {
            at: at.to_owned(),
            source,
        })?;
    chain_consumer::migrate(store.pool())
        .await
        .map_err(|source| StartError::InboxMigrations {
            at: at.to_owned(),
            source,
        })?;
    Ok(())
}
