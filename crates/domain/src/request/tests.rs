//! Unit tests of the request rules: each transition, each wrong actor, revisions, breaches,
//! breakdowns, and a parent's risk from its children's outlooks.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;

use super::*;
use crate::commitment::CommitmentKind;
use crate::decider::DomainEvent;
use crate::error::DomainError;
use crate::ids::{CaseId, RequestId, TeamId, TicketId};
use crate::link::{RequestLink, Role};
use crate::propagation::{outlook, parent_signal};

const SALES: TeamId = TeamId::from_uuid(Uuid::from_u128(1));
const WORKSHOP: TeamId = TeamId::from_uuid(Uuid::from_u128(2));
const PROCUREMENT: TeamId = TeamId::from_uuid(Uuid::from_u128(3));
const STRANGER: TeamId = TeamId::from_uuid(Uuid::from_u128(99));
const TICKET: TicketId = TicketId::from_uuid(Uuid::from_u128(500));
const PARENT: RequestId = RequestId::from_uuid(Uuid::from_u128(100));
const CHILD: RequestId = RequestId::from_uuid(Uuid::from_u128(101));
const CHILD_2: RequestId = RequestId::from_uuid(Uuid::from_u128(102));

/// Hour `h` of the test week.
fn t(h: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .expect("a valid fixed time")
        + TimeDelta::hours(h)
}

fn open_cmd(id: RequestId, consumer: TeamId, provider: TeamId, needed_by: i64) -> OpenRequest {
    OpenRequest {
        request_id: id,
        case_id: CaseId::Ticket(TICKET),
        consumer,
        provider,
        title: "Build the desk".into(),
        needed_by: t(needed_by),
        parent: Some(Parent::Ticket(TICKET)),
    }
}

fn run(
    state: RequestState,
    command: RequestCommand,
    now: i64,
) -> (Vec<RequestEvent>, RequestState) {
    let events = decide(&command, &state, t(now)).expect("command accepted");
    let state = events.iter().fold(state, evolve);
    (events, state)
}

fn refuse(state: &RequestState, command: RequestCommand, now: i64) -> DomainError {
    decide(&command, state, t(now)).expect_err("command refused")
}

/// Workshop serves Sales, which serves the ticket: needed by hour 48.
fn opened() -> RequestState {
    run(
        RequestState::default(),
        RequestCommand::Open(open_cmd(PARENT, SALES, WORKSHOP, 48)),
        0,
    )
    .1
}

fn commit(actor: TeamId, due: i64) -> RequestCommand {
    RequestCommand::Commit {
        actor,
        due_at: t(due),
        kind: CommitmentKind::PersonalPromise,
    }
}

/// Committed at hour 1, due hour 40.
fn committed() -> RequestState {
    run(opened(), commit(WORKSHOP, 40), 1).1
}

fn revise(actor: TeamId, due: i64) -> RequestCommand {
    RequestCommand::Revise {
        actor,
        new_due_at: t(due),
        reason: "supplier late".into(),
    }
}

fn status(state: &RequestState) -> &'static str {
    state.state_name()
}

fn transition(command: &'static str, state: &'static str) -> DomainError {
    DomainError::InvalidTransition { command, state }
}

fn wrong(command: &'static str, expected: Role, actor: TeamId) -> DomainError {
    DomainError::WrongActor {
        command,
        expected,
        actor,
    }
}

fn field_of(err: &DomainError) -> &'static str {
    match err {
        DomainError::InvalidField { field, .. } => field,
        other => panic!("expected an invalid field, got {other}"),
    }
}

// ---- opening ----

#[test]
fn open_records_the_request() {
    let state = opened();
    let request = state.request.as_ref().expect("opened");
    assert_eq!(status(&state), "Opened");
    assert_eq!(request.expected_by(), t(48));
    assert_eq!(request.serves_ticket(), Some(TICKET));
    assert_eq!(request.projected_completion(), Some(t(48)));
    assert_eq!(state.version, 1);
}

#[test]
fn opening_twice_is_already_exists() {
    let err = refuse(
        &opened(),
        RequestCommand::Open(open_cmd(PARENT, SALES, WORKSHOP, 48)),
        0,
    );
    assert!(matches!(
        err,
        DomainError::AlreadyExists {
            kind: "request",
            ..
        }
    ));
}

