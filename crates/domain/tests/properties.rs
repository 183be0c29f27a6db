//! Properties over random command scripts: deciding and folding are deterministic, a request's
//! projected completion never precedes its own due time, and a ledger always accounts for the
//! whole span and the whole delay.

mod fixture;

use chain_domain::case::CaseView;
use chain_domain::commitment::CommitmentKind;
use chain_domain::ids::{CaseId, RequestId, TeamId};
use chain_domain::link::RequestLink;
use chain_domain::request::{
    BreakdownKind, ChildCondition, ChildOutlook, OpenRequest, Parent, RequestCommand, RequestEvent,
    RequestState, decide, evolve, fold,
};
use chrono::{DateTime, TimeDelta, Utc};
use fixture::*;
use proptest::prelude::*;

/// One scripted step: how far the clock moves, who acts, and what is asked.
#[derive(Debug, Clone)]
struct Step {
    advance_h: i64,
    actor: usize,
    op: Op,
}

#[derive(Debug, Clone)]
enum Op {
    Commit(i64),
    Revise(i64),
    Fulfil,
    Cancel,
    Breach,
    Breakdown(bool),
    Resolve,
    Observe {
        child: u128,
        condition: u8,
        offset_h: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (-5i64..100).prop_map(Op::Commit),
        (-5i64..100).prop_map(Op::Revise),
        Just(Op::Fulfil),
        Just(Op::Cancel),
        Just(Op::Breach),
        any::<bool>().prop_map(Op::Breakdown),
        Just(Op::Resolve),
        (0u128..3, 0u8..7, -50i64..150).prop_map(|(child, condition, offset_h)| Op::Observe {
            child,
            condition,
            offset_h
        }),
        (0u128..3, 0u8..7, -50i64..150).prop_map(|(child, condition, offset_h)| Op::Observe {
            child,
            condition,
            offset_h
        }),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (0i64..12, 0usize..3, op()).prop_map(|(advance_h, actor, op)| Step {
            advance_h,
            actor,
            op,
        }),
        0..40,
    )
}

const ROOT: RequestId = RequestId::from_uuid(uuid::Uuid::from_u128(77));

fn command(step: &Step, now: DateTime<Utc>, version: u64) -> RequestCommand {
    let actor: TeamId = [SALES, WORKSHOP, PAINT][step.actor];
    let at = |h: i64| now + TimeDelta::hours(h);
    match &step.op {
        Op::Commit(h) => RequestCommand::Commit {
            actor,
            due_at: at(*h),
            kind: CommitmentKind::PersonalPromise,
        },
        Op::Revise(h) => RequestCommand::Revise {
            actor,
            new_due_at: at(*h),
            reason: "moved".into(),
        },
        Op::Fulfil => RequestCommand::Fulfil { actor },
        Op::Cancel => RequestCommand::Cancel {
            actor,
            reason: "gone".into(),
        },
        Op::Breach => RequestCommand::MarkBreached,
        Op::Breakdown(usable) => RequestCommand::ReportBreakdown {
            actor,
            kind: if *usable {
                BreakdownKind::NotServedWell
            } else {
                BreakdownKind::NotUsable
            },
            reason: "broke".into(),
        },
        Op::Resolve => RequestCommand::ResolveBreakdown { actor },
        Op::Observe {
            child,
            condition,
            offset_h,
        } => {
            let link = RequestLink {
                request_id: request_id(100 + child),
                provider: PROCUREMENT,
                consumer: WORKSHOP,
            };
            let path = vec![RequestLink {
                request_id: request_id(200 + child),
                provider: FINANCE,
                consumer: PROCUREMENT,
            }];
            let condition = match condition {
                0 => ChildCondition::AwaitingCommitment,
                1 => ChildCondition::Projected {
                    completion: at(*offset_h),
                    cause_path: if offset_h % 2 == 0 { path } else { vec![] },
                },
                2 => ChildCondition::Unprojectable { cause_path: path },
                3 => ChildCondition::Breached {
                    at: now,
                    cause_path: vec![],
                },
                4 => ChildCondition::BrokenDown {
                    kind: BreakdownKind::NotUsable,
                    cause_path: vec![],
                },
                5 => ChildCondition::Fulfilled { at: now },
                _ => ChildCondition::Cancelled { at: now },
            };
            RequestCommand::ObserveChild(ChildOutlook {
                child: link,
                version,
                condition,
            })
        }
    }
}

