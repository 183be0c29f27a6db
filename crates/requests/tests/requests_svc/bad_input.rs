//! Every RPC's bad input: missing or oversize fields, unknown ids, wrong actors, invalid
//! transitions, stale versions and reused keys, each with its status code and a message (and
//! details) naming the field or state.

use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chain_testkit::wait_until;
use chrono::TimeDelta;
use futures::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::harness::*;

const UNKNOWN: &str = "0190a5d2-7c3e-7a41-8f00-123456789abc";

#[tokio::test]
async fn team_and_link_rpcs_refuse_bad_input() {
    let h = Harness::start().await;
    let admin = h.client("test-admin").await;
    let create = |name: &str, key: &str| pb::CreateTeamRequest {
        idempotency_key: key.to_owned(),
        name: name.to_owned(),
        front_line: true,
    };

    refused(
        h.anonymous().await.create_team(create("Sales", "k")).await,
        Code::Unauthenticated,
    );
    refused(
        h.client("Not A Caller")
            .await
            .create_team(create("Sales", "k"))
            .await,
        Code::Unauthenticated,
    );
    invalid(
        admin.clone().create_team(create("Sales", "")).await,
        "idempotency_key",
    );
    invalid(admin.clone().create_team(create("   ", "k0")).await, "name");
    invalid(
        admin
            .clone()
            .create_team(create(&"n".repeat(201), "k0"))
            .await,
        "name",
    );

    let sales = admin
        .clone()
        .create_team(create("Sales", "k1"))
        .await
        .expect("created")
        .into_inner();
    let events = h.event_count().await;
    let again = admin
        .clone()
        .create_team(create("Sales", "k1"))
        .await
        .expect("an honest retry")
        .into_inner();
    assert_eq!(again, sales, "a retry returns the first response");
    assert_eq!(h.event_count().await, events, "and appends nothing");
    invalid(
        admin.clone().create_team(create("Workshop", "k1")).await,
        "idempotency_key",
    );
    refused(
        admin.clone().create_team(create("SALES", "k2")).await,
        Code::AlreadyExists,
    );

    let get = |id: &str| pb::GetTeamRequest {
        team_id: id.to_owned(),
    };
    refused(admin.clone().get_team(get(UNKNOWN)).await, Code::NotFound);
    invalid(admin.clone().get_team(get("nope")).await, "team_id");

    let workshop = team(&h, "Workshop", false).await;
    let rename = |team_id: &str, version: u64, name: &str| pb::RenameTeamRequest {
        idempotency_key: key(),
        team_id: team_id.to_owned(),
        expected_version: version,
        name: name.to_owned(),
    };
    let as_workshop = h.client(&workshop).await;
    refused(
        as_workshop
            .clone()
            .rename_team(rename(&sales.team_id, 0, "X"))
            .await,
        Code::PermissionDenied,
    );
    refused(
        as_workshop
            .clone()
            .rename_team(rename(&workshop, 7, "Atelier"))
            .await,
        Code::Aborted,
    );
    refused(
        as_workshop
            .clone()
            .rename_team(rename(&workshop, 1, "sales"))
            .await,
        Code::AlreadyExists,
    );
    let renamed = as_workshop
        .clone()
        .rename_team(rename(&workshop, 1, "Atelier"))
        .await
        .expect("renamed")
        .into_inner();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Atelier", 2));

    let declare = |consumer: &str, ola: Option<prost_types::Duration>| pb::DeclareLinkRequest {
        idempotency_key: key(),
        consumer_team_id: consumer.to_owned(),
        ola,
        expected_version: 0,
    };
    let day = chain_proto::duration::from_chrono(TimeDelta::days(1)).ok();
    refused(
        as_workshop
            .clone()
            .declare_link(declare(UNKNOWN, day))
            .await,
        Code::NotFound,
    );
    invalid(
        as_workshop.clone().declare_link(declare("", day)).await,
        "consumer_team_id",
    );
    invalid(
        as_workshop
            .clone()
            .declare_link(declare(&sales.team_id, None))
            .await,
        "ola",
    );
    let negative = chain_proto::duration::from_chrono(TimeDelta::hours(-1)).ok();
    invalid(
        as_workshop
            .clone()
            .declare_link(declare(&sales.team_id, negative))
            .await,
        "ola",
    );
    invalid(
        as_workshop
            .clone()
            .declare_link(declare(&workshop, day))
            .await,
        "consumer_team_id",
    );
    refused(
        admin
            .clone()
            .declare_link(declare(&sales.team_id, day))
            .await,
        Code::PermissionDenied,
    );
    let declared = as_workshop
        .clone()
        .declare_link(declare(&sales.team_id, day))
        .await
        .expect("declared")
        .into_inner();
    assert_eq!(declared.provider_team_id, workshop);

    // Lists page through the read model; a token only works with the filters it came from.
    h.settled().await;
    let first = admin
        .clone()
        .list_teams(pb::ListTeamsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(first.teams[0].name, "Atelier", "by name");
    let second = admin
        .clone()
        .list_teams(pb::ListTeamsRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(second.teams[0].name, "Sales");
    assert_eq!(second.next_page_token, "", "the last page");
    invalid(
        admin
            .clone()
            .list_teams(pb::ListTeamsRequest {
                page_size: 1,
                page_token: first.next_page_token,
                front_line_only: true,
            })
            .await,
        "page_token",
    );
    invalid(
        admin
            .clone()
            .list_teams(pb::ListTeamsRequest {
                page_size: -1,
                ..Default::default()
            })
            .await,
        "page_size",
    );
    invalid(
        admin
            .clone()
            .list_links(pb::ListLinksRequest {
                provider_team_id: "nope".into(),
                ..Default::default()
            })
            .await,
        "provider_team_id",
    );
    let linked = wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        async || {
            admin
                .clone()
                .list_links(pb::ListLinksRequest {
                    consumer_team_id: sales.team_id.clone(),
                    ..Default::default()
                })
                .await
                .is_ok_and(|r| r.get_ref().links == vec![declared.clone()])
        },
    )
    .await;
    assert!(linked, "the link is listed");
}

#[tokio::test]
async fn request_rpcs_refuse_bad_input() {
    let h = Harness::start().await;
    let sales = team(&h, "Sales", true).await;
    let workshop = team(&h, "Workshop", false).await;
    let stranger = team(&h, "Stranger", false).await;
    link(&h, &workshop, &sales, 48).await;
    let as_sales = h.client(&sales).await;
    let as_workshop = h.client(&workshop).await;

    let open = |provider: &str, title: &str, needed_by: Option<prost_types::Timestamp>| {
        pb::OpenRequestRequest {
            idempotency_key: key(),
            provider_team_id: provider.to_owned(),
            title: title.to_owned(),
            needed_by,
            parent: None,
        }
    };
    let day = at(TimeDelta::days(1));
    invalid(
        as_sales
            .clone()
            .open_request(open(&workshop, "", day))
            .await,
        "title",
    );
    invalid(
        as_sales
            .clone()
            .open_request(open(&workshop, &"t".repeat(201), day))
            .await,
        "title",
    );
    invalid(
        as_sales
            .clone()
            .open_request(open(&workshop, "desk", None))
            .await,
        "needed_by",
    );
    invalid(
        as_sales
            .clone()
            .open_request(open(&workshop, "desk", at(TimeDelta::hours(-1))))
            .await,
        "needed_by",
    );
    invalid(
        as_sales.clone().open_request(open("x", "desk", day)).await,
        "provider_team_id",
    );
    invalid(
        as_sales
            .clone()
            .open_request(open(&sales, "desk", day))
            .await,
        "provider_team_id",
    );
    let no_link = refused(
        as_sales
            .clone()
            .open_request(open(&stranger, "desk", day))
            .await,
        Code::NotFound,
    );
    assert!(
        no_link.message().contains("provider_team_id"),
        "{no_link:?}"
    );
    let mut orphan = open(&workshop, "desk", day);
    orphan.parent = Some(pb::open_request_request::Parent::ParentRequestId(
        UNKNOWN.into(),
    ));
    let missing = refused(as_sales.clone().open_request(orphan).await, Code::NotFound);
    assert!(missing.message().contains("parent_request_id"));
    let mut bad_ticket = open(&workshop, "desk", day);
    bad_ticket.parent = Some(pb::open_request_request::Parent::ParentTicketId(
        "ticket-7".into(),
    ));
    invalid(
        as_sales.clone().open_request(bad_ticket).await,
        "parent_ticket_id",
    );
    refused(
        h.client("tickets-svc")
            .await
            .open_request(open(&workshop, "desk", day))
            .await,
        Code::PermissionDenied,
    );

    let opening = open(&workshop, "desk", day);
    let request = as_sales
        .clone()
        .open_request(opening.clone())
        .await
        .expect("opened")
        .into_inner();
    let id = request.request_id.clone();
    let events = h.event_count().await;
    let reopened = as_sales
        .clone()
        .open_request(opening)
        .await
        .expect("an honest retry")
        .into_inner();
    assert_eq!(reopened, request, "the same request, not a second one");
    assert_eq!(h.event_count().await, events);
    let commit =
        |request_id: &str, version: u64, kind: pb::CommitmentKind| pb::CommitRequestRequest {
            idempotency_key: key(),
            request_id: request_id.to_owned(),
            expected_version: version,
            due_at: at(TimeDelta::hours(20)),
            kind: kind.into(),
        };
    let promise = pb::CommitmentKind::PersonalPromise;
    refused(
        as_workshop
            .clone()
            .commit_request(commit(UNKNOWN, 0, promise))
            .await,
        Code::NotFound,
    );
    invalid(
        as_workshop
            .clone()
            .commit_request(commit("", 0, promise))
            .await,
        "request_id",
    );
    invalid(
        as_workshop
            .clone()
            .commit_request(commit(&id, 0, pb::CommitmentKind::Unspecified))
            .await,
        "kind",
    );
    let denied = refused(
        as_sales
            .clone()
            .commit_request(commit(&id, 0, promise))
            .await,
        Code::PermissionDenied,
    );
    assert_eq!(
        denied.get_details_error_info().expect("info").metadata["expected_role"],
        "provider"
    );
    refused(
        h.client(&stranger)
            .await
            .commit_request(commit(&id, 0, promise))
            .await,
        Code::PermissionDenied,
    );
    refused(
        as_workshop
            .clone()
            .commit_request(commit(&id, 5, promise))
            .await,
        Code::Aborted,
    );
    let mut committing = commit(&id, 1, promise);
    let committed = as_workshop
        .clone()
        .commit_request(committing.clone())
        .await
        .expect("committed")
        .into_inner();
    assert_eq!(committed.state(), pb::RequestState::Committed);
    assert_eq!(committed.version, 2);
    let events = h.event_count().await;
    let retried = as_workshop
        .clone()
        .commit_request(committing.clone())
        .await
        .expect("an honest retry")
        .into_inner();
    assert_eq!(retried, committed, "the retry gets the first response");
    assert_eq!(h.event_count().await, events, "and appends nothing");
    committing.kind = pb::CommitmentKind::GeneralExpectation.into();
    invalid(
        as_workshop.clone().commit_request(committing).await,
        "idempotency_key",
    );
    in_state(
        as_workshop
            .clone()
            .commit_request(commit(&id, 0, promise))
            .await,
        "Committed",
    );

    // Two revisions racing from the same version: one wins, the other is ABORTED.
    let racing = |hours: i64| pb::ReviseRequestRequest {
        idempotency_key: key(),
        request_id: id.clone(),
        expected_version: 2,
        new_due_at: at(TimeDelta::hours(hours)),
        reason: "racing".into(),
    };
    let (mut first, mut second) = (as_workshop.clone(), as_workshop.clone());
    let (a, b) = tokio::join!(
        first.revise_request(racing(21)),
        second.revise_request(racing(22))
    );
    let codes = [
        a.as_ref().err().map(|s| s.code()),
        b.as_ref().err().map(|s| s.code()),
    ];
    assert!(
        codes.contains(&None) && codes.contains(&Some(Code::Aborted)),
        "{codes:?}"
    );

    let revise = |reason: &str| pb::ReviseRequestRequest {
        idempotency_key: key(),
        request_id: id.clone(),
        expected_version: 0,
        new_due_at: at(TimeDelta::hours(30)),
        reason: reason.to_owned(),
    };
    invalid(
        as_workshop
            .clone()
            .revise_request(revise(&"r".repeat(2001)))
            .await,
        "reason",
    );
    invalid(
        as_workshop.clone().revise_request(revise("")).await,
        "reason",
    );
    refused(
        as_sales.clone().revise_request(revise("late")).await,
        Code::PermissionDenied,
    );
    refused(
        as_sales
            .clone()
            .fulfil_request(pb::FulfilRequestRequest {
                idempotency_key: key(),
                request_id: id.clone(),
                expected_version: 0,
            })
            .await,
        Code::PermissionDenied,
    );
    let cancel = |reason: &str| pb::CancelRequestRequest {
        idempotency_key: key(),
        request_id: id.clone(),
        expected_version: 0,
        reason: reason.to_owned(),
    };
    refused(
        as_workshop.clone().cancel_request(cancel("no")).await,
        Code::PermissionDenied,
    );
    invalid(as_sales.clone().cancel_request(cancel(" ")).await, "reason");
    let report = |kind: pb::BreakdownKind| pb::ReportBreakdownRequest {
        idempotency_key: key(),
        request_id: id.clone(),
        expected_version: 0,
        kind: kind.into(),
        reason: "unusable".into(),
    };
    in_state(
        as_sales
            .clone()
            .report_breakdown(report(pb::BreakdownKind::NotUsable))
            .await,
        "Committed",
    );
    invalid(
        as_sales
            .clone()
            .report_breakdown(report(pb::BreakdownKind::Unspecified))
            .await,
        "kind",
    );
    refused(
        as_workshop
            .clone()
            .report_breakdown(report(pb::BreakdownKind::NotServedWell))
            .await,
        Code::PermissionDenied,
    );
    in_state(
        as_sales
            .clone()
            .resolve_breakdown(pb::ResolveBreakdownRequest {
                idempotency_key: key(),
                request_id: id.clone(),
                expected_version: 0,
            })
            .await,
        "Committed",
    );
    // Cancel, then every command on the closed request names its state.
    as_sales
        .clone()
        .cancel_request(cancel("not needed"))
        .await
        .expect("cancelled");
    in_state(
        as_workshop
            .clone()
            .fulfil_request(pb::FulfilRequestRequest {
                idempotency_key: key(),
                request_id: id.clone(),
                expected_version: 0,
            })
            .await,
        "Cancelled",
    );
    let mut child = open(&stranger, "screws", day);
    child.parent = Some(pb::open_request_request::Parent::ParentRequestId(
        id.clone(),
    ));
    refused(
        as_sales.clone().open_request(child.clone()).await,
        Code::PermissionDenied,
    );
    link(&h, &stranger, &workshop, 24).await;
    in_state(as_workshop.clone().open_request(child).await, "Cancelled");

    // Queries.
    refused(
        as_sales
            .clone()
            .get_request(pb::GetRequestRequest {
                request_id: UNKNOWN.into(),
            })
            .await,
        Code::NotFound,
    );
    invalid(
        as_sales
            .clone()
            .get_request(pb::GetRequestRequest {
                request_id: "x".into(),
            })
            .await,
        "request_id",
    );
    refused(
        as_sales
            .clone()
            .get_case(pb::GetCaseRequest {
                case_id: UNKNOWN.into(),
            })
            .await,
        Code::NotFound,
    );
    invalid(
        as_sales
            .clone()
            .get_case(pb::GetCaseRequest {
                case_id: "case".into(),
            })
            .await,
        "case_id",
    );
    invalid(
        as_sales
            .clone()
            .list_requests(pb::ListRequestsRequest::default())
            .await,
        "team_id",
    );
    invalid(
        as_sales
            .clone()
            .list_requests(pb::ListRequestsRequest {
                team_id: sales.clone(),
                states: vec![0],
                ..Default::default()
            })
            .await,
        "states",
    );
    invalid(
        as_sales
            .clone()
            .watch_requests(pb::WatchRequestsRequest {
                team_id: sales.clone(),
                after_position: "somewhere".into(),
                live_only: false,
            })
            .await,
        "after_position",
    );
    refused(
        as_sales
            .clone()
            .watch_requests(pb::WatchRequestsRequest {
                team_id: Uuid::now_v7().to_string(),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    // Reading the log is for services; a team is refused before its input is looked at.
    let refused = as_sales
        .clone()
        .read_events(pb::ReadEventsRequest::default())
        .await;
    assert_eq!(refused.expect_err("a team").code(), Code::PermissionDenied);
    let as_scoring = h.client("scoring-svc").await;
    invalid(
        as_scoring
            .clone()
            .read_events(pb::ReadEventsRequest {
                after_position: "1".into(),
                limit: 0,
            })
            .await,
        "after_position",
    );
    // ReadEvents sees everything once no transaction is still running.
    h.settled().await;
    let everything = wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        async || {
            let all: Vec<_> = as_scoring
                .clone()
                .read_events(pb::ReadEventsRequest::default())
                .await
                .expect("read")
                .into_inner()
                .collect()
                .await;
            all.len() as i64 == h.event_count().await
        },
    )
    .await;
    assert!(everything, "ReadEvents returns the whole store");
}
