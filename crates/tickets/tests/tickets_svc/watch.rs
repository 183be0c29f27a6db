//! `WatchTickets` streams the events of one customer (or one front-line team) from a
//! position, then live; a resumed watch starts after the last position received.

use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use futures::StreamExt;
use tonic::Streaming;

use crate::harness::*;

/// The next event of a watch, within five seconds.
async fn next(stream: &mut Streaming<pb::WatchTicketsResponse>) -> pb::EventEnvelope {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("an event within five seconds")
        .expect("the stream goes on")
        .expect("an event, not an error")
        .event
        .expect("an envelope")
}

async fn watch(
    client: &Client,
    request: pb::WatchTicketsRequest,
) -> Streaming<pb::WatchTicketsResponse> {
    client
        .clone()
        .watch_tickets(request)
        .await
        .expect("WatchTickets")
        .into_inner()
}

#[tokio::test]
async fn a_watch_follows_one_customer_then_resumes_where_it_left() {
    let harness = Harness::start().await;
    let (sales, other_sales) = (team(), team());
    let front = harness.client(&sales).await;
    let jane = customer(&front, "Jane", 5_000).await;
    let mut stream = watch(
        &front,
        pb::WatchTicketsRequest {
            customer_id: jane.customer_id.clone(),
            ..pb::WatchTicketsRequest::default()
        },
    )
    .await;
    let joe = customer(&front, "Joe", 50_000).await;
    let theirs = ticket(
        &harness.client(&other_sales).await,
        &joe.customer_id,
        "Sofa",
    )
    .await;
    let hers = ticket(&front, &jane.customer_id, "Desk").await;

    // Hers, from the beginning: registered, tiered, re-tiered when Joe came, her ticket.
    let mut got = Vec::new();
    let mut last = String::new();
    while got.last().map(String::as_str) != Some("TicketOpened") {
        let event = next(&mut stream).await;
        assert!(
            event.aggregate_id == jane.customer_id || event.aggregate_id == hers.ticket_id,
            "only Jane's events: {event:?}"
        );
        last = event.position.clone();
        got.push(short(&event.event_type));
    }
    assert_eq!(
        got,
        vec![
            "CustomerRegistered",
            "CustomerTierChanged",
            "CustomerTierChanged",
            "TicketOpened"
        ]
    );
    drop(stream);

    // Resumed after the last position: only what came since.
    let later = chain_rpc::clock::now() + chrono::TimeDelta::days(7);
    front
        .clone()
        .make_promise(promise(&hers.ticket_id, later, false))
        .await
        .expect("MakePromise");
    let mut resumed = watch(
        &front,
        pb::WatchTicketsRequest {
            customer_id: jane.customer_id.clone(),
            after_position: last,
            ..pb::WatchTicketsRequest::default()
        },
    )
    .await;
    let event = next(&mut resumed).await;
    assert_eq!(short(&event.event_type), "PromiseMade");
    assert_eq!(event.aggregate_id, hers.ticket_id);

    // By front-line team: only its tickets' events, no customer events.
    let mut theirs_only = watch(
        &front,
        pb::WatchTicketsRequest {
            front_line_team_id: other_sales.clone(),
            ..pb::WatchTicketsRequest::default()
        },
    )
    .await;
    let event = next(&mut theirs_only).await;
    assert_eq!(short(&event.event_type), "TicketOpened");
    assert_eq!(event.aggregate_id, theirs.ticket_id);
}
