//! Everything tickets-svc does: the `TicketService` gRPC service (external customers with
//! their value tier, tickets and the promises made on them), the chain view that follows the
//! requests service's events and tells each ticket what the internal chain behind it can do,
//! the projection that keeps the read model, and the deadline watch that breaks promises whose
//! due time passed unresolved.
//!
//! The domain crate decides; this crate wires it to the store and the bus:
//!
//! - [`service`]: each RPC decodes and validates its request, takes the caller from
//!   [`chain_rpc::Caller`], loads and folds the stream, asks the domain to decide, and appends
//!   the events with the expected version and an idempotency record;
//! - [`codec`]: domain events ↔ the `customerchain.v1` event messages stored and published
//!   (the requests service's own events are read with its codec, `chain_requests::codec`);
//! - [`tiers`]: customers' values, their Pareto tiers recomputed on every change, and their
//!   personal details, kept out of the events;
//! - [`chain_view`]: [`ChainView`], the consumer of `<ROOT>_REQUESTS` that keeps each
//!   ticket's case tree (folding each event onto the case it remembers, checked against the
//!   database's versions) and decides `ObserveChain` on the ticket when the chain behind it
//!   changes;
//! - [`projection`]: the read model of the service's own events, and [`TicketsProjector`];
//! - [`deadline_watch`]: breaks each unresolved promise at its due time, exactly once;
//! - [`streams`], [`record`] and [`view`]: stream names and loading, recording a ticket's new
//!   events, and the API's resources.
//!
//! [`setup`]: [`TicketsSetup`] wires all of it into `chain-server`'s process (migrations,
//! requests-svc's stream, the chain view, the projector, the deadline watch,
//! the at-risk gauge and the gRPC service); the `tickets-svc` binary and the in-process test
//! harnesses use it alike.

pub mod chain_view;
pub mod codec;
pub mod deadline_watch;
pub mod projection;
pub mod record;
pub mod service;
pub mod setup;
pub mod streams;
pub mod tiers;
pub mod view;

pub use chain_store::ChangeFeed;
pub use chain_view::{ChainView, chain_view_config};
pub use deadline_watch::{DeadlineWatch, DeadlineWatchConfig, PromiseDeadlines};
pub use projection::{TicketsProjector, migrate, projector_config, run_at_risk_gauge};
pub use service::TicketService;
pub use setup::TicketsSetup;

/// The service's token on the bus: its stream is `<ROOT>_TICKETS`, its subjects
/// `<root>.v1.tickets.<aggregate>.<event>`.
pub const SERVICE: &str = "tickets";

/// The requests service's token on the bus: the chain view reads `<ROOT>_REQUESTS`.
pub const REQUESTS_SERVICE: &str = "requests";

/// The actor of the events the service emits on its own (chain view, tiers, deadline watch).
pub const SERVICE_ACTOR: &str = "tickets-svc";
