//! The health of one provider → consumer link: how satisfied the consumer is with it (its
//! score), how often it delivers on time (with a Wilson lower bound, so three on-time
//! deliveries out of three do not outrank 95 out of 100), how late it is on average, and how
//! many external customers its breakdowns reached.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};

use super::book::Score;
use crate::ids::{CustomerId, RequestId};
use crate::link::LinkKey;
use crate::request::{Request, RequestStatus};

/// The z-score of the Wilson interval: 1.96, a 95% two-sided interval.
pub const WILSON_Z: f64 = 1.96;

/// The lower bound of the Wilson score interval for `successes` out of `trials` at
/// [`WILSON_Z`]; 0 with no trial.
pub fn wilson_lower_bound(successes: u64, trials: u64) -> f64 {
    if trials == 0 {
        return 0.0;
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = WILSON_Z * WILSON_Z;
    let centre = p + z2 / (2.0 * n);
    let spread = WILSON_Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - spread) / (1.0 + z2 / n)).clamp(0.0, 1.0)
}

/// How one request on the link turned out, for its health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The request.
    pub request: RequestId,
    /// Delivered by the due time in force.
    pub on_time: bool,
    /// How late (zero when on time).
    pub late_by: TimeDelta,
}

impl Delivery {
    /// The delivery of a closed request as of `as_of`: a fulfilled one by its due time in
    /// force; a breached one is late by the time since its due time, as it still has not
    /// delivered. `None` while open or when cancelled.
    pub fn of_request(request: &Request, as_of: DateTime<Utc>) -> Option<Self> {
        let due = request.expected_by();
        let (on_time, late_by) = match request.status {
            RequestStatus::Fulfilled { at, on_time } => (on_time, at - due),
            RequestStatus::Breached { .. } => (false, as_of - due),
            RequestStatus::Opened | RequestStatus::Committed | RequestStatus::Cancelled { .. } => {
                return None;
            }
        };
        Some(Self {
            request: request.id,
            on_time,
            late_by: late_by.max(TimeDelta::zero()),
        })
    }
}

/// A link's health.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkHealth {
    /// The link.
    pub link: LinkKey,
    /// The health score, 0–100: the consumer's satisfaction score with the link (its
    /// reliability outcomes and feedback, shrunk toward the prior while little is known).
    pub health: f64,
    /// The confidence of that score, 0–1.
    pub confidence: f64,
    /// How many requests were delivered or breached.
    pub deliveries: u64,
    /// How many of them on time.
    pub on_time: u64,
    /// `on_time / deliveries` (0 with none).
    pub on_time_rate: f64,
    /// The Wilson lower bound of the on-time rate at z = 1.96.
    pub on_time_lower_bound: f64,
    /// The mean lateness per delivery, on-time ones counting zero.
    pub mean_lateness: TimeDelta,
    /// How many distinct external customers had a promise at risk or broken because of it.
    pub customers_hurt: usize,
}

impl LinkHealth {
    /// Computes a link's health from its score, its deliveries (one per request: a request
    /// listed twice keeps its last delivery) and the customers its breakdowns reached.
    pub fn compute<'a>(
        link: LinkKey,
        satisfaction: &Score,
        deliveries: impl IntoIterator<Item = &'a Delivery>,
        customers_hurt: impl IntoIterator<Item = CustomerId>,
    ) -> Self {
        let by_request: BTreeMap<RequestId, &Delivery> =
            deliveries.into_iter().map(|d| (d.request, d)).collect();
        let count = by_request.len() as u64;
        let on_time = by_request.values().filter(|d| d.on_time).count() as u64;
        let late_ms: i64 = by_request
            .values()
            .map(|d| d.late_by.num_milliseconds().max(0))
            .fold(0i64, i64::saturating_add);
        let mean_lateness = if count == 0 {
            TimeDelta::zero()
        } else {
            TimeDelta::milliseconds(late_ms / i64::try_from(count).unwrap_or(i64::MAX))
        };
        Self {
            link,
            health: satisfaction.value,
            confidence: satisfaction.confidence,
            deliveries: count,
            on_time,
            on_time_rate: if count == 0 {
                0.0
            } else {
                on_time as f64 / count as f64
            },
            on_time_lower_bound: wilson_lower_bound(on_time, count),
            mean_lateness,
            customers_hurt: customers_hurt.into_iter().collect::<BTreeSet<_>>().len(),
        }
    }

    /// The order of `ListLinkHealth`: worst first (lowest health, then lowest on-time lower
    /// bound, then most customers hurt), ties by link.
    pub fn worst_first(a: &Self, b: &Self) -> Ordering {
        a.health
            .total_cmp(&b.health)
            .then(a.on_time_lower_bound.total_cmp(&b.on_time_lower_bound))
            .then(b.customers_hurt.cmp(&a.customers_hurt))
            .then(a.link.cmp(&b.link))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        assert_eq!(wilson_lower_bound(0, 0), 0.0);
        assert!((wilson_lower_bound(9, 10) - 0.5958).abs() < 1e-4);
        assert!((wilson_lower_bound(3, 3) - 0.4385).abs() < 1e-4);
        assert!((wilson_lower_bound(95, 100) - 0.8883).abs() < 1e-4);
        assert!(wilson_lower_bound(95, 100) > wilson_lower_bound(3, 3));
        assert_eq!(wilson_lower_bound(0, 5), 0.0);
    }
}
