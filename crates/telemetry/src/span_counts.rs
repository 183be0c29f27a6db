//! Counting the spans that never reach the collector.
//!
//! The SDK's batch processor drops a span silently when its queue is full and keeps the count
//! private (it only logs it at shutdown). So we count on both sides of it instead: a processor
//! in front counts the spans that ended, an exporter behind it counts the spans it was handed
//! and whether the collector took them. Whatever ended but was neither exported nor failed is
//! still queued or was dropped; after a flush nothing is queued, so the difference is exactly
//! the number of dropped spans.

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of what happened to the spans this process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanCounts {
    /// Spans that ended and were offered to the batch processor.
    pub ended: u64,
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans handed to the exporter whose export failed (collector down, timeout).
    pub export_failed: u64,
}

impl SpanCounts {
    /// Spans that ended but were neither exported nor failed: those still queued plus those the
    /// batch processor dropped because its queue was full. Exact right after a flush or shutdown,
    /// when nothing is queued any more.
    pub fn not_exported(&self) -> u64 {
        self.ended
            .saturating_sub(self.exported)
            .saturating_sub(self.export_failed)
    }
}

/// The shared counters behind [`SpanCounts`].
#[derive(Debug, Default)]
pub(crate) struct SpanCounters {
    ended: AtomicU64,
    exported: AtomicU64,
    export_failed: AtomicU64,
}

impl SpanCounters {
    pub(crate) fn snapshot(&self) -> SpanCounts {
        // Read the downstream counters first so a span that finishes while we read is never
        // counted as exported without having been counted as ended.
        let exported = self.exported.load(Ordering::Acquire);
        let export_failed = self.export_failed.load(Ordering::Acquire);
        SpanCounts {
            ended: self.ended.load(Ordering::Acquire),
            exported,
            export_failed,
        }
    }
}

/// A span processor that counts the spans that end, then passes them on.
#[derive(Debug)]
pub(crate) struct CountingProcessor<P> {
    inner: P,
    counters: Arc<SpanCounters>,
}

impl<P> CountingProcessor<P> {
    pub(crate) fn new(inner: P, counters: Arc<SpanCounters>) -> Self {
        Self { inner, counters }
    }
}

impl<P: SpanProcessor> SpanProcessor for CountingProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        self.counters.ended.fetch_add(1, Ordering::AcqRel);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// A span exporter that counts what it is handed and whether the export worked.
#[derive(Debug)]
pub(crate) struct CountingExporter<E> {
    inner: E,
    counters: Arc<SpanCounters>,
}

impl<E> CountingExporter<E> {
    pub(crate) fn new(inner: E, counters: Arc<SpanCounters>) -> Self {
        Self { inner, counters }
    }
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.inner.export(batch).await;
        let counter = if result.is_ok() {
            &self.counters.exported
        } else {
            &self.counters.export_failed
        };
        counter.fetch_add(spans, Ordering::AcqRel);
        publish_metrics(self.counters.snapshot());
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    // Forwarding matters: the batch processor hands the resource (service.name, ...) to its
    // exporter through this call, and OTLP sends it with every batch.
    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Publishes `counts` through the `metrics` facade (a no-op until a recorder is installed).
///
/// Called after every export rather than per span, so the hot path stays two atomic additions.
/// The values are therefore as of the last export: `chain_spans_not_exported` holds the spans
/// still queued then plus those dropped, and settles at the number dropped once the service is
/// idle (the batch processor exports whatever is queued within its schedule delay).
fn publish_metrics(counts: SpanCounts) {
    metrics::counter!("chain_spans_ended_total").absolute(counts.ended);
    metrics::counter!("chain_spans_exported_total").absolute(counts.exported);
    metrics::counter!("chain_spans_export_failed_total").absolute(counts.export_failed);
    metrics::gauge!("chain_spans_not_exported").set(counts.not_exported() as f64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Tracer, TracerProvider};
    use opentelemetry_sdk::trace::{
        BatchConfigBuilder, BatchSpanProcessor, InMemorySpanExporter, SdkTracerProvider,
    };

    fn counted_provider(
        exporter: InMemorySpanExporter,
        queue_size: usize,
    ) -> (SdkTracerProvider, Arc<SpanCounters>) {
        let counters = Arc::new(SpanCounters::default());
        let batch = BatchSpanProcessor::builder(CountingExporter::new(exporter, counters.clone()))
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(queue_size)
                    .with_max_export_batch_size(queue_size.min(512))
                    // Long enough that the worker only exports when the batch fills or we flush.
                    .with_scheduled_delay(Duration::from_secs(60))
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(CountingProcessor::new(batch, counters.clone()))
            .build();
        (provider, counters)
    }

    #[test]
    fn every_span_is_exported_when_the_queue_is_large_enough() {
        let exporter = InMemorySpanExporter::default();
        let (provider, counters) = counted_provider(exporter.clone(), 4096);
        let tracer = provider.tracer("counts");
        for _ in 0..1000 {
            tracer.in_span("request", |_| {});
        }
        provider.force_flush().expect("flush works");

        let counts = counters.snapshot();
        let received = exporter
            .get_finished_spans()
            .expect("exporter is readable")
            .len();
        assert_eq!(counts.ended, 1000);
        assert_eq!(counts.exported, 1000);
        assert_eq!(received, 1000);
        assert_eq!(counts.not_exported(), 0);
        provider.shutdown().expect("shutdown works");
    }

    #[test]
    fn a_full_queue_shows_up_as_not_exported_spans() {
        let exporter = InMemorySpanExporter::default();
        let (provider, counters) = counted_provider(exporter.clone(), 2);
        let tracer = provider.tracer("counts");
        for _ in 0..2000 {
            tracer.in_span("request", |_| {});
        }
        provider.force_flush().expect("flush works");

        let counts = counters.snapshot();
        let received = exporter
            .get_finished_spans()
            .expect("exporter is readable")
            .len() as u64;
        assert_eq!(counts.ended, 2000);
        assert_eq!(counts.exported, received);
        assert_eq!(counts.export_failed, 0);
        assert!(
            counts.not_exported() > 0,
            "a 2-span queue cannot hold a 2,000-span burst: {counts:?}"
        );
        assert_eq!(counts.exported + counts.not_exported(), 2000);
        provider.shutdown().expect("shutdown works");
    }
}
