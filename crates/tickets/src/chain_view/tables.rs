//! Writing and reading the chain view's tables, on the consumer's (inbox) transaction so a
//! request event, the case it changes and the ticket's reaction commit together.

use std::collections::BTreeMap;

use chain_domain::ids::{RequestId, TicketId};
use chain_domain::request::{Parent, RequestStatus};
use chain_requests::codec::StoredEvent;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::case::TicketCase;
use crate::tiers::db_version;

/// What a `RequestOpened` says about the request's place in a ticket's case.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Opened {
    pub request_id: RequestId,
    pub ticket_id: TicketId,
    pub parent: Option<Parent>,
    pub consumer: Uuid,
    pub provider: Uuid,
    pub needed_by: DateTime<Utc>,
}

/// Records a request of a ticket's case when it is opened.
pub(crate) async fn insert_request(
    conn: &mut PgConnection,
    opened: &Opened,
) -> Result<(), sqlx::Error> {
    let parent_request = match opened.parent {
        Some(Parent::Request(r)) => Some(r.as_uuid()),
        _ => None,
    };
    sqlx::query(
        "INSERT INTO chain_requests (request_id, ticket_id, parent_request_id, consumer_team_id,
             provider_team_id, version, status, expected_by, projected_completion, at_risk,
             on_critical_path)
         VALUES ($1, $2, $3, $4, $5, 0, 'Opened', $6, $6, false, false)
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(opened.request_id.as_uuid())
    .bind(opened.ticket_id.as_uuid())
    .bind(parent_request)
    .bind(opened.consumer)
    .bind(opened.provider)
    .bind(opened.needed_by)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the database holds of a followed request's case, in the event's transaction.
#[derive(Debug, Clone)]
pub(crate) struct CaseVersions {
    /// The ticket the case is rooted at.
    pub ticket: TicketId,
    /// The version of every request of the case as last written (a request just opened is at 0).
    pub requests: BTreeMap<RequestId, u64>,
    /// The ticket's stream version in the service's event store (0 before it is opened).
    pub ticket_version: u64,
}

/// Keeps one event of `request` if the chain view follows it, and reads what the database
/// holds of its case, in one round trip; `None` (and nothing kept) if it does not follow it.
pub(crate) async fn keep_event(
    conn: &mut PgConnection,
    request: RequestId,
    version: u64,
    event_id: Uuid,
    stored: &StoredEvent<'_>,
) -> Result<Option<CaseVersions>, sqlx::Error> {
    // A data-modifying WITH runs once whether or not the SELECT reads it; the SELECT sees the
    // database as the statement began, which holds every request of the case (a request
    // opened by this event was inserted by an earlier statement of the transaction).
    let rows: Vec<(Uuid, Uuid, i64, Option<i64>)> = sqlx::query_as(
        "WITH kept AS (
             INSERT INTO chain_request_events (request_id, version, event_id, event_type,
                 schema_version, occurred_at, payload)
             SELECT $1, $2, $3, $4, $5, $6, $7
             WHERE EXISTS (SELECT 1 FROM chain_requests WHERE request_id = $1)
             ON CONFLICT (request_id, version) DO NOTHING)
         SELECT member.ticket_id, member.request_id, member.version, ticket.version
         FROM chain_requests this
         -- Once for the ticket, not once per member of its case.
         CROSS JOIN LATERAL (SELECT max(aggregate_version) AS version FROM events
                             WHERE aggregate_type = $8
                               AND aggregate_id = this.ticket_id::text) ticket
         JOIN chain_requests member ON member.ticket_id = this.ticket_id
         WHERE this.request_id = $1",
    )
    .bind(request.as_uuid())
    .bind(db_version(version))
    .bind(event_id)
    .bind(stored.event_type)
    .bind(i32::try_from(stored.schema_version).unwrap_or(i32::MAX))
    .bind(stored.occurred_at)
    .bind(stored.payload)
    .bind(crate::streams::TICKET)
    .fetch_all(conn)
    .await?;
    let Some(&(ticket, _, _, ticket_version)) = rows.first() else {
        return Ok(None);
    };
    let to_u64 = |version: i64| u64::try_from(version).unwrap_or(0);
    Ok(Some(CaseVersions {
        ticket: TicketId::from_uuid(ticket),
        requests: rows
            .into_iter()
            .map(|(_, id, version, _)| (RequestId::from_uuid(id), to_u64(version)))
            .collect(),
        ticket_version: ticket_version.map_or(0, to_u64),
    }))
}

