//! Every RPC's bad input gets the right status and names the field: `INVALID_ARGUMENT` with a
//! `BadRequest` naming it, `NOT_FOUND` for a missing customer or ticket, `UNAUTHENTICATED`
//! without a caller, `PERMISSION_DENIED` for a caller that is not the ticket's front line,
//! `FAILED_PRECONDITION` naming the ticket's state, `ABORTED` for a stale version.

use chain_proto::customerchain::v1 as pb;
use chain_proto::customerchain::v1::list_impacted_customers_request::Scope;
use chrono::TimeDelta;
use futures::StreamExt;
use prost_types::FieldMask;
use tonic::Code;
use tonic_types::StatusExt;

use crate::harness::*;

fn register(name: &str, value: Option<pb::Money>) -> pb::RegisterCustomerRequest {
    pb::RegisterCustomerRequest {
        idempotency_key: key(),
        display_name: name.to_owned(),
        email: String::new(),
        value,
    }
}

fn in_state<T: std::fmt::Debug>(result: Result<tonic::Response<T>, tonic::Status>, state: &str) {
    let status = refused(result, Code::FailedPrecondition);
    let failure = status
        .get_details_precondition_failure()
        .unwrap_or_else(|| panic!("no PreconditionFailure in {status:?}"));
    assert_eq!(failure.violations[0].subject, state, "{status:?}");
    assert!(status.message().contains(state), "{status:?}");
}

fn notice(ticket_id: &str, remedy: Option<pb::Remedy>) -> pb::NotifyCustomerRequest {
    pb::NotifyCustomerRequest {
        idempotency_key: key(),
        ticket_id: ticket_id.to_owned(),
        expected_version: 0,
        new_expected_at: stamp(chain_rpc::clock::now() + TimeDelta::days(30)),
        remedy,
        message: String::new(),
    }
}

fn loan() -> Option<pb::Remedy> {
    Some(pb::Remedy {
        kind: pb::RemedyKind::LoanOrSubstitute.into(),
        ..pb::Remedy::default()
    })
}

