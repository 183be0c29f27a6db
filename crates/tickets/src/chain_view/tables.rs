//! Writing and reading the chain view's tables, on the consumer's (inbox) transaction so a
//! request event, the case it changes and the ticket's reaction commit together.

use std::collections::BTreeMap;

use chain_consumer::BatchAdmission;
use chain_domain::customer::CustomerStanding;
use chain_domain::ids::{CustomerId, RequestId, TicketId};
use chain_domain::request::{Parent, RequestStatus};
use chain_requests::codec::StoredEvent;
use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, Row};
use uuid::Uuid;

use super::case::TicketCase;
use crate::tiers::{self, db_version};

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
    /// Where the ticket's stream stands in the service's event store.
    pub ticket_at: StreamMark,
}

/// Where a stream stands: its version (0 before its first event) and the id of its last event.
/// The id tells a remembered state from one folded over an append that was rolled back while
/// another writer filled the same version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StreamMark {
    pub version: u64,
    pub last_event: Option<Uuid>,
}

/// One request event for [`keep_events`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kept<'a> {
    pub request: RequestId,
    pub version: u64,
    pub event_id: Uuid,
    pub stored: StoredEvent<'a>,
}

/// A member of a case as [`keep_events`] reads it: the ticket, the request and its version,
/// and the ticket stream's version and last event.
type MemberRow = (Uuid, Uuid, i64, Option<i64>, Option<Uuid>);

/// Where the stream of the ticket in column `$ticket` stands (`ticket.version`,
/// `ticket.event_id`; both null before its first event), for the statements keeping events;
/// parameter `$kind` is the ticket aggregate type.
macro_rules! ticket_mark {
    ($ticket:literal, $kind:literal) => {
        concat!(
            "LEFT JOIN LATERAL (SELECT aggregate_version AS version, event_id FROM events
                            WHERE aggregate_type = ",
            $kind,
            " AND aggregate_id = ",
            $ticket,
            "::text
                            ORDER BY aggregate_version DESC LIMIT 1) ticket ON true"
        )
    };
}

