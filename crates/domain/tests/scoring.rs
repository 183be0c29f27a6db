//! The satisfaction model: a breakdown traced from an internal link to an external customer's
//! score, decay, the loud-source bound, attribution, link health, the lifecycle, and the
//! properties the model promises (bounded scores, lateness never pays, one source moves a
//! score only so far, order of arrival never matters).

mod fixture;

use chain_domain::case::CaseView;
use chain_domain::commitment::CommitmentKind;
use chain_domain::customer::{CustomerStanding, Money, Tier};
use chain_domain::ids::{CustomerId, EventId, SourceId, TeamId, TicketId};
use chain_domain::ledger::Charge;
use chain_domain::link::{LinkKey, RequestLink};
use chain_domain::request::RequestCommand;
use chain_domain::scoring::{
    Delivery, Feedback, Lifecycle, LifecycleRules, LinkHealth, PromiseRef, Reliability,
    ScoringModel, Signal, SignalBook, SignalKind, Subject, SubjectSignals, apportion, lifecycle,
    wilson_lower_bound,
};
use chain_domain::ticket::{
    MakePromise, OpenTicket, PromiseOutcome, Remedy, TicketCommand, TicketEvent, TicketState,
    decide, evolve,
};
use chrono::{DateTime, TimeDelta, Utc};
use fixture::*;
use proptest::prelude::*;
use uuid::Uuid;

const EPSILON: f64 = 1e-9;

fn event_id(n: u128) -> EventId {
    EventId::from_uuid(Uuid::from_u128(10_000 + n))
}

fn customer(n: u128) -> CustomerId {
    CustomerId::from_uuid(Uuid::from_u128(900 + n))
}

fn source(n: u128) -> SourceId {
    SourceId::from_uuid(Uuid::from_u128(700 + n))
}

fn day(d: i64) -> DateTime<Utc> {
    t(0) + TimeDelta::days(d)
}

fn feedback(id: u128, subject: Subject, at: DateTime<Utc>, from: u128, csat: u8) -> Signal {
    Signal {
        id: event_id(id),
        subject,
        at,
        kind: SignalKind::Feedback {
            source: source(from),
            feedback: Feedback::new(Some(csat), None).expect("valid csat"),
        },
    }
}

fn outcome(
    id: u128,
    subject: Subject,
    at: DateTime<Utc>,
    ticket: u128,
    outcome: Reliability,
) -> Signal {
    Signal {
        id: event_id(id),
        subject,
        at,
        kind: SignalKind::Reliability {
            promise: PromiseRef::Ticket(TicketId::from_uuid(Uuid::from_u128(ticket))),
            outcome,
        },
    }
}

fn book_of<'a>(signals: impl IntoIterator<Item = &'a Signal>) -> SignalBook {
    let mut book = SignalBook::default();
    for signal in signals {
        book.record(signal);
    }
    book
}

fn model() -> ScoringModel {
    ScoringModel::default()
}

// ---------------------------------------------------------------------------------------
// A breakdown traced from the first link of a three-link chain to the customer.
// ---------------------------------------------------------------------------------------

/// A ticket promised for hour 60, run until the promise breaks at its due time, with or
/// without a notice before it. Returns the ticket's events.
fn broken_ticket(ticket: TicketId, who: CustomerId, notice: bool) -> Vec<TicketEvent> {
    let mut state = TicketState::default();
    let mut events = Vec::new();
    let mut run = |command: TicketCommand, now: i64| {
        let new = decide(&command, &state, t(now)).expect("accepted");
        state = new.iter().fold(state.clone(), evolve);
        events.extend(new);
    };
    run(
        TicketCommand::Open(OpenTicket {
            ticket_id: ticket,
            customer_id: who,
            subject: "custom cabinet".into(),
            front_line: SALES,
            standing: CustomerStanding {
                tier: Tier::A,
                value: Money::new(5_000_000, "EUR").expect("valid"),
            },
        }),
        0,
    );
    run(
        TicketCommand::MakePromise(MakePromise {
            due_at: t(60),
            kind: CommitmentKind::OrganisationalCommitment,
            wording: "ready in 60 hours".into(),
            acknowledge_risk: false,
            feasibility: None,
        }),
        0,
    );
    if notice {
        run(
            TicketCommand::NotifyCustomer {
                new_expected_at: t(90),
                remedy: Remedy::Credit,
            },
            40,
        );
        run(
            TicketCommand::RecordCustomerResponse { accepted: false },
            41,
        );
    }
    run(TicketCommand::MarkBroken, 61);
    events
}

