//! What callers (and the deadline watch, and propagation) can ask of a request.

use chrono::{DateTime, Utc};

use super::risk::ChildOutlook;
use super::state::{BreakdownKind, Parent};
use crate::commitment::CommitmentKind;
use crate::ids::{CaseId, RequestId, TeamId};

/// The data needed to open a request. The acting team is the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    /// The new request's id (made by the service).
    pub request_id: RequestId,
    /// The case it belongs to: its own id for a root request, the ticket for a request that
    /// serves a ticket, the parent's case otherwise (see [`super::Request::accepts_child`]).
    pub case_id: CaseId,
    /// The team that asks (the caller).
    pub consumer: TeamId,
    /// The team asked to serve.
    pub provider: TeamId,
    /// What is asked for: required, at most 200 characters, trimmed.
    pub title: String,
    /// When the consumer needs it; must be after now.
    pub needed_by: DateTime<Utc>,
    /// What this request serves, if anything.
    pub parent: Option<Parent>,
}

/// A command on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestCommand {
    /// Open the request (consumer).
    Open(OpenRequest),
    /// Promise a due time (provider, from `Opened`). A due time later than the parent's is
    /// accepted: the parent goes at risk through propagation.
    Commit {
        /// The acting team; must be the provider.
        actor: TeamId,
        /// The promised due time; must be after now.
        due_at: DateTime<Utc>,
        /// What kind of promise it is.
        kind: CommitmentKind,
    },
    /// Announce a new due time (provider, from `Committed`). Proactive when made before the
    /// current due time.
    Revise {
        /// The acting team; must be the provider.
        actor: TeamId,
        /// The new due time; after now and different from the current one.
        new_due_at: DateTime<Utc>,
        /// Why: required, at most 2000 characters.
        reason: String,
    },
    /// Deliver (provider, from `Committed`).
    Fulfil {
        /// The acting team; must be the provider.
        actor: TeamId,
    },
    /// Withdraw the request (consumer, from `Opened` or `Committed`).
    Cancel {
        /// The acting team; must be the consumer.
        actor: TeamId,
        /// Why: required, at most 2000 characters.
        reason: String,
    },
    /// Report that the provider's service broke down (consumer). `NotUsable` needs a delivery
    /// (`Fulfilled`); `NotServedWell` is allowed in any state but `Cancelled`.
    ReportBreakdown {
        /// The acting team; must be the consumer.
        actor: TeamId,
        /// What went wrong.
        kind: BreakdownKind,
        /// Why: required, at most 2000 characters.
        reason: String,
    },
    /// Declare the outstanding breakdowns settled, e.g. a remedy was received (consumer).
    ResolveBreakdown {
        /// The acting team; must be the consumer.
        actor: TeamId,
    },
    /// The deadline watch: the due time (or, with no commitment, the needed-by time) passed
    /// unfulfilled. A repeat on an already breached request is a no-op.
    MarkBreached,
    /// Propagation: the latest outlook of one of this request's children.
    ObserveChild(ChildOutlook),
}

impl RequestCommand {
    /// The command's name as used in errors.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Open(_) => "OpenRequest",
            Self::Commit { .. } => "CommitRequest",
            Self::Revise { .. } => "ReviseRequest",
            Self::Fulfil { .. } => "FulfilRequest",
            Self::Cancel { .. } => "CancelRequest",
            Self::ReportBreakdown { .. } => "ReportBreakdown",
            Self::ResolveBreakdown { .. } => "ResolveBreakdown",
            Self::MarkBreached => "MarkBreached",
            Self::ObserveChild(_) => "ObserveChild",
        }
    }
}
