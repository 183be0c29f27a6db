//! Installing the process-wide subscriber: filtered log lines (text or JSON, stamped with trace
//! and span ids), the OpenTelemetry layer, the OTLP/gRPC span exporter behind a sized batch
//! queue, and the W3C propagators; and [`TelemetryGuard`], which flushes it all on the way out.

use crate::log_line::TraceIdFormat;
use crate::recheck::Recheck;
use crate::span_counts::{CountingExporter, CountingProcessor, SpanCounters};
use crate::{
    LogFormat, SpanCounts, TelemetryConfig, TelemetryError, propagation, service_resource,
};
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider,
};
use std::sync::{Arc, Once};
use tracing::{Dispatch, Subscriber};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer, fmt};

/// Instrumentation scope name of the spans our services create.
pub const TRACER_NAME: &str = "customer-chain";

/// Target prefixes whose spans never go to the trace pipeline: the exporter's own transport
/// (tonic, hyper, h2, tower) and the SDK. At `debug` they would trace every export, and each of
/// those spans would be exported in turn.
const TRANSPORT_TARGETS: [&str; 6] = ["h2", "hyper", "tonic", "tower", "opentelemetry", "reqwest"];

/// Installs logs and traces for this process as described by `config`.
///
/// - Log lines go to stdout, filtered by [`TelemetryConfig::log_filter`], as text or JSON, each
///   carrying `trace_id` and `span_id` when written inside a span.
/// - Unless [`TelemetryConfig::sdk_disabled`], an OpenTelemetry layer filtered by
///   [`TelemetryConfig::trace_filter`] gives every span a W3C context, even without an exporter,
///   so that a service forwards the trace it is called under.
/// - With [`TelemetryConfig::otlp_endpoint`] set, spans are exported over OTLP/gRPC through a
///   batch processor holding [`TelemetryConfig::span_queue_size`] spans. This must run inside a
///   tokio runtime (the gRPC channel is bound to it), and the runtime must outlive the guard.
/// - The global tracer provider is set, and the global propagator becomes W3C trace context plus
///   baggage, for libraries that use them.
///
/// Call it once per process; a second call returns [`TelemetryError::AlreadyInitialised`].
/// Keep the guard alive until the end of `main` and finish with [`TelemetryGuard::shutdown`].
pub fn init(config: TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    if tracing::dispatcher::has_been_set() {
        return Err(TelemetryError::AlreadyInitialised);
    }
    let (dispatch, guard) = pipeline(config, std::io::stdout)?;
    dispatch
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInitialised)?;

    if let Some(provider) = &guard.provider {
        global::set_tracer_provider(provider.clone());
    }
    global::set_text_map_propagator(propagation::propagator());
    Ok(guard)
}

/// The subscriber [`init`] would install, with log lines going to `log_writer`, returned instead
/// of installed: a [`Dispatch`] and the guard of its span pipeline (its own resource, exporter
/// and batch queue).
///
/// For a process that hosts several services, each with its own `service.name` (the end-to-end
/// tests run the three services in one process): make each service's threads use its dispatch
/// (`tracing::dispatcher::set_default` in the tokio runtime's `on_thread_start`), so its spans
/// reach its own pipeline. Nothing global is touched: no global subscriber, tracer provider or
/// propagator (the [`propagation`] helpers do not need one). The same requirements as [`init`]
/// apply: with an OTLP endpoint it must run inside a tokio runtime that outlives the guard.
pub fn pipeline<W>(
    config: TelemetryConfig,
    log_writer: W,
) -> Result<(Dispatch, TelemetryGuard), TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let log_filter = env_filter(&config.log_filter)?;
    let trace_filter = env_filter(&config.trace_filter)?;
    let counters = Arc::new(SpanCounters::default());
    let provider = if config.sdk_disabled {
        None
    } else {
        Some(tracer_provider(&config, counters.clone())?)
    };

    let trace_layer = provider.as_ref().map(|provider| {
        trace_layer(provider).with_filter(Recheck(trace_filter.and(filter_fn(|metadata| {
            !is_transport_target(metadata.target())
        }))))
    });
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(trace_layer)
            .with(log_layer(config.log_format, log_writer).with_filter(Recheck(log_filter))),
    );
    let guard = TelemetryGuard {
        exporting: config.otlp_endpoint.is_some() && provider.is_some(),
        provider,
        counters,
    };
    Ok((dispatch, guard))
}

/// Installs telemetry for a test binary: text logs through the test harness's capture
/// (`RUST_LOG`, default `info`) and an OpenTelemetry layer without exporter, so spans get W3C
/// contexts and propagation can be exercised. Does nothing if a global subscriber is already set,
/// so every test may call it.
pub fn init_for_tests() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let provider = SdkTracerProvider::builder()
            .with_resource(service_resource(&TelemetryConfig::new(
                "chain-tests",
                "0.0.0",
            )))
            .build();
        let log_filter = std::env::var("RUST_LOG")
            .ok()
            .and_then(|filter| EnvFilter::try_new(filter).ok())
            .unwrap_or_else(|| EnvFilter::new("info"));
        // Already set is fine: another helper (or the test itself) got there first.
        let _ = tracing_subscriber::registry()
            .with(trace_layer(&provider))
            .with(log_layer(LogFormat::Text, fmt::TestWriter::new()).with_filter(log_filter))
            .try_init();
        global::set_text_map_propagator(propagation::propagator());
    });
}

