//! The event store against a real PostgreSQL: each test gets a database of its own.

use chain_store::{
    AppendOutcome, EventMetadata, EventStore, Idempotency, NewEvent, PendingAppends, Position,
    Rider, StoreError, StreamId, advance_checkpoint, load_checkpoint, save_checkpoint,
};
use chain_testkit::{TestDatabase, wait_until};
use chrono::Utc;
use std::time::Duration;

async fn store(db: &TestDatabase) -> EventStore {
    let store = EventStore::new(db.pool());
    store.migrate().await.expect("migrations apply");
    store
}

fn event(kind: &str) -> NewEvent {
    NewEvent::new(
        format!("test.v1.{kind}"),
        1,
        Utc::now(),
        kind.as_bytes().to_vec(),
    )
}

fn metadata() -> EventMetadata {
    EventMetadata {
        correlation_id: "case-1".into(),
        causation_id: "cmd-1".into(),
        actor: "team-a".into(),
        traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        tracestate: None,
        baggage: Some("chain.case_id=case-1".into()),
    }
}

#[tokio::test]
async fn appends_and_loads_a_stream_in_order() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let stream = StreamId::new("request", "r1");

    let first = store
        .append(
            &stream,
            0,
            &[event("Opened"), event("Committed")],
            &metadata(),
            None,
        )
        .await
        .expect("first append");
    assert!(matches!(first, AppendOutcome::Appended { version: 2, .. }));
    store
        .append(&stream, 2, &[event("Fulfilled")], &metadata(), None)
        .await
        .expect("second append");

    let loaded = store.load_stream(&stream).await.expect("load");
    let types: Vec<_> = loaded.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["test.v1.Opened", "test.v1.Committed", "test.v1.Fulfilled"]
    );
    assert_eq!(
        loaded.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(loaded[0].metadata, metadata());
    assert_eq!(loaded[2].payload, b"Fulfilled");
    assert_eq!(store.stream_version(&stream).await.expect("version"), 3);
}

#[tokio::test]
async fn load_tails_returns_what_each_stream_gained_after_its_version_in_one_read() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let (a, b, c) = (
        StreamId::new("request", "a"),
        StreamId::new("request", "b"),
        StreamId::new("request", "c"),
    );
    let meta = metadata();
    let kinds = ["One", "Two", "Three"];
    store
        .append(&a, 0, &kinds.map(event), &meta, None)
        .await
        .expect("a");
    store
        .append(
            &b,
            0,
            &kinds[..2].iter().map(|k| event(k)).collect::<Vec<_>>(),
            &meta,
            None,
        )
        .await
        .expect("b");
    // Another type with the same id is another stream.
    store
        .append(
            &StreamId::new("ticket", "a"),
            0,
            &[event("Other")],
            &meta,
            None,
        )
        .await
        .expect("ticket a");

    let tails = store
        .load_tails(&[(b.clone(), 2), (a.clone(), 1), (c, 0)])
        .await
        .expect("tails");
    let seen: Vec<_> = tails
        .iter()
        .map(|e| {
            (
                e.stream.aggregate_id.as_str(),
                e.version,
                e.payload.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("a", 2, b"Two".as_slice()), ("a", 3, b"Three".as_slice())],
        "b is up to date, c has nothing, a gained two; the ticket stream is not asked for"
    );
    assert!(
        store
            .load_tails(&[])
            .await
            .expect("nothing asked")
            .is_empty()
    );
}

#[tokio::test]
async fn a_stale_or_future_expected_version_is_a_conflict() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let stream = StreamId::new("request", "r1");
    store
        .append(&stream, 0, &[event("Opened")], &metadata(), None)
        .await
        .expect("append");

    for expected in [0, 2] {
        let err = store
            .append(&stream, expected, &[event("Committed")], &metadata(), None)
            .await
            .expect_err("wrong expected version must fail");
        assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    }
    assert_eq!(store.stream_version(&stream).await.expect("version"), 1);
}

