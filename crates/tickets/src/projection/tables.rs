//! Writing the read model on the projector's (inbox) transaction, so the change commits with
//! the events' processed marks: a statement per customer change, one for all the ticket rows
//! and deadlines of a transaction.

use chain_domain::ticket::Ticket;
use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::codec::CustomerStreamEvent;
use crate::tiers::{db_version, tier_text};
use crate::view::ticket_state;

use super::{DEADLINE_NOTICE, DEADLINES_CHANNEL};

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

/// A ticket's row as of stream version `version`, with its API view and its deadline, waiting
/// for the end of the projector's transaction.
#[derive(Debug)]
pub(crate) struct TicketRow {
    ticket_id: Uuid,
    customer_id: Uuid,
    front_line_team_id: Uuid,
    state: &'static str,
    at_risk: bool,
    due_key: i64,
    opened_at: DateTime<Utc>,
    version: i64,
    view: Vec<u8>,
    deadline: Option<DateTime<Utc>>,
}

impl TicketRow {
    /// The row of `ticket` at stream version `version`, shown as `view`, due to fire at
    /// `deadline`.
    pub(crate) fn new(
        ticket: &Ticket,
        version: u64,
        view: &pb::Ticket,
        deadline: Option<DateTime<Utc>>,
    ) -> Self {
        let state = ticket_state(ticket);
        let due = match state {
            pb::TicketState::Promised | pb::TicketState::AtRisk | pb::TicketState::Broken => {
                ticket.promise.as_ref().map(|p| p.due_at)
            }
            _ => None,
        };
        Self {
            ticket_id: ticket.id.as_uuid(),
            customer_id: ticket.customer_id.as_uuid(),
            front_line_team_id: ticket.front_line.as_uuid(),
            state: state.as_str_name(),
            at_risk: matches!(state, pb::TicketState::AtRisk | pb::TicketState::Broken),
            due_key: due_key(due),
            opened_at: ticket.opened_at,
            version: db_version(version),
            view: view.encode_to_vec(),
            deadline,
        }
    }
}

/// Writes ticket rows (at most one per ticket) and schedules, moves or removes their
/// deadlines, in one statement; a deadline new or moved to within [`DEADLINE_NOTICE`] sends
/// `NOTIFY tickets_deadlines` at commit, so a deadline watch re-plans its sleep. A row older
/// than the one stored is left alone.
pub(crate) async fn write_tickets(
    conn: &mut PgConnection,
    rows: &[TicketRow],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids = |f: fn(&TicketRow) -> Uuid| rows.iter().map(f).collect::<Vec<_>>();
    let sql = format!(
        "WITH r AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::bool[],
                                  $6::int8[], $7::timestamptz[], $8::int8[], $9::bytea[],
                                  $10::timestamptz[])
                 AS r(ticket_id, customer_id, front_line_team_id, state, at_risk, due_key,
                      opened_at, version, view, deadline_at)),
         written AS (
             INSERT INTO tickets (ticket_id, customer_id, front_line_team_id, state, at_risk,
                                  due_key, opened_at, version, view)
             SELECT ticket_id, customer_id, front_line_team_id, state, at_risk, due_key,
                    opened_at, version, view
             FROM r
             ON CONFLICT (ticket_id) DO UPDATE SET
                 state = EXCLUDED.state, at_risk = EXCLUDED.at_risk, due_key = EXCLUDED.due_key,
                 version = EXCLUDED.version, view = EXCLUDED.view
             WHERE tickets.version <= EXCLUDED.version),
         scheduled AS (
             INSERT INTO deadlines (ticket_id, due_at)
             SELECT ticket_id, deadline_at FROM r WHERE deadline_at IS NOT NULL
             ON CONFLICT (ticket_id) DO UPDATE SET due_at = EXCLUDED.due_at
             WHERE deadlines.due_at IS DISTINCT FROM EXCLUDED.due_at
             RETURNING due_at),
         -- Through the key whatever the plan (joined, a cached plan scanned the table).
         removed AS (
             DELETE FROM deadlines
             WHERE ticket_id = ANY (ARRAY(SELECT ticket_id FROM r WHERE deadline_at IS NULL)))
         SELECT pg_notify('{DEADLINES_CHANNEL}', '')
         WHERE EXISTS (SELECT 1 FROM scheduled WHERE due_at < $11)"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ids(|r| r.ticket_id))
        .bind(ids(|r| r.customer_id))
        .bind(ids(|r| r.front_line_team_id))
        .bind(rows.iter().map(|r| r.state).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.at_risk).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.due_key).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.opened_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.view.as_slice()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.deadline).collect::<Vec<_>>())
        // Deadlines due before this need a deadline watch woken; see [`DEADLINE_NOTICE`].
        .bind(chain_rpc::clock::now() + DEADLINE_NOTICE)
        .execute(conn)
        .await?;
    Ok(())
}