#[test]
fn a_breakdown_at_the_first_link_reaches_that_link_and_the_customer_only() {
    // Sales → Workshop (serves the ticket) → Procurement → Finance; Paint serves Workshop
    // too, on time. Finance, the first link, never delivers.
    let (sales_ws, ws_proc, proc_fin, ws_paint) =
        (request_id(1), request_id(2), request_id(3), request_id(4));
    let mut chain = Chain::default();
    chain.open(sales_ws, SALES, WORKSHOP, 72, None, 0);
    chain.commit(sales_ws, 60, 1);
    chain.open(ws_proc, WORKSHOP, PROCUREMENT, 40, Some(sales_ws), 2);
    chain.commit(ws_proc, 36, 3);
    chain.open(proc_fin, PROCUREMENT, FINANCE, 30, Some(ws_proc), 4);
    chain.commit(proc_fin, 24, 5);
    chain.open(ws_paint, WORKSHOP, PAINT, 50, Some(sales_ws), 6);
    chain.commit(ws_paint, 45, 7);
    chain.fulfil(ws_paint, 20);
    chain.run(proc_fin, RequestCommand::MarkBreached, t(24));

    let (hurt, bystander) = (customer(1), customer(2));
    let as_of = t(80);

    // What happened before the breakdown: the bystander's promise was kept, Paint delivered.
    let before = vec![
        outcome(
            1,
            Subject::Customer(bystander),
            t(10),
            501,
            Reliability::Kept,
        ),
        Signal::of_request(event_id(2), &chain.request(ws_paint), t(20)).expect("closed"),
    ];
    assert_eq!(
        before[1].kind,
        SignalKind::Reliability {
            promise: PromiseRef::Request(ws_paint),
            outcome: Reliability::Kept
        }
    );
    let baseline = book_of(&before);

    // The breakdown: Finance's request breached, and the customer's promise broke.
    let finance_link = chain.link(proc_fin).key();
    let breach = Signal::of_request(event_id(3), &chain.request(proc_fin), t(24)).expect("closed");
    assert_eq!(breach.subject, Subject::Link(finance_link));
    assert!(matches!(
        breach.kind,
        SignalKind::Reliability {
            outcome: Reliability::BrokenSurprise,
            ..
        }
    ));
    let score_after = |notice: bool| {
        let events = broken_ticket(TICKET, hurt, notice);
        let broken = events
            .iter()
            .filter_map(|e| Signal::of_ticket_event(event_id(4), e))
            .collect::<Vec<_>>();
        assert_eq!(broken.len(), 1, "one signal: the promise broke");
        let mut signals = before.clone();
        signals.push(breach);
        signals.extend(broken);
        book_of(&signals)
    };
    let surprise = score_after(false);
    let noticed = score_after(true);

    for book in [&surprise, &noticed] {
        // The link that broke and the customer it reached lose score...
        assert!(
            book.score(&Subject::Link(finance_link), &model(), as_of)
                .value
                < baseline
                    .score(&Subject::Link(finance_link), &model(), as_of)
                    .value
        );
        assert!(book.score(&Subject::Customer(hurt), &model(), as_of).value < model().prior - 10.0);
        // ...and nobody else moves.
        for untouched in [
            Subject::Customer(bystander),
            Subject::Link(chain.link(ws_paint).key()),
            Subject::Link(chain.link(ws_proc).key()),
            Subject::Link(chain.link(sales_ws).key()),
        ] {
            assert_eq!(
                book.score(&untouched, &model(), as_of),
                baseline.score(&untouched, &model(), as_of),
                "{untouched:?}"
            );
        }
    }
    // Told before the due time, the same breakdown costs less than a surprise.
    let hurt_score = |book: &SignalBook| book.score(&Subject::Customer(hurt), &model(), as_of);
    assert!(hurt_score(&noticed).value > hurt_score(&surprise).value);

    // The customer's loss is charged back along the chain to Finance, the first link.
    let view = CaseView::from_events(chain.all_events(), as_of);
    let charges = view.delay_attribution(sales_ws, as_of);
    let loss = model().prior - hurt_score(&surprise).value;
    let shares = apportion(&charges, 5_000_000, loss);
    assert_eq!(shares.len(), 1, "{shares:?}");
    assert_eq!(shares[0].link, chain.link(proc_fin));
    assert_eq!(shares[0].value_minor, 5_000_000);
    assert!((shares[0].points - loss).abs() < EPSILON);
}

