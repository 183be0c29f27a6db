//! The parts of a ticket's promise: the promise itself and its renegotiations, the risk it is
//! under, the acknowledgement of an infeasible promise, the notices given to the customer with
//! the remedy offered, and the outcome.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::case::Feasibility;
use crate::commitment::CommitmentKind;
use crate::error::DomainError;
use crate::link::RequestLink;
use crate::request::Risk;

/// What the business promised the customer on a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promise {
    /// When it is due now (moved by an accepted renegotiation).
    pub due_at: DateTime<Utc>,
    /// When it was first due.
    pub original_due: DateTime<Utc>,
    /// What kind of promise it is.
    pub kind: CommitmentKind,
    /// What was said to the customer ("your desk in two weeks").
    pub wording: String,
    /// When it was made: the start of the promised window.
    pub made_at: DateTime<Utc>,
}

impl Promise {
    /// The promised window: from when the promise was made to when it is due now. Lateness is
    /// judged relative to it (a day late on a two-week promise is not a day late on a
    /// one-hour one).
    pub fn window(&self) -> TimeDelta {
        self.due_at - self.made_at
    }
}

/// One accepted renegotiation of the due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renegotiation {
    /// The due time before.
    pub previous_due: DateTime<Utc>,
    /// The due time the customer accepted.
    pub new_due: DateTime<Utc>,
    /// When the customer accepted.
    pub at: DateTime<Utc>,
}

/// Why the promise is projected to break: the internal chain behind it is late or broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromiseRisk {
    /// Where it started: the internal link and request at the root of the cause path.
    pub root_cause: RequestLink,
    /// The links from the root cause to the ticket: root cause first, ending with the
    /// request that serves the ticket directly.
    pub cause_path: Vec<RequestLink>,
    /// When the chain is now projected to deliver; `None` when a breach or breakdown makes
    /// that impossible to project.
    pub projected_completion: Option<DateTime<Utc>>,
    /// How far past the promise's due time; `None` when it cannot be projected.
    #[serde(with = "crate::duration_ms::option", rename = "projected_delay_ms")]
    pub projected_delay: Option<TimeDelta>,
}

impl PromiseRisk {
    /// The promise's risk from the risk [`crate::request::assess`] computed against its due
    /// time; `None` for an empty cause path (which `assess` never gives).
    pub(crate) fn from_risk(risk: Risk) -> Option<Self> {
        Some(Self {
            root_cause: *risk.cause_path.first()?,
            cause_path: risk.cause_path,
            projected_completion: risk.projected_completion,
            projected_delay: risk.projected_delay,
        })
    }
}

/// The record that a promise was made knowing the chain could not keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAcknowledgement {
    /// The earliest the chain could deliver when the promise was made.
    pub earliest_feasible: DateTime<Utc>,
    /// The link that bounded it.
    pub bound_by: RequestLink,
    /// The critical path, bounding link first.
    pub critical_path: Vec<RequestLink>,
}

impl From<&Feasibility> for RiskAcknowledgement {
    fn from(feasibility: &Feasibility) -> Self {
        Self {
            earliest_feasible: feasibility.earliest,
            bound_by: feasibility.bound_by,
            critical_path: feasibility.critical_path.clone(),
        }
    }
}

/// What is offered to a customer told that a promise will not be kept ("you can't promise
/// sunshine, but you can promise an umbrella when it rains").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remedy {
    /// Nothing but the news and an apology.
    None,
    /// Something to use meanwhile (a loan desk until the real one arrives).
    LoanOrSubstitute,
    /// A credit or discount.
    Credit,
    /// Part of it now, the rest later.
    PartialDelivery,
}

impl Remedy {
    /// Every remedy, in declaration order.
    pub const ALL: [Self; 4] = [
        Self::None,
        Self::LoanOrSubstitute,
        Self::Credit,
        Self::PartialDelivery,
    ];

    /// A stable snake_case name, e.g. `"loan_or_substitute"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::LoanOrSubstitute => "loan_or_substitute",
            Self::Credit => "credit",
            Self::PartialDelivery => "partial_delivery",
        }
    }
}

impl fmt::Display for Remedy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads the names [`Remedy::as_str`] writes; the error names the `remedy` field.
impl FromStr for Remedy {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|remedy| remedy.as_str() == s)
            .ok_or_else(|| {
                DomainError::invalid_field(
                    "remedy",
                    format!(
                        "unknown remedy {s:?}; expected none, loan_or_substitute, credit or \
                         partial_delivery"
                    ),
                )
            })
    }
}

/// The customer's answer to a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerResponse {
    /// Whether the customer accepted the new time.
    pub accepted: bool,
    /// When the answer was recorded.
    pub at: DateTime<Utc>,
}

/// One time the customer was told the promise would not be kept as made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The due time in force when the customer was told.
    pub due_at: DateTime<Utc>,
    /// The new time the customer was given.
    pub new_expected_at: DateTime<Utc>,
    /// What was offered.
    pub remedy: Remedy,
    /// Told before the due time (a notice in time, not an excuse after the fact).
    pub before_due: bool,
    /// When.
    pub at: DateTime<Utc>,
    /// The customer's answer, once recorded.
    pub response: Option<CustomerResponse>,
}

/// How a promise ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromiseOutcome {
    /// Delivered by the due time, as first promised.
    Kept,
    /// Delivered, but after the due time in force (or after the promise broke).
    KeptLate,
    /// The customer accepted a new time before the promise broke, and it was delivered by it.
    KeptAfterRenegotiation,
    /// Not delivered.
    Broken,
}

impl PromiseOutcome {
    /// A stable snake_case name, e.g. `"kept_after_renegotiation"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Kept => "kept",
            Self::KeptLate => "kept_late",
            Self::KeptAfterRenegotiation => "kept_after_renegotiation",
            Self::Broken => "broken",
        }
    }
}

impl fmt::Display for PromiseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remedies_round_trip_by_name() {
        for remedy in Remedy::ALL {
            assert_eq!(remedy.as_str().parse::<Remedy>(), Ok(remedy));
            let json = serde_json::to_value(remedy).expect("serializes");
            assert_eq!(json, remedy.as_str());
        }
        let err = "umbrella".parse::<Remedy>().expect_err("unknown remedy");
        assert!(matches!(
            err,
            DomainError::InvalidField {
                field: "remedy",
                ..
            }
        ));
    }

    #[test]
    fn outcomes_serialize_by_their_names() {
        for outcome in [
            PromiseOutcome::Kept,
            PromiseOutcome::KeptLate,
            PromiseOutcome::KeptAfterRenegotiation,
            PromiseOutcome::Broken,
        ] {
            let json = serde_json::to_value(outcome).expect("serializes");
            assert_eq!(json, outcome.to_string());
        }
    }
}
