//! The happy lifecycle of one request through every command, seen through GetRequest,
//! ListRequests, WatchRequests (live and resumed) and ReadEvents.

use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chain_testkit::wait_until;
use chrono::TimeDelta;
use futures::StreamExt;
use tokio::time::timeout;

use crate::harness::*;

#[tokio::test]
async fn a_request_lives_through_every_command() {
    let h = Harness::start().await;
    let sales = team(&h, "Sales", true).await;
    let workshop = team(&h, "Workshop", false).await;
    link(&h, &workshop, &sales, 48).await;
    let as_sales = h.client(&sales).await;
    let as_workshop = h.client(&workshop).await;

    // A live watch from the start, for Workshop.
    let mut watch = as_workshop
        .clone()
        .watch_requests(pb::WatchRequestsRequest {
            team_id: workshop.clone(),
            after_position: String::new(),
            live_only: false,
        })
        .await
        .expect("watch")
        .into_inner();

    let ticket = uuid::Uuid::now_v7().to_string();
    let opened = open(
        &h,
        &sales,
        &workshop,
        TimeDelta::days(3),
        Some(pb::open_request_request::Parent::ParentTicketId(
            ticket.clone(),
        )),
    )
    .await;
    assert_eq!(opened.state(), pb::RequestState::Opened);
    assert_eq!(
        opened.case_id, ticket,
        "a request serving a ticket is in its case"
    );
    assert_eq!(opened.root_ticket_id, ticket);
    assert_eq!(opened.consumer_team_id, sales);
    let id = opened.request_id.clone();

    // No due time: the link's OLA (48 h) sets it.
    let committed = as_workshop
        .clone()
        .commit_request(pb::CommitRequestRequest {
            idempotency_key: key(),
            request_id: id.clone(),
            expected_version: 1,
            due_at: None,
            kind: pb::CommitmentKind::OrganisationalCommitment.into(),
        })
        .await
        .expect("committed")
        .into_inner();
    let commitment = committed.commitment.as_ref().expect("a commitment");
    let due = time(commitment.due_at.as_ref());
    let ola_due = chrono::Utc::now() + TimeDelta::hours(48);
    assert!((ola_due - due).abs() < TimeDelta::seconds(30), "{due}");

    let revised = as_workshop
        .clone()
        .revise_request(pb::ReviseRequestRequest {
            idempotency_key: key(),
            request_id: id.clone(),
            expected_version: 2,
            new_due_at: at(TimeDelta::hours(60)),
            reason: "the varnish needs a day more".into(),
        })
        .await
        .expect("revised")
        .into_inner();
    assert_eq!(revised.state(), pb::RequestState::Revised);
    assert!(
        revised.revisions[0].proactive,
        "announced before the due time"
    );

    let fulfilled = as_workshop
        .clone()
        .fulfil_request(pb::FulfilRequestRequest {
            idempotency_key: key(),
            request_id: id.clone(),
            expected_version: 3,
        })
        .await
        .expect("fulfilled")
        .into_inner();
    assert_eq!(fulfilled.state(), pb::RequestState::Fulfilled);
    assert!(fulfilled.closed_at.is_some());
    assert!(fulfilled.time_ledger.is_some());

    let broken = as_sales
        .clone()
        .report_breakdown(pb::ReportBreakdownRequest {
            idempotency_key: key(),
            request_id: id.clone(),
            expected_version: 0,
            kind: pb::BreakdownKind::NotUsable.into(),
            reason: "a leg is missing".into(),
        })
        .await
        .expect("reported")
        .into_inner();
    assert_eq!(broken.breakdowns.len(), 1);
    assert!(broken.breakdowns[0].resolved_at.is_none());
    let resolved = as_sales
        .clone()
        .resolve_breakdown(pb::ResolveBreakdownRequest {
            idempotency_key: key(),
            request_id: id.clone(),
            expected_version: 5,
        })
        .await
        .expect("resolved")
        .into_inner();
    assert!(resolved.breakdowns[0].resolved_at.is_some());
    assert_eq!(resolved.version, 6);

    // GetRequest folds the stream: exactly what the last command returned (but the ledger,
    // which is as of now).
    let got = as_sales
        .clone()
        .get_request(pb::GetRequestRequest {
            request_id: id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        pb::InternalRequest {
            time_ledger: None,
            ..got
        },
        pb::InternalRequest {
            time_ledger: None,
            ..resolved.clone()
        }
    );
    assert_eq!(
        h.event_types(&request_stream(&id)).await,
        [
            "RequestOpened",
            "RequestCommitted",
            "RequestRevised",
            "RequestFulfilled",
            "BreakdownReported",
            "RequestBreakdownResolved"
        ]
    );
    let stored = h.events(&request_stream(&id)).await;
    assert!(stored.iter().all(|e| e.metadata.correlation_id == ticket));
    assert_eq!(stored[1].metadata.actor, workshop);
    assert_eq!(stored[4].metadata.actor, sales);

    // The watch saw Workshop's team, its link and the request's events, in order.
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let next = timeout(Duration::from_secs(5), watch.next())
            .await
            .expect("the watch keeps up")
            .expect("the stream stays open")
            .expect("no error");
        seen.push(next.event.expect("an event"));
    }
    let types: Vec<String> = seen.iter().map(|e| short(&e.event_type)).collect();
    assert_eq!(
        types,
        [
            "TeamCreated",
            "LinkDeclared",
            "RequestOpened",
            "RequestCommitted",
            "RequestRevised",
            "RequestFulfilled",
            "BreakdownReported",
            "RequestBreakdownResolved"
        ]
    );
    assert!(
        seen.iter()
            .all(|e| e.aggregate_id != sales || e.aggregate_type != "team"),
        "Sales' own team events are not Workshop's"
    );

    // Resuming after the fourth event replays the rest only.
    let resumed: Vec<String> = as_workshop
        .clone()
        .watch_requests(pb::WatchRequestsRequest {
            team_id: workshop.clone(),
            after_position: seen[3].position.clone(),
            live_only: false,
        })
        .await
        .expect("watch")
        .into_inner()
        .take(4)
        .map(|r| short(&r.expect("an event").event.expect("event").event_type))
        .collect()
        .await;
    assert_eq!(resumed, types[4..].to_vec());

    // ListRequests (read model) shows it with its state, for either side.
    let listed = wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        async || {
            as_sales
                .clone()
                .list_requests(pb::ListRequestsRequest {
                    team_id: workshop.clone(),
                    role: pb::TeamRole::Provider.into(),
                    states: vec![pb::RequestState::Fulfilled.into()],
                    ..Default::default()
                })
                .await
                .is_ok_and(|r| {
                    r.get_ref().requests.len() == 1 && r.get_ref().requests[0].version == 6
                })
        },
    )
    .await;
    assert!(listed, "the fulfilled request is listed for its provider");
    let as_consumer_open = as_sales
        .clone()
        .list_requests(pb::ListRequestsRequest {
            team_id: sales.clone(),
            role: pb::TeamRole::Consumer.into(),
            states: vec![pb::RequestState::Opened.into()],
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(as_consumer_open.requests.is_empty(), "no open request");

    // ReadEvents returns the whole store in commit order (once no transaction runs); reading
    // the log is for services.
    h.settled().await;
    let as_scoring = h.client("scoring-svc").await;
    let read_all = async || -> Vec<pb::EventEnvelope> {
        as_scoring
            .clone()
            .read_events(pb::ReadEventsRequest::default())
            .await
            .expect("read")
            .into_inner()
            .map(|e| e.expect("an event"))
            .collect()
            .await
    };
    let total = h.event_count().await;
    let complete = wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        async || read_all().await.len() as i64 == total,
    )
    .await;
    assert!(complete, "ReadEvents returns every event");
    let all = read_all().await;
    let page: Vec<pb::EventEnvelope> = as_scoring
        .clone()
        .read_events(pb::ReadEventsRequest {
            after_position: all[1].position.clone(),
            limit: 2,
        })
        .await
        .expect("read")
        .into_inner()
        .map(|e| e.expect("an event"))
        .collect()
        .await;
    assert_eq!(page, all[2..4].to_vec());
}