// ---------------------------------------------------------------------------------------
// The score: decay, duplicates, superseded outcomes, the prior.
// ---------------------------------------------------------------------------------------

#[test]
fn with_nothing_known_the_score_is_the_prior_with_no_confidence() {
    let score = SignalBook::default().score(&Subject::Customer(customer(1)), &model(), t(0));
    assert_eq!(score.value, 75.0);
    assert_eq!(score.confidence, 0.0);
    assert_eq!(score.signals, 0);
}

#[test]
fn a_signal_counts_half_after_one_half_life_and_fades_toward_the_prior() {
    let who = Subject::Customer(customer(1));
    let book = book_of(&[outcome(1, who, day(0), 1, Reliability::BrokenSurprise)]);
    let fresh = book.score(&who, &model(), day(0));
    assert!((fresh.weight - 3.0).abs() < EPSILON);
    assert!((fresh.value - 300.0 / 7.0).abs() < EPSILON);
    let later = book.score(&who, &model(), day(90));
    assert!((later.weight - 1.5).abs() < EPSILON);
    let much_later = book.score(&who, &model(), day(900));
    assert!(much_later.value > later.value && later.value > fresh.value);
    assert!(model().prior - much_later.value < 0.1);
    // A shorter half-life forgets faster.
    let quick = ScoringModel::with_half_life(TimeDelta::days(7)).expect("valid");
    assert!(book.score(&who, &quick, day(30)).value > later.value);
}

#[test]
fn signals_after_as_of_do_not_count_and_duplicates_count_once() {
    let who = Subject::Customer(customer(1));
    let signal = feedback(1, who, day(5), 1, 1);
    let mut book = SignalBook::default();
    assert!(book.record(&signal));
    assert!(!book.record(&signal), "the same event twice");
    assert_eq!(book.score(&who, &model(), day(4)).signals, 0);
    assert_eq!(book.score(&who, &model(), day(5)).signals, 1);
}

#[test]
fn a_later_outcome_of_the_same_promise_replaces_the_earlier_one() {
    let who = Subject::Customer(customer(1));
    let late = Reliability::KeptLate {
        late_by: TimeDelta::days(1),
        window: TimeDelta::days(14),
        notified_in_time: false,
    };
    let book = book_of(&[
        outcome(1, who, day(14), 7, Reliability::BrokenSurprise),
        outcome(2, who, day(15), 7, late),
    ]);
    let during = book.score(&who, &model(), day(14));
    let after = book.score(&who, &model(), day(15));
    assert_eq!(during.signals, 1);
    assert_eq!(after.signals, 1);
    let only_late = book_of(&[outcome(2, who, day(15), 7, late)]);
    assert_eq!(after, only_late.score(&who, &model(), day(15)));
}

