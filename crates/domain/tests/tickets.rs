//! The Ticket aggregate with the chain behind it: the furniture story from seed 002 end to end
//! (promise, a late transport link, notice with a loan desk, renegotiation, kept), feasibility
//! of a promise against the case tree, duplicate and reordered chain observations, and every
//! transition rule.

mod fixture;

use chain_domain::DomainError;
use chain_domain::DomainEvent;
use chain_domain::case::{CaseView, Feasibility};
use chain_domain::commitment::CommitmentKind;
use chain_domain::customer::{CustomerStanding, Money, Tier};
use chain_domain::ids::{CustomerId, RequestId, TeamId};
use chain_domain::ledger::Charge;
use chain_domain::request::{ChildCondition, ChildOutlook, RequestCommand};
use chain_domain::ticket::{
    MakePromise, OpenTicket, PromiseOutcome, PromiseRisk, Remedy, TicketCommand,
    TicketDeadlineKind, TicketEvent, TicketState, TicketStatus, decide, evolve, next_deadline,
};
use chrono::TimeDelta;
use fixture::*;
use proptest::prelude::*;
use uuid::Uuid;

const TRANSPORT: TeamId = TeamId::from_uuid(Uuid::from_u128(6));
const JANE: CustomerId = CustomerId::from_uuid(Uuid::from_u128(900));

fn standing() -> CustomerStanding {
    CustomerStanding {
        tier: Tier::A,
        value: Money::new(25_000_000, "EUR").expect("valid money"),
    }
}

/// A ticket and its events, run the way the tickets service would.
#[derive(Default)]
struct Desk {
    state: TicketState,
    events: Vec<TicketEvent>,
}

impl Desk {
    fn opened(now: i64) -> Self {
        let mut desk = Self::default();
        desk.run(
            TicketCommand::Open(OpenTicket {
                ticket_id: TICKET,
                customer_id: JANE,
                subject: "Made-to-order desk and drawers".into(),
                front_line: SALES,
                standing: standing(),
            }),
            now,
        )
        .expect("opens");
        desk
    }

    fn promised(due: i64, now: i64) -> Self {
        let mut desk = Self::opened(0);
        desk.run(promise(due, None, false), now).expect("promises");
        desk
    }

    fn try_run(&self, command: TicketCommand, now: i64) -> Result<Vec<TicketEvent>, DomainError> {
        decide(&command, &self.state, t(now))
    }

    fn run(&mut self, command: TicketCommand, now: i64) -> Result<Vec<TicketEvent>, DomainError> {
        let events = self.try_run(command, now)?;
        self.state = events.iter().fold(self.state.clone(), evolve);
        self.events.extend(events.iter().cloned());
        Ok(events)
    }

    /// Feeds every signal the chain sent the ticket since the last call.
    fn observe(&mut self, chain: &mut Chain, now: i64) -> Vec<TicketEvent> {
        let mut events = Vec::new();
        for signal in std::mem::take(&mut chain.ticket_signals) {
            assert_eq!(signal.ticket(), Some(TICKET));
            events.extend(self.run(observe(signal.outlook), now).expect("observes"));
        }
        events
    }

    fn ticket(&self) -> &chain_domain::ticket::Ticket {
        self.state.ticket.as_ref().expect("opened")
    }
}

fn promise(due: i64, feasibility: Option<Feasibility>, acknowledge_risk: bool) -> TicketCommand {
    TicketCommand::MakePromise(MakePromise {
        due_at: t(due),
        kind: CommitmentKind::PersonalPromise,
        wording: "If we finish the design today, your desk is with you in two weeks".into(),
        acknowledge_risk,
        feasibility,
    })
}

fn observe(outlook: ChildOutlook) -> TicketCommand {
    TicketCommand::ObserveChain {
        outlook,
        standing: standing(),
    }
}

fn types(events: &[TicketEvent]) -> Vec<&'static str> {
    events.iter().map(DomainEvent::event_type).collect()
}

/// Two weeks, in hours.
const TWO_WEEKS: i64 = 14 * 24;

