//! The message form of an event: protobuf envelope body plus routing and tracing headers.

use crate::BusError;
use async_nats::HeaderMap;
use bytes::Bytes;
use chain_proto::customerchain::v1::EventEnvelope;
use chain_telemetry::TraceContext;
use prost::Message;

/// The header JetStream deduplicates on; we set it to the event id.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// The header naming the payload's message type, for routing without decoding.
pub const EVENT_TYPE_HEADER: &str = "Chain-Event-Type";

/// Encodes an envelope as a message body and its headers.
pub fn encode_envelope(envelope: &EventEnvelope) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    headers.insert(MSG_ID_HEADER, envelope.event_id.as_str());
    headers.insert(EVENT_TYPE_HEADER, envelope.event_type.as_str());
    if !envelope.traceparent.is_empty() {
        headers.insert("traceparent", envelope.traceparent.as_str());
        if !envelope.tracestate.is_empty() {
            headers.insert("tracestate", envelope.tracestate.as_str());
        }
        if !envelope.baggage.is_empty() {
            headers.insert("baggage", envelope.baggage.as_str());
        }
    }
    (headers, Bytes::from(envelope.encode_to_vec()))
}

/// The trace context (with its baggage) an envelope's event was stored under; `None` when it was
/// not traced.
pub fn stored_trace(envelope: &EventEnvelope) -> Option<TraceContext> {
    (!envelope.traceparent.is_empty()).then(|| {
        TraceContext::new(&envelope.traceparent, &envelope.tracestate)
            .with_baggage(&envelope.baggage)
    })
}

/// Decodes a message body into an envelope.
pub fn decode_envelope(body: &[u8]) -> Result<EventEnvelope, BusError> {
    Ok(EventEnvelope::decode(body)?)
}