#[test]
fn ticket_events_map_to_reliability_outcomes() {
    let ticket = TicketId::from_uuid(Uuid::from_u128(77));
    let resolved = |outcome, late_by, notified| TicketEvent::Resolved {
        ticket_id: ticket,
        customer_id: customer(1),
        delivered: outcome != PromiseOutcome::Broken,
        outcome,
        due_at: day(14),
        original_due: day(14),
        promised_at: day(0),
        late_by,
        notified_before_due: notified,
        at: day(15),
    };
    let of = |event: &TicketEvent| Reliability::of_ticket_event(event).map(|(_, r)| r);
    assert_eq!(
        of(&resolved(PromiseOutcome::Kept, None, false)),
        Some(Reliability::Kept)
    );
    assert_eq!(
        of(&resolved(
            PromiseOutcome::KeptAfterRenegotiation,
            None,
            false
        )),
        Some(Reliability::RenegotiatedThenKept)
    );
    assert_eq!(
        of(&resolved(PromiseOutcome::Broken, None, true)),
        Some(Reliability::BrokenAfterNotice)
    );
    assert_eq!(
        of(&resolved(PromiseOutcome::Broken, None, false)),
        Some(Reliability::BrokenSurprise)
    );
    assert_eq!(
        of(&resolved(
            PromiseOutcome::KeptLate,
            Some(TimeDelta::days(1)),
            true
        )),
        Some(Reliability::KeptLate {
            late_by: TimeDelta::days(1),
            window: TimeDelta::days(14),
            notified_in_time: true
        })
    );
    let signal = Signal::of_ticket_event(event_id(1), &resolved(PromiseOutcome::Kept, None, false))
        .expect("a signal");
    assert_eq!(signal.subject, Subject::Customer(customer(1)));
    assert_eq!(signal.at, day(15));
    let opened = broken_ticket(ticket, customer(1), false);
    assert!(Signal::of_ticket_event(event_id(2), &opened[0]).is_none());
}

#[test]
fn closed_requests_map_to_reliability_outcomes() {
    let mut chain = Chain::default();
    let ids: Vec<_> = (1..=5).map(request_id).collect();
    for (i, id) in ids.iter().enumerate() {
        let provider = [WORKSHOP, PROCUREMENT, FINANCE, PAINT, WORKSHOP][i];
        chain.open(*id, SALES, provider, 100, None, 0);
        chain.commit(*id, 50, 0);
    }
    chain.fulfil(ids[0], 50); // on time
    chain.revise(ids[1], 70, 40); // proactive
    chain.fulfil(ids[1], 65);
    chain.fulfil(ids[2], 75); // 25 h late on a 50 h window
    chain.run(ids[3], RequestCommand::MarkBreached, t(50));
    let of = |chain: &Chain, i: usize| Reliability::of_request(&chain.request(ids[i]));
    assert_eq!(of(&chain, 0), Some(Reliability::Kept));
    assert_eq!(of(&chain, 1), Some(Reliability::RenegotiatedThenKept));
    assert_eq!(
        of(&chain, 2),
        Some(Reliability::KeptLate {
            late_by: TimeDelta::hours(25),
            window: TimeDelta::hours(50),
            notified_in_time: false
        })
    );
    assert_eq!(of(&chain, 3), Some(Reliability::BrokenSurprise));
    assert_eq!(of(&chain, 4), None, "still open");
    // A revision after the due time is an excuse: it does not move what is judged.
    chain.revise(ids[4], 80, 55);
    chain.fulfil(ids[4], 60);
    assert!(matches!(
        of(&chain, 4),
        Some(Reliability::KeptLate { late_by, .. }) if late_by == TimeDelta::hours(10)
    ));
}

// ---------------------------------------------------------------------------------------
// The loud source.
// ---------------------------------------------------------------------------------------

