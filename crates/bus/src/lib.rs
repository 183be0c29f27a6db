//! The NATS JetStream bus: subject layout, stream set-up, and publishing the event envelope with
//! server-side deduplication and a bounded number of acknowledgements in flight.
//!
//! # Layout
//!
//! Every producing service owns one stream, `<ROOT>_<SERVICE>` (for example `CHAIN_REQUESTS`),
//! holding the subjects `<root>.v1.<service>.<aggregate>.<event>` (for example
//! `chain.v1.requests.request.request_committed`). The root is `chain` in production; each test
//! takes a root of its own so tests share one server without seeing each other.
//!
//! Each message body is a protobuf `customerchain.v1.EventEnvelope`; the headers repeat what a
//! router or a tracer needs without decoding it: `Nats-Msg-Id` (the event id, which the server
//! uses to drop republished duplicates), `Chain-Event-Type`, and the W3C `traceparent`,
//! `tracestate` and `baggage` of the publish span, a child of the span that created the event,
//! with the event's case as `chain.case_id` baggage. An event stored without a trace context is
//! published with none.

mod error;
mod layout;
mod message;
mod publish;
mod stream;

pub use error::BusError;
pub use layout::BusLayout;
pub use message::{
    EVENT_TYPE_HEADER, MSG_ID_HEADER, decode_envelope, encode_envelope, stored_trace,
};
pub use publish::{PublishReport, Publisher};
pub use stream::{DUPLICATE_WINDOW, ensure_stream};

/// Connects to NATS at `url` and opens its JetStream context.
pub async fn connect(url: &str) -> Result<async_nats::jetstream::Context, BusError> {
    let client = async_nats::ConnectOptions::new()
        .name("customer-chain")
        .connect(url)
        .await
        .map_err(|e| BusError::Connect(e.to_string()))?;
    Ok(async_nats::jetstream::new(client))
}
