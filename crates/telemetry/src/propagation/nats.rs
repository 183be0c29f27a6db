//! NATS message headers as trace-context carriers, for the relay that publishes events and the
//! consumers that process them.

use super::{extract_from, inject_into};
use async_nats::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{SpanContext, TraceContextExt as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::sync::LazyLock;

/// Writes trace context into the headers of a message about to be published.
///
/// A header name or value NATS would reject is skipped rather than panicking in the publish path;
/// the W3C propagators never produce one.
#[derive(Debug)]
pub struct NatsHeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for NatsHeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (key.parse::<HeaderName>(), value.parse::<HeaderValue>()) {
            self.0.insert(name, value);
        }
    }
}

/// Reads trace context from the headers of a received message. Names match exactly first, then
/// ignoring ASCII case, since other publishers may write `Traceparent`.
#[derive(Debug, Clone, Copy)]
pub struct NatsHeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for NatsHeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let exact = key
            .parse::<HeaderName>()
            .ok()
            .and_then(|name| self.0.get(name));
        exact
            .or_else(|| {
                self.0
                    .iter()
                    .find(|(name, _)| AsRef::<str>::as_ref(*name).eq_ignore_ascii_case(key))
                    .and_then(|(_, values)| values.first())
            })
            .map(HeaderValue::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}

/// Writes the current span's trace context and baggage into `headers`.
pub fn inject_into_nats(headers: &mut HeaderMap) {
    inject_into(&mut NatsHeaderInjector(headers));
}

/// Reads the trace context and baggage a message was published under.
pub fn extract_from_nats(headers: &HeaderMap) -> Context {
    extract_from(&NatsHeaderExtractor(headers))
}

/// The span a message was published under (its `traceparent`), without its baggage: all a link
/// needs, at well under half the cost of [`extract_from_nats`] (parsing the baggage into a map
/// is the larger part).
pub fn span_context_from_nats(headers: &HeaderMap) -> SpanContext {
    static TRACE_CONTEXT: LazyLock<TraceContextPropagator> =
        LazyLock::new(TraceContextPropagator::new);
    TRACE_CONTEXT
        .extract(&NatsHeaderExtractor(headers))
        .span()
        .span_context()
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_match_exactly_then_ignoring_case() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "Traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        headers.insert("tracestate", "vendor=1");
        let extractor = NatsHeaderExtractor(&headers);
        assert_eq!(
            extractor.get("traceparent"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(extractor.get("tracestate"), Some("vendor=1"));
        assert_eq!(extractor.get("baggage"), None);
        let mut keys = extractor.keys();
        keys.sort_unstable();
        assert_eq!(keys, ["Traceparent", "tracestate"]);
    }

    #[test]
    fn a_link_reads_the_same_span_as_the_whole_extraction() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        );
        headers.insert("baggage", "chain.case_id=c-1");
        let linked = span_context_from_nats(&headers);
        assert!(linked.is_valid());
        assert_eq!(&linked, extract_from_nats(&headers).span().span_context());
        assert!(!span_context_from_nats(&HeaderMap::new()).is_valid());
    }

    #[test]
    fn invalid_names_and_values_are_skipped_not_panicked_on() {
        let mut headers = HeaderMap::new();
        let mut injector = NatsHeaderInjector(&mut headers);
        injector.set("bad:name", "x".to_owned());
        injector.set("baggage", "a=1\r\nInjected: yes".to_owned());
        injector.set("traceparent", "ok".to_owned());
        assert_eq!(headers.len(), 1);
        assert_eq!(
            headers.get("traceparent").map(HeaderValue::as_str),
            Some("ok")
        );
    }
}