/// Keeps the events whose columns are the seven parameters given (request ids, versions, event
/// ids, types, schema versions, times, payloads) of the requests the chain view follows (the others are none of its
/// business), as the data-modifying expression `kept`, and names the cases they belong to
/// (`cases`). The statements reading the cases see the database as the statement began, which
/// holds every request of the cases (a request opened by one of these events was inserted by
/// an earlier statement of the transaction).
macro_rules! keep_events_ctes {
    ($ids:literal, $versions:literal, $event_ids:literal, $types:literal, $schemas:literal,
     $occurred:literal, $payloads:literal) => {
        concat!(
            "kept AS (
                 INSERT INTO chain_request_events (request_id, version, event_id, event_type,
                     schema_version, occurred_at, payload)
                 SELECT e.* FROM unnest(",
            $ids,
            "::uuid[], ",
            $versions,
            "::bigint[], ",
            $event_ids,
            "::uuid[], ",
            $types,
            "::text[], ",
            $schemas,
            "::integer[], ",
            $occurred,
            "::timestamptz[], ",
            $payloads,
            "::bytea[])
                      AS e(request_id, version, event_id, event_type, schema_version,
                           occurred_at, payload)
                 WHERE EXISTS (SELECT 1 FROM chain_requests c
                               WHERE c.request_id = e.request_id)
                 ON CONFLICT (request_id, version) DO NOTHING),
             -- The followed requests are found by their key (`= ANY`), not by a join with the
             -- arrays, which the planner, expecting a hundred rows, would make a read of the
             -- whole table.
             cases AS (
                 SELECT DISTINCT ticket_id FROM chain_requests
                 WHERE request_id = ANY(",
            $ids,
            "::uuid[]))"
        )
    };
}

/// The members of every case in `cases`, each through its ticket's index: as a plain join the
/// planner, with no statistics, hashes a read of the whole table (2.5 ms at 2,000 requests);
/// OFFSET 0 keeps the subquery from being flattened into that join.
macro_rules! case_members {
    () => {
        "CROSS JOIN LATERAL (SELECT m.request_id, m.version FROM chain_requests m
                             WHERE m.ticket_id = cases.ticket_id OFFSET 0) member"
    };
}

/// Keeps the events of the requests the chain view follows (the others are none of its
/// business), and reads what the database holds of every case they belong to, in one round
/// trip for a whole transaction's events.
pub(crate) async fn keep_events(
    conn: &mut PgConnection,
    events: &[Kept<'_>],
) -> Result<Vec<CaseVersions>, sqlx::Error> {
    // One event (most transactions below a few hundred events a second) takes a statement of
    // its own: its plan knows the one request, where the arrays' cached plan expects ten and
    // costs three times as much (0.16 against 0.44 ms, measured on a live bench database).
    let rows = match events {
        [event] => keep_one(conn, event).await?,
        _ => keep_all(conn, events).await?,
    };
    Ok(cases_of(rows))
}

/// [`keep_events`] for several events.
async fn keep_all(
    conn: &mut PgConnection,
    events: &[Kept<'_>],
) -> Result<Vec<MemberRow>, sqlx::Error> {
    // A data-modifying WITH runs once whether or not the SELECT reads it.
    let query = sqlx::query(concat!(
        "WITH ",
        keep_events_ctes!("$1", "$2", "$3", "$4", "$5", "$6", "$7"),
        "
         SELECT cases.ticket_id, member.request_id, member.version, ticket.version,
                ticket.event_id
         FROM cases
         -- Once for each ticket, not once per member of its case.
         ",
        ticket_mark!("cases.ticket_id", "$8"),
        " ",
        case_members!(),
        " ORDER BY cases.ticket_id",
    ));
    let rows = KeptColumns::of(events)
        .bind(query)
        .bind(crate::streams::TICKET)
        .fetch_all(conn)
        .await?;
    rows.iter().map(MemberRow::from_row).collect()
}

/// The columns of [`Kept`] events, bound in the order [`keep_events_ctes!`] names them.
struct KeptColumns<'a> {
    requests: Vec<Uuid>,
    versions: Vec<i64>,
    ids: Vec<Uuid>,
    types: Vec<&'a str>,
    schemas: Vec<i32>,
    occurred: Vec<DateTime<Utc>>,
    payloads: Vec<&'a [u8]>,
}

impl<'a> KeptColumns<'a> {
    fn of(events: &[Kept<'a>]) -> Self {
        Self {
            requests: events.iter().map(|e| e.request.as_uuid()).collect(),
            versions: events.iter().map(|e| db_version(e.version)).collect(),
            ids: events.iter().map(|e| e.event_id).collect(),
            types: events.iter().map(|e| e.stored.event_type).collect(),
            schemas: events
                .iter()
                .map(|e| i32::try_from(e.stored.schema_version).unwrap_or(i32::MAX))
                .collect(),
            occurred: events.iter().map(|e| e.stored.occurred_at).collect(),
            payloads: events.iter().map(|e| e.stored.payload).collect(),
        }
    }

    fn bind<'q>(self, query: chain_store::PgQuery<'q>) -> chain_store::PgQuery<'q>
    where
        'a: 'q,
    {
        query
            .bind(self.requests)
            .bind(self.versions)
            .bind(self.ids)
            .bind(self.types)
            .bind(self.schemas)
            .bind(self.occurred)
            .bind(self.payloads)
    }
}

/// What [`admit_and_keep`] reads: the cases of the events kept, and the standing of each
/// case's customer the read model names.
#[derive(Debug, Default)]
pub(crate) struct KeptCases {
    /// The cases, in ticket order.
    pub cases: Vec<CaseVersions>,
    /// The customers' standings now.
    pub standings: Vec<(CustomerId, CustomerStanding)>,
}

/// [`keep_events`] carrying the consumer's admission of the batch, and reading the standings
/// of the cases' customers too, in one round trip where there were three; `None` when the
/// batch was not admitted (the caller rolls back). A customer the read model does not list
/// yet (its ticket just opened) is read when its ticket reacts.
pub(crate) async fn admit_and_keep(
    conn: &mut PgConnection,
    admission: BatchAdmission<'_>,
    events: &[Kept<'_>],
) -> Result<Option<KeptCases>, sqlx::Error> {
    // One row when no event is of a followed request, so the admission is always read.
    let query = sqlx::query(concat!(
        "WITH ",
        chain_consumer::admission_ctes!(),
        ", ",
        keep_events_ctes!("$6", "$7", "$8", "$9", "$10", "$11", "$12"),
        "
         SELECT admitted.moved, members.*
         FROM (SELECT count(*) AS moved FROM inbox_moved) admitted
         LEFT JOIN LATERAL (
             SELECT cases.ticket_id, member.request_id, member.version AS request_version,
                    ticket.version AS ticket_version, ticket.event_id AS ticket_event_id,
                    c.customer_id, c.value_minor, c.currency, c.tier, c.version,
                    c.registered_at
             FROM cases
             ",
        ticket_mark!("cases.ticket_id", "$13"),
        " ",
        case_members!(),
        "
             LEFT JOIN tickets t ON t.ticket_id = cases.ticket_id
             LEFT JOIN customer_values c ON c.customer_id = t.customer_id) members ON true
         ORDER BY members.ticket_id",
    ));
    let rows = KeptColumns::of(events)
        .bind(admission.bind(query))
        .bind(crate::streams::TICKET)
        .fetch_all(conn)
        .await?;
    let moved: i64 = match rows.first() {
        Some(row) => row.try_get("moved")?,
        None => 0,
    };
    if !admission.admitted(moved) {
        return Ok(None);
    }
    let mut members = Vec::with_capacity(rows.len());
    let mut standings = BTreeMap::new();
    for row in &rows {
        let Some(ticket) = row.try_get::<Option<Uuid>, _>("ticket_id")? else {
            continue;
        };
        members.push((
            ticket,
            row.try_get("request_id")?,
            row.try_get("request_version")?,
            row.try_get("ticket_version")?,
            row.try_get("ticket_event_id")?,
        ));
        if row.try_get::<Option<Uuid>, _>("customer_id")?.is_some() {
            let customer = tiers::decode(row)?;
            standings.insert(customer.customer_id, customer.standing());
        }
    }
    Ok(Some(KeptCases {
        cases: cases_of(members),
        standings: standings.into_iter().collect(),
    }))
}

/// [`keep_events`] for one event.
async fn keep_one(
    conn: &mut PgConnection,
    event: &Kept<'_>,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(concat!(
        "WITH kept AS (
             INSERT INTO chain_request_events (request_id, version, event_id, event_type,
                 schema_version, occurred_at, payload)
             SELECT $1, $2, $3, $4, $5, $6, $7
             WHERE EXISTS (SELECT 1 FROM chain_requests WHERE request_id = $1)
             ON CONFLICT (request_id, version) DO NOTHING)
         SELECT member.ticket_id, member.request_id, member.version, ticket.version,
                ticket.event_id
         FROM chain_requests this
         ",
        ticket_mark!("this.ticket_id", "$8"),
        "
         JOIN chain_requests member ON member.ticket_id = this.ticket_id
         WHERE this.request_id = $1",
    ))
    .bind(event.request.as_uuid())
    .bind(db_version(event.version))
    .bind(event.event_id)
    .bind(event.stored.event_type)
    .bind(i32::try_from(event.stored.schema_version).unwrap_or(i32::MAX))
    .bind(event.stored.occurred_at)
    .bind(event.stored.payload)
    .bind(crate::streams::TICKET)
    .fetch_all(conn)
    .await
}

