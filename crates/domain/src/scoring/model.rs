//! The satisfaction model's parameters and the fixed values of each reliability outcome
//! (`docs/scoring-model.md` gives the reason for every number).
//!
//! A score is a Bayesian average of signal values (each 0–100) shrunk toward a prior:
//!
//! ```text
//! score      = (prior × prior_weight + Σ wᵢ·xᵢ) / (prior_weight + Σ wᵢ)
//! confidence = Σ wᵢ / (prior_weight + Σ wᵢ)
//! wᵢ         = base weight × 2^(−age / half_life)     (age = as_of − event time)
//! ```
//!
//! and the feedback of one source counts with at most `source_cap` of weight in total (its
//! weights are scaled down together, so its mean is kept and only its loudness is capped).

use chrono::TimeDelta;

use crate::error::DomainError;

/// The value of a promise kept as made.
pub const KEPT_VALUE: f64 = 100.0;
/// The value of a promise the customer agreed to move before it broke, then kept.
pub const RENEGOTIATED_VALUE: f64 = 80.0;
/// The value of a promise broken after the customer was told in time.
pub const BROKEN_AFTER_NOTICE_VALUE: f64 = 30.0;
/// The value of a promise broken without warning.
pub const BROKEN_SURPRISE_VALUE: f64 = 0.0;
/// The value a late delivery tends to as it gets later (never reached).
pub const LATE_FLOOR_VALUE: f64 = 20.0;
/// The lateness, as a share of the promised window, that halves what a late delivery keeps
/// above [`LATE_FLOOR_VALUE`].
pub const LATE_HALVING_RATIO: f64 = 0.25;
/// How much more lateness is forgiven when the customer was told in time (the halving ratio
/// is multiplied by it).
pub const NOTICE_LATENESS_FACTOR: f64 = 2.0;
/// The shortest promised window lateness is measured against, so a promise made for "now"
/// does not divide by zero.
pub const MIN_WINDOW: TimeDelta = TimeDelta::minutes(1);

/// The tunable parameters of the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoringModel {
    /// The age at which a signal counts half (default 90 days).
    pub half_life: TimeDelta,
    /// What a subject with no history is assumed to score (default 75: "satisfied").
    pub prior: f64,
    /// How many fresh signals' worth of weight the prior carries (default 4).
    pub prior_weight: f64,
    /// The most weight the feedback of one source can carry, however often it speaks
    /// (default 2: two fresh ratings).
    pub source_cap: f64,
    /// The weight of one fresh piece of feedback (default 1).
    pub feedback_weight: f64,
    /// The weight of one fresh reliability outcome (default 1.5).
    pub reliability_weight: f64,
    /// The weight of one fresh promise broken without warning (default 3).
    pub surprise_weight: f64,
}

impl Default for ScoringModel {
    fn default() -> Self {
        Self {
            half_life: TimeDelta::days(90),
            prior: 75.0,
            prior_weight: 4.0,
            source_cap: 2.0,
            feedback_weight: 1.0,
            reliability_weight: 1.5,
            surprise_weight: 3.0,
        }
    }
}

impl ScoringModel {
    /// The default model with another half-life.
    pub fn with_half_life(half_life: TimeDelta) -> Result<Self, DomainError> {
        let model = Self {
            half_life,
            ..Self::default()
        };
        model.validate()?;
        Ok(model)
    }

    /// Checks every parameter, naming the first one out of range.
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.half_life <= TimeDelta::zero() {
            return Err(DomainError::invalid_field(
                "half_life",
                "must be more than zero",
            ));
        }
        if !(0.0..=100.0).contains(&self.prior) {
            return Err(DomainError::invalid_field(
                "prior",
                format!("must be within 0..=100, got {}", self.prior),
            ));
        }
        for (field, value) in [
            ("prior_weight", self.prior_weight),
            ("source_cap", self.source_cap),
            ("feedback_weight", self.feedback_weight),
            ("reliability_weight", self.reliability_weight),
            ("surprise_weight", self.surprise_weight),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Err(DomainError::invalid_field(
                    field,
                    format!("must be a finite number above zero, got {value}"),
                ));
            }
        }
        Ok(())
    }

    /// How much a signal of age `age` still counts: `2^(−age / half_life)`; 1 for a signal
    /// no older than `as_of` (a future one is never asked about).
    pub fn decay(&self, age: TimeDelta) -> f64 {
        if age <= TimeDelta::zero() {
            return 1.0;
        }
        let ratio = age.num_milliseconds() as f64 / self.half_life.num_milliseconds() as f64;
        (-ratio).exp2()
    }

    /// The most one source's feedback can move a score, in points, however much it sends
    /// and whatever else is known: `100 × source_cap / (prior_weight + source_cap)`
    /// (33.3 with the defaults). See [`ScoringModel::flood_bound_given`] for the proof.
    pub fn flood_bound(&self) -> f64 {
        self.flood_bound_given(0.0)
    }

    /// The same bound when the rest of the evidence (other sources and reliability
    /// outcomes) already weighs `rest_weight`: `100 × cap / (prior_weight + rest + cap)`.
    ///
    /// Why: with everything else fixed (weighted sum `K`, weight `W ≥ prior_weight`, mean
    /// `K/W` within 0..=100), the source adds weight `w ≤ cap` at a mean `x` within 0..=100,
    /// so the score `(K + w·x)/(W + w)` lies between `K/(W + cap)` (x = 0, w = cap) and
    /// `(K + 100·cap)/(W + cap)` (x = 100, w = cap). Any two states of the source, before and
    /// after a flood, are within that interval, whose width is `100·cap/(W + cap)`.
    pub fn flood_bound_given(&self, rest_weight: f64) -> f64 {
        let rest = self.prior_weight + rest_weight.max(0.0);
        100.0 * self.source_cap / (rest + self.source_cap)
    }

    /// The most `sources` distinct sources together can move a score: the crowd is heard,
    /// in proportion to its size; `100 × k·cap / (prior_weight + k·cap)`.
    pub fn burst_bound(&self, sources: u32) -> f64 {
        let loud = f64::from(sources) * self.source_cap;
        100.0 * loud / (self.prior_weight + loud)
    }
}
