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

use super::recent::Folded;
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
        self.declared_link(LinkKey { provider, consumer }).await?;
        let span = tracing::Span::current();
        span.record("chain.request_id", tracing::field::display(request_id));
        span.record("chain.team", tracing::field::display(consumer));
        span.record(
            "chain.link",
            tracing::field::display(LinkKey { provider, consumer }),
        );
        span.record("chain.case_id", tracing::field::display(case_id.as_uuid()));
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
        if matches!(outcome, AppendOutcome::Appended { .. }) {
            let opened = Folded {
                state: batch.state,
                trigger: batch.trigger,
            };
            self.recent.wrote(request_id, opened);
        }
        respond(outcome, response)
    }

    /// Checks that the link `key` is declared: `NOT_FOUND` naming the provider otherwise.
    async fn declared_link(&self, key: LinkKey) -> Result<(), Status> {
        if self.recent.knows_link(&key) {
            return Ok(());
        }
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
        self.recent.saw_link(key);
        Ok(())
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

    /// Runs `command` on an existing request: fold it, check the expected version, decide,
    /// record, append. The fold is the one this replica remembers from its last append when it
    /// has one (see `recent`); anything but a clean append on a remembered fold is decided again
    /// on the stream as stored, so a stale memory never reaches the caller.
    async fn execute(
        &self,
        call: &RequestCall,
        command: RequestCommand,
    ) -> Result<pb::InternalRequest, Status> {
        let mut remembered = self.recent.request(call.request_id);
        let mut attempt = 0;
        loop {
            let trusted = remembered.is_none();
            let folded = match remembered.take() {
                Some(folded) => folded,
                None => {
                    attempt += 1;
                    self.fold(call.request_id).await?
                }
            };
            let decided = self.decide_and_append(call, &command, &folded).await;
            match decided {
                Attempt::Done(response) => return response,
                // Decided on a remembered fold: check against the stream as stored.
                _ if !trusted => self.recent.forget(call.request_id),
                Attempt::Unchanged => return self.present(&folded.state, folded.trigger).await,
                Attempt::Refused(refusal) => return self.refuse(&call.command, refusal).await,
                Attempt::Conflict(_)
                    if call.expected_version == 0 && attempt < COMMAND_ATTEMPTS =>
                {
                    tracing::debug!(request = %call.request_id, attempt, "lost a race; retrying");
                }
                Attempt::Conflict(error) => return Err(error.into_status()),
            }
        }
    }

    /// The request `id` folded from its stream as stored.
    async fn fold(&self, id: RequestId) -> Result<Folded, Status> {
        let loaded = load_request(&self.store, id)
            .await
            .map_err(LoadError::into_status)?;
        Ok(Folded {
            state: loaded.state,
            trigger: loaded.trigger,
        })
    }

    /// One attempt of `command` on `folded`: decide, record and append with its version.
    async fn decide_and_append(
        &self,
        call: &RequestCall,
        command: &RequestCommand,
        folded: &Folded,
    ) -> Attempt {
        let id = call.request_id;
        let Some(request) = folded.state.request.as_ref() else {
            return Attempt::Refused(status::not_found("request_id", "request", &id.to_string()));
        };
        let version = folded.state.version;
        let span = tracing::Span::current();
        span.record("chain.request_id", tracing::field::display(id));
        span.record("chain.team", tracing::field::display(call.actor));
        span.record("chain.link", tracing::field::display(request.link().key()));
        span.record(
            "chain.case_id",
            tracing::field::display(request.case_id.as_uuid()),
        );
        if call.expected_version != 0 && call.expected_version != version {
            let stream = request_stream(id);
            return Attempt::Refused(status::aborted(
                format!(
                    "request {id} is at version {version}, not the expected {}",
                    call.expected_version
                ),
                &stream.to_string(),
            ));
        }
        let events = match decide(command, &folded.state, clock::now()) {
            Ok(events) => events,
            Err(refused) => return Attempt::Refused(refusal(refused)),
        };
        if events.is_empty() {
            return Attempt::Unchanged;
        }
        let batch = match encode_batch(&self.store, &folded.state, &events).await {
            Ok(batch) => batch,
            Err(error) => return Attempt::Done(Err(error.into_status())),
        };
        let trigger = batch.trigger.or(folded.trigger);
        let response = match self.present(&batch.state, trigger).await {
            Ok(response) => response,
            Err(status) => return Attempt::Done(Err(status)),
        };
        let metadata = Self::metadata(&call.caller, &call.command, correlation(request.case_id));
        let record = call.command.record(&response);
        let appended = self
            .store
            .append(
                &request_stream(id),
                version,
                &batch.events,
                &metadata,
                Some(&record),
            )
            .await;
        match appended {
            Ok(outcome @ AppendOutcome::Appended { .. }) => {
                for event in &events {
                    match event {
                        chain_domain::request::RequestEvent::BreakdownReported { kind, .. } => {
                            tracing::info!(chain.request_id = %id, breakdown = ?kind, "request broken down");
                        }
                        chain_domain::request::RequestEvent::Revised { new_due, .. }
                            if *new_due > request.needed_by =>
                        {
                            tracing::info!(chain.request_id = %id, "request revised past its need");
                        }
                        _ => {}
                    }
                }
                let state = batch.state;
                self.recent.wrote(id, Folded { state, trigger });
                Attempt::Done(respond(outcome, response))
            }
            Ok(replayed) => {
                self.recent.forget(id);
                Attempt::Done(respond(replayed, response))
            }
            Err(error @ StoreError::Conflict { .. }) => Attempt::Conflict(error),
            Err(error) => Attempt::Done(Err(error.into_status())),
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

/// How one attempt of a command on an existing request ended.
#[allow(
    clippy::large_enum_variant,
    reason = "one value per command, moved once: boxing would only add an allocation"
)]
enum Attempt {
    /// Answered: the response, or an error no second attempt would change.
    Done(Result<pb::InternalRequest, Status>),
    /// Decided on the fold, nothing to append.
    Unchanged,
    /// Refused on the fold it was decided on.
    Refused(Status),
    /// Another writer appended first.
    Conflict(StoreError),
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