/// The cases of `rows` (in ticket order).
fn cases_of(rows: Vec<MemberRow>) -> Vec<CaseVersions> {
    let to_u64 = |version: i64| u64::try_from(version).unwrap_or(0);
    let mut cases: Vec<CaseVersions> = Vec::new();
    for (ticket, request, version, ticket_version, last_event) in rows {
        let ticket = TicketId::from_uuid(ticket);
        if cases.last().is_none_or(|case| case.ticket != ticket) {
            cases.push(CaseVersions {
                ticket,
                requests: BTreeMap::new(),
                ticket_at: StreamMark {
                    version: ticket_version.map_or(0, to_u64),
                    last_event,
                },
            });
        }
        if let Some(case) = cases.last_mut() {
            case.requests
                .insert(RequestId::from_uuid(request), to_u64(version));
        }
    }
    cases
}

/// What the tree says about every request of a case and about its ticket, as of `now`, ready
/// to write.
#[derive(Debug, Clone)]
pub(crate) struct CaseRows {
    ticket: Uuid,
    requests: RequestColumns,
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
            requests: RequestColumns::of(&nodes),
            projected_completion: case.projected_completion(),
            earliest_feasible: feasibility.as_ref().map(|f| f.earliest),
            bound_by: feasibility.as_ref().map(|f| f.bound_by),
            now,
        }
    }

    /// The version each request of the case is written at.
    pub(crate) fn versions(&self) -> impl Iterator<Item = (RequestId, u64)> + '_ {
        let to_u64 = |version: &i64| u64::try_from(*version).unwrap_or(0);
        self.requests
            .ids
            .iter()
            .zip(&self.requests.versions)
            .map(move |(id, version)| (RequestId::from_uuid(*id), to_u64(version)))
    }
}

