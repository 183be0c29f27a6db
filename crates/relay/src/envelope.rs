//! From a stored event to the envelope published on the bus.

use chain_proto::customerchain::v1::EventEnvelope;
use chain_store::RecordedEvent;

/// The bus envelope of a stored event. The payload travels as a `google.protobuf.Any` named after
/// the event type, so any protobuf-aware consumer can decode it.
pub fn to_envelope(event: &RecordedEvent) -> EventEnvelope {
    EventEnvelope {
        event_id: event.event_id.to_string(),
        aggregate_type: event.stream.aggregate_type.clone(),
        aggregate_id: event.stream.aggregate_id.clone(),
        aggregate_version: event.version,
        event_type: event.event_type.clone(),
        schema_version: event.schema_version,
        occurred_at: Some(prost_types::Timestamp {
            seconds: event.occurred_at.timestamp(),
            nanos: i32::try_from(event.occurred_at.timestamp_subsec_nanos()).unwrap_or(0),
        }),
        correlation_id: event.metadata.correlation_id.clone(),
        causation_id: event.metadata.causation_id.clone(),
        actor: event.metadata.actor.clone(),
        traceparent: event.metadata.traceparent.clone().unwrap_or_default(),
        tracestate: event.metadata.tracestate.clone().unwrap_or_default(),
        baggage: event.metadata.baggage.clone().unwrap_or_default(),
        payload: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{}", event.event_type),
            value: event.payload.clone(),
        }),
        position: event.position.to_string(),
    }
}
