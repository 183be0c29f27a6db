//! The projection's core: [`ProjectionState`] (the facts, the signals and the indexes over
//! them) and [`ProjectionState::apply`], which records what one input event says and reports
//! what it touched ([`Dirty`]). Pure: no IO, no clock. The same code serves live consumption
//! (on a slice of the state loaded from the tables) and rebuild (on the whole state in
//! memory).
//!
//! Why the result does not depend on how the input stores interleave: `apply` changes only
//! the facts of the event's own stream (and records signals, a set keyed by event time and
//! id), and everything that combines streams (scores, link health, impact attribution) is
//! derived afterwards from the facts alone ([`super::derive()`]).

use std::collections::{BTreeMap, BTreeSet};

use chain_domain::ids::{CustomerId, EventId, RequestId, SourceId, TicketId};
use chain_domain::link::LinkKey;
use chain_domain::scoring::{PromiseRef, Reliability, Signal, SignalKey, SignalKind, Subject};
use chain_domain::ticket::PromiseOutcome;
use chain_proto::customerchain::v1::ScoreSignalKind;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::facts::{
    BreakdownFacts, CustomerFacts, ImpactFacts, ImpactKey, ImpactStart, LinkFacts, RequestFacts,
    RequestStage, Resolution, RevisionFacts, TicketFacts,
};
use crate::codec::{Fact, FeedbackAbout, Input, InputStore, PromiseHurt};

/// The facts and signals the projections are derived from, with indexes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectionState {
    pub(crate) requests: BTreeMap<RequestId, RequestFacts>,
    pub(crate) links: BTreeMap<LinkKey, LinkFacts>,
    pub(crate) tickets: BTreeMap<TicketId, TicketFacts>,
    pub(crate) customers: BTreeMap<CustomerId, CustomerFacts>,
    pub(crate) impacts: BTreeMap<ImpactKey, ImpactFacts>,
    pub(crate) signals: BTreeMap<Subject, BTreeMap<SignalKey, Signal>>,
    pub(crate) applied: BTreeMap<InputStore, u64>,
    requests_by_case: BTreeMap<Uuid, BTreeSet<RequestId>>,
    requests_by_link: BTreeMap<LinkKey, BTreeSet<RequestId>>,
    impacts_by_customer: BTreeMap<CustomerId, BTreeSet<ImpactKey>>,
    impacts_by_link: BTreeMap<LinkKey, BTreeSet<ImpactKey>>,
}

/// What one or more applied events touched: the facts to write, the derived rows to
/// recompute, and (for live consumption) the output events to emit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirty {
    /// Request facts changed.
    pub requests: BTreeSet<RequestId>,
    /// Link facts changed.
    pub links: BTreeSet<LinkKey>,
    /// Ticket facts changed.
    pub tickets: BTreeSet<TicketId>,
    /// Customer facts changed.
    pub customers: BTreeSet<CustomerId>,
    /// Impact facts changed.
    pub impacts: BTreeSet<ImpactKey>,
    /// Signals recorded.
    pub signals: BTreeSet<(Subject, SignalKey)>,
    /// Scores to recompute.
    pub subjects: BTreeSet<Subject>,
    /// Link health to recompute.
    pub health: BTreeSet<LinkKey>,
    /// Cases (ticket ids) whose impacts to recompute (notice, resolution, attribution).
    pub cases: BTreeSet<Uuid>,
    /// Impacts recorded by the event (for `ImpactRecorded`).
    pub recorded: BTreeSet<ImpactKey>,
    /// Impacts resolved by the event (for `ImpactResolved`).
    pub resolved: BTreeSet<ImpactKey>,
    /// What kind of input moved the scores (for `ScoreChanged`).
    pub signal_kind: Option<ScoreSignalKind>,
}

impl Dirty {
    /// Adds what `other` touched.
    pub fn merge(&mut self, other: Dirty) {
        self.requests.extend(other.requests);
        self.links.extend(other.links);
        self.tickets.extend(other.tickets);
        self.customers.extend(other.customers);
        self.impacts.extend(other.impacts);
        self.signals.extend(other.signals);
        self.subjects.extend(other.subjects);
        self.health.extend(other.health);
        self.cases.extend(other.cases);
        self.recorded.extend(other.recorded);
        self.resolved.extend(other.resolved);
        self.signal_kind = other.signal_kind.or(self.signal_kind);
    }

