//! Customers: register, update (name, e-mail, value), get and list. A value change recomputes
//! every customer's tier in the same transaction (see [`crate::tiers`]); the name and e-mail
//! are kept in the service's own table, never in an event.

use chain_domain::customer::{self, CustomerCommand, CustomerEvent, CustomerState, Money, Tier};
use chain_domain::field::MAX_NAME_CHARS;
use chain_domain::ids::CustomerId;
use chain_proto::customerchain::v1 as pb;
use chain_rpc::page::PageRequest;
use chain_rpc::status::{aborted, database_error, invalid_argument, not_found};
use chain_rpc::{Caller, IdempotentCommand, IntoStatus, clock, field};
use chain_store::{AppendOutcome, EventMetadata, NewEvent, StoreError, append_in};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use tonic::{Request as Call, Status};
use uuid::Uuid;

use super::{TicketService, refusal};
use crate::SERVICE_ACTOR;
use crate::codec::{encode_customer, encode_details_changed, encode_tier_changed};
use crate::streams::{LoadError, customer_stream, load_customer};
use crate::tiers::{self, Details, TierMove};
use crate::view;

/// Longest e-mail address accepted (RFC 5321's path limit).
const MAX_EMAIL_CHARS: usize = 254;

/// A `ListCustomers` cursor: (value in minor units, customer id).
type CustomerCursor = (i64, Uuid);

/// The status of a database failure.
fn db(error: sqlx::Error) -> Status {
    database_error(&error)
}

/// A required amount of money in request field `name`; the errors name its sub-fields.
pub(super) fn money_field(name: &str, value: Option<&pb::Money>) -> Result<Money, Status> {
    let value = value.ok_or_else(|| invalid_argument(name, "is required"))?;
    Money::new(value.value_minor, &value.currency_code).map_err(|error| match error {
        chain_domain::DomainError::InvalidField {
            field: "currency",
            reason,
        } => invalid_argument(&format!("{name}.currency_code"), reason),
        chain_domain::DomainError::InvalidField { reason, .. } => {
            invalid_argument(&format!("{name}.value_minor"), reason)
        }
        other => other.into_status(),
    })
}

/// An optional e-mail address: empty, or one `@` between a non-empty local part and a
/// dotted domain, without spaces. The value is never quoted back (personal data).
fn email(value: &str) -> Result<String, Status> {
    let Some(email) = field::optional_text("email", value, MAX_EMAIL_CHARS)? else {
        return Ok(String::new());
    };
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(invalid_argument("email", "is not an e-mail address"))
    }
}

impl TicketService {
    /// Refuses a value in another currency than the deployment's.
    async fn check_currency(&self, conn: &mut PgConnection, value: Money) -> Result<(), Status> {
        let currency = tiers::deployment_currency(conn, self.currency)
            .await
            .map_err(db)?;
        match currency {
            Some(currency) if currency != value.currency => Err(invalid_argument(
                "value.currency_code",
                format!("must be {currency}, the currency every customer value is in"),
            )),
            _ => Ok(()),
        }
    }

