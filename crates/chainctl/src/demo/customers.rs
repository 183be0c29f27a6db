//! The demo's external customers: a few hundred with a Pareto (80/20) value distribution, so a
//! handful carry most of the value. Existing customers are reused, so a second run adds none.

use chain_proto::customerchain::v1 as pb;
use futures::{StreamExt as _, TryStreamExt as _};
use rand::Rng;
use rand::seq::IndexedRandom as _;

use crate::client::{Actor, Service, call};
use crate::demo::chain::Chain;
use crate::error::Failure;
use crate::input::key;

/// Pareto shape for 80% of the value with 20% of the customers (log 5 / log 4).
const PARETO_SHAPE: f64 = 1.16;
/// The smallest customer value, in cents (EUR 200).
const MIN_VALUE_MINOR: f64 = 20_000.0;
/// No single customer above EUR 2 million.
const MAX_VALUE_MINOR: f64 = 200_000_000.0;

const GIVEN: [&str; 12] = [
    "An", "Bao", "Chi", "Duc", "Giang", "Hoa", "Khanh", "Lan", "Minh", "Ngoc", "Quang", "Thao",
];
const FAMILY: [&str; 10] = [
    "Nguyen", "Tran", "Le", "Pham", "Hoang", "Vu", "Dang", "Bui", "Do", "Ngo",
];

/// A customer the cases can serve.
#[derive(Debug, Clone)]
pub struct Customer {
    /// Its id.
    pub id: String,
    /// Its value in cents.
    pub value_minor: i64,
}

/// At least `wanted` customers: those registered already, plus new ones up to that number.
/// Returns them and how many were registered now.
pub async fn seed(
    chain: &Chain,
    registrar: &str,
    wanted: usize,
    concurrency: usize,
    rng: &mut impl Rng,
) -> Result<(Vec<Customer>, usize), Failure> {
    let mut customers = existing(chain).await?;
    let missing = wanted.saturating_sub(customers.len());
    let plans: Vec<(String, i64)> = (0..missing)
        .map(|_| (name(rng), pareto_value(rng)))
        .collect();
    let actor = Actor::new(registrar);
    let registered: Vec<Customer> = futures::stream::iter(plans)
        .map(|(name, value_minor)| register(chain, &actor, name, value_minor))
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    customers.extend(registered);
    Ok((customers, missing))
}

/// Registers one named customer (the story's); returns its id and value.
pub async fn seed_one(
    chain: &Chain,
    registrar: &str,
    name: &str,
    value_minor: i64,
) -> Result<(String, i64), Failure> {
    let customer = register(chain, &Actor::new(registrar), name.to_owned(), value_minor).await?;
    Ok((customer.id, customer.value_minor))
}

/// A value drawn from the Pareto distribution, in cents.
pub fn pareto_value(rng: &mut impl Rng) -> i64 {
    let uniform: f64 = rng.random_range(f64::EPSILON..1.0);
    let value = MIN_VALUE_MINOR / uniform.powf(1.0 / PARETO_SHAPE);
    // Rounded to whole euros; the cast is exact after the cap.
    (value.min(MAX_VALUE_MINOR) / 100.0).round() as i64 * 100
}

fn name(rng: &mut impl Rng) -> String {
    let given = GIVEN.choose(rng).copied().unwrap_or("An");
    let family = FAMILY.choose(rng).copied().unwrap_or("Nguyen");
    format!("{given} {family}")
}

async fn register(
    chain: &Chain,
    actor: &Actor,
    name: String,
    value_minor: i64,
) -> Result<Customer, Failure> {
    let message = pb::RegisterCustomerRequest {
        idempotency_key: key(None),
        display_name: name,
        email: String::new(),
        value: Some(pb::Money {
            currency_code: "EUR".to_owned(),
            value_minor,
        }),
    };
    let customer = call(Service::Tickets, "RegisterCustomer", || {
        let mut client = chain.tickets.clone();
        let request = actor.unary(message.clone());
        async move { client.register_customer(request).await }
    })
    .await?;
    Ok(Customer {
        id: customer.customer_id,
        value_minor,
    })
}

async fn existing(chain: &Chain) -> Result<Vec<Customer>, Failure> {
    let mut customers = Vec::new();
    let mut page_token = String::new();
    loop {
        let message = pb::ListCustomersRequest {
            page_size: 500,
            page_token: page_token.clone(),
            tiers: Vec::new(),
        };
        let page = call(Service::Tickets, "ListCustomers", || {
            let mut client = chain.tickets.clone();
            let request = chain.operator.unary(message.clone());
            async move { client.list_customers(request).await }
        })
        .await?;
        customers.extend(page.customers.into_iter().map(|c| Customer {
            value_minor: c.value.as_ref().map_or(0, |v| v.value_minor),
            id: c.customer_id,
        }));
        if page.next_page_token.is_empty() {
            return Ok(customers);
        }
        page_token = page.next_page_token;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    #[test]
    fn a_fifth_of_the_customers_carry_most_of_the_value() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut values: Vec<i64> = (0..5_000).map(|_| pareto_value(&mut rng)).collect();
        values.sort_unstable_by(|a, b| b.cmp(a));
        let total: i64 = values.iter().sum();
        let top: i64 = values[..1_000].iter().sum();
        let share = top as f64 / total as f64;
        assert!(share > 0.6, "the top 20% carry {share:.2} of the value");
        assert!(values.iter().all(|v| *v >= 20_000));
    }
}
