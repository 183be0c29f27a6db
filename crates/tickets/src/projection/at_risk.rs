//! The `chain_tickets_at_risk` gauge: how many tickets have a promise at risk, and how many a
//! broken one, right now. Read from the read model every few seconds rather than counted from
//! events, so every replica reports the same true figure however many events it handled (in
//! Prometheus, take `max` over replicas, not `sum`).

use std::time::Duration;

use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;

/// How often the gauge is read again.
pub const AT_RISK_GAUGE_PERIOD: Duration = Duration::from_secs(5);

/// Sets `chain_tickets_at_risk{state="at_risk"|"broken"}` from the read model every `period`
/// until `stop` is cancelled. A failed read keeps the last figures and is tried again.
pub async fn run_at_risk_gauge(pool: PgPool, period: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match tickets_at_risk(&pool).await {
            Ok(AtRisk { at_risk, broken }) => {
                metrics::gauge!("chain_tickets_at_risk", "state" => "at_risk").set(at_risk as f64);
                metrics::gauge!("chain_tickets_at_risk", "state" => "broken").set(broken as f64);
            }
            Err(error) => tracing::debug!(%error, "cannot count the tickets at risk"),
        }
    }
}

/// Tickets whose promise is at risk, and whose promise broke, as the read model has them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AtRisk {
    /// Promise at risk, not broken yet.
    pub at_risk: i64,
    /// Promise broken and the ticket not resolved.
    pub broken: i64,
}

/// Counts the tickets at risk and broken in the read model.
pub async fn tickets_at_risk(pool: &PgPool) -> Result<AtRisk, sqlx::Error> {
    let row = sqlx::query(
        "SELECT count(*) FILTER (WHERE state = 'TICKET_STATE_AT_RISK') AS at_risk,
                count(*) FILTER (WHERE state = 'TICKET_STATE_BROKEN') AS broken
         FROM tickets WHERE at_risk",
    )
    .fetch_one(pool)
    .await?;
    Ok(AtRisk {
        at_risk: row.try_get("at_risk")?,
        broken: row.try_get("broken")?,
    })
}
