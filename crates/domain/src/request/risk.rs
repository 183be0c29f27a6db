//! Risk and what a parent knows of its children: the [`ChildOutlook`] a child reports, and
//! [`assess`], the pure rule that turns a request's expected time and its children's
//! conditions into a [`Risk`] (or none).
//!
//! Cause paths are lists of [`RequestLink`]s, **root cause first**, ending with the direct
//! child of the request at risk; the request at risk is not itself on its path (its own
//! events name it). A child's outlook carries the child's own cause path, so the parent's path
//! is the child's path followed by the child.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::state::{BreakdownKind, Request, RequestStatus};
use crate::link::RequestLink;

/// Why and how late an open request is projected to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    /// The links that make it late, root cause first, ending with the direct child.
    pub cause_path: Vec<RequestLink>,
    /// When it is now projected to complete; `None` when a breach or breakdown below makes
    /// that impossible to project.
    pub projected_completion: Option<DateTime<Utc>>,
    /// How far past its own expected time (`projected_completion - expected_by`); `None`
    /// when the completion cannot be projected.
    #[serde(with = "crate::duration_ms::option", rename = "projected_delay_ms")]
    pub projected_delay: Option<TimeDelta>,
}

/// A child's condition as its parent needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ChildCondition {
    /// Opened; its provider has not committed and nothing below it is late, so nothing is
    /// projected yet.
    AwaitingCommitment,
    /// Open, projected to complete at `completion` (its own due time, or later when something
    /// below it is late, then with that cause path).
    Projected {
        /// The child's projected completion.
        completion: DateTime<Utc>,
        /// Why it is later than its own due time, root cause first; empty when on track.
        cause_path: Vec<RequestLink>,
    },
    /// Open, but a breach or breakdown below it makes its completion impossible to project.
    Unprojectable {
        /// What broke below it, root cause first.
        cause_path: Vec<RequestLink>,
    },
    /// Its due time passed unfulfilled.
    Breached {
        /// When the breach was recorded.
        at: DateTime<Utc>,
        /// What made it late, root cause first; empty when it breached on its own.
        cause_path: Vec<RequestLink>,
    },
    /// Its consumer reported a breakdown that is not settled.
    BrokenDown {
        /// What went wrong.
        kind: BreakdownKind,
        /// What was late below it when reported, root cause first; usually empty.
        cause_path: Vec<RequestLink>,
    },
    /// Delivered (and no breakdown outstanding).
    Fulfilled {
        /// When.
        at: DateTime<Utc>,
    },
    /// Withdrawn: no longer counts.
    Cancelled {
        /// When.
        at: DateTime<Utc>,
    },
}

impl ChildCondition {
    /// The condition's cause path (empty for conditions that carry none).
    pub fn cause_path(&self) -> &[RequestLink] {
        match self {
            Self::Projected { cause_path, .. }
            | Self::Unprojectable { cause_path }
            | Self::Breached { cause_path, .. }
            | Self::BrokenDown { cause_path, .. } => cause_path,
            Self::AwaitingCommitment | Self::Fulfilled { .. } | Self::Cancelled { .. } => &[],
        }
    }
}

/// What a parent knows of one child: a snapshot of the child taken after some of its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildOutlook {
    /// The child and the link it crosses.
    pub child: RequestLink,
    /// The child's stream version the snapshot was taken at; a parent ignores an outlook no
    /// newer than the one it has, so duplicates and reordering are harmless.
    pub version: u64,
    /// The child's condition.
    pub condition: ChildCondition,
}

impl ChildOutlook {
    /// The condition's cause path followed by the child itself: the cause path the parent
    /// takes when this child puts it at risk (or the full path to a ticket parent).
    pub fn full_path(&self) -> Vec<RequestLink> {
        let mut path = self.condition.cause_path().to_vec();
        path.push(self.child);
        path
    }
}

/// The risk of a request expected by `expected_by`, given its children's conditions.
///
/// A child that is breached, broken down or unprojectable makes the completion unknowable
/// (the first such child, in the given order, gives the cause path); otherwise the child
/// projected latest past `expected_by` gives the projected completion and the cause path.
/// Children awaiting commitment, fulfilled or cancelled never cause risk. `None` when no
/// child is late.
pub fn assess<'a>(
    expected_by: DateTime<Utc>,
    children: impl IntoIterator<Item = (&'a RequestLink, &'a ChildCondition)>,
) -> Option<Risk> {
    let mut unknowable: Option<Vec<RequestLink>> = None;
    let mut latest: Option<(DateTime<Utc>, Vec<RequestLink>)> = None;
    for (child, condition) in children {
        let path = || {
            let mut path = condition.cause_path().to_vec();
            path.push(*child);
            path
        };
        match condition {
            ChildCondition::Unprojectable { .. }
            | ChildCondition::Breached { .. }
            | ChildCondition::BrokenDown { .. } => {
                if unknowable.is_none() {
                    unknowable = Some(path());
                }
            }
            ChildCondition::Projected { completion, .. } if *completion > expected_by => {
                if latest.as_ref().is_none_or(|(at, _)| completion > at) {
                    latest = Some((*completion, path()));
                }
            }
            ChildCondition::Projected { .. }
            | ChildCondition::AwaitingCommitment
            | ChildCondition::Fulfilled { .. }
            | ChildCondition::Cancelled { .. } => {}
        }
    }
    if let Some(cause_path) = unknowable {
        return Some(Risk {
            cause_path,
            projected_completion: None,
            projected_delay: None,
        });
    }
    latest.map(|(completion, cause_path)| Risk {
        cause_path,
        projected_completion: Some(completion),
        projected_delay: Some(completion - expected_by),
    })
}

/// A request's condition as a parent sees it, given the risk it is under (its recorded risk
/// for propagation, or a recomputed one for a case view).
pub(crate) fn condition_of(request: &Request, risk: Option<&Risk>) -> ChildCondition {
    let risk_path = || risk.map(|r| r.cause_path.clone()).unwrap_or_default();
    match &request.status {
        RequestStatus::Cancelled { at } => return ChildCondition::Cancelled { at: *at },
        RequestStatus::Breached { at, cause_path } => {
            return ChildCondition::Breached {
                at: *at,
                cause_path: risk.map_or_else(|| cause_path.clone(), |r| r.cause_path.clone()),
            };
        }
        RequestStatus::Opened | RequestStatus::Committed | RequestStatus::Fulfilled { .. } => {}
    }
    if let Some(breakdown) = request.outstanding_breakdown() {
        return ChildCondition::BrokenDown {
            kind: breakdown.kind,
            cause_path: risk_path(),
        };
    }
    if let RequestStatus::Fulfilled { at, .. } = request.status {
        return ChildCondition::Fulfilled { at };
    }
    match risk {
        Some(Risk {
            projected_completion: Some(completion),
            cause_path,
            ..
        }) => ChildCondition::Projected {
            completion: *completion,
            cause_path: cause_path.clone(),
        },
        Some(Risk {
            projected_completion: None,
            cause_path,
            ..
        }) => ChildCondition::Unprojectable {
            cause_path: cause_path.clone(),
        },
        None => match request.due_at() {
            Some(due) => ChildCondition::Projected {
                completion: due,
                cause_path: Vec::new(),
            },
            None => ChildCondition::AwaitingCommitment,
        },
    }
}