/// Sales asks Workshop for the desk (serving the ticket), Workshop asks Transport to deliver
/// it; both commit to the end of the two weeks. Transport commits to `transport_due`.
fn furniture_chain(transport_due: i64) -> (Chain, RequestId, RequestId) {
    let (sales_ws, ws_transport) = (request_id(1), request_id(2));
    let mut chain = Chain::default();
    chain.open(sales_ws, SALES, WORKSHOP, TWO_WEEKS, None, 0);
    chain.commit(sales_ws, TWO_WEEKS, 1);
    chain.open(
        ws_transport,
        WORKSHOP,
        TRANSPORT,
        TWO_WEEKS,
        Some(sales_ws),
        2,
    );
    chain.commit(ws_transport, transport_due, 3);
    (chain, sales_ws, ws_transport)
}

#[test]
fn the_furniture_story_ends_kept_after_renegotiation() {
    let (mut chain, sales_ws, ws_transport) = furniture_chain(TWO_WEEKS);
    let mut desk = Desk::opened(0);
    desk.observe(&mut chain, 3);

    // "Your desk in two weeks": the chain can do it, so the promise stands on its own.
    let feasibility = CaseView::from_events(chain.all_events(), t(4)).feasibility;
    assert_eq!(feasibility.as_ref().map(|f| f.earliest), Some(t(TWO_WEEKS)));
    let events = desk
        .run(promise(TWO_WEEKS, feasibility, false), 4)
        .expect("a feasible promise");
    assert_eq!(types(&events), vec!["PromiseMade"]);
    assert_eq!(
        next_deadline(&desk.state),
        Some((t(TWO_WEEKS), TicketDeadlineKind::PromiseBroken))
    );

    // Transport finds it will be three days late and revises its commitment.
    chain.revise(ws_transport, TWO_WEEKS + 72, 200);
    let events = desk.observe(&mut chain, 200);
    assert_eq!(types(&events), vec!["TicketChainObserved", "PromiseAtRisk"]);
    let TicketEvent::PromiseAtRisk {
        risk,
        standing: at_stake,
        due_at,
        ..
    } = &events[1]
    else {
        panic!("expected PromiseAtRisk, got {:?}", events[1]);
    };
    assert_eq!(
        *risk,
        PromiseRisk {
            root_cause: chain.link(ws_transport),
            cause_path: vec![chain.link(ws_transport), chain.link(sales_ws)],
            projected_completion: Some(t(TWO_WEEKS + 72)),
            projected_delay: Some(TimeDelta::days(3)),
        }
    );
    assert_eq!(risk.root_cause.provider, TRANSPORT);
    assert_eq!(*due_at, t(TWO_WEEKS));
    assert_eq!(*at_stake, standing());
    assert!(desk.ticket().is_at_risk());

    // Call her first, before the due time, and lend her a desk for her meeting.
    let events = desk
        .run(
            TicketCommand::NotifyCustomer {
                new_expected_at: t(TWO_WEEKS + 72),
                remedy: Remedy::LoanOrSubstitute,
            },
            201,
        )
        .expect("notifies");
    assert!(matches!(
        events[..],
        [TicketEvent::CustomerNotified {
            before_due: true,
            remedy: Remedy::LoanOrSubstitute,
            ..
        }]
    ));

    // She accepts: the promise moves to the new time, which the chain can keep.
    let events = desk
        .run(
            TicketCommand::RecordCustomerResponse { accepted: true },
            202,
        )
        .expect("records the answer");
    assert_eq!(
        types(&events),
        vec![
            "CustomerResponded",
            "PromiseRenegotiated",
            "PromiseRiskCleared"
        ]
    );
    assert!(!desk.ticket().is_at_risk());
    assert_eq!(
        next_deadline(&desk.state).map(|(at, _)| at),
        Some(t(TWO_WEEKS + 72))
    );

    // Transport and Workshop deliver by the new time.
    chain.fulfil(ws_transport, TWO_WEEKS + 60);
    chain.fulfil(sales_ws, TWO_WEEKS + 60);
    let events = desk.observe(&mut chain, TWO_WEEKS + 60);
    assert!(types(&events).iter().all(|t| *t == "TicketChainObserved"));

    let events = desk
        .run(TicketCommand::Resolve { delivered: true }, TWO_WEEKS + 70)
        .expect("resolves");
    assert_eq!(
        events,
        vec![TicketEvent::Resolved {
            ticket_id: TICKET,
            customer_id: JANE,
            delivered: true,
            outcome: PromiseOutcome::KeptAfterRenegotiation,
            due_at: t(TWO_WEEKS + 72),
            original_due: t(TWO_WEEKS),
            promised_at: t(4),
            late_by: None,
            notified_before_due: false,
            at: t(TWO_WEEKS + 70),
        }]
    );
    let ticket = desk.ticket();
    assert_eq!(
        ticket.status,
        TicketStatus::Resolved {
            outcome: PromiseOutcome::KeptAfterRenegotiation,
            at: t(TWO_WEEKS + 70)
        }
    );
    assert_eq!(ticket.notices.len(), 1);
    assert_eq!(ticket.renegotiations.len(), 1);
    assert_eq!(next_deadline(&desk.state), None);

    // Internally the Sales → Workshop request was late, and the ledger charges it to Transport.
    let view = CaseView::from_events(chain.all_events(), t(TWO_WEEKS + 70));
    assert_eq!(
        view.delay_attribution(sales_ws, t(TWO_WEEKS + 70)),
        vec![Charge {
            link: chain.link(ws_transport),
            time: TimeDelta::hours(60)
        }]
    );
}

