//! Everything requests-svc does: the `InternalRequestService` gRPC service (teams, the
//! provider → consumer links between them, internal requests with their commitments,
//! revisions and breakdowns, case trees and queries), the projector that keeps its read model
//! and climbs risk up each case tree, and the deadline watch that fires breaches.
//!
//! The domain crate decides; this crate wires it to the store and the bus:
//!
//! - [`service`]: each RPC decodes and validates its request, takes the caller from
//!   [`chain_rpc::Caller`], loads and folds the stream, asks the domain to decide, and appends
//!   the events with the expected version and an idempotency record;
//! - [`codec`]: domain events ↔ the `customerchain.v1` event messages stored and published;
//! - [`record`]: the facts every writer adds to a request's events (ledger, trigger …);
//! - [`projection`]: the read model, and [`RequestsProjector`], the consumer that keeps it
//!   and drives [`propagation`];
//! - [`deadline_watch`]: fires each due time exactly once across replicas;
//! - [`streams`] and [`view`]: stream names and loading; the API's resources.
//!
//! [`setup`]: [`RequestsSetup`] wires all of it into `chain-server`'s process (migrations, the
//! projector, the deadline watch and the gRPC service); the `requests-svc`
//! binary and the in-process test harnesses use it alike.

pub mod codec;
pub mod deadline_watch;
pub mod projection;
pub mod propagation;
pub mod record;
pub mod service;
pub mod setup;
pub mod streams;
pub mod view;

pub use chain_store::ChangeFeed;
pub use deadline_watch::{DeadlineWatch, DeadlineWatchConfig, RequestDeadlines};
pub use projection::{RequestsProjector, migrate, projector_config};
pub use service::RequestService;
pub use setup::RequestsSetup;

/// The service's token on the bus: its stream is `<ROOT>_REQUESTS`, its subjects
/// `<root>.v1.requests.<aggregate>.<event>`.
pub const SERVICE: &str = "requests";

/// The actor of the events the service emits on its own (propagation, deadline watch).
pub const SERVICE_ACTOR: &str = "requests-svc";
