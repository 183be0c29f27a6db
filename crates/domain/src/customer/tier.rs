//! The Pareto tier of each customer: not every customer weighs the same, so attention is
//! allocated by value.
//!
//! Customers are sorted by value, highest first, ties broken by id (ascending) so the result
//! never depends on input order. Walking that list and adding up the values:
//!
//! - **tier A** is the shortest prefix whose cumulative value reaches
//!   [`TIER_A_CUMULATIVE_PERCENT`] (80%) of the total: the fewest customers that carry 80% of
//!   the value;
//! - **tier B** is the customers after A, up to the shortest prefix reaching
//!   [`TIER_B_CUMULATIVE_PERCENT`] (95%): the next 15% of the value. The customer whose value
//!   crosses 95% is in B. B is empty when A alone already reaches 95% (one huge customer);
//! - **tier C** is everyone else: the long tail carrying the last 5%.
//!
//! The cuts compare exact integers (`cumulative × 100 ≥ percent × total`, in `u128`), so a
//! customer exactly on a cut is placed the same way on every machine. Customers of zero value
//! are always C; when the total is zero, every customer is C (no one carries any value).
//! Because ties are broken by id, equal customers can straddle a cut (ten equal customers:
//! eight A, two B): the tier says who carries the value, and with equal values the first by
//! id carry it just as well; the service should rank by value first, tier second.
//!
//! Values must all be in one currency: the service converts them (or tiers each currency
//! separately) before asking.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::CustomerId;

/// The cumulative share of the total value tier A reaches, in percent.
pub const TIER_A_CUMULATIVE_PERCENT: u64 = 80;
/// The cumulative share of the total value tiers A and B together reach, in percent.
pub const TIER_B_CUMULATIVE_PERCENT: u64 = 95;

/// A customer's value tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// The fewest customers that carry 80% of the value: special care.
    A,
    /// The next customers, up to 95% of the value.
    B,
    /// The rest.
    C,
}

impl Tier {
    /// `"A"`, `"B"` or `"C"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::A => "A",
            Self::B => "B",
            Self::C => "C",
        }
    }
}

/// The tier of every customer, from every customer's value (in minor units of one currency).
/// A customer listed twice keeps its last value.
pub fn pareto_tiers(
    values: impl IntoIterator<Item = (CustomerId, u64)>,
) -> BTreeMap<CustomerId, Tier> {
    let by_id: BTreeMap<CustomerId, u64> = values.into_iter().collect();
    let total: u128 = by_id.values().map(|v| u128::from(*v)).sum();
    let mut ranked: Vec<(CustomerId, u64)> = by_id.into_iter().collect();
    // Highest value first; the BTreeMap already gave ascending ids, and the sort is stable.
    ranked.sort_by_key(|entry| std::cmp::Reverse(entry.1));

    let reaches = |cumulative: u128, percent: u64| cumulative * 100 >= u128::from(percent) * total;
    let mut tiers = BTreeMap::new();
    let mut cumulative: u128 = 0;
    for (id, value) in ranked {
        // The tier is decided by what was accumulated *before* this customer: the customer
        // that crosses a cut still belongs to the tier being filled.
        let tier = if value == 0 || total == 0 {
            Tier::C
        } else if !reaches(cumulative, TIER_A_CUMULATIVE_PERCENT) {
            Tier::A
        } else if !reaches(cumulative, TIER_B_CUMULATIVE_PERCENT) {
            Tier::B
        } else {
            Tier::C
        };
        cumulative += u128::from(value);
        tiers.insert(id, tier);
    }
    tiers
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn id(n: u128) -> CustomerId {
        CustomerId::from_uuid(Uuid::from_u128(n))
    }

    fn count(tiers: &BTreeMap<CustomerId, Tier>, tier: Tier) -> usize {
        tiers.values().filter(|t| **t == tier).count()
    }

    #[test]
    fn one_huge_customer_is_a_alone_and_the_small_ones_are_c() {
        // 1 customer with 1,000 and 20 with 1 each: the huge one carries 98% by itself.
        let mut values = vec![(id(100), 1_000)];
        values.extend((1..=20).map(|n| (id(n), 1)));
        let tiers = pareto_tiers(values);
        assert_eq!(tiers[&id(100)], Tier::A);
        assert_eq!(count(&tiers, Tier::A), 1);
        assert_eq!(count(&tiers, Tier::B), 0, "A alone already passes 95%");
        assert_eq!(count(&tiers, Tier::C), 20);
    }

    #[test]
    fn a_classic_pareto_distribution() {
        // 2 customers with 40 each (80 together), 3 with 5 each (15), 5 with 1 each (5).
        let mut values = vec![(id(1), 40), (id(2), 40)];
        values.extend((3..=5).map(|n| (id(n), 5)));
        values.extend((6..=10).map(|n| (id(n), 1)));
        let tiers = pareto_tiers(values);
        let expected: Vec<Tier> = [
            [Tier::A; 2].as_slice(),
            [Tier::B; 3].as_slice(),
            [Tier::C; 5].as_slice(),
        ]
        .concat();
        assert_eq!(tiers.values().copied().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn the_customer_crossing_a_cut_belongs_to_the_tier_being_filled() {
        // 70 + 20 + 6 + 4: 70 < 80, so the 20 (reaching 90) is A; 90 < 95, so the 6 is B.
        let tiers = pareto_tiers([(id(1), 70), (id(2), 20), (id(3), 6), (id(4), 4)]);
        assert_eq!(
            tiers.values().copied().collect::<Vec<_>>(),
            vec![Tier::A, Tier::A, Tier::B, Tier::C]
        );
    }

    #[test]
    fn equal_values_are_split_by_id() {
        let tiers = pareto_tiers((1..=10).rev().map(|n| (id(n), 7)));
        let by_id: Vec<Tier> = tiers.values().copied().collect();
        assert_eq!(
            by_id,
            [[Tier::A; 8].as_slice(), [Tier::B; 2].as_slice()].concat(),
            "the first eight ids carry 80%"
        );
    }

    #[test]
    fn a_single_customer_is_a() {
        assert_eq!(
            pareto_tiers([(id(1), 5)]),
            BTreeMap::from([(id(1), Tier::A)])
        );
    }

    #[test]
    fn zero_values_are_c() {
        let tiers = pareto_tiers([(id(1), 0), (id(2), 0)]);
        assert!(tiers.values().all(|t| *t == Tier::C), "no value, no tier A");
        let tiers = pareto_tiers([(id(1), 0), (id(2), 3)]);
        assert_eq!(tiers[&id(2)], Tier::A);
        assert_eq!(tiers[&id(1)], Tier::C);
        assert!(pareto_tiers([]).is_empty());
    }

    #[test]
    fn input_order_and_huge_values_do_not_matter() {
        let values = vec![(id(3), u64::MAX), (id(1), u64::MAX), (id(2), 1)];
        let mut reversed = values.clone();
        reversed.reverse();
        let tiers = pareto_tiers(values);
        assert_eq!(tiers, pareto_tiers(reversed));
        // Two equal giants: 50% each, so both are needed to reach 80%.
        assert_eq!(tiers[&id(1)], Tier::A);
        assert_eq!(tiers[&id(3)], Tier::A);
        assert_eq!(tiers[&id(2)], Tier::C);
    }

    #[test]
    fn a_repeated_customer_keeps_its_last_value() {
        let tiers = pareto_tiers([(id(1), 1), (id(2), 20), (id(1), 100)]);
        assert_eq!(tiers[&id(1)], Tier::A);
        assert_eq!(tiers[&id(2)], Tier::B);
    }
}
