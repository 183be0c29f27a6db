//! What this replica remembers of the streams it wrote: the requests it recently appended to,
//! as folded after its own append, and the links it has seen declared. A command on a request
//! it remembers decides without reading the stream again, and opening a request on a link it
//! has seen skips the link lookup: one round trip to the database instead of two.
//!
//! Another replica, the propagation of the projector or the deadline watch may have appended
//! since, so a remembered request is only a guess. A command decided on it appends with the
//! remembered version; a conflict, a refusal or an unexpected version sends the command back to
//! the store for the truth before anything is reported to the caller. A link, once declared,
//! is never withdrawn, so remembering that it exists is always true.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chain_domain::ids::RequestId;
use chain_domain::link::LinkKey;
use chain_domain::request::RequestState;
use chain_proto::customerchain::v1 as pb;

/// How many requests a replica remembers; beyond it, an arbitrary one is forgotten. A few
/// thousand open requests in flight fit, at about a kilobyte each.
const REMEMBERED_REQUESTS: usize = 20_000;

/// A request as folded after an append of this replica.
#[derive(Clone, Debug)]
pub(super) struct Folded {
    /// The state after the append.
    pub state: RequestState,
    /// The trigger of its latest risk.
    pub trigger: Option<pb::RiskTrigger>,
}

/// The requests and links this replica remembers.
#[derive(Debug, Default)]
pub(super) struct Recent {
    requests: Mutex<HashMap<RequestId, Folded>>,
    links: Mutex<HashSet<LinkKey>>,
}

impl Recent {
    /// The request `id` as this replica last wrote it, if it remembers it.
    pub fn request(&self, id: RequestId) -> Option<Folded> {
        self.requests().get(&id).cloned()
    }

    /// Remembers `folded` as the state of `id` after this replica's append.
    pub fn wrote(&self, id: RequestId, folded: Folded) {
        let mut requests = self.requests();
        if requests.len() >= REMEMBERED_REQUESTS && !requests.contains_key(&id) {
            let evicted = requests.keys().next().copied();
            if let Some(evicted) = evicted {
                requests.remove(&evicted);
            }
        }
        requests.insert(id, folded);
    }

    /// Forgets `id`: what is remembered of it proved stale or unknown.
    pub fn forget(&self, id: RequestId) {
        self.requests().remove(&id);
    }

    /// Whether the link `key` was seen declared.
    pub fn knows_link(&self, key: &LinkKey) -> bool {
        self.links().contains(key)
    }

    /// Remembers that the link `key` is declared.
    pub fn saw_link(&self, key: LinkKey) {
        self.links().insert(key);
    }

    fn requests(&self) -> std::sync::MutexGuard<'_, HashMap<RequestId, Folded>> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn links(&self) -> std::sync::MutexGuard<'_, HashSet<LinkKey>> {
        self.links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
