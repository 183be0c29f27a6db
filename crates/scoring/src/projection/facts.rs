//! What the projection remembers of the input events, per thing: requests, links, tickets,
//! customers and impacts. Facts change only by events of their own stream, in stream order,
//! so they are the same whatever the interleaving of the input stores; everything else is
//! derived from them ([`super::derive()`]). Stored as JSON (`serde_json`, deterministic for these
//! types) so a rebuild writes the same bytes.

use std::collections::BTreeSet;

use chain_domain::commitment::Commitment;
use chain_domain::customer::Tier;
use chain_domain::ids::CaseId;
use chain_domain::ids::{CustomerId, EventId, RequestId, TeamId, TicketId};
use chain_domain::link::{LinkKey, RequestLink};
use chain_domain::request::{Breakdown, BreakdownKind, Parent, Request, RequestStatus, Revision};
use chain_domain::scoring::Reliability;
use chain_domain::ticket::PromiseOutcome;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codec::{LedgerFacts, Value};

/// An impact's key: one record per (ticket, promise).
pub type ImpactKey = (TicketId, u32);

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RequestStage {
    /// Asked.
    Opened,
    /// Committed.
    Committed,
    /// Delivered.
    Fulfilled {
        /// When.
        at: DateTime<Utc>,
        /// By the due time in force.
        on_time: bool,
    },
    /// Its due time passed unfulfilled.
    Breached {
        /// When.
        at: DateTime<Utc>,
    },
    /// Withdrawn.
    Cancelled {
        /// When.
        at: DateTime<Utc>,
    },
}

/// A revision of a request's due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionFacts {
    /// The due time before.
    pub previous_due: DateTime<Utc>,
    /// The due time after.
    pub new_due: DateTime<Utc>,
    /// Announced before the previous due time.
    pub proactive: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// A breakdown reported on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakdownFacts {
    /// What kind.
    pub kind: BreakdownKind,
    /// When reported.
    pub reported_at: DateTime<Utc>,
    /// When settled.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// One internal request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFacts {
    /// The request.
    pub id: RequestId,
    /// Its case: the root ticket's id or the root request's id.
    pub case: Uuid,
    /// The team that asked.
    pub consumer: TeamId,
    /// The team that serves.
    pub provider: TeamId,
    /// When the consumer needs it.
    pub needed_by: DateTime<Utc>,
    /// What it serves.
    pub parent: Option<Parent>,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Where it is.
    pub stage: RequestStage,
    /// The provider's promise.
    pub commitment: Option<Commitment>,
    /// Revisions, oldest first.
    pub revisions: Vec<RevisionFacts>,
    /// Breakdowns, oldest first.
    pub breakdowns: Vec<BreakdownFacts>,
    /// Its time ledger, from its terminal event.
    pub ledger: Option<LedgerFacts>,
    /// The outcome last recorded as a signal for its link.
    pub outcome: Option<Reliability>,
    /// The time of its latest event.
    pub last_at: DateTime<Utc>,
}

impl RequestFacts {
    /// The link (and request) it crosses.
    pub const fn link(&self) -> RequestLink {
        RequestLink {
            request_id: self.id,
            provider: self.provider,
            consumer: self.consumer,
        }
    }

    /// Whether it is still open.
    pub const fn is_open(&self) -> bool {
        matches!(self.stage, RequestStage::Opened | RequestStage::Committed)
    }

    /// The domain's request, for the domain's scoring functions (outcome, delivery). What the
    /// projection does not keep (title, children, risk) is left empty: those functions do not
    /// read it.
    pub fn to_domain(&self) -> Request {
        let status = match self.stage {
            RequestStage::Opened => RequestStatus::Opened,
            RequestStage::Committed => RequestStatus::Committed,
            RequestStage::Fulfilled { at, on_time } => RequestStatus::Fulfilled { at, on_time },
            RequestStage::Breached { at } => RequestStatus::Breached {
                at,
                cause_path: Vec::new(),
            },
            RequestStage::Cancelled { at } => RequestStatus::Cancelled { at },
        };
        Request {
            id: self.id,
            case_id: match self.parent {
                Some(Parent::Ticket(_)) => CaseId::Ticket(TicketId::from_uuid(self.case)),
                _ => CaseId::Request(RequestId::from_uuid(self.case)),
            },
            consumer: self.consumer,
            provider: self.provider,
            title: String::new(),
            needed_by: self.needed_by,
            parent: self.parent,
            opened_at: self.opened_at,
            status,
            commitment: self.commitment,
            revisions: self
                .revisions
                .iter()
                .map(|r| Revision {
                    previous_due: r.previous_due,
                    new_due: r.new_due,
                    reason: String::new(),
                    proactive: r.proactive,
                    at: r.at,
                })
                .collect(),
            breakdowns: self
                .breakdowns
                .iter()
                .map(|b| Breakdown {
                    kind: b.kind,
                    reason: String::new(),
                    reported_at: b.reported_at,
                    resolved_at: b.resolved_at,
                })
                .collect(),
            children: Default::default(),
            risk: None,
            at_risk_since: None,
        }
    }
}

/// A declared link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkFacts {
    /// When first declared.
    pub declared_at: DateTime<Utc>,
}

/// How a ticket was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// How its promise ended; `None` when it never had one.
    pub outcome: Option<PromiseOutcome>,
    /// How late, ms.
    pub late_by_ms: Option<i64>,
    /// Whether the customer was told before a due time passed.
    pub notified: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// One ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TicketFacts {
    /// Its customer.
    pub customer: Option<CustomerId>,
    /// The front-line team.
    pub front_line: Option<TeamId>,
    /// The promises the customer was told about before their due time.
    pub notified: BTreeSet<u32>,
    /// Its resolution.
    pub resolved: Option<Resolution>,
}

/// One external customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CustomerFacts {
    /// When registered.
    pub registered_at: Option<DateTime<Utc>>,
    /// Its value.
    pub value: Option<Value>,
    /// Its tier.
    pub tier: Option<Tier>,
    /// The time of its latest customer event.
    pub last_at: Option<DateTime<Utc>>,
}

/// Whether an impact started at risk or broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImpactStart {
    /// The promise went at risk.
    AtRisk,
    /// The promise broke without having been at risk first.
    Broken,
}

impl ImpactStart {
    /// A stable name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::AtRisk => "at_risk",
            Self::Broken => "broken",
        }
    }
}

/// One external impact, as first recorded (and whether its promise then broke).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpactFacts {
    /// How it started.
    pub start: ImpactStart,
    /// The customer hurt.
    pub customer: CustomerId,
    /// Its tier then.
    pub tier: Option<Tier>,
    /// Its value then: what is at stake.
    pub value: Option<Value>,
    /// From the root cause to the request serving the ticket.
    pub path: Vec<RequestLink>,
    /// The projected delay when recorded, ms.
    pub projected_delay_ms: i64,
    /// The promise's due time.
    pub due_at: DateTime<Utc>,
    /// When recorded (event time).
    pub recorded_at: DateTime<Utc>,
    /// The tickets-svc event it comes from.
    pub source_event: EventId,
    /// Whether the customer had been told, when the promise broke; `None` while not broken.
    pub broken_notified: Option<bool>,
}

impl ImpactFacts {
    /// The links of its path, each once.
    pub fn links(&self) -> BTreeSet<LinkKey> {
        self.path.iter().map(RequestLink::key).collect()
    }
}