/// What the tree says about every request of a case and about its ticket, as of `now`, ready
/// to write.
#[derive(Debug, Clone)]
pub(crate) struct CaseRows {
    ticket: Uuid,
    ids: Vec<Uuid>,
    versions: Vec<i64>,
    statuses: Vec<&'static str>,
    expected: Vec<DateTime<Utc>>,
    projected: Vec<Option<DateTime<Utc>>>,
    at_risk: Vec<bool>,
    critical: Vec<bool>,
    projected_completion: Option<DateTime<Utc>>,
    earliest_feasible: Option<DateTime<Utc>>,
    bound_by: Option<chain_domain::link::RequestLink>,
    now: DateTime<Utc>,
}

impl CaseRows {
    /// The rows of `case` as of `now`.
    pub(crate) fn of(case: &TicketCase, now: DateTime<Utc>) -> Self {
        let nodes: Vec<_> = case.view.nodes.values().collect();
        let feasibility = case.feasibility();
        Self {
            ticket: case.ticket_id.as_uuid(),
            ids: nodes.iter().map(|n| n.request.id.as_uuid()).collect(),
            versions: nodes.iter().map(|n| db_version(n.version)).collect(),
            statuses: nodes.iter().map(|n| n.request.status.name()).collect(),
            expected: nodes.iter().map(|n| n.request.expected_by()).collect(),
            projected: nodes
                .iter()
                .map(|n| match n.request.status {
                    RequestStatus::Opened | RequestStatus::Committed => n.projected_completion,
                    _ => None,
                })
                .collect(),
            at_risk: nodes
                .iter()
                .map(|n| {
                    n.risk.is_some()
                        || n.request.outstanding_breakdown().is_some()
                        || matches!(n.request.status, RequestStatus::Breached { .. })
                })
                .collect(),
            critical: nodes.iter().map(|n| n.on_critical_path).collect(),
            projected_completion: case.projected_completion(),
            earliest_feasible: feasibility.as_ref().map(|f| f.earliest),
            bound_by: feasibility.as_ref().map(|f| f.bound_by),
            now,
        }
    }

    /// The version each request of the case is written at.
    pub(crate) fn versions(&self) -> impl Iterator<Item = (RequestId, u64)> + '_ {
        let to_u64 = |version: &i64| u64::try_from(*version).unwrap_or(0);
        self.ids
            .iter()
            .zip(&self.versions)
            .map(move |(id, version)| (RequestId::from_uuid(*id), to_u64(version)))
    }
}