#[test]
fn open_validates_each_field() {
    let empty = RequestState::default();
    let mut title = open_cmd(PARENT, SALES, WORKSHOP, 48);
    title.title = " ".into();
    assert_eq!(
        field_of(&refuse(&empty, RequestCommand::Open(title), 0)),
        "title"
    );
    let mut long = open_cmd(PARENT, SALES, WORKSHOP, 48);
    long.title = "x".repeat(201);
    assert_eq!(
        field_of(&refuse(&empty, RequestCommand::Open(long), 0)),
        "title"
    );
    let itself = open_cmd(PARENT, SALES, SALES, 48);
    assert_eq!(
        field_of(&refuse(&empty, RequestCommand::Open(itself), 0)),
        "provider"
    );
    let past = open_cmd(PARENT, SALES, WORKSHOP, 0);
    assert_eq!(
        field_of(&refuse(&empty, RequestCommand::Open(past), 0)),
        "needed_by"
    );
    let mut wrong_case = open_cmd(PARENT, SALES, WORKSHOP, 48);
    wrong_case.case_id = CaseId::Request(PARENT);
    assert_eq!(
        field_of(&refuse(&empty, RequestCommand::Open(wrong_case), 0)),
        "case_id"
    );
    let mut root = open_cmd(PARENT, SALES, WORKSHOP, 48);
    root.parent = None;
    assert_eq!(
        field_of(&refuse(&empty, RequestCommand::Open(root.clone()), 0)),
        "case_id"
    );
    root.case_id = CaseId::Request(PARENT);
    assert!(decide(&RequestCommand::Open(root), &empty, t(0)).is_ok());
    let mut own_parent = open_cmd(PARENT, SALES, WORKSHOP, 48);
    own_parent.parent = Some(Parent::Request(PARENT));
    assert_eq!(
        field_of(&refuse(&empty, RequestCommand::Open(own_parent), 0)),
        "parent"
    );
}

#[test]
fn commands_on_an_unopened_request_name_the_state() {
    let err = refuse(&RequestState::default(), commit(WORKSHOP, 40), 1);
    assert_eq!(err, transition("CommitRequest", "NotOpened"));
    let err = refuse(&RequestState::default(), RequestCommand::MarkBreached, 1);
    assert_eq!(err, transition("MarkBreached", "NotOpened"));
}

// ---- commit ----

#[test]
fn provider_commits() {
    let (events, state) = run(opened(), commit(WORKSHOP, 40), 1);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type(), "RequestCommitted");
    let request = state.request.as_ref().expect("opened");
    assert_eq!(status(&state), "Committed");
    let commitment = request.commitment.expect("committed");
    assert_eq!(commitment.due_at, t(40));
    assert_eq!(commitment.committed_at, t(1));
    assert_eq!(commitment.kind, CommitmentKind::PersonalPromise);
    assert_eq!(request.expected_by(), t(40));
}

#[test]
fn only_the_provider_commits() {
    assert_eq!(
        refuse(&opened(), commit(SALES, 40), 1),
        wrong("CommitRequest", Role::Provider, SALES)
    );
    assert_eq!(
        refuse(&opened(), commit(STRANGER, 40), 1),
        wrong("CommitRequest", Role::Provider, STRANGER)
    );
}

#[test]
fn committing_twice_is_an_invalid_transition() {
    assert_eq!(
        refuse(&committed(), commit(WORKSHOP, 30), 2),
        transition("CommitRequest", "Committed")
    );
}

#[test]
fn due_time_must_be_in_the_future() {
    assert_eq!(
        field_of(&refuse(&opened(), commit(WORKSHOP, 1), 1)),
        "due_at"
    );
}

#[test]
fn a_commitment_later_than_needed_is_accepted() {
    let (_, state) = run(opened(), commit(WORKSHOP, 60), 1);
    assert_eq!(state.request.and_then(|r| r.due_at()), Some(t(60)));
}

// ---- revise ----

