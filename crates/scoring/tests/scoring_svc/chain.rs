//! End to end: a breakdown at the first link of a three-link chain, traced to the customer it
//! hurt, scored, ledgered and summarised; the same breakdown announced in time costs less;
//! rebuilding from the histories gives the live projections, byte for byte.

use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chain_scoring::codec::InputStore;
use chain_scoring::projection::rows::ScoreRow;
use chain_scoring::projection::tables::TABLES;
use chain_scoring::projection::{ProjectionConfig, Tables};
use chain_scoring::rebuild::{EventSource, rebuild};
use futures::StreamExt;
use uuid::Uuid;

use crate::harness::{Client, Harness};
use crate::story::{Chain, VALUE, breakdown, elsewhere};

fn link(provider: Uuid, consumer: Uuid) -> pb::LinkRef {
    pb::LinkRef {
        provider_team_id: provider.to_string(),
        consumer_team_id: consumer.to_string(),
    }
}

async fn score_row(h: &Harness, subject: &str) -> Option<ScoreRow> {
    sqlx::query_as("SELECT * FROM scoring_scores WHERE subject = $1")
        .bind(subject)
        .fetch_optional(&h.pool)
        .await
        .expect("score row")
}

async fn health_rows(h: &Harness, provider: Uuid, consumer: Uuid) -> Vec<u8> {
    let row: Option<(i32, i32, i32, i32, i64, i32)> = sqlx::query_as(
        "SELECT health_hundredths, confidence_e4, completed, on_time, mean_lateness_ms, customers_hurt
         FROM scoring_link_health WHERE provider_team_id = $1 AND consumer_team_id = $2",
    )
    .bind(provider)
    .bind(consumer)
    .fetch_optional(&h.pool)
    .await
    .expect("health row");
    format!("{row:?}").into_bytes()
}

async fn health(client: &mut Client, provider: Uuid) -> pb::LinkHealth {
    let listed = client
        .list_link_health(pb::ListLinkHealthRequest {
            provider_team_id: provider.to_string(),
            ..Default::default()
        })
        .await
        .expect("ListLinkHealth")
        .into_inner();
    assert_eq!(listed.links.len(), 1, "one link provided by {provider}");
    listed.links[0].clone()
}

async fn customer_score(client: &mut Client, customer: Uuid) -> pb::Score {
    client
        .get_score(pb::GetScoreRequest {
            subject: Some(pb::ScoreSubject {
                subject: Some(pb::score_subject::Subject::CustomerId(customer.to_string())),
            }),
        })
        .await
        .expect("GetScore")
        .into_inner()
}

async fn impacts_of(client: &mut Client, customer: Uuid) -> Vec<pb::Impact> {
    client
        .list_impacts(pb::ListImpactsRequest {
            customer_id: customer.to_string(),
            ..Default::default()
        })
        .await
        .expect("ListImpacts")
        .into_inner()
        .impacts
}

