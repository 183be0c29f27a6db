//! Where a customer is in its life with the business ("win new customers, keep the ones you
//! have, and keep the dissatisfied ones from leaving"), derived from its score over time and
//! its open impacts.
//!
//! The score is replayed at each of the customer's signals, oldest first. A **dissatisfied
//! episode** starts when the score falls below [`LifecycleRules::dissatisfied_below`] (40)
//! and ends only when a *good* signal (value ≥ [`LifecycleRules::at_risk_below`], 60) brings
//! the score back to 60 or more: the gap between 40 and 60 keeps the stage from flapping, and
//! asking for a good signal means a customer is won back by something done, not by the
//! bad news fading. Then, in this order:
//!
//! 1. **Dissatisfied**: in a dissatisfied episode, or the score as of now is below 40;
//! 2. **AtRisk**: the score as of now is below 60, or a promise to the customer is at risk
//!    or broken and unresolved (`open_impacts > 0`);
//! 3. **WonBack**: a dissatisfied episode ended within [`LifecycleRules::won_back_for`]
//!    (180 days);
//! 4. **New**: a customer for less than [`LifecycleRules::new_for`] (90 days);
//! 5. **Retained**: everyone else.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::book::SubjectSignals;
use super::model::ScoringModel;

/// A customer's lifecycle stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Recently won and not in trouble.
    New,
    /// Kept: satisfied, nothing at risk.
    Retained,
    /// Slipping: a middling score or a promise in trouble.
    AtRisk,
    /// Dissatisfied: act before it leaves.
    Dissatisfied,
    /// Was dissatisfied, and was won back recently.
    WonBack,
}

impl Lifecycle {
    /// A stable snake_case name, e.g. `"won_back"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Retained => "retained",
            Self::AtRisk => "at_risk",
            Self::Dissatisfied => "dissatisfied",
            Self::WonBack => "won_back",
        }
    }
}

/// The thresholds of the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifecycleRules {
    /// Below this score a customer is at risk (default 60); a dissatisfied episode ends at
    /// or above it.
    pub at_risk_below: f64,
    /// Below this score a customer is dissatisfied (default 40).
    pub dissatisfied_below: f64,
    /// How long a customer is new (default 90 days).
    pub new_for: TimeDelta,
    /// How long a won-back customer is shown as such (default 180 days).
    pub won_back_for: TimeDelta,
}

impl Default for LifecycleRules {
    fn default() -> Self {
        Self {
            at_risk_below: 60.0,
            dissatisfied_below: 40.0,
            new_for: TimeDelta::days(90),
            won_back_for: TimeDelta::days(180),
        }
    }
}

/// A customer's stage as of `as_of`, from its signals, when it became a customer
/// (`customer_since`, its registration), and how many of its promises are at risk or broken
/// and unresolved now (`open_impacts`).
pub fn lifecycle(
    signals: &SubjectSignals,
    model: &ScoringModel,
    rules: &LifecycleRules,
    customer_since: DateTime<Utc>,
    open_impacts: usize,
    as_of: DateTime<Utc>,
) -> Lifecycle {
    let mut dissatisfied = false;
    let mut recovered_at: Option<DateTime<Utc>> = None;
    for (key, value) in signals.timeline() {
        if key.0 > as_of {
            break;
        }
        let score = signals.evaluate(model, key.0, Some(key)).value;
        if score < rules.dissatisfied_below {
            dissatisfied = true;
        } else if dissatisfied && score >= rules.at_risk_below && value >= rules.at_risk_below {
            dissatisfied = false;
            recovered_at = Some(key.0);
        }
    }
    let now = signals.score(model, as_of).value;
    if dissatisfied || now < rules.dissatisfied_below {
        Lifecycle::Dissatisfied
    } else if now < rules.at_risk_below || open_impacts > 0 {
        Lifecycle::AtRisk
    } else if recovered_at.is_some_and(|at| as_of - at < rules.won_back_for) {
        Lifecycle::WonBack
    } else if as_of - customer_since < rules.new_for {
        Lifecycle::New
    } else {
        Lifecycle::Retained
    }
}
