//! The request commands: open, commit, revise, fulfil, cancel, report and resolve a
//! breakdown. Opening builds the request's place in its case; every other command runs the
//! same pipeline on an existing request ([`RequestService::execute`]).

use chain_domain::commitment::CommitmentKind;
use chain_domain::field::{MAX_REASON_CHARS, MAX_TITLE_CHARS};
use chain_domain::ids::{CaseId, RequestId, TeamId};
use chain_domain::link::LinkKey;
use chain_domain::request::{
    BreakdownKind, OpenRequest, Parent, Request, RequestCommand, RequestState, decide,
};
use chain_proto::customerchain::v1 as pb;
use chain_rpc::{Caller, IdempotentCommand, IntoStatus, clock, field, status};
use chain_store::{AppendOutcome, StoreError};
use chrono::{DateTime, Utc};
use tonic::{Request as Call, Status};
use uuid::Uuid;

use super::{COMMAND_ATTEMPTS, RequestService, correlation, refusal};
use crate::record::{encode_batch, load_children};
use crate::streams::{LoadError, load_link, load_request, request_stream};
use crate::view;

/// One command on an existing request, as its RPC hands it in.
struct RequestCall {
    caller: Caller,
    actor: TeamId,
    command: IdempotentCommand,
    request_id: RequestId,
    expected_version: u64,
}

impl RequestCall {
    /// Reads the parts every command on an existing request has. `rpc` names the scope of the
    /// idempotency key; `request` is the message with its key taken out.
    fn new<M: prost::Message>(
        rpc: &str,
        caller: Caller,
        key: String,
        request: &M,
        request_id: &str,
        expected_version: u64,
    ) -> Result<Self, Status> {
        let actor = caller.team()?;
        let command = IdempotentCommand::new(rpc, &caller, key, request)?;
        Ok(Self {
            caller,
            actor,
            command,
            request_id: field::id("request_id", request_id)?,
            expected_version,
        })
    }
}

