//! Writing the read model: one statement per change, run on the projector's (inbox)
//! transaction so the change commits with the event's processed mark.

use chain_domain::ids::TicketId;
use chain_domain::ticket::Ticket;
use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::PgConnection;

use crate::codec::CustomerStreamEvent;
use crate::tiers::{db_version, tier_text};
use crate::view::ticket_state;

use super::DEADLINES_CHANNEL;

/// Applies a customer event at stream version `version`.
pub(crate) async fn apply_customer(
    conn: &mut PgConnection,
    event: &CustomerStreamEvent,
    version: u64,
) -> Result<(), sqlx::Error> {
    use chain_domain::customer::CustomerEvent;
    let version = db_version(version);
    match event {
        CustomerStreamEvent::Domain(CustomerEvent::Registered {
            customer_id,
            value,
            at,
        }) => {
            sqlx::query(
                "INSERT INTO customers (customer_id, value_minor, currency, tier, registered_at,
                                        version)
                 VALUES ($1, $2, $3, NULL, $4, $5)
                 ON CONFLICT (customer_id) DO NOTHING",
            )
            .bind(customer_id.as_uuid())
            .bind(i64::try_from(value.minor_units).unwrap_or(i64::MAX))
            .bind(value.currency.as_str())
            .bind(at)
            .bind(version)
            .execute(&mut *conn)
            .await?;
        }
        CustomerStreamEvent::Domain(CustomerEvent::ValueChanged {
            customer_id, value, ..
        }) => {
            sqlx::query(
                "UPDATE customers SET value_minor = $2, currency = $3, version = $4
                 WHERE customer_id = $1 AND version < $4",
            )
            .bind(customer_id.as_uuid())
            .bind(i64::try_from(value.minor_units).unwrap_or(i64::MAX))
            .bind(value.currency.as_str())
            .bind(version)
            .execute(&mut *conn)
            .await?;
        }
        CustomerStreamEvent::TierChanged {
            customer_id, tier, ..
        } => {
            sqlx::query(
                "UPDATE customers SET tier = $2, version = $3
                 WHERE customer_id = $1 AND version < $3",
            )
            .bind(customer_id.as_uuid())
            .bind(tier_text(*tier))
            .bind(version)
            .execute(&mut *conn)
            .await?;
        }
        CustomerStreamEvent::DetailsChanged { customer_id, .. } => {
            sqlx::query(
                "UPDATE customers SET version = $2 WHERE customer_id = $1 AND version < $2",
            )
            .bind(customer_id.as_uuid())
            .bind(version)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// The key tickets are sorted by due time with: microseconds since the epoch, or the largest
/// bigint without a promise in force.
pub(crate) fn due_key(due_at: Option<DateTime<Utc>>) -> i64 {
    due_at.map_or(i64::MAX, |at| at.timestamp_micros())
}

/// Writes a ticket's row as of stream version `version`, with its API view.
pub(crate) async fn upsert_ticket(
    conn: &mut PgConnection,
    ticket: &Ticket,
    version: u64,
    view: &pb::Ticket,
) -> Result<(), sqlx::Error> {
    let state = ticket_state(ticket);
    let at_risk = matches!(state, pb::TicketState::AtRisk | pb::TicketState::Broken);
    let due = match state {
        pb::TicketState::Promised | pb::TicketState::AtRisk | pb::TicketState::Broken => {
            ticket.promise.as_ref().map(|p| p.due_at)
        }
        _ => None,
    };
    sqlx::query(
        "INSERT INTO tickets (ticket_id, customer_id, front_line_team_id, state, at_risk,
                              due_key, opened_at, version, view)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (ticket_id) DO UPDATE SET
             state = EXCLUDED.state, at_risk = EXCLUDED.at_risk, due_key = EXCLUDED.due_key,
             version = EXCLUDED.version, view = EXCLUDED.view
         WHERE tickets.version <= EXCLUDED.version",
    )
    .bind(ticket.id.as_uuid())
    .bind(ticket.customer_id.as_uuid())
    .bind(ticket.front_line.as_uuid())
    .bind(state.as_str_name())
    .bind(at_risk)
    .bind(due_key(due))
    .bind(ticket.opened_at)
    .bind(db_version(version))
    .bind(view.encode_to_vec())
    .execute(conn)
    .await?;
    Ok(())
}

/// Schedules (or moves, or removes) the ticket's deadline; a new or moved deadline sends
/// `NOTIFY tickets_deadlines` at commit, so a deadline watch re-plans its sleep.
pub(crate) async fn schedule_deadline(
    conn: &mut PgConnection,
    ticket: TicketId,
    due_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    match due_at {
        Some(due_at) => {
            let sql = format!(
                "WITH scheduled AS (
                     INSERT INTO deadlines (ticket_id, due_at) VALUES ($1, $2)
                     ON CONFLICT (ticket_id) DO UPDATE SET due_at = EXCLUDED.due_at
                     WHERE deadlines.due_at IS DISTINCT FROM EXCLUDED.due_at
                     RETURNING 1)
                 SELECT pg_notify('{DEADLINES_CHANNEL}', '') FROM scheduled"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(ticket.as_uuid())
                .bind(due_at)
                .execute(conn)
                .await?;
        }
        None => {
            sqlx::query("DELETE FROM deadlines WHERE ticket_id = $1")
                .bind(ticket.as_uuid())
                .execute(conn)
                .await?;
        }
    }
    Ok(())
}
