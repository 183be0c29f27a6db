//! The service's streams — `customer/<customer id>` and `ticket/<ticket id>` — and loading an
//! aggregate by folding its stream.

use chain_domain::customer::{self, CustomerState, Tier};
use chain_domain::ids::{CustomerId, TicketId};
use chain_domain::ticket::{self, TicketEvent, TicketState};
use chain_rpc::IntoStatus;
use chain_store::{EventStore, RecordedEvent, StoreError, StreamId};
use tonic::Status;

use crate::codec::{CodecError, CustomerStreamEvent, StoredEvent, decode_customer, decode_ticket};

/// The aggregate type of customer streams.
pub const CUSTOMER: &str = "customer";
/// The aggregate type of ticket streams.
pub const TICKET: &str = "ticket";

/// The stream of a customer.
pub fn customer_stream(id: CustomerId) -> StreamId {
    StreamId::new(CUSTOMER, id.to_string())
}

/// The stream of a ticket.
pub fn ticket_stream(id: TicketId) -> StreamId {
    StreamId::new(TICKET, id.to_string())
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

/// A ticket folded from its stream, with the stored events (the API reads what the domain
/// events leave out from them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadedTicket {
    /// The folded state (its version is the stream's).
    pub state: TicketState,
    /// The domain events, oldest first.
    pub events: Vec<TicketEvent>,
    /// The stored events, oldest first.
    pub recorded: Vec<RecordedEvent>,
}

impl LoadedTicket {
    /// The ticket, once opened.
    pub fn ticket(&self) -> Option<&ticket::Ticket> {
        self.state.ticket.as_ref()
    }
}

/// A ticket folded from its stream (empty state when it does not exist).
pub async fn load_ticket(store: &EventStore, id: TicketId) -> Result<LoadedTicket, LoadError> {
    let recorded = store.load_stream(&ticket_stream(id)).await?;
    decode_ticket_stream(recorded).map_err(|source| undecodable_ticket(id, source))
}

/// The error of ticket `id`'s stream holding an event that does not decode (`source`).
pub fn undecodable_ticket(id: TicketId, source: CodecError) -> LoadError {
    LoadError::Codec {
        stream: ticket_stream(id),
        source,
    }
}

/// Decodes and folds one ticket's stored events.
pub fn decode_ticket_stream(recorded: Vec<RecordedEvent>) -> Result<LoadedTicket, CodecError> {
    let events = recorded
        .iter()
        .map(|e| decode_ticket(StoredEvent::from(e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LoadedTicket {
        state: ticket::fold(&events),
        events,
        recorded,
    })
}

/// A customer folded from its stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadedCustomer {
    /// The folded domain state (its `version` counts domain events only).
    pub state: CustomerState,
    /// The stream's version: every event, the service's tier and details changes included.
    pub version: u64,
    /// The tier last recorded.
    pub tier: Option<Tier>,
}

/// A customer folded from its stream (empty state when it does not exist).
pub async fn load_customer(
    store: &EventStore,
    id: CustomerId,
) -> Result<LoadedCustomer, LoadError> {
    let stream = customer_stream(id);
    let recorded = store.load_stream(&stream).await?;
    let mut loaded = LoadedCustomer::default();
    for event in &recorded {
        let decoded =
            decode_customer(StoredEvent::from(event)).map_err(|source| LoadError::Codec {
                stream: stream.clone(),
                source,
            })?;
        loaded.version += 1;
        match decoded {
            CustomerStreamEvent::Domain(event) => {
                loaded.state = customer::evolve(loaded.state, &event);
            }
            CustomerStreamEvent::TierChanged { tier, .. } => loaded.tier = Some(tier),
            CustomerStreamEvent::DetailsChanged { .. } => {}
        }
    }
    Ok(loaded)
}