#[test]
fn a_promise_earlier_than_the_chain_can_deliver_is_refused_naming_the_critical_link() {
    // Transport can only deliver four hours after the two weeks.
    let (mut chain, sales_ws, ws_transport) = furniture_chain(TWO_WEEKS + 4);
    let mut desk = Desk::opened(0);
    desk.observe(&mut chain, 3);
    let feasibility = CaseView::from_events(chain.all_events(), t(4)).feasibility;

    let err = desk
        .try_run(promise(TWO_WEEKS, feasibility.clone(), false), 4)
        .expect_err("infeasible");
    assert_eq!(
        err,
        DomainError::PromiseNotFeasible {
            due_at: t(TWO_WEEKS),
            earliest: t(TWO_WEEKS + 4),
            link: chain.link(ws_transport),
        }
    );
    let message = err.to_string();
    assert!(message.contains(&ws_transport.to_string()), "{message}");
    assert!(message.contains(&TRANSPORT.to_string()), "{message}");

    // Promising exactly the earliest feasible time is fine.
    desk.try_run(promise(TWO_WEEKS + 4, feasibility.clone(), false), 4)
        .expect("feasible");

    // Acknowledging the risk: accepted, the acknowledgement recorded, and at risk at once.
    let events = desk
        .run(promise(TWO_WEEKS, feasibility, true), 4)
        .expect("acknowledged");
    assert_eq!(types(&events), vec!["PromiseMade", "PromiseAtRisk"]);
    let TicketEvent::PromiseMade {
        risk_acknowledged: Some(ack),
        ..
    } = &events[0]
    else {
        panic!("expected an acknowledged PromiseMade, got {:?}", events[0]);
    };
    assert_eq!(ack.earliest_feasible, t(TWO_WEEKS + 4));
    assert_eq!(ack.bound_by, chain.link(ws_transport));
    assert_eq!(
        ack.critical_path,
        vec![chain.link(ws_transport), chain.link(sales_ws)]
    );
    let risk = desk.ticket().risk.clone().expect("at risk");
    assert_eq!(risk.root_cause, chain.link(ws_transport));
    assert_eq!(risk.projected_delay, Some(TimeDelta::hours(4)));
    assert_eq!(desk.ticket().risk_acknowledged.as_ref(), Some(ack));
}