/// The request rows of one case or several, column by column, in the order of
/// [`update_case_requests!`]'s seven parameters.
#[derive(Debug, Clone, Default)]
struct RequestColumns {
    ids: Vec<Uuid>,
    versions: Vec<i64>,
    statuses: Vec<&'static str>,
    expected: Vec<DateTime<Utc>>,
    projected: Vec<Option<DateTime<Utc>>>,
    at_risk: Vec<bool>,
    critical: Vec<bool>,
}

impl RequestColumns {
    /// The rows of a case's requests (`nodes`).
    fn of(nodes: &[&chain_domain::case::CaseNode]) -> Self {
        Self {
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
        }
    }

    /// Several cases' rows, case after case.
    fn concat<'a>(cases: impl IntoIterator<Item = &'a RequestColumns>) -> Self {
        let mut all = Self::default();
        for case in cases {
            all.ids.extend_from_slice(&case.ids);
            all.versions.extend_from_slice(&case.versions);
            all.statuses.extend_from_slice(&case.statuses);
            all.expected.extend_from_slice(&case.expected);
            all.projected.extend_from_slice(&case.projected);
            all.at_risk.extend_from_slice(&case.at_risk);
            all.critical.extend_from_slice(&case.critical);
        }
        all
    }

    /// Binds the seven columns, in their order.
    fn bind(self, query: chain_store::PgQuery<'_>) -> chain_store::PgQuery<'_> {
        query
            .bind(self.ids)
            .bind(self.versions)
            .bind(self.statuses)
            .bind(self.expected)
            .bind(self.projected)
            .bind(self.at_risk)
            .bind(self.critical)
    }
}

