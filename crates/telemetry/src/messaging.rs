//! Spans for NATS hops, following the OpenTelemetry messaging conventions: the relay's publish
//! span continues the trace stored with the event, a consumer's process span continues the
//! publish span found in the message headers, and a span that handles a batch links to each
//! message's trace instead of picking one parent.

use crate::attributes::chain_span;
use crate::propagation::{CaseBaggage, extract_from_nats, span_context_from_nats, with_case_id};
use crate::{TraceContext, attributes};
use async_nats::HeaderMap;
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The span of publishing one event to `subject`: a child of the context the event was stored
/// with, carrying the event's case (`case_id`, its correlation id) as `chain.case_id` baggage so
/// every consumer downstream knows the case without decoding the event. Publish inside it and
/// fill the headers there with [`crate::propagation::inject_into_nats`]; the consumer then
/// continues this span. Keep it open until the broker acknowledges, so its length is the publish
/// round trip.
///
/// An event stored without a trace context gets no span ([`tracing::Span::none`]): a root trace
/// per published event would bury the real ones in Jaeger.
pub fn publish_span(
    subject: &str,
    message_id: &str,
    stored: Option<&TraceContext>,
    case_id: &str,
) -> tracing::Span {
    let Some(stored) = stored else {
        return tracing::Span::none();
    };
    let span = tracing::info_span!(
        "nats.publish",
        messaging.system = "nats",
        messaging.operation.type = "send",
        messaging.destination.name = subject,
        messaging.message.id = message_id,
        otel.kind = "producer",
        otel.name = format!("publish {subject}"),
        chain.case_id = case_id,
    );
    let parent = stored.context();
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(with_case_id(&parent, case_id));
    }
    span
}

/// The span of processing one received message, a child of the context in its headers (if
/// any). Run the handler inside it; events the handler emits then carry this trace on.
///
/// It declares the chain attributes empty (`chain.team`, `chain.link`, `chain.request_id`,
/// `chain.ticket_id`, `chain.case_id`, `chain.customer_tier`), so the handler can record what the
/// event is about with `tracing::Span::current().record("chain.ticket_id", ..)`.
pub fn process_span(
    subject: &str,
    message_id: &str,
    consumer_group: &str,
    headers: Option<&HeaderMap>,
) -> tracing::Span {
    let span = chain_span!(
        "nats.process",
        messaging.system = "nats",
        messaging.operation.type = "process",
        messaging.destination.name = subject,
        messaging.message.id = message_id,
        messaging.consumer.group.name = consumer_group,
        otel.kind = "consumer",
        otel.name = format!("process {subject}"),
    );
    if let Some(headers) = headers {
        let parent = extract_from_nats(headers);
        // The case (and tier) the publisher put in the baggage name this span too, so every
        // consumer span can be found by `chain.case_id` before its handler records anything.
        let case = CaseBaggage::of(&parent);
        if let Some(case_id) = case.case_id.filter(|id| !id.is_empty()) {
            span.record(attributes::CASE_ID, case_id.as_str());
        }
        if let Some(tier) = case.customer_tier.filter(|tier| !tier.is_empty()) {
            span.record(attributes::CUSTOMER_TIER, tier.as_str());
        }
        continue_trace(&span, parent);
    }
    span
}

/// Links `span` to the trace of every message in a batch that carries one; call it before the
/// span is entered so the links are part of the span from its start.
pub fn link_messages<'a>(span: &tracing::Span, batch: impl IntoIterator<Item = &'a HeaderMap>) {
    for headers in batch {
        let linked = span_context_from_nats(headers);
        if linked.is_valid() {
            span.add_link(linked);
        }
    }
}

fn continue_trace(span: &tracing::Span, parent: opentelemetry::Context) {
    // Nothing to continue, or the span is disabled: it stays a child of the current context.
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}
