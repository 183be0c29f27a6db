//! The Customer aggregate: an external customer the business sells to, and what the domain
//! needs of it: its value (for example annual revenue, in minor units of a currency), from
//! which [`pareto_tiers`] ranks customers into tiers A, B and C.
//!
//! **Personal data stays out.** A customer's name, e-mail, phone and comments are personal:
//! the service keeps them in its own table (where they can be corrected or erased) and never
//! puts them in these events, which are immutable, replayed and published. The domain knows a
//! customer by its id and its value only.

mod money;
mod tier;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::decider::{Decider, DomainEvent};
use crate::error::DomainError;
use crate::ids::CustomerId;

pub use money::{Currency, Money};
pub use tier::{TIER_A_CUMULATIVE_PERCENT, TIER_B_CUMULATIVE_PERCENT, Tier, pareto_tiers};

/// Where a customer stands at some moment: its tier and value, as recorded on the events that
/// put something of it at stake (a promise at risk), so an impact can be ranked by value
/// without looking the customer up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CustomerStanding {
    /// Its tier when recorded.
    pub tier: Tier,
    /// Its value when recorded.
    pub value: Money,
}

/// What a caller can ask of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerCommand {
    /// Register the customer.
    Register {
        /// The new customer's id (made by the service).
        customer_id: CustomerId,
        /// Its value.
        value: Money,
    },
    /// Record a new value (for example this year's revenue).
    UpdateValue {
        /// The new value.
        value: Money,
    },
}

impl CustomerCommand {
    /// The command's name as used in errors.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Register { .. } => "RegisterCustomer",
            Self::UpdateValue { .. } => "UpdateCustomerValue",
        }
    }
}

/// What happened to a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CustomerEvent {
    /// The customer was registered.
    #[serde(rename = "CustomerRegistered")]
    Registered {
        /// The customer.
        customer_id: CustomerId,
        /// Its value.
        value: Money,
        /// When.
        at: DateTime<Utc>,
    },
    /// The customer's value changed.
    #[serde(rename = "CustomerValueChanged")]
    ValueChanged {
        /// The customer.
        customer_id: CustomerId,
        /// The value it had.
        previous: Money,
        /// The value it has now.
        value: Money,
        /// When.
        at: DateTime<Utc>,
    },
}

impl CustomerEvent {
    /// The customer the event is about.
    pub const fn customer_id(&self) -> CustomerId {
        match self {
            Self::Registered { customer_id, .. } | Self::ValueChanged { customer_id, .. } => {
                *customer_id
            }
        }
    }
}

impl DomainEvent for CustomerEvent {
    fn event_type(&self) -> &'static str {
        match self {
            Self::Registered { .. } => "CustomerRegistered",
            Self::ValueChanged { .. } => "CustomerValueChanged",
        }
    }

    fn schema_version(&self) -> u16 {
        1
    }

    fn occurred_at(&self) -> DateTime<Utc> {
        match self {
            Self::Registered { at, .. } | Self::ValueChanged { at, .. } => *at,
        }
    }
}

/// A customer as known after its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// Its id.
    pub id: CustomerId,
    /// Its current value.
    pub value: Money,
    /// When it was registered (the start of its life as a customer: "new" is judged from it).
    pub registered_at: DateTime<Utc>,
}

/// A customer's state: `customer` is `None` before it is registered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerState {
    /// The customer, once registered.
    pub customer: Option<Customer>,
    /// How many events have been applied (the stream version).
    pub version: u64,
}

/// Decides a customer command. Updating to the current value changes nothing (no event).
pub fn decide(
    command: &CustomerCommand,
    state: &CustomerState,
    now: DateTime<Utc>,
) -> Result<Vec<CustomerEvent>, DomainError> {
    match (command, &state.customer) {
        (CustomerCommand::Register { customer_id, value }, None) => {
            Ok(vec![CustomerEvent::Registered {
                customer_id: *customer_id,
                value: *value,
                at: now,
            }])
        }
        (CustomerCommand::Register { .. }, Some(customer)) => Err(DomainError::AlreadyExists {
            kind: "customer",
            id: customer.id.to_string(),
        }),
        (CustomerCommand::UpdateValue { value }, Some(customer)) => {
            if *value == customer.value {
                return Ok(Vec::new());
            }
            Ok(vec![CustomerEvent::ValueChanged {
                customer_id: customer.id,
                previous: customer.value,
                value: *value,
                at: now,
            }])
        }
        (CustomerCommand::UpdateValue { .. }, None) => Err(DomainError::InvalidTransition {
            command: command.name(),
            state: "NotRegistered",
        }),
    }
}

