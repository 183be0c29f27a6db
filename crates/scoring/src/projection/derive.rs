//! Everything derived from the facts: impact records (notice, resolution, attribution of the
//! loss to links), link health and scores with the customer lifecycle. Pure functions of the
//! state and the event times in it, through the domain's model (`chain_domain::scoring`):
//!
//! - a subject's score is evaluated **as of the latest event time known about it** (its
//!   signals, a link's requests and declaration, a customer's registration, impacts and
//!   resolutions), never the clock;
//! - a loss is apportioned ([`apportion`]) over the requests of the ticket's case that charged
//!   themselves delay (`own_delay` of their time ledger), leaving out a request whose parent
//!   (or any ancestor) completed on time: that lateness was absorbed before it reached the
//!   customer. The value apportioned is the value at stake when the promise was broken or
//!   kept late, and nothing when it was kept (the shares still show who was late);
//! - the risk of losing a customer is `1 − score/100` while its lifecycle is at risk or
//!   dissatisfied (0 otherwise), and `ListAtRiskCustomers` ranks by `value × risk`.

use std::collections::BTreeMap;

use chain_domain::ids::{CustomerId, TicketId};
use chain_domain::ledger::Charge;
use chain_domain::link::LinkKey;
use chain_domain::request::Parent;
use chain_domain::scoring::{
    Delivery, Lifecycle, LifecycleRules, LinkHealth, ScoringModel, Subject, SubjectSignals,
    apportion, lifecycle,
};
use chain_domain::ticket::PromiseOutcome;
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::facts::ImpactKey;
use super::rows::{HealthRow, ImpactLinkRow, ImpactRow, ScoreRow, ShareRow, subject_key};
use super::state::{Dirty, ProjectionState};

/// The model and thresholds the projection computes with.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProjectionConfig {
    /// The satisfaction model.
    pub model: ScoringModel,
    /// The lifecycle thresholds.
    pub rules: LifecycleRules,
}

/// The derived rows recomputed for a [`Dirty`] set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Derived {
    /// Scores, by subject.
    pub scores: BTreeMap<Subject, ScoreRow>,
    /// Link health, by link.
    pub health: BTreeMap<LinkKey, HealthRow>,
    /// Impacts, by (ticket, promise).
    pub impacts: BTreeMap<ImpactKey, ImpactRow>,
}

/// Recomputes what `dirty` names from `state` (which must hold everything those rows read:
/// see `super::tables::Tables::load_for_derive`).
pub fn derive(state: &ProjectionState, dirty: &Dirty, config: &ProjectionConfig) -> Derived {
    let mut derived = Derived::default();
    for key in dirty.impact_keys(state) {
        if let Some(row) = impact(state, key) {
            derived.impacts.insert(key, row);
        }
    }
    for link in &dirty.health {
        if let Some(row) = health(state, link, config) {
            derived.health.insert(*link, row);
        }
    }
    for subject in &dirty.score_subjects() {
        if let Some(row) = score(state, subject, config) {
            derived.scores.insert(*subject, row);
        }
    }
    derived
}

