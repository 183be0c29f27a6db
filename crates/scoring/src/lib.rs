//! Everything scoring-svc does: the `SatisfactionService` (feedback, scores, link health, the
//! impact ledger, the projection digest), the projections it answers from and the consumers
//! that keep them, and the rebuild that recomputes them from the event history. The model
//! itself (signals, weights, decay, the flood bound, attribution, health, lifecycle) is
//! `chain_domain::scoring`, written up in `docs/scoring-model.md`; this crate applies it.
//!
//! - [`codec`]: the requests, tickets and feedback events → [`codec::Input`]s;
//! - [`projection`]: the pure core (`apply`, `derive`), the rows and their digest, the SQL
//!   layer, and the live consumers ([`projection::ScoringProjector`]);
//! - [`rebuild`]: every projection again from the producers' histories (`ReadEvents`), into a
//!   fresh schema, with its digest;
//! - [`service`]: the gRPC service; `WatchScores` wakes on [`chain_store::ChangeFeed`];
//! - [`setup`]: the wiring for the `scoring-svc` binary and its `rebuild` command;
//! - [`synthetic`]: reproducible histories for the benchmark and the tests.
//!
//! Decisions worth knowing:
//!
//! - **Event time only.** A subject's score is evaluated as of the latest event time known
//!   about it (its signals; a link's requests; a customer's registration, impacts and
//!   resolutions). Stored as integers (`value_hundredths`, confidence in 1/10,000).
//! - **Order independence.** Facts change only in their own stream's order; every derived
//!   row is a function of the facts, so any interleaving of the three input stores that keeps
//!   each store's order gives the same projections (tested), and so does a rebuild.
//! - **Feedback sources.** A customer's feedback counts as one source (the customer: contacts
//!   are not known here), a team's as one source (the team), so the domain's per-source cap
//!   bounds how far one of them can move a score.
//! - **Impacts.** One per (ticket, promise), opened by the first `PromiseAtRisk` or
//!   `PromiseBroken`, with the path as the tickets service traced it; its id is a UUIDv7 made
//!   from its event time and a hash of (ticket, promise), so a rebuild gives the same ids.
//! - **Attribution.** On resolution, the value at stake (when broken or kept late) is
//!   apportioned over the case's requests by their `own_delay`, leaving out requests under an
//!   ancestor that completed on time.
//! - **Risk.** `1 − score/100` while a customer is at risk or dissatisfied; ranked by
//!   `value × risk`.
//! - **Live vs rebuild.** Live consumption applies one event at a time under an advisory
//!   lock, in the inbox transaction, and emits `ScoreChanged` / `ImpactRecorded` /
//!   `ImpactResolved`; a rebuild emits nothing. `ProjectionDigest.input_positions` counts the
//!   events applied per input store, so two digests compare at equal counts.

pub mod codec;
pub mod projection;
pub mod rebuild;
pub mod service;
pub mod setup;
pub mod synthetic;
pub mod view;

pub use service::ScoringService;
pub use setup::{RebuildArgs, ScoringSetup, run_rebuild};

/// The service's token on the bus: its stream is `<ROOT>_SCORING`, its subjects
/// `<root>.v1.scoring.<aggregate>.<event>`.
pub const SERVICE: &str = "scoring";

/// The actor of the events the service emits on its own (scores, impacts).
pub const SERVICE_ACTOR: &str = "scoring-svc";
