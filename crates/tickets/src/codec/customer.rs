//! Customer events: the domain's `CustomerRegistered` and `CustomerValueChanged`, and the two
//! the service records on its own: `CustomerTierChanged` (the Pareto tiers moved) and
//! `CustomerDetailsChanged` (the name or e-mail changed; the details themselves stay in the
//! service's table). No customer event ever holds a name or an e-mail address.

use chain_domain::customer::{CustomerEvent, Tier};
use chain_domain::ids::CustomerId;
use chain_proto::customerchain::v1 as pb;
use chain_store::NewEvent;
use chrono::{DateTime, Utc};

use super::{CodecError, StoredEvent, id_of, invalid, money, money_of, new_event, tier, tier_from};

/// One event of a customer stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerStreamEvent {
    /// A domain event: registered, or the value changed.
    Domain(CustomerEvent),
    /// The customer's Pareto tier changed.
    TierChanged {
        /// The customer.
        customer_id: CustomerId,
        /// The tier before; `None` for the first computation.
        previous: Option<Tier>,
        /// The tier now.
        tier: Tier,
        /// When.
        at: DateTime<Utc>,
    },
    /// The customer's personal details changed (they are not in the event).
    DetailsChanged {
        /// The customer.
        customer_id: CustomerId,
        /// When.
        at: DateTime<Utc>,
    },
}

/// The stored event of a domain customer event. `display_name` and `email` stay empty.
pub fn encode_customer(event: &CustomerEvent) -> NewEvent {
    match event {
        CustomerEvent::Registered {
            customer_id,
            value,
            at,
        } => new_event(
            &pb::CustomerRegistered {
                customer_id: customer_id.to_string(),
                display_name: String::new(),
                email: String::new(),
                value: Some(money(*value)),
            },
            *at,
        ),
        CustomerEvent::ValueChanged {
            customer_id,
            previous,
            value,
            at,
        } => new_event(
            &pb::CustomerValueChanged {
                customer_id: customer_id.to_string(),
                previous_value: Some(money(*previous)),
                new_value: Some(money(*value)),
            },
            *at,
        ),
    }
}

/// The stored event of a tier change (`previous` is `None` on the first computation).
pub fn encode_tier_changed(
    customer_id: CustomerId,
    previous: Option<Tier>,
    new: Tier,
    at: DateTime<Utc>,
) -> NewEvent {
    new_event(
        &pb::CustomerTierChanged {
            customer_id: customer_id.to_string(),
            previous_tier: previous.map_or(pb::CustomerTier::Unspecified, tier).into(),
            new_tier: tier(new).into(),
        },
        at,
    )
}

/// The stored event recording that a customer's details changed, without them.
pub fn encode_details_changed(customer_id: CustomerId, at: DateTime<Utc>) -> NewEvent {
    new_event(
        &pb::CustomerDetailsChanged {
            customer_id: customer_id.to_string(),
            display_name: String::new(),
            email: String::new(),
        },
        at,
    )
}

/// Decodes one customer event.
pub fn decode_customer(stored: StoredEvent<'_>) -> Result<CustomerStreamEvent, CodecError> {
    let at = stored.occurred_at;
    if stored.is::<pb::CustomerRegistered>() {
        type M = pb::CustomerRegistered;
        let m: M = stored.message()?;
        return Ok(CustomerStreamEvent::Domain(CustomerEvent::Registered {
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            value: money_of::<M>("value", m.value.as_ref())?,
            at,
        }));
    }
    if stored.is::<pb::CustomerValueChanged>() {
        type M = pb::CustomerValueChanged;
        let m: M = stored.message()?;
        return Ok(CustomerStreamEvent::Domain(CustomerEvent::ValueChanged {
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            previous: money_of::<M>("previous_value", m.previous_value.as_ref())?,
            value: money_of::<M>("new_value", m.new_value.as_ref())?,
            at,
        }));
    }
    if stored.is::<pb::CustomerTierChanged>() {
        type M = pb::CustomerTierChanged;
        let m: M = stored.message()?;
        return Ok(CustomerStreamEvent::TierChanged {
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            previous: tier_from(m.previous_tier()),
            tier: tier_from(m.new_tier()).ok_or_else(|| invalid::<M>("new_tier", "unspecified"))?,
            at,
        });
    }
    if stored.is::<pb::CustomerDetailsChanged>() {
        type M = pb::CustomerDetailsChanged;
        let m: M = stored.message()?;
        return Ok(CustomerStreamEvent::DetailsChanged {
            customer_id: id_of::<M, _>("customer_id", &m.customer_id)?,
            at,
        });
    }
    Err(CodecError::UnknownType(stored.event_type.to_owned()))
}
