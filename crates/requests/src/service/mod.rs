//! `InternalRequestService`: thin RPC handlers. Each one decodes and validates its request
//! (`INVALID_ARGUMENT` naming the field), takes the caller from [`Caller`], loads and folds
//! the stream, lets the domain decide, and appends the events with the expected version and
//! an idempotency record holding the encoded response, which it builds from the folded new
//! state. The domain enforces the roles (only the provider commits, revises and fulfils;
//! only the consumer cancels and reports or resolves a breakdown).
//!
//! Versions: `expected_version` 0 means "don't check"; then a lost race with a concurrent
//! writer (propagation touching the same request, say) is retried here a few times before it
//! surfaces as `ABORTED`. Any other value must match the stream's version, or `ABORTED`.
//!
//! A retried command (same idempotency key and request) returns the first response and
//! appends nothing, even when deciding it again would now be refused.

mod case_traces;
mod commands;
mod links;
mod queries;
mod recent;
mod teams;
mod watch;

use std::pin::Pin;
use std::sync::Arc;

use chain_domain::DomainError;
use chain_domain::ids::CaseId;
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::internal_request_service_server::{
    InternalRequestService, InternalRequestServiceServer,
};
use chain_rpc::access::Rules;
use chain_rpc::{Access, Authorised, Caller, IdempotentCommand, IntoStatus};
use chain_store::{EventMetadata, EventStore};
use futures::Stream;
use prost::Message;
use tonic::{Request, Response, Status};

use chain_store::{ChangeFeed, LogTail};

/// The largest request message the service decodes: every request is small, so a big one is
/// a mistake or an attack.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// How often a command on an existing request is retried after losing a race, when the
/// caller did not ask for a specific version.
const COMMAND_ATTEMPTS: u32 = 3;

/// A server stream of the service.
pub type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The internal requests service.
#[derive(Debug, Clone)]
pub struct RequestService {
    store: EventStore,
    /// The log's live end, read once for all of this replica's watch streams.
    tail: LogTail,
    recent: Arc<recent::Recent>,
}

impl RequestService {
    /// A service on `store` (the service's own database), whose watch streams share one reader
    /// of the log woken by `feed` (run [`ChangeFeed::run`] beside it).
    pub fn new(store: EventStore, feed: ChangeFeed) -> Self {
        Self {
            tail: LogTail::new(store.clone(), feed),
            store,
            recent: Arc::default(),
        }
    }

    /// The tonic server for this service, with the decode limit [`MAX_MESSAGE_BYTES`].
    pub fn into_server(self) -> Authorised<InternalRequestServiceServer<Self>> {
        Authorised::new(
            InternalRequestServiceServer::new(self).max_decoding_message_size(MAX_MESSAGE_BYTES),
            ACCESS,
        )
    }

    /// The metadata of a command's events.
    fn metadata(
        caller: &Caller,
        command: &IdempotentCommand,
        correlation: String,
    ) -> EventMetadata {
        let trace = chain_telemetry::TraceContext::current().unwrap_or_default();
        EventMetadata::new(correlation, command.key(), caller.to_string()).traced(
            &trace.traceparent,
            &trace.tracestate,
            &trace.baggage,
        )
    }

    /// Reports `refusal` — unless the command was already carried out, in which case its
    /// first response is returned (an honest retry).
    async fn refuse<R: Message + Default>(
        &self,
        command: &IdempotentCommand,
        refusal: Status,
    ) -> Result<R, Status> {
        match command.replay::<R>(self.store.pool()).await? {
            Some(first) => Ok(first),
            None => Err(refusal),
        }
    }
}

/// The correlation id of a case's events.
fn correlation(case: CaseId) -> String {
    case.as_uuid().to_string()
}

/// A domain refusal as a status, with the domain's field names turned into the request's.
fn refusal(error: DomainError) -> Status {
    match error {
        DomainError::InvalidField { field, reason } => {
            let field = match field {
                "provider" => "provider_team_id",
                "consumer" => "consumer_team_id",
                "parent" => "parent_request_id",
                other => other,
            };
            chain_rpc::status::invalid_argument(field, reason)
        }
        other => other.into_status(),
    }
}

#[tonic::async_trait]
impl InternalRequestService for RequestService {
    async fn create_team(
        &self,
        request: Request<pb::CreateTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        self.create_team(request).await.map(Response::new)
    }

    async fn rename_team(
        &self,
        request: Request<pb::RenameTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        self.rename_team(request).await.map(Response::new)
    }

