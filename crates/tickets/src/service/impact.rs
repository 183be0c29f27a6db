//! `ListImpactedCustomers`: the blast radius of an internal breakdown. For a team (every
//! request it provides) or one request, the unresolved tickets whose case tree holds it — at
//! risk and broken first, then by value at stake — each with the customer, the promise's due
//! time, the chain's projection, and the path from the team's (or request's) link up to the
//! request serving the ticket; and the total value at stake over every page, each customer
//! counted once.

use std::collections::{BTreeMap, BTreeSet};

use chain_domain::ids::{RequestId, TeamId};
use chain_proto::customerchain::v1 as pb;
use chain_rpc::field;
use chain_rpc::page::PageRequest;
use chain_rpc::status::{database_error, invalid_argument};
use sqlx::Row;
use tonic::{Request as Call, Status};
use uuid::Uuid;

use super::TicketService;
use super::queries::listed_ticket;
use crate::tiers;

/// A `ListImpactedCustomers` cursor: (at risk, value at stake, ticket id).
type ImpactCursor = (bool, i64, Uuid);

/// Whose breakdown is traced.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Team(TeamId),
    Request(RequestId),
}

/// One request of a case, as far as a path needs it.
struct Hop {
    parent: Option<Uuid>,
    consumer: Uuid,
    provider: Uuid,
}

fn db(error: sqlx::Error) -> Status {
    database_error(&error)
}

/// The tickets that depend on the scope and the unresolved filter, as SQL shared by the page
/// and the totals: `$1` request id, `$2` team id, `$3` at risk only.
const IMPACTED: &str = "
    FROM (SELECT DISTINCT r.ticket_id FROM chain_requests r
          WHERE r.request_id = $1 OR r.provider_team_id = $2) hit
    JOIN tickets t ON t.ticket_id = hit.ticket_id
    LEFT JOIN customers c ON c.customer_id = t.customer_id
    LEFT JOIN ticket_chains k ON k.ticket_id = t.ticket_id
    WHERE t.state <> 'TICKET_STATE_RESOLVED' AND (NOT $3 OR t.at_risk)";

impl TicketService {
    pub(super) async fn list_impacted_customers(
        &self,
        call: Call<pb::ListImpactedCustomersRequest>,
    ) -> Result<pb::ListImpactedCustomersResponse, Status> {
        let message = call.into_inner();
        let scope = match &message.scope {
            Some(pb::list_impacted_customers_request::Scope::TeamId(team)) => {
                Scope::Team(field::id("team_id", team)?)
            }
            Some(pb::list_impacted_customers_request::Scope::RequestId(request)) => {
                Scope::Request(field::id("request_id", request)?)
            }
            None => {
                return Err(invalid_argument(
                    "scope",
                    "exactly one of team_id and request_id is required",
                ));
            }
        };
        let filter = format!("scope={scope:?};at_risk_only={}", message.at_risk_only);
        let page: PageRequest<ImpactCursor> =
            PageRequest::parse(message.page_size, &message.page_token, filter.as_bytes())?;
        let (request, team) = match scope {
            Scope::Request(r) => (Some(r.as_uuid()), None),
            Scope::Team(t) => (None, Some(t.as_uuid())),
        };
        let after = page.after().copied();
        let sql = format!(
            "SELECT t.ticket_id, t.customer_id, t.at_risk, t.view,
                    coalesce(c.value_minor, 0) AS value_minor, c.currency, c.tier,
                    k.ticket_id IS NOT NULL AS has_chain, k.projected_completion,
                    k.critical_request_id, k.critical_provider_team_id,
                    k.critical_consumer_team_id
             {IMPACTED}
               AND ($4::boolean IS NULL
                    OR (NOT t.at_risk, -coalesce(c.value_minor, 0), t.ticket_id)
                       > (NOT $4::boolean, -$5::bigint, $6::uuid))
             ORDER BY NOT t.at_risk, -coalesce(c.value_minor, 0), t.ticket_id
             LIMIT $7"
        );
        let mut conn = self.store.pool().acquire().await.map_err(db)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request)
            .bind(team)
            .bind(message.at_risk_only)
            .bind(after.map(|c| c.0))
            .bind(after.map(|c| c.1))
            .bind(after.map(|c| c.2))
            .bind(page.fetch_limit())
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        let mut listed = Vec::with_capacity(rows.len());
        for row in &rows {
            let cursor: ImpactCursor = (
                row.try_get("at_risk").map_err(db)?,
                row.try_get("value_minor").map_err(db)?,
                row.try_get("ticket_id").map_err(db)?,
            );
            let customer: Uuid = row.try_get("customer_id").map_err(db)?;
            listed.push((cursor, customer, listed_ticket(row)?));
        }
        let (listed, next_page_token) = page.finish(listed, |(cursor, _, _)| *cursor);