#[test]
fn revising_before_the_due_time_is_proactive() {
    let (events, state) = run(committed(), revise(WORKSHOP, 50), 10);
    match &events[0] {
        RequestEvent::Revised {
            previous_due,
            new_due,
            proactive,
            ..
        } => {
            assert_eq!((*previous_due, *new_due), (t(40), t(50)));
            assert!(proactive);
        }
        other => panic!("expected a revision, got {other:?}"),
    }
    let request = state.request.as_ref().expect("opened");
    assert_eq!(status(&state), "Committed", "a revision is not a state");
    assert_eq!(request.due_at(), Some(t(50)));
    assert_eq!(request.revisions.len(), 1);
}

#[test]
fn revising_after_the_due_time_is_not_proactive() {
    let (events, _) = run(committed(), revise(WORKSHOP, 50), 41);
    assert!(matches!(
        events[0],
        RequestEvent::Revised {
            proactive: false,
            ..
        }
    ));
}

#[test]
fn revise_rules() {
    assert_eq!(
        refuse(&committed(), revise(SALES, 50), 10),
        wrong("ReviseRequest", Role::Provider, SALES)
    );
    assert_eq!(
        refuse(&opened(), revise(WORKSHOP, 50), 10),
        transition("ReviseRequest", "Opened")
    );
    assert_eq!(
        field_of(&refuse(&committed(), revise(WORKSHOP, 40), 10)),
        "new_due_at"
    );
    assert_eq!(
        field_of(&refuse(&committed(), revise(WORKSHOP, 5), 10)),
        "new_due_at"
    );
    let no_reason = RequestCommand::Revise {
        actor: WORKSHOP,
        new_due_at: t(50),
        reason: String::new(),
    };
    assert_eq!(field_of(&refuse(&committed(), no_reason, 10)), "reason");
}

// ---- fulfil ----

#[test]
fn provider_fulfils_on_time_or_late() {
    let (events, state) = run(committed(), RequestCommand::Fulfil { actor: WORKSHOP }, 30);
    assert!(matches!(
        events[0],
        RequestEvent::Fulfilled { on_time: true, .. }
    ));
    assert_eq!(status(&state), "Fulfilled");
    assert_eq!(state.request.and_then(|r| r.projected_completion()), None);
    let (events, _) = run(committed(), RequestCommand::Fulfil { actor: WORKSHOP }, 41);
    assert!(matches!(
        events[0],
        RequestEvent::Fulfilled { on_time: false, .. }
    ));
}

#[test]
fn fulfil_rules() {
    let fulfil = |actor| RequestCommand::Fulfil { actor };
    assert_eq!(
        refuse(&committed(), fulfil(SALES), 30),
        wrong("FulfilRequest", Role::Provider, SALES)
    );
    assert_eq!(
        refuse(&opened(), fulfil(WORKSHOP), 30),
        transition("FulfilRequest", "Opened")
    );
    let (_, done) = run(committed(), fulfil(WORKSHOP), 30);
    assert_eq!(
        refuse(&done, fulfil(WORKSHOP), 31),
        transition("FulfilRequest", "Fulfilled")
    );
}

// ---- cancel ----

fn cancel(actor: TeamId) -> RequestCommand {
    RequestCommand::Cancel {
        actor,
        reason: "no longer needed".into(),
    }
}

#[test]
fn consumer_cancels_from_opened_or_committed() {
    for state in [opened(), committed()] {
        let (events, state) = run(state, cancel(SALES), 5);
        assert_eq!(events[0].event_type(), "RequestCancelled");
        assert_eq!(status(&state), "Cancelled");
    }
}

#[test]
fn cancel_rules() {
    assert_eq!(
        refuse(&committed(), cancel(WORKSHOP), 5),
        wrong("CancelRequest", Role::Consumer, WORKSHOP)
    );
    let (_, done) = run(committed(), RequestCommand::Fulfil { actor: WORKSHOP }, 30);
    assert_eq!(
        refuse(&done, cancel(SALES), 31),
        transition("CancelRequest", "Fulfilled")
    );
    let (_, cancelled) = run(opened(), cancel(SALES), 5);
    assert_eq!(
        refuse(&cancelled, cancel(SALES), 6),
        transition("CancelRequest", "Cancelled")
    );
    let silent = RequestCommand::Cancel {
        actor: SALES,
        reason: "  ".into(),
    };
    assert_eq!(field_of(&refuse(&opened(), silent, 5)), "reason");
}

