//! The chain Procurement → Workshop → Sales → ticket, end to end in the domain: propagation of
//! risk with the full cause path, recovery, the case view's critical path and feasibility, and
//! the ledger charging a delay to the link that caused it.

mod fixture;

use chain_domain::case::CaseView;
use chain_domain::ledger::Charge;
use chain_domain::request::{ChildCondition, Parent, RequestEvent};
use chrono::TimeDelta;
use fixture::*;

/// Sales asks Workshop (needed 72, due 60) for the ticket; Workshop asks Procurement
/// (needed 40, due 36).
fn chain() -> (
    Chain,
    chain_domain::ids::RequestId,
    chain_domain::ids::RequestId,
) {
    let (sales_ws, ws_proc) = (request_id(1), request_id(2));
    let mut chain = Chain::default();
    chain.open(sales_ws, SALES, WORKSHOP, 72, None, 0);
    chain.commit(sales_ws, 60, 1);
    chain.open(ws_proc, WORKSHOP, PROCUREMENT, 40, Some(sales_ws), 2);
    chain.commit(ws_proc, 36, 3);
    (chain, sales_ws, ws_proc)
}

#[test]
fn on_track_chain_has_no_risk() {
    let (chain, sales_ws, ws_proc) = chain();
    assert!(!chain.request(sales_ws).is_at_risk());
    assert!(!chain.request(ws_proc).is_at_risk());
    // The parent knows its child's promise.
    let known = &chain.request(sales_ws).children[&ws_proc];
    assert_eq!(
        known.condition,
        ChildCondition::Projected {
            completion: t(36),
            cause_path: vec![]
        }
    );
}

#[test]
fn a_revision_past_the_parent_due_climbs_to_the_ticket_with_the_full_cause_path() {
    let (mut chain, sales_ws, ws_proc) = chain();
    chain.ticket_signals.clear();
    let events = chain.revise(ws_proc, 66, 10);
    assert_eq!(
        trail(&events),
        vec![
            (ws_proc, "RequestRevised"),
            (sales_ws, "RequestChildObserved"),
            (sales_ws, "RequestAtRisk"),
        ]
    );
    assert!(matches!(
        events[0],
        RequestEvent::Revised {
            proactive: true,
            ..
        }
    ));

    // Workshop's commitment to Sales is at risk because of Procurement.
    let workshop = chain.request(sales_ws);
    let risk = workshop.risk.as_ref().expect("at risk");
    assert_eq!(risk.cause_path, vec![chain.link(ws_proc)]);
    assert_eq!(risk.projected_completion, Some(t(66)));
    assert_eq!(risk.projected_delay, Some(TimeDelta::hours(6)));
    // The event at the root carries the ticket, so the tickets service can act.
    match &events[2] {
        RequestEvent::AtRisk {
            parent, risk: r, ..
        } => {
            assert_eq!(*parent, Some(Parent::Ticket(TICKET)));
            assert_eq!(r, risk);
        }
        other => panic!("expected AtRisk, got {other:?}"),
    }
    // And the ticket hears the full path, root cause first.
    let signal = chain.ticket_signals.last().expect("the ticket was told");
    assert_eq!(signal.ticket(), Some(TICKET));
    assert_eq!(
        signal.outlook.full_path(),
        vec![chain.link(ws_proc), chain.link(sales_ws)]
    );
    assert_eq!(
        signal.outlook.condition,
        ChildCondition::Projected {
            completion: t(66),
            cause_path: vec![chain.link(ws_proc)]
        }
    );
}

#[test]
fn the_cause_path_climbs_every_level_root_cause_first() {
    let (mut chain, sales_ws, ws_proc) = chain();
    let proc_fin = request_id(3);
    chain.open(proc_fin, PROCUREMENT, FINANCE, 30, Some(ws_proc), 4);
    // Finance commits past Procurement's due (36) and past Workshop's (60).
    let events = chain.commit(proc_fin, 64, 5);
    assert_eq!(
        trail(&events),
        vec![
            (proc_fin, "RequestCommitted"),
            (ws_proc, "RequestChildObserved"),
            (ws_proc, "RequestAtRisk"),
            (sales_ws, "RequestChildObserved"),
            (sales_ws, "RequestAtRisk"),
        ]
    );
    let procurement = chain.request(ws_proc);
    assert_eq!(
        procurement.risk.as_ref().map(|r| r.cause_path.clone()),
        Some(vec![chain.link(proc_fin)])
    );
    let workshop = chain.request(sales_ws);
    let risk = workshop.risk.expect("at risk");
    assert_eq!(
        risk.cause_path,
        vec![chain.link(proc_fin), chain.link(ws_proc)]
    );
    assert_eq!(risk.projected_completion, Some(t(64)));
    assert_eq!(risk.projected_delay, Some(TimeDelta::hours(4)));
    let signal = chain.ticket_signals.last().expect("the ticket was told");
    assert_eq!(
        signal.outlook.full_path(),
        vec![
            chain.link(proc_fin),
            chain.link(ws_proc),
            chain.link(sales_ws)
        ]
    );
}

