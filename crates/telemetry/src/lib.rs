//! Tracing and OpenTelemetry set-up, and W3C trace-context propagation across gRPC and NATS.
//!
//! A service calls [`init`] with [`TelemetryConfig::from_env`] at the start of `main` (inside the
//! tokio runtime) and [`TelemetryGuard::shutdown`] at the end. Spans are `tracing` spans; the
//! [`propagation`] and [`grpc`] modules carry their W3C context across NATS messages, stored
//! events and gRPC calls, [`messaging`] makes the NATS spans, [`deadline`] the span of a deadline
//! firing, and [`attributes`] names the
//! fields that tell the chain's story. [`metrics::serve_prometheus`] exposes the counters and
//! histograms every crate records through the `metrics` facade.

pub mod attributes;
mod config;
pub mod deadline;
mod error;
pub mod grpc;
mod init;
mod log_line;
pub mod messaging;
pub mod metrics;
pub mod propagation;
mod recheck;
mod resource;
mod span_counts;

pub use config::{
    DEFAULT_LOG_FILTER, DEFAULT_SPAN_QUEUE_SIZE, DEFAULT_TRACE_FILTER, LogFormat, TelemetryConfig,
};
pub use error::TelemetryError;
pub use init::{
    TRACER_NAME, TelemetryGuard, init, init_for_tests, log_layer, pipeline, trace_layer,
};
pub use log_line::TraceIdFormat;
pub use propagation::TraceContext;
pub use resource::{SERVICE_VERSION, service_resource};
pub use span_counts::SpanCounts;
