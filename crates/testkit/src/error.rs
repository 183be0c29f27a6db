//! The one error type of the test fixtures.

use std::time::Duration;

/// Why a fixture could not be set up or driven.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// PostgreSQL refused or failed a statement the fixture needed.
    #[error("PostgreSQL ({what}): {source}")]
    Database {
        /// What the fixture was doing, naming the database involved.
        what: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A file, process or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the fixture was doing.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// No `nats-server` binary was found.
    #[error(
        "nats-server not found (looked at NATS_SERVER_BIN, PATH, /usr/sbin, /usr/local/sbin, /usr/local/bin); run scripts/infra.sh to install it"
    )]
    NatsServerMissing,
    /// A private nats-server exited before it accepted connections.
    #[error(
        "nats-server on port {port} exited with {status} before it was ready; its log ends with:\n{log_tail}"
    )]
    NatsServerExited {
        /// The port it was told to listen on.
        port: u16,
        /// How the process ended.
        status: std::process::ExitStatus,
        /// The last lines of its log.
        log_tail: String,
    },
    /// A private nats-server did not answer with JetStream enabled in time.
    #[error(
        "nats-server on port {port} did not answer with JetStream enabled within {waited:?}; its log ends with:\n{log_tail}"
    )]
    NatsServerNotReady {
        /// The port it was told to listen on.
        port: u16,
        /// How long the fixture waited.
        waited: Duration,
        /// The last lines of its log.
        log_tail: String,
    },
}

impl FixtureError {
    pub(crate) fn database(what: impl Into<String>, source: sqlx::Error) -> Self {
        Self::Database {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}
