//! Pareto tiers through the RPCs, on a skewed distribution: a lone customer is tier A; a
//! whale arriving pushes it down to C (recorded on its own stream by the service); the long
//! tail stays C; a tail customer growing past the whale becomes A beside it. Names and
//! e-mails are returned by the API but never stored in an event.

use chain_proto::customerchain::v1 as pb;
use chain_store::StreamId;
use prost_types::FieldMask;

use crate::harness::*;

async fn get(client: &Client, id: &str) -> pb::Customer {
    client
        .clone()
        .get_customer(pb::GetCustomerRequest {
            customer_id: id.to_owned(),
        })
        .await
        .expect("GetCustomer")
        .into_inner()
}

async fn list(client: &Client, tiers: &[pb::CustomerTier], page_size: i32) -> Vec<pb::Customer> {
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .clone()
            .list_customers(pb::ListCustomersRequest {
                page_size,
                page_token: token,
                tiers: tiers.iter().map(|t| i32::from(*t)).collect(),
            })
            .await
            .expect("ListCustomers")
            .into_inner();
        all.extend(page.customers);
        if page.next_page_token.is_empty() {
            return all;
        }
        token = page.next_page_token;
    }
}

#[tokio::test]
async fn tiers_follow_a_skewed_distribution_of_values() {
    let harness = Harness::start().await;
    let client = harness.client("crm-import").await;
    let shop = customer(&client, "Small Shop", 1_000).await;
    assert_eq!(
        shop.tier(),
        pb::CustomerTier::A,
        "alone, it carries all the value"
    );
    assert_eq!(shop.value_rank, 1);
    assert_eq!(shop.display_name, "Small Shop");
    assert_eq!(shop.email, "small.shop@example.com");

    let whale = customer(&client, "Big Hotel Chain", 1_000_000).await;
    assert_eq!(whale.tier(), pb::CustomerTier::A);
    assert_eq!(whale.value_rank, 1);
    let shop_now = get(&client, &shop.customer_id).await;
    assert_eq!(
        shop_now.tier(),
        pb::CustomerTier::C,
        "the whale carries 99.9%"
    );
    assert_eq!(shop_now.value_rank, 2);
    let mut tail = Vec::new();
    for n in 0..8 {
        tail.push(customer(&client, &format!("Corner Store {n}"), 1_000).await);
    }
    assert!(tail.iter().all(|c| c.tier() == pb::CustomerTier::C));

    // The shop's own stream tells its tier's story; the service recorded the move.
    let shop_stream = StreamId::new("customer", shop.customer_id.clone());
    assert_eq!(
        harness.event_types(&shop_stream).await,
        vec![
            "CustomerRegistered",
            "CustomerTierChanged",
            "CustomerTierChanged"
        ]
    );
    let pushed_down = harness.events(&shop_stream).await.pop().expect("an event");
    assert_eq!(pushed_down.metadata.actor, "tickets-svc");
    assert_eq!(shop_now.version, 3);

    harness.settled().await;
    let tier_a = list(&client, &[pb::CustomerTier::A], 0).await;
    assert_eq!(
        tier_a
            .iter()
            .map(|c| c.customer_id.clone())
            .collect::<Vec<_>>(),
        vec![whale.customer_id.clone()]
    );
    assert!(list(&client, &[pb::CustomerTier::B], 0).await.is_empty());
    let everyone = list(&client, &[], 3).await;
    assert_eq!(everyone.len(), 10, "paged three at a time");
    assert_eq!(everyone[0].customer_id, whale.customer_id);
    assert_eq!(
        everyone.iter().map(|c| c.value_rank).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<u32>>()
    );
    assert_eq!(
        everyone[1].display_name, "Small Shop",
        "ties by id: registered first"
    );

    // The shop grows past the whale: both are needed for 80% now.
    let grown = client
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            idempotency_key: key(),
            customer_id: shop.customer_id.clone(),
            expected_version: 3,
            value: eur(2_000_000),
            update_mask: Some(FieldMask {
                paths: vec!["value".into()],
            }),
            ..pb::UpdateCustomerRequest::default()
        })
        .await
        .expect("UpdateCustomer")
        .into_inner();
    assert_eq!(grown.tier(), pb::CustomerTier::A);
    assert_eq!(grown.value_rank, 1);
    assert_eq!(grown.value, eur(2_000_000));
    assert_eq!(
        get(&client, &whale.customer_id).await.tier(),
        pb::CustomerTier::A
    );
    assert_eq!(get(&client, &whale.customer_id).await.value_rank, 2);
    assert_eq!(
        harness.event_types(&shop_stream).await[3..],
        ["CustomerValueChanged", "CustomerTierChanged"]
    );
    let whale_stream = StreamId::new("customer", whale.customer_id.clone());
    assert_eq!(
        harness.event_types(&whale_stream).await.len(),
        2,
        "the whale's tier did not move"
    );

    // A new name: returned by the API, recorded as a change without the name itself.
    let renamed = client
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            idempotency_key: key(),
            customer_id: shop.customer_id.clone(),
            display_name: "Small Shop & Sons".into(),
            update_mask: Some(FieldMask {
                paths: vec!["display_name".into()],
            }),
            ..pb::UpdateCustomerRequest::default()
        })
        .await
        .expect("UpdateCustomer")
        .into_inner();
    assert_eq!(renamed.display_name, "Small Shop & Sons");
    assert_eq!(renamed.email, "small.shop@example.com");
    assert_eq!(
        harness
            .event_types(&shop_stream)
            .await
            .last()
            .map(String::as_str),
        Some("CustomerDetailsChanged")
    );
    let personal: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events
         WHERE position(convert_to('Small Shop', 'UTF8') IN payload) > 0
            OR position(convert_to('example.com', 'UTF8') IN payload) > 0",
    )
    .fetch_one(&harness.pool)
    .await
    .expect("count");
    assert_eq!(personal, 0, "no event holds a name or an e-mail address");

    // Only what changes is recorded: the same value again is nothing.
    let unchanged = client
        .clone()
        .update_customer(pb::UpdateCustomerRequest {
            idempotency_key: key(),
            customer_id: shop.customer_id.clone(),
            value: eur(2_000_000),
            update_mask: Some(FieldMask {
                paths: vec!["value".into()],
            }),
            ..pb::UpdateCustomerRequest::default()
        })
        .await
        .expect("UpdateCustomer")
        .into_inner();
    assert_eq!(unchanged.version, renamed.version);
}