#[tokio::test]
async fn a_few_events_or_many_are_appended_in_order_and_checked_alike() {
    // Up to four events without a key take a plain INSERT, more the `append_events` function:
    // both must number, order and check versions the same way.
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let meta = metadata();
    for (n, size) in [1usize, 2, 4, 5].into_iter().enumerate() {
        let stream = StreamId::new("request", format!("r{n}"));
        let kinds: Vec<String> = (1..=size).map(|k| format!("E{k}")).collect();
        let batch: Vec<NewEvent> = kinds.iter().map(|k| event(k)).collect();
        let outcome = store
            .append(&stream, 0, &batch, &meta, None)
            .await
            .expect("append");
        let AppendOutcome::Appended {
            first_position,
            version,
        } = outcome
        else {
            panic!("{size} events: {outcome:?}");
        };
        assert_eq!(version, size as u64, "{size} events");
        let stored = store.load_stream(&stream).await.expect("load");
        let seen: Vec<(u64, i64, Vec<u8>)> = stored
            .iter()
            .map(|e| (e.version, e.position.position, e.payload.clone()))
            .collect();
        let wanted: Vec<(u64, i64, Vec<u8>)> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                (
                    i as u64 + 1,
                    first_position + i as i64,
                    k.clone().into_bytes(),
                )
            })
            .collect();
        assert_eq!(
            seen, wanted,
            "{size} events: versions and positions in order"
        );
        for expected in [0, size as u64 + 1] {
            let err = store
                .append(&stream, expected, &batch, &meta, None)
                .await
                .expect_err("a wrong expected version must fail");
            assert!(
                matches!(err, StoreError::Conflict { .. }),
                "{size}: {err:?}"
            );
        }
        assert_eq!(
            store.stream_version(&stream).await.expect("version"),
            size as u64
        );
    }
}

#[tokio::test]
async fn two_concurrent_appends_at_the_same_version_one_wins() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let stream = StreamId::new("ticket", "t1");
    store
        .append(&stream, 0, &[event("Opened")], &metadata(), None)
        .await
        .expect("append");

    // Many rounds, so that the race (rather than the up-front version check) is exercised too.
    for round in 1..=20u64 {
        let (events_a, events_b, meta) = ([event("A")], [event("B")], metadata());
        let (a, b) = tokio::join!(
            store.append(&stream, round, &events_a, &meta, None),
            store.append(&stream, round, &events_b, &meta, None),
        );
        let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {a:?} / {b:?}");
        let loser = if a.is_ok() { b } else { a };
        assert!(
            matches!(loser, Err(StoreError::Conflict { .. })),
            "{loser:?}"
        );
    }
    assert_eq!(store.stream_version(&stream).await.expect("version"), 21);
}

#[tokio::test]
async fn a_retried_command_returns_its_first_result_and_appends_nothing() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let stream = StreamId::new("team", "t1");
    let idem = Idempotency {
        scope: "CreateTeam/team-a".into(),
        key: "key-1".into(),
        fingerprint: b"request-digest".to_vec(),
        response: b"first response".to_vec(),
    };

    let first = store
        .append(&stream, 0, &[event("Created")], &metadata(), Some(&idem))
        .await
        .expect("first");
    assert!(matches!(first, AppendOutcome::Appended { .. }));

    // The retry even carries a stale expected version: the key answers before the version check.
    let retry = Idempotency {
        response: b"second response".to_vec(),
        ..idem.clone()
    };
    let again = store
        .append(&stream, 0, &[event("Created")], &metadata(), Some(&retry))
        .await
        .expect("retry");
    assert_eq!(
        again,
        AppendOutcome::Replayed {
            response: b"first response".to_vec()
        }
    );
    assert_eq!(store.load_stream(&stream).await.expect("load").len(), 1);

    let reused = Idempotency {
        fingerprint: b"another request".to_vec(),
        ..idem
    };
    let err = store
        .append(&stream, 1, &[event("Renamed")], &metadata(), Some(&reused))
        .await
        .expect_err("a reused key with another request must fail");
    assert!(
        matches!(err, StoreError::IdempotencyKeyReused { .. }),
        "{err:?}"
    );
    assert_eq!(store.stream_version(&stream).await.expect("version"), 1);
}

