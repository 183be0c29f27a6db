//! Streaming reads of the event store: `WatchTickets` (ticket and customer events, optionally
//! of one customer or one front-line team, from a resume position, then live) and
//! `ReadEvents` (everything, in commit order, for consumers that refill or rebuild).
//!
//! A watch is a task that follows the log in commit order ([`chain_store::LogTail`]: it reads
//! the history itself, then shares the replica's one reader of the live end), keeps the events
//! that match, and sends them to the client ([`chain_rpc::watch::forward`]); a watch that falls
//! behind the shared reader's backlog reads the store itself again.

use std::collections::HashMap;

use chain_domain::ids::{CustomerId, TeamId};
use chain_proto::customerchain::v1 as pb;
use chain_relay::to_envelope;
use chain_rpc::{IntoStatus, field, history, watch};
use chain_store::{EventStore, RecordedEvent, StreamId};
use prost::{Message, Name};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request as Call, Status};

use super::{ServerStream, TicketService};
use crate::streams::{CUSTOMER, TICKET};

/// Events a watch buffers for a slow client before it waits.
const WATCH_BUFFER: usize = 256;
/// Tickets whose customer and front line a watch remembers before it forgets them all (and
/// looks them up again as their events come).
const MAX_REMEMBERED: usize = 100_000;

impl TicketService {
    pub(super) async fn watch_tickets(
        &self,
        call: Call<pb::WatchTicketsRequest>,
    ) -> Result<ServerStream<pb::WatchTicketsResponse>, Status> {
        let message = call.into_inner();
        let customer: Option<CustomerId> = field::optional_id("customer_id", &message.customer_id)?;
        let front_line: Option<TeamId> =
            field::optional_id("front_line_team_id", &message.front_line_team_id)?;
        let start = if message.live_only {
            self.store.head().await.map_err(IntoStatus::into_status)?
        } else {
            history::position("after_position", &message.after_position)?
        };
        let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
        let watcher = Watcher {
            store: self.store.clone(),
            customer: customer.map(|c| c.to_string()),
            front_line: front_line.map(|t| t.to_string()),
            tickets: HashMap::new(),
        };
        let log = self.tail.follow(start);
        tokio::spawn(watch::forward(log, sender, watcher, |event| {
            pb::WatchTicketsResponse {
                event: Some(to_envelope(event)),
            }
        }));
        Ok(Box::pin(ReceiverStream::new(receiver)))
    }

    pub(super) async fn read_events(
        &self,
        call: Call<pb::ReadEventsRequest>,
    ) -> Result<ServerStream<pb::EventEnvelope>, Status> {
        let message = call.into_inner();
        let events = history::read_page(&self.store, &message).await?;
        let envelopes: Vec<Result<pb::EventEnvelope, Status>> =
            events.iter().map(|e| Ok(to_envelope(e))).collect();
        Ok(Box::pin(futures::stream::iter(envelopes)))
    }
}

/// The customer and front-line team of a ticket, as its `TicketOpened` names them.
#[derive(Debug, Clone, Default)]
struct Owners {
    customer: String,
    front_line: String,
}

/// One `WatchTickets` stream.
struct Watcher {
    store: EventStore,
    customer: Option<String>,
    front_line: Option<String>,
    /// The owners of each ticket seen.
    tickets: HashMap<String, Owners>,
}

impl watch::WatchFilter for Watcher {
    async fn wants(&mut self, event: &RecordedEvent) -> Result<bool, Status> {
        self.matches(event).await
    }
}

impl Watcher {
    /// Whether `event` passes the watch's filters: a customer's own events (only without a
    /// front-line filter, since a customer has no front line), a ticket's by its owners.
    async fn matches(&mut self, event: &RecordedEvent) -> Result<bool, Status> {
        match event.stream.aggregate_type.as_str() {
            CUSTOMER => Ok(self.front_line.is_none()
                && self
                    .customer
                    .as_ref()
                    .is_none_or(|c| *c == event.stream.aggregate_id)),
            TICKET => {
                if self.customer.is_none() && self.front_line.is_none() {
                    return Ok(true);
                }
                let owners = self.owners(event).await?;
                Ok(self.customer.as_ref().is_none_or(|c| *c == owners.customer)
                    && self
                        .front_line
                        .as_ref()
                        .is_none_or(|t| *t == owners.front_line))
            }
            _ => Ok(false),
        }
    }

    async fn owners(&mut self, event: &RecordedEvent) -> Result<Owners, Status> {
        if let Some(known) = self.tickets.get(&event.stream.aggregate_id) {
            return Ok(known.clone());
        }
        let owners = if event.version == 1 {
            opened(event)
        } else {
            let stream: &StreamId = &event.stream;
            let events = self
                .store
                .load_stream(stream)
                .await
                .map_err(IntoStatus::into_status)?;
            events.first().map(opened).unwrap_or_default()
        };
        if self.tickets.len() >= MAX_REMEMBERED {
            self.tickets.clear();
        }
        self.tickets
            .insert(event.stream.aggregate_id.clone(), owners.clone());
        Ok(owners)
    }
}

/// The owners a `TicketOpened` names (none for any other event).
fn opened(event: &RecordedEvent) -> Owners {
    if event.event_type != pb::TicketOpened::full_name() {
        return Owners::default();
    }
    pb::TicketOpened::decode(event.payload.as_slice())
        .map(|o| Owners {
            customer: o.customer_id,
            front_line: o.front_line_team_id,
        })
        .unwrap_or_default()
}
