//! What can stop a service process: a bad setting, a dependency out of reach at start, or the
//! server failing.

use std::net::SocketAddr;

/// An error from a service's own set-up code ([`crate::ServiceSetup`]), boxed so that binaries may
/// use `anyhow` or their own types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A setting in the environment is missing or unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {name} is required: {hint}")]
    Missing {
        /// The variable, e.g. `DATABASE_URL`.
        name: &'static str,
        /// What it should hold.
        hint: &'static str,
    },
    /// A variable holds a value that cannot be used.
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// The value found (never the value of a secret-bearing variable).
        value: String,
        /// What was expected instead.
        reason: &'static str,
    },
}

/// The service could not start. Every variant says which dependency failed and where it was
/// looked for, without credentials.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `DATABASE_URL` does not parse as a PostgreSQL URL.
    #[error("DATABASE_URL is not a valid PostgreSQL URL")]
    InvalidDatabaseUrl(#[source] sqlx::Error),
    /// PostgreSQL could not be reached, or refused the login.
    #[error("cannot reach PostgreSQL at {at}")]
    Postgres {
        /// `user@host:port/database`.
        at: String,
        /// What the driver said.
        #[source]
        source: sqlx::Error,
    },
    /// The event store's migrations failed.
    #[error("event store migrations failed on PostgreSQL at {at}")]
    StoreMigrations {
        /// `user@host:port/database`.
        at: String,
        /// The store's error.
        #[source]
        source: chain_store::StoreError,
    },
    /// The consumer inbox's migrations failed.
    #[error("consumer inbox migrations failed on PostgreSQL at {at}")]
    InboxMigrations {
        /// `user@host:port/database`.
        at: String,
        /// The consumer crate's error.
        #[source]
        source: chain_consumer::ConsumerError,
    },
    /// The service's own migrations ([`crate::ServiceSetup::migrate`]) failed.
    #[error("{service} migrations failed on PostgreSQL at {at}")]
    ServiceMigrations {
        /// The service token.
        service: &'static str,
        /// `user@host:port/database`.
        at: String,
        /// The service's error.
        #[source]
        source: BoxError,
    },
    /// NATS could not be reached.
    #[error("cannot reach NATS at {at}")]
    Nats {
        /// The server URL(s) without credentials.
        at: String,
        /// The bus's error.
        #[source]
        source: chain_bus::BusError,
    },
    /// The service's JetStream stream could not be created or updated.
    #[error("cannot set up the JetStream stream on NATS at {at}")]
    Stream {
        /// The server URL(s) without credentials.
        at: String,
        /// The bus's error.
        #[source]
        source: chain_bus::BusError,
    },
    /// The listen address could not be bound.
    #[error("cannot listen for gRPC on {addr}")]
    Bind {
        /// `LISTEN_ADDR`.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A mutual TLS file (`TLS_CERT_FILE`, `TLS_KEY_FILE`, `TLS_CLIENT_CA_FILE`) could not be read.
    #[error("cannot read the TLS file {path}")]
    TlsFile {
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The SIGTERM/SIGINT handlers could not be installed.
    #[error("cannot install the SIGTERM/SIGINT handlers")]
    Signals(#[source] std::io::Error),
    /// The service's gRPC services or background tasks could not be set up
    /// ([`crate::ServiceSetup::routes`]).
    #[error("cannot set up the {service} service")]
    Setup {
        /// The service token.
        service: &'static str,
        /// The service's error.
        #[source]
        source: BoxError,
    },
}

/// The gRPC server could not be built or failed while serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service rejected the descriptor sets (a build problem, not an operational one).
    #[error("cannot build the gRPC reflection service")]
    Reflection(#[source] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("the gRPC server failed")]
    Transport(#[source] tonic::transport::Error),
    /// The plaintext health port (`HEALTH_LISTEN_ADDR`) could not be bound.
    #[error("cannot listen for health checks on {addr}")]
    HealthBind {
        /// `HEALTH_LISTEN_ADDR`.
        addr: std::net::SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}
