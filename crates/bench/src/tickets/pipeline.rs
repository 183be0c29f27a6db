//! Where the time goes, from the two databases' own timestamps (one PostgreSQL server, one
//! clock): for every ticket reaction (`PromiseAtRisk`, `PromiseRiskCleared`) recorded since a
//! moment, the time from the request event that caused it (its causation id) being written
//! in requests-svc to the chain view's transaction writing the reaction in tickets-svc. That
//! span holds the outbox relay's wake-up and publish, NATS, the consumer's fetch and any
//! queue in front of the chain view; the rest of a turn's latency is the chain view's own
//! work and commit, the watch and the GetTicket.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use sqlx::PgPool;
use uuid::Uuid;

/// Request event written → ticket reaction written, µs, for the reactions since `since`.
pub async fn relay_to_chain_view(
    requests: &PgPool,
    tickets: &PgPool,
    since: DateTime<Utc>,
) -> anyhow::Result<Histogram<u64>> {
    let causes: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT event_id, recorded_at FROM events
         WHERE event_type = 'customerchain.v1.RequestRevised' AND recorded_at >= $1",
    )
    .bind(since)
    .fetch_all(requests)
    .await
    .context("reading request revisions")?;
    let causes: HashMap<String, DateTime<Utc>> = causes
        .into_iter()
        .map(|(id, at)| (id.to_string(), at))
        .collect();
    let reactions: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
        "SELECT causation_id, recorded_at FROM events
         WHERE event_type IN ('customerchain.v1.PromiseAtRisk',
                              'customerchain.v1.PromiseRiskCleared')
           AND recorded_at >= $1",
    )
    .bind(since)
    .fetch_all(tickets)
    .await
    .context("reading ticket reactions")?;
    let mut spans =
        Histogram::new_with_bounds(1, 120_000_000, 3).context("creating a histogram")?;
    for (cause, reacted) in reactions {
        if let Some(written) = causes.get(&cause) {
            let micros = (reacted - *written).num_microseconds().unwrap_or(i64::MAX);
            spans.saturating_record(u64::try_from(micros.max(1)).unwrap_or(u64::MAX));
        }
    }
    Ok(spans)
}

/// How many request events the chain view has applied (or skipped) so far: the sum of the
/// versions its inbox holds for each request stream.
pub async fn chain_view_applied(tickets: &PgPool) -> anyhow::Result<i64> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(version), 0)::int8 FROM inbox_stream_versions
         WHERE consumer = 'tickets-chain-view'",
    )
    .fetch_one(tickets)
    .await
    .context("counting the chain view's events")
}

/// How fast each side went: request events written by requests-svc (its commands and its
/// projector's reactions) between `from` and `from + window`, per second; and the request
/// events the chain view applied over the same window, `applied` (counted at its two ends)
/// divided by `applied_over`.
pub async fn rates(
    requests: &PgPool,
    (from, window): (DateTime<Utc>, Duration),
    (applied, applied_over): (i64, Duration),
) -> anyhow::Result<(f64, f64)> {
    let until = from + chrono::TimeDelta::from_std(window).context("a window")?;
    let written: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events
         WHERE aggregate_type = 'request' AND recorded_at >= $1 AND recorded_at < $2",
    )
    .bind(from)
    .bind(until)
    .fetch_one(requests)
    .await
    .context("counting request events")?;
    let per_second = |count: i64, over: Duration| {
        #[allow(clippy::cast_precision_loss, reason = "counts stay far below 2^52")]
        let count = count as f64;
        count / over.as_secs_f64().max(f64::EPSILON)
    };
    Ok((
        per_second(written, window),
        per_second(applied, applied_over),
    ))
}
