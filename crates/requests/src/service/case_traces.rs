//! The traces behind a case, for operators: every event is stored with the W3C trace context it
//! was recorded under, so `GetCase` can name the trace of each request's latest event and the
//! trace of the case's latest breakdown — the one that runs from the broken link through the
//! propagation to the tickets and scoring services.

use std::collections::HashMap;

use chain_rpc::status::database_error;
use sqlx::PgPool;
use tonic::Status;
use uuid::Uuid;

use crate::streams::REQUEST;

/// The event types that break a link or put a request at risk.
const BREAKDOWN_EVENTS: [&str; 4] = [
    "customerchain.v1.RequestRevised",
    "customerchain.v1.BreakdownReported",
    "customerchain.v1.RequestBreached",
    "customerchain.v1.RequestAtRisk",
];

/// Trace ids (32 hex digits) found for a case's requests.
#[derive(Debug, Default)]
pub(super) struct CaseTraces {
    /// The trace of each request's latest traced event.
    pub latest: HashMap<Uuid, String>,
    /// The trace of the case's latest traced breakdown event, if any.
    pub breakdown: Option<String>,
}

impl CaseTraces {
    /// The traces of `members`, a case's requests, read from the event store.
    pub async fn of(pool: &PgPool, members: &[Uuid]) -> Result<Self, Status> {
        let ids: Vec<String> = members.iter().map(Uuid::to_string).collect();
        let latest: Vec<(String, String)> = sqlx::query_as(
            "SELECT DISTINCT ON (aggregate_id) aggregate_id, traceparent FROM events
             WHERE aggregate_type = $1 AND aggregate_id = ANY($2) AND traceparent IS NOT NULL
             ORDER BY aggregate_id, aggregate_version DESC",
        )
        .bind(REQUEST)
        .bind(&ids)
        .fetch_all(pool)
        .await
        .map_err(|e| database_error(&e))?;
        let breakdown: Option<String> = sqlx::query_scalar(
            "SELECT traceparent FROM events
             WHERE aggregate_type = $1 AND aggregate_id = ANY($2) AND traceparent IS NOT NULL
               AND event_type = ANY($3)
             ORDER BY tx_id DESC, position DESC LIMIT 1",
        )
        .bind(REQUEST)
        .bind(&ids)
        .bind(BREAKDOWN_EVENTS)
        .fetch_optional(pool)
        .await
        .map_err(|e| database_error(&e))?;
        Ok(Self {
            latest: latest
                .into_iter()
                .filter_map(|(id, parent)| Some((id.parse().ok()?, trace_id(&parent)?)))
                .collect(),
            breakdown: breakdown.as_deref().and_then(trace_id),
        })
    }
}

/// The trace id of a `traceparent` header value (`00-<trace id>-<span id>-<flags>`).
fn trace_id(traceparent: &str) -> Option<String> {
    let id = traceparent.split('-').nth(1)?;
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::trace_id;

    #[test]
    fn the_trace_id_is_the_second_part_of_a_traceparent() {
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(trace_id("garbage"), None);
        assert_eq!(trace_id("00-short-00f067aa0ba902b7-01"), None);
    }
}
