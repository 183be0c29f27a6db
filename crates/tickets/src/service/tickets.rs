//! The ticket commands: open, make a promise, notify the customer, record the customer's
//! answer, resolve. Opening creates the stream; every other command runs the same pipeline
//! on an existing ticket ([`TicketService::execute`]).
//!
//! `MakePromise` first brings the ticket up to date with its case tree (the chain view may
//! have seen requests for the ticket before the ticket existed here), then decides the
//! promise against the case's feasibility: a due time before the chain's earliest feasible
//! time is refused naming the critical link, unless the risk is acknowledged.

use chain_domain::commitment::CommitmentKind;
use chain_domain::field::MAX_TITLE_CHARS;
use chain_domain::ids::{TeamId, TicketId};
use chain_domain::ticket::{
    MakePromise, OpenTicket, Remedy, Ticket, TicketCommand, TicketState, TicketStatus, decide,
};
use chain_proto::customerchain::v1 as pb;
use chain_rpc::status::{aborted, database_error, invalid_argument, not_found, permission_denied};
use chain_rpc::{Caller, IdempotentCommand, IntoStatus, clock, field};
use chain_store::StoreError;
use tonic::{Request as Call, Status};
use uuid::Uuid;

use super::customers::money_field;
use super::{COMMAND_ATTEMPTS, TicketService, refusal, respond};
use crate::chain_view::case::{CaseError, TicketCase};
use crate::codec::{StoredEvent, commitment_kind_from, remedy_from};
use crate::record::{Context, encode_batch, observe_chain};
use crate::streams::{LoadError, load_ticket, ticket_stream};
use crate::tiers;

/// Longest promise wording, in characters (`MakePromiseRequest.wording`).
const MAX_WORDING_CHARS: usize = 1_000;
/// Longest notice message, note or remedy description, in characters.
const MAX_NOTE_CHARS: usize = 2_000;

/// One command on an existing ticket, as its RPC hands it in.
struct TicketCall {
    caller: Caller,
    actor: TeamId,
    command: IdempotentCommand,
    ticket_id: TicketId,
    expected_version: u64,
}

impl TicketCall {
    /// Reads the parts every command on an existing ticket has. `rpc` names the scope of the
    /// idempotency key; `request` is the message with its key taken out.
    fn new<M: prost::Message>(
        rpc: &str,
        caller: Caller,
        key: String,
        request: &M,
        ticket_id: &str,
        expected_version: u64,
    ) -> Result<Self, Status> {
        let actor = caller.team()?;
        let command = IdempotentCommand::new(rpc, &caller, key, request)?;
        Ok(Self {
            caller,
            actor,
            command,
            ticket_id: field::id("ticket_id", ticket_id)?,
            expected_version,
        })
    }
}

/// What a command needs besides the ticket: whether to bring it up to date with its case
/// first, and what to record beyond the domain events.
#[derive(Default)]
struct Needs {
    chain: bool,
    notice: Option<(String, pb::Remedy)>,
    note: String,
}

fn db(error: sqlx::Error) -> Status {
    database_error(&error)
}

impl TicketService {
    pub(super) async fn open_ticket(
        &self,
        call: Call<pb::OpenTicketRequest>,
    ) -> Result<pb::Ticket, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let command = IdempotentCommand::new("OpenTicket", &caller, key, &message)?;
        let customer_id = field::id("customer_id", &message.customer_id)?;
        let subject = field::text("subject", &message.subject, MAX_TITLE_CHARS)?;
        let front_line =
            match field::optional_id("front_line_team_id", &message.front_line_team_id)? {
                Some(team) => team,
                None => match &caller {
                    Caller::Team(team) => *team,
                    Caller::Service(_) => {
                        return Err(invalid_argument(
                            "front_line_team_id",
                            "is required when the caller is not a team",
                        ));
                    }
                },
            };
        let mut conn = self.store.pool().acquire().await.map_err(db)?;
        let Some(standing) = tiers::standing(&mut conn, customer_id).await.map_err(db)? else {
            let missing = not_found("customer_id", "customer", &customer_id.to_string());
            return self.refuse(&command, missing).await;
        };
        drop(conn);

