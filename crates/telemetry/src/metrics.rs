//! The Prometheus endpoint. Crates record through the `metrics` facade (`metrics::counter!`,
//! `histogram!`, `gauge!`), which costs nothing until a service installs this recorder.
//!
//! Names every service exports (beside its own): `chain_events_appended_total`,
//! `chain_relay_published_total`, `chain_relay_duplicates_total`, `chain_outbox_lag_seconds`,
//! `chain_events_consumed_total`, `chain_events_skipped_total`, `chain_events_retried_total`,
//! `chain_events_waiting_total`, `chain_events_dead_lettered_total`,
//! `chain_consumer_pending_messages`, the histograms `chain_consumer_transaction_messages`,
//! `chain_consumer_transaction_seconds` and `chain_consumer_lag_seconds`, the gRPC
//! `chain_rpc_requests_total` / `chain_rpc_duration_seconds` by method and status, and the span
//! pipeline's `chain_spans_ended_total`, `chain_spans_exported_total`,
//! `chain_spans_export_failed_total` and `chain_spans_not_exported` (queued or dropped by the
//! batch queue; updated at each export, so when idle it is the number of spans dropped).

use crate::TelemetryError;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use std::net::SocketAddr;

/// Latency buckets (seconds) for histograms: fine below 25 ms, where the services' goals are.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002, 0.005, 0.010, 0.025, 0.050, 0.100, 0.250, 0.500, 1.0, 2.5, 5.0,
];

/// The histogram of a consumer's lag, seconds from the server storing a transaction's oldest
/// message to its commit (recorded by `chain-consumer`; served with buckets up to minutes).
pub const CONSUMER_LAG_SECONDS: &str = "chain_consumer_lag_seconds";

/// The histogram of the messages one consumer transaction took (recorded by `chain-consumer`,
/// served with buckets in powers of two).
pub const CONSUMER_TRANSACTION_MESSAGES: &str = "chain_consumer_transaction_messages";

/// Buckets (seconds) for a consumer's lag, which after an outage runs to minutes.
const LAG_BUCKETS: &[f64] = &[
    0.005, 0.010, 0.025, 0.050, 0.100, 0.250, 0.500, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Buckets for the messages a consumer's transaction took: powers of two up to twice the
/// default batch.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Installs the process-wide recorder and serves `GET /metrics` in Prometheus text format on
/// `addr`. Must run inside a tokio runtime; call it once per process.
pub fn serve_prometheus(addr: SocketAddr) -> Result<(), TelemetryError> {
    let error = |reason: String| TelemetryError::Metrics { addr, reason };
    let metric = |name: &str| Matcher::Full(name.to_owned());
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets(LATENCY_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(metric(CONSUMER_LAG_SECONDS), LAG_BUCKETS)
        })
        .and_then(|builder| {
            builder.set_buckets_for_metric(metric(CONSUMER_TRANSACTION_MESSAGES), BATCH_BUCKETS)
        })
        .map_err(|e| error(e.to_string()))?
        .install()
        .map_err(|e| error(e.to_string()))
}
