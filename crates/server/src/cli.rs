//! The commands every service binary offers: `serve` (the default), `migrate`, and
//! `relay rewind --to <tx:pos|start>`, which makes the relay republish after NATS lost data.
//!
//! A binary declares its own `clap` parser (so `--help` and `--version` name the binary) around
//! [`Command`] and hands the parsed command to [`run`]:
//!
//! ```no_run
//! use chain_server::{ChainService, NoDomainService, cli};
//! use clap::Parser;
//!
//! /// The requests service.
//! #[derive(Parser)]
//! #[command(version)]
//! struct Args {
//!     #[command(subcommand)]
//!     command: Option<cli::Command>,
//! }
//!
//! # async fn main_() -> Result<(), cli::CliError> {
//! cli::run(ChainService::Requests, Args::parse().command, NoDomainService).await
//! # }
//! ```

use crate::{
    BACKGROUND_STOP_TIMEOUT, ChainService, ConfigError, ServeError, ServiceConfig, ServiceRuntime,
    ServiceSetup, Shutdown, StartError, connect_store, migrate,
};
use chain_relay::RelayError;
use chain_store::Position;
use chain_telemetry::{TelemetryConfig, TelemetryError};
use tokio::net::TcpListener;
use tonic::service::Routes;
use tracing::{error, info, warn};

/// What a service binary can be asked to do.
#[derive(Clone, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Apply migrations, start the relay and serve gRPC until SIGTERM or SIGINT (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Operate the outbox relay.
    Relay {
        /// The relay operation.
        #[command(subcommand)]
        command: RelayCommand,
    },
}

/// Operations on the outbox relay.
#[derive(Clone, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum RelayCommand {
    /// Move the relay's checkpoint back so that it republishes every event after it, e.g. after
    /// NATS lost its store. A running relay picks the change up at once; events the bus still
    /// holds are dropped there as duplicates.
    Rewind {
        /// `start`, or a position `<tx_id>:<position>` as the relay logs them.
        #[arg(long, value_parser = parse_rewind_target)]
        to: Position,
    },
}

/// A command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Logs and traces could not be set up.
    #[error("cannot set up telemetry")]
    Telemetry(#[from] TelemetryError),
    /// The environment holds a bad setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The service could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The gRPC server failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The relay's checkpoint could not be moved.
    #[error("cannot rewind the relay")]
    Rewind(#[from] RelayError),
}

/// Runs `command` (default [`Command::Serve`]) for `service` with its configuration from the
/// environment, logging and tracing through `chain-telemetry`. `setup` adds the service's own
/// migrations, gRPC services and background tasks.
pub async fn run(
    service: ChainService,
    command: Option<Command>,
    setup: impl ServiceSetup,
) -> Result<(), CliError> {
    let telemetry = chain_telemetry::init(TelemetryConfig::from_env(
        service.binary_name(),
        env!("CARGO_PKG_VERSION"),
    )?)?;
    let outcome = async {
        let config = ServiceConfig::from_env(service)?;
        match command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config, setup).await,
            Command::Migrate => migrate_all(config, setup).await,
            Command::Relay {
                command: RelayCommand::Rewind { to },
            } => rewind(config, to).await,
        }
    }
    .await;
    if let Err(failure) = &outcome {
        error!(error = %ErrorChain(failure), "{} failed", service.binary_name());
    }
    let exporting = telemetry.is_exporting();
    match telemetry.shutdown().await {
        // Said last, so an operator missing spans in Jaeger learns from the log whether this
        // process dropped them or never got them out.
        Ok(counts) if exporting && counts.not_exported() > 0 => warn!(
            ended = counts.ended,
            exported = counts.exported,
            export_failed = counts.export_failed,
            not_exported = counts.not_exported(),
            "some spans were never exported"
        ),
        Ok(counts) if exporting => info!(
            ended = counts.ended,
            exported = counts.exported,
            "every span was exported"
        ),
        Ok(_) => {}
        Err(failure) => warn!(error = %ErrorChain(&failure), "telemetry did not shut down cleanly"),
    }
    outcome
}