    /// Records every tier that moved (but `except`'s, which its own append carries) as a
    /// `CustomerTierChanged` on the customer's stream, on `tx`.
    async fn record_tier_moves(
        tx: &mut PgConnection,
        moves: &[TierMove],
        except: CustomerId,
        causation: &str,
        at: DateTime<Utc>,
    ) -> Result<(), Status> {
        for moved in moves.iter().filter(|m| m.customer_id != except) {
            let event = encode_tier_changed(moved.customer_id, moved.previous, moved.tier, at);
            let metadata =
                EventMetadata::new(moved.customer_id.to_string(), causation, SERVICE_ACTOR);
            append_in(
                &mut *tx,
                &customer_stream(moved.customer_id),
                moved.version,
                std::slice::from_ref(&event),
                &metadata,
                None,
            )
            .await
            .map_err(IntoStatus::into_status)?;
            tiers::set_tier(tx, moved.customer_id, moved.tier, moved.version + 1)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    /// The customer as the API shows it, read on `conn`.
    async fn customer_view(
        conn: &mut PgConnection,
        id: CustomerId,
    ) -> Result<Option<pb::Customer>, Status> {
        let Some(row) = tiers::customer(conn, id).await.map_err(db)? else {
            return Ok(None);
        };
        let details = tiers::details(conn, id).await.map_err(db)?;
        let rank = tiers::value_rank(conn, id).await.map_err(db)?;
        Ok(Some(view::customer(&row, &details, rank)))
    }

    pub(super) async fn register_customer(
        &self,
        call: Call<pb::RegisterCustomerRequest>,
    ) -> Result<pb::Customer, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let command = IdempotentCommand::new("RegisterCustomer", &caller, key, &message)?;
        let details = Details {
            display_name: field::text("display_name", &message.display_name, MAX_NAME_CHARS)?,
            email: email(&message.email)?,
        };
        let value = money_field("value", message.value.as_ref())?;

        let customer_id = CustomerId::from_uuid(Uuid::now_v7());
        let now = clock::now();
        let register = CustomerCommand::Register { customer_id, value };
        let events =
            customer::decide(&register, &CustomerState::default(), now).map_err(refusal)?;

        let mut tx = self.store.pool().begin().await.map_err(db)?;
        tiers::lock(&mut tx).await.map_err(db)?;
        if let Err(refused) = self.check_currency(&mut tx, value).await {
            return self.refuse(&command, refused).await;
        }
        tiers::insert(&mut tx, customer_id, value, now)
            .await
            .map_err(db)?;
        let moves = tiers::recompute(&mut tx).await.map_err(db)?;
        let mut encoded: Vec<NewEvent> = events.iter().map(encode_customer).collect();
        let own = moves
            .iter()
            .find(|m| m.customer_id == customer_id)
            .map_or(Tier::C, |m| m.tier);
        encoded.push(encode_tier_changed(customer_id, None, own, now));
        tiers::set_tier(&mut tx, customer_id, own, encoded.len() as u64)
            .await
            .map_err(db)?;
        tiers::save_details(&mut tx, customer_id, &details, now)
            .await
            .map_err(db)?;
        let response = Self::customer_view(&mut tx, customer_id)
            .await?
            .ok_or_else(chain_rpc::status::internal)?;
        let metadata = Self::metadata(&caller, &command, customer_id.to_string());
        let outcome = append_in(
            &mut *tx,
            &customer_stream(customer_id),
            0,
            &encoded,
            &metadata,
            Some(&command.record(&response)),
        )
        .await
        .map_err(IntoStatus::into_status)?;
        if let AppendOutcome::Replayed { response } = outcome {
            // An honest retry: the first attempt registered the customer.
            tx.rollback().await.map_err(db)?;
            return IdempotentCommand::decode(&response);
        }
        Self::record_tier_moves(&mut tx, &moves, customer_id, command.key(), now).await?;
        tx.commit().await.map_err(db)?;
        self.store.signal_appended();
        tracing::info!(%customer_id, tier = own.as_str(), "customer registered");
        Ok(response)
    }

    pub(super) async fn update_customer(
        &self,
        call: Call<pb::UpdateCustomerRequest>,
    ) -> Result<pb::Customer, Status> {
        let caller = Caller::of(&call)?;
        let mut message = call.into_inner();
        let key = std::mem::take(&mut message.idempotency_key);
        let command = IdempotentCommand::new("UpdateCustomer", &caller, key, &message)?;
        let customer_id: CustomerId = field::id("customer_id", &message.customer_id)?;
        let paths = message
            .update_mask
            .as_ref()
            .map(|mask| mask.paths.clone())
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(invalid_argument(
                "update_mask",
                "is required: name display_name, email and/or value",
            ));
        }
        let (mut new_name, mut new_email, mut new_value) = (None, None, None);
        for path in &paths {
            match path.as_str() {
                "display_name" => {
                    new_name = Some(field::text(
                        "display_name",
                        &message.display_name,
                        MAX_NAME_CHARS,
                    )?);
                }
                "email" => new_email = Some(email(&message.email)?),
                "value" => new_value = Some(money_field("value", message.value.as_ref())?),
                other => {
                    return Err(invalid_argument(
                        "update_mask",
                        format!(
                            "unknown path {:?}: only display_name, email and value can change",
                            other.chars().take(64).collect::<String>()
                        ),
                    ));
                }
            }
        }

        let now = clock::now();
        let mut tx = self.store.pool().begin().await.map_err(db)?;
        tiers::lock(&mut tx).await.map_err(db)?;
        let Some(row) = tiers::customer(&mut tx, customer_id).await.map_err(db)? else {
            let missing = not_found("customer_id", "customer", &customer_id.to_string());
            return self.refuse(&command, missing).await;
        };
        if message.expected_version != 0 && message.expected_version != row.version {
            let stream = customer_stream(customer_id).to_string();
            let stale = aborted(
                format!(
                    "{stream} is at version {}, not {}: read it again and retry",
                    row.version, message.expected_version
                ),
                &stream,
            );
            return self.refuse(&command, stale).await;
        }
        let mut encoded: Vec<NewEvent> = Vec::new();
        let mut moves = Vec::new();
        if let Some(value) = new_value {
            if let Err(refused) = self.check_currency(&mut tx, value).await {
                return self.refuse(&command, refused).await;
            }
            let loaded = load_customer(&self.store, customer_id)
                .await
                .map_err(LoadError::into_status)?;
            let events =
                match customer::decide(&CustomerCommand::UpdateValue { value }, &loaded.state, now)
                {
                    Ok(events) => events,
                    Err(refused) => return self.refuse(&command, refusal(refused)).await,
                };
            if let Some(CustomerEvent::ValueChanged { value, .. }) = events.last() {
                tiers::set_value(&mut tx, customer_id, *value)
                    .await
                    .map_err(db)?;
                moves = tiers::recompute(&mut tx).await.map_err(db)?;
            }
            encoded.extend(events.iter().map(encode_customer));
        }
        let own_move = moves.iter().find(|m| m.customer_id == customer_id).copied();
        if let Some(moved) = own_move {
            encoded.push(encode_tier_changed(
                customer_id,
                moved.previous,
                moved.tier,
                now,
            ));
        }
        let current = tiers::details(&mut tx, customer_id).await.map_err(db)?;
        let details = Details {
            display_name: new_name.unwrap_or_else(|| current.display_name.clone()),
            email: new_email.unwrap_or_else(|| current.email.clone()),
        };
        if details != current {
            tiers::save_details(&mut tx, customer_id, &details, now)
                .await
                .map_err(db)?;
            encoded.push(encode_details_changed(customer_id, now));
        }
        if encoded.is_empty() {
            // Nothing changes: nothing to record, and a retry gets the same answer.
            tx.rollback().await.map_err(db)?;
            let mut conn = self.store.pool().acquire().await.map_err(db)?;
            return Self::customer_view(&mut conn, customer_id)
                .await?
                .ok_or_else(chain_rpc::status::internal);
        }
        let version = row.version + encoded.len() as u64;
        match own_move {
            Some(moved) => tiers::set_tier(&mut tx, customer_id, moved.tier, version).await,
            None => tiers::set_version(&mut tx, customer_id, version).await,
        }
        .map_err(db)?;
        let response = Self::customer_view(&mut tx, customer_id)
            .await?
            .ok_or_else(chain_rpc::status::internal)?;
        let metadata = Self::metadata(&caller, &command, customer_id.to_string());
        let outcome = match append_in(
            &mut *tx,
            &customer_stream(customer_id),
            row.version,
            &encoded,
            &metadata,
            Some(&command.record(&response)),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(StoreError::Conflict { .. }) => {
                let stream = customer_stream(customer_id).to_string();
                return Err(aborted(
                    format!("{stream} changed concurrently: read it again and retry"),
                    &stream,
                ));
            }
            Err(error) => return Err(error.into_status()),
        };
        if let AppendOutcome::Replayed { response } = outcome {
            tx.rollback().await.map_err(db)?;
            return IdempotentCommand::decode(&response);
        }
        Self::record_tier_moves(&mut tx, &moves, customer_id, command.key(), now).await?;
        tx.commit().await.map_err(db)?;
        self.store.signal_appended();
        Ok(response)
    }

