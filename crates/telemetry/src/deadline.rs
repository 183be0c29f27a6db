//! The span of a deadline firing. Nobody called the service: time did. So the firing starts a
//! trace of its own, and the event it appends stores that trace, which the relay and every
//! consumer downstream continue, as they continue a gRPC call's.

use crate::attributes::chain_span;

/// The root span of firing one deadline named `deadline` (for example `request_due`).
///
/// It declares the chain attributes empty (`chain.team`, `chain.link`, `chain.request_id`,
/// `chain.ticket_id`, `chain.case_id`, `chain.customer_tier`) for the watch to record what the
/// deadline belongs to. Append the event inside it, storing [`crate::TraceContext::current`], and
/// log what broke inside it too: the log line becomes the span event Jaeger shows.
pub fn fire_span(deadline: &str) -> tracing::Span {
    chain_span!(
        parent: None,
        "deadline.fire",
        otel.kind = "internal",
        otel.name = format!("deadline.fire {deadline}"),
        deadline.name = deadline,
    )
}
