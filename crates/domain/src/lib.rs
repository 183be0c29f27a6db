//! The customer chain's domain: ids, commitments, events and aggregates as pure decide/evolve
//! functions. No IO, no async, no clock: time is always passed in as `now`.
//!
//! Aggregates follow the Decider pattern ([`Decider`]): [`team`], [`link`], [`request`],
//! [`customer`] and [`ticket`].
//! Around requests: [`propagation`] (how a parent learns of its children), [`case`] (a whole
//! case tree: projections, risk, critical path, feasibility), [`ledger`] (where a request's
//! time went and which link a delay is charged to) and [`deadline`] (what a deadline watch
//! schedules).
//!
//! Around tickets: [`customer`] (values and Pareto tiers) and [`scoring`] (the satisfaction
//! model: signals, decayed and robust scores, attribution of a loss to links, link health and
//! the customer lifecycle).

pub mod case;
pub mod commitment;
pub mod customer;
pub mod deadline;
mod decider;
mod duration_ms;
pub mod error;
pub mod field;
pub mod ids;
pub mod ledger;
pub mod link;
pub mod propagation;
pub mod request;
pub mod scoring;
pub mod team;
pub mod ticket;

pub use decider::{Decider, DomainEvent};
pub use error::DomainError;
