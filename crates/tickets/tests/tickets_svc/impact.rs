//! A breakdown two links deep reaches exactly the tickets under it: the ticket whose case
//! holds the broken request goes at risk (root cause: that request, trigger: breakdown), the
//! tickets that only share the teams do not; the blast radius lists them by team and by
//! request, at risk first, with the value at stake; and tickets list at risk first, then by
//! value at stake.

use std::collections::BTreeSet;

use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::list_impacted_customers_request::Scope;
use chrono::TimeDelta;

use crate::harness::*;

async fn impacted(
    client: &Client,
    scope: Scope,
    at_risk_only: bool,
) -> pb::ListImpactedCustomersResponse {
    client
        .clone()
        .list_impacted_customers(pb::ListImpactedCustomersRequest {
            page_size: 0,
            page_token: String::new(),
            scope: Some(scope),
            at_risk_only,
        })
        .await
        .expect("ListImpactedCustomers")
        .into_inner()
}

fn tickets_of(response: &pb::ListImpactedCustomersResponse) -> Vec<String> {
    response
        .customers
        .iter()
        .map(|c| c.ticket_id.clone())
        .collect()
}

#[tokio::test]
async fn a_breakdown_two_links_deep_reaches_exactly_the_tickets_under_it() {
    let harness = Harness::start().await;
    let (sales, workshop, transport) = (team(), team(), team());
    let front = harness.client(&sales).await;
    let small = customer(&front, "Small Shop", 100).await;
    let big = customer(&front, "Big Hotel", 10_000).await;
    let mid = customer(&front, "Mid Office", 1_000).await;
    let hit = ticket(&front, &small.customer_id, "Desk").await;
    let spared = ticket(&front, &big.customer_id, "Lobby furniture").await;
    let unrelated = ticket(&front, &mid.customer_id, "Chairs").await;

    // Each ticket: sales asks the workshop; for two of them the workshop asks transport.
    let due = chain_rpc::clock::now() + TimeDelta::days(14);
    let mut chain = harness.chain();
    let build_hit = chain
        .open(&hit.ticket_id, &sales, &workshop, due, None)
        .await;
    chain.commit(build_hit, due).await;
    let deliver_hit = chain
        .open(&hit.ticket_id, &workshop, &transport, due, Some(build_hit))
        .await;
    chain.commit(deliver_hit, due).await;
    let build_spared = chain
        .open(&spared.ticket_id, &sales, &workshop, due, None)
        .await;
    chain.commit(build_spared, due).await;
    let deliver_spared = chain
        .open(
            &spared.ticket_id,
            &workshop,
            &transport,
            due,
            Some(build_spared),
        )
        .await;
    chain.commit(deliver_spared, due).await;
    let build_unrelated = chain
        .open(&unrelated.ticket_id, &sales, &workshop, due, None)
        .await;
    chain.commit(build_unrelated, due).await;
    harness.chain_view_saw(chain.event_count()).await;
    let promised = due + TimeDelta::days(1);
    for ticket in [&hit, &spared, &unrelated] {
        let made = front
            .clone()
            .make_promise(promise(&ticket.ticket_id, promised, false))
            .await
            .expect("feasible")
            .into_inner();
        assert_eq!(made.state(), pb::TicketState::Promised);
    }

    // The workshop reports that transport did not serve it well, on one ticket's case.
    chain.break_down(deliver_hit).await;
    let at_risk = harness
        .eventually_ticket(&front, &hit.ticket_id, 10, |t| {
            t.state() == pb::TicketState::AtRisk
        })
        .await;
    let risk = at_risk.risk.clone().expect("a risk");
    assert_eq!(
        risk.root_cause.as_ref().map(|l| l.request_id.clone()),
        Some(deliver_hit.to_string())
    );
    assert_eq!(risk.trigger(), pb::RiskTrigger::Breakdown);
    assert!(
        risk.projected_completion.is_none(),
        "a breakdown makes the completion unknowable"
    );
    assert!(at_risk.chain_projected_completion.is_none());
    harness.chain_view_saw(chain.event_count()).await;
    for other in [&spared, &unrelated] {
        let got = read_ticket(&front, &other.ticket_id).await;
        assert_eq!(got.state(), pb::TicketState::Promised, "{got:#?}");
    }
    harness.settled().await;
    // The gauge's reading of the read model: one ticket at risk of three, none broken.
    assert_eq!(
        chain_tickets::projection::tickets_at_risk(&harness.pool)
            .await
            .expect("count"),
        chain_tickets::projection::AtRisk {
            at_risk: 1,
            broken: 0
        }
    );

    // The blast radius of the broken request: that ticket and no other.
    let by_request = impacted(&front, Scope::RequestId(deliver_hit.to_string()), false).await;
    assert_eq!(tickets_of(&by_request), vec![hit.ticket_id.clone()]);
    let entry = &by_request.customers[0];
    assert_eq!(entry.customer_id, small.customer_id);
    assert_eq!(entry.display_name, "Small Shop");
    assert_eq!(entry.state(), pb::TicketState::AtRisk);
    assert_eq!(entry.value_at_stake, eur(100));
    assert_eq!(time(entry.promise_due_at.as_ref()), promised);
    assert_eq!(
        entry
            .path
            .as_ref()
            .expect("a path")
            .links
            .iter()
            .map(|l| l.request_id.clone())
            .collect::<Vec<_>>(),
        vec![deliver_hit.to_string(), build_hit.to_string()]
    );
    assert_eq!(by_request.total_customers, 1);
    assert_eq!(by_request.total_value_at_stake, eur(100));

    // Of the transport team: both tickets it serves, the one at risk first.
    let by_team = impacted(&front, Scope::TeamId(transport.clone()), false).await;
    assert_eq!(
        tickets_of(&by_team),
        vec![hit.ticket_id.clone(), spared.ticket_id.clone()],
        "at risk first, though worth less"
    );
    assert_eq!(by_team.total_customers, 2);
    assert_eq!(by_team.total_value_at_stake, eur(10_100));
    let at_risk_only = impacted(&front, Scope::TeamId(transport.clone()), true).await;
    assert_eq!(tickets_of(&at_risk_only), vec![hit.ticket_id.clone()]);
    assert_eq!(at_risk_only.total_value_at_stake, eur(100));

    // The workshop serves all three; its link on the broken ticket is the one the risk
    // climbed through.
    let workshop_radius = impacted(&front, Scope::TeamId(workshop.clone()), false).await;
    assert_eq!(
        tickets_of(&workshop_radius)
            .into_iter()
            .collect::<BTreeSet<_>>(),
        [&hit, &spared, &unrelated]
            .iter()
            .map(|t| t.ticket_id.clone())
            .collect()
    );
    let workshop_hit = &workshop_radius.customers[0];
    assert_eq!(workshop_hit.ticket_id, hit.ticket_id);
    assert_eq!(
        workshop_hit
            .path
            .as_ref()
            .expect("a path")
            .links
            .iter()
            .map(|l| l.request_id.clone())
            .collect::<Vec<_>>(),
        vec![build_hit.to_string()]
    );
    let nobody = impacted(&front, Scope::TeamId(team()), false).await;
    assert!(nobody.customers.is_empty());
    assert_eq!(nobody.total_customers, 0);

    // Tickets: at risk first, then by value at stake, one page at a time.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = front
            .clone()
            .list_tickets(pb::ListTicketsRequest {
                page_size: 1,
                page_token: token.clone(),
                ..pb::ListTicketsRequest::default()
            })
            .await
            .expect("ListTickets")
            .into_inner();
        seen.extend(page.tickets.iter().map(|t| t.ticket_id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        vec![
            hit.ticket_id.clone(),
            spared.ticket_id.clone(),
            unrelated.ticket_id.clone()
        ]
    );
    let risky = front
        .clone()
        .list_tickets(pb::ListTicketsRequest {
            at_risk_only: true,
            ..pb::ListTicketsRequest::default()
        })
        .await
        .expect("ListTickets")
        .into_inner();
    assert_eq!(risky.tickets.len(), 1);
    assert_eq!(
        risky.tickets[0].tier(),
        pb::CustomerTier::C,
        "the small shop"
    );
    assert!(risky.tickets[0].critical_link.is_some());
}

/// GetTicket reads only the events after the version its replica remembers: read again after
/// a promise and the revision that puts it at risk, a ticket shows exactly what a replica that
/// never read it shows from the whole stream.
#[tokio::test]
async fn a_ticket_read_again_shows_what_a_whole_read_shows() {
    let harness = Harness::start().await;
    let (sales, workshop) = (team(), team());
    let front = harness.client(&sales).await;
    let shop = customer(&front, "Small Shop", 100).await;
    let opened = ticket(&front, &shop.customer_id, "Desk").await;
    let read = async |client: &Client| read_ticket(client, &opened.ticket_id).await;
    assert_eq!(read(&front).await.version, 1, "remembered as opened");

    let due = chain_rpc::clock::now() + TimeDelta::days(14);
    let mut chain = harness.chain();
    let build = chain
        .open(&opened.ticket_id, &sales, &workshop, due, None)
        .await;
    chain.commit(build, due).await;
    harness.chain_view_saw(chain.event_count()).await;
    front
        .clone()
        .make_promise(promise(&opened.ticket_id, due + TimeDelta::days(1), false))
        .await
        .expect("feasible");
    let promised = read(&front).await;
    assert_eq!(promised.state(), pb::TicketState::Promised);

    chain.revise(build, due + TimeDelta::days(3)).await;
    let at_risk = harness
        .eventually_ticket(&front, &opened.ticket_id, 10, |t| {
            t.state() == pb::TicketState::AtRisk
        })
        .await;
    assert!(at_risk.version > promised.version);
    let replica = harness.replica_client(&sales).await;
    assert_eq!(read(&replica).await, at_risk);
    assert_eq!(
        read(&front).await,
        at_risk,
        "nothing new: the remembered fold"
    );
}