#[tokio::test]
async fn customer_rpcs_name_the_bad_field() {
    let harness = Harness::start().await;
    let client = harness.client("crm-import").await;
    let c = &client;

    let mut no_key = register("Jane", eur(1));
    no_key.idempotency_key.clear();
    invalid(c.clone().register_customer(no_key).await, "idempotency_key");
    invalid(
        c.clone().register_customer(register("  ", eur(1))).await,
        "display_name",
    );
    invalid(
        c.clone()
            .register_customer(register(&"x".repeat(201), eur(1)))
            .await,
        "display_name",
    );
    let mut bad_email = register("Jane", eur(1));
    bad_email.email = "jane at example".into();
    invalid(c.clone().register_customer(bad_email).await, "email");
    invalid(
        c.clone().register_customer(register("Jane", None)).await,
        "value",
    );
    invalid(
        c.clone().register_customer(register("Jane", eur(-1))).await,
        "value.value_minor",
    );
    let euro = Some(pb::Money {
        currency_code: "EURO".into(),
        value_minor: 1,
    });
    invalid(
        c.clone().register_customer(register("Jane", euro)).await,
        "value.currency_code",
    );
    refused(
        harness
            .anonymous()
            .await
            .register_customer(register("Jane", eur(1)))
            .await,
        Code::Unauthenticated,
    );

    let jane = customer(c, "Jane", 100).await;
    let dollars = Some(pb::Money {
        currency_code: "USD".into(),
        value_minor: 1,
    });
    invalid(
        c.clone().register_customer(register("Joe", dollars)).await,
        "value.currency_code",
    );

    let update = |mask: Vec<&str>| pb::UpdateCustomerRequest {
        idempotency_key: key(),
        customer_id: jane.customer_id.clone(),
        expected_version: 0,
        display_name: "Jane B.".into(),
        email: String::new(),
        value: eur(5),
        update_mask: Some(FieldMask {
            paths: mask.into_iter().map(str::to_owned).collect(),
        }),
    };
    invalid(
        c.clone()
            .update_customer(pb::UpdateCustomerRequest {
                customer_id: "nope".into(),
                ..update(vec!["value"])
            })
            .await,
        "customer_id",
    );
    invalid(
        c.clone().update_customer(update(vec![])).await,
        "update_mask",
    );
    invalid(
        c.clone().update_customer(update(vec!["tier"])).await,
        "update_mask",
    );
    invalid(
        c.clone()
            .update_customer(pb::UpdateCustomerRequest {
                value: eur(-5),
                ..update(vec!["value"])
            })
            .await,
        "value.value_minor",
    );
    refused(
        c.clone()
            .update_customer(pb::UpdateCustomerRequest {
                customer_id: team(),
                ..update(vec!["value"])
            })
            .await,
        Code::NotFound,
    );
    refused(
        c.clone()
            .update_customer(pb::UpdateCustomerRequest {
                expected_version: 99,
                ..update(vec!["value"])
            })
            .await,
        Code::Aborted,
    );

    invalid(
        c.clone()
            .get_customer(pb::GetCustomerRequest {
                customer_id: String::new(),
            })
            .await,
        "customer_id",
    );
    let missing = refused(
        c.clone()
            .get_customer(pb::GetCustomerRequest {
                customer_id: team(),
            })
            .await,
        Code::NotFound,
    );
    assert!(missing.message().contains("customer_id"), "{missing:?}");
    invalid(
        c.clone()
            .list_customers(pb::ListCustomersRequest {
                page_size: -1,
                ..pb::ListCustomersRequest::default()
            })
            .await,
        "page_size",
    );
    invalid(
        c.clone()
            .list_customers(pb::ListCustomersRequest {
                tiers: vec![0],
                ..pb::ListCustomersRequest::default()
            })
            .await,
        "tiers",
    );
    invalid(
        c.clone()
            .list_customers(pb::ListCustomersRequest {
                page_token: "garbage".into(),
                ..pb::ListCustomersRequest::default()
            })
            .await,
        "page_token",
    );
}

