//! What a score is made of: signals. A signal is either explicit **feedback** (CSAT 1–5
//! and/or NPS 0–10) from a source, or a **reliability outcome** of one promise (a ticket's,
//! for an external customer; a request's, for the consumer of a link). Each signal carries
//! the id and time of the event it came from, so replaying the events gives the same signals.
//!
//! Also the mappings from the tickets' and requests' own facts to reliability outcomes.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::model::{
    BROKEN_AFTER_NOTICE_VALUE, BROKEN_SURPRISE_VALUE, KEPT_VALUE, LATE_FLOOR_VALUE,
    LATE_HALVING_RATIO, MIN_WINDOW, NOTICE_LATENESS_FACTOR, RENEGOTIATED_VALUE, ScoringModel,
};
use crate::decider::DomainEvent;
use crate::error::DomainError;
use crate::ids::{CustomerId, EventId, RequestId, SourceId, TicketId};
use crate::link::LinkKey;
use crate::request::{BreakdownKind, Request, RequestStatus};
use crate::ticket::{PromiseOutcome, TicketEvent};

/// Whose satisfaction a score measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Subject {
    /// An external customer.
    Customer(CustomerId),
    /// An internal consumer's satisfaction with its provider on a link.
    Link(LinkKey),
}

/// The promise a reliability outcome is about. A later outcome of the same promise replaces
/// an earlier one (a broken promise that is then delivered late counts once, as kept late).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum PromiseRef {
    /// A ticket's promise to an external customer.
    Ticket(TicketId),
    /// A provider's commitment on an internal request.
    Request(RequestId),
}

/// Explicit feedback: a CSAT rating, an NPS answer, or both. The comment, if any, is personal
/// and never enters the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Feedback {
    csat: Option<u8>,
    nps: Option<u8>,
}

impl Feedback {
    /// Checks the ratings: CSAT within 1..=5, NPS within 0..=10, at least one of them.
    pub fn new(csat: Option<u8>, nps: Option<u8>) -> Result<Self, DomainError> {
        if let Some(c) = csat.filter(|c| !(1..=5).contains(c)) {
            return Err(DomainError::invalid_field(
                "csat",
                format!("must be within 1..=5, got {c}"),
            ));
        }
        if let Some(n) = nps.filter(|n| *n > 10) {
            return Err(DomainError::invalid_field(
                "nps",
                format!("must be within 0..=10, got {n}"),
            ));
        }
        if csat.is_none() && nps.is_none() {
            return Err(DomainError::invalid_field(
                "csat",
                "feedback needs a CSAT rating, an NPS answer, or both",
            ));
        }
        Ok(Self { csat, nps })
    }

    /// The CSAT rating, 1–5.
    pub const fn csat(&self) -> Option<u8> {
        self.csat
    }

    /// The NPS answer, 0–10.
    pub const fn nps(&self) -> Option<u8> {
        self.nps
    }

    /// On the 0–100 scale: CSAT 1 → 0, 3 → 50, 5 → 100; NPS `n` → `10·n`; the mean of the two
    /// when both are given.
    pub fn value(&self) -> f64 {
        let csat = self.csat.map(|c| (f64::from(c) - 1.0) * 25.0);
        let nps = self.nps.map(|n| f64::from(n) * 10.0);
        match (csat, nps) {
            (Some(c), Some(n)) => (c + n) / 2.0,
            (Some(v), None) | (None, Some(v)) => v,
            (None, None) => 50.0,
        }
    }
}

/// How a promise turned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Reliability {
    /// Kept as made.
    Kept,
    /// Delivered late.
    KeptLate {
        /// How late, after the due time in force.
        #[serde(with = "crate::duration_ms", rename = "late_by_ms")]
        late_by: TimeDelta,
        /// The promised window: from when the promise was made to its due time.
        #[serde(with = "crate::duration_ms", rename = "window_ms")]
        window: TimeDelta,
        /// Whether the customer was told before the due time.
        notified_in_time: bool,
    },
    /// Moved with the customer's agreement before it broke, then kept.
    RenegotiatedThenKept,
    /// Broken, but the customer was told before the due time.
    BrokenAfterNotice,
    /// Broken without warning.
    BrokenSurprise,
}

