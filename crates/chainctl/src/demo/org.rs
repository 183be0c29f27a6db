//! The demo organisation: a dozen teams (three on the front line) and the provider → consumer
//! links between them with their OLAs, shaped so that chains run three or four links deep.
//! Seeding is safe to repeat: teams found by name and links already declared are reused.

use std::collections::{HashMap, HashSet};

use chain_proto::customerchain::v1 as pb;
use chrono::TimeDelta;

use crate::client::{Service, call};
use crate::demo::chain::Chain;
use crate::directory::{Directory, all_teams};
use crate::error::Failure;
use crate::input::{key, wire_span};

/// The teams: name, and whether they serve external customers.
const TEAMS: [(&str, bool); 12] = [
    ("Sales", true),
    ("Support", true),
    ("Online Shop", true),
    ("Design", false),
    ("Workshop", false),
    ("Installation", false),
    ("Finance", false),
    ("Transport", false),
    ("Procurement", false),
    ("Quality", false),
    ("IT", false),
    ("Warehouse", false),
];

/// The links: provider, consumer, OLA in days. Every consumer sits above its providers, so a
/// chain never loops.
const LINKS: [(&str, &str, i64); 17] = [
    ("Workshop", "Sales", 10),
    ("Design", "Sales", 5),
    ("Finance", "Sales", 3),
    ("Installation", "Support", 5),
    ("IT", "Support", 2),
    ("Workshop", "Online Shop", 10),
    ("Transport", "Online Shop", 4),
    ("Warehouse", "Online Shop", 3),
    ("Transport", "Workshop", 4),
    ("Procurement", "Workshop", 6),
    ("Quality", "Workshop", 2),
    ("Transport", "Installation", 3),
    ("Quality", "Installation", 2),
    ("Procurement", "Design", 5),
    ("IT", "Finance", 2),
    ("Warehouse", "Transport", 2),
    ("Warehouse", "Procurement", 3),
];

/// A team of the demo organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether it serves external customers.
    pub front_line: bool,
}

/// The seeded organisation.
#[derive(Debug, Clone)]
pub struct Org {
    /// Every team.
    pub teams: Vec<Team>,
    /// For each consumer team id, the teams that serve it.
    pub providers: HashMap<String, Vec<Team>>,
    /// Names for ids, for the summary.
    pub directory: Directory,
}

impl Org {
    /// The team called `name` (case-insensitive).
    pub fn team(&self, name: &str) -> Result<&Team, Failure> {
        self.teams
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = self.teams.iter().map(|t| t.name.as_str()).collect();
                Failure::Usage(format!(
                    "no demo team is named {name:?}; teams: {}",
                    names.join(", ")
                ))
            })
    }

    /// The front-line teams that have someone to ask.
    pub fn front_line(&self) -> Vec<&Team> {
        self.teams
            .iter()
            .filter(|t| t.front_line && self.providers.contains_key(&t.id))
            .collect()
    }
}

/// Creates the teams and links that do not exist yet; returns how many of each it created.
pub async fn seed(chain: &Chain) -> Result<(Org, usize, usize), Failure> {
    let existing = all_teams(&chain.requests, &chain.operator).await?;
    let mut teams = Vec::new();
    let mut created_teams = 0;
    for (name, front_line) in TEAMS {
        let found = existing.iter().find(|t| t.name.eq_ignore_ascii_case(name));
        let id = match found {
            Some(team) => team.team_id.clone(),
            None => {
                created_teams += 1;
                create_team(chain, name, front_line).await?
            }
        };
        teams.push(Team {
            id,
            name: name.to_owned(),
            front_line,
        });
    }
    let by_name: HashMap<&str, &Team> = teams.iter().map(|t| (t.name.as_str(), t)).collect();
    let declared = declared_links(chain).await?;
    let mut providers: HashMap<String, Vec<Team>> = HashMap::new();
    let mut created_links = 0;
    for (provider, consumer, ola_days) in LINKS {
        let (Some(provider), Some(consumer)) = (by_name.get(provider), by_name.get(consumer))
        else {
            continue;
        };
        if !declared.contains(&(provider.id.clone(), consumer.id.clone())) {
            declare_link(chain, &provider.id, &consumer.id, ola_days).await?;
            created_links += 1;
        }
        providers
            .entry(consumer.id.clone())
            .or_default()
            .push((*provider).clone());
    }
    let mut directory = Directory::load(&chain.requests, &chain.operator).await?;
    directory.extend(teams.iter().map(|t| (t.id.clone(), t.name.clone())));
    Ok((
        Org {
            teams,
            providers,
            directory,
        },
        created_teams,
        created_links,
    ))
}

async fn create_team(chain: &Chain, name: &str, front_line: bool) -> Result<String, Failure> {
    let message = pb::CreateTeamRequest {
        idempotency_key: key(None),
        name: name.to_owned(),
        front_line,
    };
    let created = call(Service::Requests, "CreateTeam", || {
        let mut client = chain.requests.clone();
        let request = chain.operator.unary(message.clone());
        async move { client.create_team(request).await }
    })
    .await;
    match created {
        Ok(team) => Ok(team.team_id),
        // Another demo run created it a moment ago: use that one, once ListTeams (a
        // projection) shows it.
        Err(failure)
            if failure
                .status()
                .is_some_and(|s| s.code() == tonic::Code::AlreadyExists) =>
        {
            for _ in 0..50 {
                let teams = all_teams(&chain.requests, &chain.operator).await?;
                if let Some(team) = teams
                    .into_iter()
                    .find(|t| t.name.eq_ignore_ascii_case(name))
                {
                    return Ok(team.team_id);
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(failure)
        }
        Err(failure) => Err(failure),
    }
}

async fn declare_link(
    chain: &Chain,
    provider: &str,
    consumer: &str,
    ola_days: i64,
) -> Result<(), Failure> {
    let message = pb::DeclareLinkRequest {
        idempotency_key: key(None),
        consumer_team_id: consumer.to_owned(),
        ola: wire_span(TimeDelta::days(ola_days)),
        expected_version: 0,
    };
    let actor = crate::client::Actor::new(provider);
    call(Service::Requests, "DeclareLink", || {
        let mut client = chain.requests.clone();
        let request = actor.unary(message.clone());
        async move { client.declare_link(request).await }
    })
    .await
    .map(drop)
}

/// Every (provider, consumer) pair declared so far.
async fn declared_links(chain: &Chain) -> Result<HashSet<(String, String)>, Failure> {
    let mut pairs = HashSet::new();
    let mut page_token = String::new();
    loop {
        let message = pb::ListLinksRequest {
            page_size: 500,
            page_token: page_token.clone(),
            ..Default::default()
        };
        let page = call(Service::Requests, "ListLinks", || {
            let mut client = chain.requests.clone();
            let request = chain.operator.unary(message.clone());
            async move { client.list_links(request).await }
        })
        .await?;
        pairs.extend(
            page.links
                .into_iter()
                .map(|l| (l.provider_team_id, l.consumer_team_id)),
        );
        if page.next_page_token.is_empty() {
            return Ok(pairs);
        }
        page_token = page.next_page_token;
    }
}