/// Applies one customer event.
pub fn evolve(mut state: CustomerState, event: &CustomerEvent) -> CustomerState {
    state.version += 1;
    match event {
        CustomerEvent::Registered {
            customer_id,
            value,
            at,
        } => {
            state.customer = Some(Customer {
                id: *customer_id,
                value: *value,
                registered_at: *at,
            });
        }
        CustomerEvent::ValueChanged { value, .. } => {
            if let Some(customer) = state.customer.as_mut() {
                customer.value = *value;
            }
        }
    }
    state
}

/// Rebuilds a customer's state from its events, oldest first.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a CustomerEvent>) -> CustomerState {
    events.into_iter().fold(CustomerState::default(), evolve)
}

/// The customer aggregate as a [`Decider`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerDecider;

impl Decider for CustomerDecider {
    type Command = CustomerCommand;
    type Event = CustomerEvent;
    type State = CustomerState;

    fn decide(
        command: &CustomerCommand,
        state: &CustomerState,
        now: DateTime<Utc>,
    ) -> Result<Vec<CustomerEvent>, DomainError> {
        decide(command, state, now)
    }

    fn evolve(state: CustomerState, event: &CustomerEvent) -> CustomerState {
        evolve(state, event)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .expect("a valid fixed time")
    }

    fn eur(cents: i64) -> Money {
        Money::new(cents, "EUR").expect("valid money")
    }

    fn registered() -> CustomerState {
        let command = CustomerCommand::Register {
            customer_id: CustomerId::from_uuid(Uuid::from_u128(1)),
            value: eur(100),
        };
        fold(&decide(&command, &CustomerState::default(), now()).expect("registers"))
    }

    #[test]
    fn register_then_change_the_value() {
        let state = registered();
        let customer = state.customer.clone().expect("registered");
        assert_eq!(customer.value, eur(100));
        assert_eq!(customer.registered_at, now());
        let same = decide(
            &CustomerCommand::UpdateValue { value: eur(100) },
            &state,
            now(),
        )
        .expect("same value");
        assert!(same.is_empty(), "no change, no event");
        let events = decide(
            &CustomerCommand::UpdateValue { value: eur(250) },
            &state,
            now(),
        )
        .expect("new value");
        assert_eq!(events[0].event_type(), "CustomerValueChanged");
        let state = events.iter().fold(state, evolve);
        assert_eq!(state.customer.map(|c| c.value), Some(eur(250)));
        assert_eq!(state.version, 2);
    }

    #[test]
    fn registering_twice_or_updating_nobody_is_refused() {
        let again = CustomerCommand::Register {
            customer_id: CustomerId::from_uuid(Uuid::from_u128(1)),
            value: eur(1),
        };
        assert!(matches!(
            decide(&again, &registered(), now()),
            Err(DomainError::AlreadyExists {
                kind: "customer",
                ..
            })
        ));
        let update = CustomerCommand::UpdateValue { value: eur(1) };
        assert_eq!(
            decide(&update, &CustomerState::default(), now()),
            Err(DomainError::InvalidTransition {
                command: "UpdateCustomerValue",
                state: "NotRegistered"
            })
        );
    }

    #[test]
    fn events_hold_no_personal_data_and_round_trip() {
        let events = decide(
            &CustomerCommand::Register {
                customer_id: CustomerId::from_uuid(Uuid::from_u128(1)),
                value: eur(100),
            },
            &CustomerState::default(),
            now(),
        )
        .expect("registers");
        let json = serde_json::to_value(&events[0]).expect("serializes");
        let mut keys: Vec<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, vec!["at", "customer_id", "type", "value"]);
        assert_eq!(json["value"]["currency"], "EUR");
        let back: CustomerEvent = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, events[0]);
    }
}
