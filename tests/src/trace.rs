//! One trace among the spans received: its services, a span's line of ancestors, and the span
//! of a service processing a message.

use std::collections::{BTreeSet, HashMap};

use crate::otlp::ExportedSpan;

/// `SpanKind::Producer` in OTLP: a relay's publish span.
pub const PRODUCER_KIND: i32 = 4;

/// The spans of one trace, by span id.
pub struct Trace<'a> {
    spans: HashMap<&'a [u8], &'a ExportedSpan>,
}

impl<'a> Trace<'a> {
    /// The spans of `all` in trace `trace_id`.
    pub fn of(all: &'a [ExportedSpan], trace_id: &[u8]) -> Self {
        let spans = all
            .iter()
            .filter(|span| span.span.trace_id == trace_id)
            .map(|span| (span.span.span_id.as_slice(), span))
            .collect();
        Self { spans }
    }

    /// The services that sent a span of the trace.
    pub fn services(&self) -> BTreeSet<&'a str> {
        self.spans
            .values()
            .map(|span| span.service.as_str())
            .collect()
    }

    /// `span`, its parent, its parent's parent, … up to the root; `None` while a span on the
    /// way has not been received (a publish span ends only when the broker acknowledges, which
    /// can be after the consumer already processed the message).
    pub fn ancestry(&self, span: &'a ExportedSpan) -> Option<Vec<&'a ExportedSpan>> {
        let mut line = vec![span];
        let mut current = span;
        while !current.span.parent_span_id.is_empty() {
            let parent = self.spans.get(current.span.parent_span_id.as_slice())?;
            line.push(parent);
            current = parent;
        }
        Some(line)
    }

    /// The span of `service` processing a message of `consumer` on a subject ending in
    /// `event` (the first found, when a rolled-back batch processed it more than once).
    pub fn processing(
        &self,
        service: &str,
        consumer: &str,
        event: &str,
    ) -> Option<&'a ExportedSpan> {
        self.spans
            .values()
            .copied()
            .find(|span| is_processing(span, service, consumer, event))
    }
}

/// Whether `span` is `service` processing a message of `consumer` on a subject ending in
/// `event`.
pub fn is_processing(span: &ExportedSpan, service: &str, consumer: &str, event: &str) -> bool {
    span.service == service
        && span.attribute("messaging.consumer.group.name").as_deref() == Some(consumer)
        && span
            .attribute("messaging.destination.name")
            .is_some_and(|subject| subject.ends_with(event))
}