    pub(super) async fn get_customer(
        &self,
        call: Call<pb::GetCustomerRequest>,
    ) -> Result<pb::Customer, Status> {
        let customer_id: CustomerId = field::id("customer_id", &call.get_ref().customer_id)?;
        let mut conn = self.store.pool().acquire().await.map_err(db)?;
        Self::customer_view(&mut conn, customer_id)
            .await?
            .ok_or_else(|| not_found("customer_id", "customer", &customer_id.to_string()))
    }

    pub(super) async fn list_customers(
        &self,
        call: Call<pb::ListCustomersRequest>,
    ) -> Result<pb::ListCustomersResponse, Status> {
        let message = call.into_inner();
        let mut wanted: Vec<String> = Vec::with_capacity(message.tiers.len());
        for value in &message.tiers {
            let tier: pb::CustomerTier = field::enumeration("tiers", *value)?;
            let tier = crate::codec::tier_from(tier)
                .ok_or_else(|| invalid_argument("tiers", "unspecified is not a tier"))?;
            wanted.push(tier.as_str().to_owned());
        }
        wanted.sort();
        wanted.dedup();
        let filter = format!("tiers={wanted:?}");
        let page: PageRequest<CustomerCursor> =
            PageRequest::parse(message.page_size, &message.page_token, filter.as_bytes())?;
        let after = page.after().copied();
        let rows = sqlx::query(
            "SELECT c.customer_id, c.value_minor, c.currency, c.tier, c.registered_at,
                    c.version, c.rank, coalesce(d.display_name, '') AS display_name,
                    coalesce(d.email, '') AS email
             FROM (SELECT *, row_number() OVER (ORDER BY value_minor DESC, customer_id) AS rank
                   FROM customers) c
             LEFT JOIN customer_details d ON d.customer_id = c.customer_id
             WHERE (cardinality($1::text[]) = 0 OR c.tier = ANY($1))
               AND ($2::bigint IS NULL OR (-c.value_minor, c.customer_id) > (-$2::bigint, $3::uuid))
             ORDER BY c.value_minor DESC, c.customer_id
             LIMIT $4",
        )
        .bind(&wanted)
        .bind(after.map(|(value, _)| value))
        .bind(after.map(|(_, id)| id))
        .bind(page.fetch_limit())
        .fetch_all(self.store.pool())
        .await
        .map_err(db)?;
        let mut customers = Vec::with_capacity(rows.len());
        for row in &rows {
            let currency: String = row.try_get("currency").map_err(db)?;
            let minor: i64 = row.try_get("value_minor").map_err(db)?;
            let tier: Option<String> = row.try_get("tier").map_err(db)?;
            let rank: i64 = row.try_get("rank").map_err(db)?;
            let id: Uuid = row.try_get("customer_id").map_err(db)?;
            customers.push(pb::Customer {
                customer_id: id.to_string(),
                display_name: row.try_get("display_name").map_err(db)?,
                email: row.try_get("email").map_err(db)?,
                value: Some(pb::Money {
                    currency_code: currency,
                    value_minor: minor,
                }),
                tier: tiers::tier_of(tier.as_deref())
                    .map_or(pb::CustomerTier::Unspecified, crate::codec::tier)
                    .into(),
                value_rank: u32::try_from(rank).unwrap_or(u32::MAX),
                registered_at: crate::codec::ts(row.try_get("registered_at").map_err(db)?),
                version: u64::try_from(row.try_get::<i64, _>("version").map_err(db)?).unwrap_or(0),
            });
        }
        let (customers, next_page_token) = page.finish(customers, |c| {
            (
                c.value.as_ref().map_or(0, |v| v.value_minor),
                Uuid::parse_str(&c.customer_id).unwrap_or_default(),
            )
        });
        Ok(pb::ListCustomersResponse {
            customers,
            next_page_token,
        })
    }
}