    /// The subjects whose score rows to recompute: those named, and the link of every link
    /// whose health is recomputed (a link's score is evaluated as of the latest event on the
    /// link, so any event on it moves the score's `as_of`).
    pub fn score_subjects(&self) -> BTreeSet<Subject> {
        let mut subjects = self.subjects.clone();
        subjects.extend(self.health.iter().map(|l| Subject::Link(*l)));
        subjects
    }

    /// The impact keys of `cases` plus `impacts`, as far as `state` knows them.
    pub fn impact_keys(&self, state: &ProjectionState) -> BTreeSet<ImpactKey> {
        let mut keys = self.impacts.clone();
        for case in &self.cases {
            keys.extend(state.impacts_of_ticket(TicketId::from_uuid(*case)));
        }
        keys
    }
}

impl ProjectionState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many events of each input store were applied.
    pub fn applied(&self) -> &BTreeMap<InputStore, u64> {
        &self.applied
    }

    /// Events applied in total.
    pub fn events_applied(&self) -> u64 {
        self.applied.values().sum()
    }

    // ---- loading (live: a slice read from the tables; never overwrites what is there) ----

    /// Adds a request's facts unless already known.
    pub fn load_request(&mut self, facts: RequestFacts) {
        if self.requests.contains_key(&facts.id) {
            return;
        }
        self.requests_by_case
            .entry(facts.case)
            .or_default()
            .insert(facts.id);
        self.requests_by_link
            .entry(facts.link().key())
            .or_default()
            .insert(facts.id);
        self.requests.insert(facts.id, facts);
    }

    /// Adds a link's facts unless already known.
    pub fn load_link(&mut self, link: LinkKey, facts: LinkFacts) {
        self.links.entry(link).or_insert(facts);
    }

    /// Adds a ticket's facts unless already known.
    pub fn load_ticket(&mut self, ticket: TicketId, facts: TicketFacts) {
        self.tickets.entry(ticket).or_insert(facts);
    }

    /// Adds a customer's facts unless already known.
    pub fn load_customer(&mut self, customer: CustomerId, facts: CustomerFacts) {
        self.customers.entry(customer).or_insert(facts);
    }

    /// Adds an impact's facts unless already known.
    pub fn load_impact(&mut self, key: ImpactKey, facts: ImpactFacts) {
        if self.impacts.contains_key(&key) {
            return;
        }
        self.impacts_by_customer
            .entry(facts.customer)
            .or_default()
            .insert(key);
        for link in facts.links() {
            self.impacts_by_link.entry(link).or_default().insert(key);
        }
        self.impacts.insert(key, facts);
    }

    /// Adds a signal unless already known.
    pub fn load_signal(&mut self, signal: Signal) {
        self.signals
            .entry(signal.subject)
            .or_default()
            .entry((signal.at, signal.id))
            .or_insert(signal);
    }

    /// Sets how many events of `store` were applied (from the progress table).
    pub fn load_applied(&mut self, store: InputStore, count: u64) {
        self.applied.insert(store, count);
    }

    // ---- reading ----

    /// The requests of a case, by id.
    pub fn requests_of_case(&self, case: Uuid) -> impl Iterator<Item = &RequestFacts> {
        self.requests_by_case
            .get(&case)
            .into_iter()
            .flatten()
            .filter_map(|id| self.requests.get(id))
    }

    /// The requests on a link, by id.
    pub fn requests_of_link(&self, link: &LinkKey) -> impl Iterator<Item = &RequestFacts> {
        self.requests_by_link
            .get(link)
            .into_iter()
            .flatten()
            .filter_map(|id| self.requests.get(id))
    }

    /// The impacts of a ticket.
    pub fn impacts_of_ticket(&self, ticket: TicketId) -> Vec<ImpactKey> {
        self.impacts
            .range((ticket, 0)..=(ticket, u32::MAX))
            .map(|(k, _)| *k)
            .collect()
    }

    /// The impacts of a customer.
    pub fn impacts_of_customer(&self, customer: &CustomerId) -> impl Iterator<Item = ImpactKey> {
        self.impacts_by_customer
            .get(customer)
            .into_iter()
            .flatten()
            .copied()
    }

    /// The impacts whose path runs through a link.
    pub fn impacts_of_link(&self, link: &LinkKey) -> impl Iterator<Item = ImpactKey> {
        self.impacts_by_link
            .get(link)
            .into_iter()
            .flatten()
            .copied()
    }

    /// A subject's signals, oldest first.
    pub fn signals_of(&self, subject: &Subject) -> impl Iterator<Item = &Signal> {
        self.signals
            .get(subject)
            .into_iter()
            .flat_map(|s| s.values())
    }

    /// Every subject with signals, and every customer known.
    pub fn subjects(&self) -> BTreeSet<Subject> {
        let mut subjects: BTreeSet<Subject> = self.signals.keys().copied().collect();
        subjects.extend(self.customers.keys().map(|c| Subject::Customer(*c)));
        subjects.extend(
            self.impacts_by_customer
                .keys()
                .map(|c| Subject::Customer(*c)),
        );
        subjects
    }

    /// Every link known: declared, with requests, or with signals.
    pub fn all_links(&self) -> BTreeSet<LinkKey> {
        let mut links: BTreeSet<LinkKey> = self.links.keys().copied().collect();
        links.extend(self.requests_by_link.keys().copied());
        links.extend(self.signals.keys().filter_map(|s| match s {
            Subject::Link(link) => Some(*link),
            Subject::Customer(_) => None,
        }));
        links
    }

    /// Everything, as dirty: what a rebuild derives.
    pub fn everything(&self) -> Dirty {
        Dirty {
            requests: self.requests.keys().copied().collect(),
            links: self.links.keys().copied().collect(),
            tickets: self.tickets.keys().copied().collect(),
            customers: self.customers.keys().copied().collect(),
            impacts: self.impacts.keys().copied().collect(),
            signals: self
                .signals
                .values()
                .flat_map(|s| s.values().map(|sig| (sig.subject, (sig.at, sig.id))))
                .collect(),
            subjects: self.subjects(),
            health: self.all_links(),
            ..Dirty::default()
        }
    }

    // ---- applying ----

    /// Records what `input` says and returns what it touched.
    pub fn apply(&mut self, input: &Input) -> Dirty {
        *self.applied.entry(input.store).or_insert(0) += 1;
        let mut dirty = Dirty::default();
        let (id, at) = (input.event_id, input.at);
        match &input.fact {
            Fact::Ignored => {}
            Fact::LinkDeclared { link } => {
                if !self.links.contains_key(link) {
                    self.links.insert(*link, LinkFacts { declared_at: at });
                    dirty.links.insert(*link);
                    dirty.health.insert(*link);
                }
            }
            Fact::RequestOpened {
                request,
                case,
                consumer,
                provider,
                needed_by,
                parent,
            } => {
                if !self.requests.contains_key(request) {
                    self.load_request(RequestFacts {
                        id: *request,
                        case: *case,
                        consumer: *consumer,
                        provider: *provider,
                        needed_by: *needed_by,
                        parent: *parent,
                        opened_at: at,
                        stage: RequestStage::Opened,
                        commitment: None,
                        revisions: Vec::new(),
                        breakdowns: Vec::new(),
                        ledger: None,
                        outcome: None,
                        last_at: at,
                    });
                    dirty.requests.insert(*request);
                    dirty.health.insert(LinkKey {
                        provider: *provider,
                        consumer: *consumer,
                    });
                }
            }
            Fact::RequestCommitted {
                request,
                due_at,
                kind,
            } => self.change_request(*request, id, at, &mut dirty, |r| {
                r.stage = RequestStage::Committed;
                r.commitment = Some(chain_domain::commitment::Commitment {
                    due_at: *due_at,
                    kind: *kind,
                    committed_at: at,
                });
            }),
            Fact::RequestRevised {
                request,
                previous_due,
                new_due,
                proactive,
            } => self.change_request(*request, id, at, &mut dirty, |r| {
                if let Some(commitment) = r.commitment.as_mut() {
                    commitment.due_at = *new_due;
                }
                r.revisions.push(RevisionFacts {
                    previous_due: *previous_due,
                    new_due: *new_due,
                    proactive: *proactive,
                    at,
                });
            }),
            Fact::RequestFulfilled {
                request,
                on_time,
                ledger,
            } => {
                dirty.signal_kind = Some(if *on_time {
                    ScoreSignalKind::RequestFulfilledOnTime
                } else {
                    ScoreSignalKind::RequestFulfilledLate
                });
                self.change_request(*request, id, at, &mut dirty, |r| {
                    r.stage = RequestStage::Fulfilled {
                        at,
                        on_time: *on_time,
                    };
                    r.ledger = *ledger;
                });
            }
            Fact::RequestBreached { request, ledger } => {
                dirty.signal_kind = Some(ScoreSignalKind::RequestBreached);
                self.change_request(*request, id, at, &mut dirty, |r| {
                    r.stage = RequestStage::Breached { at };
                    r.ledger = *ledger;
                });
            }
            Fact::RequestCancelled { request, ledger } => {
                self.change_request(*request, id, at, &mut dirty, |r| {
                    r.stage = RequestStage::Cancelled { at };
                    r.ledger = *ledger;
                });
            }
            Fact::BreakdownReported { request, kind } => {
                dirty.signal_kind = Some(ScoreSignalKind::Breakdown);
                self.change_request(*request, id, at, &mut dirty, |r| {
                    r.breakdowns.push(BreakdownFacts {
                        kind: *kind,
                        reported_at: at,
                        resolved_at: None,
                    });
                });
            }
            Fact::BreakdownResolved { request } => {
                self.change_request(*request, id, at, &mut dirty, |r| {
                    for breakdown in &mut r.breakdowns {
                        breakdown.resolved_at.get_or_insert(at);
                    }
                });
            }
            Fact::CustomerRegistered { customer, value } => {
                self.change_customer(*customer, at, &mut dirty, |c| {
                    c.registered_at.get_or_insert(at);
                    if value.is_some() {
                        c.value.clone_from(value);
                    }
                });
            }
            Fact::CustomerValueChanged { customer, value } => {
                self.change_customer(*customer, at, &mut dirty, |c| {
                    if value.is_some() {
                        c.value.clone_from(value);
                    }
                });
            }
            Fact::CustomerTierChanged { customer, tier } => {
                self.change_customer(*customer, at, &mut dirty, |c| c.tier = *tier);
            }
            Fact::TicketOpened {
                ticket,
                customer,
                front_line,
            } => {
                let facts = self.tickets.entry(*ticket).or_default();
                facts.customer = Some(*customer);
                facts.front_line = *front_line;
                dirty.tickets.insert(*ticket);
            }
            Fact::PromiseAtRisk {
                hurt,
                projected_delay,
            } => {
                self.record_impact(
                    hurt,
                    ImpactStart::AtRisk,
                    *projected_delay,
                    id,
                    at,
                    &mut dirty,
                );
            }
            Fact::PromiseBroken { hurt, notified } => {
                let overdue = at - hurt.due_at;
                let key =
                    self.record_impact(hurt, ImpactStart::Broken, overdue, id, at, &mut dirty);
                if let Some(impact) = self.impacts.get_mut(&key) {
                    impact.broken_notified = Some(*notified);
                }
                dirty.signal_kind = Some(if *notified {
                    ScoreSignalKind::PromiseBrokenAfterNotice
                } else {
                    ScoreSignalKind::PromiseBrokenSurprise
                });
                let outcome = broken(*notified);
                self.record_signal(
                    Subject::Customer(hurt.customer),
                    id,
                    at,
                    SignalKind::Reliability {
                        promise: PromiseRef::Ticket(hurt.ticket),
                        outcome,
                    },
                    &mut dirty,
                );
            }
            Fact::CustomerNotified {
                ticket,
                promise,
                before_due,
            } => {
                if *before_due {
                    self.tickets
                        .entry(*ticket)
                        .or_default()
                        .notified
                        .insert(*promise);
                    dirty.tickets.insert(*ticket);
                    dirty.cases.insert(ticket.as_uuid());
                }
            }
            Fact::TicketResolved {
                ticket,
                customer,
                outcome,
                promised_at,
                due_at,
                late_by,
                notified,
            } => {
                let facts = self.tickets.entry(*ticket).or_default();
                facts.customer.get_or_insert(*customer);
                facts.resolved = Some(Resolution {
                    outcome: *outcome,
                    late_by_ms: late_by.map(|l| l.num_milliseconds()),
                    notified: *notified,
                    at,
                });
                dirty.tickets.insert(*ticket);
                dirty.cases.insert(ticket.as_uuid());
                dirty.resolved.extend(self.impacts_of_ticket(*ticket));
                let customer_subject = Subject::Customer(*customer);
                dirty.subjects.insert(customer_subject);
                if let Some(outcome) = outcome {
                    let (reliability, kind) = resolution_outcome(
                        *outcome,
                        *late_by,
                        due_at.zip(*promised_at).map(|(d, p)| d - p),
                        *notified,
                    );
                    dirty.signal_kind = Some(kind);
                    self.record_signal(
                        customer_subject,
                        id,
                        at,
                        SignalKind::Reliability {
                            promise: PromiseRef::Ticket(*ticket),
                            outcome: reliability,
                        },
                        &mut dirty,
                    );
                }
            }
            Fact::Feedback { about, ratings, .. } => {
                let (subject, source) = match about {
                    FeedbackAbout::Ticket { customer, .. } => {
                        (Subject::Customer(*customer), customer.as_uuid())
                    }
                    FeedbackAbout::Request {
                        consumer, provider, ..
                    } => (
                        Subject::Link(LinkKey {
                            provider: *provider,
                            consumer: *consumer,
                        }),
                        consumer.as_uuid(),
                    ),
                };
                dirty.signal_kind = Some(ScoreSignalKind::Feedback);
                if let Subject::Link(link) = subject {
                    dirty.health.insert(link);
                }
                self.record_signal(
                    subject,
                    id,
                    at,
                    SignalKind::Feedback {
                        source: SourceId::from_uuid(source),
                        feedback: *ratings,
                    },
                    &mut dirty,
                );
            }
        }
        dirty
    }

    /// Changes a known request, then records its outcome for its link when it changed.
    fn change_request(
        &mut self,
        request: RequestId,
        id: EventId,
        at: DateTime<Utc>,
        dirty: &mut Dirty,
        change: impl FnOnce(&mut RequestFacts),
    ) {
        let Some(facts) = self.requests.get_mut(&request) else {
            return;
        };
        change(facts);
        facts.last_at = facts.last_at.max(at);
        let link = facts.link().key();
        let case = facts.case;
        let outcome = if facts.is_open() {
            None
        } else {
            Reliability::of_request(&facts.to_domain())
        };
        let changed = outcome.is_some() && outcome != facts.outcome;
        if changed {
            facts.outcome = outcome;
        }
        dirty.requests.insert(request);
        dirty.health.insert(link);
        dirty.cases.insert(case);
        if let (true, Some(outcome)) = (changed, outcome) {
            self.record_signal(
                Subject::Link(link),
                id,
                at,
                SignalKind::Reliability {
                    promise: PromiseRef::Request(request),
                    outcome,
                },
                dirty,
            );
        }
    }

    fn change_customer(
        &mut self,
        customer: CustomerId,
        at: DateTime<Utc>,
        dirty: &mut Dirty,
        change: impl FnOnce(&mut CustomerFacts),
    ) {
        let facts = self.customers.entry(customer).or_default();
        change(facts);
        facts.last_at = Some(facts.last_at.map_or(at, |l| l.max(at)));
        dirty.customers.insert(customer);
        dirty.subjects.insert(Subject::Customer(customer));
    }

    /// Records the impact of a promise hurt, once per (ticket, promise); returns its key.
    fn record_impact(
        &mut self,
        hurt: &PromiseHurt,
        start: ImpactStart,
        delay: TimeDelta,
        id: EventId,
        at: DateTime<Utc>,
        dirty: &mut Dirty,
    ) -> ImpactKey {
        let key = (hurt.ticket, hurt.promise);
        self.tickets
            .entry(hurt.ticket)
            .or_default()
            .customer
            .get_or_insert(hurt.customer);
        dirty.tickets.insert(hurt.ticket);
        dirty.impacts.insert(key);
        dirty.subjects.insert(Subject::Customer(hurt.customer));
        if !self.impacts.contains_key(&key) {
            let facts = ImpactFacts {
                start,
                customer: hurt.customer,
                tier: hurt.tier,
                value: hurt.value.clone(),
                path: hurt.path.clone(),
                projected_delay_ms: delay.num_milliseconds().max(0),
                due_at: hurt.due_at,
                recorded_at: at,
                source_event: id,
                broken_notified: None,
            };
            dirty.health.extend(facts.links());
            dirty.recorded.insert(key);
            self.load_impact(key, facts);
        }
        key
    }

    fn record_signal(
        &mut self,
        subject: Subject,
        id: EventId,
        at: DateTime<Utc>,
        kind: SignalKind,
        dirty: &mut Dirty,
    ) {
        let signal = Signal {
            id,
            subject,
            at,
            kind,
        };
        self.load_signal(signal);
        dirty.signals.insert((subject, (at, id)));
        dirty.subjects.insert(subject);
    }
}

