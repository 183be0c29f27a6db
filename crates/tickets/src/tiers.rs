//! Customers on the command side: every customer's value and Pareto tier
//! (`customer_values`), and their personal details (`customer_details`), both written in the
//! transaction of the command that appends the customer's events.
//!
//! **Tiers.** Not every customer weighs the same: tier A is the fewest customers that carry
//! 80% of the value, B the next ones up to 95%, C the rest ([`pareto_tiers`]). A tier depends
//! on every customer's value, so whenever a value changes (a registration, an update) the
//! service takes [`lock`] — one transaction-scoped advisory lock, so tier computations never
//! interleave — recomputes every tier, and records a `CustomerTierChanged` on each customer
//! whose tier moved, all in the same transaction. The table is then always what the events
//! say, and tiers are read back strongly consistent.
//!
//! **One currency.** Values are compared across customers, so they must share a currency: the
//! one configured for the deployment, or else the first customer's.
//!
//! **Personal data.** A customer's name and e-mail live only in `customer_details`, where
//! they can be corrected or erased; events, logs and spans never hold them.

use std::collections::BTreeMap;

use chain_domain::customer::{Currency, CustomerStanding, Money, Tier, pareto_tiers};
use chain_domain::ids::CustomerId;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

/// The advisory lock key of tier computations ("tickets-tiers" in ASCII, folded to 64 bits).
const TIERS_LOCK: i64 = 0x7469_636b_6574_7369;

/// A customer as the command side keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRow {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its value now.
    pub value: Money,
    /// Its tier now (`None` only inside the transaction that registers it).
    pub tier: Option<Tier>,
    /// Its stream's version.
    pub version: u64,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
}

impl CustomerRow {
    /// Its tier and value, as recorded on the events that put something of it at stake.
    pub fn standing(&self) -> CustomerStanding {
        CustomerStanding {
            tier: self.tier.unwrap_or(Tier::C),
            value: self.value,
        }
    }
}

/// A tier as stored.
pub(crate) fn tier_text(tier: Tier) -> &'static str {
    tier.as_str()
}

/// A stored tier back.
pub(crate) fn tier_of(text: Option<&str>) -> Option<Tier> {
    match text? {
        "A" => Some(Tier::A),
        "B" => Some(Tier::B),
        "C" => Some(Tier::C),
        _ => None,
    }
}

