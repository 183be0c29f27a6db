//! Links: a provider team declares that it serves a consumer team under an operational level
//! agreement (or declares it again with a new one), and links are listed.

use chain_domain::ids::TeamId;
use chain_domain::link::{self, Link, LinkCommand, LinkKey, LinkState};
use chain_proto::customerchain::v1 as pb;
use chain_rpc::page::PageRequest;
use chain_rpc::status::database_error;
use chain_rpc::{Caller, IdempotentCommand, IntoStatus, clock, field, status};
use chain_store::AppendOutcome;
use chrono::TimeDelta;
use sqlx::Row;
use tonic::{Request as Call, Status};
use uuid::Uuid;

use super::{RequestService, refusal};
use crate::codec::encode_link;
use crate::streams::{LoadError, link_id, link_stream, load_link, load_team};
use crate::view;

impl RequestService {
    pub(super) async fn declare_link(
        &self,
        call: Call<pb::DeclareLinkRequest>,
    ) -> Result<pb::Link, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let provider = caller.team()?;
        let key = std::mem::take(&mut message.idempotency_key);
        let command = IdempotentCommand::new("DeclareLink", &caller, key, &message)?;
        let consumer: TeamId = field::id("consumer_team_id", &message.consumer_team_id)?;
        let ola = field::duration("ola", message.ola.as_ref())?;
        let provider_team = load_team(&self.store, provider)
            .await
            .map_err(LoadError::into_status)?;
        if provider_team.team.is_none() {
            return Err(status::unauthenticated(format!(
                "the calling team {provider} does not exist"
            )));
        }
        if provider != consumer {
            let consumer_team = load_team(&self.store, consumer)
                .await
                .map_err(LoadError::into_status)?;
            if consumer_team.team.is_none() {
                return Err(status::not_found(
                    "consumer_team_id",
                    "team",
                    &consumer.to_string(),
                ));
            }
        }
        let key = LinkKey { provider, consumer };
        let state = load_link(&self.store, &key)
            .await
            .map_err(LoadError::into_status)?;
        if message.expected_version != 0 && message.expected_version != state.version {
            let stale = status::aborted(
                format!(
                    "link {key} is at version {}, not the expected {}",
                    state.version, message.expected_version
                ),
                &link_stream(&key).to_string(),
            );
            return self.refuse(&command, stale).await;
        }
        let declare = LinkCommand::Declare {
            provider,
            consumer,
            ola,
        };
        let events = match link::decide(&declare, &state, clock::now()) {
            Ok(events) => events,
            Err(refused) => return self.refuse(&command, refusal(refused)).await,
        };
        if events.is_empty() {
            return present(&state);
        }
        let after = events.iter().fold(state.clone(), link::evolve);
        let response = present(&after)?;
        let stored: Vec<_> = events.iter().map(encode_link).collect();
        let metadata = Self::metadata(&caller, &command, link_id(&key).to_string());
        let outcome = self
            .store
            .append(
                &link_stream(&key),
                state.version,
                &stored,
                &metadata,
                Some(&command.record(&response)),
            )
            .await
            .map_err(IntoStatus::into_status)?;
        match outcome {
            AppendOutcome::Appended { .. } => Ok(response),
            AppendOutcome::Replayed { response } => IdempotentCommand::decode(&response),
        }
    }

    pub(super) async fn list_links(
        &self,
        call: Call<pb::ListLinksRequest>,
    ) -> Result<pb::ListLinksResponse, Status> {
        let message = call.into_inner();
        let provider: Option<TeamId> =
            field::optional_id("provider_team_id", &message.provider_team_id)?;
        let consumer: Option<TeamId> =
            field::optional_id("consumer_team_id", &message.consumer_team_id)?;
        let filter = format!("provider={provider:?};consumer={consumer:?}");
        let page: PageRequest<Uuid> =
            PageRequest::parse(message.page_size, &message.page_token, filter.as_bytes())?;
        let rows = sqlx::query(
            "SELECT link_id, provider_team_id, consumer_team_id, ola_ms, declared_at, version
             FROM links
             WHERE ($1::uuid IS NULL OR provider_team_id = $1)
               AND ($2::uuid IS NULL OR consumer_team_id = $2)
               AND ($3::uuid IS NULL OR link_id > $3)
             ORDER BY link_id
             LIMIT $4",
        )
        .bind(provider.map(|p| p.as_uuid()))
        .bind(consumer.map(|c| c.as_uuid()))
        .bind(page.after().copied())
        .bind(page.fetch_limit())
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| database_error(&e))?;
        let rows = rows
            .iter()
            .map(|row| {
                let id: Uuid = row.try_get("link_id")?;
                let link = Link {
                    key: LinkKey {
                        provider: TeamId::from_uuid(row.try_get("provider_team_id")?),
                        consumer: TeamId::from_uuid(row.try_get("consumer_team_id")?),
                    },
                    ola: TimeDelta::milliseconds(row.try_get("ola_ms")?),
                    declared_at: row.try_get("declared_at")?,
                };
                let version: i64 = row.try_get("version")?;
                Ok((id, view::link(&link, u64::try_from(version).unwrap_or(0))))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|e| database_error(&e))?;
        let (rows, next_page_token) = page.finish(rows, |(id, _)| *id);
        Ok(pb::ListLinksResponse {
            links: rows.into_iter().map(|(_, link)| link).collect(),
            next_page_token,
        })
    }
}

fn present(state: &LinkState) -> Result<pb::Link, Status> {
    state
        .link
        .as_ref()
        .map(|link| view::link(link, state.version))
        .ok_or_else(status::internal)
}
