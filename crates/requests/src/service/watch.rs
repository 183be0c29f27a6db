//! Streaming reads of the event store: `WatchRequests` (a team's events, from a resume
//! position, then live) and `ReadEvents` (everything, in commit order, for consumers that
//! refill or rebuild).
//!
//! A watch is a task that follows the log in commit order ([`chain_store::LogTail`]: it reads
//! the history itself, then shares the replica's one reader of the live end), keeps the events
//! that concern the team, and sends them to the client ([`chain_rpc::watch::forward`]); a watch
//! that falls behind the shared reader's backlog reads the store itself again.

use std::collections::HashMap;

use chain_domain::ids::TeamId;
use chain_proto::customerchain::v1 as pb;
use chain_relay::to_envelope;
use chain_rpc::{IntoStatus, field, history, status, watch};
use chain_store::{EventStore, RecordedEvent};
use prost::{Message, Name};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request as Call, Status};

use super::{RequestService, ServerStream};
use crate::codec::{StoredEvent, decode_link};
use crate::streams::{LINK, LoadError, REQUEST, TEAM, load_team};

/// Events a watch buffers for a slow client before it waits.
const WATCH_BUFFER: usize = 256;
/// Requests whose relevance a watch remembers before it forgets them all (and looks them
/// up again as their events come).
const MAX_REMEMBERED: usize = 100_000;

impl RequestService {
    pub(super) async fn watch_requests(
        &self,
        call: Call<pb::WatchRequestsRequest>,
    ) -> Result<ServerStream<pb::WatchRequestsResponse>, Status> {
        let message = call.into_inner();
        let team: TeamId = field::id("team_id", &message.team_id)?;
        let known = load_team(&self.store, team)
            .await
            .map_err(LoadError::into_status)?;
        if known.team.is_none() {
            return Err(status::not_found("team_id", "team", &team.to_string()));
        }
        let start = if message.live_only {
            self.store.head().await.map_err(IntoStatus::into_status)?
        } else {
            history::position("after_position", &message.after_position)?
        };
        let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
        let watcher = Watcher {
            store: self.store.clone(),
            team,
            requests: HashMap::new(),
        };
        let log = self.tail.follow(start);
        tokio::spawn(watch::forward(log, sender, watcher, |event| {
            pb::WatchRequestsResponse {
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

/// One `WatchRequests` stream.
struct Watcher {
    store: EventStore,
    team: TeamId,
    /// Whether each request seen concerns the team (it provides or consumes it).
    requests: HashMap<String, bool>,
}

impl watch::WatchFilter for Watcher {
    async fn wants(&mut self, event: &RecordedEvent) -> Result<bool, Status> {
        self.concerns(event).await
    }
}

impl Watcher {
    /// Whether `event` concerns the team: its own stream, a link it is on, or a request it
    /// provides or consumes.
    async fn concerns(&mut self, event: &RecordedEvent) -> Result<bool, Status> {
        let team = self.team.to_string();
        match event.stream.aggregate_type.as_str() {
            TEAM => Ok(event.stream.aggregate_id == team),
            LINK => Ok(decode_link(StoredEvent::from(event))
                .map(|e| e.link().provider == self.team || e.link().consumer == self.team)
                .unwrap_or(false)),
            REQUEST => {
                if let Some(known) = self.requests.get(&event.stream.aggregate_id) {
                    return Ok(*known);
                }
                let relevant = if event.version == 1 {
                    opened_by_or_for(event, &team)
                } else {
                    let stream = self
                        .store
                        .load_stream(&event.stream)
                        .await
                        .map_err(IntoStatus::into_status)?;
                    stream
                        .first()
                        .is_some_and(|first| opened_by_or_for(first, &team))
                };
                if self.requests.len() >= MAX_REMEMBERED {
                    self.requests.clear();
                }
                self.requests
                    .insert(event.stream.aggregate_id.clone(), relevant);
                Ok(relevant)
            }
            _ => Ok(false),
        }
    }
}

/// Whether `event` is a `RequestOpened` with `team` as consumer or provider.
fn opened_by_or_for(event: &RecordedEvent, team: &str) -> bool {
    event.event_type == pb::RequestOpened::full_name()
        && pb::RequestOpened::decode(event.payload.as_slice())
            .is_ok_and(|o| o.consumer_team_id == team || o.provider_team_id == team)
}
