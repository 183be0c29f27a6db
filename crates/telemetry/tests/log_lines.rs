//! Log lines carry the active span's trace and span ids, in text and in JSON.

use chain_telemetry::{LogFormat, log_layer, trace_layer};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::io;
use std::sync::{Arc, Mutex};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Everything the layer writes, shared with the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Logs one line inside a span and one outside; returns the lines and the span's ids.
fn log_two_lines(format: LogFormat) -> (Vec<String>, String, String) {
    let captured = Captured::default();
    let writer = captured.clone();
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(trace_layer(&provider))
        .with(log_layer(format, move || writer.clone()));
    let (trace_id, span_id) = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("open_request", chain.team = "billing");
        let ids = span.in_scope(|| {
            tracing::info!(chain.request_id = "r-1", "request opened");
            let context = tracing::Span::current().context();
            let span = context.span();
            let ids = span.span_context();
            (ids.trace_id().to_string(), ids.span_id().to_string())
        });
        tracing::info!("outside any span");
        ids
    });
    let text = String::from_utf8(captured.0.lock().expect("not poisoned").clone())
        .expect("log output is UTF-8");
    (text.lines().map(str::to_owned).collect(), trace_id, span_id)
}

#[test]
fn text_lines_end_with_the_span_ids() {
    let (lines, trace_id, span_id) = log_two_lines(LogFormat::Text);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("request opened"), "{}", lines[0]);
    assert!(
        lines[0].ends_with(&format!(" trace_id={trace_id} span_id={span_id}")),
        "{}",
        lines[0]
    );
    assert_ne!(trace_id, "00000000000000000000000000000000");
    assert!(!lines[1].contains("trace_id="), "{}", lines[1]);
}

#[test]
fn json_lines_hold_the_span_ids_as_members() {
    let (lines, trace_id, span_id) = log_two_lines(LogFormat::Json);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let inside: serde_json::Value = serde_json::from_str(&lines[0]).expect("valid JSON");
    assert_eq!(inside["trace_id"], trace_id.as_str());
    assert_eq!(inside["span_id"], span_id.as_str());
    assert_eq!(inside["fields"]["message"], "request opened");
    assert_eq!(inside["fields"]["chain.request_id"], "r-1");
    assert_eq!(inside["span"]["name"], "open_request");

    let outside: serde_json::Value = serde_json::from_str(&lines[1]).expect("valid JSON");
    assert_eq!(outside["fields"]["message"], "outside any span");
    assert!(outside.get("trace_id").is_none(), "{outside}");
}
