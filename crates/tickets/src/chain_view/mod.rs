//! The chain view: what the internal chain behind each ticket can do, from the requests
//! service's events, and the ticket's reaction when it changes.
//!
//! [`ChainView`] is a [`Handler`] on requests-svc's stream (`<ROOT>_REQUESTS`, filter
//! `<root>.v1.requests.request.>`). For each request event, in the consumer's inbox
//! transaction (so exactly once, and in order within each request):
//!
//! 1. a request of a case rooted at a ticket is followed from its `RequestOpened` on
//!    (`chain_requests`), and its events are kept (`chain_request_events`); requests of cases
//!    rooted at an internal request are none of this service's business and are skipped;
//! 2. the whole case is folded again into a [`case::TicketCase`] (the domain's `CaseView`),
//!    and what the tree says is written back: each request's projection and risk, the
//!    ticket's projected completion, earliest feasible time and critical link
//!    (`ticket_chains`);
//! 3. when the outlook of a request serving the ticket changed (it went at risk, was revised
//!    past the promise, breached, broke down, or recovered), `ObserveChain` is decided on the
//!    ticket and its events (a `TicketChainObserved`, then any `PromiseAtRisk` or
//!    `PromiseRiskCleared`) appended in the same transaction, with causation id = the request
//!    event's id, correlation id = the ticket id and actor `tickets-svc`. A ticket changed
//!    concurrently is a version conflict: the transaction rolls back and the consumer retries.
//!
//! Events of different requests may arrive in any order, and an event may arrive twice: the
//! inbox drops the repeat, and since the outlook is computed from the whole tree as known so
//! far (its version growing with every event below it), the ticket ends in the same state.

pub mod case;
pub(crate) mod tables;

use chain_consumer::{ConsumerConfig, Handler, HandlerError};
use chain_domain::ids::RequestId;
use chain_domain::request::RequestEvent;
use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::EventEnvelope;
use chain_rpc::clock;
use chain_store::{EventMetadata, EventStore, StoreError, append_in};
use sqlx::PgConnection;
use uuid::Uuid;

pub use tables::{ChainSummary, chain_summary};

use crate::codec::{CodecError, RequestStreamDecoder, StoredEvent};
use crate::record::{Context, encode_batch, observe_chain};
use crate::streams::{LoadError, load_ticket, ticket_stream};
use crate::{SERVICE_ACTOR, tiers};
use case::{CaseError, TicketCase};

/// The durable consumer name of the chain view (also the key of its inbox rows).
pub const CHAIN_VIEW_NAME: &str = "tickets-chain-view";

/// The consumer settings of the chain view on requests-svc's stream under `layout`: every
/// event of every request stream (whole streams, as the consumer's ordering needs).
pub fn chain_view_config(layout: &chain_bus::BusLayout) -> ConsumerConfig {
    ConsumerConfig::new(
        CHAIN_VIEW_NAME,
        layout.stream_name(crate::REQUESTS_SERVICE),
        format!("{}.v1.{}.request.>", layout.root(), crate::REQUESTS_SERVICE),
    )
}

/// Follows the cases rooted at tickets and tells each ticket what its chain can do; run it
/// with [`chain_consumer::EventConsumer`] and [`chain_view_config`].
#[derive(Clone, Debug)]
pub struct ChainView {
    store: EventStore,
}

