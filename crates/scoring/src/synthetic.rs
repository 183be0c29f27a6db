//! Realistic, reproducible event histories for the replay benchmark and the interleaving
//! tests: teams and links, customers with Pareto-like values, and for each ticket the chain
//! of internal requests behind it (one to three links deep) with commitments, revisions,
//! breakdowns, late and breached deliveries and their time ledgers, the promise made to the
//! customer with its risk, notice, breach and resolution, and some feedback.
//!
//! The same seed always gives the same events (ids included): a small SplitMix64 generator,
//! no clock. Each store's events come in commit order, as `ReadEvents` would return them,
//! with per-stream versions from 1.
//!
//! Message literals end with `..Default::default()` even where every field is set today: the
//! producers' contracts grow (additively) while this crate is written, and a new field must
//! not break the generator.
#![allow(clippy::needless_update)]

use std::collections::BTreeMap;

use chain_proto::customerchain::v1 as pb;
use chain_proto::{duration, timestamp};
use chrono::{DateTime, TimeDelta, Utc};
use prost::Name;
use uuid::Uuid;

use crate::codec::InputStore;

/// The size of a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The generator's seed.
    pub seed: u64,
    /// Tickets (each brings about a dozen events).
    pub tickets: usize,
    /// Teams.
    pub teams: usize,
    /// Declared links between them.
    pub links: usize,
    /// External customers.
    pub customers: usize,
}

impl Shape {
    /// A history of at least `events` events (about 12 per ticket).
    pub fn with_events(seed: u64, events: usize) -> Self {
        let tickets = events / 11 + 1;
        Self {
            seed,
            tickets,
            teams: 60,
            links: 240,
            customers: (tickets / 4).max(10),
        }
    }
}

/// A generated history: each input store's events in commit order.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// The requests store.
    pub requests: Vec<pb::EventEnvelope>,
    /// The tickets store.
    pub tickets: Vec<pb::EventEnvelope>,
    /// Scoring's own store (feedback).
    pub scoring: Vec<pb::EventEnvelope>,
}

impl History {
    /// Every event, in total.
    pub fn len(&self) -> usize {
        self.requests.len() + self.tickets.len() + self.scoring.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One store's events.
    pub fn of(&self, store: InputStore) -> &[pb::EventEnvelope] {
        match store {
            InputStore::Requests => &self.requests,
            InputStore::Tickets => &self.tickets,
            InputStore::Scoring => &self.scoring,
        }
    }
}

/// SplitMix64: tiny, fast, good enough for test data.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n.max(1) as u64)).unwrap_or(0)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn uuid(&mut self) -> Uuid {
        let bits = (u128::from(self.next()) << 64) | u128::from(self.next());
        uuid::Builder::from_random_bytes(bits.to_be_bytes()).into_uuid()
    }
}

/// Appends events to the three stores, numbering each stream's versions.
struct Writer {
    rng: Rng,
    history: History,
    versions: BTreeMap<(String, String), u64>,
}

impl Writer {
    fn emit<M: Name>(
        &mut self,
        store: InputStore,
        aggregate: (&str, String),
        correlation: &str,
        at: DateTime<Utc>,
        message: &M,
    ) {
        let version = self
            .versions
            .entry((aggregate.0.to_owned(), aggregate.1.clone()))
            .or_insert(0);
        *version += 1;
        let mut random = [0u8; 10];
        random.copy_from_slice(&self.rng.next().to_be_bytes().repeat(2)[..10]);
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        let envelope = pb::EventEnvelope {
            event_id: uuid::Builder::from_unix_timestamp_millis(millis, &random)
                .into_uuid()
                .to_string(),
            aggregate_type: aggregate.0.to_owned(),
            aggregate_id: aggregate.1,
            aggregate_version: *version,
            event_type: M::full_name(),
            schema_version: 1,
            occurred_at: Some(timestamp::from_datetime(at)),
            correlation_id: correlation.to_owned(),
            causation_id: String::new(),
            actor: store.name().to_owned(),
            traceparent: String::new(),
            tracestate: String::new(),
            baggage: String::new(),
            payload: Some(chain_proto::pack_event(message)),
            position: String::new(),
        };
        match store {
            InputStore::Requests => self.history.requests.push(envelope),
            InputStore::Tickets => self.history.tickets.push(envelope),
            InputStore::Scoring => self.history.scoring.push(envelope),
        }
    }
}

fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(timestamp::from_datetime(at))
}

fn span(delta: TimeDelta) -> Option<prost_types::Duration> {
    duration::from_chrono(delta).ok()
}

fn money(minor: i64) -> Option<pb::Money> {
    Some(pb::Money {
        currency_code: "EUR".to_owned(),
        value_minor: minor,
    })
}

/// One request of a generated chain.
#[derive(Clone)]
struct Hop {
    id: Uuid,
    provider: Uuid,
    consumer: Uuid,
}

impl Hop {
    fn link(&self) -> pb::CauseLink {
        pb::CauseLink {
            provider_team_id: self.provider.to_string(),
            consumer_team_id: self.consumer.to_string(),
            request_id: self.id.to_string(),
        }
    }
}

/// The history of `shape`.
pub fn generate(shape: Shape) -> History {
    let mut w = Writer {
        rng: Rng(shape.seed),
        history: History::default(),
        versions: BTreeMap::new(),
    };
    let base = DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
    let teams: Vec<Uuid> = (0..shape.teams.max(4)).map(|_| w.rng.uuid()).collect();
    let front_line = &teams[..teams.len() / 5 + 1];
    let mut links: Vec<(Uuid, Uuid)> = Vec::new();
    for _ in 0..shape.links.max(4) {
        let provider = teams[w.rng.below(teams.len())];
        let consumer = teams[w.rng.below(teams.len())];
        if provider != consumer && !links.contains(&(provider, consumer)) {
            links.push((provider, consumer));
        }
    }
    for (provider, consumer) in &links {
        let id = w.rng.uuid().to_string();
        w.emit(
            InputStore::Requests,
            ("link", id.clone()),
            &id,
            base,
            &pb::LinkDeclared {
                link_id: id.clone(),
                provider_team_id: provider.to_string(),
                consumer_team_id: consumer.to_string(),
                ola: span(TimeDelta::days(2)),
                previous_ola: None,
                ..Default::default()
            },
        );
    }
    let mut customers: Vec<(Uuid, i64)> = Vec::new();
    for _ in 0..shape.customers.max(1) {
        let id = w.rng.uuid();
        // Heavy-tailed values: a few large customers carry most of the value.
        let value = 10_000 * (1 + (w.rng.next() % 1_000) as i64).pow(2) / 100;
        customers.push((id, value));
        let text = id.to_string();
        w.emit(
            InputStore::Tickets,
            ("customer", text.clone()),
            &text,
            base,
            &pb::CustomerRegistered {
                customer_id: text.clone(),
                display_name: String::new(),
                email: String::new(),
                value: money(value),
                ..Default::default()
            },
        );
        let tier = match value {
            v if v > 5_000_000 => pb::CustomerTier::A,
            v if v > 1_000_000 => pb::CustomerTier::B,
            _ => pb::CustomerTier::C,
        };
        w.emit(
            InputStore::Tickets,
            ("customer", text.clone()),
            &text,
            base,
            &pb::CustomerTierChanged {
                customer_id: text.clone(),
                previous_tier: pb::CustomerTier::Unspecified.into(),
                new_tier: tier.into(),
                ..Default::default()
            },
        );
    }
    for i in 0..shape.tickets {
        let t0 = base + TimeDelta::minutes(7 * i as i64 + 60);
        ticket(&mut w, t0, &teams, front_line, &customers);
    }
    w.history
}