#[test]
fn a_breach_below_makes_the_chain_unprojectable() {
    let (mut chain, sales_ws, ws_proc) = chain();
    let events = chain.run(
        ws_proc,
        chain_domain::request::RequestCommand::MarkBreached,
        t(36),
    );
    assert_eq!(
        trail(&events),
        vec![
            (ws_proc, "RequestBreached"),
            (sales_ws, "RequestChildObserved"),
            (sales_ws, "RequestAtRisk"),
        ]
    );
    let risk = chain.request(sales_ws).risk.expect("at risk");
    assert_eq!(risk.cause_path, vec![chain.link(ws_proc)]);
    assert_eq!(risk.projected_completion, None);
}

#[test]
fn recovery_clears_the_risk_up_to_the_ticket() {
    let (mut chain, sales_ws, ws_proc) = chain();
    chain.revise(ws_proc, 66, 10);
    // Procurement delivers in time after all.
    let events = chain.fulfil(ws_proc, 50);
    assert_eq!(
        trail(&events),
        vec![
            (ws_proc, "RequestFulfilled"),
            (sales_ws, "RequestChildObserved"),
            (sales_ws, "RequestRiskCleared"),
        ]
    );
    assert!(!chain.request(sales_ws).is_at_risk());
    let signal = chain.ticket_signals.last().expect("the ticket was told");
    assert_eq!(
        signal.outlook.condition,
        ChildCondition::Projected {
            completion: t(60),
            cause_path: vec![]
        }
    );
}

#[test]
fn the_case_view_finds_projections_and_the_critical_path() {
    let (mut chain, sales_ws, ws_proc) = chain();
    // A second, on-time child: Paint serves Workshop by 50.
    let ws_paint = request_id(4);
    chain.open(ws_paint, WORKSHOP, PAINT, 55, Some(sales_ws), 2);
    chain.commit(ws_paint, 50, 3);
    chain.revise(ws_proc, 66, 10);

    let view = CaseView::from_events(chain.all_events(), t(11));
    assert_eq!(view.roots, vec![sales_ws]);
    let root = view.node(sales_ws).expect("in the case");
    assert_eq!(root.children, vec![ws_proc, ws_paint]);
    assert_eq!(root.projected_completion, Some(t(66)));
    assert_eq!(
        root.risk.as_ref().map(|r| r.cause_path.clone()),
        Some(vec![chain.link(ws_proc)])
    );
    // The tree agrees with what propagation recorded.
    assert_eq!(root.risk, chain.request(sales_ws).risk);
    let feasibility = view.feasibility.as_ref().expect("feasible");
    assert_eq!(feasibility.earliest, t(66));
    assert_eq!(feasibility.bound_by, chain.link(ws_proc));
    assert_eq!(
        view.critical_path(),
        &[chain.link(ws_proc), chain.link(sales_ws)]
    );
    assert!(view.node(ws_proc).is_some_and(|n| n.on_critical_path));
    assert!(view.node(ws_paint).is_some_and(|n| !n.on_critical_path));

    // Once Procurement recovers to 45, Workshop's own due (60) bounds the case.
    chain.revise(ws_proc, 45, 12);
    let view = CaseView::from_events(chain.all_events(), t(13));
    let feasibility = view.feasibility.expect("feasible");
    assert_eq!(feasibility.earliest, t(60));
    assert_eq!(feasibility.bound_by, chain.link(sales_ws));
    assert_eq!(feasibility.critical_path, vec![chain.link(sales_ws)]);
}

#[test]
fn feasibility_counts_now_for_what_is_overdue() {
    let (mut chain, sales_ws, ws_proc) = chain();
    chain.run(
        ws_proc,
        chain_domain::request::RequestCommand::MarkBreached,
        t(36),
    );
    // At hour 70 Procurement still hasn't delivered: nothing can finish before now.
    let view = CaseView::from_events(chain.all_events(), t(70));
    let feasibility = view.feasibility.as_ref().expect("feasible");
    assert_eq!(feasibility.earliest, t(70));
    assert_eq!(
        view.node(sales_ws).and_then(|n| n.projected_completion),
        None
    );
}