#[tokio::test]
async fn a_conflicting_append_does_not_keep_its_idempotency_key() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let stream = StreamId::new("team", "t1");
    store
        .append(&stream, 0, &[event("Created")], &metadata(), None)
        .await
        .expect("append");
    let idem = Idempotency {
        scope: "RenameTeam/team-a".into(),
        key: "k".into(),
        fingerprint: b"f".to_vec(),
        response: b"r".to_vec(),
    };
    let err = store
        .append(&stream, 0, &[event("Renamed")], &metadata(), Some(&idem))
        .await
        .expect_err("stale version");
    assert!(matches!(err, StoreError::Conflict { .. }));
    // The same key at the right version now goes through: the failed attempt left no record.
    let ok = store
        .append(&stream, 1, &[event("Renamed")], &metadata(), Some(&idem))
        .await
        .expect("retry at the right version");
    assert!(matches!(ok, AppendOutcome::Appended { version: 2, .. }));
}

#[tokio::test]
async fn events_are_append_only() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    store
        .append(
            &StreamId::new("team", "t1"),
            0,
            &[event("Created")],
            &metadata(),
            None,
        )
        .await
        .expect("append");
    for sql in ["UPDATE events SET actor = 'x'", "DELETE FROM events"] {
        let err = sqlx::query(sql)
            .execute(store.pool())
            .await
            .expect_err("history must not change");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
}

#[tokio::test]
async fn read_all_does_not_skip_a_transaction_that_commits_late() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;

    // A transaction takes its position first but commits last.
    let mut late = store.pool().begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO events (event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
             schema_version, occurred_at, correlation_id, causation_id, actor, payload)
         VALUES (gen_random_uuid(), 'request', 'late', 1, 'test.v1.Late', 1, now(), 'c', 'c', 'a', '')",
    )
    .execute(&mut *late)
    .await
    .expect("late insert");

    store
        .append(
            &StreamId::new("request", "early"),
            0,
            &[event("Early")],
            &metadata(),
            None,
        )
        .await
        .expect("early append");

    // While the late transaction runs, nothing at or after it is visible to the relay.
    let seen = store.read_all(Position::START, 100).await.expect("read");
    assert!(seen.is_empty(), "read past a running transaction: {seen:?}");

    late.commit().await.expect("commit late");
    // Transaction ids are cluster-wide: other tests' transactions may hold the horizon back for
    // a moment, so wait until both are readable.
    let mut seen = Vec::new();
    let readable = wait_until(
        Duration::from_secs(10),
        Duration::from_millis(10),
        async || {
            seen = store.read_all(Position::START, 100).await.expect("read");
            seen.len() == 2
        },
    )
    .await;
    assert!(readable, "both events become readable: {seen:?}");
    let types: Vec<_> = seen.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["test.v1.Late", "test.v1.Early"], "commit order");
    assert!(seen[0].position.position < seen[1].position.position);

    // Paging from the first event's position yields exactly the rest.
    let rest = store
        .read_all(seen[0].position, 100)
        .await
        .expect("read rest");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].event_id, seen[1].event_id);
    assert_eq!(store.head().await.expect("head"), seen[1].position);
}

#[tokio::test]
async fn checkpoints_round_trip() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let pool = store.pool();
    assert_eq!(
        load_checkpoint(pool, "relay").await.expect("load"),
        Position::START
    );
    let at = Position {
        tx_id: 1234,
        position: 56,
    };
    save_checkpoint(pool, "relay", at).await.expect("save");
    save_checkpoint(pool, "other", Position::START)
        .await
        .expect("save other");
    assert_eq!(load_checkpoint(pool, "relay").await.expect("load"), at);

    // Advancing is compare-and-set: it fails when someone rewound meanwhile.
    let later = Position {
        tx_id: 2000,
        position: 99,
    };
    assert!(
        advance_checkpoint(pool, "relay", at, later)
            .await
            .expect("advance")
    );
    save_checkpoint(pool, "relay", Position::START)
        .await
        .expect("rewind");
    assert!(
        !advance_checkpoint(pool, "relay", later, at)
            .await
            .expect("stale advance")
    );
    assert_eq!(
        load_checkpoint(pool, "relay").await.expect("load"),
        Position::START
    );
    assert!(
        advance_checkpoint(pool, "new", Position::START, at)
            .await
            .expect("first advance")
    );
}

#[tokio::test]
async fn migrations_run_twice_and_concurrently() {
    let db = TestDatabase::create().await;
    let a = EventStore::new(db.pool());
    let b = a.clone();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.expect("first replica migrates");
    rb.expect("second replica migrates");
    a.migrate().await.expect("again");
}

