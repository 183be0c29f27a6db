//! The deadline watch: a due time passing fires Breached by itself within a second, with the
//! due time as the event's time; two watches on one database fire each deadline once; a
//! watch started after the due time (a replica restarted) fires it at once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chain_proto::customerchain::v1 as pb;
use chain_testkit::wait_until;
use chrono::{TimeDelta, Utc};

use crate::harness::*;

/// Sales and Workshop, Workshop serving Sales.
async fn teams(h: &Harness) -> (String, String) {
    let sales = team(h, "Sales", true).await;
    let workshop = team(h, "Workshop", false).await;
    link(h, &workshop, &sales, 48).await;
    (sales, workshop)
}

/// Waits for the projector to schedule the one deadline of the test.
async fn assert_scheduled(h: &Harness) {
    let scheduled = wait_until(
        Duration::from_secs(5),
        Duration::from_millis(20),
        async || {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM deadlines")
                .fetch_one(&h.pool)
                .await
                .is_ok_and(|n| n == 1)
        },
    )
    .await;
    assert!(scheduled, "the projector schedules the deadline");
}

fn breached(stored: &[chain_store::RecordedEvent]) -> Vec<&chain_store::RecordedEvent> {
    stored
        .iter()
        .filter(|e| e.event_type == "customerchain.v1.RequestBreached")
        .collect()
}

#[tokio::test]
async fn a_due_time_passing_fires_breached_within_a_second() {
    let h = Harness::start().await;
    let (sales, workshop) = teams(&h).await;
    let committed_request = open(&h, &sales, &workshop, TimeDelta::seconds(30), None).await;
    let committed = commit(
        &h,
        &workshop,
        &committed_request.request_id,
        TimeDelta::milliseconds(1500),
    )
    .await;
    let due = time(
        committed
            .commitment
            .as_ref()
            .and_then(|c| c.due_at.as_ref()),
    );
    // Never committed: its needed-by time is what breaks.
    let unanswered = open(&h, &sales, &workshop, TimeDelta::milliseconds(1500), None).await;
    let needed_by = time(unanswered.needed_by.as_ref());

    let as_sales = h.client(&sales).await;
    let seen = h
        .eventually_request(&as_sales, &committed_request.request_id, 5, |r| {
            r.state() == pb::RequestState::Breached
        })
        .await;
    let noticed = Utc::now();
    assert!(noticed >= due, "never before the due time");
    assert!(
        noticed - due < TimeDelta::milliseconds(1200),
        "fired {} after the due time",
        noticed - due
    );
    assert_eq!(
        time(seen.closed_at.as_ref()),
        due,
        "the breach happened at the due time"
    );

    let stored = h
        .events(&request_stream(&committed_request.request_id))
        .await;
    let breaches = breached(&stored);
    assert_eq!(breaches.len(), 1);
    assert_eq!(breaches[0].occurred_at, due);
    assert_eq!(breaches[0].metadata.actor, chain_requests::SERVICE_ACTOR);
    assert_eq!(
        breaches[0].metadata.correlation_id, committed_request.request_id,
        "a root request is its own case"
    );
    let wire = <pb::RequestBreached as prost::Message>::decode(breaches[0].payload.as_slice())
        .expect("a breach");
    assert!(wire.committed);
    assert!(wire.time_ledger.is_some());

    let unanswered = h
        .eventually_request(&as_sales, &unanswered.request_id, 5, |r| {
            r.state() == pb::RequestState::Breached
        })
        .await;
    assert_eq!(time(unanswered.closed_at.as_ref()), needed_by);
    let stored = h.events(&request_stream(&unanswered.request_id)).await;
    let wire =
        <pb::RequestBreached as prost::Message>::decode(breached(&stored)[0].payload.as_slice())
            .expect("a breach");
    assert!(!wire.committed, "never answered");

    // A fulfilled request's deadline is gone: nothing fires for it.
    let kept = open(&h, &sales, &workshop, TimeDelta::seconds(30), None).await;
    commit(
        &h,
        &workshop,
        &kept.request_id,
        TimeDelta::milliseconds(800),
    )
    .await;
    h.client(&workshop)
        .await
        .fulfil_request(pb::FulfilRequestRequest {
            idempotency_key: key(),
            request_id: kept.request_id.clone(),
            expected_version: 0,
        })
        .await
        .expect("fulfilled in time");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = h.event_types(&request_stream(&kept.request_id)).await;
    assert_eq!(after.last().map(String::as_str), Some("RequestFulfilled"));
}