fn broken(notified: bool) -> Reliability {
    if notified {
        Reliability::BrokenAfterNotice
    } else {
        Reliability::BrokenSurprise
    }
}

/// The outcome a ticket's resolution gives its customer, as
/// `chain_domain::scoring::Reliability::of_ticket_event` maps `TicketResolved`.
fn resolution_outcome(
    outcome: PromiseOutcome,
    late_by: Option<TimeDelta>,
    window: Option<TimeDelta>,
    notified: bool,
) -> (Reliability, ScoreSignalKind) {
    match outcome {
        PromiseOutcome::Kept => (Reliability::Kept, ScoreSignalKind::PromiseKept),
        PromiseOutcome::KeptAfterRenegotiation => (
            Reliability::RenegotiatedThenKept,
            ScoreSignalKind::PromiseKeptAfterRenegotiation,
        ),
        PromiseOutcome::KeptLate => (
            Reliability::KeptLate {
                late_by: late_by.unwrap_or_default(),
                window: window.unwrap_or_default(),
                notified_in_time: notified,
            },
            ScoreSignalKind::PromiseKeptLate,
        ),
        PromiseOutcome::Broken => (
            broken(notified),
            if notified {
                ScoreSignalKind::PromiseBrokenAfterNotice
            } else {
                ScoreSignalKind::PromiseBrokenSurprise
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::LedgerFacts;
    use chain_domain::ids::TeamId;

    fn input(n: u128, hours: i64, fact: Fact) -> Input {
        Input {
            store: InputStore::Requests,
            event_id: EventId::from_uuid(Uuid::from_u128(1_000 + n)),
            at: DateTime::from_timestamp(1_800_000_000 + hours * 3_600, 0).expect("a time"),
            fact,
        }
    }

    fn opened(request: u128, hours: i64) -> Input {
        input(
            request * 10,
            hours,
            Fact::RequestOpened {
                request: RequestId::from_uuid(Uuid::from_u128(request)),
                case: Uuid::from_u128(request),
                consumer: TeamId::from_uuid(Uuid::from_u128(2)),
                provider: TeamId::from_uuid(Uuid::from_u128(1)),
                needed_by: DateTime::from_timestamp(1_800_000_000 + (hours + 10) * 3_600, 0)
                    .expect("a time"),
                parent: None,
            },
        )
    }

    #[test]
    fn any_event_on_a_link_recomputes_its_score_and_health() {
        let link = LinkKey {
            provider: TeamId::from_uuid(Uuid::from_u128(1)),
            consumer: TeamId::from_uuid(Uuid::from_u128(2)),
        };
        let mut state = ProjectionState::new();
        state.apply(&opened(7, 0));
        let request = RequestId::from_uuid(Uuid::from_u128(7));
        state.apply(&input(
            70,
            1,
            Fact::RequestCommitted {
                request,
                due_at: DateTime::from_timestamp(1_800_000_000 + 9 * 3_600, 0).expect("a time"),
                kind: chain_domain::commitment::CommitmentKind::OrganisationalCommitment,
            },
        ));
        let fulfilled = state.apply(&input(
            71,
            3,
            Fact::RequestFulfilled {
                request,
                on_time: true,
                ledger: Some(LedgerFacts {
                    late_by_ms: 0,
                    own_delay_ms: 0,
                }),
            },
        ));
        assert!(
            fulfilled
                .signals
                .iter()
                .any(|(s, _)| *s == Subject::Link(link))
        );
        // A later request on the link records no signal, but moves the link's as_of.
        let later = state.apply(&opened(8, 20));
        assert!(later.signals.is_empty());
        assert!(later.score_subjects().contains(&Subject::Link(link)));
        assert!(later.health.contains(&link));
        assert_eq!(state.events_applied(), 4);
    }
}