    async fn get_team(
        &self,
        request: Request<pb::GetTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        self.get_team(request).await.map(Response::new)
    }

    async fn list_teams(
        &self,
        request: Request<pb::ListTeamsRequest>,
    ) -> Result<Response<pb::ListTeamsResponse>, Status> {
        self.list_teams(request).await.map(Response::new)
    }

    async fn declare_link(
        &self,
        request: Request<pb::DeclareLinkRequest>,
    ) -> Result<Response<pb::Link>, Status> {
        self.declare_link(request).await.map(Response::new)
    }

    async fn list_links(
        &self,
        request: Request<pb::ListLinksRequest>,
    ) -> Result<Response<pb::ListLinksResponse>, Status> {
        self.list_links(request).await.map(Response::new)
    }

    async fn open_request(
        &self,
        request: Request<pb::OpenRequestRequest>,
    ) -> Result<Response<pb::InternalRequest>, Status> {
        self.open_request(request).await.map(Response::new)
    }

    async fn commit_request(
        &self,
        request: Request<pb::CommitRequestRequest>,
    ) -> Result<Response<pb::InternalRequest>, Status> {
        self.commit_request(request).await.map(Response::new)
    }

    async fn revise_request(
        &self,
        request: Request<pb::ReviseRequestRequest>,
    ) -> Result<Response<pb::InternalRequest>, Status> {
        self.revise_request(request).await.map(Response::new)
    }

    async fn fulfil_request(
        &self,
        request: Request<pb::FulfilRequestRequest>,
    ) -> Result<Response<pb::InternalRequest>, Status> {
        self.fulfil_request(request).await.map(Response::new)
    }

    async fn cancel_request(
        &self,
        request: Request<pb::CancelRequestRequest>,
    ) -> Result<Response<pb::InternalRequest>, Status> {
        self.cancel_request(request).await.map(Response::new)
    }

    async fn report_breakdown(
        &self,
        request: Request<pb::ReportBreakdownRequest>,
    ) -> Result<Response<pb::InternalRequest>, Status> {
        self.report_breakdown(request).await.map(Response::new)
    }

    async fn resolve_breakdown(
        &self,
        request: Request<pb::ResolveBreakdownRequest>,
    ) -> Result<Response<pb::InternalRequest>, Status> {
        self.resolve_breakdown(request).await.map(Response::new)
    }

    async fn get_request(
        &self,
        request: Request<pb::GetRequestRequest>,
    ) -> Result<Response<pb::InternalRequest>, Status> {
        self.get_request(request).await.map(Response::new)
    }

    async fn list_requests(
        &self,
        request: Request<pb::ListRequestsRequest>,
    ) -> Result<Response<pb::ListRequestsResponse>, Status> {
        self.list_requests(request).await.map(Response::new)
    }

    async fn get_case(
        &self,
        request: Request<pb::GetCaseRequest>,
    ) -> Result<Response<pb::Case>, Status> {
        self.get_case(request).await.map(Response::new)
    }

    type WatchRequestsStream = ServerStream<pb::WatchRequestsResponse>;

    async fn watch_requests(
        &self,
        request: Request<pb::WatchRequestsRequest>,
    ) -> Result<Response<Self::WatchRequestsStream>, Status> {
        self.watch_requests(request).await.map(Response::new)
    }

    type ReadEventsStream = ServerStream<pb::EventEnvelope>;

    async fn read_events(
        &self,
        request: Request<pb::ReadEventsRequest>,
    ) -> Result<Response<Self::ReadEventsStream>, Status> {
        self.read_events(request).await.map(Response::new)
    }
}

/// Who may call each RPC; anything else is refused (see `chain_rpc::access`). Commands on
/// requests act for a team; reading the log is for services.
pub const ACCESS: Rules = &[
    ("CreateTeam", Access::Anyone),
    ("RenameTeam", Access::Teams),
    ("GetTeam", Access::Anyone),
    ("ListTeams", Access::Anyone),
    ("DeclareLink", Access::Teams),
    ("ListLinks", Access::Anyone),
    ("OpenRequest", Access::Teams),
    ("CommitRequest", Access::Teams),
    ("ReviseRequest", Access::Teams),
    ("FulfilRequest", Access::Teams),
    ("CancelRequest", Access::Teams),
    ("ReportBreakdown", Access::Teams),
    ("ResolveBreakdown", Access::Teams),
    ("GetRequest", Access::Anyone),
    ("ListRequests", Access::Anyone),
    ("GetCase", Access::Anyone),
    ("WatchRequests", Access::Anyone),
    ("ReadEvents", Access::Services),
];