#[test]
fn without_a_known_chain_any_future_promise_is_accepted() {
    let mut desk = Desk::opened(0);
    let events = desk.run(promise(10, None, false), 1).expect("accepted");
    assert!(matches!(
        events[..],
        [TicketEvent::PromiseMade {
            risk_acknowledged: None,
            ..
        }]
    ));
    // Field errors name the field.
    let desk = Desk::opened(0);
    let err = desk.try_run(promise(1, None, false), 1).expect_err("past");
    assert!(matches!(
        err,
        DomainError::InvalidField {
            field: "due_at",
            ..
        }
    ));
    let blank = TicketCommand::MakePromise(MakePromise {
        due_at: t(10),
        kind: CommitmentKind::OrganisationalCommitment,
        wording: "  ".into(),
        acknowledge_risk: false,
        feasibility: None,
    });
    assert!(matches!(
        desk.try_run(blank, 1),
        Err(DomainError::InvalidField {
            field: "wording",
            ..
        })
    ));
}

#[test]
fn a_breakdown_below_makes_the_promise_unprojectable_and_recovery_clears_it() {
    let (mut chain, sales_ws, ws_transport) = furniture_chain(TWO_WEEKS);
    let mut desk = Desk::promised(TWO_WEEKS, 3);
    desk.observe(&mut chain, 3);
    assert!(!desk.ticket().is_at_risk());

    chain.run(ws_transport, RequestCommand::MarkBreached, t(TWO_WEEKS));
    let events = desk.observe(&mut chain, TWO_WEEKS);
    assert_eq!(types(&events), vec!["TicketChainObserved", "PromiseAtRisk"]);
    let risk = desk.ticket().risk.clone().expect("at risk");
    assert_eq!(
        risk.cause_path,
        vec![chain.link(ws_transport), chain.link(sales_ws)]
    );
    assert_eq!(risk.projected_completion, None);
    assert_eq!(risk.projected_delay, None);
}

#[test]
fn recovery_of_the_chain_clears_the_risk() {
    let (mut chain, _, ws_transport) = furniture_chain(TWO_WEEKS);
    let mut desk = Desk::promised(TWO_WEEKS, 3);
    desk.observe(&mut chain, 3);
    chain.revise(ws_transport, TWO_WEEKS + 10, 100);
    desk.observe(&mut chain, 100);
    assert!(desk.ticket().is_at_risk());
    assert_eq!(desk.ticket().at_risk_since, Some(t(100)));
    chain.revise(ws_transport, TWO_WEEKS - 10, 110);
    let events = desk.observe(&mut chain, 110);
    assert_eq!(
        types(&events),
        vec!["TicketChainObserved", "PromiseRiskCleared"]
    );
    assert!(!desk.ticket().is_at_risk());
    assert_eq!(desk.ticket().at_risk_since, None);
}

/// Every outlook the ticket hears in a busier case: Workshop (with Transport under it) and
/// Paint both serve the ticket; Transport is late, then Paint, then Transport recovers.
fn busy_outlooks() -> Vec<ChildOutlook> {
    let (mut chain, _, ws_transport) = furniture_chain(TWO_WEEKS);
    let sales_paint = request_id(3);
    chain.open(sales_paint, SALES, PAINT, TWO_WEEKS, None, 4);
    chain.commit(sales_paint, TWO_WEEKS - 24, 5);
    chain.revise(ws_transport, TWO_WEEKS + 30, 50);
    chain.revise(sales_paint, TWO_WEEKS + 5, 60);
    chain.revise(ws_transport, TWO_WEEKS - 5, 70);
    chain
        .ticket_signals
        .into_iter()
        .map(|signal| signal.outlook)
        .collect()
}

fn observed_all(outlooks: &[ChildOutlook]) -> chain_domain::ticket::Ticket {
    let mut desk = Desk::promised(TWO_WEEKS, 6);
    for outlook in outlooks {
        desk.run(observe(outlook.clone()), 100).expect("observes");
    }
    desk.ticket().clone()
}