#[test]
fn the_flood_bound_is_stated_and_reached_only_in_the_worst_case() {
    let model = model();
    assert!((model.flood_bound() - 100.0 / 3.0).abs() < EPSILON);
    assert!(model.flood_bound_given(10.0) < model.flood_bound());
    assert!(model.burst_bound(10) > model.flood_bound());
    assert!(model.burst_bound(1) - model.flood_bound() < EPSILON);

    // The worst case: nothing else known, and the source swings from all 5s to all 1s.
    let who = Subject::Customer(customer(1));
    let praise: Vec<Signal> = (0..50).map(|i| feedback(i, who, day(0), 1, 5)).collect();
    let mut attack = praise.clone();
    attack.extend((100..5000).map(|i| feedback(i, who, day(0), 1, 1)));
    let high = book_of(&praise).score(&who, &model, day(0)).value;
    let low = book_of(&attack).score(&who, &model, day(0)).value;
    assert!((high - 500.0 / 6.0).abs() < EPSILON);
    assert!(high - low <= model.flood_bound() + EPSILON);
    assert!(
        high - low > model.flood_bound() - 1.0,
        "the bound is nearly tight"
    );
    // A real customer's reliability record stands against it.
    let mut record: Vec<Signal> = (0..10)
        .map(|i| outcome(200 + i, who, day(0), 300 + i, Reliability::Kept))
        .collect();
    let calm = book_of(&record).score(&who, &model, day(0));
    record.extend((100..5000).map(|i| feedback(i, who, day(0), 1, 1)));
    let stormy = book_of(&record).score(&who, &model, day(0));
    assert!(calm.value - stormy.value <= model.flood_bound_given(calm.weight) + EPSILON);
    assert!(stormy.value > 80.0);
}

#[test]
fn the_model_validates_its_parameters() {
    assert!(ScoringModel::default().validate().is_ok());
    assert!(ScoringModel::with_half_life(TimeDelta::zero()).is_err());
    let bad = ScoringModel {
        source_cap: 0.0,
        ..ScoringModel::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(chain_domain::DomainError::InvalidField {
            field: "source_cap",
            ..
        })
    ));
    let bad = ScoringModel {
        prior: 120.0,
        ..ScoringModel::default()
    };
    assert!(bad.validate().is_err());
}

// ---------------------------------------------------------------------------------------
// Attribution and link health.
// ---------------------------------------------------------------------------------------

fn team(n: u128) -> TeamId {
    TeamId::from_uuid(Uuid::from_u128(100 + n))
}

fn link(n: u128) -> RequestLink {
    RequestLink {
        request_id: request_id(n),
        provider: team(n),
        consumer: SALES,
    }
}

#[test]
fn a_loss_is_apportioned_by_share_of_the_delay_and_adds_up() {
    let charges = vec![
        Charge {
            link: link(1),
            time: TimeDelta::hours(1),
        },
        Charge {
            link: link(2),
            time: TimeDelta::hours(1),
        },
        Charge {
            link: link(3),
            time: TimeDelta::hours(1),
        },
        Charge {
            link: link(1),
            time: TimeDelta::hours(1),
        },
        Charge {
            link: link(4),
            time: TimeDelta::zero(),
        },
    ];
    let shares = apportion(&charges, 1_000, 12.0);
    assert_eq!(shares.len(), 3, "merged by link, zero charges dropped");
    assert_eq!(shares[0].link, link(1));
    assert_eq!(shares[0].delay, TimeDelta::hours(2));
    assert!((shares[0].share - 0.5).abs() < EPSILON);
    assert!((shares[0].points - 6.0).abs() < EPSILON);
    assert_eq!(
        shares.iter().map(|s| s.value_minor).collect::<Vec<_>>(),
        vec![500, 250, 250]
    );
    // 100 units over three equal links: 34, 33, 33 (the first takes the extra unit).
    let thirds = apportion(&charges[1..4], 100, 0.0);
    assert_eq!(
        thirds.iter().map(|s| s.value_minor).collect::<Vec<_>>(),
        vec![34, 33, 33]
    );
    assert!(apportion(&[], 100, 1.0).is_empty());
}

