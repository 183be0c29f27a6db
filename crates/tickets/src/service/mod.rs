//! `TicketService`: thin RPC handlers. Each one decodes and validates its request
//! (`INVALID_ARGUMENT` naming the field), takes the caller from [`Caller`], loads and folds
//! the stream, lets the domain decide, and appends the events with the expected version and
//! an idempotency record holding the encoded response, which it builds from the folded new
//! state. Only a ticket's front-line team may promise, notify, record answers and resolve on
//! it (`PERMISSION_DENIED` otherwise).
//!
//! Versions: `expected_version` 0 means "don't check"; then a lost race with a concurrent
//! writer (the chain view observing the chain at the same moment, say) is retried here a few
//! times before it surfaces as `ABORTED`. Any other value must match the stream's version, or
//! `ABORTED`.
//!
//! A retried command (same idempotency key and request) returns the first response and
//! appends nothing, even when deciding it again would now be refused.
//!
//! Personal data (names, e-mails, wording, what the customer was told or said) is never
//! logged or put on spans, and never quoted in an error message.

mod customers;
mod impact;
mod queries;
mod refusal;
mod tickets;
mod watch;

use std::pin::Pin;
use std::sync::Arc;

use chain_domain::customer::{Currency, CustomerStanding};
use chain_domain::ticket::{Ticket, TicketState};
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::ticket_service_server::{
    TicketService as TicketServiceApi, TicketServiceServer,
};
use chain_rpc::access::Rules;
use chain_rpc::status::{database_error, internal};
use chain_rpc::{Access, Authorised, Caller, IdempotentCommand};
use chain_store::{AppendOutcome, EventMetadata, EventStore};
use futures::Stream;
use prost::Message;
use tonic::{Request, Response, Status};

pub use refusal::refusal;

use crate::chain_view::{ChainSummary, chain_and_standing};
use crate::codec::{StoredEvent, TicketExtras};
use crate::projection::memory::TicketMemory;
use crate::view;
use chain_store::{ChangeFeed, LogTail};

/// The largest request message the service decodes: every request is small, so a big one is
/// a mistake or an attack.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// How often a command on an existing ticket is retried after losing a race, when the caller
/// did not ask for a specific version.
const COMMAND_ATTEMPTS: u32 = 3;

/// Tickets `GetTicket` remembers before it starts afresh: the tickets being followed, not every
/// ticket ever read (each holds its promise history and notices).
const READ_REMEMBERED: usize = 10_000;

/// A server stream of the service.
pub type ServerStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The external tickets service.
#[derive(Debug, Clone)]
pub struct TicketService {
    store: EventStore,
    /// The log's live end, read once for all of this replica's watch streams.
    tail: LogTail,
    currency: Option<Currency>,
    /// Tickets as `GetTicket` last read them, so the next read fetches only newer events.
    read: Arc<TicketMemory>,
}

impl TicketService {
    /// A service on `store` (the service's own database), whose watch streams share one reader
    /// of the log woken by `feed` (run [`ChangeFeed::run`] beside it). Customer values must all
    /// be in the currency of the first customer registered, unless
    /// [`TicketService::with_currency`] fixes one.
    pub fn new(store: EventStore, feed: ChangeFeed) -> Self {
        Self {
            tail: LogTail::new(store.clone(), feed),
            store,
            currency: None,
            read: Arc::new(TicketMemory::with_capacity(READ_REMEMBERED)),
        }
    }

    /// The same service with every customer value required in `currency`.
    pub fn with_currency(mut self, currency: Currency) -> Self {
        self.currency = Some(currency);
        self
    }

    /// The tonic server for this service, with the decode limit [`MAX_MESSAGE_BYTES`].
    pub fn into_server(self) -> Authorised<TicketServiceServer<Self>> {
        Authorised::new(
            TicketServiceServer::new(self).max_decoding_message_size(MAX_MESSAGE_BYTES),
            ACCESS,
        )
    }

    /// The metadata of a command's events, correlated with `correlation` (the ticket, or the
    /// customer outside any case).
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

    /// A ticket as the API shows it: its folded `state`, the extras of its stored events, the
    /// customer's tier and value now, and the chain behind it.
    async fn present<'a>(
        &self,
        state: &TicketState,
        stored: impl IntoIterator<Item = StoredEvent<'a>>,
    ) -> Result<pb::Ticket, Status> {
        let Some(ticket) = state.ticket.as_ref() else {
            tracing::error!("a ticket without events was presented");
            return Err(internal());
        };
        let beside = self.chain_and_standing(ticket).await?;
        show(ticket, state.version, stored, beside)
    }

    /// The chain behind `ticket` and its customer's standing now.
    async fn chain_and_standing(
        &self,
        ticket: &Ticket,
    ) -> Result<(Option<ChainSummary>, Option<CustomerStanding>), Status> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(|e| database_error(&e))?;
        chain_and_standing(&mut conn, ticket.id, ticket.customer_id)
            .await
            .map_err(|e| database_error(&e))
    }
}

