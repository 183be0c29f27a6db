//! Streaming reads of scoring's event store: `WatchScores` (score, impact and feedback events,
//! optionally about one subject, from a resume position, then live) and `ReadEvents`
//! (everything, in commit order, for consumers that refill or rebuild).
//!
//! A watch is a task that follows the log in commit order ([`chain_store::LogTail`]: it reads
//! the history itself, then shares the replica's one reader of the live end), keeps the events
//! that match, and sends them to the client ([`chain_rpc::watch::forward`]).

use chain_domain::link::LinkKey;
use chain_domain::scoring::Subject;
use chain_proto::customerchain::v1 as pb;
use chain_relay::to_envelope;
use chain_rpc::{IntoStatus, field, history, status, watch};
use chain_store::{EventStore, RecordedEvent};
use prost::{Message, Name};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use uuid::Uuid;

use super::{ScoringService, ServerStream};
use crate::projection::rows::subject_key;

/// Events a watch buffers for a slow client before it waits.
const WATCH_BUFFER: usize = 256;

impl ScoringService {
    pub(super) async fn watch_scores(
        &self,
        message: pb::WatchScoresRequest,
    ) -> Result<ServerStream<pb::WatchScoresResponse>, Status> {
        let subject = match message.subject.as_ref().and_then(|s| s.subject.as_ref()) {
            None => None,
            Some(pb::score_subject::Subject::CustomerId(id)) => {
                Some(Subject::Customer(field::id("subject.customer_id", id)?))
            }
            Some(pb::score_subject::Subject::Link(link)) => Some(Subject::Link(LinkKey {
                provider: field::id("subject.link.provider_team_id", &link.provider_team_id)?,
                consumer: field::id("subject.link.consumer_team_id", &link.consumer_team_id)?,
            })),
        };
        let start = if message.live_only {
            self.store.head().await.map_err(IntoStatus::into_status)?
        } else {
            history::position("after_position", &message.after_position)?
        };
        let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
        let watcher = Watcher {
            store: self.store.clone(),
            subject,
        };
        let log = self.tail.follow(start);
        tokio::spawn(watch::forward(log, sender, watcher, |event| {
            pb::WatchScoresResponse {
                event: Some(to_envelope(event)),
            }
        }));
        Ok(Box::pin(ReceiverStream::new(receiver)))
    }

    pub(super) async fn read_events(
        &self,
        message: pb::ReadEventsRequest,
    ) -> Result<ServerStream<pb::EventEnvelope>, Status> {
        let events = history::read_page(&self.store, &message).await?;
        let envelopes: Vec<Result<pb::EventEnvelope, Status>> =
            events.iter().map(|e| Ok(to_envelope(e))).collect();
        Ok(Box::pin(futures::stream::iter(envelopes)))
    }
}

/// One `WatchScores` stream.
struct Watcher {
    store: EventStore,
    subject: Option<Subject>,
}

impl watch::WatchFilter for Watcher {
    async fn wants(&mut self, event: &RecordedEvent) -> Result<bool, Status> {
        self.concerns(event).await
    }
}

impl Watcher {
    /// Whether `event` is a score, impact or feedback event about the watched subject.
    async fn concerns(&self, event: &RecordedEvent) -> Result<bool, Status> {
        let watched = [
            pb::ScoreChanged::full_name(),
            pb::ImpactRecorded::full_name(),
            pb::ImpactResolved::full_name(),
            pb::FeedbackRecorded::full_name(),
        ];
        if !watched.contains(&event.event_type) {
            return Ok(false);
        }
        let Some(subject) = self.subject else {
            return Ok(true);
        };
        let payload = event.payload.as_slice();
        if event.event_type == pb::ScoreChanged::full_name() {
            return Ok(event.stream.aggregate_id == subject_key(&subject));
        }
        if event.event_type == pb::FeedbackRecorded::full_name() {
            let about = pb::FeedbackRecorded::decode(payload)
                .ok()
                .and_then(|f| f.subject)
                .and_then(|s| s.subject);
            return Ok(match (about, subject) {
                (Some(pb::feedback_subject::Subject::Customer(c)), Subject::Customer(id)) => {
                    c.customer_id == id.to_string()
                }
                (Some(pb::feedback_subject::Subject::Team(t)), Subject::Link(link)) => {
                    t.provider_team_id == link.provider.to_string()
                        && t.consumer_team_id == link.consumer.to_string()
                }
                _ => false,
            });
        }
        // An impact event: ask the impact ledger whom it hurt and which links it runs through.
        let impact = Uuid::parse_str(&event.stream.aggregate_id).unwrap_or_default();
        let pool = self.store.pool();
        let matches: bool = match subject {
            Subject::Customer(customer) => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM scoring_impacts WHERE impact_id = $1 AND customer_id = $2)",
            )
            .bind(impact)
            .bind(customer.as_uuid())
            .fetch_one(pool)
            .await,
            Subject::Link(link) => sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM scoring_impact_links
                                WHERE impact_id = $1 AND provider_team_id = $2 AND consumer_team_id = $3)",
            )
            .bind(impact)
            .bind(link.provider.as_uuid())
            .bind(link.consumer.as_uuid())
            .fetch_one(pool)
            .await,
        }
        .map_err(|e| status::database_error(&e))?;
        Ok(matches)
    }
}