#[test]
fn link_health_counts_deliveries_once_and_ranks_worst_first() {
    let key = |n| LinkKey {
        provider: team(n),
        consumer: SALES,
    };
    let delivery = |n, on_time, late_h| Delivery {
        request: request_id(n),
        on_time,
        late_by: TimeDelta::hours(late_h),
    };
    let deliveries = vec![
        delivery(1, true, 0),
        delivery(2, true, 0),
        delivery(3, false, 6),
        delivery(3, false, 6),
        delivery(4, true, 0),
    ];
    let signals: Vec<Signal> = vec![outcome(
        1,
        Subject::Link(key(1)),
        day(0),
        1,
        Reliability::BrokenSurprise,
    )];
    let book = book_of(&signals);
    let score = book.score(&Subject::Link(key(1)), &model(), day(0));
    let health = LinkHealth::compute(
        key(1),
        &score,
        &deliveries,
        [customer(1), customer(2), customer(1)],
    );
    assert_eq!(health.deliveries, 4);
    assert_eq!(health.on_time, 3);
    assert!((health.on_time_rate - 0.75).abs() < EPSILON);
    assert!((health.on_time_lower_bound - wilson_lower_bound(3, 4)).abs() < EPSILON);
    assert_eq!(health.mean_lateness, TimeDelta::hours(6) / 4);
    assert_eq!(health.customers_hurt, 2);
    assert_eq!(health.health, score.value);

    let healthy = LinkHealth::compute(
        key(2),
        &book.score(&Subject::Link(key(2)), &model(), day(0)),
        &deliveries[..2],
        [],
    );
    let mut list = [healthy.clone(), health];
    list.sort_by(LinkHealth::worst_first);
    assert_eq!(list[0].link, key(1));
    assert_eq!(healthy.mean_lateness, TimeDelta::zero());
}

#[test]
fn deliveries_come_from_closed_requests() {
    let mut chain = Chain::default();
    let (a, b, c) = (request_id(1), request_id(2), request_id(3));
    for id in [a, b, c] {
        chain.open(id, SALES, WORKSHOP, 100, None, 0);
        chain.commit(id, 50, 0);
    }
    chain.fulfil(a, 53);
    chain.run(b, RequestCommand::MarkBreached, t(50));
    let of = |id| Delivery::of_request(&chain.request(id), t(60));
    assert_eq!(
        of(a),
        Some(Delivery {
            request: a,
            on_time: false,
            late_by: TimeDelta::hours(3)
        })
    );
    assert_eq!(of(b).map(|d| d.late_by), Some(TimeDelta::hours(10)));
    assert_eq!(of(c), None);
}

// ---------------------------------------------------------------------------------------
// The lifecycle.
// ---------------------------------------------------------------------------------------

fn stage(signals: &[Signal], since: i64, open_impacts: usize, as_of: i64) -> Lifecycle {
    let who = Subject::Customer(customer(1));
    let book = book_of(signals);
    let empty = SubjectSignals::default();
    lifecycle(
        book.subject(&who).unwrap_or(&empty),
        &model(),
        &LifecycleRules::default(),
        day(since),
        open_impacts,
        day(as_of),
    )
}