/// One ticket's whole story.
fn ticket(
    w: &mut Writer,
    t0: DateTime<Utc>,
    teams: &[Uuid],
    front_line: &[Uuid],
    customers: &[(Uuid, i64)],
) {
    let (customer, value) = customers[w.rng.below(customers.len())];
    let ticket = w.rng.uuid();
    let case = ticket.to_string();
    let front = front_line[w.rng.below(front_line.len())];
    w.emit(
        InputStore::Tickets,
        ("ticket", case.clone()),
        &case,
        t0,
        &pb::TicketOpened {
            ticket_id: case.clone(),
            customer_id: customer.to_string(),
            subject: String::new(),
            front_line_team_id: front.to_string(),
            ..Default::default()
        },
    );
    // The chain behind the ticket: hops[0] serves the ticket, each next one serves the
    // previous; the deepest is hops.last().
    let depth = 1 + w.rng.below(3);
    let mut hops: Vec<Hop> = Vec::new();
    let mut consumer = front;
    for _ in 0..depth {
        let mut provider = teams[w.rng.below(teams.len())];
        if provider == consumer {
            provider =
                teams[(teams.iter().position(|t| *t == consumer).unwrap_or(0) + 1) % teams.len()];
        }
        hops.push(Hop {
            id: w.rng.uuid(),
            provider,
            consumer,
        });
        consumer = provider;
    }
    let promise_due = t0 + TimeDelta::days(4);
    w.emit(
        InputStore::Tickets,
        ("ticket", case.clone()),
        &case,
        t0 + TimeDelta::minutes(5),
        &pb::PromiseMade {
            ticket_id: case.clone(),
            promise_number: 1,
            due_at: ts(promise_due),
            kind: pb::CommitmentKind::PersonalPromise.into(),
            wording: String::new(),
            risk_acknowledged: false,
            earliest_feasible_at: None,
            critical_link: None,
            ..Default::default()
        },
    );
    // Open top-down, then settle bottom-up.
    for (level, hop) in hops.iter().enumerate() {
        let opened = t0 + TimeDelta::minutes(10 + 10 * level as i64);
        let needed_by = promise_due - TimeDelta::hours(12 * (level as i64 + 1));
        let parent = if level == 0 {
            pb::request_opened::Parent::ParentTicketId(case.clone())
        } else {
            pb::request_opened::Parent::ParentRequestId(hops[level - 1].id.to_string())
        };
        let id = hop.id.to_string();
        w.emit(
            InputStore::Requests,
            ("request", id.clone()),
            &case,
            opened,
            &pb::RequestOpened {
                request_id: id.clone(),
                consumer_team_id: hop.consumer.to_string(),
                provider_team_id: hop.provider.to_string(),
                title: String::new(),
                needed_by: ts(needed_by),
                parent: Some(parent),
                case_id: case.clone(),
                root_ticket_id: case.clone(),
                link_id: String::new(),
                ..Default::default()
            },
        );
        w.emit(
            InputStore::Requests,
            ("request", id.clone()),
            &case,
            opened + TimeDelta::minutes(30),
            &pb::RequestCommitted {
                request_id: id,
                due_at: ts(needed_by),
                kind: pb::CommitmentKind::OrganisationalCommitment.into(),
                parent_due_at: None,
                ..Default::default()
            },
        );
    }
    let mut child_late = TimeDelta::zero();
    let mut broken_at: Option<usize> = None;
    let mut root_cause: Option<usize> = None;
    let mut top_delivered = promise_due;
    for level in (0..hops.len()).rev() {
        let hop = hops[level].clone();
        let id = hop.id.to_string();
        let needed_by = promise_due - TimeDelta::hours(12 * (level as i64 + 1));
        let roll = w.rng.next() % 100;
        let own_late = match roll {
            0..=69 => TimeDelta::zero(),
            70..=89 => TimeDelta::minutes(30 + (w.rng.next() % 2_000) as i64),
            _ => TimeDelta::hours(6 + (w.rng.next() % 30) as i64),
        };
        if own_late > TimeDelta::zero() && root_cause.is_none() {
            root_cause = Some(level);
        }
        if w.rng.chance(8) {
            w.emit(
                InputStore::Requests,
                ("request", id.clone()),
                &case,
                needed_by - TimeDelta::hours(3),
                &pb::RequestRevised {
                    request_id: id.clone(),
                    previous_due_at: ts(needed_by),
                    new_due_at: ts(needed_by + own_late),
                    reason: String::new(),
                    proactive: true,
                    ..Default::default()
                },
            );
        }
        let late = child_late + own_late;
        if late > TimeDelta::zero() {
            w.emit(
                InputStore::Requests,
                ("request", id.clone()),
                &case,
                needed_by - TimeDelta::hours(2),
                &pb::RequestAtRisk {
                    request_id: id.clone(),
                    cause_path: None,
                    projected_completion: ts(needed_by + late),
                    projected_delay: span(late),
                    due_at: ts(needed_by),
                    root_ticket_id: case.clone(),
                    trigger: pb::RiskTrigger::ProjectionLate.into(),
                    ..Default::default()
                },
            );
        }
        let ledger = Some(pb::TimeLedger {
            waiting_for_commitment: span(TimeDelta::minutes(30)),
            in_progress: span(TimeDelta::hours(20)),
            waiting_on_children: span(TimeDelta::hours(4)),
            handoff: span(TimeDelta::minutes(15)),
            late_by: span(late),
            own_delay: span(own_late),
        });
        if roll >= 97 && broken_at.is_none() {
            w.emit(
                InputStore::Requests,
                ("request", id.clone()),
                &case,
                needed_by,
                &pb::RequestBreached {
                    request_id: id.clone(),
                    due_at: ts(needed_by),
                    time_ledger: ledger,
                    committed: true,
                    cause_path: None,
                    ..Default::default()
                },
            );
            broken_at = Some(level);
            root_cause.get_or_insert(level);
            child_late = TimeDelta::days(2);
            continue;
        }
        let delivered = needed_by + late;
        if w.rng.chance(4) {
            w.emit(
                InputStore::Requests,
                ("request", id.clone()),
                &case,
                delivered - TimeDelta::minutes(20),
                &pb::BreakdownReported {
                    request_id: id.clone(),
                    kind: pb::BreakdownKind::NotServedWell.into(),
                    reason: String::new(),
                    ..Default::default()
                },
            );
        }
        w.emit(
            InputStore::Requests,
            ("request", id.clone()),
            &case,
            delivered,
            &pb::RequestFulfilled {
                request_id: id.clone(),
                due_at: ts(needed_by),
                on_time: late == TimeDelta::zero(),
                time_ledger: ledger,
                ..Default::default()
            },
        );
        if w.rng.chance(10) {
            let feedback = w.rng.uuid().to_string();
            w.emit(
                InputStore::Scoring,
                ("feedback", feedback.clone()),
                &case,
                delivered + TimeDelta::hours(1),
                &pb::FeedbackRecorded {
                    feedback_id: feedback,
                    subject: Some(pb::FeedbackSubject {
                        subject: Some(pb::feedback_subject::Subject::Team(
                            pb::TeamFeedbackSubject {
                                consumer_team_id: hop.consumer.to_string(),
                                request_id: id.clone(),
                                provider_team_id: hop.provider.to_string(),
                            },
                        )),
                    }),
                    csat: Some(if late > TimeDelta::zero() { 2 } else { 4 }),
                    nps: None,
                    has_comment: false,
                    ..Default::default()
                },
            );
        }
        child_late = late;
        if level == 0 {
            top_delivered = delivered;
        }
    }
    // The ticket's side: risk, notice, breach, resolution.
    let late = top_delivered - (promise_due - TimeDelta::hours(12));
    let path: Vec<pb::CauseLink> = root_cause
        .map(|root| hops[..=root].iter().rev().map(Hop::link).collect())
        .unwrap_or_default();
    let customer_text = customer.to_string();
    let at_risk = late > TimeDelta::hours(12) || broken_at.is_some();
    let mut notified = false;
    if at_risk {
        w.emit(
            InputStore::Tickets,
            ("ticket", case.clone()),
            &case,
            promise_due - TimeDelta::hours(30),
            &pb::PromiseAtRisk {
                ticket_id: case.clone(),
                promise_number: 1,
                root_cause: path.first().cloned(),
                path: Some(pb::CausePath {
                    links: path.clone(),
                }),
                projected_completion: ts(promise_due + late),
                projected_delay: span(late),
                due_at: ts(promise_due),
                customer_id: customer_text.clone(),
                tier: pb::CustomerTier::Unspecified.into(),
                value_at_stake: money(value),
                trigger: pb::RiskTrigger::ProjectionLate.into(),
                source_event_id: String::new(),
                ..Default::default()
            },
        );
        if w.rng.chance(50) {
            notified = true;
            w.emit(
                InputStore::Tickets,
                ("ticket", case.clone()),
                &case,
                promise_due - TimeDelta::hours(24),
                &pb::CustomerNotified {
                    ticket_id: case.clone(),
                    promise_number: 1,
                    new_expected_at: ts(promise_due + late),
                    remedy: None,
                    before_due: true,
                    message: String::new(),
                    ..Default::default()
                },
            );
        }
    }
    let overdue = broken_at.is_some() || top_delivered > promise_due;
    if overdue {
        w.emit(
            InputStore::Tickets,
            ("ticket", case.clone()),
            &case,
            promise_due,
            &pb::PromiseBroken {
                ticket_id: case.clone(),
                promise_number: 1,
                due_at: ts(promise_due),
                notified_before_due: notified,
                customer_id: customer_text.clone(),
                tier: pb::CustomerTier::Unspecified.into(),
                value_at_stake: money(value),
                root_cause: path.first().cloned(),
                path: Some(pb::CausePath { links: path }),
                ..Default::default()
            },
        );
    }
    let (outcome, resolved_at, late_by) = if broken_at.is_some() {
        (
            pb::PromiseOutcome::Broken,
            promise_due + TimeDelta::days(3),
            None,
        )
    } else if top_delivered > promise_due {
        (
            pb::PromiseOutcome::KeptLate,
            top_delivered,
            span(top_delivered - promise_due),
        )
    } else {
        (
            pb::PromiseOutcome::Kept,
            top_delivered.max(t0 + TimeDelta::hours(1)),
            None,
        )
    };
    w.emit(
        InputStore::Tickets,
        ("ticket", case.clone()),
        &case,
        resolved_at,
        &pb::TicketResolved {
            ticket_id: case.clone(),
            outcome: outcome.into(),
            customer_id: customer_text.clone(),
            promise_number: 1,
            promised_at: ts(t0 + TimeDelta::minutes(5)),
            due_at: ts(promise_due),
            original_due_at: ts(promise_due),
            late_by,
            notified_before_due: notified,
            ..Default::default()
        },
    );
    if w.rng.chance(25) {
        let feedback = w.rng.uuid().to_string();
        let csat = match outcome {
            pb::PromiseOutcome::Kept => 4 + (w.rng.next() % 2) as u32,
            pb::PromiseOutcome::KeptLate => 2 + (w.rng.next() % 2) as u32,
            _ => 1,
        };
        w.emit(
            InputStore::Scoring,
            ("feedback", feedback.clone()),
            &case,
            resolved_at + TimeDelta::hours(2),
            &pb::FeedbackRecorded {
                feedback_id: feedback,
                subject: Some(pb::FeedbackSubject {
                    subject: Some(pb::feedback_subject::Subject::Customer(
                        pb::CustomerFeedbackSubject {
                            customer_id: customer_text,
                            ticket_id: case.clone(),
                        },
                    )),
                }),
                csat: Some(csat),
                nps: Some(csat * 2),
                has_comment: false,
                ..Default::default()
            },
        );
    }
}
