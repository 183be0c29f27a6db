//! One ticket's case tree as the chain view knows it: every request of the case folded from
//! its events, the domain's [`CaseView`] over them, and what the ticket needs from it — the
//! outlook of each request serving the ticket directly, the case's feasibility, its projected
//! completion, and what happened at the root of a risk.
//!
//! **Outlooks from the whole tree.** The outlook of a request serving the ticket is computed
//! from the tree itself (the risk [`CaseView`] recomputes from every request's own facts),
//! not from the risk requests-svc recorded on that request: the answer is then the same
//! whatever order the requests' events arrive in, and does not wait for requests-svc's
//! propagation to climb the tree. Its version is the sum of the stream versions of the
//! request's subtree, which grows with every event anywhere below it, so the ticket's rule
//! "ignore an outlook no newer than the one known" keeps working across the whole subtree.

use std::collections::{BTreeMap, BTreeSet};

use chain_domain::case::{CaseView, Feasibility};
use chain_domain::ids::{RequestId, TicketId};
use chain_domain::link::RequestLink;
use chain_domain::propagation::outlook;
use chain_domain::request::{ChildOutlook, Parent, RequestState, RequestStatus};
use chain_proto::customerchain::v1 as pb;
use chain_requests::codec::{CodecError, StoredEvent};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::memory::FoldedCase;

/// The most requests a case may hold before the chain view stops folding it (a runaway tree
/// is an error upstream, not something to recompute on every event).
pub const MAX_CASE_REQUESTS: i64 = 2_000;

/// Why a case could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored request event does not decode.
    #[error("request {request}: {source}")]
    Codec {
        /// The request.
        request: Uuid,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// The case holds more than [`MAX_CASE_REQUESTS`] requests.
    #[error("the case of ticket {0} holds more than {MAX_CASE_REQUESTS} requests")]
    TooLarge(TicketId),
}

/// A ticket's case tree.
#[derive(Debug, Clone)]
pub struct TicketCase {
    /// The ticket at the root of the case.
    pub ticket_id: TicketId,
    /// Every request of the case, folded.
    pub states: BTreeMap<RequestId, RequestState>,
    /// The tree, with projections, risks and the critical path.
    pub view: CaseView,
}

impl TicketCase {
    /// The case of `ticket` from the chain view's tables, computed at `now`.
    pub async fn load(
        conn: &mut PgConnection,
        ticket: TicketId,
        now: DateTime<Utc>,
    ) -> Result<Self, CaseError> {
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM chain_requests WHERE ticket_id = $1")
                .bind(ticket.as_uuid())
                .fetch_one(&mut *conn)
                .await?;
        if count > MAX_CASE_REQUESTS {
            return Err(CaseError::TooLarge(ticket));
        }
        let folded = fold_case(conn, ticket, None).await?;
        Ok(Self::from_states(ticket, folded.states, now))
    }

    /// The case of `ticket` from folded request states.
    pub fn from_states(
        ticket_id: TicketId,
        states: BTreeMap<RequestId, RequestState>,
        now: DateTime<Utc>,
    ) -> Self {
        let view = CaseView::from_states(states.values().cloned(), now);
        Self {
            ticket_id,
            states,
            view,
        }
    }

    /// Whether no request serves the ticket (yet).
    pub fn is_empty(&self) -> bool {
        self.serving().is_empty()
    }

    /// The requests serving the ticket directly (their parent is the ticket), by id.
    pub fn serving(&self) -> Vec<RequestId> {
        self.states
            .values()
            .filter_map(|s| s.request.as_ref())
            .filter(|r| r.parent == Some(Parent::Ticket(self.ticket_id)))
            .map(|r| r.id)
            .collect()
    }

    /// The sum of the stream versions of `id`'s subtree (itself included).
    fn subtree_version(&self, id: RequestId) -> u64 {
        let mut seen = BTreeSet::new();
        let mut stack = vec![id];
        let mut sum = 0_u64;
        while let Some(next) = stack.pop() {
            if !seen.insert(next) {
                continue;
            }
            if let Some(node) = self.view.node(next) {
                sum = sum.saturating_add(node.version);
                stack.extend(node.children.iter().copied());
            }
        }
        sum
    }

    /// What the ticket sees of one request serving it: its condition as the tree computes
    /// it, at the version of its subtree.
    pub fn outlook_of(&self, id: RequestId) -> Option<ChildOutlook> {
        let node = self.view.node(id)?;
        let mut state = self.states.get(&id)?.clone();
        if let Some(request) = state.request.as_mut()
            && request.is_open()
        {
            request.risk = node.risk.clone();
        }
        state.version = self.subtree_version(id);
        outlook(&state)
    }

    /// The outlook of every request serving the ticket, by request id.
    pub fn outlooks(&self) -> Vec<ChildOutlook> {
        self.serving()
            .into_iter()
            .filter_map(|id| self.outlook_of(id))
            .collect()
    }

