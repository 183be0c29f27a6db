//! What the projector remembers between events: each request as folded so far, with its stream
//! decoder, so that an event is folded onto the state its predecessor left instead of reading
//! and folding the whole stream again, and the children and parent an event involves are
//! brought up to date with one read of what their streams gained since.
//!
//! Memory is only a shortcut, never a source. It holds folds of committed events only (events
//! the bus delivered, or read from the store), which never change, so a remembered request can
//! be behind but never wrong: a request is used as remembered only for the event that follows
//! it directly, and is otherwise first brought up to date from the store
//! ([`RequestMemory::refresh`]). The map is emptied when it grows past [`MAX_REMEMBERED`].

use std::collections::BTreeMap;

use chain_consumer::HandlerMemory;
use chain_domain::ids::RequestId;
use chain_domain::request::{Parent, RequestEvent, RequestState, evolve};
use chain_store::EventStore;

use crate::codec::{CodecError, RequestStreamDecoder, StoredEvent};
use crate::streams::{LoadError, LoadedRequest, request_stream};

/// Requests remembered before the memory starts afresh.
pub const MAX_REMEMBERED: usize = 100_000;

/// A request folded up to its `state.version`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Folded {
    /// The state (its `version` is the stream version folded).
    pub state: RequestState,
    /// The stream's decoder, positioned after that version.
    pub decoder: RequestStreamDecoder,
}

impl Folded {
    /// Folds the next event of the stream; returns it.
    pub fn apply(&mut self, stored: StoredEvent<'_>) -> Result<RequestEvent, CodecError> {
        let event = self.decoder.decode(stored)?;
        self.state = evolve(std::mem::take(&mut self.state), &event);
        Ok(event)
    }

    /// As a loaded request (without its events).
    pub fn loaded(&self) -> LoadedRequest {
        LoadedRequest {
            state: self.state.clone(),
            events: Vec::new(),
            trigger: self.decoder.last_trigger(),
        }
    }
}

/// The projector's memory; shared by its clones.
#[derive(Debug)]
pub(crate) struct RequestMemory(HandlerMemory<RequestId, Folded>);

impl Default for RequestMemory {
    fn default() -> Self {
        Self(HandlerMemory::new(MAX_REMEMBERED))
    }
}

impl RequestMemory {
    /// `id` as remembered (an empty fold when it is not).
    pub fn get(&self, id: RequestId) -> Folded {
        self.0.get_if(&id, |_| true).unwrap_or_default()
    }

    /// The parent request of `id` as remembered, if it serves a request (not a ticket).
    pub fn parent_request(&self, id: RequestId) -> Option<RequestId> {
        self.0
            .inspect(&id, |folded| match folded.state.request.as_ref()?.parent {
                Some(Parent::Request(parent)) => Some(parent),
                _ => None,
            })
            .flatten()
    }

    /// The children of `id` as remembered (none when it is not).
    pub fn children(&self, id: RequestId) -> Vec<RequestId> {
        self.0
            .inspect(&id, |folded| {
                folded
                    .state
                    .request
                    .as_ref()
                    .map(|request| request.children.keys().copied().collect())
            })
            .flatten()
            .unwrap_or_default()
    }

    /// Remembers `folded` for `id`, unless what is remembered is further on.
    pub fn remember(&self, id: RequestId, folded: Folded) {
        let version = folded.state.version;
        self.0
            .remember_unless(id, folded, |known| known.state.version > version);
    }

    /// `ids` brought up to date: each remembered fold, with what its stream gained since read
    /// from `store` in one round trip (and remembered).
    pub async fn refresh(
        &self,
        store: &EventStore,
        ids: impl IntoIterator<Item = RequestId>,
    ) -> Result<BTreeMap<RequestId, Folded>, LoadError> {
        let mut folds: BTreeMap<RequestId, Folded> =
            ids.into_iter().map(|id| (id, self.get(id))).collect();
        let streams: Vec<_> = folds
            .iter()
            .map(|(id, folded)| (request_stream(*id), folded.state.version))
            .collect();
        let tails = store.load_tails(&streams).await?;
        for recorded in &tails {
            let Ok(id) = recorded.stream.aggregate_id.parse::<RequestId>() else {
                continue;
            };
            if let Some(folded) = folds.get_mut(&id) {
                folded
                    .apply(StoredEvent::from(recorded))
                    .map_err(|source| LoadError::Codec {
                        stream: request_stream(id),
                        source,
                    })?;
            }
        }
        for (id, folded) in &folds {
            self.remember(*id, folded.clone());
        }
        Ok(folds)
    }
}