#[test]
fn the_busy_case_ends_at_risk_because_of_paint_alone() {
    let outlooks = busy_outlooks();
    assert!(outlooks.len() >= 6, "{}", outlooks.len());
    let ticket = observed_all(&outlooks);
    let risk = ticket.risk.expect("at risk");
    assert_eq!(risk.root_cause.provider, PAINT);
    assert_eq!(risk.cause_path.len(), 1);
    assert_eq!(risk.projected_delay, Some(TimeDelta::hours(5)));
    assert_eq!(ticket.chain.len(), 2);
}

#[test]
fn an_older_or_repeated_outlook_is_ignored() {
    let outlooks = busy_outlooks();
    let mut desk = Desk::promised(TWO_WEEKS, 6);
    for outlook in &outlooks {
        desk.run(observe(outlook.clone()), 100).expect("observes");
    }
    for outlook in &outlooks {
        let events = desk.try_run(observe(outlook.clone()), 101).expect("no-op");
        assert!(events.is_empty(), "{:?} was applied again", outlook.version);
    }
}

proptest! {
    /// Duplicated and reordered chain observations leave the same ticket.
    #[test]
    fn duplicates_and_reordering_leave_the_same_ticket(
        order in Just((0..12usize).collect::<Vec<_>>()).prop_shuffle(),
        repeats in proptest::collection::vec(0usize..12, 0..6),
    ) {
        let outlooks = busy_outlooks();
        let expected = observed_all(&outlooks);
        let mut shuffled: Vec<ChildOutlook> = order
            .iter()
            .chain(repeats.iter())
            .filter_map(|i| outlooks.get(*i).cloned())
            .collect();
        // Make sure every outlook is seen at least once.
        shuffled.extend(outlooks.iter().cloned());
        prop_assert_eq!(observed_all(&shuffled), expected);
    }
}

#[test]
fn observations_before_the_promise_count_once_it_is_made() {
    let (mut chain, _, ws_transport) = furniture_chain(TWO_WEEKS);
    chain.revise(ws_transport, TWO_WEEKS + 24, 10);
    let mut desk = Desk::opened(0);
    let events = desk.observe(&mut chain, 10);
    assert!(types(&events).iter().all(|t| *t == "TicketChainObserved"));
    let events = desk
        .run(promise(TWO_WEEKS, None, false), 11)
        .expect("no feasibility given");
    assert_eq!(types(&events), vec!["PromiseMade", "PromiseAtRisk"]);
}

#[test]
fn the_standing_recorded_is_the_latest_passed_in() {
    let (mut chain, _, ws_transport) = furniture_chain(TWO_WEEKS);
    let mut desk = Desk::promised(TWO_WEEKS, 3);
    desk.observe(&mut chain, 3);
    chain.revise(ws_transport, TWO_WEEKS + 24, 10);
    let signal = chain.ticket_signals.pop().expect("a signal");
    let now_tier_b = CustomerStanding {
        tier: Tier::B,
        value: Money::new(10, "EUR").expect("valid"),
    };
    let events = desk
        .run(
            TicketCommand::ObserveChain {
                outlook: signal.outlook,
                standing: now_tier_b,
            },
            10,
        )
        .expect("observes");
    assert!(matches!(
        &events[1],
        TicketEvent::PromiseAtRisk { standing, .. } if *standing == now_tier_b
    ));
}

#[test]
fn the_deadline_breaks_the_promise_once_at_its_due_time() {
    let mut desk = Desk::promised(48, 1);
    assert_eq!(
        desk.try_run(TicketCommand::MarkBroken, 47),
        Err(DomainError::DeadlineNotReached {
            command: "MarkPromiseBroken",
            deadline: t(48),
            now: t(47),
        })
    );
    // The watch was down; it catches up hours later, but the promise broke at 48.
    let events = desk.run(TicketCommand::MarkBroken, 60).expect("breaks");
    assert_eq!(
        events,
        vec![TicketEvent::PromiseBroken {
            ticket_id: TICKET,
            customer_id: JANE,
            due_at: t(48),
            notified_before_due: false,
            cause_path: vec![],
            at: t(48),
        }]
    );
    assert_eq!(events[0].occurred_at(), t(48));
    assert_eq!(desk.state.state_name(), "Broken");
    assert_eq!(next_deadline(&desk.state), None);
    // A second firing (another replica, a retry) does nothing.
    assert_eq!(desk.try_run(TicketCommand::MarkBroken, 61), Ok(vec![]));
}