async fn serve(config: ServiceConfig, setup: impl ServiceSetup) -> Result<(), CliError> {
    // Installed first, so a SIGTERM during start-up still ends in an orderly shutdown.
    let shutdown = Shutdown::on_signals().map_err(StartError::Signals)?;
    info!(?config, "starting");
    if let Some(addr) = config.metrics_addr {
        chain_telemetry::metrics::serve_prometheus(addr)?;
        info!(%addr, "serving metrics on /metrics");
    }
    let runtime = ServiceRuntime::start(config).await?;
    let (routes, listener) = match prepare(&runtime, setup).await {
        Ok(prepared) => prepared,
        Err(failure) => {
            runtime.stop_background(BACKGROUND_STOP_TIMEOUT).await;
            return Err(failure.into());
        }
    };
    runtime.serve(listener, routes, shutdown).await?;
    info!("stopped");
    Ok(())
}

/// The service's own migrations and services, then the listener: bound last, so that nothing
/// connects before the service can answer.
async fn prepare(
    runtime: &ServiceRuntime,
    setup: impl ServiceSetup,
) -> Result<(Routes, TcpListener), StartError> {
    let service = runtime.config().service.token();
    setup
        .migrate(runtime.pool())
        .await
        .map_err(|source| StartError::ServiceMigrations {
            service,
            at: runtime.database_at().to_owned(),
            source,
        })?;
    let routes = setup
        .routes(runtime)
        .await
        .map_err(|source| StartError::Setup { service, source })?;
    let addr = runtime.config().listen_addr;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    Ok((routes, listener))
}

async fn migrate_all(config: ServiceConfig, setup: impl ServiceSetup) -> Result<(), CliError> {
    let (store, at) = migrate(&config).await?;
    setup
        .migrate(store.pool())
        .await
        .map_err(|source| StartError::ServiceMigrations {
            service: config.service.token(),
            at: at.clone(),
            source,
        })?;
    info!(database = %at, "migrations applied");
    Ok(())
}

async fn rewind(config: ServiceConfig, to: Position) -> Result<(), CliError> {
    let (store, at) = connect_store(&config).await?;
    chain_relay::rewind(&store, config.service.token(), to).await?;
    info!(database = %at, relay = config.service.token(), position = %to, "relay checkpoint moved; the relay republishes from there");
    Ok(())
}

/// Parses `start` or `<tx_id>:<position>`.
fn parse_rewind_target(value: &str) -> Result<Position, String> {
    if value.eq_ignore_ascii_case("start") {
        Ok(Position::START)
    } else {
        value.parse()
    }
}

/// An error and its sources on one line, for log lines.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Args {
        #[command(subcommand)]
        command: Option<Command>,
    }

    fn parse(args: &[&str]) -> Result<Option<Command>, clap::Error> {
        Args::try_parse_from(std::iter::once("svc").chain(args.iter().copied())).map(|a| a.command)
    }

    #[test]
    fn no_subcommand_means_serve_and_the_others_parse() {
        assert_eq!(parse(&[]).expect("no arguments"), None);
        assert_eq!(parse(&["serve"]).expect("serve"), Some(Command::Serve));
        assert_eq!(
            parse(&["migrate"]).expect("migrate"),
            Some(Command::Migrate)
        );
        assert_eq!(
            parse(&["relay", "rewind", "--to", "start"]).expect("rewind to start"),
            Some(Command::Relay {
                command: RelayCommand::Rewind {
                    to: Position::START
                }
            })
        );
        assert_eq!(
            parse(&["relay", "rewind", "--to", "812:40"]).expect("rewind to a position"),
            Some(Command::Relay {
                command: RelayCommand::Rewind {
                    to: Position {
                        tx_id: 812,
                        position: 40
                    }
                }
            })
        );
    }

    #[test]
    fn a_bad_rewind_target_is_refused() {
        for bad in [
            &["relay", "rewind", "--to", "yesterday"][..],
            &["relay", "rewind"][..],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn error_chains_print_every_cause() {
        let error = StartError::Signals(std::io::Error::other("no signals here"));
        assert_eq!(
            ErrorChain(&error).to_string(),
            "cannot install the SIGTERM/SIGINT handlers: no signals here"
        );
    }
}