// ---- breakdowns ----

fn breakdown(actor: TeamId, kind: BreakdownKind) -> RequestCommand {
    RequestCommand::ReportBreakdown {
        actor,
        kind,
        reason: "legs don't fit".into(),
    }
}

#[test]
fn not_usable_needs_a_delivery() {
    assert_eq!(
        refuse(&committed(), breakdown(SALES, BreakdownKind::NotUsable), 5),
        transition("ReportBreakdown", "Committed")
    );
    let (_, done) = run(committed(), RequestCommand::Fulfil { actor: WORKSHOP }, 30);
    let (events, state) = run(done, breakdown(SALES, BreakdownKind::NotUsable), 31);
    assert_eq!(events[0].event_type(), "RequestBreakdownReported");
    let request = state.request.as_ref().expect("opened");
    assert_eq!(
        request.outstanding_breakdown().map(|b| b.kind),
        Some(BreakdownKind::NotUsable)
    );
    assert_eq!(status(&state), "Fulfilled", "a breakdown is not a state");
}

#[test]
fn not_served_well_is_allowed_until_cancelled() {
    let (_, state) = run(
        committed(),
        breakdown(SALES, BreakdownKind::NotServedWell),
        5,
    );
    assert!(
        state
            .request
            .as_ref()
            .is_some_and(|r| r.outstanding_breakdown().is_some())
    );
    let (_, cancelled) = run(opened(), cancel(SALES), 5);
    assert_eq!(
        refuse(
            &cancelled,
            breakdown(SALES, BreakdownKind::NotServedWell),
            6
        ),
        transition("ReportBreakdown", "Cancelled")
    );
}

#[test]
fn only_the_consumer_reports_or_resolves_a_breakdown() {
    assert_eq!(
        refuse(
            &committed(),
            breakdown(WORKSHOP, BreakdownKind::NotServedWell),
            5
        ),
        wrong("ReportBreakdown", Role::Consumer, WORKSHOP)
    );
    let (_, broken) = run(
        committed(),
        breakdown(SALES, BreakdownKind::NotServedWell),
        5,
    );
    assert_eq!(
        refuse(
            &broken,
            RequestCommand::ResolveBreakdown { actor: WORKSHOP },
            6
        ),
        wrong("ResolveBreakdown", Role::Consumer, WORKSHOP)
    );
    let (events, resolved) = run(broken, RequestCommand::ResolveBreakdown { actor: SALES }, 6);
    assert_eq!(events[0].event_type(), "RequestBreakdownResolved");
    assert!(
        resolved
            .request
            .as_ref()
            .is_some_and(|r| r.outstanding_breakdown().is_none())
    );
    assert_eq!(
        refuse(
            &resolved,
            RequestCommand::ResolveBreakdown { actor: SALES },
            7
        ),
        transition("ResolveBreakdown", "Committed")
    );
    let no_reason = RequestCommand::ReportBreakdown {
        actor: SALES,
        kind: BreakdownKind::NotServedWell,
        reason: String::new(),
    };
    assert_eq!(field_of(&refuse(&committed(), no_reason, 5)), "reason");
}

// ---- breach ----

#[test]
fn a_breach_waits_for_the_due_time() {
    let err = refuse(&committed(), RequestCommand::MarkBreached, 39);
    assert_eq!(
        err,
        DomainError::DeadlineNotReached {
            command: "MarkBreached",
            deadline: t(40),
            now: t(39)
        }
    );
    let (events, state) = run(committed(), RequestCommand::MarkBreached, 40);
    assert!(matches!(
        events[0],
        RequestEvent::Breached {
            committed: true,
            ..
        }
    ));
    assert_eq!(status(&state), "Breached");
    let (again, _) = run(state, RequestCommand::MarkBreached, 41);
    assert!(again.is_empty(), "a second firing is a no-op");
}

#[test]
fn an_unanswered_request_breaches_at_its_needed_by_time() {
    let (events, _) = run(opened(), RequestCommand::MarkBreached, 48);
    match &events[0] {
        RequestEvent::Breached {
            committed, due_at, ..
        } => {
            assert!(!committed);
            assert_eq!(*due_at, t(48));
        }
        other => panic!("expected a breach, got {other:?}"),
    }
}