#[test]
fn a_broken_promise_records_the_notice_and_the_cause() {
    let (mut chain, _, ws_transport) = furniture_chain(TWO_WEEKS);
    let mut desk = Desk::promised(TWO_WEEKS, 3);
    desk.observe(&mut chain, 3);
    chain.revise(ws_transport, TWO_WEEKS + 24, 10);
    desk.observe(&mut chain, 10);
    desk.run(
        TicketCommand::NotifyCustomer {
            new_expected_at: t(TWO_WEEKS + 24),
            remedy: Remedy::Credit,
        },
        11,
    )
    .expect("notifies");
    desk.run(
        TicketCommand::RecordCustomerResponse { accepted: false },
        12,
    )
    .expect("declined");
    assert_eq!(
        desk.ticket().promise.as_ref().map(|p| p.due_at),
        Some(t(TWO_WEEKS)),
        "a declined notice moves nothing"
    );
    let events = desk
        .run(TicketCommand::MarkBroken, TWO_WEEKS)
        .expect("breaks");
    let TicketEvent::PromiseBroken {
        notified_before_due,
        cause_path,
        ..
    } = &events[0]
    else {
        panic!("expected PromiseBroken, got {:?}", events[0]);
    };
    assert!(*notified_before_due);
    assert_eq!(cause_path.first(), Some(&chain.link(ws_transport)));
    assert!(matches!(
        &desk.ticket().status,
        TicketStatus::Broken { cause_path, .. } if cause_path.len() == 2
    ));
    // The chain no longer matters to a broken promise.
    chain.fulfil(ws_transport, TWO_WEEKS + 1);
    assert!(desk.observe(&mut chain, TWO_WEEKS + 1).is_empty());
}

#[test]
fn a_notice_after_the_due_time_is_not_in_time_and_cannot_renegotiate() {
    let mut desk = Desk::promised(48, 1);
    desk.run(TicketCommand::MarkBroken, 50).expect("breaks");
    let events = desk
        .run(
            TicketCommand::NotifyCustomer {
                new_expected_at: t(60),
                remedy: Remedy::None,
            },
            50,
        )
        .expect("an apology is still recorded");
    assert!(matches!(
        events[..],
        [TicketEvent::CustomerNotified {
            before_due: false,
            ..
        }]
    ));
    let events = desk
        .run(TicketCommand::RecordCustomerResponse { accepted: true }, 51)
        .expect("recorded");
    assert_eq!(types(&events), vec!["CustomerResponded"]);
    let events = desk
        .run(TicketCommand::Resolve { delivered: true }, 58)
        .expect("resolves");
    assert!(matches!(
        events[..],
        [TicketEvent::Resolved {
            outcome: PromiseOutcome::KeptLate,
            notified_before_due: false,
            ..
        }]
    ));
    let TicketEvent::Resolved { late_by, .. } = &events[0] else {
        unreachable!("matched above");
    };
    assert_eq!(*late_by, Some(TimeDelta::hours(10)));
}

#[test]
fn a_notice_made_before_the_due_time_but_in_the_past_is_refused() {
    let mut desk = Desk::promised(48, 1);
    let err = desk
        .try_run(
            TicketCommand::NotifyCustomer {
                new_expected_at: t(2),
                remedy: Remedy::PartialDelivery,
            },
            2,
        )
        .expect_err("not after now");
    assert!(matches!(
        err,
        DomainError::InvalidField {
            field: "new_expected_at",
            ..
        }
    ));
    // An accepted notice whose new time has passed meanwhile cannot renegotiate.
    desk.run(
        TicketCommand::NotifyCustomer {
            new_expected_at: t(10),
            remedy: Remedy::PartialDelivery,
        },
        2,
    )
    .expect("notifies");
    assert_eq!(
        desk.try_run(TicketCommand::RecordCustomerResponse { accepted: true }, 11),
        Err(DomainError::InvalidTransition {
            command: "RecordCustomerResponse",
            state: "NoticeExpired"
        })
    );
}

