//! The service's streams — `team/<team id>`, `link/<link id>`, `request/<request id>` — and
//! loading an aggregate by folding its stream.
//!
//! A link is identified by its (provider, consumer) pair, so its id is derived from the pair
//! (a name-based UUID, version 5): any replica declaring the same pair writes to the same
//! stream, and the optimistic concurrency of the store settles a race between two first
//! declarations.

use chain_domain::ids::{RequestId, TeamId};
use chain_domain::link::{self, LinkKey, LinkState};
use chain_domain::request::{self, RequestEvent, RequestState};
use chain_domain::team::{self, TeamState};
use chain_proto::customerchain::v1 as pb;
use chain_rpc::IntoStatus;
use chain_store::{EventStore, RecordedEvent, StoreError, StreamId};
use tonic::Status;
use uuid::Uuid;

use crate::codec::{CodecError, RequestStreamDecoder, StoredEvent, decode_link, decode_team};

/// The aggregate type of team streams.
pub const TEAM: &str = "team";
/// The aggregate type of link streams.
pub const LINK: &str = "link";
/// The aggregate type of request streams.
pub const REQUEST: &str = "request";

/// The namespace of link ids (UUID v5 of `"<provider>-><consumer>"`).
const LINK_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_5a4e_2b7d_4f0e_9a3c_8d5e_7b1c_0a42);

/// The id of the link `key`.
pub fn link_id(key: &LinkKey) -> Uuid {
    Uuid::new_v5(&LINK_NAMESPACE, key.to_string().as_bytes())
}

/// The stream of a team.
pub fn team_stream(id: TeamId) -> StreamId {
    StreamId::new(TEAM, id.to_string())
}

/// The stream of a link.
pub fn link_stream(key: &LinkKey) -> StreamId {
    StreamId::new(LINK, link_id(key).to_string())
}

/// The stream of a request.
pub fn request_stream(id: RequestId) -> StreamId {
    StreamId::new(REQUEST, id.to_string())
}

/// Why an aggregate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored event does not decode.
    #[error("stream {stream}: {source}")]
    Codec {
        /// The stream.
        stream: StreamId,
        /// Why.
        #[source]
        source: CodecError,
    },
}

impl LoadError {
    /// The gRPC status: the store's mapping, or `INTERNAL` for undecodable history.
    pub fn into_status(self) -> Status {
        match self {
            Self::Store(error) => error.into_status(),
            Self::Codec { stream, source } => {
                tracing::error!(%stream, error = %source, "stored events do not decode");
                chain_rpc::status::internal()
            }
        }
    }
}

/// A team folded from its stream.
pub async fn load_team(store: &EventStore, id: TeamId) -> Result<TeamState, LoadError> {
    let stream = team_stream(id);
    let recorded = store.load_stream(&stream).await?;
    let events = recorded
        .iter()
        .map(|e| decode_team(StoredEvent::from(e)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| LoadError::Codec { stream, source })?;
    Ok(team::fold(&events))
}

/// A link folded from its stream.
pub async fn load_link(store: &EventStore, key: &LinkKey) -> Result<LinkState, LoadError> {
    let stream = link_stream(key);
    let recorded = store.load_stream(&stream).await?;
    let events = recorded
        .iter()
        .map(|e| decode_link(StoredEvent::from(e)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| LoadError::Codec { stream, source })?;
    Ok(link::fold(&events))
}

/// A request folded from its stream, with its events and what the wire adds to them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadedRequest {
    /// The folded state.
    pub state: RequestState,
    /// The events, oldest first.
    pub events: Vec<RequestEvent>,
    /// The trigger of the latest `RequestAtRisk`.
    pub trigger: Option<pb::RiskTrigger>,
}

impl LoadedRequest {
    /// The request, once opened.
    pub fn request(&self) -> Option<&request::Request> {
        self.state.request.as_ref()
    }
}

/// A request folded from its stream (empty state when it does not exist).
pub async fn load_request(store: &EventStore, id: RequestId) -> Result<LoadedRequest, LoadError> {
    let stream = request_stream(id);
    let recorded = store.load_stream(&stream).await?;
    decode_request_stream(&recorded).map_err(|source| LoadError::Codec { stream, source })
}

/// Decodes and folds one request's stored events.
pub fn decode_request_stream(recorded: &[RecordedEvent]) -> Result<LoadedRequest, CodecError> {
    let mut decoder = RequestStreamDecoder::new();
    let events = recorded
        .iter()
        .map(|e| decoder.decode(StoredEvent::from(e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LoadedRequest {
        state: request::fold(&events),
        events,
        trigger: decoder.last_trigger(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_id_depends_on_the_pair_and_its_direction_only() {
        let a = TeamId::from_uuid(Uuid::from_u128(1));
        let b = TeamId::from_uuid(Uuid::from_u128(2));
        let ab = LinkKey {
            provider: a,
            consumer: b,
        };
        let ba = LinkKey {
            provider: b,
            consumer: a,
        };
        assert_eq!(link_id(&ab), link_id(&ab));
        assert_ne!(link_id(&ab), link_id(&ba));
        assert_eq!(link_id(&ab).get_version_num(), 5);
        assert_eq!(link_stream(&ab).aggregate_type, LINK);
    }
}