#[test]
fn breach_after_delivery_or_cancel_is_an_invalid_transition() {
    let (_, done) = run(committed(), RequestCommand::Fulfil { actor: WORKSHOP }, 30);
    assert_eq!(
        refuse(&done, RequestCommand::MarkBreached, 41),
        transition("MarkBreached", "Fulfilled")
    );
    let (_, breached) = run(committed(), RequestCommand::MarkBreached, 40);
    assert_eq!(
        refuse(&breached, RequestCommand::Fulfil { actor: WORKSHOP }, 41),
        transition("FulfilRequest", "Breached")
    );
    assert_eq!(
        refuse(&breached, cancel(SALES), 41),
        transition("CancelRequest", "Breached")
    );
}

// ---- a parent's risk from its children ----

/// Procurement serves Workshop for PARENT (Workshop → Sales, due 40): a child request.
fn child_opened() -> RequestState {
    let mut open = open_cmd(CHILD, WORKSHOP, PROCUREMENT, 30);
    open.parent = Some(Parent::Request(PARENT));
    run(RequestState::default(), RequestCommand::Open(open), 2).1
}

/// Feeds the parent the child's outlook, as propagation would.
fn observe(
    parent: RequestState,
    child: &RequestState,
    now: i64,
) -> (Vec<RequestEvent>, RequestState) {
    let outlook = outlook(child).expect("child opened");
    run(parent, RequestCommand::ObserveChild(outlook), now)
}

fn child_link() -> RequestLink {
    RequestLink {
        request_id: CHILD,
        provider: PROCUREMENT,
        consumer: WORKSHOP,
    }
}

#[test]
fn a_child_committing_past_the_parent_due_puts_the_parent_at_risk() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 45), 3);
    let (events, parent) = observe(committed(), &child, 3);
    let types: Vec<_> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(types, ["RequestChildObserved", "RequestAtRisk"]);
    let request = parent.request.as_ref().expect("opened");
    let risk = request.risk.as_ref().expect("at risk");
    assert_eq!(risk.cause_path, vec![child_link()]);
    assert_eq!(risk.projected_completion, Some(t(45)));
    assert_eq!(risk.projected_delay, Some(TimeDelta::hours(5)));
    assert!(request.is_at_risk());
    assert_eq!(request.at_risk_since, Some(t(3)));
    assert_eq!(request.projected_completion(), Some(t(45)));
}

#[test]
fn a_child_within_the_parent_due_changes_nothing_but_the_record() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 30), 3);
    let (events, parent) = observe(committed(), &child, 3);
    assert_eq!(events.len(), 1);
    assert!(!parent.request.as_ref().is_some_and(Request::is_at_risk));
}

#[test]
fn a_stale_or_duplicate_outlook_is_ignored() {
    let (_, child_v2) = run(child_opened(), commit(PROCUREMENT, 45), 3);
    let (_, child_v3) = run(child_v2.clone(), revise(PROCUREMENT, 35), 4);
    let (_, parent) = observe(committed(), &child_v3, 4);
    assert!(!parent.request.as_ref().is_some_and(Request::is_at_risk));
    let dup = decide(
        &RequestCommand::ObserveChild(outlook(&child_v3).expect("opened")),
        &parent,
        t(5),
    )
    .expect("accepted");
    assert!(dup.is_empty(), "same version again");
    let stale = decide(
        &RequestCommand::ObserveChild(outlook(&child_v2).expect("opened")),
        &parent,
        t(5),
    )
    .expect("accepted");
    assert!(
        stale.is_empty(),
        "an older version must not undo a newer one"
    );
}

#[test]
fn recovery_clears_the_risk() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 45), 3);
    let (_, parent) = observe(committed(), &child, 3);
    let (_, child) = run(child, revise(PROCUREMENT, 38), 4);
    let (events, parent) = observe(parent, &child, 4);
    assert_eq!(
        events.last(),
        Some(&RequestEvent::RiskCleared {
            request_id: PARENT,
            parent: Some(Parent::Ticket(TICKET)),
            projected_completion: t(40),
            at: t(4),
        })
    );
    let request = parent.request.as_ref().expect("opened");
    assert!(request.risk.is_none() && request.at_risk_since.is_none());
}

