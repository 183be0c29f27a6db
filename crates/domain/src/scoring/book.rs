//! The signals recorded for each subject, and the score they give as of an event time.
//!
//! Recording is a **commutative fold**: a subject's signals are sets keyed by `(event time,
//! event id)` (feedback grouped by source, outcomes grouped by promise), so recording the
//! same signals in any order, or twice, gives the same book, and evaluation walks them in key
//! order, so the floating-point sums are the same bit for bit. A score depends on the
//! signals and `as_of` only, never on when or in what order they were processed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::ScoringModel;
use super::signal::{Feedback, PromiseRef, Reliability, Signal, SignalKind, Subject};
use crate::ids::{EventId, SourceId};

/// A signal's place in time: its event time, then its event id for signals at the same time.
pub type SignalKey = (DateTime<Utc>, EventId);

/// A score as of some event time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// 0–100.
    pub value: f64,
    /// 0–1: the evidence's share of the total weight (0 with no signal; 0.5 when the
    /// evidence weighs as much as the prior).
    pub confidence: f64,
    /// The total (decayed, capped) weight of the signals counted.
    pub weight: f64,
    /// How many signals were counted (superseded outcomes and later signals are not).
    pub signals: usize,
    /// The event time it was evaluated at.
    pub as_of: DateTime<Utc>,
}

impl Score {
    /// The value in hundredths of a point, rounded: what a projection should store, so two
    /// rebuilds hash the same whatever the last bits of a float.
    pub fn value_hundredths(&self) -> u32 {
        (self.value * 100.0).round().clamp(0.0, 10_000.0) as u32
    }
}

/// Everything recorded about one subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubjectSignals {
    feedback: BTreeMap<SourceId, BTreeMap<SignalKey, Feedback>>,
    outcomes: BTreeMap<PromiseRef, BTreeMap<SignalKey, Reliability>>,
}

impl SubjectSignals {
    /// Records one signal; `false` when it was already recorded (a duplicate event).
    pub fn record(&mut self, at: DateTime<Utc>, id: EventId, kind: &SignalKind) -> bool {
        match kind {
            SignalKind::Feedback { source, feedback } => self
                .feedback
                .entry(*source)
                .or_default()
                .insert((at, id), *feedback)
                .is_none(),
            SignalKind::Reliability { promise, outcome } => self
                .outcomes
                .entry(*promise)
                .or_default()
                .insert((at, id), *outcome)
                .is_none(),
        }
    }

    /// How many signals are recorded (superseded outcomes included).
    pub fn len(&self) -> usize {
        self.feedback.values().map(BTreeMap::len).sum::<usize>()
            + self.outcomes.values().map(BTreeMap::len).sum::<usize>()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every recorded signal's key and value, oldest first.
    pub fn timeline(&self) -> Vec<(SignalKey, f64)> {
        let mut all: Vec<(SignalKey, f64)> = self
            .feedback
            .values()
            .flat_map(|entries| entries.iter().map(|(k, f)| (*k, f.value())))
            .chain(
                self.outcomes
                    .values()
                    .flat_map(|entries| entries.iter().map(|(k, o)| (*k, o.value()))),
            )
            .collect();
        all.sort_by_key(|entry| entry.0);
        all
    }

    /// The score as of `as_of`: signals after it are not counted.
    pub fn score(&self, model: &ScoringModel, as_of: DateTime<Utc>) -> Score {
        self.evaluate(model, as_of, None)
    }

    /// The score as of `as_of`, counting only signals up to `cutoff` (inclusive).
    pub(crate) fn evaluate(
        &self,
        model: &ScoringModel,
        as_of: DateTime<Utc>,
        cutoff: Option<SignalKey>,
    ) -> Score {
        let counted = |key: &SignalKey| key.0 <= as_of && cutoff.is_none_or(|c| *key <= c);
        let (mut weight, mut weighted, mut signals) = (0.0, 0.0, 0);
        for entries in self.feedback.values() {
            let (mut source_weight, mut source_weighted) = (0.0, 0.0);
            for (key, feedback) in entries.iter().filter(|(k, _)| counted(k)) {
                let w = model.feedback_weight * model.decay(as_of - key.0);
                source_weight += w;
                source_weighted += w * feedback.value();
                signals += 1;
            }
            // One source is one voice: past the cap its weights shrink together, which keeps
            // its (decayed) mean and bounds how far it can move the score.
            if source_weight > model.source_cap {
                source_weighted *= model.source_cap / source_weight;
                source_weight = model.source_cap;
            }
            weight += source_weight;
            weighted += source_weighted;
        }
        for entries in self.outcomes.values() {
            // The latest outcome of a promise replaces the earlier ones.
            if let Some((key, outcome)) = entries.iter().rev().find(|(k, _)| counted(k)) {
                let w = outcome.weight(model) * model.decay(as_of - key.0);
                weight += w;
                weighted += w * outcome.value();
                signals += 1;
            }
        }
        let total = model.prior_weight + weight;
        Score {
            value: ((model.prior * model.prior_weight + weighted) / total).clamp(0.0, 100.0),
            confidence: (weight / total).clamp(0.0, 1.0),
            weight,
            signals,
            as_of,
        }
    }
}

/// The signals of every subject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalBook {
    subjects: BTreeMap<Subject, SubjectSignals>,
}

impl SignalBook {
    /// Records one signal; `false` when it was already recorded.
    pub fn record(&mut self, signal: &Signal) -> bool {
        self.subjects
            .entry(signal.subject)
            .or_default()
            .record(signal.at, signal.id, &signal.kind)
    }

    /// The signals of one subject.
    pub fn subject(&self, subject: &Subject) -> Option<&SubjectSignals> {
        self.subjects.get(subject)
    }

    /// Every subject with signals, in order.
    pub fn subjects(&self) -> impl Iterator<Item = (&Subject, &SubjectSignals)> {
        self.subjects.iter()
    }

    /// A subject's score as of `as_of` (the prior, with no confidence, when nothing is known).
    pub fn score(&self, subject: &Subject, model: &ScoringModel, as_of: DateTime<Utc>) -> Score {
        self.subjects.get(subject).map_or_else(
            || SubjectSignals::default().score(model, as_of),
            |s| s.score(model, as_of),
        )
    }
}
