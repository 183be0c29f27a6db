//! One reader of the log's live end per process, shared by every live watcher of that process
//! (the services' `Watch*` streams): N watchers cost one read per change, not N.
//!
//! A [`LogTail`] runs one task while anyone follows it. The task reads the store in commit order
//! from where it last stood ([`EventStore::read_all`]), waking on the [`ChangeFeed`], and
//! broadcasts each batch with the position it was read after. A [`Follower`] reads the store
//! itself only to catch up: from its resume position to the live end when it starts, and
//! again whenever it fell behind the broadcast (a slow client) or the tail's read failed (its
//! own read then reports the error). Otherwise it takes the tail's batches, skipping what it
//! already has, so each event reaches it once and in commit order.
//!
//! The task starts with the first follower and stops once the last is gone, so an idle
//! service reads nothing; a restarted tail starts at the log's readable end, since every
//! follower catches up to it on its own.
//!
//! Metrics: `chain_watch_followers` (the gauge of followers, so of open watch streams),
//! `chain_watch_tail_reads_total` (the shared reader's reads) and
//! `chain_watch_catch_ups_total{why}` (a follower reading the store itself again because it
//! `lagged` behind the backlog, was `behind` where the tail started, or the tail's read
//! `failed`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::{ChangeFeed, EventStore, Position, RecordedEvent, StoreError};

/// Batches the tail keeps for followers that have not taken them yet; a follower further
/// behind reads the store itself.
pub const TAIL_BACKLOG: usize = 16;
/// Events read per round, by the tail and by a follower catching up.
const READ_BATCH: u32 = 500;
/// Pause before the tail reads again after a failed read.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// The gauge of followers.
const FOLLOWERS: &str = "chain_watch_followers";

/// The shared reader of a store's live end; clones share it.
#[derive(Clone, Debug)]
pub struct LogTail {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: EventStore,
    feed: ChangeFeed,
    sender: broadcast::Sender<Arc<TailRead>>,
    /// Whether the reading task runs; changed only with the lock held, so a follower that
    /// subscribes while the task decides to stop either keeps it running or starts a new one.
    running: Mutex<bool>,
}

/// What the tail broadcasts.
#[derive(Debug)]
enum TailRead {
    /// The events committed after `after`, in commit order (never empty).
    Events {
        after: Position,
        events: Vec<RecordedEvent>,
    },
    /// A read failed: followers read for themselves, and report what they find.
    Failed,
}

impl LogTail {
    /// A tail of `store`, woken by `feed` (which the caller runs).
    pub fn new(store: EventStore, feed: ChangeFeed) -> Self {
        Self::with_backlog(store, feed, TAIL_BACKLOG)
    }

    /// A tail keeping `backlog` batches for followers that lag (at least one).
    pub fn with_backlog(store: EventStore, feed: ChangeFeed, backlog: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                feed,
                sender: broadcast::channel(backlog.max(1)).0,
                running: Mutex::new(false),
            }),
        }
    }

    /// Follows the log from just after `after`: history first, then live. Must be called
    /// within a tokio runtime (it may start the tail's task).
    pub fn follow(&self, after: Position) -> Follower {
        metrics::gauge!(FOLLOWERS).increment(1.0);
        Follower {
            receiver: self.shared.subscribe(),
            shared: Arc::clone(&self.shared),
            after,
            catching_up: true,
            waiting: None,
        }
    }
}