#[tokio::test]
async fn an_append_inside_a_transaction_commits_or_rolls_back_with_it() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let stream = StreamId::new("request", "parent");

    let mut tx = store.pool().begin().await.expect("begin");
    chain_store::append_in(&mut *tx, &stream, 0, &[event("AtRisk")], &metadata(), None)
        .await
        .expect("append in tx");
    tx.rollback().await.expect("rollback");
    assert_eq!(store.stream_version(&stream).await.expect("version"), 0);

    let mut tx = store.pool().begin().await.expect("begin");
    chain_store::append_in(&mut *tx, &stream, 0, &[event("AtRisk")], &metadata(), None)
        .await
        .expect("append in tx");
    tx.commit().await.expect("commit");
    assert_eq!(store.stream_version(&stream).await.expect("version"), 1);
}

#[tokio::test]
async fn read_all_pages_in_numeric_transaction_order_across_a_power_of_ten() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let power = power_of_ten_well_below_the_current_transaction(store.pool()).await;
    // Rows as if written by transactions power-10 ..= power+9, inserted newest transaction
    // first, so that neither text order nor position order is the commit order. They are far
    // enough below the current transaction id to be under every running transaction's horizon.
    sqlx::query(
        "INSERT INTO events (tx_id, event_id, aggregate_type, aggregate_id, aggregate_version,
             event_type, schema_version, occurred_at, correlation_id, causation_id, actor, payload)
         SELECT ($1 + 9 - n)::text::xid8, gen_random_uuid(), 'request', 'r' || n, 1,
                'test.v1.E', 1, now(), 'c', 'c', 'a', int4send(($1 + 9 - n)::int)
         FROM generate_series(0, 19) AS n",
    )
    .bind(power)
    .execute(store.pool())
    .await
    .expect("insert");

    let mut after = Position::START;
    let mut seen = Vec::new();
    loop {
        let page = store.read_all(after, 5).await.expect("page");
        let Some(last) = page.last() else { break };
        after = last.position;
        seen.extend(page.iter().map(|e| e.position.tx_id));
    }
    let power = u64::try_from(power).expect("positive");
    assert_eq!(seen, (power - 10..=power + 9).collect::<Vec<u64>>());
    assert_eq!(store.head().await.expect("head").tx_id, power + 9);
}

/// The largest power of ten (at least 100) at least 1,010 below the cluster's next transaction
/// id. A fresh cluster has used few ids, so this first uses up enough of them.
async fn power_of_ten_well_below_the_current_transaction(pool: &sqlx::PgPool) -> i64 {
    const MARGIN: i64 = 1_010;
    loop {
        let current: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
            .fetch_one(pool)
            .await
            .expect("current transaction id");
        if current >= 100 + MARGIN {
            let mut power = 100;
            while power * 10 + MARGIN <= current {
                power *= 10;
            }
            return power;
        }
    }
}

