//! What a consumer reports of each transaction that applied events: how many messages it took,
//! how long it ran, and how long its oldest message had been on the bus.
//!
//! The lag is the one figure that says which stage of a pipeline has fallen behind: the relay's
//! `chain_outbox_lag_seconds` covers commit → stored on the bus, this covers stored on the bus
//! → applied. A consumer whose lag grows while its transactions stay short is waiting on the
//! bus; one whose transactions take as long as its lag is the stage that cannot keep up.

use async_nats::jetstream;
use chain_telemetry::metrics::{CONSUMER_LAG_SECONDS, CONSUMER_TRANSACTION_MESSAGES};
use std::time::Instant;

/// Seconds from a transaction's start to its commit. (The other two names live in
/// `chain-telemetry`, which gives them buckets of their own.)
const TRANSACTION_SECONDS: &str = "chain_consumer_transaction_seconds";

/// Records a committed transaction of `consumer` that applied `messages` (oldest first), begun
/// at `started`. The messages counted include copies of events already applied that it
/// acknowledged beside new ones; the one-by-one path records one.
pub(crate) fn committed(consumer: &str, messages: &[jetstream::Message], started: Instant) {
    let labels = [("consumer", consumer.to_owned())];
    metrics::histogram!(CONSUMER_TRANSACTION_MESSAGES, &labels).record(messages.len() as f64);
    metrics::histogram!(TRANSACTION_SECONDS, &labels).record(started.elapsed().as_secs_f64());
    if let Some(lag) = messages.first().and_then(lag_seconds) {
        metrics::histogram!(CONSUMER_LAG_SECONDS, &labels).record(lag);
    }
}

/// How long ago the server stored `message`. The server's clock against this host's, so across
/// hosts it includes their difference; never negative.
fn lag_seconds(message: &jetstream::Message) -> Option<f64> {
    let stored = message.info().ok()?.published;
    let lag = time::OffsetDateTime::now_utc() - stored;
    Some(lag.as_seconds_f64().max(0.0))
}