impl ChainView {
    /// A chain view appending to `store` (the tickets service's own).
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }

    /// Tells the ticket of `case` what changed, on `tx`; `cause` is the request event.
    async fn tell_ticket(
        &self,
        tx: &mut PgConnection,
        case: &TicketCase,
        cause: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let loaded = load_ticket(&self.store, case.ticket_id)
            .await
            .map_err(load_error)?;
        let Some(ticket) = loaded.ticket() else {
            // The ticket is not (yet) known here: MakePromise catches up with the chain.
            return Ok(());
        };
        let standing = tiers::standing(tx, ticket.customer_id)
            .await?
            .unwrap_or(ticket.standing);
        let (events, _) = observe_chain(&loaded.state, case, standing, clock::now())
            .map_err(|refusal| HandlerError::Poison(format!("ObserveChain refused: {refusal}")))?;
        if events.is_empty() {
            return Ok(());
        }
        let context = Context {
            case: Some(case),
            source_event_id: cause.event_id.clone(),
            ..Context::default()
        };
        let batch = encode_batch(&loaded.state, &events, &context);
        let metadata = EventMetadata {
            correlation_id: case.ticket_id.to_string(),
            causation_id: cause.event_id.clone(),
            actor: SERVICE_ACTOR.to_owned(),
            // The ticket's reaction continues the trace of the request event.
            traceparent: Some(cause.traceparent.clone()).filter(|t| !t.is_empty()),
            tracestate: Some(cause.tracestate.clone()).filter(|t| !t.is_empty()),
        };
        match append_in(
            &mut *tx,
            &ticket_stream(case.ticket_id),
            loaded.state.version,
            &batch.events,
            &metadata,
            None,
        )
        .await
        {
            Ok(_) => {
                tracing::debug!(ticket_id = %case.ticket_id, events = batch.events.len(), "ticket observed its chain");
                Ok(())
            }
            Err(StoreError::Conflict { stream, .. }) => Err(HandlerError::Transient(format!(
                "{stream} changed while observing its chain; retrying"
            ))),
            Err(error) => Err(HandlerError::Transient(error.to_string())),
        }
    }
}

impl Handler for ChainView {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        if envelope.aggregate_type != "request" {
            return Ok(());
        }
        let stored = StoredEvent::from_envelope(envelope).map_err(poison)?;
        let request_id: RequestId = envelope
            .aggregate_id
            .parse()
            .map_err(|e| HandlerError::Poison(format!("bad request id: {e}")))?;
        let event_id = Uuid::parse_str(&envelope.event_id)
            .map_err(|e| HandlerError::Poison(format!("bad event id: {e}")))?;
        let ticket = if stored.is::<pb::RequestOpened>() {
            let event = RequestStreamDecoder::new().decode(stored).map_err(poison)?;
            let RequestEvent::Opened {
                case_id,
                consumer,
                provider,
                needed_by,
                parent,
                ..
            } = event
            else {
                return Err(HandlerError::Poison(
                    "RequestOpened decoded as another event".into(),
                ));
            };
            let Some(ticket) = case_id.ticket() else {
                // A case rooted at an internal request: no ticket depends on it.
                return Ok(());
            };
            tables::insert_request(
                tx,
                &tables::Opened {
                    request_id,
                    ticket_id: ticket,
                    parent,
                    consumer: consumer.as_uuid(),
                    provider: provider.as_uuid(),
                    needed_by,
                },
            )
            .await?;
            ticket
        } else {
            match tables::ticket_of(tx, request_id).await? {
                Some(ticket) => ticket,
                None => return Ok(()),
            }
        };
        tables::insert_event(
            tx,
            request_id,
            envelope.aggregate_version,
            event_id,
            &stored,
        )
        .await?;
        let now = clock::now();
        let case = TicketCase::load(tx, ticket, now)
            .await
            .map_err(|error| match error {
                CaseError::Database(error) => HandlerError::from(error),
                other => HandlerError::Poison(other.to_string()),
            })?;
        tables::save_case(tx, &case, now).await?;
        self.tell_ticket(tx, &case, envelope).await
    }

    fn after_commit(&self) {
        // The ticket's reaction was appended in the consumer's transaction: wake the relay.
        self.store.signal_appended();
    }
}

fn poison(error: CodecError) -> HandlerError {
    HandlerError::Poison(error.to_string())
}

/// A store failure is worth retrying; undecodable history never gets better.
pub(crate) fn load_error(error: LoadError) -> HandlerError {
    match error {
        LoadError::Store(error) => HandlerError::Transient(error.to_string()),
        LoadError::Codec { .. } => HandlerError::Poison(error.to_string()),
    }
}
