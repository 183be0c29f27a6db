//! The one error type of this crate: what can go wrong while reading the telemetry configuration,
//! installing the subscriber, or flushing and shutting the span pipeline down.

use tracing_opentelemetry::SetParentError;

/// Why telemetry could not be configured, installed or shut down.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// An environment variable holds a value this crate cannot use.
    #[error("environment variable {name} has an invalid value {value:?}: {reason}")]
    InvalidSetting {
        /// The variable's name, for example `LOG_FORMAT`.
        name: &'static str,
        /// The value that was found.
        value: String,
        /// What was expected instead.
        reason: &'static str,
    },
    /// The log filter (`RUST_LOG`) does not parse.
    #[error("invalid log filter {filter:?}: {source}")]
    InvalidLogFilter {
        /// The filter as given.
        filter: String,
        /// The parser's complaint.
        #[source]
        source: tracing_subscriber::filter::ParseError,
    },
    /// A global `tracing` subscriber is already installed in this process.
    #[error("telemetry is already initialised in this process")]
    AlreadyInitialised,
    /// The OTLP exporter needs a tokio runtime to build its gRPC channel in.
    #[error("the OTLP exporter must be built inside a tokio runtime")]
    NoTokioRuntime,
    /// The OTLP span exporter could not be built (bad endpoint, missing TLS support, ...).
    #[error("cannot build the OTLP span exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// Flushing or shutting down the tracer provider failed (timeout, exporter error).
    #[error("span pipeline flush or shutdown failed: {0}")]
    Pipeline(#[from] opentelemetry_sdk::error::OTelSdkError),
    /// A span's parent context could not be set (it was already entered, or no
    /// OpenTelemetry layer is installed).
    #[error("cannot set the span's parent context: {0}")]
    SetParent(#[from] SetParentError),
    /// A blocking flush or shutdown task did not complete.
    #[error("the span pipeline task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The Prometheus endpoint could not be installed (address in use, recorder already set).
    #[error("cannot serve metrics on {addr}: {reason}")]
    Metrics {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// What went wrong.
        reason: String,
    },
}
