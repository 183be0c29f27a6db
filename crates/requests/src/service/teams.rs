//! Teams: create, rename, get, list. Team names are unique (case-insensitive): a name is
//! reserved in `team_names` in the same transaction as the team's events, so two teams never
//! end up with one name even when created at the same moment on two replicas.

use chain_domain::field::MAX_NAME_CHARS;
use chain_domain::ids::TeamId;
use chain_domain::team::{self, TeamCommand, TeamState};
use chain_proto::customerchain::v1 as pb;
use chain_rpc::page::PageRequest;
use chain_rpc::status::database_error;
use chain_rpc::{Caller, IdempotentCommand, IntoStatus, clock, field, status};
use chain_store::{AppendOutcome, EventStore, append_in};
use sqlx::{PgConnection, Row};
use tonic::{Request as Call, Status};
use uuid::Uuid;

use super::{RequestService, refusal};
use crate::codec::encode_team;
use crate::projection::tables::name_key;
use crate::streams::{LoadError, load_team, team_stream};
use crate::view;

impl RequestService {
    pub(super) async fn create_team(
        &self,
        call: Call<pb::CreateTeamRequest>,
    ) -> Result<pb::Team, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let command = IdempotentCommand::new("CreateTeam", &caller, key, &message)?;
        let name = field::text("name", &message.name, MAX_NAME_CHARS)?;
        let team_id = TeamId::from_uuid(Uuid::now_v7());
        let create = TeamCommand::Create {
            team_id,
            name: name.clone(),
            front_line: message.front_line,
        };
        let events = match team::decide(&create, &TeamState::default(), clock::now()) {
            Ok(events) => events,
            Err(refused) => return self.refuse(&command, refusal(refused)).await,
        };
        let response = present(&team::fold(&events))?;
        let mut tx = self
            .store
            .pool()
            .begin()
            .await
            .map_err(|e| database_error(&e))?;
        if !reserve_name(&mut tx, &name, team_id).await? {
            drop(tx);
            let taken = status::already_exists("name", "team", &name);
            return self.refuse(&command, taken).await;
        }
        let stored: Vec<_> = events.iter().map(encode_team).collect();
        let metadata = Self::metadata(&caller, &command, team_id.to_string());
        let outcome = append_in(
            &mut *tx,
            &team_stream(team_id),
            0,
            &stored,
            &metadata,
            Some(&command.record(&response)),
        )
        .await
        .map_err(IntoStatus::into_status)?;
        finish(&self.store, tx, outcome, response).await
    }

    pub(super) async fn rename_team(
        &self,
        call: Call<pb::RenameTeamRequest>,
    ) -> Result<pb::Team, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let command = IdempotentCommand::new("RenameTeam", &caller, key, &message)?;
        let team_id: TeamId = field::id("team_id", &message.team_id)?;
        let name = field::text("name", &message.name, MAX_NAME_CHARS)?;
        let state = load_team(&self.store, team_id)
            .await
            .map_err(LoadError::into_status)?;
        let Some(current) = state.team.as_ref() else {
            return Err(status::not_found("team_id", "team", &team_id.to_string()));
        };
        if caller.team()? != team_id {
            let denied = status::permission_denied(format!("only team {team_id} may rename it"));
            return self.refuse(&command, denied).await;
        }
        if message.expected_version != 0 && message.expected_version != state.version {
            let stale = status::aborted(
                format!(
                    "team {team_id} is at version {}, not the expected {}",
                    state.version, message.expected_version
                ),
                &team_stream(team_id).to_string(),
            );
            return self.refuse(&command, stale).await;
        }
        let rename = TeamCommand::Rename { name: name.clone() };
        let events = match team::decide(&rename, &state, clock::now()) {
            Ok(events) => events,
            Err(refused) => return self.refuse(&command, refusal(refused)).await,
        };
        if events.is_empty() {
            return present(&state);
        }
        let after = events.iter().fold(state.clone(), team::evolve);
        let response = present(&after)?;
        let mut tx = self
            .store
            .pool()
            .begin()
            .await
            .map_err(|e| database_error(&e))?;
        if name_key(&name) != name_key(&current.name) {
            if !reserve_name(&mut tx, &name, team_id).await? {
                drop(tx);
                let taken = status::already_exists("name", "team", &name);
                return self.refuse(&command, taken).await;
            }
            sqlx::query("DELETE FROM team_names WHERE name_key = $1 AND team_id = $2")
                .bind(name_key(&current.name))
                .bind(team_id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(|e| database_error(&e))?;
        }
        let stored: Vec<_> = events.iter().map(encode_team).collect();
        let metadata = Self::metadata(&caller, &command, team_id.to_string());
        let outcome = append_in(
            &mut *tx,
            &team_stream(team_id),
            state.version,
            &stored,
            &metadata,
            Some(&command.record(&response)),
        )
        .await
        .map_err(IntoStatus::into_status)?;
        finish(&self.store, tx, outcome, response).await
    }

    pub(super) async fn get_team(
        &self,
        call: Call<pb::GetTeamRequest>,
    ) -> Result<pb::Team, Status> {
        let team_id: TeamId = field::id("team_id", &call.get_ref().team_id)?;
        let state = load_team(&self.store, team_id)
            .await
            .map_err(LoadError::into_status)?;
        if state.team.is_none() {
            return Err(status::not_found("team_id", "team", &team_id.to_string()));
        }
        present(&state)
    }

    pub(super) async fn list_teams(
        &self,
        call: Call<pb::ListTeamsRequest>,
    ) -> Result<pb::ListTeamsResponse, Status> {
        let message = call.into_inner();
        let filter = format!("front_line_only={}", message.front_line_only);
        let page: PageRequest<(String, Uuid)> =
            PageRequest::parse(message.page_size, &message.page_token, filter.as_bytes())?;
        let (after_name, after_id) = page.after().cloned().unzip();
        let rows = sqlx::query(
            "SELECT team_id, name, name_key, front_line, created_at, version FROM teams
             WHERE (NOT $1 OR front_line)
               AND ($2::text IS NULL OR (name_key, team_id) > ($2, $3))
             ORDER BY name_key, team_id
             LIMIT $4",
        )
        .bind(message.front_line_only)
        .bind(after_name)
        .bind(after_id)
        .bind(page.fetch_limit())
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| database_error(&e))?;
        let rows = rows
            .iter()
            .map(|row| {
                let id: Uuid = row.try_get("team_id")?;
                let team = team::Team {
                    id: TeamId::from_uuid(id),
                    name: row.try_get("name")?,
                    front_line: row.try_get("front_line")?,
                    created_at: row.try_get("created_at")?,
                };
                let version: i64 = row.try_get("version")?;
                let key: String = row.try_get("name_key")?;
                Ok((
                    key,
                    id,
                    view::team(&team, u64::try_from(version).unwrap_or(0)),
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| database_error(&e))?;
        let (rows, next_page_token) = page.finish(rows, |(key, id, _)| (key.clone(), *id));
        Ok(pb::ListTeamsResponse {
            teams: rows.into_iter().map(|(_, _, team)| team).collect(),
            next_page_token,
        })
    }
}

/// Reserves `name` for `team`; false when another team holds it.
async fn reserve_name(conn: &mut PgConnection, name: &str, team: TeamId) -> Result<bool, Status> {
    let reserved = sqlx::query(
        "INSERT INTO team_names (name_key, team_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(name_key(name))
    .bind(team.as_uuid())
    .execute(conn)
    .await
    .map_err(|e| database_error(&e))?
    .rows_affected();
    Ok(reserved == 1)
}

/// Commits a team command's transaction, or, when the key was seen before, rolls it back
/// (undoing the name reservation) and returns the first response.
async fn finish(
    store: &EventStore,
    tx: sqlx::Transaction<'_, sqlx::Postgres>,
    outcome: AppendOutcome,
    response: pb::Team,
) -> Result<pb::Team, Status> {
    match outcome {
        AppendOutcome::Appended { .. } => {
            tx.commit().await.map_err(|e| database_error(&e))?;
            // Appended inside our own transaction: tell the relay now that it committed.
            store.signal_appended();
            Ok(response)
        }
        AppendOutcome::Replayed { response } => {
            drop(tx);
            IdempotentCommand::decode(&response)
        }
    }
}

fn present(state: &TeamState) -> Result<pb::Team, Status> {
    state
        .team
        .as_ref()
        .map(|team| view::team(team, state.version))
        .ok_or_else(status::internal)
}
