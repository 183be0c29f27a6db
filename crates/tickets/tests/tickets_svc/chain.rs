//! A stand-in for requests-svc: runs request commands through the domain, encodes the events
//! as requests-svc writes them, and appends them to the requests event store (whose relay
//! publishes them), or only collects their envelopes for a test to publish itself, in any
//! order. It does not propagate risk up the tree (requests-svc would): the chain view must
//! see it from the tree alone.

use std::collections::BTreeMap;

use chain_domain::commitment::CommitmentKind;
use chain_domain::ids::{CaseId, RequestId, TeamId, TicketId};
use chain_domain::request::{
    BreakdownKind, OpenRequest, Parent, RequestCommand, RequestState, decide, evolve,
};
use chain_proto::customerchain::v1 as pb;
use chain_requests::codec::{Enrichment, encode_request};
use chain_rpc::clock;
use chain_store::{EventMetadata, EventStore, StreamId};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Requests of one or more cases.
pub struct Chain {
    store: Option<EventStore>,
    states: BTreeMap<RequestId, RequestState>,
    /// Every event as an envelope, in the order appended.
    pub envelopes: Vec<pb::EventEnvelope>,
}

impl Chain {
    /// A chain appending to `store`, or only collecting envelopes when `None`.
    pub fn new(store: Option<EventStore>) -> Self {
        Self {
            store,
            states: BTreeMap::new(),
            envelopes: Vec::new(),
        }
    }

    async fn run(&mut self, id: RequestId, actor: TeamId, command: RequestCommand) {
        let state = self.states.remove(&id).unwrap_or_default();
        let events = decide(&command, &state, clock::now()).expect("request command accepted");
        let mut after = state.clone();
        let mut encoded = Vec::new();
        for event in &events {
            after = evolve(after, event);
            encoded.push(encode_request(
                event,
                after.request.as_ref().expect("opened"),
                &Enrichment::default(),
            ));
        }
        let request = after.request.as_ref().expect("opened");
        let metadata = EventMetadata::new(
            request.case_id.as_uuid().to_string(),
            format!("test:{}", Uuid::now_v7()),
            actor.to_string(),
        );
        let stream = StreamId::new("request", id.to_string());
        if let Some(store) = &self.store {
            store
                .append(&stream, state.version, &encoded, &metadata, None)
                .await
                .expect("append to the requests store");
        }
        for (offset, event) in encoded.iter().enumerate() {
            self.envelopes.push(pb::EventEnvelope {
                event_id: event.event_id.to_string(),
                aggregate_type: stream.aggregate_type.clone(),
                aggregate_id: stream.aggregate_id.clone(),
                aggregate_version: state.version + 1 + offset as u64,
                event_type: event.event_type.clone(),
                schema_version: event.schema_version,
                occurred_at: Some(chain_proto::timestamp::from_datetime(event.occurred_at)),
                correlation_id: metadata.correlation_id.clone(),
                causation_id: metadata.causation_id.clone(),
                actor: metadata.actor.clone(),
                payload: Some(prost_types::Any {
                    type_url: format!("type.googleapis.com/{}", event.event_type),
                    value: event.payload.clone(),
                }),
                ..pb::EventEnvelope::default()
            });
        }
        self.states.insert(id, after);
    }

    /// `consumer` asks `provider`, for `parent`, by `needed_by`.
    pub async fn open(
        &mut self,
        ticket: &str,
        consumer: &str,
        provider: &str,
        needed_by: DateTime<Utc>,
        parent: Option<RequestId>,
    ) -> RequestId {
        let ticket: TicketId = ticket.parse().expect("a ticket id");
        let consumer: TeamId = consumer.parse().expect("a team id");
        let id = RequestId::from_uuid(Uuid::now_v7());
        let command = RequestCommand::Open(OpenRequest {
            request_id: id,
            case_id: CaseId::Ticket(ticket),
            consumer,
            provider: provider.parse().expect("a team id"),
            title: "Build and deliver the desk".into(),
            needed_by,
            parent: Some(parent.map_or(Parent::Ticket(ticket), Parent::Request)),
        });
        self.run(id, consumer, command).await;
        id
    }

    fn provider(&self, id: RequestId) -> TeamId {
        self.states[&id].request.as_ref().expect("opened").provider
    }

    fn consumer(&self, id: RequestId) -> TeamId {
        self.states[&id].request.as_ref().expect("opened").consumer
    }

    /// The provider commits to `due_at`.
    pub async fn commit(&mut self, id: RequestId, due_at: DateTime<Utc>) {
        let actor = self.provider(id);
        let command = RequestCommand::Commit {
            actor,
            due_at,
            kind: CommitmentKind::PersonalPromise,
        };
        self.run(id, actor, command).await;
    }

    /// The provider announces a new due time.
    pub async fn revise(&mut self, id: RequestId, new_due_at: DateTime<Utc>) {
        let actor = self.provider(id);
        let command = RequestCommand::Revise {
            actor,
            new_due_at,
            reason: "the truck is booked three days later".into(),
        };
        self.run(id, actor, command).await;
    }

    /// The consumer reports that what it got cannot be used.
    pub async fn break_down(&mut self, id: RequestId) {
        let actor = self.consumer(id);
        let command = RequestCommand::ReportBreakdown {
            actor,
            kind: BreakdownKind::NotServedWell,
            reason: "the parts never came".into(),
        };
        self.run(id, actor, command).await;
    }

    /// The provider delivers.
    pub async fn fulfil(&mut self, id: RequestId) {
        let actor = self.provider(id);
        self.run(id, actor, RequestCommand::Fulfil { actor }).await;
    }

    /// How many events were appended (or collected).
    pub fn event_count(&self) -> i64 {
        i64::try_from(self.envelopes.len()).expect("few events")
    }
}