/// The start of the expression `requests` writing cases' request rows (before its `WHERE`):
/// the rows of the seven parameters given (id, version, status, expected by, projected
/// completion, at risk, on the critical path), each over the row of the same id.
macro_rules! update_case_requests {
    ($ids:literal, $versions:literal, $statuses:literal, $expected:literal,
     $projected:literal, $at_risk:literal, $critical:literal) => {
        concat!(
            "requests AS (
             UPDATE chain_requests r SET version = u.version, status = u.status,
                 expected_by = u.expected_by, projected_completion = u.projected,
                 at_risk = u.at_risk, on_critical_path = u.critical
             FROM unnest(",
            $ids,
            "::uuid[], ",
            $versions,
            "::bigint[], ",
            $statuses,
            "::text[], ",
            $expected,
            "::timestamptz[], ",
            $projected,
            "::timestamptz[], ",
            $at_risk,
            "::boolean[], ",
            $critical,
            "::boolean[])
                  AS u(request_id, version, status, expected_by, projected, at_risk, critical)"
        )
    };
}

/// The several cases' `WHERE` of [`update_case_requests!`], over the ids in `$ids`: by key
/// (`= ANY`), as joined on the arrays alone the planner expects a hundred rows and reads the
/// whole table.
macro_rules! several_cases {
    ($ids:literal) => {
        concat!(
            "
             WHERE r.request_id = ANY(",
            $ids,
            "::uuid[]) AND r.request_id = u.request_id
               AND ",
            request_changed!(),
            ")"
        )
    };
}

/// The insert of several tickets' rows, the seven parameters given (ticket, projected
/// completion, earliest feasible, critical request, its provider and consumer, when).
macro_rules! insert_ticket_chains {
    ($tickets:literal, $completions:literal, $feasible:literal, $requests:literal,
     $providers:literal, $consumers:literal, $now:literal) => {
        concat!(
            "INSERT INTO ticket_chains (ticket_id, projected_completion, earliest_feasible,
                 critical_request_id, critical_provider_team_id, critical_consumer_team_id,
                 updated_at)
             SELECT * FROM unnest(",
            $tickets,
            "::uuid[], ",
            $completions,
            "::timestamptz[], ",
            $feasible,
            "::timestamptz[], ",
            $requests,
            "::uuid[], ",
            $providers,
            "::uuid[], ",
            $consumers,
            "::uuid[], ",
            $now,
            "::timestamptz[])",
            upsert_ticket_chain!()
        )
    };
}

/// Whether a request row differs from what is written over it (an unchanged row rewritten
/// still costs a new row version and its WAL).
macro_rules! request_changed {
    () => {
        "(r.version, r.status, r.expected_by, r.projected_completion, r.at_risk,
              r.on_critical_path)
             IS DISTINCT FROM
             (u.version, u.status, u.expected_by, u.projected, u.at_risk, u.critical)"
    };
}

/// The end of the statements writing cases: a ticket's row inserted, or updated where it
/// changed.
macro_rules! upsert_ticket_chain {
    () => {
        "
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
                EXCLUDED.critical_consumer_team_id)"
    };
}

/// Writes what the trees now say about every request of the cases, and about their tickets,
/// in one statement. Rows that did not change are left alone: most events change one request
/// of a case, and an unchanged row rewritten still costs a new row version and its WAL.
/// `cases` come in ticket order, and the requests are updated in key order (through their
/// index), so two transactions lock rows in the same order.
pub(crate) async fn save_cases(
    conn: &mut PgConnection,
    cases: &[&CaseRows],
) -> Result<(), sqlx::Error> {
    let cases = match cases {
        [] => return Ok(()),
        [case] => return save_case(conn, case).await,
        several => several,
    };
    // One statement for both tables: a data-modifying WITH runs whether or not it is read.
    let query = sqlx::query(concat!(
        "WITH ",
        update_case_requests!("$1", "$2", "$3", "$4", "$5", "$6", "$7"),
        several_cases!("$1"),
        " ",
        insert_ticket_chains!("$8", "$9", "$10", "$11", "$12", "$13", "$14"),
    ));
    SavedColumns::of(cases).bind(query).execute(conn).await?;
    Ok(())
}

/// [`save_cases`] riding on the statement that appends the tickets' reactions
/// ([`chain_store::PendingAppends::write_with`]).
pub(crate) fn cases_rider(cases: &[&CaseRows]) -> chain_store::Rider {
    // The appends' parameters come first: these are numbered from RIDER_FIRST_PARAMETER (18).
    const _: () = assert!(chain_store::RIDER_FIRST_PARAMETER == 18);
    let columns = SavedColumns::of(cases);
    chain_store::Rider::new(
        concat!(
            update_case_requests!("$18", "$19", "$20", "$21", "$22", "$23", "$24"),
            several_cases!("$18"),
            ", chains AS (",
            insert_ticket_chains!("$25", "$26", "$27", "$28", "$29", "$30", "$31"),
            ")"
        ),
        move |query| columns.bind(query),
    )
}