#[test]
fn the_lifecycle_follows_the_customer() {
    let who = Subject::Customer(customer(1));
    let kept = |n: u128, d| outcome(n, who, day(d), n, Reliability::Kept);
    let surprise = |n: u128, d| outcome(n, who, day(d), n, Reliability::BrokenSurprise);

    assert_eq!(stage(&[], 0, 0, 10), Lifecycle::New);
    assert_eq!(stage(&[kept(1, 5)], 0, 0, 10), Lifecycle::New);
    assert_eq!(stage(&[kept(1, 5)], 0, 0, 100), Lifecycle::Retained);
    assert_eq!(stage(&[kept(1, 5)], 0, 1, 100), Lifecycle::AtRisk);
    // One surprise: 75·4 / 7 ≈ 42.9, at risk; a second: 300 / 10 = 30, dissatisfied.
    let mut history = vec![surprise(1, 100)];
    assert_eq!(stage(&history, 0, 0, 100), Lifecycle::AtRisk);
    history.push(surprise(2, 101));
    assert_eq!(stage(&history, 0, 0, 101), Lifecycle::Dissatisfied);
    // Time alone does not win a customer back: the score drifts up, the episode stays.
    assert_eq!(stage(&history, 0, 0, 1000), Lifecycle::Dissatisfied);
    // Promises kept do.
    history.extend((3..=12).map(|n| kept(n, 110 + n as i64)));
    assert_eq!(stage(&history, 0, 0, 130), Lifecycle::WonBack);
    assert_eq!(stage(&history, 0, 1, 130), Lifecycle::AtRisk);
    assert_eq!(stage(&history, 0, 0, 400), Lifecycle::Retained);
}

// ---------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------

/// A random signal about one of three customers or two links.
fn any_signal(id: u128) -> impl Strategy<Value = Signal> {
    let subject = prop_oneof![
        (0u128..3).prop_map(|n| Subject::Customer(customer(n))),
        (0u128..2).prop_map(|n| Subject::Link(LinkKey {
            provider: team(n),
            consumer: SALES,
        })),
    ];
    let reliability = prop_oneof![
        Just(Reliability::Kept),
        Just(Reliability::RenegotiatedThenKept),
        Just(Reliability::BrokenAfterNotice),
        Just(Reliability::BrokenSurprise),
        (0i64..2_000, 0i64..500, any::<bool>()).prop_map(|(late, window, notified)| {
            Reliability::KeptLate {
                late_by: TimeDelta::hours(late),
                window: TimeDelta::hours(window),
                notified_in_time: notified,
            }
        }),
    ];
    let kind = prop_oneof![
        (0u128..4, proptest::option::of(1u8..=5), 0u8..=10).prop_map(|(from, csat, nps)| {
            SignalKind::Feedback {
                source: source(from),
                feedback: Feedback::new(csat, Some(nps)).expect("valid ratings"),
            }
        }),
        (0u128..6, reliability).prop_map(|(promise, outcome)| SignalKind::Reliability {
            promise: PromiseRef::Ticket(TicketId::from_uuid(Uuid::from_u128(promise))),
            outcome,
        }),
    ];
    (subject, 0i64..400, kind).prop_map(move |(subject, d, kind)| Signal {
        id: event_id(id),
        subject,
        at: day(d),
        kind,
    })
}

fn any_signals(max: usize) -> impl Strategy<Value = Vec<Signal>> {
    (0..max).prop_flat_map(|len| (0..len).map(|i| any_signal(i as u128)).collect::<Vec<_>>())
}

fn any_model() -> impl Strategy<Value = ScoringModel> {
    (1i64..400, 0.0f64..=100.0, 0.5f64..10.0, 0.25f64..5.0).prop_map(
        |(half_life_days, prior, prior_weight, source_cap)| ScoringModel {
            half_life: TimeDelta::days(half_life_days),
            prior,
            prior_weight,
            source_cap,
            ..ScoringModel::default()
        },
    )
}

fn all_subjects() -> Vec<Subject> {
    let mut subjects: Vec<Subject> = (0..3).map(|n| Subject::Customer(customer(n))).collect();
    subjects.extend((0..2).map(|n| {
        Subject::Link(LinkKey {
            provider: team(n),
            consumer: SALES,
        })
    }));
    subjects
}

