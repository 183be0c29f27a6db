//! The projection core without a database: a replay is deterministic, any interleaving of
//! the input stores that keeps each store's order gives the same projections, and applying
//! events one at a time while re-deriving only what each touched (as live consumption does)
//! ends in exactly the rows a rebuild derives at once.

use std::collections::BTreeMap;

use chain_proto::customerchain::v1::EventEnvelope;
use chain_scoring::codec::{InputStore, decode};
use chain_scoring::projection::rows::{
    CustomerRow, HealthRow, ImpactRow, LinkRow, RequestRow, ScoreRow, SignalRow, TicketRow,
};
use chain_scoring::projection::{
    ProjectionConfig, ProjectionRows, ProjectionState, derive, digest,
};
use chain_scoring::rebuild::{Replayed, replay};
use chain_scoring::synthetic::{History, Shape, generate};
use proptest::prelude::*;
use uuid::Uuid;

fn small(seed: u64) -> History {
    generate(Shape {
        seed,
        tickets: 60,
        teams: 8,
        links: 12,
        customers: 12,
    })
}

fn batch(events: &[(InputStore, EventEnvelope)]) -> ProjectionRows {
    let mut state = ProjectionState::new();
    let mut replayed = Replayed::default();
    for (store, envelope) in events {
        replay(
            &mut state,
            *store,
            std::slice::from_ref(envelope),
            &mut replayed,
        );
    }
    assert_eq!(
        replayed.skipped.values().sum::<u64>(),
        0,
        "every event decodes"
    );
    ProjectionRows::of_state(&state, &ProjectionConfig::default())
}

/// The stores one after the other.
fn in_store_order(history: &History, order: [InputStore; 3]) -> Vec<(InputStore, EventEnvelope)> {
    order
        .iter()
        .flat_map(|store| history.of(*store).iter().map(|e| (*store, e.clone())))
        .collect()
}

/// A random merge of the three stores that keeps each store's own order.
fn interleave(history: &History, mut seed: u64) -> Vec<(InputStore, EventEnvelope)> {
    let mut cursors = [0usize; 3];
    let mut merged = Vec::with_capacity(history.len());
    loop {
        let open: Vec<usize> = (0..3)
            .filter(|i| cursors[*i] < history.of(InputStore::ALL[*i]).len())
            .collect();
        if open.is_empty() {
            return merged;
        }
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let pick = open[usize::try_from(seed >> 33).unwrap_or(0) % open.len()];
        let store = InputStore::ALL[pick];
        merged.push((store, history.of(store)[cursors[pick]].clone()));
        cursors[pick] += 1;
    }
}

#[test]
fn a_replay_is_deterministic_and_not_empty() {
    let history = small(1);
    let events = in_store_order(&history, InputStore::ALL);
    let first = batch(&events);
    let second = batch(&events);
    assert_eq!(first, second);
    assert_eq!(digest(&first), digest(&second));
    assert!(!first.impacts.is_empty(), "some promises were hurt");
    assert!(
        first.impacts.iter().any(|i| !i.shares.is_empty()),
        "some losses were apportioned"
    );
    assert!(
        first
            .scores
            .iter()
            .any(|s| s.customer_id.is_some() && s.score_hundredths < 7_500),
        "some customer fell below the prior"
    );
    assert_ne!(
        digest(&first),
        digest(&batch(&in_store_order(&small(2), InputStore::ALL)))
    );
}

#[test]
fn the_extreme_interleavings_agree() {
    let history = small(3);
    let expected = digest(&batch(&in_store_order(&history, InputStore::ALL)));
    for order in [
        [
            InputStore::Tickets,
            InputStore::Requests,
            InputStore::Scoring,
        ],
        [
            InputStore::Scoring,
            InputStore::Tickets,
            InputStore::Requests,
        ],
    ] {
        assert_eq!(digest(&batch(&in_store_order(&history, order))), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_order_preserving_interleaving_gives_the_same_projections(seed in any::<u64>(), history_seed in 0u64..4) {
        let history = small(history_seed);
        let expected = batch(&in_store_order(&history, InputStore::ALL));
        let shuffled = batch(&interleave(&history, seed));
        prop_assert_eq!(digest(&shuffled), digest(&expected));
    }
}

/// Tables kept row by row, as live consumption keeps them.
#[derive(Default)]
struct Upserted {
    requests: BTreeMap<Uuid, RequestRow>,
    links: BTreeMap<(Uuid, Uuid), LinkRow>,
    tickets: BTreeMap<Uuid, TicketRow>,
    customers: BTreeMap<Uuid, CustomerRow>,
    signals: BTreeMap<(String, i64, Uuid), SignalRow>,
    scores: BTreeMap<String, ScoreRow>,
    health: BTreeMap<(Uuid, Uuid), HealthRow>,
    impacts: BTreeMap<Uuid, ImpactRow>,
}

impl Upserted {
    fn write(&mut self, rows: ProjectionRows) {
        for r in rows.requests {
            self.requests.insert(r.request_id, r);
        }
        for r in rows.links {
            self.links
                .insert((r.provider_team_id, r.consumer_team_id), r);
        }
        for r in rows.tickets {
            self.tickets.insert(r.ticket_id, r);
        }
        for r in rows.customers {
            self.customers.insert(r.customer_id, r);
        }
        for r in rows.signals {
            self.signals
                .insert((r.subject.clone(), r.at.timestamp_micros(), r.event_id), r);
        }
        for r in rows.scores {
            self.scores.insert(r.subject.clone(), r);
        }
        for r in rows.health {
            self.health
                .insert((r.provider_team_id, r.consumer_team_id), r);
        }
        for r in rows.impacts {
            self.impacts.insert(r.impact_id, r);
        }
    }

    fn rows(&self) -> ProjectionRows {
        ProjectionRows {
            requests: self.requests.values().cloned().collect(),
            links: self.links.values().cloned().collect(),
            tickets: self.tickets.values().cloned().collect(),
            customers: self.customers.values().cloned().collect(),
            signals: self.signals.values().cloned().collect(),
            scores: self.scores.values().cloned().collect(),
            health: self.health.values().cloned().collect(),
            impacts: self.impacts.values().cloned().collect(),
        }
    }
}

#[test]
fn deriving_what_each_event_touched_keeps_the_rows_a_rebuild_derives() {
    let history = small(5);
    let events = interleave(&history, 99);
    let config = ProjectionConfig::default();
    let mut state = ProjectionState::new();
    let mut tables = Upserted::default();
    let mut checked = 0;
    for (n, (store, envelope)) in events.iter().enumerate() {
        let input = decode(*store, envelope).expect("decodes");
        let dirty = state.apply(&input);
        let derived = derive(&state, &dirty, &config);
        let mut rows = ProjectionRows::facts_of(&state, &dirty);
        rows.add_derived(derived);
        tables.write(rows);
        // After any prefix, the rows kept so far are those a rebuild of that prefix derives.
        if n % 37 == 0 || n + 1 == events.len() {
            let rebuilt = batch(&events[..=n]);
            let live = tables.rows();
            assert_eq!(
                live.scores,
                by_subject(rebuilt.scores.clone()),
                "scores after {n}"
            );
            assert_eq!(digest(&live), digest(&rebuilt), "after {} events", n + 1);
            checked += 1;
        }
    }
    assert!(checked > 10);
}

/// Scores sorted by subject, as the upserted map yields them.
fn by_subject(mut scores: Vec<ScoreRow>) -> Vec<ScoreRow> {
    scores.sort_by(|a, b| a.subject.cmp(&b.subject));
    scores
}