/// The event types of `events`, for comparing reads.
fn types(events: &[chain_store::RecordedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

#[tokio::test]
async fn committed_since_sees_each_event_once_as_soon_as_its_transaction_commits() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let (early, late) = (
        StreamId::new("request", "early"),
        StreamId::new("request", "late"),
    );

    // A transaction that appends first and commits last: the durable read cannot pass it.
    let mut slow = db.pool().begin().await.expect("begin");
    chain_store::append_in(&mut *slow, &late, 0, &[event("Slow")], &metadata(), None)
        .await
        .expect("append in the slow transaction");
    let start = store.horizon().await.expect("start at the horizon");

    store
        .append(
            &early,
            0,
            &[event("First"), event("Second")],
            &metadata(),
            None,
        )
        .await
        .expect("append");
    let first = store
        .committed_since(&start, Position::START, 10)
        .await
        .expect("first look");
    assert_eq!(types(&first.events), ["test.v1.First", "test.v1.Second"]);
    assert!(first.complete);
    assert!(
        store
            .read_all(Position::START, 10)
            .await
            .expect("read")
            .is_empty(),
        "the durable read waits for the slow transaction"
    );

    slow.commit().await.expect("commit");
    let second = store
        .committed_since(&first.snapshot, Position::START, 10)
        .await
        .expect("second look");
    assert_eq!(
        types(&second.events),
        ["test.v1.Slow"],
        "only what committed since"
    );
    let third = store
        .committed_since(&second.snapshot, Position::START, 10)
        .await
        .expect("third look");
    assert!(third.events.is_empty(), "nothing twice");

    store
        .append(
            &early,
            2,
            &[event("A"), event("B"), event("C")],
            &metadata(),
            None,
        )
        .await
        .expect("append three");
    let limited = store
        .committed_since(&third.snapshot, Position::START, 2)
        .await
        .expect("limited look");
    assert!(!limited.complete, "more committed than the limit");
    assert_eq!(types(&limited.events), ["test.v1.A", "test.v1.B"]);

    // What a reader in commit order already passed is not found again.
    let b = store.load_stream(&early).await.expect("load")[3].position;
    let after_b = store
        .committed_since(&third.snapshot, b, 10)
        .await
        .expect("look after B");
    assert_eq!(types(&after_b.events), ["test.v1.C"]);
}

#[tokio::test]
async fn read_committed_waits_for_an_older_transaction_instead_of_stopping_short() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;

    // An older transaction holds an event back while a younger one commits another.
    let mut older = store.pool().begin().await.expect("begin");
    chain_store::append_in(
        &mut *older,
        &StreamId::new("request", "older"),
        0,
        &[event("Older")],
        &metadata(),
        None,
    )
    .await
    .expect("older append");
    store
        .append(
            &StreamId::new("request", "younger"),
            0,
            &[event("Younger")],
            &metadata(),
            None,
        )
        .await
        .expect("younger append");

    let short = store
        .read_all(Position::START, 100)
        .await
        .expect("read_all");
    assert!(
        short.is_empty(),
        "read_all stops below the older transaction: {short:?}"
    );
    let held = store
        .read_committed(Position::START, 100, Duration::from_millis(100))
        .await;
    assert!(
        matches!(held, Err(StoreError::HeldBack { .. })),
        "a read that cannot be complete says so: {held:?}"
    );

    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .read_committed(Position::START, 100, Duration::from_secs(10))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    older.commit().await.expect("commit older");
    let page = reader.await.expect("reader").expect("read_committed");
    let types: Vec<_> = page.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["test.v1.Older", "test.v1.Younger"],
        "both, in commit order"
    );
}

#[tokio::test]
async fn pending_appends_write_several_streams_in_one_statement_in_the_order_pushed() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let (ticket, parent) = (
        StreamId::new("ticket", "t1"),
        StreamId::new("request", "p1"),
    );
    store
        .append(&ticket, 0, &[event("Opened")], &metadata(), None)
        .await
        .expect("ticket opened");
    let told = EventMetadata {
        causation_id: "event-9".into(),
        traceparent: None,
        ..metadata()
    };
    let mut pending = PendingAppends::default();
    pending
        .push(&ticket, 1, &[event("Observed"), event("AtRisk")], &told)
        .expect("first reaction");
    pending
        .push(&parent, 0, &[event("Opened")], &metadata())
        .expect("another stream");
    pending
        .push(&ticket, 3, &[event("Cleared")], &metadata())
        .expect("the ticket again, where the first reaction left it");
    let mut tx = store.pool().begin().await.expect("begin");
    pending.write_in(&mut *tx).await.expect("written");
    tx.commit().await.expect("commit");

    let loaded = store.load_stream(&ticket).await.expect("load");
    assert_eq!(
        types(&loaded),
        [
            "test.v1.Opened",
            "test.v1.Observed",
            "test.v1.AtRisk",
            "test.v1.Cleared"
        ]
    );
    assert_eq!(
        loaded.iter().map(|e| e.version).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        loaded[1].metadata, told,
        "each append keeps its own metadata"
    );
    assert_eq!(loaded[3].metadata, metadata());
    let parent_event = &store.load_stream(&parent).await.expect("load")[0];
    assert!(
        loaded[2].position < parent_event.position && parent_event.position < loaded[3].position,
        "positions follow the order pushed"
    );
}

