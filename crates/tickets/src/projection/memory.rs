//! What the projector remembers between events: each ticket as folded so far, with what its
//! stored events add beyond the domain (`TicketExtras`), so that the next event of a ticket is
//! folded onto it instead of reading and folding the whole stream again.
//!
//! Memory is only a shortcut, never a source: it holds folds of committed events (delivered by
//! the bus or read from the store), which never change, and is used only for the event that
//! directly follows what it holds; any other event reads the stream. The map is emptied when
//! it grows past [`MAX_REMEMBERED`].

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

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
#[derive(Debug, Default)]
pub(crate) struct TicketMemory {
    tickets: Mutex<HashMap<TicketId, FoldedTicket>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding it leaves a whole map of committed folds: nothing to repair.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TicketMemory {
    /// `id` as remembered, if it stands just before stream version `version`.
    pub fn before(&self, id: TicketId, version: u64) -> Option<FoldedTicket> {
        lock(&self.tickets)
            .get(&id)
            .filter(|folded| folded.state.version + 1 == version)
            .cloned()
    }

    /// Remembers `folded` for `id`.
    pub fn remember(&self, id: TicketId, folded: FoldedTicket) {
        let mut tickets = lock(&self.tickets);
        if tickets.len() >= MAX_REMEMBERED && !tickets.contains_key(&id) {
            tickets.clear();
        }
        tickets.insert(id, folded);
    }
}
