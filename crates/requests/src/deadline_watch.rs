//! requests-svc's deadlines: a request's due time, or its needed-by time before a commitment,
//! passing unfulfilled breaches it ([`RequestCommand::MarkBreached`], decided at the deadline
//! itself). The watch that fires them exactly once is [`chain_deadline_watch`]'s; this module
//! says what falls due.
//!
//! [`RequestCommand::MarkBreached`]: chain_domain::request::RequestCommand::MarkBreached

use chain_deadline_watch::{Deadlines, Due, Firing, WatchError};
use chain_domain::deadline::next_deadline;
use chain_domain::ids::RequestId;
use chain_domain::request::decide;
use chain_store::{EventMetadata, EventStore};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::SERVICE_ACTOR;
use crate::projection::DEADLINES_CHANNEL;
use crate::record::encode_batch;
use crate::streams::{LoadError, load_request, request_stream};

pub use chain_deadline_watch::{DeadlineStats, DeadlineWatchConfig, Round};

/// The deadline watch of requests-svc: [`DeadlineWatch::new`]`(store, RequestDeadlines)`.
pub type DeadlineWatch = chain_deadline_watch::DeadlineWatch<RequestDeadlines>;

/// What falls due in requests-svc: breaches.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestDeadlines;

impl Deadlines for RequestDeadlines {
    const KEY_COLUMN: &'static str = "request_id";
    const CHANNEL: &'static str = DEADLINES_CHANNEL;
    const FIRED_EVENT: &'static str = "request breached";
    const FIRED_METRIC: &'static str = "chain_breaches_total";

    async fn due(
        &self,
        store: &EventStore,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Due, WatchError> {
        let id = RequestId::from_uuid(id);
        let loaded = load_request(store, id)
            .await
            .map_err(|e| load_error(id, e))?;
        let (deadline, kind) = match next_deadline(&loaded.state) {
            None => return Ok(Due::Never),
            Some((deadline, _)) if deadline > now => return Ok(Due::Later(deadline)),
            Some(next) => next,
        };
        // Decided at the deadline itself: the breach happened then, not when noticed.
        let events = match decide(&kind.command(), &loaded.state, deadline) {
            Ok(events) if !events.is_empty() => events,
            Ok(_) => return Ok(Due::Never),
            Err(refusal) => {
                tracing::warn!(request_id = %id, %refusal, "a due deadline was refused; dropping it");
                return Ok(Due::Never);
            }
        };
        let Some(request) = loaded.request() else {
            return Ok(Due::Never);
        };
        let batch = encode_batch(store, &loaded.state, &events)
            .await
            .map_err(|e| load_error(id, e))?;
        let span = chain_telemetry::deadline::fire_span("request_due");
        span.record("chain.request_id", tracing::field::display(id));
        span.record("chain.link", tracing::field::display(request.link().key()));
        span.record(
            "chain.case_id",
            tracing::field::display(request.case_id.as_uuid()),
        );
        let trace = span
            .in_scope(chain_telemetry::TraceContext::current)
            .unwrap_or_default();
        let metadata = EventMetadata::new(
            request.case_id.as_uuid().to_string(),
            format!("deadline:{id}@{}", deadline.to_rfc3339()),
            SERVICE_ACTOR,
        )
        .traced(&trace.traceparent, &trace.tracestate, &trace.baggage);
        Ok(Due::Now(Box::new(Firing {
            stream: request_stream(id),
            expected_version: loaded.state.version,
            events: batch.events,
            metadata,
            span,
            deadline,
        })))
    }
}

/// A store failure fails the round (retried); history that does not decode is the stream's.
fn load_error(id: RequestId, error: LoadError) -> WatchError {
    match error {
        LoadError::Store(error) => WatchError::Store(error),
        codec @ LoadError::Codec { .. } => WatchError::Stream {
            id: id.as_uuid(),
            source: Box::new(codec),
        },
    }
}