#[tokio::test]
async fn pending_appends_write_nothing_when_any_stream_moved() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let (moved, quiet) = (StreamId::new("ticket", "t1"), StreamId::new("ticket", "t2"));
    let mut pending = PendingAppends::default();
    pending
        .push(&quiet, 0, &[event("Opened")], &metadata())
        .expect("held");
    pending
        .push(&moved, 0, &[event("Opened")], &metadata())
        .expect("held");
    // Another writer gets there first.
    store
        .append(&moved, 0, &[event("Opened")], &metadata(), None)
        .await
        .expect("the other writer");

    let err = pending
        .write_in(store.pool())
        .await
        .expect_err("a stream moved");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.stream_version(&quiet).await.expect("version"), 0);
    assert_eq!(store.stream_version(&moved).await.expect("version"), 1);
    // A lone append (written as `append_in` writes one) is checked alike.
    let mut lone = PendingAppends::default();
    lone.push(&moved, 0, &[event("Opened")], &metadata())
        .expect("held");
    let err = lone.write_in(store.pool()).await.expect_err("it moved");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.stream_version(&moved).await.expect("version"), 1);

    let mut gap = PendingAppends::default();
    gap.push(&quiet, 0, &[event("Opened")], &metadata())
        .expect("held");
    let err = gap
        .push(&quiet, 2, &[event("Committed")], &metadata())
        .expect_err("a second append must start where the first ends");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
}

#[tokio::test]
async fn a_rider_writes_in_the_appends_statement_and_a_conflict_still_reports() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    sqlx::query("CREATE TABLE rider_rows (id int PRIMARY KEY, label text NOT NULL)")
        .execute(store.pool())
        .await
        .expect("the rider's table");
    // The rider's parameters follow the appends' seventeen.
    let rider = |ids: Vec<i32>, label: &'static str| {
        Rider::new(
            "rider AS (INSERT INTO rider_rows (id, label)
                       SELECT id, $19 FROM unnest($18::int4[]) AS r(id))",
            move |query| query.bind(ids).bind(label),
        )
    };
    let (ticket, parent) = (
        StreamId::new("ticket", "t1"),
        StreamId::new("request", "p1"),
    );
    let mut pending = PendingAppends::default();
    pending
        .push(&ticket, 0, &[event("Opened")], &metadata())
        .expect("held");
    pending
        .push(
            &parent,
            0,
            &[event("Opened"), event("Committed")],
            &metadata(),
        )
        .expect("held");
    let mut tx = store.pool().begin().await.expect("begin");
    pending
        .write_with(&mut *tx, rider(vec![1, 2], "first"))
        .await
        .expect("written with the rider");
    tx.commit().await.expect("commit");
    assert_eq!(store.stream_version(&ticket).await.expect("version"), 1);
    assert_eq!(store.stream_version(&parent).await.expect("version"), 2);
    let rows: Vec<(i32, String)> = sqlx::query_as("SELECT id, label FROM rider_rows ORDER BY id")
        .fetch_all(store.pool())
        .await
        .expect("rider rows");
    assert_eq!(rows, [(1, "first".to_owned()), (2, "first".to_owned())]);

    // A stream moved: nothing appended, a conflict reported, and the rider's row written in
    // the transaction the caller then rolls back.
    let mut stale = PendingAppends::default();
    stale
        .push(&ticket, 0, &[event("Opened")], &metadata())
        .expect("held");
    let mut tx = store.pool().begin().await.expect("begin");
    let err = stale
        .write_with(&mut *tx, rider(vec![3], "stale"))
        .await
        .expect_err("the ticket moved");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let in_tx: i64 = sqlx::query_scalar("SELECT count(*) FROM rider_rows WHERE id = 3")
        .fetch_one(&mut *tx)
        .await
        .expect("count");
    assert_eq!(in_tx, 1, "the rider wrote; the caller must roll back");
    tx.rollback().await.expect("rollback");
    assert_eq!(store.stream_version(&ticket).await.expect("version"), 1);

    let err = PendingAppends::default()
        .write_with(store.pool(), rider(vec![4], "alone"))
        .await
        .expect_err("nothing held");
    assert!(matches!(err, StoreError::EmptyAppend), "{err:?}");
}