pub(crate) fn db_version(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

fn row_version(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Serialises tier computations until the transaction ends.
pub async fn lock(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(TIERS_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// The currency every customer's value is in: `configured`, or the first registered
/// customer's; `None` before anyone is registered (and nothing is configured).
pub async fn deployment_currency(
    conn: &mut PgConnection,
    configured: Option<Currency>,
) -> Result<Option<Currency>, sqlx::Error> {
    if configured.is_some() {
        return Ok(configured);
    }
    let code: Option<String> = sqlx::query_scalar(
        "SELECT currency FROM customer_values ORDER BY registered_at, customer_id LIMIT 1",
    )
    .fetch_optional(conn)
    .await?;
    Ok(code.and_then(|c| c.parse().ok()))
}

/// The read of `customer_values` that [`decode`] takes, followed by `$rest` (the statement's
/// end).
macro_rules! select_customers {
    ($rest:literal) => {
        concat!(
            "SELECT customer_id, value_minor, currency, tier, version, registered_at
             FROM customer_values",
            $rest
        )
    };
}

/// A customer from a row holding `customer_values`' columns.
pub(crate) fn decode(row: &sqlx::postgres::PgRow) -> Result<CustomerRow, sqlx::Error> {
    let currency: String = row.try_get("currency")?;
    let minor: i64 = row.try_get("value_minor")?;
    let value = Money::new(minor, &currency).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    let tier: Option<String> = row.try_get("tier")?;
    Ok(CustomerRow {
        customer_id: CustomerId::from_uuid(row.try_get("customer_id")?),
        value,
        tier: tier_of(tier.as_deref()),
        version: row_version(row.try_get("version")?),
        registered_at: row.try_get("registered_at")?,
    })
}

/// One customer, if registered.
pub async fn customer(
    conn: &mut PgConnection,
    id: CustomerId,
) -> Result<Option<CustomerRow>, sqlx::Error> {
    sqlx::query(select_customers!(" WHERE customer_id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// The tier and value now of each of `ids` that is registered, in one read.
pub async fn standings(
    conn: &mut PgConnection,
    ids: &[CustomerId],
) -> Result<Vec<(CustomerId, CustomerStanding)>, sqlx::Error> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.as_uuid()).collect();
    sqlx::query(select_customers!(" WHERE customer_id = ANY($1)"))
        .bind(&ids)
        .fetch_all(conn)
        .await?
        .iter()
        .map(|row| decode(row).map(|row| (row.customer_id, row.standing())))
        .collect()
}

/// A customer's tier and value now, if registered.
pub async fn standing(
    conn: &mut PgConnection,
    id: CustomerId,
) -> Result<Option<CustomerStanding>, sqlx::Error> {
    Ok(customer(conn, id).await?.map(|row| row.standing()))
}

/// Records a newly registered customer (its tier is computed next).
pub async fn insert(
    conn: &mut PgConnection,
    id: CustomerId,
    value: Money,
    registered_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO customer_values (customer_id, value_minor, currency, tier, version,
                                      registered_at)
         VALUES ($1, $2, $3, NULL, 0, $4)",
    )
    .bind(id.as_uuid())
    .bind(i64::try_from(value.minor_units).unwrap_or(i64::MAX))
    .bind(value.currency.as_str())
    .bind(registered_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a customer's new value (tiers are recomputed next).
pub async fn set_value(
    conn: &mut PgConnection,
    id: CustomerId,
    value: Money,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE customer_values SET value_minor = $2 WHERE customer_id = $1")
        .bind(id.as_uuid())
        .bind(i64::try_from(value.minor_units).unwrap_or(i64::MAX))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a customer's stream version.
pub async fn set_version(
    conn: &mut PgConnection,
    id: CustomerId,
    version: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE customer_values SET version = $2 WHERE customer_id = $1")
        .bind(id.as_uuid())
        .bind(db_version(version))
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a customer's tier and stream version.
pub async fn set_tier(
    conn: &mut PgConnection,
    id: CustomerId,
    tier: Tier,
    version: u64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE customer_values SET tier = $2, version = $3 WHERE customer_id = $1")
        .bind(id.as_uuid())
        .bind(tier_text(tier))
        .bind(db_version(version))
        .execute(conn)
        .await?;
    Ok(())
}

/// A tier that moved: the customer, its stream version, its tier before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierMove {
    /// The customer.
    pub customer_id: CustomerId,
    /// Its stream's version before the move is recorded.
    pub version: u64,
    /// Its tier before (`None` when never computed).
    pub previous: Option<Tier>,
    /// Its tier now.
    pub tier: Tier,
}

/// Every customer's tier from every customer's value, and the tiers that moved (not yet
/// recorded: the caller appends the events and calls [`set_tier`]). Hold [`lock`].
pub async fn recompute(conn: &mut PgConnection) -> Result<Vec<TierMove>, sqlx::Error> {
    let rows: Vec<CustomerRow> = sqlx::query(select_customers!(""))
        .fetch_all(conn)
        .await?
        .iter()
        .map(decode)
        .collect::<Result<_, _>>()?;
    let tiers = pareto_tiers(rows.iter().map(|r| (r.customer_id, r.value.minor_units)));
    let by_id: BTreeMap<CustomerId, &CustomerRow> =
        rows.iter().map(|r| (r.customer_id, r)).collect();
    Ok(tiers
        .into_iter()
        .filter_map(|(id, tier)| {
            let row = by_id.get(&id)?;
            (row.tier != Some(tier)).then_some(TierMove {
                customer_id: id,
                version: row.version,
                previous: row.tier,
                tier,
            })
        })
        .collect())
}

/// A customer's 1-based rank by value among all customers (ties by id).
pub async fn value_rank(conn: &mut PgConnection, id: CustomerId) -> Result<u32, sqlx::Error> {
    let rank: i64 = sqlx::query_scalar(
        "SELECT count(*) + 1 FROM customer_values o, customer_values c
         WHERE c.customer_id = $1
           AND (o.value_minor > c.value_minor
                OR (o.value_minor = c.value_minor AND o.customer_id < c.customer_id))",
    )
    .bind(id.as_uuid())
    .fetch_one(conn)
    .await?;
    Ok(u32::try_from(rank).unwrap_or(u32::MAX))
}

/// A customer's personal details.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// The name.
    pub display_name: String,
    /// The e-mail address; may be empty.
    pub email: String,
}

/// Writes a customer's personal details.
pub async fn save_details(
    conn: &mut PgConnection,
    id: CustomerId,
    details: &Details,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO customer_details (customer_id, display_name, email, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (customer_id) DO UPDATE
         SET display_name = EXCLUDED.display_name, email = EXCLUDED.email,
             updated_at = EXCLUDED.updated_at",
    )
    .bind(id.as_uuid())
    .bind(&details.display_name)
    .bind(&details.email)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A customer's personal details (empty when erased or never given).
pub async fn details(conn: &mut PgConnection, id: CustomerId) -> Result<Details, sqlx::Error> {
    let row =
        sqlx::query("SELECT display_name, email FROM customer_details WHERE customer_id = $1")
            .bind(id.as_uuid())
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some(row) => Details {
            display_name: row.try_get("display_name")?,
            email: row.try_get("email")?,
        },
        None => Details::default(),
    })
}

/// The display names of `ids` (personal data: for API responses only).
pub async fn display_names(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT customer_id, display_name FROM customer_details WHERE customer_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("customer_id")?, row.try_get("display_name")?)))
        .collect()
}
