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

/// Writes request rows (at most one per request) and schedules, moves or removes their
/// deadlines, in one statement; a deadline new or moved to within [`DEADLINE_NOTICE`] sends
/// `NOTIFY chain_deadlines` at commit, so a deadline watch re-plans its sleep. A row older
/// than the one stored is left alone.
pub(crate) async fn write_requests(
    conn: &mut PgConnection,
    rows: &[RequestRow],
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&RequestRow) -> Uuid| rows.iter().map(f).collect::<Vec<_>>();
    let optional = |f: fn(&RequestRow) -> Option<Uuid>| rows.iter().map(f).collect::<Vec<_>>();
    let times =
        |f: fn(&RequestRow) -> Option<DateTime<Utc>>| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "WITH r AS (
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
             WHERE request_id = ANY (ARRAY(SELECT request_id FROM r WHERE deadline_at IS NULL)))
         SELECT pg_notify('chain_deadlines', '')
         WHERE EXISTS (SELECT 1 FROM scheduled WHERE due_at < $18)",
    )
    .bind(column(|r| r.request_id))
    .bind(column(|r| r.case_id))
    .bind(optional(|r| r.root_ticket_id))
    .bind(optional(|r| r.parent_request_id))
    .bind(optional(|r| r.parent_ticket_id))
    .bind(column(|r| r.consumer_team_id))
    .bind(column(|r| r.provider_team_id))
    .bind(rows.iter().map(|r| r.state).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.due_at).collect::<Vec<_>>())
    .bind(times(|r| r.projected_completion))
    .bind(rows.iter().map(|r| r.at_risk).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|r| r.cause_path.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|r| r.opened_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.version).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.view.as_slice()).collect::<Vec<_>>())
    .bind(times(|r| r.deadline.map(|(at, _)| at)))
    .bind(
        rows.iter()
            .map(|r| r.deadline.map(|(_, kind)| deadline_kind(kind)))
            .collect::<Vec<_>>(),
    )
    // Deadlines due before this need a deadline watch woken; see [`DEADLINE_NOTICE`].
    .bind(chain_rpc::clock::now() + DEADLINE_NOTICE)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The stored name of a deadline kind.
pub(crate) fn deadline_kind(kind: DeadlineKind) -> &'static str {
    match kind {
        DeadlineKind::Breach => "breach",
    }
}
