//! "Don't promise what you can't deliver": a promise due before the chain behind the ticket
//! can deliver is refused, naming the critical link and the earliest feasible time; with the
//! risk acknowledged it is accepted, recorded as such, and at risk from the start.

use chain_proto::customerchain::v1 as pb;
use chain_store::StreamId;
use chrono::{SecondsFormat, TimeDelta};
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::*;

#[tokio::test]
async fn a_promise_earlier_than_the_chain_is_refused_unless_the_risk_is_acknowledged() {
    let harness = Harness::start().await;
    let (sales, workshop, transport) = (team(), team(), team());
    let front = harness.client(&sales).await;
    let jane = customer(&front, "Jane Doe", 900_000).await;
    let desk = ticket(&front, &jane.customer_id, "Made-to-order desk").await;

    // The workshop can build in two weeks, but transport commits three days later.
    let now = chain_rpc::clock::now();
    let two_weeks = now + TimeDelta::days(14);
    let late = two_weeks + TimeDelta::days(3);
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
    chain.commit(deliver, late).await;
    harness.chain_view_saw(chain.event_count()).await;
    let known = read_ticket(&front, &desk.ticket_id).await;
    assert_eq!(
        known.critical_link.map(|l| l.request_id),
        Some(deliver.to_string()),
        "transport bounds the chain"
    );
    assert_eq!(time(known.chain_projected_completion.as_ref()), late);
    let stream = StreamId::new("ticket", desk.ticket_id.clone());
    let before = harness.events(&stream).await.len();

    let status = refused(
        front
            .clone()
            .make_promise(promise(&desk.ticket_id, two_weeks, false))
            .await,
        Code::FailedPrecondition,
    );
    let earliest = late.to_rfc3339_opts(SecondsFormat::Micros, true);
    assert!(
        status.message().contains(&deliver.to_string()),
        "{status:?}"
    );
    assert!(status.message().contains(&transport), "{status:?}");
    assert!(status.message().contains(&earliest), "{status:?}");
    let info = status.get_details_error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "PROMISE_NOT_FEASIBLE");
    assert_eq!(info.domain, "customerchain.v1");
    assert_eq!(info.metadata["earliest_feasible_at"], earliest);
    assert_eq!(info.metadata["critical_request_id"], deliver.to_string());
    assert_eq!(info.metadata["critical_provider_team_id"], transport);
    assert_eq!(info.metadata["critical_consumer_team_id"], workshop);
    let failure = status
        .get_details_precondition_failure()
        .expect("a PreconditionFailure");
    assert_eq!(failure.violations[0].subject, deliver.to_string());
    assert_eq!(
        harness.events(&stream).await.len(),
        before,
        "a refused promise records nothing"
    );

    // A promise at the chain's earliest time is fine; one earlier, acknowledged, is too.
    let acknowledged = front
        .clone()
        .make_promise(promise(&desk.ticket_id, two_weeks, true))
        .await
        .expect("the risk is acknowledged")
        .into_inner();
    let made = acknowledged.promise.clone().expect("a promise");
    assert!(made.risk_acknowledged);
    assert_eq!(time(made.earliest_feasible_at.as_ref()), late);
    assert_eq!(
        acknowledged.state(),
        pb::TicketState::AtRisk,
        "at risk from the start"
    );
    let risk = acknowledged.risk.clone().expect("a risk");
    assert_eq!(
        risk.root_cause.as_ref().map(|l| l.request_id.clone()),
        Some(deliver.to_string())
    );
    assert_eq!(risk.trigger(), pb::RiskTrigger::CommitmentLate);

    // The acknowledgement is recorded in the event, with the critical path.
    let events = harness.events(&stream).await;
    let made_event = events
        .iter()
        .find(|e| short(&e.event_type) == "PromiseMade")
        .expect("PromiseMade");
    let payload = pb::PromiseMade::decode(made_event.payload.as_slice()).expect("decodes");
    assert!(payload.risk_acknowledged);
    assert_eq!(
        payload
            .critical_path
            .expect("a critical path")
            .links
            .iter()
            .map(|l| l.request_id.clone())
            .collect::<Vec<_>>(),
        vec![deliver.to_string(), build.to_string()]
    );
    assert_eq!(
        payload.critical_link.map(|l| l.provider_team_id),
        Some(transport.clone())
    );
}

#[tokio::test]
async fn a_promise_at_the_chains_earliest_time_stands_and_a_retry_returns_it() {
    let harness = Harness::start().await;
    let (sales, workshop) = (team(), team());
    let front = harness.client(&sales).await;
    let jane = customer(&front, "Jane Doe", 900_000).await;
    let desk = ticket(&front, &jane.customer_id, "Chairs").await;
    let due = chain_rpc::clock::now() + TimeDelta::days(3);
    let mut chain = harness.chain();
    let build = chain
        .open(&desk.ticket_id, &sales, &workshop, due, None)
        .await;
    chain.commit(build, due).await;
    harness.chain_view_saw(chain.event_count()).await;
    let request = promise(&desk.ticket_id, due, false);
    let first_key = request.idempotency_key.clone();
    let first = front
        .clone()
        .make_promise(request.clone())
        .await
        .expect("feasible")
        .into_inner();
    assert_eq!(first.state(), pb::TicketState::Promised);
    assert_eq!(
        time(
            first
                .promise
                .as_ref()
                .and_then(|p| p.earliest_feasible_at.as_ref())
        ),
        due
    );
    // The same call again (a retry) returns the first answer and appends nothing.
    let stream = StreamId::new("ticket", desk.ticket_id.clone());
    let count = harness.events(&stream).await.len();
    let again = front
        .clone()
        .make_promise(request)
        .await
        .expect("an honest retry")
        .into_inner();
    assert_eq!(again, first);
    assert_eq!(harness.events(&stream).await.len(), count);
    // The same key for another promise is a reused key, not a retry.
    let mut reused = promise(&desk.ticket_id, due + TimeDelta::days(1), false);
    reused.idempotency_key = first_key;
    invalid(front.clone().make_promise(reused).await, "idempotency_key");
}
