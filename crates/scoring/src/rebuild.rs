//! Rebuild: recompute every projection from the event history into fresh tables, and the
//! digest that shows it equals the live projections.
//!
//! **Source: the producers' event stores, through their `ReadEvents` RPC** (or, in-process, the
//! store itself: [`EventSource::Store`], which reads the very same `read_all`). Not JetStream:
//! PostgreSQL is the source of truth, the Debian nats-server flushes its store only every
//! 60 s and may have lost or aged out messages, and a stream read from the start returns what
//! the relay happened to publish (republished copies included) rather than the history itself.
//! `ReadEvents` pages in commit order from a position, so a rebuild reads each history once,
//! completely, without touching the live consumers.
//!
//! Steps: read the requests, tickets and scoring (feedback only) histories; decode and
//! [`ProjectionState::apply`] every event in memory (events that do not decode are skipped
//! and counted, as live consumption parks them); derive every row once; write them into a new
//! schema made like the live tables; read them back and hash them. The rebuilt schema is left
//! for inspection (or for swapping in); [`Tables::drop`] removes it.

use std::collections::BTreeMap;
use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_client::InternalRequestServiceClient;
use chain_proto::customerchain::v1::satisfaction_service_client::SatisfactionServiceClient;
use chain_proto::customerchain::v1::ticket_service_client::TicketServiceClient;
use chain_relay::to_envelope;
use chain_store::{EventStore, Position};
use futures::StreamExt;
use sqlx::PgPool;
use tonic::transport::Channel;

use crate::codec::{InputStore, decode};
use crate::projection::{
    ProjectionConfig, ProjectionRows, ProjectionState, Tables, TablesError, digest,
};

/// Events asked for per `ReadEvents` call (the servers' maximum).
const PAGE: u32 = 10_000;

/// Why a rebuild failed.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// An event store could not be read.
    #[error("cannot read the {store} history: {reason}")]
    Read {
        /// The store.
        store: InputStore,
        /// Why.
        reason: String,
    },
    /// The projection tables could not be written or read.
    #[error(transparent)]
    Tables(#[from] TablesError),
    /// A producer could not be reached.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// Where.
        url: String,
        /// Why.
        reason: String,
    },
}

/// Where one input store's history is read from.
#[derive(Debug, Clone)]
pub enum EventSource {
    /// The store itself (in-process; the same read as `ReadEvents`).
    Store(EventStore),
    /// requests-svc's `ReadEvents`.
    Requests(InternalRequestServiceClient<Channel>),
    /// tickets-svc's `ReadEvents`.
    Tickets(TicketServiceClient<Channel>),
    /// scoring-svc's own `ReadEvents`.
    Scoring(SatisfactionServiceClient<Channel>),
}

impl EventSource {
    /// The `ReadEvents` RPC of the producer of `store` at `url` (e.g. `http://127.0.0.1:50051`).
    pub async fn connect(store: InputStore, url: &str) -> Result<Self, RebuildError> {
        let channel = tonic::transport::Endpoint::from_shared(url.to_owned())
            .map_err(|e| RebuildError::Connect {
                url: url.to_owned(),
                reason: e.to_string(),
            })?
            .connect()
            .await
            .map_err(|e| RebuildError::Connect {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(match store {
            InputStore::Requests => Self::Requests(InternalRequestServiceClient::new(channel)),
            InputStore::Tickets => Self::Tickets(TicketServiceClient::new(channel)),
            InputStore::Scoring => Self::Scoring(SatisfactionServiceClient::new(channel)),
        })
    }

    /// Up to `limit` events after `after` (a position; empty for the start), in commit order.
    async fn page(
        &mut self,
        store: InputStore,
        after: &str,
        limit: u32,
    ) -> Result<Vec<pb::EventEnvelope>, RebuildError> {
        let read_error = |reason: String| RebuildError::Read { store, reason };
        let request = pb::ReadEventsRequest {
            after_position: after.to_owned(),
            limit,
        };
        let mut stream = match self {
            Self::Store(events) => {
                let from = if after.is_empty() {
                    Position::START
                } else {
                    after.parse().map_err(read_error)?
                };
                // As `ReadEvents` reads, but waiting as long as it takes: a rebuild in-process
                // has no caller to answer `UNAVAILABLE` to.
                let read = events
                    .read_committed(from, limit, Duration::MAX)
                    .await
                    .map_err(|e| read_error(e.to_string()))?;
                return Ok(read.iter().map(to_envelope).collect());
            }
            Self::Requests(client) => client.read_events(actor(request)).await,
            Self::Tickets(client) => client.read_events(actor(request)).await,
            Self::Scoring(client) => client.read_events(actor(request)).await,
        }
        .map_err(|status| read_error(status.to_string()))?
        .into_inner();
        let mut page = Vec::new();
        while let Some(envelope) = stream.next().await {
            page.push(envelope.map_err(|status| read_error(status.to_string()))?);
        }
        Ok(page)
    }

    /// The whole history, in commit order.
    pub async fn history(
        &mut self,
        store: InputStore,
    ) -> Result<Vec<pb::EventEnvelope>, RebuildError> {
        // Every page holds what had committed when it was asked for (`read_committed`, also
        // behind `ReadEvents`), so an empty page is the end of the history as it stood then,
        // never an older transaction elsewhere on the server holding the read back.
        let mut events = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.page(store, &after, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok(events);
            };
            if last.position.is_empty() {
                return Err(RebuildError::Read {
                    store,
                    reason: "an event came without its position".into(),
                });
            }
            after = last.position.clone();
            events.extend(page);
        }
    }
}

/// A request that names the rebuilding service as its caller.
fn actor<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    chain_rpc::Caller::Service(crate::SERVICE_ACTOR.to_owned()).insert_into(request.metadata_mut());
    request
}