/// Runs a script on a request Sales opened to Workshop; returns every accepted event and the
/// state after each step.
fn play(steps: &[Step]) -> (Vec<RequestEvent>, Vec<RequestState>) {
    let open = RequestCommand::Open(OpenRequest {
        request_id: ROOT,
        case_id: CaseId::Request(ROOT),
        consumer: SALES,
        provider: WORKSHOP,
        title: "desk".into(),
        needed_by: t(48),
        parent: None,
    });
    let mut events = decide(&open, &RequestState::default(), t(0)).expect("opens");
    let mut state = fold(&events);
    let mut states = vec![state.clone()];
    let mut now = t(0);
    for (i, step) in steps.iter().enumerate() {
        now += TimeDelta::hours(step.advance_h);
        let version = u64::try_from(i).expect("small") + 1;
        if let Ok(new) = decide(&command(step, now, version), &state, now) {
            state = new.iter().fold(state, evolve);
            events.extend(new);
        }
        states.push(state.clone());
    }
    (events, states)
}

proptest! {
    #[test]
    fn deciding_and_folding_are_deterministic(script in steps()) {
        let (events, states) = play(&script);
        let (again, _) = play(&script);
        prop_assert_eq!(&events, &again);
        let last = states.last().expect("at least the opening");
        prop_assert_eq!(&fold(&events), last);
        prop_assert_eq!(last.version, u64::try_from(events.len()).expect("small"));
        // Folding in two halves is folding once.
        let half = events.len() / 2;
        let resumed = events[half..].iter().fold(fold(&events[..half]), evolve);
        prop_assert_eq!(&resumed, last);
        // The stored form folds to the same state.
        let json = serde_json::to_string(&events).expect("serializes");
        let back: Vec<RequestEvent> = serde_json::from_str(&json).expect("deserializes");
        prop_assert_eq!(&fold(&back), last);
    }

    #[test]
    fn projected_completion_never_precedes_own_due(script in steps()) {
        let (events, states) = play(&script);
        for state in &states {
            let request = state.request.as_ref().expect("opened");
            if let Some(projected) = request.projected_completion() {
                prop_assert!(projected >= request.expected_by());
            }
            if let Some(delay) = request.risk.as_ref().and_then(|r| r.projected_delay) {
                prop_assert!(delay > TimeDelta::zero());
            }
            prop_assert!(request.risk.is_none() || request.is_open());
        }
        let view = CaseView::from_events(&events, t(500));
        for node in view.nodes.values() {
            if let Some(projected) = node.projected_completion {
                prop_assert!(projected >= node.request.expected_by());
            }
        }
    }

    #[test]
    fn a_ledger_accounts_for_the_whole_span_and_delay(
        needed in 2i64..100,
        children in prop::collection::vec((0i64..50, 1i64..40, prop::option::of(1i64..80)), 0..4),
        parent_done in prop::option::of(0i64..60),
    ) {
        let mut chain = Chain::default();
        let root = request_id(1);
        chain.open(root, SALES, WORKSHOP, needed, None, 0);
        chain.commit(root, needed, 1);
        let mut last = 1;
        for (i, (start, need, done)) in children.iter().enumerate() {
            let id = request_id(10 + u128::try_from(i).expect("small"));
            let opened = 2 + start;
            chain.open(id, WORKSHOP, PROCUREMENT, opened + need, Some(root), opened);
            chain.commit(id, opened + need, opened);
            last = last.max(opened);
            if let Some(after) = done {
                chain.fulfil(id, opened + after);
                last = last.max(opened + after);
            }
        }
        let end = parent_done.map(|extra| {
            chain.fulfil(root, last + 1 + extra);
            last + 1 + extra
        });
        let now = last + 100;
        let view = CaseView::from_events(chain.all_events(), t(now));
        let ledger = view.ledger(root, t(now)).expect("in the case");
        let end = end.unwrap_or(now);
        prop_assert_eq!(ledger.total(), TimeDelta::hours(end));
        for bucket in [ledger.awaiting_commitment, ledger.in_progress, ledger.waiting_on_children, ledger.hand_off] {
            prop_assert!(bucket >= TimeDelta::zero());
        }
        let waited: TimeDelta = ledger.waited_on.iter().map(|c| c.time).sum();
        prop_assert_eq!(waited, ledger.waiting_on_children);
        match ledger.delay {
            Some(delay) => {
                prop_assert_eq!(delay.late_by, TimeDelta::hours(end - needed));
                let charged: TimeDelta = delay.charges.iter().map(|c| c.time).sum();
                prop_assert_eq!(charged, delay.late_by);
                let attributed: TimeDelta =
                    view.delay_attribution(root, t(now)).iter().map(|c| c.time).sum();
                prop_assert_eq!(attributed, delay.late_by);
            }
            None => prop_assert!(end <= needed),
        }
        // The root's parent is no request: it is a root of its case.
        prop_assert_eq!(view.roots.clone(), vec![root]);
        prop_assert!(matches!(chain.request(root).parent, Some(Parent::Ticket(_))));
    }
}
