//! What the projector remembers between events: each ticket as folded so far, with what its
//! stored events add beyond the domain (`TicketExtras`), so that the next event of a ticket is
//! folded onto it instead of reading and folding the whole stream again. `GetTicket` keeps one
//! of its own, and reads only the events after the version it remembers.
//!
//! Memory is only a shortcut, never a source: it holds folds of committed events (delivered by
//! the bus or read from the store), which never change, and is used only for the event that
//! directly follows what it holds; any other event reads the stream. The map is emptied when
//! it grows past [`MAX_REMEMBERED`].

use chain_consumer::HandlerMemory;
use chain_domain::ids::TicketId;
use chain_domain::ticket::{TicketState, evolve};

use crate::codec::{CodecError, StoredEvent, TicketExtras, decode_ticket};

/// Tickets remembered before the memory starts afresh.
pub const MAX_REMEMBERED: usize = 100_000;

/// A ticket folded up to its `state.version`.
#[derive(Debug, Clone, Default)]
pub(crate) struct FoldedTicket {
    /// The state (its version is the stream's).
    pub state: TicketState,
    /// What the stream's stored events add.
    pub extras: TicketExtras,
}

impl FoldedTicket {
    /// Folds the next event of the stream.
    pub fn apply(&mut self, stored: StoredEvent<'_>) -> Result<(), CodecError> {
        let event = decode_ticket(stored)?;
        self.extras.absorb(stored)?;
        self.state = evolve(std::mem::take(&mut self.state), &event);
        Ok(())
    }
}

/// The projector's memory; shared by its clones.
#[derive(Debug)]
pub(crate) struct TicketMemory(HandlerMemory<TicketId, FoldedTicket>);

impl Default for TicketMemory {
    fn default() -> Self {
        Self(HandlerMemory::new(MAX_REMEMBERED))
    }
}

impl TicketMemory {
    /// A memory that starts afresh once it holds `capacity` tickets.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(HandlerMemory::new(capacity))
    }

    /// `id` as remembered, if it stands just before stream version `version`.
    pub fn before(&self, id: TicketId, version: u64) -> Option<FoldedTicket> {
        self.0
            .get_if(&id, |folded| folded.state.version + 1 == version)
    }

    /// Remembers `folded` for `id`.
    pub fn remember(&self, id: TicketId, folded: FoldedTicket) {
        self.0.remember(id, folded);
    }

    /// `id` as remembered, whatever its version.
    pub fn latest(&self, id: TicketId) -> Option<FoldedTicket> {
        self.0.get_if(&id, |_| true)
    }

    /// Remembers `folded` for `id`, unless a later fold of it is held already (two reads of
    /// one ticket ending in either order).
    pub fn remember_newer(&self, id: TicketId, folded: FoldedTicket) {
        let version = folded.state.version;
        self.0
            .remember_unless(id, folded, |held| held.state.version >= version);
    }
}