#[tokio::test]
async fn a_few_events_or_many_with_an_idempotency_key_are_recorded_and_replayed_alike() {
    // Up to four events take the plain statement, more the `append_events` function.
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    for size in [1usize, 4, 5] {
        let stream = StreamId::new("team", format!("t{size}"));
        let batch: Vec<NewEvent> = (0..size).map(|k| event(&format!("E{k}"))).collect();
        let idem = Idempotency {
            scope: "Import/team-a".into(),
            key: format!("key-{size}"),
            fingerprint: b"digest".to_vec(),
            response: format!("first {size}").into_bytes(),
        };
        let first = store
            .append(&stream, 0, &batch, &metadata(), Some(&idem))
            .await
            .expect("first");
        assert!(
            matches!(first, AppendOutcome::Appended { version, .. } if version == size as u64),
            "{size}: {first:?}"
        );
        let again = store
            .append(&stream, size as u64, &batch, &metadata(), Some(&idem))
            .await
            .expect("retry");
        assert_eq!(
            again,
            AppendOutcome::Replayed {
                response: format!("first {size}").into_bytes()
            },
            "{size}"
        );
        let fresh = Idempotency {
            key: format!("other-{size}"),
            ..idem
        };
        let err = store
            .append(&stream, 0, &batch, &metadata(), Some(&fresh))
            .await
            .expect_err("a new key at a stale version");
        assert!(
            matches!(err, StoreError::Conflict { .. }),
            "{size}: {err:?}"
        );
        let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE key = $1")
            .bind(&fresh.key)
            .fetch_one(store.pool())
            .await
            .expect("count");
        assert_eq!(kept, 0, "{size}: a conflict records no key");
        assert_eq!(
            store.stream_version(&stream).await.expect("version"),
            size as u64
        );
    }
}

/// A key recorded `age` ago, on its own stream.
async fn key_recorded_ago(store: &EventStore, key: &str, age: chrono::Duration) -> Idempotency {
    let idem = Idempotency {
        scope: "OpenRequest/team-a".into(),
        key: key.into(),
        fingerprint: b"request-digest".to_vec(),
        response: b"first response".to_vec(),
    };
    let stream = StreamId::new("request", key);
    store
        .append(&stream, 0, &[event("Opened")], &metadata(), Some(&idem))
        .await
        .expect("a keyed append");
    sqlx::query("UPDATE idempotency_keys SET created_at = now() - $2 WHERE key = $1")
        .bind(key)
        .bind(age)
        .execute(store.pool())
        .await
        .expect("backdate the key");
    idem
}

async fn keys(store: &EventStore) -> Vec<String> {
    sqlx::query_scalar("SELECT key FROM idempotency_keys ORDER BY key")
        .fetch_all(store.pool())
        .await
        .expect("keys")
}

#[tokio::test]
async fn expired_idempotency_keys_are_forgotten_in_batches_and_recent_ones_kept() {
    let db = TestDatabase::create().await;
    let store = store(&db).await;
    let hours = chrono::Duration::hours;
    for (key, age) in [
        ("old-1", hours(50)),
        ("old-2", hours(49)),
        ("old-3", hours(48)),
    ] {
        key_recorded_ago(&store, key, age).await;
    }
    let recent = key_recorded_ago(&store, "recent", hours(1)).await;
    let cutoff = Utc::now() - hours(24);

    // Oldest first, at most a batch per call.
    assert_eq!(
        store
            .forget_idempotency_keys(cutoff, 2)
            .await
            .expect("sweep"),
        2
    );
    assert_eq!(keys(&store).await, ["old-3", "recent"]);
    assert_eq!(
        store
            .forget_idempotency_keys(cutoff, 2)
            .await
            .expect("sweep"),
        1
    );
    assert_eq!(
        store
            .forget_idempotency_keys(cutoff, 2)
            .await
            .expect("sweep"),
        0
    );
    assert_eq!(keys(&store).await, ["recent"]);

    // The kept key still answers its retry; a forgotten one no longer does: the same key is a
    // new command, decided on the stream as it is now.
    let replay = store
        .append(
            &StreamId::new("request", "recent"),
            0,
            &[event("Opened")],
            &metadata(),
            Some(&recent),
        )
        .await
        .expect("a retry");
    assert!(
        matches!(replay, AppendOutcome::Replayed { .. }),
        "{replay:?}"
    );
    let forgotten = Idempotency {
        key: "old-1".into(),
        ..recent
    };
    let err = store
        .append(
            &StreamId::new("request", "old-1"),
            0,
            &[event("Opened")],
            &metadata(),
            Some(&forgotten),
        )
        .await
        .expect_err("a retry after the key expired is a new command at a stale version");
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
}