#[test]
fn a_response_needs_a_notice_awaiting_one() {
    let mut desk = Desk::promised(48, 1);
    let no_notice = Err(DomainError::InvalidTransition {
        command: "RecordCustomerResponse",
        state: "NoNoticePending",
    });
    assert_eq!(
        desk.try_run(TicketCommand::RecordCustomerResponse { accepted: true }, 2),
        no_notice
    );
    desk.run(
        TicketCommand::NotifyCustomer {
            new_expected_at: t(50),
            remedy: Remedy::None,
        },
        2,
    )
    .expect("notifies");
    desk.run(TicketCommand::RecordCustomerResponse { accepted: true }, 3)
        .expect("accepted");
    assert_eq!(
        desk.try_run(TicketCommand::RecordCustomerResponse { accepted: false }, 4),
        no_notice,
        "the notice was answered"
    );
}

#[test]
fn outcomes_are_derived_from_delivery_and_time() {
    // Delivered by the due time: kept.
    let mut desk = Desk::promised(48, 1);
    let events = desk
        .run(TicketCommand::Resolve { delivered: true }, 48)
        .expect("resolves");
    assert!(matches!(
        events[..],
        [TicketEvent::Resolved {
            outcome: PromiseOutcome::Kept,
            late_by: None,
            ..
        }]
    ));
    // Delivered after the due time, before the watch fired: kept late.
    let mut desk = Desk::promised(48, 1);
    let events = desk
        .run(TicketCommand::Resolve { delivered: true }, 50)
        .expect("resolves");
    assert!(matches!(
        events[..],
        [TicketEvent::Resolved {
            outcome: PromiseOutcome::KeptLate,
            late_by: Some(late),
            ..
        }] if late == TimeDelta::hours(2)
    ));
    // Not delivered: broken, whether or not the watch fired.
    for broke_first in [false, true] {
        let mut desk = Desk::promised(48, 1);
        if broke_first {
            desk.run(TicketCommand::MarkBroken, 48).expect("breaks");
        }
        let events = desk
            .run(TicketCommand::Resolve { delivered: false }, 49)
            .expect("resolves");
        assert!(matches!(
            events[..],
            [TicketEvent::Resolved {
                outcome: PromiseOutcome::Broken,
                late_by: None,
                ..
            }]
        ));
    }
    // Renegotiated, then late even for the new time: kept late.
    let mut desk = Desk::promised(48, 1);
    desk.run(
        TicketCommand::NotifyCustomer {
            new_expected_at: t(60),
            remedy: Remedy::None,
        },
        2,
    )
    .expect("notifies");
    desk.run(TicketCommand::RecordCustomerResponse { accepted: true }, 3)
        .expect("accepted");
    let events = desk
        .run(TicketCommand::Resolve { delivered: true }, 61)
        .expect("resolves");
    assert!(matches!(
        events[..],
        [TicketEvent::Resolved {
            outcome: PromiseOutcome::KeptLate,
            due_at,
            original_due,
            ..
        }] if due_at == t(60) && original_due == t(48)
    ));
}