#[tokio::test]
async fn a_breakdown_at_the_first_link_is_traced_to_the_customer_and_a_notice_costs_less() {
    let mut h = Harness::start().await;
    let others = elsewhere(&mut h).await;
    h.settled().await;
    let mut client = h.client("scoring-tests").await;
    let other_customer = format!("customer:{}", others.customer);
    let before_customer = score_row(&h, &other_customer)
        .await
        .expect("the other customer is scored");
    let before_link = health_rows(&h, others.x, others.y).await;
    let before_score = customer_score(&mut client, others.customer).await;
    assert!(
        before_score.score > 75.0,
        "a kept promise scores above the prior: {before_score:?}"
    );

    let (surprise, notice) = (Chain::new(), Chain::new());
    breakdown(&mut h, &surprise, false).await;
    breakdown(&mut h, &notice, true).await;
    h.settled().await;

    // The first link's health fell below what a link with no history shows.
    let first = health(&mut client, surprise.a).await;
    assert!(first.health_score < 75.0, "{first:?}");
    assert_eq!((first.completed_requests, first.on_time_requests), (1, 0));
    assert_eq!(first.breakdowns, 1);
    assert_eq!(first.customers_hurt, 1);
    assert_eq!(
        first.value_at_risk.as_ref().map(|m| m.value_minor),
        Some(VALUE)
    );
    let loss = first.attributed_loss.as_ref().map_or(0, |m| m.value_minor);
    assert!(
        loss > VALUE * 9 / 10,
        "r1 caused 46 of the 48 hours charged: {loss}"
    );

    // The customer's score fell below the prior.
    let hurt = customer_score(&mut client, surprise.customer).await;
    assert!(hurt.score < 75.0, "{hurt:?}");

    // Nothing else moved.
    assert_eq!(score_row(&h, &other_customer).await, Some(before_customer));
    assert_eq!(health_rows(&h, others.x, others.y).await, before_link);

    // One impact record, with the full path.
    let impacts = impacts_of(&mut client, surprise.customer).await;
    assert_eq!(impacts.len(), 1, "{impacts:#?}");
    let impact = &impacts[0];
    let path = impact.path.as_ref().expect("a path").links.clone();
    assert_eq!(path, surprise.path());
    assert_eq!(impact.root_cause.as_ref(), Some(&surprise.path()[0]));
    assert_eq!(impact.kind(), pb::ImpactKind::AtRisk);
    assert_eq!(impact.tier(), pb::CustomerTier::A);
    assert!(impact.resolved && !impact.notified_before_due);
    assert_eq!(impact.outcome(), pb::PromiseOutcome::KeptLate);
    let charged: Vec<(String, i64)> = impact
        .attribution
        .iter()
        .map(|s| {
            (
                s.request_id.clone(),
                s.value_charged.as_ref().map_or(0, |m| m.value_minor),
            )
        })
        .collect();
    assert_eq!(
        charged.len(),
        2,
        "r1 and r3 charged themselves delay: {charged:?}"
    );
    assert_eq!(
        charged.iter().map(|c| c.1).sum::<i64>(),
        VALUE,
        "the parts add up"
    );
    let r1_share = impact
        .attribution
        .iter()
        .find(|s| s.request_id == surprise.r1.to_string())
        .expect("r1 charged");
    assert!((r1_share.share - 46.0 / 48.0).abs() < 1e-6, "{r1_share:?}");

    // Summaries by root team and by link.
    let by_team = client
        .get_impact_summary(pb::GetImpactSummaryRequest {
            root_team_id: surprise.a.to_string(),
            ..Default::default()
        })
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(
        (
            by_team.impacts,
            by_team.customers_hurt,
            by_team.kept_late,
            by_team.open
        ),
        (1, 1, 1, 0)
    );
    let by_link = client
        .get_impact_summary(pb::GetImpactSummaryRequest {
            link: Some(link(surprise.b, surprise.c)),
            ..Default::default()
        })
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(by_link.impacts, 1, "the path runs through B → C too");
    assert_eq!(by_link.value_at_risk.map(|m| m.value_minor), Some(VALUE));

    // The same breakdown, announced in time, costs less: to the link and to the customer.
    let noticed = health(&mut client, notice.a).await;
    assert!(
        noticed.health_score > first.health_score,
        "{noticed:?} vs {first:?}"
    );
    let told = customer_score(&mut client, notice.customer).await;
    assert!(told.score > hurt.score, "{told:?} vs {hurt:?}");
    let told_impact = &impacts_of(&mut client, notice.customer).await[0];
    assert!(told_impact.notified_before_due);

    // Worst first.
    let all = client
        .list_link_health(pb::ListLinkHealthRequest::default())
        .await
        .expect("ListLinkHealth")
        .into_inner()
        .links;
    assert!(
        all.windows(2)
            .all(|w| w[0].health_score <= w[1].health_score),
        "{all:#?}"
    );

    // The impact and score events went into scoring's own store, and WatchScores streams them.
    let mut watch = client
        .watch_scores(pb::WatchScoresRequest {
            subject: Some(pb::ScoreSubject {
                subject: Some(pb::score_subject::Subject::CustomerId(
                    surprise.customer.to_string(),
                )),
            }),
            ..Default::default()
        })
        .await
        .expect("WatchScores")
        .into_inner();
    let mut seen = Vec::new();
    // Generous: the loop leaves as soon as it has what it waits for, and under a loaded
    // machine the outputs can come seconds apart.
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(10), watch.next()).await
    {
        seen.push(message.event.expect("an event").event_type);
        if seen.iter().any(|t| t.ends_with("ImpactResolved")) && seen.len() >= 4 {
            break;
        }
    }
    for wanted in ["ImpactRecorded", "ScoreChanged", "ImpactResolved"] {
        assert!(
            seen.iter().any(|t| t.ends_with(wanted)),
            "{wanted} in {seen:?}"
        );
    }
    assert!(seen.iter().all(|t| !t.ends_with("FeedbackRecorded")));

    // Rebuilding twice gives the same projections as the live ones, once the live ones hold
    // every input (compared earlier, a late input made the digests differ under load).
    h.settled().await;
    let live = client
        .get_projection_digest(pb::GetProjectionDigestRequest {})
        .await
        .expect("digest")
        .into_inner();
    assert_eq!(live.algorithm, "sha256");
    assert_eq!(
        live.input_positions.get("requests-svc").copied(),
        Some(h.requests.appended)
    );
    assert_eq!(
        live.input_positions.get("tickets-svc").copied(),
        Some(h.tickets.appended)
    );
    let config = ProjectionConfig::default();
    let first_rebuild = rebuild(
        &h.pool,
        [
            (
                InputStore::Requests,
                EventSource::Store(h.requests.store.clone()),
            ),
            (
                InputStore::Tickets,
                EventSource::Store(h.tickets.store.clone()),
            ),
            (InputStore::Scoring, EventSource::Store(h.store.clone())),
        ],
        &config,
        "rebuild_one",
    )
    .await
    .expect("first rebuild");
    let second_rebuild = rebuild(
        &h.pool,
        [
            (
                InputStore::Requests,
                EventSource::Store(h.requests.store.clone()),
            ),
            (
                InputStore::Tickets,
                EventSource::Store(h.tickets.store.clone()),
            ),
            (
                InputStore::Scoring,
                EventSource::connect(InputStore::Scoring, &h.url())
                    .await
                    .expect("ReadEvents"),
            ),
        ],
        &config,
        "rebuild_two",
    )
    .await
    .expect("second rebuild");
    assert_eq!(first_rebuild.digest, first_rebuild.memory_digest);
    assert_eq!(first_rebuild.digest, second_rebuild.digest);
    assert_eq!(first_rebuild.digest, live.digest);
    for (a, b) in [("rebuild_one", "public"), ("rebuild_two", "rebuild_one")] {
        for table in TABLES {
            let differing: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM ((TABLE {a}.{table} EXCEPT TABLE {b}.{table})
                                       UNION ALL (TABLE {b}.{table} EXCEPT TABLE {a}.{table})) AS d"
            )))
            .fetch_one(&h.pool)
            .await
            .expect("compare");
            assert_eq!(differing, 0, "{a}.{table} differs from {b}.{table}");
        }
    }
    Tables::in_schema("rebuild_two")
        .expect("schema")
        .drop(&h.pool)
        .await
        .expect("drop");
}