/// The OpenTelemetry layer for `provider`'s tracer, unfiltered: the building block of [`init`]
/// for tests that compose their own subscriber (with `tracing::subscriber::with_default`).
///
/// Without the thread and busy/idle attributes the layer adds by default: a span's thread is a
/// tokio worker picked at random, and timing each enter and exit reads the clock twice more per
/// poll of every instrumented future, while the span's own start and end already say how long it
/// took. (With the cheaper batch links of [`crate::messaging::link_messages`], the services used
/// about 4% less CPU in the tickets benchmark at 1,000 events/s.)
pub fn trace_layer<S>(provider: &SdkTracerProvider) -> OpenTelemetryLayer<S, SdkTracer>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_tracer(provider.tracer(TRACER_NAME))
}

/// The log-line layer of [`init`], unfiltered, writing to `writer`: text without colours or one
/// JSON object per line, stamped with `trace_id` and `span_id` inside a span.
pub fn log_layer<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Text => fmt::layer()
            .with_ansi(false)
            .event_format(TraceIdFormat::new(fmt::format().with_ansi(false), format))
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(TraceIdFormat::new(fmt::format().json(), format))
            .with_writer(writer)
            .boxed(),
    }
}

fn env_filter(directives: &str) -> Result<EnvFilter, TelemetryError> {
    EnvFilter::try_new(directives).map_err(|source| TelemetryError::InvalidLogFilter {
        filter: directives.to_owned(),
        source,
    })
}

fn is_transport_target(target: &str) -> bool {
    TRANSPORT_TARGETS.iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'))
    })
}

fn tracer_provider(
    config: &TelemetryConfig,
    counters: Arc<SpanCounters>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let builder = SdkTracerProvider::builder().with_resource(service_resource(config));
    let Some(endpoint) = &config.otlp_endpoint else {
        // No processor: spans still get ids and propagate, nothing is sent anywhere.
        return Ok(builder.build());
    };
    // tonic binds the channel's background task to the current runtime; without one it panics.
    tokio::runtime::Handle::try_current().map_err(|_| TelemetryError::NoTokioRuntime)?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint.clone())
        .build()?;
    // BatchConfigBuilder::default() reads the other OTEL_BSP_* variables.
    let batch = BatchSpanProcessor::builder(CountingExporter::new(exporter, counters.clone()))
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(config.span_queue_size)
                .build(),
        )
        .build();
    Ok(builder
        .with_span_processor(CountingProcessor::new(batch, counters))
        .build())
}

/// Keeps the span pipeline of [`init`] alive; flushes and shuts it down when dropped.
///
/// Prefer `guard.shutdown().await` at the end of `main`: dropping the guard blocks the current
/// thread while the last spans are exported, which on a current-thread runtime stalls the very
/// runtime the exporter needs (the export then times out after 5 s and those spans are lost).
#[derive(Debug)]
#[must_use = "dropping the guard shuts the span pipeline down"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    counters: Arc<SpanCounters>,
    exporting: bool,
}

impl TelemetryGuard {
    /// Whether spans are being exported (an OTLP endpoint is configured).
    pub fn is_exporting(&self) -> bool {
        self.exporting
    }

    /// The tracer provider, unless the SDK is disabled.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.provider.as_ref()
    }

    /// What happened to the spans so far; [`SpanCounts::not_exported`] right after
    /// [`TelemetryGuard::force_flush`] is the number of spans the batch queue dropped. All zero
    /// when nothing is exported.
    pub fn span_counts(&self) -> SpanCounts {
        self.counters.snapshot()
    }

    /// Exports every queued span now, without blocking the async runtime.
    pub async fn force_flush(&self) -> Result<(), TelemetryError> {
        let Some(provider) = self.provider.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || provider.force_flush()).await??;
        Ok(())
    }

    /// Exports the remaining spans and stops the pipeline; returns the final span counts.
    /// Spans that end afterwards are not exported (they count as not exported).
    pub async fn shutdown(mut self) -> Result<SpanCounts, TelemetryError> {
        if let Some(provider) = self.provider.take() {
            tokio::task::spawn_blocking(move || provider.shutdown()).await??;
        }
        Ok(self.counters.snapshot())
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            // The subscriber is global and outlives the guard, so this line is still written.
            tracing::warn!(%error, "span pipeline shutdown failed; the last spans may be lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_targets_are_kept_out_of_traces() {
        for target in [
            "h2",
            "h2::proto::connection",
            "hyper_util::client",
            "tonic::transport::channel",
            "tower::buffer::worker",
            "opentelemetry_sdk",
        ] {
            assert!(is_transport_target(target), "{target} should be excluded");
        }
        for target in [
            "chain_server::requests",
            "chain_bus",
            "h2o_sensor",
            "towering",
        ] {
            assert!(!is_transport_target(target), "{target} should be traced");
        }
    }

    #[test]
    fn a_bad_filter_is_reported_with_its_text() {
        let error = env_filter("chain=loud").expect_err("`loud` is not a level");
        assert!(
            matches!(&error, TelemetryError::InvalidLogFilter { filter, .. } if filter == "chain=loud"),
            "{error}"
        );
    }
}