/// Writes what the tree now says about every request of the case, and about the ticket. Rows
/// that did not change are left alone: most events change one request of a case, and an
/// unchanged row rewritten still costs a new row version and its WAL.
pub(crate) async fn save_case(conn: &mut PgConnection, rows: &CaseRows) -> Result<(), sqlx::Error> {
    let bound = rows.bound_by;
    // One statement for both tables: a data-modifying WITH runs whether or not it is read.
    sqlx::query(
        "WITH requests AS (
             UPDATE chain_requests r SET version = u.version, status = u.status,
                 expected_by = u.expected_by, projected_completion = u.projected,
                 at_risk = u.at_risk, on_critical_path = u.critical
             FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::timestamptz[],
                         $5::timestamptz[], $6::boolean[], $7::boolean[])
                  AS u(request_id, version, status, expected_by, projected, at_risk, critical)
             WHERE r.ticket_id = $8 AND r.request_id = u.request_id
               AND (r.version, r.status, r.expected_by, r.projected_completion, r.at_risk,
                    r.on_critical_path)
                   IS DISTINCT FROM
                   (u.version, u.status, u.expected_by, u.projected, u.at_risk, u.critical))
         INSERT INTO ticket_chains (ticket_id, projected_completion, earliest_feasible,
             critical_request_id, critical_provider_team_id, critical_consumer_team_id,
             updated_at)
         VALUES ($8, $9, $10, $11, $12, $13, $14)
         ON CONFLICT (ticket_id) DO UPDATE SET
             projected_completion = EXCLUDED.projected_completion,
             earliest_feasible = EXCLUDED.earliest_feasible,
             critical_request_id = EXCLUDED.critical_request_id,
             critical_provider_team_id = EXCLUDED.critical_provider_team_id,
             critical_consumer_team_id = EXCLUDED.critical_consumer_team_id,
             updated_at = EXCLUDED.updated_at
         WHERE (ticket_chains.projected_completion, ticket_chains.earliest_feasible,
                ticket_chains.critical_request_id, ticket_chains.critical_provider_team_id,
                ticket_chains.critical_consumer_team_id)
               IS DISTINCT FROM
               (EXCLUDED.projected_completion, EXCLUDED.earliest_feasible,
                EXCLUDED.critical_request_id, EXCLUDED.critical_provider_team_id,
                EXCLUDED.critical_consumer_team_id)",
    )
    .bind(&rows.ids)
    .bind(&rows.versions)
    .bind(&rows.statuses)
    .bind(&rows.expected)
    .bind(&rows.projected)
    .bind(&rows.at_risk)
    .bind(&rows.critical)
    // The ticket narrows the update to its case's rows through their index; joined on the
    // array alone the planner expects 100 rows and scans the whole table (0.39 ms a call at
    // 2,000 requests).
    .bind(rows.ticket)
    .bind(rows.projected_completion)
    .bind(rows.earliest_feasible)
    .bind(bound.map(|l| l.request_id.as_uuid()))
    .bind(bound.map(|l| l.provider.as_uuid()))
    .bind(bound.map(|l| l.consumer.as_uuid()))
    .bind(rows.now)
    .execute(conn)
    .await?;
    Ok(())
}

/// What the API shows of the chain behind a ticket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainSummary {
    /// When the chain is projected to deliver; `None` when unknowable.
    pub projected_completion: Option<DateTime<Utc>>,
    /// The link bounding the chain's earliest feasible time.
    pub critical_link: Option<chain_domain::link::RequestLink>,
}

/// The chain behind `ticket`, if any request serves it.
pub async fn chain_summary(
    conn: &mut PgConnection,
    ticket: TicketId,
) -> Result<Option<ChainSummary>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT projected_completion, critical_request_id, critical_provider_team_id,
                critical_consumer_team_id
         FROM ticket_chains WHERE ticket_id = $1",
    )
    .bind(ticket.as_uuid())
    .fetch_optional(conn)
    .await?;
    row.map(|row| summary_of(&row)).transpose()
}

/// A [`ChainSummary`] from a row holding `ticket_chains`' columns.
pub(crate) fn summary_of(row: &sqlx::postgres::PgRow) -> Result<ChainSummary, sqlx::Error> {
    let request: Option<Uuid> = row.try_get("critical_request_id")?;
    let provider: Option<Uuid> = row.try_get("critical_provider_team_id")?;
    let consumer: Option<Uuid> = row.try_get("critical_consumer_team_id")?;
    Ok(ChainSummary {
        projected_completion: row.try_get("projected_completion")?,
        critical_link: match (request, provider, consumer) {
            (Some(r), Some(p), Some(c)) => Some(chain_domain::link::RequestLink {
                request_id: RequestId::from_uuid(r),
                provider: chain_domain::ids::TeamId::from_uuid(p),
                consumer: chain_domain::ids::TeamId::from_uuid(c),
            }),
            _ => None,
        },
    })
}
