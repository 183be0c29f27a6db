//! The shared reader of the log's live end ([`LogTail`]) against a real PostgreSQL: followers
//! that start in the history, at the head, or fall behind the tail's backlog each get every
//! event once, in commit order.

use std::time::Duration;

use chain_store::{
    ChangeFeed, EventMetadata, EventStore, Follower, LogTail, NewEvent, Position, StreamId,
};
use chain_testkit::{TestDatabase, wait_until};
use chrono::Utc;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use tokio_util::sync::CancellationToken;

/// How long a follower may take to see an event before the test fails.
const SEEN_WITHIN: Duration = Duration::from_secs(10);

/// A migrated store on `db` with its change feed running until `stop`.
async fn followed_store(db: &TestDatabase, stop: &CancellationToken) -> (EventStore, ChangeFeed) {
    let store = EventStore::new(db.pool());
    store.migrate().await.expect("migrations apply");
    let feed = ChangeFeed::new();
    tokio::spawn(feed.clone().run(store.clone(), stop.clone()));
    (store, feed)
}

/// Appends event number `n` to a stream of its own, as a transaction of its own.
async fn append_numbered(store: &EventStore, n: usize) {
    let event = NewEvent::new(
        "test.v1.Numbered",
        1,
        Utc::now(),
        n.to_string().into_bytes(),
    );
    let metadata = EventMetadata::new("case-1", "cmd-1", "team-a");
    store
        .append(
            &StreamId::new("numbered", format!("n{n}")),
            0,
            &[event],
            &metadata,
            None,
        )
        .await
        .expect("append");
}

/// The log's readable end once it covers event number `n`: transaction ids are cluster-wide,
/// so other tests' transactions may hold it back for a moment.
async fn head_covering(store: &EventStore, n: usize) -> Position {
    let stream = StreamId::new("numbered", format!("n{n}"));
    let appended = store.load_stream(&stream).await.expect("load")[0].position;
    let mut head = Position::START;
    let covered = wait_until(SEEN_WITHIN, Duration::from_millis(10), async || {
        head = store.head().await.expect("head");
        head >= appended
    })
    .await;
    assert!(covered, "the head reaches event {n}");
    head
}

/// Takes events from `follower` until it has handed out `count`; their numbers in the order
/// given, after checking the positions only ever grow.
async fn take(follower: &mut Follower, count: usize) -> Vec<usize> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let batch = tokio::time::timeout(SEEN_WITHIN, follower.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events came: {seen:?}", seen.len()))
            .expect("follow the log");
        seen.extend(batch.iter().cloned());
    }
    assert!(
        seen.windows(2)
            .all(|pair| pair[0].position < pair[1].position),
        "commit order, each once"
    );
    seen.iter()
        .map(|event| {
            String::from_utf8(event.payload.clone())
                .expect("utf-8")
                .parse()
                .expect("a number")
        })
        .collect()
}

/// How often followers read the store themselves again for `why`, as the metrics counted.
fn catch_ups(snapshotter: &Snapshotter, why: &str) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "chain_watch_catch_ups_total")
        .filter(|(key, ..)| key.key().labels().any(|label| label.value() == why))
        .map(|(.., value)| match value {
            DebugValue::Counter(count) => count,
            _ => 0,
        })
        .sum()
}

#[tokio::test]
async fn followers_in_the_history_and_behind_the_backlog_each_get_every_event_once() {
    // The test's runtime runs on this thread, the tail's task too: their metrics land here.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let db = TestDatabase::create().await;
    let stop = CancellationToken::new();
    let (store, feed) = followed_store(&db, &stop).await;
    // A backlog of one batch, so a follower that does not read falls behind at once.
    let tail = LogTail::with_backlog(store.clone(), feed, 1);

    let mut keeping_up = tail.follow(Position::START);
    for n in 0..3 {
        append_numbered(&store, n).await;
    }
    assert_eq!(take(&mut keeping_up, 3).await, [0, 1, 2]);

    // Starts in the history, then does not read while twenty more arrive one by one.
    let mut falling_behind = tail.follow(Position::START);
    for n in 3..23 {
        append_numbered(&store, n).await;
        assert_eq!(
            take(&mut keeping_up, 1).await,
            [n],
            "the live follower keeps up"
        );
    }
    let expected: Vec<usize> = (0..23).collect();
    assert_eq!(take(&mut falling_behind, 23).await, expected);

    // Both go on with the live end.
    append_numbered(&store, 23).await;
    assert_eq!(take(&mut keeping_up, 1).await, [23]);
    assert_eq!(take(&mut falling_behind, 1).await, [23]);
    // It had read the history itself; its first look at the tail's backlog found it overrun.
    assert!(
        catch_ups(&snapshotter, "lagged") >= 1,
        "the follower that did not read fell behind the backlog and read the store itself"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_follower_from_the_head_gets_only_what_comes_after_even_once_the_tail_restarts() {
    let db = TestDatabase::create().await;
    let stop = CancellationToken::new();
    let (store, feed) = followed_store(&db, &stop).await;
    let tail = LogTail::new(store.clone(), feed);
    for n in 0..5 {
        append_numbered(&store, n).await;
    }

    let mut first = tail.follow(head_covering(&store, 4).await);
    append_numbered(&store, 5).await;
    assert_eq!(take(&mut first, 1).await, [5]);
    // Nobody follows for a while: the tail's task stops; appends go on.
    drop(first);
    append_numbered(&store, 6).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    append_numbered(&store, 7).await;

    let mut second = tail.follow(head_covering(&store, 7).await);
    append_numbered(&store, 8).await;
    assert_eq!(take(&mut second, 1).await, [8]);
    let mut from_history = tail.follow(Position::START);
    let expected: Vec<usize> = (0..9).collect();
    assert_eq!(take(&mut from_history, 9).await, expected);
    stop.cancel();
}
