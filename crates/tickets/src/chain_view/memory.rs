//! What the chain view remembers between events, so that an event is folded onto the state
//! it left instead of reading and folding a whole case and a whole ticket stream again: each
//! case's request states (with their stream decoders) and each ticket's folded state.
//!
//! Memory is only a shortcut, never a source: it is used when it agrees with what the
//! database says inside the event's transaction — the version of every request of the case
//! (`chain_requests.version`, written in the same transactions as the events) and the
//! ticket's stream version and last event id. A transaction that rolled back after the memory
//! moved on, or another replica's work, makes them differ, and the case or ticket is read
//! again. A ticket needs the event id beside its version: a reaction appended in a transaction
//! that rolled back leaves a state remembered at a version that another writer (a command on
//! the ticket) may then fill with a different event. Both
//! maps are emptied when they grow past [`MAX_REMEMBERED`] entries.

use std::collections::BTreeMap;

use chain_consumer::HandlerMemory;
use chain_domain::ids::{CustomerId, RequestId, TicketId};
use chain_domain::request::{RequestState, evolve};
use chain_domain::ticket::TicketState;
use chain_requests::codec::{CodecError, RequestStreamDecoder, StoredEvent};
use uuid::Uuid;

use super::tables::StreamMark;

/// Cases (and tickets) remembered before the memory starts afresh.
pub const MAX_REMEMBERED: usize = 20_000;

/// A case's requests as folded so far.
#[derive(Debug, Clone, Default)]
pub struct FoldedCase {
    /// Each request's state (its `version` is its stream version).
    pub states: BTreeMap<RequestId, RequestState>,
    /// Each request's stream decoder, positioned after its last event.
    pub decoders: BTreeMap<RequestId, RequestStreamDecoder>,
}

impl FoldedCase {
    /// Folds the next event of `request`'s stream.
    pub fn apply(&mut self, request: RequestId, stored: StoredEvent<'_>) -> Result<(), CodecError> {
        let event = self.decoders.entry(request).or_default().decode(stored)?;
        let state = self.states.remove(&request).unwrap_or_default();
        self.states.insert(request, evolve(state, &event));
        Ok(())
    }

    /// Whether this is the case the database holds: the same requests at the same versions
    /// (a request the database holds at version 0 is one just opened, not folded yet).
    fn agrees_with(&self, committed: &BTreeMap<RequestId, u64>) -> bool {
        let folded = |id: &RequestId| self.states.get(id).map_or(0, |s| s.version);
        committed.iter().all(|(id, version)| folded(id) == *version)
            && self.states.keys().all(|id| committed.contains_key(id))
    }
}

/// The chain view's memory; shared by its clones.
#[derive(Debug)]
pub struct Memory {
    cases: HandlerMemory<TicketId, FoldedCase>,
    tickets: HandlerMemory<TicketId, (TicketState, Option<Uuid>)>,
}

impl Default for Memory {
    fn default() -> Self {
        Self {
            cases: HandlerMemory::new(MAX_REMEMBERED),
            tickets: HandlerMemory::new(MAX_REMEMBERED),
        }
    }
}

impl Memory {
    /// The case of `ticket` as remembered, if it agrees with `committed` (request → version).
    pub fn case(
        &self,
        ticket: TicketId,
        committed: &BTreeMap<RequestId, u64>,
    ) -> Option<FoldedCase> {
        self.cases
            .get_if(&ticket, |case| case.agrees_with(committed))
    }

    /// The versions remembered for `ticket`'s case (for diagnostics).
    pub fn versions(&self, ticket: TicketId) -> Option<BTreeMap<RequestId, u64>> {
        self.cases.inspect(&ticket, |case| {
            case.states.iter().map(|(id, s)| (*id, s.version)).collect()
        })
    }

    /// The customer of `ticket`, if any state of it is remembered (a ticket's customer never
    /// changes).
    pub fn customer_of(&self, ticket: TicketId) -> Option<CustomerId> {
        self.tickets.inspect(&ticket, |(state, _)| {
            state.ticket.as_ref().map(|ticket| ticket.customer_id)
        })?
    }

    /// The ticket as remembered, if its stream stands at `at` (its version and last event).
    pub fn ticket(&self, ticket: TicketId, at: StreamMark) -> Option<TicketState> {
        self.tickets
            .get_if(&ticket, |(state, last)| {
                state.version == at.version && *last == at.last_event
            })
            .map(|(state, _)| state)
    }

    /// Remembers the case of `ticket` after an event.
    pub fn remember_case(&self, ticket: TicketId, case: FoldedCase) {
        self.cases.remember(ticket, case);
    }

    /// Remembers `ticket`'s state after its event `last_event`.
    pub fn remember_ticket(&self, ticket: TicketId, state: TicketState, last_event: Option<Uuid>) {
        self.tickets.remember(ticket, (state, last_event));
    }

    /// Forgets everything about `ticket` (its event failed: the next one reads afresh).
    pub fn forget(&self, ticket: TicketId) {
        self.cases.forget(&ticket);
        self.tickets.forget(&ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn request(n: u128) -> RequestId {
        RequestId::from_uuid(Uuid::from_u128(n))
    }

    fn at(version: u64) -> RequestState {
        RequestState {
            request: None,
            version,
        }
    }

    #[test]
    fn a_case_is_recalled_only_at_the_versions_the_database_holds() {
        let memory = Memory::default();
        let ticket = TicketId::from_uuid(Uuid::from_u128(9));
        let mut case = FoldedCase::default();
        case.states.insert(request(1), at(3));
        case.states.insert(request(2), at(2));
        memory.remember_case(ticket, case);

        let same = BTreeMap::from([(request(1), 3), (request(2), 2)]);
        assert!(memory.case(ticket, &same).is_some());
        let just_opened = BTreeMap::from([(request(1), 3), (request(2), 2), (request(3), 0)]);
        assert!(
            memory.case(ticket, &just_opened).is_some(),
            "a request opened by this event is not folded yet"
        );
        let rolled_back = BTreeMap::from([(request(1), 2), (request(2), 2)]);
        assert!(memory.case(ticket, &rolled_back).is_none());
        let moved_on = BTreeMap::from([(request(1), 3), (request(2), 3)]);
        assert!(memory.case(ticket, &moved_on).is_none());
        let unknown_here = BTreeMap::from([(request(1), 3)]);
        assert!(memory.case(ticket, &unknown_here).is_none());

        memory.forget(ticket);
        assert!(memory.case(ticket, &same).is_none());
    }

    #[test]
    fn a_ticket_is_recalled_only_at_its_stream_version_and_last_event() {
        let memory = Memory::default();
        let ticket = TicketId::from_uuid(Uuid::from_u128(9));
        let last = Uuid::from_u128(40);
        memory.remember_ticket(
            ticket,
            TicketState {
                version: 4,
                ..TicketState::default()
            },
            Some(last),
        );
        let at = |version, last_event| StreamMark {
            version,
            last_event,
        };
        assert!(memory.ticket(ticket, at(4, Some(last))).is_some());
        assert!(memory.ticket(ticket, at(5, Some(last))).is_none());
        assert!(memory.ticket(ticket, at(3, Some(last))).is_none());
        assert!(
            memory
                .ticket(ticket, at(4, Some(Uuid::from_u128(41))))
                .is_none(),
            "version 4 written by another writer after ours was rolled back"
        );
    }
}
