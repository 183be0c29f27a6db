//! The furniture story from seed 002, end to end: a desk promised in two weeks; the
//! transport link revises its commitment three days late; the ticket goes at risk naming the
//! transport link as the root cause; the customer is told before the due time and offered a
//! loan desk; she accepts; the desk comes by the new time: kept after renegotiation.

use chain_store::StreamId;
use chrono::TimeDelta;

use crate::harness::*;

#[tokio::test]
async fn the_desk_is_kept_after_renegotiation() {
    let harness = Harness::start().await;
    let (sales, workshop, transport) = (team(), team(), team());
    let front = harness.client(&sales).await;
    let jane = customer(&front, "Jane Doe", 2_500_000).await;
    let desk = ticket(&front, &jane.customer_id, "Made-to-order desk and drawers").await;
    assert_eq!(desk.state(), pb::TicketState::Open);
    assert_eq!(desk.front_line_team_id, sales);
    assert_eq!(
        desk.tier(),
        pb::CustomerTier::A,
        "a lone customer carries all the value"
    );

    // Sales asks the workshop for the desk, the workshop asks transport to deliver it; both
    // commit to the end of the two weeks.
    let now = chain_rpc::clock::now();
    let two_weeks = now + TimeDelta::days(14);
    let mut chain = harness.chain();
    let build = chain
        .open(&desk.ticket_id, &sales, &workshop, two_weeks, None)
        .await;
    chain.commit(build, two_weeks).await;
    let deliver = chain
        .open(
            &desk.ticket_id,
            &workshop,
            &transport,
            two_weeks,
            Some(build),
        )
        .await;
    chain.commit(deliver, two_weeks).await;
    let known = harness
        .eventually_ticket(&front, &desk.ticket_id, 10, |t| {
            t.chain_projected_completion.is_some()
                && t.critical_link
                    .as_ref()
                    .is_some_and(|l| l.request_id == build.to_string())
        })
        .await;
    assert_eq!(time(known.chain_projected_completion.as_ref()), two_weeks);

    // Both links finish in two weeks, so the workshop's own commitment bounds the case.
    // "Your desk in two weeks": the chain can do it.
    let promised = front
        .clone()
        .make_promise(promise(&desk.ticket_id, two_weeks, false))
        .await
        .expect("a feasible promise")
        .into_inner();
    assert_eq!(promised.state(), pb::TicketState::Promised);
    let first = promised.promise.clone().expect("a promise in force");
    assert_eq!(first.promise_number, 1);
    assert!(!first.risk_acknowledged);
    assert_eq!(time(first.due_at.as_ref()), two_weeks);

    // Transport finds it will be three days late and revises its commitment.
    let three_days_late = two_weeks + TimeDelta::days(3);
    chain.revise(deliver, three_days_late).await;
    let at_risk = harness
        .eventually_ticket(&front, &desk.ticket_id, 10, |t| {
            t.state() == pb::TicketState::AtRisk
        })
        .await;
    let risk = at_risk.risk.clone().expect("the risk is explained");
    let root = risk.root_cause.clone().expect("a root cause");
    assert_eq!(root.request_id, deliver.to_string(), "the transport link");
    assert_eq!(root.provider_team_id, transport);
    assert_eq!(root.consumer_team_id, workshop);
    let path: Vec<String> = risk
        .path
        .as_ref()
        .expect("a path")
        .links
        .iter()
        .map(|l| l.request_id.clone())
        .collect();
    assert_eq!(path, vec![deliver.to_string(), build.to_string()]);
    assert_eq!(time(risk.projected_completion.as_ref()), three_days_late);
    assert_eq!(
        risk.projected_delay,
        chain_proto::duration::from_chrono(TimeDelta::days(3)).ok()
    );
    assert_eq!(risk.trigger(), pb::RiskTrigger::Revised);
    assert_eq!(at_risk.tier(), pb::CustomerTier::A);
    assert_eq!(at_risk.value_at_stake, eur(2_500_000));

    // The reaction is correlated with the ticket and caused by transport's revision.
    let stream = StreamId::new("ticket", desk.ticket_id.clone());
    let events = harness.events(&stream).await;
    let reaction = events
        .iter()
        .find(|e| short(&e.event_type) == "PromiseAtRisk")
        .expect("a PromiseAtRisk");
    assert_eq!(reaction.metadata.correlation_id, desk.ticket_id);
    assert_eq!(reaction.metadata.actor, "tickets-svc");
    let revision = chain
        .envelopes
        .iter()
        .rfind(|e| short(&e.event_type) == "RequestRevised")
        .expect("the revision");
    assert_eq!(reaction.metadata.causation_id, revision.event_id);

    // Call her first, before the due time, and lend her a desk for her meeting.
    let notified = front
        .clone()
        .notify_customer(pb::NotifyCustomerRequest {
            idempotency_key: key(),
            ticket_id: desk.ticket_id.clone(),
            expected_version: 0,
            new_expected_at: stamp(three_days_late),
            remedy: Some(pb::Remedy {
                kind: pb::RemedyKind::LoanOrSubstitute.into(),
                description: "A loan desk for the meeting on Friday".into(),
                credit: None,
            }),
            message: "Your desk will be three days late; we are sorry".into(),
        })
        .await
        .expect("NotifyCustomer")
        .into_inner();
    let notice = notified.notices.last().expect("a notice");
    assert!(notice.before_due, "told before the due time");
    assert_eq!(
        notice.remedy.as_ref().map(pb::Remedy::kind),
        Some(pb::RemedyKind::LoanOrSubstitute)
    );
    assert_eq!(
        notice.remedy.as_ref().map(|r| r.description.as_str()),
        Some("A loan desk for the meeting on Friday")
    );
    assert_eq!(notice.response(), pb::NoticeResponse::Unspecified);

    // She accepts: the promise moves to the new time, which the chain can keep.
    let accepted = front
        .clone()
        .record_customer_response(pb::RecordCustomerResponseRequest {
            idempotency_key: key(),
            ticket_id: desk.ticket_id.clone(),
            expected_version: 0,
            accepted: true,
            note: "Fine, the loan desk will do".into(),
        })
        .await
        .expect("RecordCustomerResponse")
        .into_inner();
    assert_eq!(
        accepted.state(),
        pb::TicketState::Promised,
        "no longer at risk"
    );
    assert!(accepted.risk.is_none());
    let renegotiated = accepted.promise.clone().expect("a promise in force");
    assert_eq!(renegotiated.promise_number, 2);
    assert_eq!(time(renegotiated.due_at.as_ref()), three_days_late);
    assert_eq!(accepted.promise_history.len(), 2);
    assert!(accepted.promise_history[0].superseded);
    let answered = accepted.notices.last().expect("the notice");
    assert_eq!(answered.response(), pb::NoticeResponse::Accepted);
    assert_eq!(answered.response_note, "Fine, the loan desk will do");

    // Transport delivers, the workshop builds, the desk is handed over in time.
    chain.fulfil(deliver).await;
    chain.fulfil(build).await;
    let resolved = front
        .clone()
        .resolve_ticket(pb::ResolveTicketRequest {
            idempotency_key: key(),
            ticket_id: desk.ticket_id.clone(),
            expected_version: 0,
            delivered: true,
        })
        .await
        .expect("ResolveTicket")
        .into_inner();
    assert_eq!(resolved.state(), pb::TicketState::Resolved);
    assert_eq!(
        resolved.outcome(),
        pb::PromiseOutcome::KeptAfterRenegotiation
    );
    assert!(resolved.resolved_at.is_some());

    let types = harness.event_types(&stream).await;
    for expected in [
        "TicketOpened",
        "TicketChainObserved",
        "PromiseMade",
        "PromiseAtRisk",
        "CustomerNotified",
        "CustomerResponded",
        "PromiseRenegotiated",
        "PromiseRiskCleared",
        "TicketResolved",
    ] {
        assert!(
            types.contains(&expected.to_owned()),
            "{expected} in {types:?}"
        );
    }

    // The read model follows, and the deadline went with the resolution.
    harness.settled().await;
    let listed = front
        .clone()
        .list_tickets(pb::ListTicketsRequest::default())
        .await
        .expect("ListTickets")
        .into_inner();
    assert_eq!(listed.tickets.len(), 1);
    assert_eq!(listed.tickets[0].state(), pb::TicketState::Resolved);
    let deadlines: i64 = sqlx::query_scalar("SELECT count(*) FROM deadlines")
        .fetch_one(&harness.pool)
        .await
        .expect("count");
    assert_eq!(deadlines, 0);
}

use chain_proto::customerchain::v1 as pb;
