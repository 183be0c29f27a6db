//! RecordFeedback: bad input is INVALID_ARGUMENT naming the field; unknown subjects and
//! wrong callers are refused; a retry returns the first result; the comment stays out of the
//! event and the idempotency record; feedback moves the score, and one loud customer moves it
//! at most by the model's flood bound.

use chain_domain::scoring::ScoringModel;
use chain_proto::customerchain::v1 as pb;
use chain_testkit::wait_until;
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::harness::{Client, Harness};
use crate::story::{Chain, breakdown, open_ticket};

fn about_ticket(customer: Uuid, ticket: Uuid) -> Option<pb::FeedbackSubject> {
    Some(pb::FeedbackSubject {
        subject: Some(pb::feedback_subject::Subject::Customer(
            pb::CustomerFeedbackSubject {
                customer_id: customer.to_string(),
                ticket_id: ticket.to_string(),
            },
        )),
    })
}

fn about_request(consumer: Uuid, request: Uuid) -> Option<pb::FeedbackSubject> {
    Some(pb::FeedbackSubject {
        subject: Some(pb::feedback_subject::Subject::Team(
            pb::TeamFeedbackSubject {
                consumer_team_id: consumer.to_string(),
                request_id: request.to_string(),
                provider_team_id: String::new(),
            },
        )),
    })
}

fn feedback(subject: Option<pb::FeedbackSubject>, csat: Option<u32>) -> pb::RecordFeedbackRequest {
    pb::RecordFeedbackRequest {
        idempotency_key: Uuid::now_v7().to_string(),
        subject,
        csat,
        nps: None,
        comment: String::new(),
    }
}

fn field_of(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    status
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations[0]
        .field
        .clone()
}

async fn score(client: &mut Client, customer: Uuid) -> Option<f64> {
    client
        .get_score(pb::GetScoreRequest {
            subject: Some(pb::ScoreSubject {
                subject: Some(pb::score_subject::Subject::CustomerId(customer.to_string())),
            }),
        })
        .await
        .ok()
        .map(|s| s.into_inner().score)
}

#[tokio::test]
async fn bad_feedback_is_refused_naming_the_field() {
    let mut h = Harness::start().await;
    let (customer, ticket, front) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    open_ticket(&mut h, customer, ticket, front).await;
    h.settled().await;
    let mut client = h.client(&front.to_string()).await;
    let good = about_ticket(customer, ticket);
    let cases = [
        (feedback(None, Some(3)), "subject"),
        (feedback(good.clone(), Some(6)), "csat"),
        (feedback(good.clone(), Some(0)), "csat"),
        (feedback(good.clone(), None), "csat"),
        (
            pb::RecordFeedbackRequest {
                nps: Some(11),
                ..feedback(good.clone(), None)
            },
            "nps",
        ),
        (
            pb::RecordFeedbackRequest {
                comment: "é".repeat(2_001),
                ..feedback(good.clone(), Some(3))
            },
            "comment",
        ),
        (
            pb::RecordFeedbackRequest {
                idempotency_key: String::new(),
                ..feedback(good.clone(), Some(3))
            },
            "idempotency_key",
        ),
        (
            feedback(
                Some(pb::FeedbackSubject {
                    subject: Some(pb::feedback_subject::Subject::Customer(
                        pb::CustomerFeedbackSubject {
                            customer_id: "not-a-uuid".into(),
                            ticket_id: ticket.to_string(),
                        },
                    )),
                }),
                Some(3),
            ),
            "subject.customer.customer_id",
        ),
        (
            feedback(about_ticket(Uuid::now_v7(), ticket), Some(3)),
            "subject.customer.customer_id",
        ),
    ];
    for (request, field) in cases {
        let refused = client.record_feedback(request).await.expect_err(field);
        assert_eq!(field_of(&refused), field);
        assert!(
            !refused.message().contains("éé"),
            "comments are never quoted back"
        );
    }
    let unknown = client
        .record_feedback(feedback(about_ticket(customer, Uuid::now_v7()), Some(3)))
        .await
        .expect_err("unknown ticket");
    assert_eq!(unknown.code(), Code::NotFound);
    let anonymous = h
        .anonymous()
        .await
        .record_feedback(feedback(good, Some(3)))
        .await
        .expect_err("anonymous");
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    assert_eq!(h.feedback_events().await, 0, "nothing was recorded");
}

#[tokio::test]
async fn feedback_is_recorded_once_keeps_its_comment_private_and_moves_scores_within_bounds() {
    let mut h = Harness::start().await;
    let chain = Chain::new();
    breakdown(&mut h, &chain, true).await;
    h.settled().await;
    let mut front = h.client(&chain.f.to_string()).await;
    let before = score(&mut front, chain.customer).await.expect("a score");

    let comment = "The desk arrived scratched; Mrs Lan is unhappy.";
    let request = pb::RecordFeedbackRequest {
        comment: comment.into(),
        nps: Some(2),
        ..feedback(about_ticket(chain.customer, chain.ticket), Some(1))
    };
    let first = front
        .record_feedback(request.clone())
        .await
        .expect("recorded")
        .into_inner();
    assert_eq!(first.comment, comment);
    assert_eq!((first.csat, first.nps), (Some(1), Some(2)));
    let retried = front
        .record_feedback(request)
        .await
        .expect("a retry")
        .into_inner();
    assert_eq!(retried, first, "the retry returns the first result");
    assert_eq!(h.feedback_events().await, 1);
    for (table, column) in [("events", "payload"), ("idempotency_keys", "response")] {
        let leaked: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE position($1 IN {column}) > 0)"
        )))
        .bind(comment.as_bytes())
        .fetch_one(&h.pool)
        .await
        .expect("search");
        assert!(!leaked, "the comment is not in {table}.{column}");
    }

    // The consumer team rates the request it received; the provider is filled in.
    let mut consumer = h.client(&chain.b.to_string()).await;
    let rated = consumer
        .record_feedback(feedback(about_request(chain.b, chain.r1), Some(2)))
        .await
        .expect("team feedback")
        .into_inner();
    match rated.subject.and_then(|s| s.subject) {
        Some(pb::feedback_subject::Subject::Team(team)) => {
            assert_eq!(team.provider_team_id, chain.a.to_string());
        }
        other => panic!("a team subject, got {other:?}"),
    }
    let denied = h
        .client(&chain.c.to_string())
        .await
        .record_feedback(feedback(about_request(chain.b, chain.r1), Some(5)))
        .await
        .expect_err("not the consumer");
    assert_eq!(denied.code(), Code::PermissionDenied);
    let not_consumer = h
        .client(&chain.a.to_string())
        .await
        .record_feedback(feedback(about_request(chain.a, chain.r1), Some(5)))
        .await
        .expect_err("the provider rating itself");
    assert_eq!(not_consumer.code(), Code::PermissionDenied);

    // One customer flooding: the score moves, but never by more than the flood bound.
    for _ in 0..40 {
        front
            .record_feedback(feedback(
                about_ticket(chain.customer, chain.ticket),
                Some(1),
            ))
            .await
            .expect("recorded");
    }
    h.settled().await;
    let moved = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        async || {
            score(&mut front, chain.customer)
                .await
                .is_some_and(|s| s < before)
        },
    )
    .await;
    assert!(moved, "bad feedback lowers the score");
    let after = score(&mut front, chain.customer).await.expect("a score");
    let bound = ScoringModel::default().flood_bound();
    assert!(
        before - after <= bound + 0.01,
        "moved {} > {bound}",
        before - after
    );
}
