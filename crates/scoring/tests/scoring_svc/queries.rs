//! The read RPCs over open impacts: customers at risk ranked by value × risk, impacts paged
//! newest first and filtered by time window, team and link, unknown scores NOT_FOUND.

use chain_proto::customerchain::v1 as pb;
use chrono::TimeDelta;
use tonic::Code;
use uuid::Uuid;

use crate::harness::Harness;
use crate::story::{Chain, at_risk, due};

fn ts(at: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(chain_proto::timestamp::from_datetime(at))
}

#[tokio::test]
async fn open_impacts_put_customers_at_risk_ranked_by_value_and_page_newest_first() {
    let mut h = Harness::start().await;
    let (small, large) = (Chain::new(), Chain::new());
    let early = due() - TimeDelta::hours(40);
    let late = due() - TimeDelta::hours(20);
    at_risk(&mut h, &small, 100_000, early).await;
    at_risk(&mut h, &large, 9_000_000, late).await;
    h.settled().await;
    let mut client = h.client("scoring-tests").await;

    let listed = client
        .list_at_risk_customers(pb::ListAtRiskCustomersRequest::default())
        .await
        .expect("ListAtRiskCustomers")
        .into_inner()
        .customers;
    let order: Vec<String> = listed.iter().map(|c| c.customer_id.clone()).collect();
    assert_eq!(
        order,
        [large.customer.to_string(), small.customer.to_string()]
    );
    let top = &listed[0];
    assert_eq!(
        top.lifecycle(),
        pb::CustomerLifecycle::AtRisk,
        "an open impact puts a customer at risk"
    );
    assert_eq!(top.open_impacts, 1);
    assert!(
        (top.risk - 0.25).abs() < 1e-9,
        "1 - 75/100 with nothing else known: {top:?}"
    );
    assert_eq!(
        top.value_at_risk.as_ref().map(|m| m.value_minor),
        Some(2_250_000)
    );
    let tier_c = client
        .list_at_risk_customers(pb::ListAtRiskCustomersRequest {
            tiers: vec![pb::CustomerTier::C.into()],
            ..Default::default()
        })
        .await
        .expect("by tier")
        .into_inner();
    assert!(tier_c.customers.is_empty(), "both customers are tier A");
    let bad = client
        .list_at_risk_customers(pb::ListAtRiskCustomersRequest {
            tiers: vec![0],
            ..Default::default()
        })
        .await
        .expect_err("unspecified tier");
    assert_eq!(bad.code(), Code::InvalidArgument);

    // Newest first, one per page.
    let first = client
        .list_impacts(pb::ListImpactsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("page 1")
        .into_inner();
    assert_eq!(first.impacts[0].customer_id, large.customer.to_string());
    assert!(!first.impacts[0].resolved && first.impacts[0].attribution.is_empty());
    let second = client
        .list_impacts(pb::ListImpactsRequest {
            page_size: 1,
            page_token: first.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .expect("page 2")
        .into_inner();
    assert_eq!(second.impacts[0].customer_id, small.customer.to_string());
    assert!(second.next_page_token.is_empty(), "the last page");
    let foreign = client
        .list_impacts(pb::ListImpactsRequest {
            page_size: 1,
            page_token: first.next_page_token,
            customer_id: small.customer.to_string(),
            ..Default::default()
        })
        .await
        .expect_err("a token of another listing");
    assert_eq!(foreign.code(), Code::InvalidArgument);

    // Filters: time window, root team, link.
    let window = client
        .list_impacts(pb::ListImpactsRequest {
            start_time: ts(early - TimeDelta::hours(1)),
            end_time: ts(late),
            ..Default::default()
        })
        .await
        .expect("window")
        .into_inner()
        .impacts;
    assert_eq!(window.len(), 1);
    assert_eq!(window[0].customer_id, small.customer.to_string());
    let by_team = client
        .list_impacts(pb::ListImpactsRequest {
            root_team_id: large.a.to_string(),
            ..Default::default()
        })
        .await
        .expect("by team")
        .into_inner()
        .impacts;
    assert_eq!(by_team.len(), 1);
    let by_link = client
        .list_impacts(pb::ListImpactsRequest {
            link: Some(pb::LinkRef {
                provider_team_id: small.c.to_string(),
                consumer_team_id: small.f.to_string(),
            }),
            ..Default::default()
        })
        .await
        .expect("by link")
        .into_inner()
        .impacts;
    assert_eq!(by_link.len(), 1);
    assert_eq!(by_link[0].customer_id, small.customer.to_string());
    let summary = client
        .get_impact_summary(pb::GetImpactSummaryRequest::default())
        .await
        .expect("summary")
        .into_inner();
    assert_eq!(
        (summary.impacts, summary.open, summary.customers_hurt),
        (2, 2, 2)
    );
    assert_eq!(
        summary.value_at_risk.map(|m| m.value_minor),
        Some(9_100_000)
    );
    let both = client
        .get_impact_summary(pb::GetImpactSummaryRequest {
            root_team_id: small.a.to_string(),
            link: Some(pb::LinkRef {
                provider_team_id: small.a.to_string(),
                consumer_team_id: small.b.to_string(),
            }),
            ..Default::default()
        })
        .await
        .expect_err("team and link");
    assert_eq!(both.code(), Code::InvalidArgument);

    // No signal yet: no score to show.
    let missing = client
        .get_score(pb::GetScoreRequest {
            subject: Some(pb::ScoreSubject {
                subject: Some(pb::score_subject::Subject::CustomerId(
                    Uuid::now_v7().to_string(),
                )),
            }),
        })
        .await
        .expect_err("unknown");
    assert_eq!(missing.code(), Code::NotFound);
    let unscored = client
        .get_score(pb::GetScoreRequest {
            subject: Some(pb::ScoreSubject {
                subject: Some(pb::score_subject::Subject::CustomerId(
                    small.customer.to_string(),
                )),
            }),
        })
        .await
        .expect_err("only an impact, no signal");
    assert_eq!(unscored.code(), Code::NotFound);
}