/// What a replay in memory did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Events applied, per store.
    pub applied: BTreeMap<InputStore, u64>,
    /// Events that did not decode (live consumption parks them), per store.
    pub skipped: BTreeMap<InputStore, u64>,
}

/// Applies `events` of `store` to `state`, in order: the projection core alone, no IO.
pub fn replay(
    state: &mut ProjectionState,
    store: InputStore,
    events: &[pb::EventEnvelope],
    replayed: &mut Replayed,
) {
    for envelope in events {
        if !store.consumes(&envelope.aggregate_type) {
            continue;
        }
        match decode(store, envelope) {
            Ok(input) => {
                state.apply(&input);
                *replayed.applied.entry(store).or_insert(0) += 1;
            }
            Err(error) => {
                tracing::warn!(%store, event_id = %envelope.event_id, %error, "event skipped");
                *replayed.skipped.entry(store).or_insert(0) += 1;
            }
        }
    }
}

/// What a rebuild produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// The schema holding the rebuilt projections.
    pub schema: String,
    /// Their digest (read back from the tables).
    pub digest: String,
    /// The digest of the rows computed in memory, before writing (equal to `digest` unless
    /// writing lost something).
    pub memory_digest: String,
    /// Events applied and skipped.
    pub replayed: Replayed,
    /// Rows written.
    pub rows: usize,
}

/// Rebuilds every projection from the three histories into the fresh schema `schema` of the
/// service's database `pool` (whose migrations have run).
pub async fn rebuild(
    pool: &PgPool,
    sources: [(InputStore, EventSource); 3],
    config: &ProjectionConfig,
    schema: &str,
) -> Result<RebuildReport, RebuildError> {
    let tables = Tables::in_schema(schema)?;
    let mut state = ProjectionState::new();
    let mut replayed = Replayed::default();
    for (store, mut source) in sources {
        let history = source.history(store).await?;
        replay(&mut state, store, &history, &mut replayed);
    }
    let rows = ProjectionRows::of_state(&state, config);
    let memory_digest = digest(&rows);
    tables.create(pool).await?;
    let mut tx = pool.begin().await.map_err(TablesError::from)?;
    tables.write(&mut tx, &rows).await?;
    for (store, count) in state.applied() {
        tables.add_progress(&mut tx, *store, *count).await?;
    }
    tx.commit().await.map_err(TablesError::from)?;
    let mut conn = pool.acquire().await.map_err(TablesError::from)?;
    let written = tables.rows(&mut conn).await?;
    Ok(RebuildReport {
        schema: schema.to_owned(),
        digest: digest(&written),
        memory_digest,
        replayed,
        rows: rows.len(),
    })
}

/// The digest of the live projections and the events they hold per store, read in one
/// consistent snapshot.
pub async fn live_digest(pool: &PgPool) -> Result<(String, BTreeMap<String, u64>), TablesError> {
    schema_digest(pool, &Tables::live()).await
}

/// The digest of the projections in `tables` and their progress, in one snapshot.
pub async fn schema_digest(
    pool: &PgPool,
    tables: &Tables,
) -> Result<(String, BTreeMap<String, u64>), TablesError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let rows = tables.rows(&mut tx).await?;
    let progress = tables.progress(&mut tx).await?;
    tx.commit().await?;
    Ok((digest(&rows), progress))
}