/// GetTicket shows the customer's tier and value as they are now, whether the read model has
/// listed the ticket under its customer yet (one read for it all) or not (read apart).
#[tokio::test]
async fn a_ticket_shows_its_customers_tier_and_value_now() {
    let harness = Harness::start().await;
    let crm = harness.client("crm-import").await;
    let shop = customer(&crm, "Small Shop", 1_000).await;
    let front_line = harness.client(&team()).await;
    let opened = ticket(&front_line, &shop.customer_id, "desk").await;
    let read = async || read_ticket(&front_line, &opened.ticket_id).await;
    assert_eq!(read().await.tier(), pb::CustomerTier::A);

    harness.settled().await;
    let whale = customer(&crm, "Big Hotel Chain", 1_000_000).await;
    assert_eq!(whale.tier(), pb::CustomerTier::A);
    let listed = read().await;
    assert_eq!(
        listed.tier(),
        pb::CustomerTier::C,
        "the whale pushed it down"
    );
    assert_eq!(listed.value_at_stake, eur(1_000));

    // As before the projector lists it: the same ticket, read apart.
    sqlx::query("DELETE FROM tickets WHERE ticket_id = $1::uuid")
        .bind(&opened.ticket_id)
        .execute(&harness.pool)
        .await
        .expect("unlist the ticket");
    assert_eq!(read().await, listed);
}