impl Reliability {
    /// The lateness as a share of the promised window (`late_by / max(window, 1 min)`), for
    /// a late delivery; 0 otherwise.
    pub fn lateness_ratio(&self) -> f64 {
        match self {
            Self::KeptLate {
                late_by, window, ..
            } => {
                let window = (*window).max(MIN_WINDOW).num_milliseconds() as f64;
                late_by.num_milliseconds().max(0) as f64 / window
            }
            _ => 0.0,
        }
    }

    /// On the 0–100 scale. A late delivery keeps `20 + 80 × 2^(−r / 0.25)` for a lateness
    /// ratio `r` (`0.5` instead of `0.25` when the customer was told in time): just late is
    /// nearly kept, a quarter of the window late is 60, a whole window late is 25.
    pub fn value(&self) -> f64 {
        match self {
            Self::Kept => KEPT_VALUE,
            Self::KeptLate {
                notified_in_time, ..
            } => {
                let halving = if *notified_in_time {
                    LATE_HALVING_RATIO * NOTICE_LATENESS_FACTOR
                } else {
                    LATE_HALVING_RATIO
                };
                let kept = (-self.lateness_ratio() / halving).exp2();
                LATE_FLOOR_VALUE + (KEPT_VALUE - LATE_FLOOR_VALUE) * kept
            }
            Self::RenegotiatedThenKept => RENEGOTIATED_VALUE,
            Self::BrokenAfterNotice => BROKEN_AFTER_NOTICE_VALUE,
            Self::BrokenSurprise => BROKEN_SURPRISE_VALUE,
        }
    }

    /// Its weight when fresh: a surprise weighs more than any other outcome.
    pub fn weight(&self, model: &ScoringModel) -> f64 {
        match self {
            Self::BrokenSurprise => model.surprise_weight,
            _ => model.reliability_weight,
        }
    }

    /// The outcome a ticket event tells: `PromiseBroken` (broken, with or without notice)
    /// and `TicketResolved` (the final outcome, which replaces the broken one); `None` for
    /// every other event.
    pub fn of_ticket_event(event: &TicketEvent) -> Option<(PromiseRef, Self)> {
        let broken = |notified: bool| {
            if notified {
                Self::BrokenAfterNotice
            } else {
                Self::BrokenSurprise
            }
        };
        match event {
            TicketEvent::PromiseBroken {
                ticket_id,
                notified_before_due,
                ..
            } => Some((PromiseRef::Ticket(*ticket_id), broken(*notified_before_due))),
            TicketEvent::Resolved {
                ticket_id,
                outcome,
                due_at,
                promised_at,
                late_by,
                notified_before_due,
                ..
            } => {
                let reliability = match outcome {
                    PromiseOutcome::Kept => Self::Kept,
                    PromiseOutcome::KeptAfterRenegotiation => Self::RenegotiatedThenKept,
                    PromiseOutcome::KeptLate => Self::KeptLate {
                        late_by: late_by.unwrap_or(TimeDelta::zero()),
                        window: *due_at - *promised_at,
                        notified_in_time: *notified_before_due,
                    },
                    PromiseOutcome::Broken => broken(*notified_before_due),
                };
                Some((PromiseRef::Ticket(*ticket_id), reliability))
            }
            _ => None,
        }
    }

    /// The outcome of a closed request for its consumer; `None` while it is open, or when it
    /// was cancelled (a withdrawal is the consumer's doing).
    ///
    /// - delivered with a `NotUsable` breakdown outstanding: broken as a surprise;
    /// - delivered by its *effective* due time: kept, or renegotiated-then-kept when a
    ///   proactive revision moved it. A revision announced after the due time passed is an
    ///   excuse, not a notice: it does not move the effective due time;
    /// - delivered later: kept late against the effective due time, with the window from the
    ///   commitment to it;
    /// - breached: broken as a surprise (the due time in force passed with no delivery and no
    ///   new time announced).
    pub fn of_request(request: &Request) -> Option<Self> {
        match request.status {
            RequestStatus::Opened | RequestStatus::Committed | RequestStatus::Cancelled { .. } => {
                None
            }
            RequestStatus::Breached { .. } => Some(Self::BrokenSurprise),
            RequestStatus::Fulfilled { at, .. } => {
                if request
                    .outstanding_breakdown()
                    .is_some_and(|b| b.kind == BreakdownKind::NotUsable)
                {
                    return Some(Self::BrokenSurprise);
                }
                let commitment = request.commitment?;
                let mut effective = request
                    .revisions
                    .first()
                    .map_or(commitment.due_at, |r| r.previous_due);
                let mut renegotiated = false;
                for revision in request.revisions.iter().filter(|r| r.proactive) {
                    effective = revision.new_due;
                    renegotiated = true;
                }
                Some(if at <= effective && renegotiated {
                    Self::RenegotiatedThenKept
                } else if at <= effective {
                    Self::Kept
                } else {
                    Self::KeptLate {
                        late_by: at - effective,
                        window: effective - commitment.committed_at,
                        notified_in_time: false,
                    }
                })
            }
        }
    }
}

