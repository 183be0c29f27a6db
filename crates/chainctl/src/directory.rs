//! Team names for ids, and ids for names: what lets the operator type `--team Transport` and
//! read "Transport → Workshop" instead of two UUIDs. Loaded once per command from ListTeams.

use std::collections::HashMap;

use chain_proto::customerchain::v1 as pb;

use crate::client::{Actor, RequestsClient, Service, call};
use crate::error::Failure;

/// The teams requests-svc knows, by id.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    names: HashMap<String, String>,
}

impl Directory {
    /// Every team, read page by page.
    pub async fn load(client: &RequestsClient, actor: &Actor) -> Result<Self, Failure> {
        let teams = all_teams(client, actor).await?;
        Ok(Self {
            names: teams.into_iter().map(|t| (t.team_id, t.name)).collect(),
        })
    }

    /// Adds teams known otherwise (ListTeams is a projection: it may not list a team created a
    /// moment ago).
    pub fn extend(&mut self, teams: impl IntoIterator<Item = (String, String)>) {
        self.names.extend(teams);
    }

    /// The team's name, or its id when unknown.
    pub fn name(&self, team_id: &str) -> String {
        self.names
            .get(team_id)
            .cloned()
            .unwrap_or_else(|| team_id.to_owned())
    }

    /// "Provider → Consumer" for a link.
    pub fn link(&self, provider: &str, consumer: &str) -> String {
        format!("{} → {}", self.name(provider), self.name(consumer))
    }

    /// [`Directory::resolve`] for an optional team: empty (no filter) when none is given.
    pub fn resolve_optional(&self, name_or_id: Option<&str>) -> Result<String, Failure> {
        name_or_id.map_or(Ok(String::new()), |team| self.resolve(team))
    }

    /// The id of the team `name_or_id` names: an id as is, or a name (case-insensitive).
    pub fn resolve(&self, name_or_id: &str) -> Result<String, Failure> {
        if self.names.contains_key(name_or_id) || uuid::Uuid::parse_str(name_or_id).is_ok() {
            return Ok(name_or_id.to_owned());
        }
        self.names
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(name_or_id))
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                let mut known: Vec<&str> = self.names.values().map(String::as_str).collect();
                known.sort_unstable();
                Failure::Usage(format!(
                    "no team is named {name_or_id:?}; teams: {}",
                    if known.is_empty() {
                        "none yet".to_owned()
                    } else {
                        known.join(", ")
                    }
                ))
            })
    }
}

/// Every team, following the page tokens.
pub async fn all_teams(client: &RequestsClient, actor: &Actor) -> Result<Vec<pb::Team>, Failure> {
    let mut teams = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = pb::ListTeamsRequest {
            page_size: 500,
            page_token: page_token.clone(),
            front_line_only: false,
        };
        let page = call(Service::Requests, "ListTeams", || {
            let mut client = client.clone();
            let request = actor.unary(request.clone());
            async move { client.list_teams(request).await }
        })
        .await?;
        teams.extend(page.teams);
        if page.next_page_token.is_empty() {
            return Ok(teams);
        }
        page_token = page.next_page_token;
    }
}
