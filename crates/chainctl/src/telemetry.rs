//! chainctl's own spans: the same `chain_telemetry` set-up the services use, so that with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set chainctl exports its client spans and each call carries a
//! W3C `traceparent` the services continue. Log lines are off unless `CHAINCTL_LOG` asks for
//! them, because `chain_telemetry` writes them to stdout, where the command's output goes.

use chain_telemetry::{TelemetryConfig, TelemetryGuard};

/// The variable that turns chainctl's own log lines on (an `EnvFilter` directive).
const LOG_VARIABLE: &str = "CHAINCTL_LOG";

/// Installs tracing for this process; `None` when it cannot be installed, in which case the
/// commands still run, only without trace ids.
pub fn start() -> Option<TelemetryGuard> {
    let config =
        TelemetryConfig::from_lookup("chainctl", env!("CARGO_PKG_VERSION"), |name| match name {
            "RUST_LOG" => Some(std::env::var(LOG_VARIABLE).unwrap_or_else(|_| "off".to_owned())),
            other => std::env::var(other).ok(),
        })
        .ok()?;
    chain_telemetry::init(config).ok()
}

/// Flushes the spans still queued, so the last case's trace reaches the collector.
pub async fn finish(guard: Option<TelemetryGuard>) {
    if let Some(guard) = guard {
        // Nothing useful to do about a failed flush at exit; the commands' output is complete.
        let _ = guard.shutdown().await;
    }
}

/// The W3C trace id of `span` (32 hex digits), when tracing is installed.
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.in_scope(chain_telemetry::TraceContext::current)?;
    context.traceparent.split('-').nth(1).map(str::to_owned)
}

/// Where the trace can be opened: a Jaeger URL when spans are exported
/// (`OTEL_EXPORTER_OTLP_ENDPOINT` set), with `JAEGER_UI` as Jaeger's host (default
/// `localhost:16686`).
pub fn jaeger_url(trace_id: &str) -> Option<String> {
    let exporting = [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()));
    if !exporting {
        return None;
    }
    let ui = std::env::var("JAEGER_UI").unwrap_or_else(|_| "localhost:16686".to_owned());
    let ui = ui.trim_end_matches('/');
    let base = if ui.starts_with("http://") || ui.starts_with("https://") {
        ui.to_owned()
    } else {
        format!("http://{ui}")
    };
    Some(format!("{base}/trace/{trace_id}"))
}
