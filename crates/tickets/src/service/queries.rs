//! Queries on tickets: `GetTicket` folds the ticket's stream (strongly consistent: every event
//! committed before the read, the older ones folded from what the replica remembers of its
//! last read, so a long-lived ticket costs its new events, not its whole history);
//! `ListTickets` reads the read model (keyset pages: at risk and broken first, then by value at
//! stake, highest first, then by due time, then by id), with the customer's tier and value
//! and the chain's projection read at query time.

use chain_domain::ids::{CustomerId, TeamId, TicketId};
use chain_proto::customerchain::v1 as pb;
use chain_rpc::field;
use chain_rpc::page::PageRequest;
use chain_rpc::status::{database_error, internal, not_found};
use prost::Message;
use sqlx::Row;
use sqlx::postgres::PgRow;
use tonic::{Request as Call, Status};
use uuid::Uuid;

use super::TicketService;
use crate::chain_view::tables::{Beside, summary_of, ticket_beside_chain};
use crate::codec::{StoredEvent, cause_link, tier, ts};
use crate::projection::memory::FoldedTicket;
use crate::streams::{LoadError, undecodable_ticket};
use crate::tiers::tier_of;
use crate::view;

/// A `ListTickets` cursor: (at risk, value at stake, due key, ticket id).
type TicketCursor = (bool, i64, i64, Uuid);

fn db(error: sqlx::Error) -> Status {
    database_error(&error)
}

/// The stored view of a listed ticket, with what is read at query time laid over it: the
/// customer's tier and value now (columns `tier`, `value_minor`, `currency`), and the chain's
/// projection (`ticket_chains`' columns; NULL when no request serves the ticket).
pub(super) fn listed_ticket(row: &PgRow) -> Result<pb::Ticket, Status> {
    let view: Vec<u8> = row.try_get("view").map_err(db)?;
    let mut ticket = pb::Ticket::decode(view.as_slice()).map_err(|error| {
        tracing::error!(%error, "a stored ticket view does not decode");
        internal()
    })?;
    let currency: Option<String> = row.try_get("currency").map_err(db)?;
    if let Some(currency_code) = currency {
        ticket.value_at_stake = Some(pb::Money {
            currency_code,
            value_minor: row.try_get("value_minor").map_err(db)?,
        });
    }
    let customer_tier: Option<String> = row.try_get("tier").map_err(db)?;
    if let Some(current) = tier_of(customer_tier.as_deref()) {
        ticket.tier = tier(current).into();
    }
    let has_chain: bool = row.try_get("has_chain").map_err(db)?;
    if has_chain {
        let chain = summary_of(row).map_err(db)?;
        ticket.chain_projected_completion = chain.projected_completion.and_then(ts);
        ticket.critical_link = chain.critical_link.map(cause_link);
    }
    Ok(ticket)
}

impl TicketService {
    pub(super) async fn get_ticket(
        &self,
        call: Call<pb::GetTicketRequest>,
    ) -> Result<pb::Ticket, Status> {
        let id: TicketId = field::id("ticket_id", &call.get_ref().ticket_id)?;
        // The newer events and what shows beside them in one read; the chain and standing read
        // again only while the read model has not listed the ticket under its customer yet.
        let (folded, beside) = self.read_ticket(id).await?;
        let Some(ticket) = folded.state.ticket.as_ref() else {
            return Err(not_found("ticket_id", "ticket", &id.to_string()));
        };
        let (chain, standing) = if beside.listed_customer == Some(ticket.customer_id) {
            (beside.chain, beside.standing)
        } else {
            self.chain_and_standing(ticket).await?
        };
        Ok(view::ticket(
            ticket,
            folded.state.version,
            &folded.extras,
            standing,
            chain.as_ref(),
        ))
    }