#[test]
fn invalid_transitions_name_the_state() {
    let transition = |command: &'static str, state: &'static str| {
        Err::<Vec<TicketEvent>, _>(DomainError::InvalidTransition { command, state })
    };
    let none = Desk::default();
    assert_eq!(
        none.try_run(TicketCommand::MarkBroken, 1),
        transition("MarkPromiseBroken", "NotOpened")
    );
    let opened = Desk::opened(0);
    assert_eq!(
        opened.try_run(TicketCommand::Resolve { delivered: true }, 1),
        transition("ResolveTicket", "Opened")
    );
    assert_eq!(
        opened.try_run(
            TicketCommand::NotifyCustomer {
                new_expected_at: t(5),
                remedy: Remedy::None
            },
            1
        ),
        transition("NotifyCustomer", "Opened")
    );
    assert_eq!(
        opened.try_run(TicketCommand::MarkBroken, 1),
        transition("MarkPromiseBroken", "Opened")
    );
    let promised = Desk::promised(48, 1);
    assert_eq!(
        promised.try_run(promise(50, None, false), 2),
        transition("MakePromise", "Promised")
    );
    let mut resolved = Desk::promised(48, 1);
    resolved
        .run(TicketCommand::Resolve { delivered: true }, 2)
        .expect("resolves");
    assert_eq!(
        resolved.try_run(TicketCommand::Resolve { delivered: true }, 3),
        transition("ResolveTicket", "Resolved")
    );
    assert_eq!(
        resolved.try_run(TicketCommand::MarkBroken, 48),
        transition("MarkPromiseBroken", "Resolved")
    );
    assert_eq!(
        resolved.try_run(TicketCommand::RecordCustomerResponse { accepted: true }, 3),
        transition("RecordCustomerResponse", "Resolved")
    );
    // The chain no longer matters once resolved.
    let outlook = ChildOutlook {
        child: chain_domain::link::RequestLink {
            request_id: request_id(1),
            provider: WORKSHOP,
            consumer: SALES,
        },
        version: 9,
        condition: ChildCondition::Breached {
            at: t(3),
            cause_path: vec![],
        },
    };
    assert_eq!(resolved.try_run(observe(outlook), 3), Ok(vec![]));
    // Opening twice, or with a blank subject.
    assert!(matches!(
        opened.try_run(
            TicketCommand::Open(OpenTicket {
                ticket_id: TICKET,
                customer_id: JANE,
                subject: "again".into(),
                front_line: SALES,
                standing: standing(),
            }),
            1
        ),
        Err(DomainError::AlreadyExists { kind: "ticket", .. })
    ));
    assert!(matches!(
        none.try_run(
            TicketCommand::Open(OpenTicket {
                ticket_id: TICKET,
                customer_id: JANE,
                subject: " ".into(),
                front_line: SALES,
                standing: standing(),
            }),
            1
        ),
        Err(DomainError::InvalidField {
            field: "subject",
            ..
        })
    ));
}

#[test]
fn events_round_trip_with_stable_names() {
    let (mut chain, _, ws_transport) = furniture_chain(TWO_WEEKS);
    let mut desk = Desk::promised(TWO_WEEKS, 3);
    desk.observe(&mut chain, 3);
    chain.revise(ws_transport, TWO_WEEKS + 72, 200);
    desk.observe(&mut chain, 200);
    desk.run(
        TicketCommand::NotifyCustomer {
            new_expected_at: t(TWO_WEEKS + 72),
            remedy: Remedy::LoanOrSubstitute,
        },
        201,
    )
    .expect("notifies");
    desk.run(
        TicketCommand::RecordCustomerResponse { accepted: true },
        202,
    )
    .expect("accepted");
    desk.run(TicketCommand::Resolve { delivered: true }, TWO_WEEKS + 80)
        .expect("resolves");
    for event in &desk.events {
        let json = serde_json::to_value(event).expect("serializes");
        assert_eq!(json["type"], event.event_type());
        let back: TicketEvent = serde_json::from_value(json).expect("deserializes");
        assert_eq!(&back, event);
    }
    let at_risk = desk
        .events
        .iter()
        .find(|e| e.event_type() == "PromiseAtRisk")
        .expect("went at risk");
    let json = serde_json::to_value(at_risk).expect("serializes");
    assert_eq!(json["risk"]["projected_delay_ms"], 72 * 3_600_000);
    assert_eq!(json["standing"]["tier"], "A");
    let resolved = serde_json::to_value(desk.events.last().expect("resolved")).expect("json");
    assert_eq!(resolved["outcome"], "kept_late");
    assert_eq!(resolved["late_by_ms"], 8 * 3_600_000);
    // The state rebuilt from the stored events is the state decided along the way.
    assert_eq!(chain_domain::ticket::fold(&desk.events), desk.state);
}