        let ticket_id = TicketId::from_uuid(Uuid::now_v7());
        let open = TicketCommand::Open(OpenTicket {
            ticket_id,
            customer_id,
            subject,
            front_line,
            standing,
        });
        let empty = TicketState::default();
        let events = match decide(&open, &empty, clock::now()) {
            Ok(events) => events,
            Err(refused) => return self.refuse(&command, refusal(refused)).await,
        };
        let batch = encode_batch(&empty, &events, &Context::default());
        let response = self
            .present(&batch.state, batch.events.iter().map(StoredEvent::from))
            .await?;
        let metadata = Self::metadata(&caller, &command, ticket_id.to_string());
        let outcome = self
            .store
            .append(
                &ticket_stream(ticket_id),
                0,
                &batch.events,
                &metadata,
                Some(&command.record(&response)),
            )
            .await
            .map_err(IntoStatus::into_status)?;
        respond(outcome, response)
    }

    pub(super) async fn make_promise(
        &self,
        call: Call<pb::MakePromiseRequest>,
    ) -> Result<pb::Ticket, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = TicketCall::new(
            "MakePromise",
            caller,
            key,
            &message,
            &message.ticket_id,
            message.expected_version,
        )?;
        let due_at = field::timestamp("due_at", message.due_at.as_ref())?;
        let kind: pb::CommitmentKind = field::enumeration("kind", message.kind)?;
        let kind: CommitmentKind =
            commitment_kind_from(kind).ok_or_else(|| invalid_argument("kind", "is required"))?;
        let wording = field::text("wording", &message.wording, MAX_WORDING_CHARS)?;
        let acknowledge_risk = message.acknowledge_risk;
        let needs = Needs {
            chain: true,
            ..Needs::default()
        };
        self.execute(&call, needs, |_, case| {
            Ok(TicketCommand::MakePromise(MakePromise {
                due_at,
                kind,
                wording: wording.clone(),
                acknowledge_risk,
                feasibility: case.and_then(TicketCase::feasibility),
            }))
        })
        .await
    }

    pub(super) async fn notify_customer(
        &self,
        call: Call<pb::NotifyCustomerRequest>,
    ) -> Result<pb::Ticket, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = TicketCall::new(
            "NotifyCustomer",
            caller,
            key,
            &message,
            &message.ticket_id,
            message.expected_version,
        )?;
        let new_expected_at =
            field::timestamp("new_expected_at", message.new_expected_at.as_ref())?;
        let offered = message
            .remedy
            .as_ref()
            .ok_or_else(|| invalid_argument("remedy", "is required (REMEDY_KIND_NONE for none)"))?;
        let kind: pb::RemedyKind = field::enumeration("remedy.kind", offered.kind)?;
        let remedy: Remedy =
            remedy_from(kind).ok_or_else(|| invalid_argument("remedy.kind", "is required"))?;
        let description =
            field::optional_text("remedy.description", &offered.description, MAX_NOTE_CHARS)?
                .unwrap_or_default();
        let credit = match (&offered.credit, remedy) {
            (None, _) => None,
            (Some(credit), Remedy::Credit) => Some(crate::codec::money(money_field(
                "remedy.credit",
                Some(credit),
            )?)),
            (Some(_), _) => {
                return Err(invalid_argument(
                    "remedy.credit",
                    "is only for REMEDY_KIND_CREDIT",
                ));
            }
        };
        let text =
            field::optional_text("message", &message.message, MAX_NOTE_CHARS)?.unwrap_or_default();
        let mut recorded = pb::Remedy {
            description,
            credit,
            ..pb::Remedy::default()
        };
        recorded.set_kind(kind);
        let needs = Needs {
            notice: Some((text, recorded)),
            ..Needs::default()
        };
        self.execute(&call, needs, |ticket, _| {
            // The customer is told of a later time than the promise in force, never an earlier.
            if ticket.status == TicketStatus::Promised
                && let Some(promise) = &ticket.promise
                && new_expected_at <= promise.due_at
            {
                return Err(invalid_argument(
                    "new_expected_at",
                    format!(
                        "must be after the promise's due time {}",
                        promise.due_at.to_rfc3339()
                    ),
                ));
            }
            Ok(TicketCommand::NotifyCustomer {
                new_expected_at,
                remedy,
            })
        })
        .await
    }

    pub(super) async fn record_customer_response(
        &self,
        call: Call<pb::RecordCustomerResponseRequest>,
    ) -> Result<pb::Ticket, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = TicketCall::new(
            "RecordCustomerResponse",
            caller,
            key,
            &message,
            &message.ticket_id,
            message.expected_version,
        )?;
        let note = field::optional_text("note", &message.note, MAX_NOTE_CHARS)?.unwrap_or_default();
        let accepted = message.accepted;
        let needs = Needs {
            note,
            ..Needs::default()
        };
        self.execute(&call, needs, |_, _| {
            Ok(TicketCommand::RecordCustomerResponse { accepted })
        })
        .await
    }

    pub(super) async fn resolve_ticket(
        &self,
        call: Call<pb::ResolveTicketRequest>,
    ) -> Result<pb::Ticket, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let call = TicketCall::new(
            "ResolveTicket",
            caller,
            key,
            &message,
            &message.ticket_id,
            message.expected_version,
        )?;
        let delivered = message.delivered;
        self.execute(&call, Needs::default(), |_, _| {
            Ok(TicketCommand::Resolve { delivered })
        })
        .await
    }

    /// Runs a command on an existing ticket: load and fold it, check the caller is its
    /// front-line team and the expected version, bring it up to date with its case when
    /// `needs.chain`, decide `build`'s command, and append with the idempotency record.
    async fn execute(
        &self,
        call: &TicketCall,
        needs: Needs,
        build: impl Fn(&Ticket, Option<&TicketCase>) -> Result<TicketCommand, Status>,
    ) -> Result<pb::Ticket, Status> {
        let stream = ticket_stream(call.ticket_id);
        let mut attempt = 1;
        loop {
            let loaded = load_ticket(&self.store, call.ticket_id)
                .await
                .map_err(LoadError::into_status)?;
            let Some(ticket) = loaded.ticket() else {
                let missing = not_found("ticket_id", "ticket", &call.ticket_id.to_string());
                return self.refuse(&call.command, missing).await;
            };
            if ticket.front_line != call.actor {
                let denied = permission_denied(format!(
                    "only the ticket's front-line team {} may do this",
                    ticket.front_line
                ));
                return self.refuse(&call.command, denied).await;
            }
            if call.expected_version != 0 && call.expected_version != loaded.state.version {
                let stale = aborted(
                    format!(
                        "{stream} is at version {}, not {}: read it again and retry",
                        loaded.state.version, call.expected_version
                    ),
                    &stream.to_string(),
                );
                return self.refuse(&call.command, stale).await;
            }
            let now = clock::now();
            let case = if needs.chain {
                Some(self.case(call.ticket_id).await?)
            } else {
                None
            };
            let command = match build(ticket, case.as_ref()) {
                Ok(command) => command,
                Err(refused) => return self.refuse(&call.command, refused).await,
            };
            let (mut events, state) = match &case {
                Some(case) => {
                    let mut conn = self.store.pool().acquire().await.map_err(db)?;
                    let standing = tiers::standing(&mut conn, ticket.customer_id)
                        .await
                        .map_err(db)?
                        .unwrap_or(ticket.standing);
                    observe_chain(&loaded.state, case, standing, now).map_err(refusal)?
                }
                None => (Vec::new(), loaded.state.clone()),
            };
            match decide(&command, &state, now) {
                Ok(decided) => events.extend(decided),
                Err(refused) => return self.refuse(&call.command, refusal(refused)).await,
            }
            if events.is_empty() {
                return self
                    .present(&loaded.state, loaded.recorded.iter().map(StoredEvent::from))
                    .await;
            }
            let context = Context {
                case: case.as_ref(),
                source_event_id: String::new(),
                notice: needs.notice.clone(),
                note: needs.note.clone(),
            };
            let batch = encode_batch(&loaded.state, &events, &context);
            let stored = loaded
                .recorded
                .iter()
                .map(StoredEvent::from)
                .chain(batch.events.iter().map(StoredEvent::from));
            let response = self.present(&batch.state, stored).await?;
            let metadata = Self::metadata(&call.caller, &call.command, call.ticket_id.to_string());
            match self
                .store
                .append(
                    &stream,
                    loaded.state.version,
                    &batch.events,
                    &metadata,
                    Some(&call.command.record(&response)),
                )
                .await
            {
                Ok(outcome) => return respond(outcome, response),
                Err(StoreError::Conflict { .. })
                    if call.expected_version == 0 && attempt < COMMAND_ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(error) => return Err(error.into_status()),
            }
        }
    }

    /// The case tree behind a ticket, as the chain view knows it now.
    async fn case(&self, ticket: TicketId) -> Result<TicketCase, Status> {
        let mut conn = self.store.pool().acquire().await.map_err(db)?;
        TicketCase::load(&mut conn, ticket, clock::now())
            .await
            .map_err(|error| match error {
                CaseError::Database(error) => db(error),
                other => {
                    tracing::error!(ticket_id = %ticket, error = %other, "the case does not load");
                    chain_rpc::status::internal()
                }
            })
    }
}