    /// The earliest the chain can deliver the ticket, and why: the latest-feasible of the
    /// requests serving it; `None` when none does (or all are cancelled).
    pub fn feasibility(&self) -> Option<Feasibility> {
        self.serving()
            .into_iter()
            .filter_map(|id| self.view.feasibility_of(id))
            .fold(None, |best: Option<Feasibility>, f| match best {
                Some(b) if b.earliest >= f.earliest => Some(b),
                _ => Some(f),
            })
    }

    /// When the chain is projected to deliver the ticket: the latest projected completion of
    /// the requests serving it (a fulfilled one counts at its delivery, a cancelled one not
    /// at all); `None` when none serves it, or a breach or breakdown makes it unknowable.
    pub fn projected_completion(&self) -> Option<DateTime<Utc>> {
        let mut latest: Option<DateTime<Utc>> = None;
        for id in self.serving() {
            let node = self.view.node(id)?;
            let request = &node.request;
            let at = match &request.status {
                RequestStatus::Cancelled { .. } => continue,
                RequestStatus::Fulfilled { at, .. }
                    if request.outstanding_breakdown().is_none() =>
                {
                    *at
                }
                RequestStatus::Opened | RequestStatus::Committed => node.projected_completion?,
                RequestStatus::Fulfilled { .. } | RequestStatus::Breached { .. } => return None,
            };
            latest = Some(latest.map_or(at, |l| l.max(at)));
        }
        latest
    }

    /// What happened at `root_cause`, the request where a risk started: it breached, broke
    /// down, revised its due time, committed later than it was needed, or its projection
    /// slipped some other way.
    pub fn trigger(&self, root_cause: RequestId) -> pb::RiskTrigger {
        let Some(request) = self
            .states
            .get(&root_cause)
            .and_then(|s| s.request.as_ref())
        else {
            return pb::RiskTrigger::ProjectionLate;
        };
        if matches!(request.status, RequestStatus::Breached { .. }) {
            pb::RiskTrigger::Breached
        } else if request.outstanding_breakdown().is_some() {
            pb::RiskTrigger::Breakdown
        } else if !request.revisions.is_empty() {
            pb::RiskTrigger::Revised
        } else if request.commitment.is_some() {
            pb::RiskTrigger::CommitmentLate
        } else {
            pb::RiskTrigger::ProjectionLate
        }
    }

    /// The links from `from` up to the request serving the ticket: `from` first, the request
    /// serving the ticket last (a cause path, if the trouble starts at `from`).
    pub fn path_to_ticket(&self, from: RequestId) -> Vec<RequestLink> {
        let mut path = Vec::new();
        let mut seen = BTreeSet::new();
        let mut current = Some(from);
        while let Some(id) = current {
            if !seen.insert(id) {
                break;
            }
            let Some(request) = self.states.get(&id).and_then(|s| s.request.as_ref()) else {
                break;
            };
            path.push(request.link());
            current = match request.parent {
                Some(Parent::Request(parent)) => Some(parent),
                _ => None,
            };
        }
        path
    }
}

/// Every request of `ticket`'s case folded from the events the chain view kept (the caller
/// checks the case's size first): each up to its version in `upto`, when given, and a request
/// `upto` does not name, or `None`, up to its last kept event. The chain view keeps a whole
/// transaction's events before it handles the first, so an event's case must not see the
/// later ones.
pub(crate) async fn fold_case(
    conn: &mut PgConnection,
    ticket: TicketId,
    upto: Option<&BTreeMap<RequestId, u64>>,
) -> Result<FoldedCase, CaseError> {
    let rows = sqlx::query(
        "SELECT e.request_id, e.version, e.event_type, e.schema_version, e.occurred_at,
                e.payload
         FROM chain_request_events e JOIN chain_requests r ON r.request_id = e.request_id
         WHERE r.ticket_id = $1
         ORDER BY e.request_id, e.version",
    )
    .bind(ticket.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    let mut folded = FoldedCase::default();
    for row in &rows {
        let request: Uuid = row.try_get("request_id")?;
        let version: i64 = row.try_get("version")?;
        let last = upto.and_then(|upto| upto.get(&RequestId::from_uuid(request)));
        if last.is_some_and(|last| u64::try_from(version).unwrap_or(0) > *last) {
            continue;
        }
        let event_type: String = row.try_get("event_type")?;
        let schema_version: i32 = row.try_get("schema_version")?;
        let payload: Vec<u8> = row.try_get("payload")?;
        let stored = StoredEvent {
            event_type: &event_type,
            schema_version: u32::try_from(schema_version).unwrap_or(0),
            occurred_at: row.try_get("occurred_at")?,
            payload: &payload,
        };
        folded
            .apply(RequestId::from_uuid(request), stored)
            .map_err(|source| CaseError::Codec { request, source })?;
    }
    Ok(folded)
}