        let tickets: Vec<Uuid> = listed.iter().map(|(c, _, _)| c.2).collect();
        let hops = hops(&mut conn, &tickets).await?;
        let customers: Vec<Uuid> = listed.iter().map(|(_, c, _)| *c).collect();
        let names = tiers::display_names(&mut conn, &customers)
            .await
            .map_err(db)?;
        let entries = listed
            .into_iter()
            .map(|((_, _, ticket_id), customer, ticket)| {
                let start = match scope {
                    Scope::Request(r) => Some(r.as_uuid()),
                    Scope::Team(t) => team_request(&hops, ticket_id, t.as_uuid(), &ticket),
                };
                pb::ImpactedCustomer {
                    customer_id: customer.to_string(),
                    display_name: names.get(&customer).cloned().unwrap_or_default(),
                    tier: ticket.tier,
                    value_at_stake: ticket.value_at_stake.clone(),
                    ticket_id: ticket.ticket_id.clone(),
                    state: ticket.state,
                    promise_due_at: ticket.promise.as_ref().and_then(|p| p.due_at),
                    projected_completion: ticket.chain_projected_completion,
                    path: Some(pb::CausePath {
                        links: start
                            .map(|s| path_up(&hops, ticket_id, s))
                            .unwrap_or_default(),
                    }),
                }
            })
            .collect();

        let totals = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) AS customers, coalesce(sum(v), 0)::bigint AS total,
                    min(currency) AS currency
             FROM (SELECT DISTINCT t.customer_id, coalesce(c.value_minor, 0) AS v, c.currency
                   {IMPACTED}) each_customer"
        )))
        .bind(request)
        .bind(team)
        .bind(message.at_risk_only)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        let total_customers: i64 = totals.try_get("customers").map_err(db)?;
        let total: i64 = totals.try_get("total").map_err(db)?;
        let currency: Option<String> = totals.try_get("currency").map_err(db)?;
        Ok(pb::ListImpactedCustomersResponse {
            customers: entries,
            next_page_token,
            total_value_at_stake: Some(pb::Money {
                currency_code: currency.unwrap_or_default(),
                value_minor: total,
            }),
            total_customers: u32::try_from(total_customers).unwrap_or(u32::MAX),
        })
    }
}

/// Every request of the cases of `tickets`, by ticket and request id.
async fn hops(
    conn: &mut sqlx::PgConnection,
    tickets: &[Uuid],
) -> Result<BTreeMap<Uuid, BTreeMap<Uuid, Hop>>, Status> {
    let rows = sqlx::query(
        "SELECT ticket_id, request_id, parent_request_id, consumer_team_id, provider_team_id
         FROM chain_requests WHERE ticket_id = ANY($1)",
    )
    .bind(tickets)
    .fetch_all(conn)
    .await
    .map_err(db)?;
    let mut cases: BTreeMap<Uuid, BTreeMap<Uuid, Hop>> = BTreeMap::new();
    for row in &rows {
        cases
            .entry(row.try_get("ticket_id").map_err(db)?)
            .or_default()
            .insert(
                row.try_get("request_id").map_err(db)?,
                Hop {
                    parent: row.try_get("parent_request_id").map_err(db)?,
                    consumer: row.try_get("consumer_team_id").map_err(db)?,
                    provider: row.try_get("provider_team_id").map_err(db)?,
                },
            );
    }
    Ok(cases)
}

/// The request of `team` in the ticket's case to trace from: the one on the ticket's risk
/// path if any (nearest the root cause), else its first by id.
fn team_request(
    hops: &BTreeMap<Uuid, BTreeMap<Uuid, Hop>>,
    ticket: Uuid,
    team: Uuid,
    view: &pb::Ticket,
) -> Option<Uuid> {
    let case = hops.get(&ticket)?;
    let provided: BTreeSet<Uuid> = case
        .iter()
        .filter(|(_, hop)| hop.provider == team)
        .map(|(id, _)| *id)
        .collect();
    let on_risk_path = view
        .risk
        .as_ref()
        .and_then(|r| r.path.as_ref())
        .into_iter()
        .flat_map(|p| p.links.iter())
        .filter_map(|l| Uuid::parse_str(&l.request_id).ok())
        .find(|id| provided.contains(id));
    on_risk_path.or_else(|| provided.first().copied())
}

/// The links from `from` up to the request serving the ticket.
fn path_up(
    hops: &BTreeMap<Uuid, BTreeMap<Uuid, Hop>>,
    ticket: Uuid,
    from: Uuid,
) -> Vec<pb::CauseLink> {
    let Some(case) = hops.get(&ticket) else {
        return Vec::new();
    };
    let mut links = Vec::new();
    let mut seen = BTreeSet::new();
    let mut current = Some(from);
    while let Some(id) = current {
        let Some(hop) = case.get(&id).filter(|_| seen.insert(id)) else {
            break;
        };
        links.push(pb::CauseLink {
            provider_team_id: hop.provider.to_string(),
            consumer_team_id: hop.consumer.to_string(),
            request_id: id.to_string(),
        });
        current = hop.parent;
    }
    links
}