#[tokio::test]
async fn list_requests_pages_at_risk_first_then_by_due_time() {
    let h = Harness::start().await;
    let sales = team(&h, "Sales", true).await;
    let workshop = team(&h, "Workshop", false).await;
    let paint = team(&h, "Paint", false).await;
    link(&h, &workshop, &sales, 48).await;
    link(&h, &paint, &workshop, 48).await;
    let mut ids = Vec::new();
    for hours in [30, 10, 20] {
        let r = open(&h, &sales, &workshop, TimeDelta::hours(hours), None).await;
        ids.push(r.request_id);
    }
    // The 30 h request goes at risk: Workshop asks Paint, which commits past it.
    let child = open(
        &h,
        &workshop,
        &paint,
        TimeDelta::hours(25),
        Some(pb::open_request_request::Parent::ParentRequestId(
            ids[0].clone(),
        )),
    )
    .await;
    commit(&h, &paint, &child.request_id, TimeDelta::hours(40)).await;
    let as_sales = h.client(&sales).await;
    h.eventually_request(&as_sales, &ids[0], 10, |r| r.at_risk)
        .await;

    let list = |token: String| pb::ListRequestsRequest {
        page_size: 2,
        page_token: token,
        team_id: sales.clone(),
        role: pb::TeamRole::Consumer.into(),
        ..Default::default()
    };
    let settled = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        async || {
            as_sales
                .clone()
                .list_requests(list(String::new()))
                .await
                .is_ok_and(|r| r.get_ref().requests.first().is_some_and(|r| r.at_risk))
        },
    )
    .await;
    assert!(settled, "the read model shows the risk");
    let first = as_sales
        .clone()
        .list_requests(list(String::new()))
        .await
        .expect("page 1")
        .into_inner();
    let second = as_sales
        .clone()
        .list_requests(list(first.next_page_token.clone()))
        .await
        .expect("page 2")
        .into_inner();
    let order: Vec<String> = first
        .requests
        .iter()
        .chain(&second.requests)
        .map(|r| r.request_id.clone())
        .collect();
    assert_eq!(order, [ids[0].clone(), ids[1].clone(), ids[2].clone()]);
    assert_eq!(second.next_page_token, "");
    let at_risk_only = as_sales
        .clone()
        .list_requests(pb::ListRequestsRequest {
            team_id: sales.clone(),
            at_risk_only: true,
            ..Default::default()
        })
        .await
        .expect("at risk")
        .into_inner();
    assert_eq!(at_risk_only.requests.len(), 1);
    let risk = at_risk_only.requests[0].risk.as_ref().expect("a risk");
    assert_eq!(risk.trigger(), pb::RiskTrigger::CommitmentLate);
}