/// The id of an impact: a UUIDv7 (so ids sort by creation time) whose time is the impact's
/// event time and whose other bits hash its (ticket, promise), so a rebuild gives the same id.
pub fn impact_id(key: ImpactKey, recorded_at: DateTime<Utc>) -> Uuid {
    let mut hash = Sha256::new();
    hash.update(key.0.as_uuid().as_bytes());
    hash.update(key.1.to_be_bytes());
    let digest = hash.finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(recorded_at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

fn impact(state: &ProjectionState, key: ImpactKey) -> Option<ImpactRow> {
    let facts = state.impacts.get(&key)?;
    let ticket = state.tickets.get(&key.0);
    let resolution = ticket.and_then(|t| t.resolved);
    let notified = ticket.is_some_and(|t| t.notified.contains(&key.1))
        || facts.broken_notified == Some(true)
        || resolution.is_some_and(|r| r.notified);
    let id = impact_id(key, facts.recorded_at);
    let value = facts.value.clone().unwrap_or_default();
    let shares: Vec<ShareRow> = match resolution {
        None => Vec::new(),
        Some(resolution) => {
            let lost = match resolution.outcome {
                Some(PromiseOutcome::KeptLate | PromiseOutcome::Broken) => {
                    u64::try_from(value.minor).unwrap_or(0)
                }
                _ => 0,
            };
            apportion(&charges(state, key.0), lost, 0.0)
                .into_iter()
                .map(|share| ShareRow {
                    impact_id: id,
                    provider_team_id: share.link.provider.as_uuid(),
                    consumer_team_id: share.link.consumer.as_uuid(),
                    request_id: share.link.request_id.as_uuid(),
                    delay_ms: share.delay.num_milliseconds(),
                    share_e6: (share.share * 1e6).round() as i32,
                    value_minor: i64::try_from(share.value_minor).unwrap_or(i64::MAX),
                })
                .collect()
        }
    };
    let root = facts.path.first();
    Some(ImpactRow {
        impact_id: id,
        ticket_id: key.0.as_uuid(),
        promise_number: i32::try_from(key.1).unwrap_or(i32::MAX),
        customer_id: facts.customer.as_uuid(),
        kind: facts.start.as_str().to_owned(),
        tier: facts
            .tier
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        value_minor: value.minor,
        currency: value.currency,
        root_provider_id: root.map(|l| l.provider.as_uuid()),
        root_consumer_id: root.map(|l| l.consumer.as_uuid()),
        root_request_id: root.map(|l| l.request_id.as_uuid()),
        recorded_at: facts.recorded_at,
        due_at: facts.due_at,
        projected_delay_ms: facts.projected_delay_ms,
        notified,
        resolved: resolution.is_some(),
        outcome: resolution
            .and_then(|r| r.outcome)
            .map(|o| o.as_str().to_owned())
            .unwrap_or_default(),
        late_by_ms: resolution.and_then(|r| r.late_by_ms),
        facts: serde_json::to_vec(facts).unwrap_or_default(),
        attribution: serde_json::to_vec(&shares).unwrap_or_default(),
        links: facts
            .path
            .iter()
            .enumerate()
            .map(|(hop, link)| ImpactLinkRow {
                impact_id: id,
                hop: i32::try_from(hop).unwrap_or(i32::MAX),
                provider_team_id: link.provider.as_uuid(),
                consumer_team_id: link.consumer.as_uuid(),
                request_id: link.request_id.as_uuid(),
            })
            .collect(),
        shares,
    })
}

/// The delay each request of the ticket's case charged its own link, leaving out requests
/// under an ancestor that completed on time.
fn charges(state: &ProjectionState, ticket: TicketId) -> Vec<Charge> {
    state
        .requests_of_case(ticket.as_uuid())
        .filter(|r| r.ledger.is_some_and(|l| l.own_delay_ms > 0))
        .filter(|r| ancestors_late(state, r.parent))
        .filter_map(|r| {
            Some(Charge {
                link: r.link(),
                time: TimeDelta::milliseconds(r.ledger?.own_delay_ms),
            })
        })
        .collect()
}

/// Whether no ancestor (as far as known) completed on time.
fn ancestors_late(state: &ProjectionState, mut parent: Option<Parent>) -> bool {
    // A case tree is shallow; the bound only guards against a malformed cycle.
    for _ in 0..64 {
        let Some(Parent::Request(id)) = parent else {
            return true;
        };
        let Some(facts) = state.requests.get(&id) else {
            return true;
        };
        if facts.ledger.is_some_and(|l| l.late_by_ms == 0) {
            return false;
        }
        parent = facts.parent;
    }
    true
}

fn signals_of(state: &ProjectionState, subject: &Subject) -> SubjectSignals {
    let mut signals = SubjectSignals::default();
    for signal in state.signals_of(subject) {
        signals.record(signal.at, signal.id, &signal.kind);
    }
    signals
}

fn latest<T: Ord>(times: impl IntoIterator<Item = T>) -> Option<T> {
    times.into_iter().max()
}

/// The latest event time known about a link.
fn link_as_of(state: &ProjectionState, link: &LinkKey) -> Option<DateTime<Utc>> {
    latest(
        state
            .links
            .get(link)
            .map(|l| l.declared_at)
            .into_iter()
            .chain(state.requests_of_link(link).map(|r| r.last_at))
            .chain(state.signals_of(&Subject::Link(*link)).map(|s| s.at)),
    )
}

/// The latest event time known about a customer.
fn customer_as_of(state: &ProjectionState, customer: &CustomerId) -> Option<DateTime<Utc>> {
    let impacts = state
        .impacts_of_customer(customer)
        .filter_map(|key| state.impacts.get(&key).map(|i| (key, i)));
    latest(
        state
            .customers
            .get(customer)
            .and_then(|c| c.last_at)
            .into_iter()
            .chain(
                state
                    .signals_of(&Subject::Customer(*customer))
                    .map(|s| s.at),
            )
            .chain(impacts.flat_map(|(key, impact)| {
                let resolved = state
                    .tickets
                    .get(&key.0)
                    .and_then(|t| t.resolved)
                    .map(|r| r.at);
                std::iter::once(impact.recorded_at).chain(resolved)
            })),
    )
}

fn e4(x: f64) -> i32 {
    (x * 10_000.0).round() as i32
}

fn health(state: &ProjectionState, link: &LinkKey, config: &ProjectionConfig) -> Option<HealthRow> {
    let as_of = link_as_of(state, link)?;
    let score = signals_of(state, &Subject::Link(*link)).score(&config.model, as_of);
    let requests: Vec<_> = state.requests_of_link(link).collect();
    let deliveries: Vec<Delivery> = requests
        .iter()
        .filter_map(|r| Delivery::of_request(&r.to_domain(), as_of))
        .collect();
    let breakdowns: usize = requests.iter().map(|r| r.breakdowns.len()).sum();
    let mut hurt: BTreeMap<CustomerId, i64> = BTreeMap::new();
    let mut currency = String::new();
    for key in state.impacts_of_link(link) {
        if let Some(impact) = state.impacts.get(&key) {
            let value = impact.value.clone().unwrap_or_default();
            if currency.is_empty() {
                currency = value.currency.clone();
            }
            let entry = hurt.entry(impact.customer).or_insert(0);
            *entry = (*entry).max(value.minor);
        }
    }
    let computed = LinkHealth::compute(*link, &score, deliveries.iter(), hurt.keys().copied());
    let count = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    Some(HealthRow {
        provider_team_id: link.provider.as_uuid(),
        consumer_team_id: link.consumer.as_uuid(),
        health_hundredths: count(u64::from(score.value_hundredths())),
        confidence_e4: e4(score.confidence),
        completed: count(computed.deliveries),
        on_time: count(computed.on_time),
        on_time_rate_e4: e4(computed.on_time_rate),
        lower_bound_e4: e4(computed.on_time_lower_bound),
        mean_lateness_ms: computed.mean_lateness.num_milliseconds(),
        breakdowns: i32::try_from(breakdowns).unwrap_or(i32::MAX),
        customers_hurt: i32::try_from(computed.customers_hurt).unwrap_or(i32::MAX),
        value_at_risk_minor: hurt.values().fold(0i64, |sum, v| sum.saturating_add(*v)),
        currency,
    })
}

fn score(
    state: &ProjectionState,
    subject: &Subject,
    config: &ProjectionConfig,
) -> Option<ScoreRow> {
    match subject {
        Subject::Link(link) => {
            let signals = signals_of(state, subject);
            if signals.is_empty() {
                return None;
            }
            let as_of = link_as_of(state, link)?;
            let score = signals.score(&config.model, as_of);
            Some(ScoreRow {
                subject: subject_key(subject),
                customer_id: None,
                provider_team_id: Some(link.provider.as_uuid()),
                consumer_team_id: Some(link.consumer.as_uuid()),
                score_hundredths: i32::try_from(score.value_hundredths()).unwrap_or(0),
                confidence_e4: e4(score.confidence),
                signal_count: i32::try_from(score.signals).unwrap_or(i32::MAX),
                as_of,
                lifecycle: String::new(),
                open_impacts: 0,
                tier: String::new(),
                value_minor: 0,
                currency: String::new(),
                risk_e4: 0,
                value_at_risk_minor: 0,
            })
        }
        Subject::Customer(customer) => customer_score(state, subject, *customer, config),
    }
}

fn customer_score(
    state: &ProjectionState,
    subject: &Subject,
    customer: CustomerId,
    config: &ProjectionConfig,
) -> Option<ScoreRow> {
    let as_of = customer_as_of(state, &customer)?;
    let signals = signals_of(state, subject);
    let facts = state.customers.get(&customer);
    let impacts: Vec<(ImpactKey, &super::facts::ImpactFacts)> = state
        .impacts_of_customer(&customer)
        .filter_map(|key| state.impacts.get(&key).map(|i| (key, i)))
        .collect();
    let open = impacts
        .iter()
        .filter(|(key, _)| {
            state
                .tickets
                .get(&key.0)
                .is_none_or(|t| t.resolved.is_none())
        })
        .count();
    let since = facts
        .and_then(|f| f.registered_at)
        .or_else(|| {
            state
                .signals_of(subject)
                .map(|s| s.at)
                .chain(impacts.iter().map(|(_, i)| i.recorded_at))
                .min()
        })
        .unwrap_or(as_of);
    let score = signals.score(&config.model, as_of);
    let stage = lifecycle(&signals, &config.model, &config.rules, since, open, as_of);
    // The latest standing an impact recorded stands in for a customer never registered here.
    let latest_impact = impacts
        .iter()
        .max_by_key(|(key, impact)| (impact.recorded_at, *key))
        .map(|(_, impact)| *impact);
    let value = facts
        .and_then(|f| f.value.clone())
        .or_else(|| latest_impact.and_then(|i| i.value.clone()))
        .unwrap_or_default();
    let tier = facts
        .and_then(|f| f.tier)
        .or_else(|| latest_impact.and_then(|i| i.tier));
    let hundredths = i32::try_from(score.value_hundredths()).unwrap_or(0);
    let risk_e4 = match stage {
        Lifecycle::AtRisk | Lifecycle::Dissatisfied => 10_000 - hundredths,
        Lifecycle::New | Lifecycle::Retained | Lifecycle::WonBack => 0,
    };
    let at_risk = i128::from(value.minor) * i128::from(risk_e4) / 10_000;
    Some(ScoreRow {
        subject: subject_key(subject),
        customer_id: Some(customer.as_uuid()),
        provider_team_id: None,
        consumer_team_id: None,
        score_hundredths: hundredths,
        confidence_e4: e4(score.confidence),
        signal_count: i32::try_from(score.signals).unwrap_or(i32::MAX),
        as_of,
        lifecycle: stage.as_str().to_owned(),
        open_impacts: i32::try_from(open).unwrap_or(i32::MAX),
        tier: tier.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        value_minor: value.minor,
        currency: value.currency,
        risk_e4,
        value_at_risk_minor: i64::try_from(at_risk).unwrap_or(i64::MAX),
    })
}