#[tokio::test]
async fn ticket_rpcs_name_the_bad_field_and_the_state() {
    let harness = Harness::start().await;
    let sales = team();
    let front = harness.client(&sales).await;
    let c = &front;
    let jane = customer(c, "Jane", 100).await;
    let open = |customer_id: &str, subject: &str, front_line: &str| pb::OpenTicketRequest {
        idempotency_key: key(),
        customer_id: customer_id.to_owned(),
        subject: subject.to_owned(),
        front_line_team_id: front_line.to_owned(),
    };
    invalid(
        c.clone().open_ticket(open("", "Desk", "")).await,
        "customer_id",
    );
    invalid(
        c.clone()
            .open_ticket(open(&jane.customer_id, " ", ""))
            .await,
        "subject",
    );
    invalid(
        c.clone()
            .open_ticket(open(&jane.customer_id, &"s".repeat(201), ""))
            .await,
        "subject",
    );
    invalid(
        c.clone()
            .open_ticket(open(&jane.customer_id, "Desk", "sales"))
            .await,
        "front_line_team_id",
    );
    invalid(
        harness
            .client("crm-import")
            .await
            .open_ticket(open(&jane.customer_id, "Desk", ""))
            .await,
        "front_line_team_id",
    );
    refused(
        c.clone().open_ticket(open(&team(), "Desk", "")).await,
        Code::NotFound,
    );

    let desk = ticket(c, &jane.customer_id, "Desk").await;
    let later = chain_rpc::clock::now() + TimeDelta::days(7);
    let make = |due: Option<prost_types::Timestamp>| pb::MakePromiseRequest {
        due_at: due,
        ..promise(&desk.ticket_id, later, false)
    };
    invalid(
        c.clone()
            .make_promise(pb::MakePromiseRequest {
                ticket_id: "x".into(),
                ..make(stamp(later))
            })
            .await,
        "ticket_id",
    );
    invalid(c.clone().make_promise(make(None)).await, "due_at");
    invalid(
        c.clone()
            .make_promise(make(stamp(chain_rpc::clock::now() - TimeDelta::hours(1))))
            .await,
        "due_at",
    );
    invalid(
        c.clone()
            .make_promise(pb::MakePromiseRequest {
                kind: 0,
                ..make(stamp(later))
            })
            .await,
        "kind",
    );
    invalid(
        c.clone()
            .make_promise(pb::MakePromiseRequest {
                wording: String::new(),
                ..make(stamp(later))
            })
            .await,
        "wording",
    );
    refused(
        c.clone()
            .make_promise(pb::MakePromiseRequest {
                ticket_id: team(),
                ..make(stamp(later))
            })
            .await,
        Code::NotFound,
    );
    refused(
        harness
            .client(&team())
            .await
            .make_promise(make(stamp(later)))
            .await,
        Code::PermissionDenied,
    );
    refused(
        harness
            .client("crm-import")
            .await
            .make_promise(make(stamp(later)))
            .await,
        Code::PermissionDenied,
    );
    refused(
        harness
            .anonymous()
            .await
            .make_promise(make(stamp(later)))
            .await,
        Code::Unauthenticated,
    );

    // Commands that need a promise, on a ticket without one.
    in_state(
        c.clone()
            .notify_customer(notice(&desk.ticket_id, loan()))
            .await,
        "Opened",
    );
    in_state(
        c.clone()
            .resolve_ticket(pb::ResolveTicketRequest {
                idempotency_key: key(),
                ticket_id: desk.ticket_id.clone(),
                expected_version: 0,
                delivered: true,
            })
            .await,
        "Opened",
    );

    let promised = c
        .clone()
        .make_promise(make(stamp(later)))
        .await
        .expect("MakePromise")
        .into_inner();
    in_state(c.clone().make_promise(make(stamp(later))).await, "Promised");
    invalid(
        c.clone()
            .notify_customer(notice(&desk.ticket_id, None))
            .await,
        "remedy",
    );
    invalid(
        c.clone()
            .notify_customer(notice(&desk.ticket_id, Some(pb::Remedy::default())))
            .await,
        "remedy.kind",
    );
    invalid(
        c.clone()
            .notify_customer(notice(
                &desk.ticket_id,
                Some(pb::Remedy {
                    kind: pb::RemedyKind::LoanOrSubstitute.into(),
                    credit: eur(5),
                    ..pb::Remedy::default()
                }),
            ))
            .await,
        "remedy.credit",
    );
    invalid(
        c.clone()
            .notify_customer(pb::NotifyCustomerRequest {
                new_expected_at: None,
                ..notice(&desk.ticket_id, loan())
            })
            .await,
        "new_expected_at",
    );
    invalid(
        c.clone()
            .notify_customer(pb::NotifyCustomerRequest {
                new_expected_at: stamp(later - TimeDelta::days(1)),
                ..notice(&desk.ticket_id, loan())
            })
            .await,
        "new_expected_at",
    );
    invalid(
        c.clone()
            .notify_customer(pb::NotifyCustomerRequest {
                message: "m".repeat(2_001),
                ..notice(&desk.ticket_id, loan())
            })
            .await,
        "message",
    );
    let respond = |accepted: bool| pb::RecordCustomerResponseRequest {
        idempotency_key: key(),
        ticket_id: desk.ticket_id.clone(),
        expected_version: 0,
        accepted,
        note: String::new(),
    };
    in_state(
        c.clone().record_customer_response(respond(true)).await,
        "NoNoticePending",
    );
    invalid(
        c.clone()
            .record_customer_response(pb::RecordCustomerResponseRequest {
                ticket_id: String::new(),
                ..respond(true)
            })
            .await,
        "ticket_id",
    );
    refused(
        c.clone()
            .resolve_ticket(pb::ResolveTicketRequest {
                idempotency_key: key(),
                ticket_id: desk.ticket_id.clone(),
                expected_version: promised.version + 5,
                delivered: true,
            })
            .await,
        Code::Aborted,
    );
    invalid(
        c.clone()
            .resolve_ticket(pb::ResolveTicketRequest {
                idempotency_key: String::new(),
                ticket_id: desk.ticket_id.clone(),
                expected_version: 0,
                delivered: true,
            })
            .await,
        "idempotency_key",
    );

    // Queries.
    invalid(
        c.clone()
            .get_ticket(pb::GetTicketRequest {
                ticket_id: "nope".into(),
            })
            .await,
        "ticket_id",
    );
    refused(
        c.clone()
            .get_ticket(pb::GetTicketRequest { ticket_id: team() })
            .await,
        Code::NotFound,
    );
    invalid(
        c.clone()
            .list_tickets(pb::ListTicketsRequest {
                states: vec![0],
                ..pb::ListTicketsRequest::default()
            })
            .await,
        "states",
    );
    invalid(
        c.clone()
            .list_tickets(pb::ListTicketsRequest {
                customer_id: "nope".into(),
                ..pb::ListTicketsRequest::default()
            })
            .await,
        "customer_id",
    );
    invalid(
        c.clone()
            .list_tickets(pb::ListTicketsRequest {
                front_line_team_id: "nope".into(),
                ..pb::ListTicketsRequest::default()
            })
            .await,
        "front_line_team_id",
    );
    invalid(
        c.clone()
            .list_tickets(pb::ListTicketsRequest {
                page_size: -5,
                ..pb::ListTicketsRequest::default()
            })
            .await,
        "page_size",
    );
    let impacted = |scope: Option<Scope>| pb::ListImpactedCustomersRequest {
        scope,
        ..pb::ListImpactedCustomersRequest::default()
    };
    invalid(
        c.clone().list_impacted_customers(impacted(None)).await,
        "scope",
    );
    invalid(
        c.clone()
            .list_impacted_customers(impacted(Some(Scope::TeamId("x".into()))))
            .await,
        "team_id",
    );
    invalid(
        c.clone()
            .list_impacted_customers(impacted(Some(Scope::RequestId(String::new()))))
            .await,
        "request_id",
    );
    invalid(
        c.clone()
            .watch_tickets(pb::WatchTicketsRequest {
                after_position: "yesterday".into(),
                ..pb::WatchTicketsRequest::default()
            })
            .await,
        "after_position",
    );
    invalid(
        c.clone()
            .watch_tickets(pb::WatchTicketsRequest {
                customer_id: "nope".into(),
                ..pb::WatchTicketsRequest::default()
            })
            .await,
        "customer_id",
    );
    // Reading the log is for services; a team is refused before its input is looked at.
    let refused = c
        .clone()
        .read_events(pb::ReadEventsRequest::default())
        .await;
    assert_eq!(
        refused.expect_err("a team").code(),
        tonic::Code::PermissionDenied
    );
    let reader = harness.client("scoring-svc").await;
    invalid(
        reader
            .clone()
            .read_events(pb::ReadEventsRequest {
                after_position: "1-2".into(),
                limit: 0,
            })
            .await,
        "after_position",
    );
    // ReadEvents returns only what no running transaction can still precede (any database's
    // transaction holds the snapshot back), so it may lag a moment behind the appends.
    let complete = chain_testkit::wait_until(
        std::time::Duration::from_secs(10),
        std::time::Duration::from_millis(50),
        async || {
            let all: Vec<_> = reader
                .clone()
                .read_events(pb::ReadEventsRequest::default())
                .await
                .expect("ReadEvents")
                .into_inner()
                .collect()
                .await;
            all.iter().all(Result::is_ok) && all.len() >= 4
        },
    )
    .await;
    assert!(
        complete,
        "ReadEvents returns the customer and ticket events"
    );
}
