//! The projector: a [`Handler`] on the service's own stream (`<root>.v1.tickets.>`) that,
//! for each event, in the consumer's inbox transaction, updates the read model (a customer or
//! ticket row) and, for a ticket, (re)schedules its deadline from [`next_deadline`].
//!
//! A ticket row is written from the whole stream as folded now (not just up to the event at
//! hand): it is always the latest state, so a later event of the same stream rewrites the
//! same row and nothing goes stale. The next event of a ticket the projector just folded is
//! folded onto what it remembers (`memory`) instead of reading the stream again. Ticket rows
//! and deadlines wait for the end of the transaction ([`PendingTickets`]): a batch that brings
//! several events of one ticket (a `TicketChainObserved` and the `PromiseAtRisk` it led to come
//! together) writes its row once, and the rows of the whole batch go in one statement.

use chain_consumer::{ConsumerConfig, Handler, HandlerError};
use chain_domain::ids::TicketId;
use chain_domain::ticket::next_deadline;
use chain_proto::customerchain::v1::EventEnvelope;
use chain_store::EventStore;
use sqlx::PgConnection;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::memory::{FoldedTicket, TicketMemory};
use super::tables::{self, TicketRow};
use crate::chain_view::load_error;
use crate::codec::{CodecError, StoredEvent, TicketExtras, decode_customer};
use crate::streams::{CUSTOMER, TICKET, load_ticket};
use crate::view;

/// The durable consumer name of the projector (also the key of its inbox rows).
pub const PROJECTOR_NAME: &str = "tickets-projector";

/// The consumer settings of the projector on the service's stream under `layout`.
pub fn projector_config(layout: &chain_bus::BusLayout) -> ConsumerConfig {
    ConsumerConfig::new(
        PROJECTOR_NAME,
        layout.stream_name(crate::SERVICE),
        layout.service_subjects(crate::SERVICE),
    )
}

/// Keeps the read model; run it with [`chain_consumer::EventConsumer`] and
/// [`projector_config`].
#[derive(Clone, Debug)]
pub struct TicketsProjector {
    store: EventStore,
    memory: Arc<TicketMemory>,
}

impl TicketsProjector {
    /// A projector reading streams from `store` (the service's own).
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            memory: Arc::default(),
        }
    }

    async fn ticket(
        &self,
        envelope: &EventEnvelope,
        pending: &mut PendingTickets,
    ) -> Result<(), HandlerError> {
        let id: TicketId = envelope
            .aggregate_id
            .parse()
            .map_err(|e| HandlerError::Poison(format!("bad ticket id: {e}")))?;
        let version = envelope.aggregate_version;
        let folded = match self.memory.before(id, version) {
            Some(mut folded) => {
                let stored = StoredEvent::from_envelope(envelope).map_err(poison)?;
                folded.apply(stored).map_err(poison)?;
                folded
            }
            None => {
                let loaded = load_ticket(&self.store, id).await.map_err(load_error)?;
                let recorded = loaded.recorded.iter().map(StoredEvent::from);
                let extras = TicketExtras::of(recorded).map_err(poison)?;
                FoldedTicket {
                    state: loaded.state,
                    extras,
                }
            }
        };
        let Some(ticket) = folded.state.ticket.as_ref() else {
            return Err(HandlerError::Transient(format!(
                "ticket {id} has no events in the store yet"
            )));
        };
        if folded.state.version < version {
            return Err(HandlerError::Transient(format!(
                "ticket {id} is at version {} in the store, behind event {version}",
                folded.state.version
            )));
        }
        let row = view::ticket(ticket, folded.state.version, &folded.extras, None, None);
        let deadline = next_deadline(&folded.state).map(|(at, _)| at);
        pending.0.insert(
            id,
            TicketRow::new(ticket, folded.state.version, &row, deadline),
        );
        self.memory.remember(id, folded);
        Ok(())
    }
}

/// The ticket rows a transaction's events leave to write at its end: the latest of each
/// ticket, in ticket order (so two transactions lock rows in the same order).
#[derive(Debug, Default)]
pub struct PendingTickets(BTreeMap<TicketId, TicketRow>);

impl Handler for TicketsProjector {
    type Pending = PendingTickets;

    async fn handle(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
        pending: &mut PendingTickets,
    ) -> Result<(), HandlerError> {
        match envelope.aggregate_type.as_str() {
            CUSTOMER => {
                let stored = StoredEvent::from_envelope(envelope).map_err(poison)?;
                let event = decode_customer(stored).map_err(poison)?;
                tables::apply_customer(tx, &event, envelope.aggregate_version).await?;
            }
            TICKET => self.ticket(envelope, pending).await?,
            other => {
                return Err(HandlerError::Poison(format!(
                    "unknown aggregate type {other:?}"
                )));
            }
        }
        Ok(())
    }

    async fn flush(
        &self,
        tx: &mut PgConnection,
        pending: PendingTickets,
    ) -> Result<(), HandlerError> {
        let rows: Vec<TicketRow> = pending.0.into_values().collect();
        Ok(tables::write_tickets(tx, &rows).await?)
    }
}

fn poison(error: CodecError) -> HandlerError {
    HandlerError::Poison(error.to_string())
}
