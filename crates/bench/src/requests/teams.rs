//! The teams and links the clients work on: a ring of teams, each serving the one before it
//! (team i+1 → team i), so every team is both a provider and a consumer, declared through the
//! API as an operator would.

use anyhow::Context as _;
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_rpc::actor::ACTOR_METADATA_KEY;
use chrono::TimeDelta;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;

/// Who creates the teams: any authenticated caller may, and a service name is one.
const ADMIN_ACTOR: &str = "requests-bench";
/// The operational level agreement of every link.
const OLA_HOURS: i64 = 48;

/// One provider → consumer link, seen from the clients that use it.
#[derive(Clone)]
pub struct LinkUnderTest {
    /// The consumer team, as the actor metadata value (it opens requests).
    pub consumer: AsciiMetadataValue,
    /// The provider team, as the actor metadata value (it commits and fulfils).
    pub provider: AsciiMetadataValue,
    /// The provider team's id, for OpenRequest.
    pub provider_team_id: String,
}

/// Creates `teams` teams and the ring of links between them.
pub async fn declare_ring(channel: Channel, teams: usize) -> anyhow::Result<Vec<LinkUnderTest>> {
    anyhow::ensure!(teams >= 2, "a ring needs at least two teams");
    let mut client = InternalRequestServiceClient::new(channel);
    let run = uuid::Uuid::now_v7().simple().to_string();
    let mut ids = Vec::with_capacity(teams);
    for i in 0..teams {
        let team = client
            .create_team(acting(
                ADMIN_ACTOR,
                pb::CreateTeamRequest {
                    idempotency_key: uuid::Uuid::now_v7().to_string(),
                    name: format!("Bench team {i} ({})", &run[24..]),
                    front_line: i == 0,
                },
            )?)
            .await
            .with_context(|| format!("CreateTeam {i}"))?
            .into_inner();
        ids.push(team.team_id);
    }
    let mut links = Vec::with_capacity(teams);
    for i in 0..teams {
        let consumer = &ids[i];
        let provider = &ids[(i + 1) % teams];
        client
            .declare_link(acting(
                provider,
                pb::DeclareLinkRequest {
                    idempotency_key: uuid::Uuid::now_v7().to_string(),
                    consumer_team_id: consumer.clone(),
                    ola: chain_proto::duration::from_chrono(TimeDelta::hours(OLA_HOURS)).ok(),
                    expected_version: 0,
                },
            )?)
            .await
            .with_context(|| format!("DeclareLink {provider} → {consumer}"))?;
        links.push(LinkUnderTest {
            consumer: actor(consumer)?,
            provider: actor(provider)?,
            provider_team_id: provider.clone(),
        });
    }
    Ok(links)
}

/// `message` as a call made by `who`.
fn acting<M>(who: &str, message: M) -> anyhow::Result<tonic::Request<M>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert(ACTOR_METADATA_KEY, actor(who)?);
    Ok(request)
}

/// `who` (a team id or a service name) as a metadata value.
fn actor(who: &str) -> anyhow::Result<AsciiMetadataValue> {
    who.parse()
        .with_context(|| format!("{who:?} is not a valid metadata value"))
}
