//! Parking messages that cannot be applied, with the reason, for an operator to look at.

use sqlx::{PgExecutor, PgPool};

/// A parked message.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadLetter {
    /// Row id.
    pub id: i64,
    /// The consumer that parked it.
    pub consumer: String,
    /// Its subject.
    pub subject: String,
    /// Its sequence in the stream.
    pub stream_sequence: i64,
    /// How often it was delivered.
    pub deliveries: i64,
    /// The event id, when the envelope could be decoded.
    pub event_id: Option<String>,
    /// The event type, when the envelope could be decoded.
    pub event_type: Option<String>,
    /// Why it was parked.
    pub reason: String,
    /// The message body as received.
    pub body: Vec<u8>,
}

/// What is known about a message being parked.
pub(crate) struct Parked<'a> {
    pub consumer: &'a str,
    pub subject: &'a str,
    pub stream_sequence: u64,
    pub deliveries: i64,
    pub event_id: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub reason: &'a str,
    pub body: &'a [u8],
}

pub(crate) async fn park<'e>(
    executor: impl PgExecutor<'e>,
    parked: Parked<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dead_letters (consumer, subject, stream_sequence, deliveries, event_id,
                                   event_type, reason, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(parked.consumer)
    .bind(parked.subject)
    .bind(i64::try_from(parked.stream_sequence).unwrap_or(i64::MAX))
    .bind(parked.deliveries)
    .bind(parked.event_id)
    .bind(parked.event_type)
    .bind(parked.reason)
    .bind(parked.body)
    .execute(executor)
    .await?;
    Ok(())
}

/// The messages consumer `consumer` parked, oldest first.
pub async fn list_dead_letters(
    pool: &PgPool,
    consumer: &str,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, consumer, subject, stream_sequence, deliveries, event_id, event_type, reason, body
         FROM dead_letters WHERE consumer = $1 ORDER BY id",
    )
    .bind(consumer)
    .fetch_all(pool)
    .await
}