impl RequestService {
    pub(super) async fn open_request(
        &self,
        call: Call<pb::OpenRequestRequest>,
    ) -> Result<pb::InternalRequest, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let consumer = caller.team()?;
        let key = std::mem::take(&mut message.idempotency_key);
        let command = IdempotentCommand::new("OpenRequest", &caller, key, &message)?;
        let provider: TeamId = field::id("provider_team_id", &message.provider_team_id)?;
        let title = field::text("title", &message.title, MAX_TITLE_CHARS)?;
        let needed_by = field::timestamp("needed_by", message.needed_by.as_ref())?;
        let parent = match &message.parent {
            None => None,
            Some(pb::open_request_request::Parent::ParentRequestId(id)) => {
                Some(Parent::Request(field::id("parent_request_id", id)?))
            }
            Some(pb::open_request_request::Parent::ParentTicketId(id)) => {
                Some(Parent::Ticket(field::id("parent_ticket_id", id)?))
            }
        };
        if provider == consumer {
            return Err(status::invalid_argument(
                "provider_team_id",
                "a team cannot ask itself",
            ));
        }
        let request_id = RequestId::from_uuid(Uuid::now_v7());
        let case_id = match parent {
            None => CaseId::Request(request_id),
            Some(Parent::Ticket(ticket)) => CaseId::Ticket(ticket),
            Some(Parent::Request(parent_id)) => {
                let loaded = load_request(&self.store, parent_id)
                    .await
                    .map_err(LoadError::into_status)?;
                let Some(parent) = loaded.request() else {
                    return Err(status::not_found(
                        "parent_request_id",
                        "request",
                        &parent_id.to_string(),
                    ));
                };
                if parent.provider != consumer {
                    let denied = status::permission_denied(format!(
                        "only the provider of request {parent_id} may open requests that serve it"
                    ));
                    return self.refuse(&command, denied).await;
                }
                if let Err(closed) = parent.accepts_child(consumer) {
                    return self.refuse(&command, refusal(closed)).await;
                }
                parent.case_id
            }
        };
        // The parent is checked first: a caller not allowed to serve it learns nothing more.
        let key = LinkKey { provider, consumer };
        let link = load_link(&self.store, &key)
            .await
            .map_err(LoadError::into_status)?;
        if link.link.is_none() {
            return Err(status::not_found(
                "provider_team_id",
                "link",
                &key.to_string(),
            ));
        }
        let open = RequestCommand::Open(OpenRequest {
            request_id,
            case_id,
            consumer,
            provider,
            title,
            needed_by,
            parent,
        });
        let empty = RequestState::default();
        let events = match decide(&open, &empty, clock::now()) {
            Ok(events) => events,
            Err(refused) => return self.refuse(&command, refusal(refused)).await,
        };
        let batch = encode_batch(&self.store, &empty, &events)
            .await
            .map_err(LoadError::into_status)?;
        let response = self.present(&batch.state, batch.trigger).await?;
        let metadata = Self::metadata(&caller, &command, correlation(case_id));
        let outcome = self
            .store
            .append(
                &request_stream(request_id),
                0,
                &batch.events,
                &metadata,
                Some(&command.record(&response)),
            )
            .await
            .map_err(IntoStatus::into_status)?;
        respond(outcome, response)
    }

    pub(super) async fn commit_request(
        &self,
        call: Call<pb::CommitRequestRequest>,
    ) -> Result<pb::InternalRequest, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = RequestCall::new(
            "CommitRequest",
            caller,
            key,
            &message,
            &message.request_id,
            message.expected_version,
        )?;
        let kind = commitment_kind(field::enumeration("kind", message.kind)?);
        let due_at = match field::optional_timestamp("due_at", message.due_at.as_ref())? {
            Some(due_at) => due_at,
            None => self.ola_due_at(call.request_id).await?,
        };
        let actor = call.actor;
        self.execute(
            &call,
            RequestCommand::Commit {
                actor,
                due_at,
                kind,
            },
        )
        .await
    }

    pub(super) async fn revise_request(
        &self,
        call: Call<pb::ReviseRequestRequest>,
    ) -> Result<pb::InternalRequest, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = RequestCall::new(
            "ReviseRequest",
            caller,
            key,
            &message,
            &message.request_id,
            message.expected_version,
        )?;
        let new_due_at = field::timestamp("new_due_at", message.new_due_at.as_ref())?;
        let reason = field::text("reason", &message.reason, MAX_REASON_CHARS)?;
        let actor = call.actor;
        self.execute(
            &call,
            RequestCommand::Revise {
                actor,
                new_due_at,
                reason,
            },
        )
        .await
    }

    pub(super) async fn fulfil_request(
        &self,
        call: Call<pb::FulfilRequestRequest>,
    ) -> Result<pb::InternalRequest, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = RequestCall::new(
            "FulfilRequest",
            caller,
            key,
            &message,
            &message.request_id,
            message.expected_version,
        )?;
        let actor = call.actor;
        self.execute(&call, RequestCommand::Fulfil { actor }).await
    }

    pub(super) async fn cancel_request(
        &self,
        call: Call<pb::CancelRequestRequest>,
    ) -> Result<pb::InternalRequest, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = RequestCall::new(
            "CancelRequest",
            caller,
            key,
            &message,
            &message.request_id,
            message.expected_version,
        )?;
        let reason = field::text("reason", &message.reason, MAX_REASON_CHARS)?;
        let actor = call.actor;
        self.execute(&call, RequestCommand::Cancel { actor, reason })
            .await
    }

    pub(super) async fn report_breakdown(
        &self,
        call: Call<pb::ReportBreakdownRequest>,
    ) -> Result<pb::InternalRequest, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = RequestCall::new(
            "ReportBreakdown",
            caller,
            key,
            &message,
            &message.request_id,
            message.expected_version,
        )?;
        let kind = match field::enumeration("kind", message.kind)? {
            pb::BreakdownKind::NotServedWell => BreakdownKind::NotServedWell,
            // `enumeration` refuses the unspecified zero.
            pb::BreakdownKind::NotUsable | pb::BreakdownKind::Unspecified => {
                BreakdownKind::NotUsable
            }
        };
        let reason = field::text("reason", &message.reason, MAX_REASON_CHARS)?;
        let actor = call.actor;
        self.execute(
            &call,
            RequestCommand::ReportBreakdown {
                actor,
                kind,
                reason,
            },
        )
        .await
    }

    pub(super) async fn resolve_breakdown(
        &self,
        call: Call<pb::ResolveBreakdownRequest>,
    ) -> Result<pb::InternalRequest, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = RequestCall::new(
            "ResolveBreakdown",
            caller,
            key,
            &message,
            &message.request_id,
            message.expected_version,
        )?;
        let actor = call.actor;
        self.execute(&call, RequestCommand::ResolveBreakdown { actor })
            .await
    }

    /// The due time a commitment without one gets: now plus the link's OLA.
    async fn ola_due_at(&self, id: RequestId) -> Result<DateTime<Utc>, Status> {
        let loaded = load_request(&self.store, id)
            .await
            .map_err(LoadError::into_status)?;
        let request = loaded
            .request()
            .ok_or_else(|| status::not_found("request_id", "request", &id.to_string()))?;
        let key = request.link().key();
        let link = load_link(&self.store, &key)
            .await
            .map_err(LoadError::into_status)?;
        link.link
            .and_then(|link| link.default_due_at(clock::now()))
            .ok_or_else(|| {
                status::invalid_argument(
                    "due_at",
                    format!("is required: no link {key} declares an OLA to default to"),
                )
            })
    }

    /// Runs `command` on an existing request: load and fold, check the expected version,
    /// decide, record, append.
    async fn execute(
        &self,
        call: &RequestCall,
        command: RequestCommand,
    ) -> Result<pb::InternalRequest, Status> {
        let stream = request_stream(call.request_id);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let loaded = load_request(&self.store, call.request_id)
                .await
                .map_err(LoadError::into_status)?;
            let Some(request) = loaded.request() else {
                let missing =
                    status::not_found("request_id", "request", &call.request_id.to_string());
                return self.refuse(&call.command, missing).await;
            };
            let version = loaded.state.version;
            if call.expected_version != 0 && call.expected_version != version {
                let stale = status::aborted(
                    format!(
                        "request {} is at version {version}, not the expected {}",
                        call.request_id, call.expected_version
                    ),
                    &stream.to_string(),
                );
                return self.refuse(&call.command, stale).await;
            }
            let now = clock::now();
            let events = match decide(&command, &loaded.state, now) {
                Ok(events) => events,
                Err(refused) => return self.refuse(&call.command, refusal(refused)).await,
            };
            if events.is_empty() {
                return self.present(&loaded.state, loaded.trigger).await;
            }
            let batch = encode_batch(&self.store, &loaded.state, &events)
                .await
                .map_err(LoadError::into_status)?;
            let response = self
                .present(&batch.state, batch.trigger.or(loaded.trigger))
                .await?;
            let metadata =
                Self::metadata(&call.caller, &call.command, correlation(request.case_id));
            let appended = self
                .store
                .append(
                    &stream,
                    version,
                    &batch.events,
                    &metadata,
                    Some(&call.command.record(&response)),
                )
                .await;
            match appended {
                Ok(outcome) => return respond(outcome, response),
                Err(StoreError::Conflict { .. })
                    if call.expected_version == 0 && attempt < COMMAND_ATTEMPTS =>
                {
                    tracing::debug!(request = %call.request_id, attempt, "lost a race; retrying");
                }
                Err(error) => return Err(error.into_status()),
            }
        }
    }

    /// A request as the API returns it, with its time ledger as of now.
    pub(super) async fn present(
        &self,
        state: &RequestState,
        trigger: Option<pb::RiskTrigger>,
    ) -> Result<pb::InternalRequest, Status> {
        let Some(request) = state.request.as_ref() else {
            return Err(status::internal());
        };
        let children = load_children(&self.store, request)
            .await
            .map_err(LoadError::into_status)?;
        let kids: Vec<&Request> = children.iter().collect();
        let spent = chain_domain::ledger::ledger(request, &kids, clock::now());
        Ok(view::request(request, state.version, trigger, Some(&spent)))
    }
}

/// The response of an append: the one just built, or the first attempt's.
fn respond(
    outcome: AppendOutcome,
    response: pb::InternalRequest,
) -> Result<pb::InternalRequest, Status> {
    match outcome {
        AppendOutcome::Appended { .. } => Ok(response),
        AppendOutcome::Replayed { response } => IdempotentCommand::decode(&response),
    }
}

fn commitment_kind(kind: pb::CommitmentKind) -> CommitmentKind {
    match kind {
        pb::CommitmentKind::GeneralExpectation => CommitmentKind::GeneralExpectation,
        pb::CommitmentKind::PersonalPromise => CommitmentKind::PersonalPromise,
        // `enumeration` refuses the unspecified zero.
        pb::CommitmentKind::OrganisationalCommitment | pb::CommitmentKind::Unspecified => {
            CommitmentKind::OrganisationalCommitment
        }
    }
}