proptest! {
    #[test]
    fn scores_stay_within_0_and_100(
        signals in any_signals(60),
        model in any_model(),
        as_of in 0i64..800,
    ) {
        let book = book_of(&signals);
        for subject in all_subjects() {
            let score = book.score(&subject, &model, day(as_of));
            prop_assert!((0.0..=100.0).contains(&score.value), "{score:?}");
            prop_assert!((0.0..1.0).contains(&score.confidence), "{score:?}");
            prop_assert!(score.value_hundredths() <= 10_000);
        }
    }

    #[test]
    fn more_lateness_never_scores_better(
        signals in any_signals(40),
        model in any_model(),
        late in 0i64..1_000,
        more in 0i64..1_000,
        window in 0i64..500,
        notified in any::<bool>(),
        at in 0i64..400,
        as_of in 0i64..800,
    ) {
        let who = Subject::Customer(customer(0));
        let score_with = |outcome_of_promise: Reliability| {
            let mut all = signals.clone();
            all.push(outcome(9_999, who, day(at), 9_999, outcome_of_promise));
            book_of(&all).score(&who, &model, day(as_of)).value
        };
        let late_by = |hours| Reliability::KeptLate {
            late_by: TimeDelta::hours(hours),
            window: TimeDelta::hours(window),
            notified_in_time: notified,
        };
        let kept = score_with(Reliability::Kept);
        let less = score_with(late_by(late));
        let later = score_with(late_by(late + more));
        prop_assert!(less <= kept + EPSILON, "kept {kept} < late {less}");
        prop_assert!(later <= less + EPSILON, "{late}+{more} h: {later} > {less}");
    }

    #[test]
    fn one_source_flooding_moves_a_score_at_most_the_bound(
        signals in any_signals(40),
        model in any_model(),
        flood in proptest::collection::vec((0i64..400, 1u8..=5), 1..300),
        as_of in 0i64..800,
    ) {
        // Source 0 may already have spoken in `signals`; it now floods customer 0.
        let who = Subject::Customer(customer(0));
        let before = book_of(&signals).score(&who, &model, day(as_of));
        let mut all = signals.clone();
        all.extend(flood.iter().enumerate().map(|(i, (d, csat))| {
            feedback(50_000 + i as u128, who, day(*d), 0, *csat)
        }));
        let after = book_of(&all).score(&who, &model, day(as_of));
        let moved = (after.value - before.value).abs();
        prop_assert!(
            moved <= model.flood_bound() + EPSILON,
            "moved {moved} > bound {}", model.flood_bound()
        );
    }

    #[test]
    fn any_interleaving_preserving_each_stream_gives_the_same_scores(
        streams in proptest::collection::vec(any_signals(25), 1..5),
        picks in proptest::collection::vec(0usize..5, 0..200),
        as_of in 0i64..800,
    ) {
        // Give every signal a distinct id across streams.
        let streams: Vec<Vec<Signal>> = streams
            .into_iter()
            .enumerate()
            .map(|(s, stream)| {
                stream
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut signal)| {
                        signal.id = event_id(100_000 * (s as u128 + 1) + i as u128);
                        signal
                    })
                    .collect()
            })
            .collect();
        let in_order: Vec<&Signal> = streams.iter().flatten().collect();
        // Interleave: each pick takes the next signal of a stream, preserving its order.
        let mut cursors = vec![0usize; streams.len()];
        let mut interleaved: Vec<&Signal> = Vec::new();
        for pick in picks {
            let s = pick % streams.len();
            if let Some(signal) = streams[s].get(cursors[s]) {
                interleaved.push(signal);
                cursors[s] += 1;
            }
        }
        for (s, stream) in streams.iter().enumerate() {
            interleaved.extend(&stream[cursors[s]..]);
        }
        let a = book_of(in_order);
        let b = book_of(interleaved);
        prop_assert_eq!(&a, &b);
        let model = ScoringModel::default();
        for subject in all_subjects() {
            let (x, y) = (a.score(&subject, &model, day(as_of)), b.score(&subject, &model, day(as_of)));
            prop_assert_eq!(x.value.to_bits(), y.value.to_bits());
            prop_assert_eq!(x, y);
        }
    }
}