/// A ticket as the API shows it: the ticket at `version`, the extras of its stored events, and
/// what was read beside them (the chain behind it, the customer's tier and value now).
fn show<'a>(
    ticket: &Ticket,
    version: u64,
    stored: impl IntoIterator<Item = StoredEvent<'a>>,
    (chain, standing): (Option<ChainSummary>, Option<CustomerStanding>),
) -> Result<pb::Ticket, Status> {
    let extras = TicketExtras::of(stored).map_err(|error| {
        tracing::error!(ticket_id = %ticket.id, %error, "stored ticket events do not decode");
        internal()
    })?;
    Ok(view::ticket(
        ticket,
        version,
        &extras,
        standing,
        chain.as_ref(),
    ))
}

/// The first response of a command: the one just built, or the one recorded for its key.
fn respond<R: Message + Default>(outcome: AppendOutcome, response: R) -> Result<R, Status> {
    match outcome {
        AppendOutcome::Appended { .. } => Ok(response),
        AppendOutcome::Replayed { response } => IdempotentCommand::decode(&response),
    }
}

#[tonic::async_trait]
impl TicketServiceApi for TicketService {
    async fn register_customer(
        &self,
        request: Request<pb::RegisterCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        self.register_customer(request).await.map(Response::new)
    }

    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        self.update_customer(request).await.map(Response::new)
    }

    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        self.get_customer(request).await.map(Response::new)
    }

    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        self.list_customers(request).await.map(Response::new)
    }

    async fn open_ticket(
        &self,
        request: Request<pb::OpenTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        self.open_ticket(request).await.map(Response::new)
    }

    async fn make_promise(
        &self,
        request: Request<pb::MakePromiseRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        self.make_promise(request).await.map(Response::new)
    }

    async fn notify_customer(
        &self,
        request: Request<pb::NotifyCustomerRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        self.notify_customer(request).await.map(Response::new)
    }

    async fn record_customer_response(
        &self,
        request: Request<pb::RecordCustomerResponseRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        self.record_customer_response(request)
            .await
            .map(Response::new)
    }

    async fn resolve_ticket(
        &self,
        request: Request<pb::ResolveTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        self.resolve_ticket(request).await.map(Response::new)
    }

    async fn get_ticket(
        &self,
        request: Request<pb::GetTicketRequest>,
    ) -> Result<Response<pb::Ticket>, Status> {
        self.get_ticket(request).await.map(Response::new)
    }

    async fn list_tickets(
        &self,
        request: Request<pb::ListTicketsRequest>,
    ) -> Result<Response<pb::ListTicketsResponse>, Status> {
        self.list_tickets(request).await.map(Response::new)
    }

    async fn list_impacted_customers(
        &self,
        request: Request<pb::ListImpactedCustomersRequest>,
    ) -> Result<Response<pb::ListImpactedCustomersResponse>, Status> {
        self.list_impacted_customers(request)
            .await
            .map(Response::new)
    }

    type WatchTicketsStream = ServerStream<pb::WatchTicketsResponse>;

    async fn watch_tickets(
        &self,
        request: Request<pb::WatchTicketsRequest>,
    ) -> Result<Response<Self::WatchTicketsStream>, Status> {
        self.watch_tickets(request).await.map(Response::new)
    }

    type ReadEventsStream = ServerStream<pb::EventEnvelope>;

    async fn read_events(
        &self,
        request: Request<pb::ReadEventsRequest>,
    ) -> Result<Response<Self::ReadEventsStream>, Status> {
        self.read_events(request).await.map(Response::new)
    }
}

/// Who may call each RPC; anything else is refused (see `chain_rpc::access`). Commands on a
/// ticket's promise act for its front-line team; reading the log is for services.
pub const ACCESS: Rules = &[
    ("RegisterCustomer", Access::Anyone),
    ("UpdateCustomer", Access::Anyone),
    ("GetCustomer", Access::Anyone),
    ("ListCustomers", Access::Anyone),
    ("OpenTicket", Access::Anyone),
    ("MakePromise", Access::Teams),
    ("NotifyCustomer", Access::Teams),
    ("RecordCustomerResponse", Access::Teams),
    ("ResolveTicket", Access::Teams),
    ("GetTicket", Access::Anyone),
    ("ListTickets", Access::Anyone),
    ("ListImpactedCustomers", Access::Anyone),
    ("WatchTickets", Access::Anyone),
    ("ReadEvents", Access::Services),
];
