//! Span attribute names shared by every service, so the Jaeger view of a breakdown reads the
//! same whichever service recorded a span.
//!
//! `tracing` macros take field names as tokens, not constants, so write
//! `info_span!("consume", chain.case_id = %case_id)` and use these constants where a name is
//! passed as a value (`span.set_attribute(CASE_ID, ..)`, `KeyValue::new(..)`, tests that look
//! attributes up). None of them may ever hold personal data: no display names, no feedback text.

/// The team that owns the request or commitment.
pub const TEAM: &str = "chain.team";
/// The internal link (a dependency between two teams) the span is about.
pub const LINK: &str = "chain.link";
/// The internal request's id.
pub const REQUEST_ID: &str = "chain.request_id";
/// The external customer ticket's id.
pub const TICKET_ID: &str = "chain.ticket_id";
/// The case that ties a breakdown to the customers it hurts; also carried as baggage.
pub const CASE_ID: &str = "chain.case_id";
/// The affected customer's tier (for example `gold`); also carried as baggage.
pub const CUSTOMER_TIER: &str = "chain.customer_tier";

/// OpenTelemetry messaging convention: the messaging system, always [`MESSAGING_SYSTEM_NATS`] here.
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// OpenTelemetry messaging convention: the subject a message is published to or read from.
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
/// OpenTelemetry messaging convention: the message id (our `Nats-Msg-Id`, the event id).
pub const MESSAGING_MESSAGE_ID: &str = "messaging.message.id";
/// OpenTelemetry messaging convention: the durable consumer's name.
pub const MESSAGING_CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
/// Value of [`MESSAGING_SYSTEM`] for NATS.
pub const MESSAGING_SYSTEM_NATS: &str = "nats";

/// OpenTelemetry RPC convention: the RPC system, `grpc`.
pub const RPC_SYSTEM: &str = "rpc.system";
/// OpenTelemetry RPC convention: the full service name, for example `chain.v1.Requests`.
pub const RPC_SERVICE: &str = "rpc.service";
/// OpenTelemetry RPC convention: the method name, for example `OpenRequest`.
pub const RPC_METHOD: &str = "rpc.method";
/// OpenTelemetry RPC convention: the numeric gRPC status code of the call.
pub const RPC_GRPC_STATUS_CODE: &str = "rpc.grpc.status_code";

/// `tracing::info_span!` with the given fields and the six chain attributes above declared
/// empty, for the code the span covers to record (`tracing` records only the fields a span
/// declared when it was created). Takes `parent: …` first like `info_span!`; end the field list
/// with a comma.
macro_rules! chain_span {
    (parent: $parent:expr, $($rest:tt)*) => {
        chain_span!(@with [parent: $parent,] $($rest)*)
    };
    (@with [$($prefix:tt)*] $name:expr, $($field:tt)*) => {
        ::tracing::info_span!($($prefix)* $name, $($field)*
            chain.team = ::tracing::field::Empty,
            chain.link = ::tracing::field::Empty,
            chain.request_id = ::tracing::field::Empty,
            chain.ticket_id = ::tracing::field::Empty,
            chain.case_id = ::tracing::field::Empty,
            chain.customer_tier = ::tracing::field::Empty,
        )
    };
    ($($rest:tt)*) => {
        chain_span!(@with [] $($rest)*)
    };
}
pub(crate) use chain_span;