    /// Ticket `id` folded up to its latest committed event, and what shows beside it: the
    /// events after the version this replica remembers are read and folded onto it (all of them
    /// when it remembers none), and the fold is remembered for the next read.
    async fn read_ticket(&self, id: TicketId) -> Result<(FoldedTicket, Beside), Status> {
        let mut folded = self.read.latest(id).unwrap_or_default();
        let store_error = |error| LoadError::Store(error).into_status();
        let (mut newer, mut beside) =
            ticket_beside_chain(self.store.pool(), id, folded.state.version)
                .await
                .map_err(store_error)?;
        if newer
            .first()
            .is_some_and(|first| first.version != folded.state.version + 1)
        {
            // Versions have no gaps, so this is a remembered fold gone wrong: start afresh.
            tracing::warn!(ticket_id = %id, "a remembered ticket does not precede its stream");
            folded = FoldedTicket::default();
            (newer, beside) = ticket_beside_chain(self.store.pool(), id, 0)
                .await
                .map_err(store_error)?;
        }
        for event in &newer {
            folded
                .apply(StoredEvent::from(event))
                .map_err(|source| undecodable_ticket(id, source).into_status())?;
        }
        if !newer.is_empty() {
            self.read.remember_newer(id, folded.clone());
        }
        Ok((folded, beside))
    }

    pub(super) async fn list_tickets(
        &self,
        call: Call<pb::ListTicketsRequest>,
    ) -> Result<pb::ListTicketsResponse, Status> {
        let message = call.into_inner();
        let customer: Option<CustomerId> = field::optional_id("customer_id", &message.customer_id)?;
        let front_line: Option<TeamId> =
            field::optional_id("front_line_team_id", &message.front_line_team_id)?;
        let mut states = Vec::with_capacity(message.states.len());
        for value in &message.states {
            let state: pb::TicketState = field::enumeration("states", *value)?;
            states.push(state.as_str_name().to_owned());
        }
        states.sort();
        states.dedup();
        let filter = format!(
            "customer={customer:?};front_line={front_line:?};states={states:?};at_risk_only={}",
            message.at_risk_only
        );
        let page: PageRequest<TicketCursor> =
            PageRequest::parse(message.page_size, &message.page_token, filter.as_bytes())?;
        let after = page.after().copied();
        let rows = sqlx::query(
            "SELECT t.ticket_id, t.at_risk, t.due_key, t.view,
                    coalesce(c.value_minor, 0) AS value_minor, c.currency, c.tier,
                    k.ticket_id IS NOT NULL AS has_chain, k.projected_completion,
                    k.critical_request_id, k.critical_provider_team_id,
                    k.critical_consumer_team_id
             FROM tickets t
             LEFT JOIN customers c ON c.customer_id = t.customer_id
             LEFT JOIN ticket_chains k ON k.ticket_id = t.ticket_id
             WHERE ($1::uuid IS NULL OR t.customer_id = $1)
               AND ($2::uuid IS NULL OR t.front_line_team_id = $2)
               AND (cardinality($3::text[]) = 0 OR t.state = ANY($3))
               AND (NOT $4 OR t.at_risk)
               AND ($5::boolean IS NULL
                    OR (NOT t.at_risk, -coalesce(c.value_minor, 0), t.due_key, t.ticket_id)
                       > (NOT $5::boolean, -$6::bigint, $7::bigint, $8::uuid))
             ORDER BY NOT t.at_risk, -coalesce(c.value_minor, 0), t.due_key, t.ticket_id
             LIMIT $9",
        )
        .bind(customer.map(|c| c.as_uuid()))
        .bind(front_line.map(|t| t.as_uuid()))
        .bind(&states)
        .bind(message.at_risk_only)
        .bind(after.map(|c| c.0))
        .bind(after.map(|c| c.1))
        .bind(after.map(|c| c.2))
        .bind(after.map(|c| c.3))
        .bind(page.fetch_limit())
        .fetch_all(self.store.pool())
        .await
        .map_err(db)?;
        let mut listed = Vec::with_capacity(rows.len());
        for row in &rows {
            let cursor: TicketCursor = (
                row.try_get("at_risk").map_err(db)?,
                row.try_get("value_minor").map_err(db)?,
                row.try_get("due_key").map_err(db)?,
                row.try_get("ticket_id").map_err(db)?,
            );
            listed.push((cursor, listed_ticket(row)?));
        }
        let (listed, next_page_token) = page.finish(listed, |(cursor, _)| *cursor);
        Ok(pb::ListTicketsResponse {
            tickets: listed.into_iter().map(|(_, ticket)| ticket).collect(),
            next_page_token,
        })
    }
}