impl Shared {
    /// A receiver of the tail's batches, starting the tail's task when it is not running.
    fn subscribe(self: &Arc<Self>) -> broadcast::Receiver<Arc<TailRead>> {
        let mut running = self.lock_running();
        let receiver = self.sender.subscribe();
        if !*running {
            *running = true;
            tokio::spawn(Arc::clone(self).read_live());
        }
        receiver
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, bool> {
        // A panic while holding this lock cannot leave the flag half-written.
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the task should stop, which it records: nobody follows any more.
    fn stop_if_unfollowed(&self) -> bool {
        let mut running = self.lock_running();
        if self.sender.receiver_count() == 0 {
            *running = false;
            return true;
        }
        false
    }

    /// The tail's task: reads what is committed after where it stands and broadcasts it,
    /// until nobody follows.
    async fn read_live(self: Arc<Self>) {
        let mut changes = self.feed.subscribe();
        let mut after = None;
        while !self.stop_if_unfollowed() {
            let start = match after {
                Some(position) => Ok(position),
                None => self.store.head().await,
            };
            let read = match start {
                Ok(start) => {
                    metrics::counter!("chain_watch_tail_reads_total").increment(1);
                    self.store
                        .read_all(start, READ_BATCH)
                        .await
                        .map(|events| (start, events))
                }
                Err(error) => Err(error),
            };
            match read {
                Ok((start, events)) => {
                    let full = events.len() >= READ_BATCH as usize;
                    let end = events.last().map_or(start, |event| event.position);
                    after = Some(end);
                    let found_none = events.is_empty();
                    if !found_none {
                        // No follower left is fine: the loop's check ends the task.
                        let _ = self.sender.send(Arc::new(TailRead::Events {
                            after: start,
                            events,
                        }));
                    }
                    if !full {
                        changes.wait(&self.store, end, found_none).await;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the log's shared reader failed; retrying");
                    let _ = self.sender.send(Arc::new(TailRead::Failed));
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }
}

/// One reader's place in the log, fed by the [`LogTail`] once it has caught up.
#[derive(Debug)]
pub struct Follower {
    shared: Arc<Shared>,
    receiver: broadcast::Receiver<Arc<TailRead>>,
    /// The last event handed out (or the resume position).
    after: Position,
    /// Reading the store itself until a read finds the readable end.
    catching_up: bool,
    /// A tail batch taken while behind it, handed out (what is new in it) once caught up.
    waiting: Option<Arc<TailRead>>,
}

impl Follower {
    /// The next events after those already handed out, in commit order (never empty); waits
    /// until there are some. An error is the store's, from this follower's own read.
    pub async fn next(&mut self) -> Result<Events, StoreError> {
        loop {
            if self.catching_up {
                let events = self.shared.store.read_all(self.after, READ_BATCH).await?;
                self.catching_up = events.len() >= READ_BATCH as usize;
                if let Some(last) = events.last() {
                    self.after = last.position;
                    if !self.catching_up {
                        // This read reached the readable end, past any batch the tail read
                        // before now.
                        self.waiting = None;
                    }
                    return Ok(Events {
                        source: Source::Read(events),
                        from: 0,
                    });
                }
                // At the readable end, which covers every batch the tail read before now.
                if let Some(read) = self.waiting.take()
                    && let Some(fresh) = self.fresh_in(read)
                {
                    return Ok(fresh);
                }
                continue;
            }
            let read = match self.receiver.recv().await {
                Ok(read) => read,
                // Batches were dropped before this follower took them: read them.
                Err(RecvError::Lagged(_)) => {
                    self.catch_up("lagged");
                    continue;
                }
                // Not while this follower holds the tail; should it happen, follow it anew.
                Err(RecvError::Closed) => {
                    self.receiver = self.shared.subscribe();
                    self.catching_up = true;
                    continue;
                }
            };
            match &*read {
                TailRead::Failed => self.catch_up("failed"),
                TailRead::Events { after, .. } if *after > self.after => {
                    // The tail read from beyond this follower: what lies between is read
                    // first, then what is new in the batch.
                    self.waiting = Some(read);
                    self.catch_up("behind");
                }
                TailRead::Events { .. } => {
                    if let Some(fresh) = self.fresh_in(read) {
                        return Ok(fresh);
                    }
                }
            }
        }
    }

    /// Reads the store itself again, for the reason `why`.
    fn catch_up(&mut self, why: &'static str) {
        metrics::counter!("chain_watch_catch_ups_total", "why" => why).increment(1);
        self.catching_up = true;
    }

    /// The events of `read` after those already handed out, now handed out (shared with the
    /// other followers, not copied); `None` when it holds nothing new.
    fn fresh_in(&mut self, read: Arc<TailRead>) -> Option<Events> {
        let TailRead::Events { events, .. } = &*read else {
            return None;
        };
        // Commit order: what is new is the batch's end.
        let from = events.partition_point(|event| event.position <= self.after);
        self.after = events[from..].last()?.position;
        Some(Events {
            source: Source::Shared(read),
            from,
        })
    }
}

/// Events a [`Follower`] hands out, in commit order: from its own read, or the new end of a
/// batch the tail shares with every follower.
#[derive(Debug)]
pub struct Events {
    source: Source,
    from: usize,
}

#[derive(Debug)]
enum Source {
    Read(Vec<RecordedEvent>),
    Shared(Arc<TailRead>),
}

impl std::ops::Deref for Events {
    type Target = [RecordedEvent];

    fn deref(&self) -> &[RecordedEvent] {
        let all: &[RecordedEvent] = match &self.source {
            Source::Read(events) => events,
            Source::Shared(read) => match &**read {
                TailRead::Events { events, .. } => events,
                TailRead::Failed => &[],
            },
        };
        &all[self.from..]
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        metrics::gauge!(FOLLOWERS).decrement(1.0);
    }
}