#[test]
fn the_parent_revising_past_the_child_clears_its_own_risk() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 45), 3);
    let (_, parent) = observe(committed(), &child, 3);
    let (events, parent) = run(parent, revise(WORKSHOP, 46), 4);
    let types: Vec<_> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(types, ["RequestRevised", "RequestRiskCleared"]);
    assert!(!parent.request.as_ref().is_some_and(Request::is_at_risk));
}

#[test]
fn a_parent_committing_before_a_late_child_goes_at_risk() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 45), 3);
    let (events, parent) = observe(opened(), &child, 3);
    assert_eq!(events.len(), 1, "45 is within the parent's needed-by (48)");
    // The provider then commits to 40, before its child can deliver.
    let (events, _) = run(parent, commit(WORKSHOP, 40), 4);
    let types: Vec<_> = events.iter().map(DomainEvent::event_type).collect();
    assert_eq!(types, ["RequestCommitted", "RequestAtRisk"]);
}

#[test]
fn a_breached_child_makes_the_parent_at_risk_with_no_projection() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 30), 3);
    let (_, child) = run(child, RequestCommand::MarkBreached, 30);
    let (_, parent) = observe(committed(), &child, 30);
    let request = parent.request.as_ref().expect("opened");
    let risk = request.risk.as_ref().expect("at risk");
    assert_eq!(risk.cause_path, vec![child_link()]);
    assert_eq!(risk.projected_completion, None);
    assert_eq!(risk.projected_delay, None);
    assert_eq!(request.projected_completion(), None);
}

#[test]
fn a_broken_down_child_puts_the_parent_at_risk_until_resolved() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 30), 3);
    let (_, child) = run(child, RequestCommand::Fulfil { actor: PROCUREMENT }, 20);
    let (_, parent) = observe(committed(), &child, 20);
    assert!(!parent.request.as_ref().is_some_and(Request::is_at_risk));
    let (_, child) = run(child, breakdown(WORKSHOP, BreakdownKind::NotUsable), 21);
    let (_, parent) = observe(parent, &child, 21);
    assert!(parent.request.as_ref().is_some_and(Request::is_at_risk));
    let (_, child) = run(
        child,
        RequestCommand::ResolveBreakdown { actor: WORKSHOP },
        25,
    );
    let (events, parent) = observe(parent, &child, 25);
    assert_eq!(
        events.last().map(DomainEvent::event_type),
        Some("RequestRiskCleared")
    );
    assert!(!parent.request.as_ref().is_some_and(Request::is_at_risk));
}

#[test]
fn a_cancelled_child_no_longer_counts() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 45), 3);
    let (_, parent) = observe(committed(), &child, 3);
    let (_, child) = run(child, cancel(WORKSHOP), 4);
    let (events, parent) = observe(parent, &child, 4);
    assert_eq!(
        events.last().map(DomainEvent::event_type),
        Some("RequestRiskCleared")
    );
    assert!(!parent.request.as_ref().is_some_and(Request::is_at_risk));
}

#[test]
fn the_latest_of_two_late_children_gives_the_projection() {
    let (_, first) = run(child_opened(), commit(PROCUREMENT, 45), 3);
    let mut open = open_cmd(CHILD_2, WORKSHOP, SALES, 30);
    open.parent = Some(Parent::Request(PARENT));
    let (_, second) = run(RequestState::default(), RequestCommand::Open(open), 2);
    let (_, second) = run(second, commit(SALES, 47), 3);
    let (_, parent) = observe(committed(), &first, 3);
    let (events, parent) = observe(parent, &second, 3);
    assert_eq!(
        events.last().map(DomainEvent::event_type),
        Some("RequestAtRisk")
    );
    let risk = parent.request.and_then(|r| r.risk).expect("at risk");
    assert_eq!(risk.projected_completion, Some(t(47)));
    assert_eq!(risk.cause_path.last().map(|l| l.request_id), Some(CHILD_2));
}

