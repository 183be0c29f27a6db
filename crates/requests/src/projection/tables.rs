//! Writing the read model: one statement per change, run on the projector's (inbox)
//! transaction so the change commits with the event's processed mark.

use chain_domain::deadline::DeadlineKind;
use chain_domain::ids::RequestId;
use chain_domain::link::LinkEvent;
use chain_domain::request::{Parent, Request};
use chain_domain::team::TeamEvent;
use chain_proto::customerchain::v1 as pb;
use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::PgConnection;
use uuid::Uuid;

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

/// Writes a request's row as of stream version `version`, with its API view.
pub(crate) async fn upsert_request(
    conn: &mut PgConnection,
    request: &Request,
    version: u64,
    view: &pb::InternalRequest,
) -> Result<(), sqlx::Error> {
    let (parent_request, parent_ticket) = match request.parent {
        Some(Parent::Request(r)) => (Some(r.as_uuid()), None),
        Some(Parent::Ticket(t)) => (None, Some(t.as_uuid())),
        None => (None, None),
    };
    let cause_path: Vec<Uuid> = request
        .risk
        .as_ref()
        .filter(|_| request.is_open())
        .map(|risk| {
            risk.cause_path
                .iter()
                .map(|l| l.request_id.as_uuid())
                .chain(std::iter::once(request.id.as_uuid()))
                .collect()
        })
        .unwrap_or_default();
    sqlx::query(
        "INSERT INTO requests (request_id, case_id, root_ticket_id, parent_request_id,
             parent_ticket_id, consumer_team_id, provider_team_id, state, due_at,
             projected_completion, at_risk, cause_path, opened_at, version, view)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (request_id) DO UPDATE SET
             state = EXCLUDED.state, due_at = EXCLUDED.due_at,
             projected_completion = EXCLUDED.projected_completion, at_risk = EXCLUDED.at_risk,
             cause_path = EXCLUDED.cause_path, version = EXCLUDED.version, view = EXCLUDED.view
         WHERE requests.version <= EXCLUDED.version",
    )
    .bind(request.id.as_uuid())
    .bind(request.case_id.as_uuid())
    .bind(request.case_id.ticket().map(|t| t.as_uuid()))
    .bind(parent_request)
    .bind(parent_ticket)
    .bind(request.consumer.as_uuid())
    .bind(request.provider.as_uuid())
    .bind(view::request_state(request).as_str_name())
    .bind(request.expected_by())
    .bind(request.projected_completion())
    .bind(request.is_at_risk())
    .bind(cause_path)
    .bind(request.opened_at)
    .bind(db_version(version))
    .bind(view.encode_to_vec())
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

/// Schedules (or moves, or removes) the request's deadline; a new or moved deadline sends
/// `NOTIFY chain_deadlines` at commit, so a deadline watch re-plans its sleep.
pub(crate) async fn schedule_deadline(
    conn: &mut PgConnection,
    request: RequestId,
    next: Option<(DateTime<Utc>, DeadlineKind)>,
) -> Result<(), sqlx::Error> {
    match next {
        Some((due_at, kind)) => {
            sqlx::query(
                "WITH scheduled AS (
                     INSERT INTO deadlines (request_id, due_at, kind) VALUES ($1, $2, $3)
                     ON CONFLICT (request_id) DO UPDATE
                     SET due_at = EXCLUDED.due_at, kind = EXCLUDED.kind
                     WHERE (deadlines.due_at, deadlines.kind)
                           IS DISTINCT FROM (EXCLUDED.due_at, EXCLUDED.kind)
                     RETURNING 1)
                 SELECT pg_notify('chain_deadlines', '') FROM scheduled",
            )
            .bind(request.as_uuid())
            .bind(due_at)
            .bind(deadline_kind(kind))
            .execute(&mut *conn)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM deadlines WHERE request_id = $1")
                .bind(request.as_uuid())
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}
