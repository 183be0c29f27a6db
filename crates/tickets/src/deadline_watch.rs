//! tickets-svc's deadlines: a promise whose due time passes with its ticket unresolved is
//! broken ([`TicketCommand::MarkBroken`], decided at the due time itself). The watch that
//! fires them exactly once is [`chain_deadline_watch`]'s; this module says what falls due.
//!
//! [`TicketCommand::MarkBroken`]: chain_domain::ticket::TicketCommand::MarkBroken

use chain_deadline_watch::{Deadlines, Due, Firing, WatchError};
use chain_domain::ids::TicketId;
use chain_domain::ticket::{decide, next_deadline};
use chain_store::{EventMetadata, EventStore};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::SERVICE_ACTOR;
use crate::projection::DEADLINES_CHANNEL;
use crate::record::{Context, encode_batch};
use crate::streams::{LoadError, load_ticket, ticket_stream};

pub use chain_deadline_watch::{DeadlineStats, DeadlineWatchConfig, Round};

/// The deadline watch of tickets-svc: [`DeadlineWatch::new`]`(store, PromiseDeadlines)`.
pub type DeadlineWatch = chain_deadline_watch::DeadlineWatch<PromiseDeadlines>;

/// What falls due in tickets-svc: broken promises.
#[derive(Debug, Clone, Copy, Default)]
pub struct PromiseDeadlines;

impl Deadlines for PromiseDeadlines {
    const KEY_COLUMN: &'static str = "ticket_id";
    const CHANNEL: &'static str = DEADLINES_CHANNEL;
    const FIRED_EVENT: &'static str = "promise broken at its due time";
    const FIRED_METRIC: &'static str = "chain_promises_broken_total";

    async fn due(
        &self,
        store: &EventStore,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Due, WatchError> {
        let id = TicketId::from_uuid(id);
        let loaded = load_ticket(store, id)
            .await
            .map_err(|e| load_error(id, e))?;
        let (deadline, kind) = match next_deadline(&loaded.state) {
            None => return Ok(Due::Never),
            Some((deadline, _)) if deadline > now => return Ok(Due::Later(deadline)),
            Some(next) => next,
        };
        // Decided at the due time itself: the promise broke then, not when noticed.
        let events = match decide(&kind.command(), &loaded.state, deadline) {
            Ok(events) if !events.is_empty() => events,
            Ok(_) => return Ok(Due::Never),
            Err(refusal) => {
                tracing::warn!(ticket_id = %id, %refusal, "a due deadline was refused; dropping it");
                return Ok(Due::Never);
            }
        };
        let batch = encode_batch(&loaded.state, &events, &Context::default());
        let span = chain_telemetry::deadline::fire_span("promise_due");
        span.record("chain.ticket_id", tracing::field::display(id));
        span.record("chain.case_id", tracing::field::display(id));
        let trace = span
            .in_scope(chain_telemetry::TraceContext::current)
            .unwrap_or_default();
        let metadata = EventMetadata::new(
            id.to_string(),
            format!("deadline:{id}@{}", deadline.to_rfc3339()),
            SERVICE_ACTOR,
        )
        .traced(&trace.traceparent, &trace.tracestate, &trace.baggage);
        Ok(Due::Now(Box::new(Firing {
            stream: ticket_stream(id),
            expected_version: loaded.state.version,
            events: batch.events,
            metadata,
            span,
            deadline,
        })))
    }
}

/// A store failure fails the round (retried); history that does not decode is the stream's.
fn load_error(id: TicketId, error: LoadError) -> WatchError {
    match error {
        LoadError::Store(error) => WatchError::Store(error),
        codec @ LoadError::Codec { .. } => WatchError::Stream {
            id: id.as_uuid(),
            source: Box::new(codec),
        },
    }
}
