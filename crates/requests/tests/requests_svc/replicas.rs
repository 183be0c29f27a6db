//! Two replicas of the gRPC service on one database: each remembers the requests it wrote, and
//! what one remembers never outvotes what the other stored since.

use chain_proto::customerchain::v1 as pb;
use chrono::TimeDelta;

use crate::harness::*;

#[tokio::test]
async fn a_replica_that_missed_the_other_replicas_append_decides_on_the_stored_stream() {
    let h = Harness::start().await;
    let sales = team(&h, "Sales", true).await;
    let workshop = team(&h, "Workshop", false).await;
    link(&h, &workshop, &sales, 48).await;
    let mut first = h.client(&workshop).await;
    let mut second = h.client_of_another_replica(&workshop).await;

    // The first replica opens, so it remembers the request as Opened at version 1.
    let opened = open(&h, &sales, &workshop, TimeDelta::days(3), None).await;
    let id = opened.request_id.clone();
    // The second commits: the stream is at version 2, which the first never saw.
    second
        .commit_request(pb::CommitRequestRequest {
            idempotency_key: key(),
            request_id: id.clone(),
            expected_version: 1,
            due_at: at(TimeDelta::days(2)),
            kind: pb::CommitmentKind::OrganisationalCommitment.into(),
        })
        .await
        .expect("committed on the second replica");

    // Remembered as Opened, a revision would be refused; stored, it is committed and at
    // version 2, which is what the caller expects.
    let revised = first
        .revise_request(pb::ReviseRequestRequest {
            idempotency_key: key(),
            request_id: id.clone(),
            expected_version: 2,
            new_due_at: at(TimeDelta::days(2) + TimeDelta::hours(6)),
            reason: "the varnish needs more time".into(),
        })
        .await
        .expect("revised on the first replica, decided on the stored stream")
        .into_inner();
    assert_eq!(revised.version, 3);

    // The second now remembers version 2: fulfilling without an expected version conflicts
    // on its memory and succeeds on the stored stream.
    let fulfilled = second
        .fulfil_request(pb::FulfilRequestRequest {
            idempotency_key: key(),
            request_id: id.clone(),
            expected_version: 0,
        })
        .await
        .expect("fulfilled on the second replica")
        .into_inner();
    assert_eq!(fulfilled.state(), pb::RequestState::Fulfilled);
    assert_eq!(fulfilled.version, 4);
    assert_eq!(
        h.event_types(&request_stream(&id)).await,
        [
            "RequestOpened",
            "RequestCommitted",
            "RequestRevised",
            "RequestFulfilled"
        ],
        "each command appended once"
    );

    // A truly stale caller still gets ABORTED, from either replica.
    let stale = first
        .cancel_request(pb::CancelRequestRequest {
            idempotency_key: key(),
            request_id: id,
            expected_version: 3,
            reason: "no longer needed".into(),
        })
        .await
        .expect_err("version 3 is stale");
    assert_eq!(stale.code(), tonic::Code::Aborted, "{stale:?}");
}
