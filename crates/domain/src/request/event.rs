//! What happens to a request. Every event names its request; the events a parent (or the
//! tickets service, when the parent is a ticket) reacts to also carry the parent, so they can
//! be acted on without the request's history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::risk::{ChildOutlook, Risk};
use super::state::{BreakdownKind, Parent};
use crate::commitment::Commitment;
use crate::decider::DomainEvent;
use crate::ids::{CaseId, RequestId, TeamId};
use crate::link::RequestLink;

/// An event of the InternalRequest aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum RequestEvent {
    /// The consumer opened the request.
    #[serde(rename = "RequestOpened")]
    Opened {
        /// The request.
        request_id: RequestId,
        /// The case it belongs to (the correlation id of every event in the tree).
        case_id: CaseId,
        /// The team that asked.
        consumer: TeamId,
        /// The team asked to serve.
        provider: TeamId,
        /// What was asked for.
        title: String,
        /// When the consumer needs it.
        needed_by: DateTime<Utc>,
        /// What it serves, if anything.
        parent: Option<Parent>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The provider committed to a due time.
    #[serde(rename = "RequestCommitted")]
    Committed {
        /// The request.
        request_id: RequestId,
        /// What it serves.
        parent: Option<Parent>,
        /// The promise; `committed_at` is when this happened.
        commitment: Commitment,
    },
    /// The provider announced a new due time.
    #[serde(rename = "RequestRevised")]
    Revised {
        /// The request.
        request_id: RequestId,
        /// What it serves.
        parent: Option<Parent>,
        /// The due time before.
        previous_due: DateTime<Utc>,
        /// The due time after.
        new_due: DateTime<Utc>,
        /// Why.
        reason: String,
        /// Announced before the previous due time (a notice in time, not a surprise).
        proactive: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// The provider delivered.
    #[serde(rename = "RequestFulfilled")]
    Fulfilled {
        /// The request.
        request_id: RequestId,
        /// What it serves.
        parent: Option<Parent>,
        /// The due time in force when it was delivered.
        due_at: DateTime<Utc>,
        /// Delivered by that due time.
        on_time: bool,
        /// When.
        at: DateTime<Utc>,
    },
    /// The consumer withdrew the request.
    #[serde(rename = "RequestCancelled")]
    Cancelled {
        /// The request.
        request_id: RequestId,
        /// What it serves.
        parent: Option<Parent>,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The due time (or, never committed, the needed-by time) passed unfulfilled.
    #[serde(rename = "RequestBreached")]
    Breached {
        /// The request.
        request_id: RequestId,
        /// What it serves.
        parent: Option<Parent>,
        /// The time that passed.
        due_at: DateTime<Utc>,
        /// Whether the provider had committed (false: the request was never even answered).
        committed: bool,
        /// The cause path of the risk it was under, root cause first; empty if none.
        cause_path: Vec<RequestLink>,
        /// When the breach was recorded.
        at: DateTime<Utc>,
    },
    /// The consumer reported a breakdown.
    #[serde(rename = "RequestBreakdownReported")]
    BreakdownReported {
        /// The request.
        request_id: RequestId,
        /// What it serves.
        parent: Option<Parent>,
        /// What went wrong.
        kind: BreakdownKind,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The consumer declared the outstanding breakdowns settled.
    #[serde(rename = "RequestBreakdownResolved")]
    BreakdownResolved {
        /// The request.
        request_id: RequestId,
        /// What it serves.
        parent: Option<Parent>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Propagation: the request learned the latest outlook of one of its children.
    #[serde(rename = "RequestChildObserved")]
    ChildObserved {
        /// The (parent) request.
        request_id: RequestId,
        /// The child's outlook.
        outlook: ChildOutlook,
        /// When.
        at: DateTime<Utc>,
    },
    /// The request became at risk, or its risk changed (another cause or projection).
    #[serde(rename = "RequestAtRisk")]
    AtRisk {
        /// The request.
        request_id: RequestId,
        /// What it serves (a ticket here tells the tickets service to act).
        parent: Option<Parent>,
        /// The cause path and projection.
        risk: Risk,
        /// When.
        at: DateTime<Utc>,
    },
    /// The request is no longer at risk (recovery).
    #[serde(rename = "RequestRiskCleared")]
    RiskCleared {
        /// The request.
        request_id: RequestId,
        /// What it serves.
        parent: Option<Parent>,
        /// The projected completion now: the request's own due time.
        projected_completion: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
}

impl RequestEvent {
    /// The request the event belongs to (its stream).
    pub const fn request_id(&self) -> RequestId {
        match self {
            Self::Opened { request_id, .. }
            | Self::Committed { request_id, .. }
            | Self::Revised { request_id, .. }
            | Self::Fulfilled { request_id, .. }
            | Self::Cancelled { request_id, .. }
            | Self::Breached { request_id, .. }
            | Self::BreakdownReported { request_id, .. }
            | Self::BreakdownResolved { request_id, .. }
            | Self::ChildObserved { request_id, .. }
            | Self::AtRisk { request_id, .. }
            | Self::RiskCleared { request_id, .. } => *request_id,
        }
    }

    /// Whether the event changes what the request's parent sees of it (its
    /// [`ChildOutlook`]); every event but [`RequestEvent::ChildObserved`] does.
    pub const fn concerns_parent(&self) -> bool {
        !matches!(self, Self::ChildObserved { .. })
    }
}

impl DomainEvent for RequestEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Opened { .. } => "RequestOpened",
            Self::Committed { .. } => "RequestCommitted",
            Self::Revised { .. } => "RequestRevised",
            Self::Fulfilled { .. } => "RequestFulfilled",
            Self::Cancelled { .. } => "RequestCancelled",
            Self::Breached { .. } => "RequestBreached",
            Self::BreakdownReported { .. } => "RequestBreakdownReported",
            Self::BreakdownResolved { .. } => "RequestBreakdownResolved",
            Self::ChildObserved { .. } => "RequestChildObserved",
            Self::AtRisk { .. } => "RequestAtRisk",
            Self::RiskCleared { .. } => "RequestRiskCleared",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }

    fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::Committed { commitment, .. } => commitment.committed_at,
            Self::Opened { at, .. }
            | Self::Revised { at, .. }
            | Self::Fulfilled { at, .. }
            | Self::Cancelled { at, .. }
            | Self::Breached { at, .. }
            | Self::BreakdownReported { at, .. }
            | Self::BreakdownResolved { at, .. }
            | Self::ChildObserved { at, .. }
            | Self::AtRisk { at, .. }
            | Self::RiskCleared { at, .. } => *at,
        }
    }
}