#[test]
fn the_ledger_charges_the_delay_to_the_late_link() {
    let (sales_ws, ws_proc) = (request_id(1), request_id(2));
    let mut chain = Chain::default();
    chain.open(sales_ws, SALES, WORKSHOP, 60, None, 0);
    chain.commit(sales_ws, 60, 2);
    chain.open(ws_proc, WORKSHOP, PROCUREMENT, 20, Some(sales_ws), 4);
    chain.commit(ws_proc, 20, 6);
    chain.fulfil(ws_proc, 30); // 10 h after Workshop needed it
    chain.revise(sales_ws, 70, 34); // Workshop's next step: the work sat 4 h in hand-off
    chain.fulfil(sales_ws, 70); // 10 h after Sales needed it

    let view = CaseView::from_events(chain.all_events(), t(80));
    let ledger = view.ledger(sales_ws, t(80)).expect("in the case");
    assert_eq!(ledger.awaiting_commitment, TimeDelta::hours(2));
    assert_eq!(ledger.waiting_on_children, TimeDelta::hours(26));
    assert_eq!(ledger.hand_off, TimeDelta::hours(4));
    assert_eq!(ledger.in_progress, TimeDelta::hours(38));
    assert_eq!(ledger.total(), TimeDelta::hours(70));
    assert_eq!(
        ledger.waited_on,
        vec![Charge {
            link: chain.link(ws_proc),
            time: TimeDelta::hours(26)
        }]
    );
    let delay = ledger.delay.expect("late");
    assert_eq!(delay.late_by, TimeDelta::hours(10));
    // Workshop finished last, but the 10 h are Procurement's.
    assert_eq!(
        delay.charges,
        vec![Charge {
            link: chain.link(ws_proc),
            time: TimeDelta::hours(10)
        }]
    );
    let procurement = view.ledger(ws_proc, t(80)).expect("in the case");
    assert_eq!(procurement.awaiting_commitment, TimeDelta::hours(2));
    assert_eq!(procurement.in_progress, TimeDelta::hours(24));
    assert_eq!(
        procurement.delay.map(|d| d.charges),
        Some(vec![Charge {
            link: chain.link(ws_proc),
            time: TimeDelta::hours(10)
        }])
    );
}

#[test]
fn the_ledger_charges_the_own_link_when_children_were_on_time() {
    let (sales_ws, ws_proc) = (request_id(1), request_id(2));
    let mut chain = Chain::default();
    chain.open(sales_ws, SALES, WORKSHOP, 60, None, 0);
    chain.commit(sales_ws, 60, 2);
    chain.open(ws_proc, WORKSHOP, PROCUREMENT, 20, Some(sales_ws), 4);
    chain.commit(ws_proc, 20, 6);
    chain.fulfil(ws_proc, 18);
    chain.fulfil(sales_ws, 70);
    let view = CaseView::from_events(chain.all_events(), t(80));
    let delay = view
        .ledger(sales_ws, t(80))
        .and_then(|l| l.delay)
        .expect("late");
    assert_eq!(
        delay.charges,
        vec![Charge {
            link: chain.link(sales_ws),
            time: TimeDelta::hours(10)
        }]
    );
    assert!(view.delay_attribution(ws_proc, t(80)).is_empty(), "on time");
}

#[test]
fn a_delay_is_attributed_down_to_the_root_cause() {
    let (sales_ws, ws_proc, proc_fin) = (request_id(1), request_id(2), request_id(3));
    let mut chain = Chain::default();
    chain.open(sales_ws, SALES, WORKSHOP, 60, None, 0);
    chain.commit(sales_ws, 60, 1);
    chain.open(ws_proc, WORKSHOP, PROCUREMENT, 20, Some(sales_ws), 2);
    chain.commit(ws_proc, 20, 3);
    chain.open(proc_fin, PROCUREMENT, FINANCE, 10, Some(ws_proc), 4);
    chain.commit(proc_fin, 10, 5);
    chain.fulfil(proc_fin, 16); // 6 h late
    chain.fulfil(ws_proc, 26); // 6 h late, all of it waiting on Finance
    chain.fulfil(sales_ws, 66); // 6 h late, all of it waiting on Procurement
    let view = CaseView::from_events(chain.all_events(), t(80));
    assert_eq!(
        view.delay_attribution(sales_ws, t(80)),
        vec![Charge {
            link: chain.link(proc_fin),
            time: TimeDelta::hours(6)
        }]
    );
}
