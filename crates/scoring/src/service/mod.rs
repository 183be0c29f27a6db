//! `SatisfactionService`: thin RPC handlers over the projections.
//!
//! - `RecordFeedback` validates its request (`INVALID_ARGUMENT` naming the field), checks the
//!   ticket or request against the projections (`NOT_FOUND`; feedback about a request only
//!   from its consumer team, `PERMISSION_DENIED` otherwise), and appends `FeedbackRecorded`
//!   with an idempotency record, the comment going into `scoring_feedback_comments` in the same
//!   transaction, never into the event, the idempotency record, logs or spans;
//! - the queries read the projections (eventually consistent with the input events);
//! - `WatchScores` and `ReadEvents` read scoring's own event store in commit order;
//! - `GetProjectionDigest` hashes the live projections in one snapshot.

mod feedback;
mod queries;
mod watch;

use std::pin::Pin;

use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::satisfaction_service_server::{
    SatisfactionService, SatisfactionServiceServer,
};
use chain_rpc::access::Rules;
use chain_rpc::{Access, Authorised};
use chain_store::EventStore;
use futures::Stream;
use tonic::{Request, Response, Status};

use chain_store::{ChangeFeed, LogTail};

/// The largest request message the service decodes (a comment is at most 2,000 characters).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The longest feedback comment, in characters.
pub const MAX_COMMENT_CHARS: usize = 2_000;

/// A server stream of the service.
pub type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The satisfaction scoring service.
#[derive(Debug, Clone)]
pub struct ScoringService {
    store: EventStore,
    /// The log's live end, read once for all of this replica's watch streams.
    tail: LogTail,
}

impl ScoringService {
    /// A service on `store` (scoring's own database, holding the projections too), whose
    /// watch streams share one reader of the log woken by `feed` (run
    /// [`ChangeFeed::run`] beside it).
    pub fn new(store: EventStore, feed: ChangeFeed) -> Self {
        Self {
            tail: LogTail::new(store.clone(), feed),
            store,
        }
    }

    /// The tonic server for this service, with the decode limit [`MAX_MESSAGE_BYTES`].
    pub fn into_server(self) -> Authorised<SatisfactionServiceServer<Self>> {
        Authorised::new(
            SatisfactionServiceServer::new(self).max_decoding_message_size(MAX_MESSAGE_BYTES),
            ACCESS,
        )
    }
}

#[tonic::async_trait]
impl SatisfactionService for ScoringService {
    async fn record_feedback(
        &self,
        request: Request<pb::RecordFeedbackRequest>,
    ) -> Result<Response<pb::Feedback>, Status> {
        self.record_feedback(request).await.map(Response::new)
    }

    async fn get_score(
        &self,
        request: Request<pb::GetScoreRequest>,
    ) -> Result<Response<pb::Score>, Status> {
        self.get_score(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_link_health(
        &self,
        request: Request<pb::ListLinkHealthRequest>,
    ) -> Result<Response<pb::ListLinkHealthResponse>, Status> {
        self.list_link_health(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_impacts(
        &self,
        request: Request<pb::ListImpactsRequest>,
    ) -> Result<Response<pb::ListImpactsResponse>, Status> {
        self.list_impacts(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_impact_summary(
        &self,
        request: Request<pb::GetImpactSummaryRequest>,
    ) -> Result<Response<pb::ImpactSummary>, Status> {
        self.get_impact_summary(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn list_at_risk_customers(
        &self,
        request: Request<pb::ListAtRiskCustomersRequest>,
    ) -> Result<Response<pb::ListAtRiskCustomersResponse>, Status> {
        self.list_at_risk_customers(request.into_inner())
            .await
            .map(Response::new)
    }

    type WatchScoresStream = ServerStream<pb::WatchScoresResponse>;

    async fn watch_scores(
        &self,
        request: Request<pb::WatchScoresRequest>,
    ) -> Result<Response<Self::WatchScoresStream>, Status> {
        self.watch_scores(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_projection_digest(
        &self,
        _request: Request<pb::GetProjectionDigestRequest>,
    ) -> Result<Response<pb::ProjectionDigest>, Status> {
        self.get_projection_digest().await.map(Response::new)
    }

    type ReadEventsStream = ServerStream<pb::EventEnvelope>;

    async fn read_events(
        &self,
        request: Request<pb::ReadEventsRequest>,
    ) -> Result<Response<Self::ReadEventsStream>, Status> {
        self.read_events(request.into_inner())
            .await
            .map(Response::new)
    }
}

/// Who may call each RPC; anything else is refused (see `chain_rpc::access`). Reading the log
/// and the projection's digest is for services.
pub const ACCESS: Rules = &[
    ("RecordFeedback", Access::Anyone),
    ("GetScore", Access::Anyone),
    ("ListLinkHealth", Access::Anyone),
    ("ListImpacts", Access::Anyone),
    ("GetImpactSummary", Access::Anyone),
    ("ListAtRiskCustomers", Access::Anyone),
    ("WatchScores", Access::Anyone),
    ("GetProjectionDigest", Access::Services),
    ("ReadEvents", Access::Services),
];
