//! Propagation, one level at a time: after a child request's event, tell its parent request
//! the child's latest outlook ([`chain_domain::propagation::parent_signal`]). The parent
//! decides [`chain_domain::request::RequestCommand::ObserveChild`] — which may put it at risk with the cause path,
//! change its risk, or clear it — and its events are appended at the end of the projector's
//! transaction (with the transaction's other reactions, in one statement),
//! with causation id = the child's event id, correlation id = the case id and actor =
//! `requests-svc`. Those events reach the projector in turn, and so the risk climbs to the
//! root of the case. A parent that is an external ticket is the tickets service's business:
//! the child's own events (correlated by the ticket id) tell it.
//!
//! A parent changed concurrently (its provider committing at the same moment) is a version
//! conflict: the transaction rolls back and the consumer retries the child's event.

use chain_consumer::HandlerError;
use chain_domain::ids::RequestId;
use chain_domain::propagation::parent_signal;
use chain_domain::request::{RequestCommand, RequestEvent, RequestState, decide};
use chain_proto::customerchain::v1::EventEnvelope;
use chain_rpc::clock;
use chain_store::{EventMetadata, EventStore, PendingAppends, StoreError};

use crate::SERVICE_ACTOR;
use crate::projection::projector::load_error;
use crate::record::{Known, encode_batch_knowing};
use crate::streams::{LoadedRequest, request_stream};

/// The parent request the child's `event` must be told of, and what to tell it
/// (`ObserveChild`); `None` when the event changes nothing its parent request needs to hear
/// (or its parent is a ticket). `child` is the child's state after `event`.
pub(crate) fn parent_to_tell(
    child: &RequestState,
    event: &RequestEvent,
) -> Option<(RequestId, RequestCommand)> {
    parent_signal(child, std::slice::from_ref(event))?.request_command()
}

/// Tells the request `parent_id` (`parent`, as it stands now in the store) `command`, by
/// adding its events to `appends`, which the projector writes before its transaction commits. `child` is the request whose event (`cause`, its envelope)
/// led to it, up to date.
pub(crate) async fn tell_parent(
    store: &EventStore,
    appends: &mut PendingAppends,
    (parent_id, parent): (RequestId, &LoadedRequest),
    command: &RequestCommand,
    child: (RequestId, LoadedRequest),
    cause: &EventEnvelope,
) -> Result<(), HandlerError> {
    let Some(parent_request) = parent.request() else {
        tracing::warn!(%parent_id, "a child names a parent request that does not exist");
        return Ok(());
    };
    let events = match decide(command, &parent.state, clock::now()) {
        Ok(events) => events,
        Err(refusal) => {
            // Only a corrupt tree makes a parent refuse its child's outlook (OpenRequest
            // checks the child's consumer is the parent's provider): nothing to propagate.
            tracing::warn!(%parent_id, %refusal, "the parent refused a child's outlook");
            return Ok(());
        }
    };
    if events.is_empty() {
        return Ok(());
    }
    let correlation_id = parent_request.case_id.as_uuid().to_string();
    let known = Known::from([child]);
    let batch = encode_batch_knowing(store, &known, &parent.state, &events)
        .await
        .map_err(load_error)?;
    // The parent's reaction continues the trace under the span that handles the child's event
    // (itself a child of the event's trace), so the trace shows each hop in order.
    let trace = chain_telemetry::TraceContext::current()
        .or_else(|| chain_bus::stored_trace(cause))
        .unwrap_or_default();
    let metadata = EventMetadata::new(correlation_id, &cause.event_id, SERVICE_ACTOR).traced(
        &trace.traceparent,
        &trace.tracestate,
        &trace.baggage,
    );
    // The projector wakes the relay once the consumer's transaction commits (not with a NOTIFY
    // in it: a notifying transaction holds a server-wide lock through its commit).
    appends
        .push(
            &request_stream(parent_id),
            parent.state.version,
            &batch.events,
            &metadata,
        )
        .map_err(conflict)
}

/// A parent that moved since it was read (its provider committing at the same moment, or a
/// second child telling it in the same transaction): the transaction rolls back and the
/// consumer retries the child's event.
pub(crate) fn conflict(error: StoreError) -> HandlerError {
    match error {
        StoreError::Conflict { stream, .. } => {
            HandlerError::Transient(format!("{stream} changed while propagating; retrying"))
        }
        other => HandlerError::Transient(other.to_string()),
    }
}
