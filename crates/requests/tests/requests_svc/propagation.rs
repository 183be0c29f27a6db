//! Propagation along a real chain, Finance → Procurement → Workshop → Sales → external
//! ticket, through the relay, NATS and the projector: a revision past the due times above
//! puts Workshop's and Sales' requests at risk with the full cause path (visible through
//! GetRequest and GetCase, and published on NATS in order with correlation and causation
//! ids), a delivery in time after all clears the risk up to the ticket, and Procurement's own
//! revision past Workshop's due time puts Sales' request at risk again.

use std::time::Duration;

use chain_bus::decode_envelope;
use chain_proto::customerchain::v1 as pb;
use chain_testkit::wait_until;
use chrono::TimeDelta;
use uuid::Uuid;

use crate::harness::*;

fn path_ids(risk: Option<&pb::Risk>) -> Vec<String> {
    risk.and_then(|r| r.cause_path.as_ref())
        .map(|p| p.links.iter().map(|l| l.request_id.clone()).collect())
        .unwrap_or_default()
}

/// Every envelope the relay published on the service's stream, in stream order.
async fn published(h: &Harness) -> Vec<pb::EventEnvelope> {
    let stream =
        h.js.get_stream(h.layout.stream_name(chain_requests::SERVICE))
            .await
            .expect("the stream");
    let expected = h.event_count().await;
    let mut envelopes = Vec::new();
    let mut sequence = 1;
    while (envelopes.len() as i64) < expected {
        match stream.get_raw_message(sequence).await {
            Ok(message) => {
                envelopes.push(decode_envelope(&message.payload).expect("an envelope"));
                sequence += 1;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    envelopes
}

#[tokio::test]
async fn a_revision_deep_in_the_chain_puts_every_request_above_at_risk() {
    let h = Harness::start().await;
    let sales = team(&h, "Sales", true).await;
    let workshop = team(&h, "Workshop", false).await;
    let procurement = team(&h, "Procurement", false).await;
    let finance = team(&h, "Finance", false).await;
    link(&h, &workshop, &sales, 72).await;
    link(&h, &procurement, &workshop, 48).await;
    link(&h, &finance, &procurement, 24).await;
    let ticket = Uuid::now_v7().to_string();

    // Sales asks Workshop for the ticket (due 60 h); Workshop asks Procurement (due 36 h);
    // Procurement asks Finance (due 30 h).
    let sales_request = open(
        &h,
        &sales,
        &workshop,
        TimeDelta::hours(72),
        Some(pb::open_request_request::Parent::ParentTicketId(
            ticket.clone(),
        )),
    )
    .await
    .request_id;
    commit(&h, &workshop, &sales_request, TimeDelta::hours(60)).await;
    let workshop_request = open(
        &h,
        &workshop,
        &procurement,
        TimeDelta::hours(40),
        Some(pb::open_request_request::Parent::ParentRequestId(
            sales_request.clone(),
        )),
    )
    .await;
    assert_eq!(workshop_request.case_id, ticket, "the child joins the case");
    let workshop_request = workshop_request.request_id;
    commit(&h, &procurement, &workshop_request, TimeDelta::hours(36)).await;
    let procurement_request = open(
        &h,
        &procurement,
        &finance,
        TimeDelta::hours(30),
        Some(pb::open_request_request::Parent::ParentRequestId(
            workshop_request.clone(),
        )),
    )
    .await
    .request_id;
    commit(&h, &finance, &procurement_request, TimeDelta::hours(30)).await;

    // The whole tree is known to each parent, and nothing is at risk.
    let as_sales = h.client(&sales).await;
    h.eventually_request(&as_sales, &workshop_request, 10, |r| {
        r.child_request_ids == vec![procurement_request.clone()]
    })
    .await;
    let calm = h
        .eventually_request(&as_sales, &sales_request, 10, |r| {
            r.child_request_ids == vec![workshop_request.clone()]
        })
        .await;
    assert!(!calm.at_risk);
    h.settled().await;
    let before = h.event_count().await;

    // Finance announces 64 h: past Procurement's 36 h and past Workshop's 60 h.
    let revised = h
        .client(&finance)
        .await
        .revise_request(pb::ReviseRequestRequest {
            idempotency_key: key(),
            request_id: procurement_request.clone(),
            expected_version: 0,
            new_due_at: at(TimeDelta::hours(64)),
            reason: "the bank transfer is delayed".into(),
        })
        .await
        .expect("revised")
        .into_inner();
    assert!(
        !revised.at_risk,
        "the revised request itself is late, not at risk"
    );

    let workshop_view = h
        .eventually_request(&as_sales, &workshop_request, 10, |r| r.at_risk)
        .await;
    assert_eq!(
        path_ids(workshop_view.risk.as_ref()),
        [procurement_request.clone(), workshop_request.clone()]
    );
    let sales_view = h
        .eventually_request(&as_sales, &sales_request, 10, |r| r.at_risk)
        .await;
    let risk = sales_view.risk.as_ref().expect("a risk");
    assert_eq!(
        path_ids(Some(risk)),
        [
            procurement_request.clone(),
            workshop_request.clone(),
            sales_request.clone()
        ],
        "root cause first, ending with the request"
    );
    let links = &risk.cause_path.as_ref().expect("path").links;
    assert_eq!(
        (
            links[0].provider_team_id.as_str(),
            links[0].consumer_team_id.as_str()
        ),
        (finance.as_str(), procurement.as_str())
    );
    assert_eq!(risk.trigger(), pb::RiskTrigger::Revised);
    let delay = chain_proto::duration::to_chrono(risk.projected_delay.as_ref().expect("a delay"))
        .expect("valid");
    assert!(
        (delay - TimeDelta::hours(4)).abs() < TimeDelta::seconds(30),
        "64 h projected against 60 h due: {delay}"
    );

    // GetCase: the tree, depth first, at risk, with the critical path down to Finance.
    let case = as_sales
        .clone()
        .get_case(pb::GetCaseRequest {
            case_id: ticket.clone(),
        })
        .await
        .expect("the case")
        .into_inner();
    assert_eq!(case.root_ticket_id, ticket);
    assert!(case.at_risk);
    let nodes: Vec<(String, u32, bool)> = case
        .nodes
        .iter()
        .map(|n| {
            let r = n.request.as_ref().expect("a request");
            (r.request_id.clone(), n.depth, r.at_risk)
        })
        .collect();
    assert_eq!(
        nodes,
        [
            (sales_request.clone(), 0, true),
            (workshop_request.clone(), 1, true),
            (procurement_request.clone(), 2, false)
        ]
    );
    assert_eq!(
        case.critical_path_request_ids,
        [
            sales_request.clone(),
            workshop_request.clone(),
            procurement_request.clone()
        ]
    );
    assert_eq!(
        case.critical_link.as_ref().map(|l| l.request_id.clone()),
        Some(procurement_request.clone())
    );
    let projected = time(case.projected_completion.as_ref());
    assert!(
        (projected - (chrono::Utc::now() + TimeDelta::hours(64))).abs() < TimeDelta::minutes(1)
    );
    let case_risk = case.nodes[0].request.as_ref().and_then(|r| r.risk.as_ref());
    assert_eq!(path_ids(case_risk), path_ids(Some(risk)));

    // On NATS, in order, all correlated by the ticket, each caused by the one below.
    let all = published(&h).await;
    let after: Vec<&pb::EventEnvelope> = all
        .iter()
        .skip(usize::try_from(before).expect("small"))
        .collect();
    let trail: Vec<(String, String)> = after
        .iter()
        .map(|e| (e.aggregate_id.clone(), short(&e.event_type)))
        .collect();
    assert_eq!(
        trail,
        [
            (procurement_request.clone(), "RequestRevised".to_owned()),
            (workshop_request.clone(), "RequestChildObserved".to_owned()),
            (workshop_request.clone(), "RequestAtRisk".to_owned()),
            (sales_request.clone(), "RequestChildObserved".to_owned()),
            (sales_request.clone(), "RequestAtRisk".to_owned()),
        ]
    );
    assert!(after.iter().all(|e| e.correlation_id == ticket));
    assert_eq!(after[1].causation_id, after[0].event_id);
    assert_eq!(after[2].causation_id, after[0].event_id);
    assert_eq!(after[3].causation_id, after[2].event_id);
    assert_eq!(after[4].causation_id, after[2].event_id);
    assert_eq!(after[0].actor, finance);
    assert!(
        after[1..]
            .iter()
            .all(|e| e.actor == chain_requests::SERVICE_ACTOR)
    );
    // The event at the root carries the ticket, so the tickets service can act.
    let root_at_risk: pb::RequestAtRisk = after[4].unpack().expect("an at-risk event");
    assert_eq!(root_at_risk.root_ticket_id, ticket);
    assert_eq!(root_at_risk.trigger(), pb::RiskTrigger::Revised);
    assert_eq!(root_at_risk.cause_path.map(|p| p.links.len()), Some(3));

    // Finance delivers in time after all: the risk clears up to the ticket.
    h.client(&finance)
        .await
        .fulfil_request(pb::FulfilRequestRequest {
            idempotency_key: key(),
            request_id: procurement_request.clone(),
            expected_version: 0,
        })
        .await
        .expect("fulfilled");
    let recovered = h
        .eventually_request(&as_sales, &sales_request, 10, |r| !r.at_risk)
        .await;
    assert!(recovered.risk.is_none());
    let cleared = wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        async || {
            h.event_types(&request_stream(&sales_request))
                .await
                .last()
                .is_some_and(|t| t == "RequestRiskCleared")
        },
    )
    .await;
    assert!(cleared, "the root records the recovery");

    // Procurement itself now announces 62 h, past Workshop's 60 h: Sales' request is at risk
    // again, caused by Procurement's link this time.
    h.client(&procurement)
        .await
        .revise_request(pb::ReviseRequestRequest {
            idempotency_key: key(),
            request_id: workshop_request.clone(),
            expected_version: 0,
            new_due_at: at(TimeDelta::hours(62)),
            reason: "the supplier is late".into(),
        })
        .await
        .expect("revised");
    let again = h
        .eventually_request(&as_sales, &sales_request, 10, |r| r.at_risk)
        .await;
    assert_eq!(
        path_ids(again.risk.as_ref()),
        [workshop_request.clone(), sales_request.clone()]
    );
    assert_eq!(
        again.risk.as_ref().map(pb::Risk::trigger),
        Some(pb::RiskTrigger::Revised)
    );
}