#[tokio::test]
async fn two_watches_fire_each_deadline_once() {
    let h = Harness::with(Options {
        deadline_watches: 2,
    })
    .await;
    let (sales, workshop) = teams(&h).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(
            open(&h, &sales, &workshop, TimeDelta::milliseconds(1200), None)
                .await
                .request_id,
        );
    }
    let as_sales = h.client(&sales).await;
    for id in &ids {
        h.eventually_request(&as_sales, id, 5, |r| {
            r.state() == pb::RequestState::Breached
        })
        .await;
    }
    // Give a second firing every chance to happen.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        let stored = h.events(&request_stream(id)).await;
        assert_eq!(breached(&stored).len(), 1, "request {id} breached once");
    }
    let fired: u64 = h
        .watches
        .iter()
        .map(|w| w.fired.load(Ordering::Relaxed))
        .sum();
    assert_eq!(fired, 6, "each deadline fired by exactly one watch");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM deadlines")
        .fetch_one(&h.pool)
        .await
        .expect("count");
    assert_eq!(left, 0, "fired deadlines are removed");
}

#[tokio::test]
async fn a_watch_started_after_the_due_time_fires_at_once() {
    let mut h = Harness::with(Options {
        deadline_watches: 0,
    })
    .await;
    let (sales, workshop) = teams(&h).await;
    let request = open(&h, &sales, &workshop, TimeDelta::milliseconds(600), None).await;
    let needed_by = time(request.needed_by.as_ref());
    assert_scheduled(&h).await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let as_sales = h.client(&sales).await;
    let still = h
        .eventually_request(&as_sales, &request.request_id, 1, |_| true)
        .await;
    assert_eq!(still.state(), pb::RequestState::Opened, "no watch ran");

    // A replica comes back: it catches up at once, with the due time as the event's time.
    let started = Utc::now();
    let stats = h.spawn_watch();
    let seen = h
        .eventually_request(&as_sales, &request.request_id, 5, |r| {
            r.state() == pb::RequestState::Breached
        })
        .await;
    assert!(
        Utc::now() - started < TimeDelta::seconds(1),
        "fired on start"
    );
    assert_eq!(time(seen.closed_at.as_ref()), needed_by);
    assert_eq!(stats.fired.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_deadline_whose_history_does_not_decode_is_put_off_and_holds_back_no_other() {
    let h = Harness::with(Options {
        deadline_watches: 0,
    })
    .await;
    let (sales, workshop) = teams(&h).await;
    let request = open(&h, &sales, &workshop, TimeDelta::milliseconds(300), None).await;
    assert_scheduled(&h).await;
    // A request whose history does not decode, with a deadline due before the good one's.
    let poison = uuid::Uuid::new_v4();
    h.store
        .append(
            &chain_store::StreamId::new("request", poison.to_string()),
            0,
            &[chain_store::NewEvent::new(
                "customerchain.v1.RequestOpened",
                1,
                Utc::now(),
                vec![0xff, 0xff, 0xff],
            )],
            &chain_store::EventMetadata::default(),
            None,
        )
        .await
        .expect("append a poison event");
    sqlx::query(
        "INSERT INTO deadlines (request_id, due_at, kind)
         SELECT $1, now() - interval '1 minute', kind FROM deadlines LIMIT 1",
    )
    .bind(poison)
    .execute(&h.pool)
    .await
    .expect("schedule the poison deadline");
    tokio::time::sleep(Duration::from_millis(400)).await;

    let watch =
        chain_requests::DeadlineWatch::new(h.store.clone(), chain_requests::RequestDeadlines);
    let round = watch
        .round()
        .await
        .expect("the round goes on past the poison");
    assert_eq!((round.locked, round.fired), (2, 1), "{round:?}");
    assert_eq!(watch.stats().unreadable.load(Ordering::Relaxed), 1);
    let put_off: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT due_at FROM deadlines WHERE request_id = $1")
            .bind(poison)
            .fetch_one(&h.pool)
            .await
            .expect("the poison deadline is kept");
    assert!(put_off > Utc::now() + TimeDelta::seconds(30), "{put_off}");
    let as_sales = h.client(&sales).await;
    h.eventually_request(&as_sales, &request.request_id, 5, |r| {
        r.state() == pb::RequestState::Breached
    })
    .await;
}