/// The columns [`save_cases`] writes, in the order it binds them.
struct SavedColumns {
    requests: RequestColumns,
    tickets: Vec<Uuid>,
    completions: Vec<Option<DateTime<Utc>>>,
    feasible: Vec<Option<DateTime<Utc>>>,
    bound_requests: Vec<Option<Uuid>>,
    bound_providers: Vec<Option<Uuid>>,
    bound_consumers: Vec<Option<Uuid>>,
    now: Vec<DateTime<Utc>>,
}

impl SavedColumns {
    fn of(cases: &[&CaseRows]) -> Self {
        Self {
            requests: RequestColumns::concat(cases.iter().map(|c| &c.requests)),
            tickets: of_tickets(cases, |c| c.ticket),
            completions: of_tickets(cases, |c| c.projected_completion),
            feasible: of_tickets(cases, |c| c.earliest_feasible),
            bound_requests: of_tickets(cases, |c| c.bound_by.map(|l| l.request_id.as_uuid())),
            bound_providers: of_tickets(cases, |c| c.bound_by.map(|l| l.provider.as_uuid())),
            bound_consumers: of_tickets(cases, |c| c.bound_by.map(|l| l.consumer.as_uuid())),
            now: of_tickets(cases, |c| c.now),
        }
    }

    fn bind(self, query: chain_store::PgQuery<'_>) -> chain_store::PgQuery<'_> {
        self.requests
            .bind(query)
            .bind(self.tickets)
            .bind(self.completions)
            .bind(self.feasible)
            .bind(self.bound_requests)
            .bind(self.bound_providers)
            .bind(self.bound_consumers)
            .bind(self.now)
    }
}

/// [`save_cases`] for one case: its plan knows the one ticket (as [`keep_events`] for one event).
async fn save_case(conn: &mut PgConnection, rows: &CaseRows) -> Result<(), sqlx::Error> {
    let bound = rows.bound_by;
    // One statement for both tables: a data-modifying WITH runs whether or not it is read.
    let query = sqlx::query(concat!(
        "WITH ",
        update_case_requests!("$1", "$2", "$3", "$4", "$5", "$6", "$7"),
        "
             WHERE r.ticket_id = $8 AND r.request_id = u.request_id
               AND ",
        request_changed!(),
        ")
         INSERT INTO ticket_chains (ticket_id, projected_completion, earliest_feasible,
             critical_request_id, critical_provider_team_id, critical_consumer_team_id,
             updated_at)
         VALUES ($8, $9, $10, $11, $12, $13, $14)",
        upsert_ticket_chain!(),
    ));
    // A case has a few requests: copying their columns costs nothing beside the round trip.
    rows.requests
        .clone()
        .bind(query)
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

/// One column of every ticket row of `cases`.
fn of_tickets<T>(cases: &[&CaseRows], column: impl Fn(&CaseRows) -> T) -> Vec<T> {
    cases.iter().map(|c| column(c)).collect()
}

/// What the API shows of the chain behind a ticket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChainSummary {
    /// When the chain is projected to deliver; `None` when unknowable.
    pub projected_completion: Option<DateTime<Utc>>,
    /// The link bounding the chain's earliest feasible time.
    pub critical_link: Option<chain_domain::link::RequestLink>,
}

/// The columns [`chain_and_standing_of`] reads: the chain behind a ticket (`ticket_chains k`)
/// and a customer's standing (`customer_values c`), both left-joined.
macro_rules! chain_and_standing_columns {
    () => {
        "k.ticket_id IS NOT NULL AS has_chain, k.projected_completion,
         k.critical_request_id, k.critical_provider_team_id, k.critical_consumer_team_id,
         c.customer_id, c.value_minor, c.currency, c.tier, c.version, c.registered_at"
    };
}

/// What a ticket shows beside its own events, read at query time in one round trip: the
/// chain behind `ticket`, if any request serves it, and `customer`'s tier and value now, if
/// registered.
pub async fn chain_and_standing(
    conn: &mut PgConnection,
    ticket: TicketId,
    customer: CustomerId,
) -> Result<(Option<ChainSummary>, Option<CustomerStanding>), sqlx::Error> {
    let row = sqlx::query(concat!(
        "SELECT ",
        chain_and_standing_columns!(),
        " FROM (SELECT) one
         LEFT JOIN ticket_chains k ON k.ticket_id = $1
         LEFT JOIN customer_values c ON c.customer_id = $2"
    ))
    .bind(ticket.as_uuid())
    .bind(customer.as_uuid())
    .fetch_one(conn)
    .await?;
    chain_and_standing_of(&row)
}

/// The chain and the standing in a row holding `chain_and_standing_columns!()`; `None` for
/// what the left joins did not find.
fn chain_and_standing_of(
    row: &sqlx::postgres::PgRow,
) -> Result<(Option<ChainSummary>, Option<CustomerStanding>), sqlx::Error> {
    let chain = if row.try_get("has_chain")? {
        Some(summary_of(row)?)
    } else {
        None
    };
    let registered: Option<Uuid> = row.try_get("customer_id")?;
    let standing = match registered {
        Some(_) => Some(tiers::decode(row)?.standing()),
        None => None,
    };
    Ok((chain, standing))
}

/// What `GetTicket` reads beside a ticket's events: the chain behind it, and the standing of
/// the customer the read model lists it under.
#[derive(Debug, Clone, Default)]
pub struct Beside {
    /// The chain behind the ticket, if any request serves it.
    pub chain: Option<ChainSummary>,
    /// The listed customer's tier and value now, if registered.
    pub standing: Option<CustomerStanding>,
    /// The customer the read model lists the ticket under; `None` until the projector has
    /// seen the ticket opened.
    pub listed_customer: Option<CustomerId>,
}

/// A ticket's stored events after version `after` (all of them from 0) and what shows beside
/// them, in one round trip. The customer is found through the read model's row of the ticket
/// (a ticket's customer never changes), so the caller must check [`Beside::listed_customer`]
/// against the events and read [`chain_and_standing`] itself when the read model has not
/// listed the ticket yet.
pub async fn ticket_beside_chain(
    pool: &sqlx::PgPool,
    ticket: TicketId,
    after: u64,
) -> Result<(Vec<chain_store::RecordedEvent>, Beside), chain_store::StoreError> {
    let sql = format!(
        "SELECT {chain_and_standing}, t.customer_id AS listed_customer_id, e.*
         FROM (SELECT) one
         LEFT JOIN ticket_chains k ON k.ticket_id = $1
         LEFT JOIN tickets t ON t.ticket_id = $1
         LEFT JOIN customer_values c ON c.customer_id = t.customer_id
         LEFT JOIN LATERAL (
             SELECT {columns} FROM events
             WHERE aggregate_type = $2 AND aggregate_id = $3 AND aggregate_version > $4
             ORDER BY aggregate_version) e ON true
         ORDER BY e.aggregate_version",
        chain_and_standing = chain_and_standing_columns!(),
        columns = chain_store::EVENT_COLUMNS
    );
    let stream = crate::streams::ticket_stream(ticket);
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(ticket.as_uuid())
        .bind(&stream.aggregate_type)
        .bind(&stream.aggregate_id)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await?;
    let Some(first) = rows.first() else {
        return Ok((Vec::new(), Beside::default()));
    };
    let (chain, standing) = chain_and_standing_of(first)?;
    let beside = Beside {
        chain,
        standing,
        listed_customer: first
            .try_get::<Option<Uuid>, _>("listed_customer_id")?
            .map(CustomerId::from_uuid),
    };
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        // A ticket without events is one row without an event.
        if row.try_get::<Option<Uuid>, _>("event_id")?.is_some() {
            events.push(chain_store::decode_event(row)?);
        }
    }
    Ok((events, beside))
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
