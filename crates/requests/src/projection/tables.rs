//! Writing the read model on the projector's (inbox) transaction, so the change commits with
//! the events' processed marks: a statement per team or link change, one for all the request
//! rows and deadlines of a transaction.

use chain_domain::deadline::DeadlineKind;
use chain_domain::link::LinkEvent;
use chain_domain::request::{Parent, Request};
use chain_domain::team::TeamEvent;
use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

use super::DEADLINE_NOTICE;
use crate::streams::link_id;
use crate::view;

fn db_version(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// The key team names are unique by (case-insensitive).
pub(crate) fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Applies a team event at stream version `version`.
pub(crate) async fn apply_team(
    conn: &mut PgConnection,
    event: &TeamEvent,
    version: u64,
) -> Result<(), sqlx::Error> {
    match event {
        TeamEvent::Created {
            team_id,
            name,
            front_line,
            at,
        } => {
            sqlx::query(
                "INSERT INTO teams (team_id, name, name_key, front_line, created_at, version)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (team_id) DO NOTHING",
            )
            .bind(team_id.as_uuid())
            .bind(name)
            .bind(name_key(name))
            .bind(front_line)
            .bind(at)
            .bind(db_version(version))
            .execute(&mut *conn)
            .await?;
        }
        TeamEvent::Renamed { team_id, name, .. } => {
            sqlx::query(
                "UPDATE teams SET name = $2, name_key = $3, version = $4
                 WHERE team_id = $1 AND version < $4",
            )
            .bind(team_id.as_uuid())
            .bind(name)
            .bind(name_key(name))
            .bind(db_version(version))
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Applies a link event at stream version `version`.
pub(crate) async fn apply_link(
    conn: &mut PgConnection,
    event: &LinkEvent,
    version: u64,
) -> Result<(), sqlx::Error> {
    let (key, ola, at) = match event {
        LinkEvent::Declared { link, ola, at } | LinkEvent::OlaChanged { link, ola, at, .. } => {
            (link, ola, at)
        }
    };
    // A re-declaration keeps the first declaration time, as the domain's Link does.
    sqlx::query(
        "INSERT INTO links (link_id, provider_team_id, consumer_team_id, ola_ms, declared_at, version)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (link_id) DO UPDATE SET ola_ms = EXCLUDED.ola_ms, version = EXCLUDED.version
         WHERE links.version < EXCLUDED.version",
    )
    .bind(link_id(key))
    .bind(key.provider.as_uuid())
    .bind(key.consumer.as_uuid())
    .bind(ola.num_milliseconds())
    .bind(at)
    .bind(db_version(version))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A request's row as of stream version `version`, with its API view and its next deadline,
/// waiting for the end of the projector's transaction.
#[derive(Debug)]
pub(crate) struct RequestRow {
    request_id: Uuid,
    case_id: Uuid,
    root_ticket_id: Option<Uuid>,
    parent_request_id: Option<Uuid>,
    parent_ticket_id: Option<Uuid>,
    consumer_team_id: Uuid,
    provider_team_id: Uuid,
    state: &'static str,
    due_at: DateTime<Utc>,
    projected_completion: Option<DateTime<Utc>>,
    at_risk: bool,
    /// An array literal (`{id,id}`): a column of arrays does not bind as an array of arrays.
    cause_path: String,
    opened_at: DateTime<Utc>,
    version: i64,
    view: Vec<u8>,
    deadline: Option<(DateTime<Utc>, DeadlineKind)>,
}

impl RequestRow {
    /// The row of `request` at stream version `version`, shown as `view`, due to fire `deadline`.
    pub(crate) fn new(
        request: &Request,
        version: u64,
        view: &pb::InternalRequest,
        deadline: Option<(DateTime<Utc>, DeadlineKind)>,
    ) -> Self {
        let (parent_request_id, parent_ticket_id) = match request.parent {
            Some(Parent::Request(r)) => (Some(r.as_uuid()), None),
            Some(Parent::Ticket(t)) => (None, Some(t.as_uuid())),
            None => (None, None),
        };
        let cause_path: Vec<String> = request
            .risk
            .as_ref()
            .filter(|_| request.is_open())
            .map(|risk| {
                risk.cause_path
                    .iter()
                    .map(|l| l.request_id.to_string())
                    .chain(std::iter::once(request.id.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            request_id: request.id.as_uuid(),
            case_id: request.case_id.as_uuid(),
            root_ticket_id: request.case_id.ticket().map(|t| t.as_uuid()),
            parent_request_id,
            parent_ticket_id,
            consumer_team_id: request.consumer.as_uuid(),
            provider_team_id: request.provider.as_uuid(),
            state: view::request_state(request).as_str_name(),
            due_at: request.expected_by(),
            projected_completion: request.projected_completion(),
            at_risk: request.is_at_risk(),
            cause_path: format!("{{{}}}", cause_path.join(",")),
            opened_at: request.opened_at,
            version: db_version(version),
            view: view.encode_to_vec(),
            deadline,
        }
    }
}

/// The expressions writing request rows and their deadlines from the seventeen columns of
/// `$1`–`$17` (see [`RequestColumns`]): `written`, the rows (a row never goes back to an older
/// version), `scheduled`, each deadline new or moved (returning when it is due), and
/// `removed`, the deadlines of rows that have none.
macro_rules! request_rows_ctes {
    () => {
        "r AS (
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[],
                                  $6::uuid[], $7::uuid[], $8::text[], $9::timestamptz[],
                                  $10::timestamptz[], $11::bool[], $12::text[],
                                  $13::timestamptz[], $14::int8[], $15::bytea[],
                                  $16::timestamptz[], $17::text[])
                 AS r(request_id, case_id, root_ticket_id, parent_request_id, parent_ticket_id,
                      consumer_team_id, provider_team_id, state, due_at, projected_completion,
                      at_risk, cause_path, opened_at, version, view, deadline_at, deadline_kind)),
         written AS (
             INSERT INTO requests (request_id, case_id, root_ticket_id, parent_request_id,
                 parent_ticket_id, consumer_team_id, provider_team_id, state, due_at,
                 projected_completion, at_risk, cause_path, opened_at, version, view)
             SELECT request_id, case_id, root_ticket_id, parent_request_id, parent_ticket_id,
                    consumer_team_id, provider_team_id, state, due_at, projected_completion,
                    at_risk, cause_path::uuid[], opened_at, version, view
             FROM r
             ON CONFLICT (request_id) DO UPDATE SET
                 state = EXCLUDED.state, due_at = EXCLUDED.due_at,
                 projected_completion = EXCLUDED.projected_completion,
                 at_risk = EXCLUDED.at_risk, cause_path = EXCLUDED.cause_path,
                 version = EXCLUDED.version, view = EXCLUDED.view
             WHERE requests.version <= EXCLUDED.version),
         scheduled AS (
             INSERT INTO deadlines (request_id, due_at, kind)
             SELECT request_id, deadline_at, deadline_kind FROM r WHERE deadline_at IS NOT NULL
             ON CONFLICT (request_id) DO UPDATE
             SET due_at = EXCLUDED.due_at, kind = EXCLUDED.kind
             WHERE (deadlines.due_at, deadlines.kind)
                   IS DISTINCT FROM (EXCLUDED.due_at, EXCLUDED.kind)
             RETURNING due_at),
         -- Through the key whatever the plan (joined, a cached plan scanned the table).
         removed AS (
             DELETE FROM deadlines
             WHERE request_id = ANY (ARRAY(SELECT request_id FROM r WHERE deadline_at IS NULL)))"
    };
}

/// Writes request rows (at most one per request) and schedules, moves or removes their
/// deadlines, in one statement; a deadline new or moved to within [`DEADLINE_NOTICE`] sends
/// `NOTIFY chain_deadlines` at commit, so a deadline watch re-plans its sleep. A row older
/// than the one stored is left alone.
pub(crate) async fn write_requests(
    conn: &mut PgConnection,
    rows: Vec<RequestRow>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let query = sqlx::query(concat!(
        "WITH ",
        request_rows_ctes!(),
        "
         SELECT pg_notify('chain_deadlines', '')
         WHERE EXISTS (SELECT 1 FROM scheduled WHERE due_at < $18)",
    ));
    RequestColumns::of(rows)
        .bind(query)
        // Deadlines due before this need a deadline watch woken; see [`DEADLINE_NOTICE`].
        .bind(chain_rpc::clock::now() + DEADLINE_NOTICE)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// [`write_requests`] riding on the statement that appends the parents' reactions
/// ([`chain_store::PendingAppends::write_with`]); the rows back when there are none, or when
/// a row's deadline falls within [`DEADLINE_NOTICE`], which only [`write_requests`] can wake a
/// deadline watch for (seldom: deadlines are days ahead as a rule).
pub(crate) fn requests_rider(rows: Vec<RequestRow>) -> Result<chain_store::Rider, Vec<RequestRow>> {
    let notice = chain_rpc::clock::now() + DEADLINE_NOTICE;
    if rows.is_empty()
        || rows
            .iter()
            .any(|row| row.deadline.is_some_and(|(at, _)| at < notice))
    {
        return Err(rows);
    }
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        chain_store::shift_parameters(request_rows_ctes!(), chain_store::RIDER_FIRST_PARAMETER - 1)
    });
    let columns = RequestColumns::of(rows);
    Ok(chain_store::Rider::new(SQL.as_str(), move |query| {
        columns.bind(query)
    }))
}

/// The columns of request rows, as [`request_rows_ctes!`] numbers them.
struct RequestColumns {
    request_ids: Vec<Uuid>,
    case_ids: Vec<Uuid>,
    root_ticket_ids: Vec<Option<Uuid>>,
    parent_request_ids: Vec<Option<Uuid>>,
    parent_ticket_ids: Vec<Option<Uuid>>,
    consumer_team_ids: Vec<Uuid>,
    provider_team_ids: Vec<Uuid>,
    states: Vec<&'static str>,
    due_at: Vec<DateTime<Utc>>,
    projected_completions: Vec<Option<DateTime<Utc>>>,
    at_risk: Vec<bool>,
    cause_paths: Vec<String>,
    opened_at: Vec<DateTime<Utc>>,
    versions: Vec<i64>,
    views: Vec<Vec<u8>>,
    deadline_at: Vec<Option<DateTime<Utc>>>,
    deadline_kinds: Vec<Option<&'static str>>,
}

impl RequestColumns {
    fn of(rows: Vec<RequestRow>) -> Self {
        let mut columns = Self {
            request_ids: Vec::with_capacity(rows.len()),
            case_ids: Vec::with_capacity(rows.len()),
            root_ticket_ids: Vec::with_capacity(rows.len()),
            parent_request_ids: Vec::with_capacity(rows.len()),
            parent_ticket_ids: Vec::with_capacity(rows.len()),
            consumer_team_ids: Vec::with_capacity(rows.len()),
            provider_team_ids: Vec::with_capacity(rows.len()),
            states: Vec::with_capacity(rows.len()),
            due_at: Vec::with_capacity(rows.len()),
            projected_completions: Vec::with_capacity(rows.len()),
            at_risk: Vec::with_capacity(rows.len()),
            cause_paths: Vec::with_capacity(rows.len()),
            opened_at: Vec::with_capacity(rows.len()),
            versions: Vec::with_capacity(rows.len()),
            views: Vec::with_capacity(rows.len()),
            deadline_at: Vec::with_capacity(rows.len()),
            deadline_kinds: Vec::with_capacity(rows.len()),
        };
        for row in rows {
            columns.request_ids.push(row.request_id);
            columns.case_ids.push(row.case_id);
            columns.root_ticket_ids.push(row.root_ticket_id);
            columns.parent_request_ids.push(row.parent_request_id);
            columns.parent_ticket_ids.push(row.parent_ticket_id);
            columns.consumer_team_ids.push(row.consumer_team_id);
            columns.provider_team_ids.push(row.provider_team_id);
            columns.states.push(row.state);
            columns.due_at.push(row.due_at);
            columns.projected_completions.push(row.projected_completion);
            columns.at_risk.push(row.at_risk);
            columns.cause_paths.push(row.cause_path);
            columns.opened_at.push(row.opened_at);
            columns.versions.push(row.version);
            columns.views.push(row.view);
            columns.deadline_at.push(row.deadline.map(|(at, _)| at));
            columns
                .deadline_kinds
                .push(row.deadline.map(|(_, kind)| deadline_kind(kind)));
        }
        columns
    }

    fn bind(self, query: chain_store::PgQuery<'_>) -> chain_store::PgQuery<'_> {
        query
            .bind(self.request_ids)
            .bind(self.case_ids)
            .bind(self.root_ticket_ids)
            .bind(self.parent_request_ids)
            .bind(self.parent_ticket_ids)
            .bind(self.consumer_team_ids)
            .bind(self.provider_team_ids)
            .bind(self.states)
            .bind(self.due_at)
            .bind(self.projected_completions)
            .bind(self.at_risk)
            .bind(self.cause_paths)
            .bind(self.opened_at)
            .bind(self.versions)
            .bind(self.views)
            .bind(self.deadline_at)
            .bind(self.deadline_kinds)
    }
}

pub(crate) fn deadline_kind(kind: DeadlineKind) -> &'static str {
    match kind {
        DeadlineKind::Breach => "breach",
    }
}