#[test]
fn an_outlook_from_a_foreign_child_is_refused() {
    let mut foreign = outlook(&child_opened()).expect("opened");
    foreign.child.consumer = SALES;
    let err = refuse(&committed(), RequestCommand::ObserveChild(foreign), 3);
    assert_eq!(field_of(&err), "child");
}

#[test]
fn a_closed_parent_ignores_its_children() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 45), 3);
    let (_, done) = run(committed(), RequestCommand::Fulfil { actor: WORKSHOP }, 3);
    let events = decide(
        &RequestCommand::ObserveChild(outlook(&child).expect("opened")),
        &done,
        t(4),
    )
    .expect("accepted");
    assert!(events.is_empty());
}

#[test]
fn accepts_child_checks_the_asking_team() {
    let request = committed().request.expect("opened");
    assert!(request.accepts_child(WORKSHOP).is_ok());
    assert!(matches!(
        request.accepts_child(SALES),
        Err(DomainError::InvalidField {
            field: "parent",
            ..
        })
    ));
    let (_, done) = run(committed(), RequestCommand::Fulfil { actor: WORKSHOP }, 3);
    assert_eq!(
        done.request.expect("opened").accepts_child(WORKSHOP),
        Err(transition("OpenRequest", "Fulfilled"))
    );
}

// ---- signals ----

#[test]
fn every_lifecycle_event_signals_the_parent_but_child_observations_do_not() {
    let child = child_opened();
    let events = decide(&commit(PROCUREMENT, 45), &child, t(3)).expect("commits");
    let after = events.iter().fold(child, evolve);
    let signal = parent_signal(&after, &events).expect("a signal");
    assert_eq!(signal.parent, Parent::Request(PARENT));
    assert_eq!(signal.outlook.version, 2);
    assert_eq!(
        signal.outlook.condition,
        ChildCondition::Projected {
            completion: t(45),
            cause_path: vec![]
        }
    );
    let (observed, parent) = observe(committed(), &after, 3);
    assert!(parent_signal(&parent, &observed[..1]).is_none());
}

#[test]
fn a_ticket_parent_gets_a_signal_but_no_command() {
    let events = decide(&commit(WORKSHOP, 40), &opened(), t(1)).expect("commits");
    let after = events.iter().fold(opened(), evolve);
    let signal = parent_signal(&after, &events).expect("a signal");
    assert_eq!(signal.ticket(), Some(TICKET));
    assert!(signal.request_command().is_none());
}

// ---- events on the wire ----

#[test]
fn every_event_round_trips_through_json_with_its_type() {
    let (_, child) = run(child_opened(), commit(PROCUREMENT, 45), 3);
    let (observed, parent) = observe(committed(), &child, 3);
    let (cleared, _) = run(parent, revise(WORKSHOP, 46), 4);
    let mut events: Vec<RequestEvent> = Vec::new();
    events.extend(
        decide(
            &RequestCommand::Open(open_cmd(PARENT, SALES, WORKSHOP, 48)),
            &RequestState::default(),
            t(0),
        )
        .expect("opens"),
    );
    events.extend(run(opened(), commit(WORKSHOP, 40), 1).0);
    events.extend(observed);
    events.extend(cleared);
    events.extend(run(committed(), RequestCommand::Fulfil { actor: WORKSHOP }, 3).0);
    events.extend(run(committed(), cancel(SALES), 3).0);
    events.extend(run(committed(), RequestCommand::MarkBreached, 40).0);
    let (reported, broken) = run(
        committed(),
        breakdown(SALES, BreakdownKind::NotServedWell),
        3,
    );
    events.extend(reported);
    events.extend(run(broken, RequestCommand::ResolveBreakdown { actor: SALES }, 4).0);
    let mut seen = std::collections::BTreeSet::new();
    for event in &events {
        let json = serde_json::to_value(event).expect("serializes");
        assert_eq!(json["type"], event.event_type());
        assert_eq!(event.schema_version(), 1);
        let back: RequestEvent = serde_json::from_value(json).expect("deserializes");
        assert_eq!(&back, event);
        seen.insert(event.event_type());
    }
    assert_eq!(seen.len(), 11, "every event type is covered: {seen:?}");
}