/// What a signal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum SignalKind {
    /// Explicit feedback from a source.
    Feedback {
        /// Who gave it.
        source: SourceId,
        /// The ratings.
        feedback: Feedback,
    },
    /// The outcome of a promise.
    Reliability {
        /// Which promise.
        promise: PromiseRef,
        /// How it turned out.
        outcome: Reliability,
    },
}

/// One signal about one subject, from one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signal {
    /// The event it came from: a signal recorded twice counts once, and signals at the same
    /// time are ordered by it.
    pub id: EventId,
    /// Whose score it moves.
    pub subject: Subject,
    /// The event's time (never the time it was processed).
    pub at: DateTime<Utc>,
    /// What it says.
    pub kind: SignalKind,
}

impl Signal {
    /// The reliability signal a ticket event gives its customer, if any (see
    /// [`Reliability::of_ticket_event`]); `id` is the event's stored id.
    pub fn of_ticket_event(id: EventId, event: &TicketEvent) -> Option<Self> {
        let (promise, outcome) = Reliability::of_ticket_event(event)?;
        let customer = match event {
            TicketEvent::PromiseBroken { customer_id, .. }
            | TicketEvent::Resolved { customer_id, .. } => *customer_id,
            _ => return None,
        };
        Some(Self {
            id,
            subject: Subject::Customer(customer),
            at: event.occurred_at(),
            kind: SignalKind::Reliability { promise, outcome },
        })
    }

    /// The reliability signal a request gives its link once closed (see
    /// [`Reliability::of_request`]); `id` and `at` are those of the event that closed it (or
    /// changed its outcome, like a breakdown on a delivery).
    pub fn of_request(id: EventId, request: &Request, at: DateTime<Utc>) -> Option<Self> {
        Some(Self {
            id,
            subject: Subject::Link(request.link().key()),
            at,
            kind: SignalKind::Reliability {
                promise: PromiseRef::Request(request.id),
                outcome: Reliability::of_request(request)?,
            },
        })
    }

    /// The signal's value on the 0–100 scale.
    pub fn value(&self) -> f64 {
        match &self.kind {
            SignalKind::Feedback { feedback, .. } => feedback.value(),
            SignalKind::Reliability { outcome, .. } => outcome.value(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feedback_is_validated_and_scaled() {
        assert_eq!(Feedback::new(Some(1), None).map(|f| f.value()), Ok(0.0));
        assert_eq!(Feedback::new(Some(5), Some(0)).map(|f| f.value()), Ok(50.0));
        assert_eq!(Feedback::new(None, Some(7)).map(|f| f.value()), Ok(70.0));
        for (csat, nps, field) in [
            (Some(0), None, "csat"),
            (Some(6), None, "csat"),
            (None, Some(11), "nps"),
            (None, None, "csat"),
        ] {
            assert!(matches!(
                Feedback::new(csat, nps),
                Err(DomainError::InvalidField { field: f, .. }) if f == field
            ));
        }
    }

    #[test]
    fn outcome_values_are_ordered() {
        let late = |hours, notified| Reliability::KeptLate {
            late_by: TimeDelta::hours(hours),
            window: TimeDelta::hours(100),
            notified_in_time: notified,
        };
        assert_eq!(late(25, false).value(), 60.0);
        assert_eq!(late(50, true).value(), 60.0);
        assert!((late(100, false).value() - 25.0).abs() < 1e-12);
        assert!(late(1, false).value() > 97.0 && late(1, false).value() < 100.0);
        assert!(late(10, true).value() > late(10, false).value());
        assert!(Reliability::BrokenAfterNotice.value() > Reliability::BrokenSurprise.value());
        assert!(Reliability::Kept.value() > Reliability::RenegotiatedThenKept.value());
        let model = ScoringModel::default();
        assert!(
            Reliability::BrokenSurprise.weight(&model)
                > Reliability::BrokenAfterNotice.weight(&model)
        );
    }
}
