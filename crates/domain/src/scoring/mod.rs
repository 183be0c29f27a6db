//! The satisfaction model: pure and deterministic. Scores are computed from signals and an
//! `as_of` **event time**, never the clock, so replaying the same history gives the same
//! numbers. `docs/scoring-model.md` (at the repository root) gives every formula, weight and
//! threshold with its reason.
//!
//! - [`Signal`]: explicit feedback (CSAT, NPS) from a source, and reliability
//!   outcomes of promises (kept, kept late, renegotiated then kept, broken after notice,
//!   broken as a surprise), with the mappings from ticket events and closed requests;
//! - [`ScoringModel`]: the parameters (half-life, prior, weights, per-source cap) and the
//!   bound on how far one loud source can move a score ([`ScoringModel::flood_bound`]);
//! - [`SignalBook`] / [`SubjectSignals`]: the commutative fold of signals per subject and the
//!   [`Score`] they give as of a time;
//! - [`apportion`]: an external customer's loss split over the internal links by their share
//!   of the delay;
//! - [`LinkHealth`]: health, on-time rate with a Wilson lower bound, mean lateness, customers
//!   hurt;
//! - [`lifecycle`]: new, retained, at risk, dissatisfied, won back.

mod attribution;
mod book;
mod health;
mod lifecycle;
mod model;
mod signal;

pub use attribution::{LossShare, apportion};
pub use book::{Score, SignalBook, SignalKey, SubjectSignals};
pub use health::{Delivery, LinkHealth, WILSON_Z, wilson_lower_bound};
pub use lifecycle::{Lifecycle, LifecycleRules, lifecycle};
pub use model::{
    BROKEN_AFTER_NOTICE_VALUE, BROKEN_SURPRISE_VALUE, KEPT_VALUE, LATE_FLOOR_VALUE,
    LATE_HALVING_RATIO, MIN_WINDOW, NOTICE_LATENESS_FACTOR, RENEGOTIATED_VALUE, ScoringModel,
};
pub use signal::{Feedback, PromiseRef, Reliability, Signal, SignalKind, Subject};
