//! Apportioning an external customer's loss back to the internal links that caused it, in
//! proportion to each link's share of the delay, as the time ledger charged it
//! ([`crate::case::CaseView::delay_attribution`] gives the charges, deepest causes first).
//!
//! The loss can be value at stake (money, in minor units: split exactly, by largest
//! remainder, so the parts add up to the whole) and/or score points lost (split
//! proportionally).

use std::collections::BTreeMap;

use chrono::TimeDelta;

use crate::ledger::Charge;
use crate::link::RequestLink;

/// One link's part of a loss.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossShare {
    /// The link (and request) charged.
    pub link: RequestLink,
    /// The delay charged to it.
    pub delay: TimeDelta,
    /// Its share of the total delay, 0–1.
    pub share: f64,
    /// Its part of the value at stake, in minor units.
    pub value_minor: u64,
    /// Its part of the score points lost.
    pub points: f64,
}

/// Splits `value_minor` and `points` over the charged links by their share of the delay.
/// Charges to the same link are added up; charges of no time are ignored; the result is in
/// link order. Empty when nothing was charged. The value parts always add up to
/// `value_minor`: the units left by rounding down go to the largest remainders (ties to the
/// first link).
pub fn apportion(charges: &[Charge], value_minor: u64, points: f64) -> Vec<LossShare> {
    let mut per_link: BTreeMap<RequestLink, i64> = BTreeMap::new();
    for charge in charges {
        let millis = charge.time.num_milliseconds();
        if millis > 0 {
            *per_link.entry(charge.link).or_insert(0) += millis;
        }
    }
    let total: i64 = per_link.values().sum();
    if total <= 0 {
        return Vec::new();
    }
    let total_u = u128::from(total.unsigned_abs());
    let value = u128::from(value_minor);
    let mut shares: Vec<(LossShare, u128)> = per_link
        .into_iter()
        .map(|(link, millis)| {
            let millis_u = u128::from(millis.unsigned_abs());
            let exact = value * millis_u;
            let share = millis as f64 / total as f64;
            (
                LossShare {
                    link,
                    delay: TimeDelta::milliseconds(millis),
                    share,
                    // At most `value_minor`, so it fits.
                    value_minor: u64::try_from(exact / total_u).unwrap_or(u64::MAX),
                    points: points * share,
                },
                exact % total_u,
            )
        })
        .collect();
    let given: u64 = shares.iter().map(|(s, _)| s.value_minor).sum();
    let mut left = value_minor - given;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].1.cmp(&shares[*a].1).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i].0.value_minor += 1;
        left -= 1;
    }
    shares.into_iter().map(|(s, _)| s).collect()
}
