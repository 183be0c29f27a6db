//! The consume loop: pull, admit, handle, commit, ack — or park, or wait.

use crate::dead_letter::{Parked, park};
use crate::inbox::{Admission, BatchAdmission, BatchRuns, admit};
use crate::pace::Pacer;
use crate::report;
use crate::{ConsumerConfig, ConsumerError, Handler, HandlerError};
use async_nats::jetstream::{self, AckKind, consumer::pull};
use chain_proto::customerchain::v1::EventEnvelope;
use futures::StreamExt;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, warn};
use uuid::Uuid;

/// How many batches a lane's queue holds before the reader waits for it.
const LANE_QUEUE_BATCHES: usize = 4;

/// How many deliveries beyond `max_deliver` the server allows before it gives up on a message.
/// The consumer parks at `max_deliver`; the server's own bound is only a backstop for deliveries
/// spent while the database was unreachable, which never park.
const SERVER_DELIVERY_MARGIN: i64 = 1_000;

/// Pause before reconnecting after the database or the server failed.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Counters a consumer keeps, for metrics and tests.
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Events applied.
    pub applied: AtomicU64,
    /// Redeliveries and stale copies acknowledged without effect.
    pub skipped: AtomicU64,
    /// Events offered again later because an earlier version of their stream was missing or the
    /// handler failed.
    pub deferred: AtomicU64,
    /// Messages parked in `dead_letters`.
    pub parked: AtomicU64,
    /// Transactions that applied several messages at once.
    pub batches: AtomicU64,
}

/// What became of one message.
enum Outcome {
    Applied,
    /// A copy of an event already applied: ack it.
    Skipped,
    /// Another replica applied this version while the handler ran: roll back, then ack.
    Lost,
    /// The handler failed transiently: retry with backoff, park after `max_deliver`.
    Failed(String),
    /// An earlier version of the stream is missing: wait longer each time, park after
    /// `GAP_PATIENCE × max_deliver` deliveries.
    Gap(u64),
    Park(String),
}

/// How a try at one transaction for several messages ended.
enum Batch {
    /// Committed and acked.
    Committed,
    /// Rolled back: the message at this index needs the one-by-one path; those before it can
    /// go together.
    StoppedAt(usize),
}

/// How many messages the server still holds for this consumer after `message` (none known: 0).
fn pending_after(message: Option<&jetstream::Message>) -> u64 {
    message
        .and_then(|message| message.info().ok())
        .map_or(0, |info| info.pending)
}

/// A message waiting for an earlier event of its stream is parked only after this many times the
/// deliveries a failing one gets: the earlier event may itself be going through its retries.
const GAP_PATIENCE: i64 = 4;

/// A durable consumer applying one stream's events through a [`Handler`].
pub struct EventConsumer<H> {
    pool: PgPool,
    js: jetstream::Context,
    config: ConsumerConfig,
    handler: Arc<H>,
    stats: Arc<ConsumerStats>,
}

impl<H: Handler> EventConsumer<H> {
    /// A consumer that keeps its inbox in `pool`'s database (run [`crate::migrate`] first).
    pub fn new(pool: PgPool, js: jetstream::Context, config: ConsumerConfig, handler: H) -> Self {
        Self {
            pool,
            js,
            config,
            handler: Arc::new(handler),
            stats: Arc::default(),
        }
    }

    /// Live counters.
    pub fn stats(&self) -> Arc<ConsumerStats> {
        Arc::clone(&self.stats)
    }

    /// Consumes until `shutdown` is cancelled, reconnecting after failures.
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.consume(&shutdown).await {
                Ok(()) => return,
                Err(error) => warn!(consumer = %self.config.name, %error, "consumer restarts"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(RECONNECT_PAUSE) => {}
            }
        }
    }

    async fn consume(&self, shutdown: &CancellationToken) -> Result<(), ConsumerError> {
        let jetstream_error = |e: &dyn std::fmt::Display| ConsumerError::JetStream(e.to_string());
        let stream = self
            .js
            .get_stream(&self.config.stream)
            .await
            .map_err(|e| jetstream_error(&e))?;
        let consumer = stream
            .get_or_create_consumer(&self.config.name, self.server_config())
            .await
            .map_err(|e| jetstream_error(&e))?;
        let messages = consumer.messages().await.map_err(|e| jetstream_error(&e))?;
        if self.config.lanes > 1 {
            return self.consume_in_lanes(messages, shutdown).await;
        }
        // Whatever has arrived is taken together, up to a batch; nothing waits for a batch to
        // fill, so a lone event is applied as soon as it arrives (unless paced).
        let mut batches = messages.ready_chunks(self.config.batch_size.max(1));
        let mut pacer = self.pacer();
        loop {
            let batch = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = async {
                    pacer.ready().await;
                    batches.next().await
                } => next,
            };
            let Some(batch) = batch else {
                return Err(ConsumerError::JetStream("message stream ended".into()));
            };
            let last = batch.last().and_then(|item| item.as_ref().ok());
            pacer.started(batch.len(), pending_after(last));
            let mut failure = None;
            let mut delivered = Vec::with_capacity(batch.len());
            for item in batch {
                match item {
                    Ok(message) => delivered.push(message),
                    Err(error) => failure = Some(jetstream_error(&error)),
                }
            }
            self.process_batch(&delivered).await?;
            if let Some(failure) = failure {
                return Err(failure);
            }
        }
    }

    /// Spaces this consumer's (or one lane's) batches by the configured pace.
    fn pacer(&self) -> Pacer {
        Pacer::new(self.config.pace, self.config.batch_size.max(1))
    }

    fn server_config(&self) -> pull::Config {
        pull::Config {
            durable_name: Some(self.config.name.clone()),
            filter_subject: self.config.filter_subject.clone(),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_wait: self.config.ack_wait,
            max_deliver: self.config.max_deliver + SERVER_DELIVERY_MARGIN,
            max_ack_pending: self.config.max_ack_pending,
            ..Default::default()
        }
    }

    /// Consumes with several lanes (see [`ConsumerConfig::lanes`]): one task reads the messages
    /// and hands each to its case's lane; each lane takes what has arrived for it, up to a
    /// batch, and applies it on its own, so a slow lane holds up only its own cases (and the
    /// reader once its queue is full). On shutdown the reader stops, and each lane applies what
    /// it was already handed before the consumer returns.
    async fn consume_in_lanes<S, E>(
        &self,
        messages: S,
        shutdown: &CancellationToken,
    ) -> Result<(), ConsumerError>
    where
        S: futures::Stream<Item = Result<jetstream::Message, E>>,
        E: std::fmt::Display,
    {
        let lanes = self.config.lanes.max(1);
        let batch_size = self.config.batch_size.max(1);
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..lanes)
            .map(|_| {
                tokio::sync::mpsc::channel::<jetstream::Message>(batch_size * LANE_QUEUE_BATCHES)
            })
            .unzip();
        let read = async move {
            tokio::pin!(messages);
            loop {
                let next = tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    next = messages.next() => next,
                };
                let message = match next {
                    None => return Err(ConsumerError::JetStream("message stream ended".into())),
                    Some(Err(error)) => return Err(ConsumerError::JetStream(error.to_string())),
                    Some(Ok(message)) => message,
                };
                let lane = lane_of(&message, lanes);
                if senders[lane].send(message).await.is_err() {
                    // The lane stopped on an error, which the join below reports.
                    return Ok(());
                }
            }
        };
        let apply = futures::future::try_join_all(receivers.into_iter().enumerate().map(
            |(index, mut receiver)| async move {
                let queued = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
                let mut batches = queued.ready_chunks(batch_size);
                let mut pacer = self.pacer();
                loop {
                    pacer.ready().await;
                    let Some(batch) = batches.next().await else {
                        break;
                    };
                    pacer.started(batch.len(), pending_after(batch.last()));
                    crate::pending_counts::in_lane(index, self.process_batch(&batch)).await?;
                }
                Ok::<(), ConsumerError>(())
            },
        ));
        futures::future::try_join(read, apply).await?;
        Ok(())
    }

    /// Applies `messages` in as few transactions as it can. A run of messages that simply apply
    /// (or are copies already applied) commits as one; a message that needs more — a gap, a
    /// handler failure, a poison message, a race lost to another replica — goes through
    /// [`Self::process`] on its own, which knows how to wait, retry and park, and the run
    /// resumes after it. A database error sends every remaining message down that path.
    async fn process_batch(&self, messages: &[jetstream::Message]) -> Result<(), ConsumerError> {
        let mut rest = messages;
        while let [first, more @ ..] = rest {
            if more.is_empty() {
                return self.process(first).await;
            }
            match self.apply_batch(rest).await {
                Ok(Batch::Committed) => return Ok(()),
                Ok(Batch::StoppedAt(stop)) => {
                    let (clean, [odd, after @ ..]) = rest.split_at(stop) else {
                        return Ok(());
                    };
                    self.process_clean_run(clean).await?;
                    self.process(odd).await?;
                    rest = after;
                }
                Err(error) => {
                    debug!(consumer = %self.config.name, %error, "batch failed; one by one");
                    return self.process_each(rest).await;
                }
            }
        }
        Ok(())
    }

    /// Applies `messages`, which all went cleanly in a transaction rolled back for a later one,
    /// together again; one by one should that fail now (another replica got there meanwhile).
    async fn process_clean_run(
        &self,
        messages: &[jetstream::Message],
    ) -> Result<(), ConsumerError> {
        if messages.len() > 1 && matches!(self.apply_batch(messages).await, Ok(Batch::Committed)) {
            return Ok(());
        }
        self.process_each(messages).await
    }

    /// Handles `messages` one by one, each in its own transaction.
    async fn process_each(&self, messages: &[jetstream::Message]) -> Result<(), ConsumerError> {
        for message in messages {
            self.process(message).await?;
        }
        Ok(())
    }

    /// Tries `messages` as one transaction, and acks them all when it committed.
    async fn apply_batch(&self, messages: &[jetstream::Message]) -> Result<Batch, sqlx::Error> {
        let started = Instant::now();
        let span = tracing::info_span!(
            "nats.process_batch",
            messaging.system = "nats",
            messaging.operation.type = "process",
            messaging.batch.message_count = messages.len(),
            messaging.consumer.group.name = %self.config.name,
            otel.kind = "consumer",
        );
        chain_telemetry::messaging::link_messages(
            &span,
            messages.iter().filter_map(|m| m.headers.as_ref()),
        );
        let applied = match self.try_batch(messages).instrument(span).await {
            Ok(Ok(applied)) => applied,
            Ok(Err(stop)) => {
                self.handler.after_rollback();
                return Ok(Batch::StoppedAt(stop));
            }
            Err(error) => {
                self.handler.after_rollback();
                return Err(error);
            }
        };
        if let Some(info) = messages.last().and_then(|m| m.info().ok()) {
            self.record_pending(info.pending);
        }
        for (message, applied) in messages.iter().zip(&applied) {
            let (stat, metric) = if *applied {
                (&self.stats.applied, "chain_events_consumed_total")
            } else {
                (&self.stats.skipped, "chain_events_skipped_total")
            };
            stat.fetch_add(1, Ordering::Relaxed);
            self.count(metric);
            ack(message, AckKind::Ack).await;
        }
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.count("chain_consumer_batches_total");
        if applied.contains(&true) {
            self.handler.after_commit();
            report::committed(&self.config.name, messages, started);
        }
        Ok(Batch::Committed)
    }

    /// Applies every message on one transaction and commits it: for each message, whether it
    /// was applied (false: a copy already applied). `Err(i)`, rolled back, when message `i`
    /// needs the one-by-one path.
    async fn try_batch(
        &self,
        messages: &[jetstream::Message],
    ) -> Result<Result<Vec<bool>, usize>, sqlx::Error> {
        let envelopes: Vec<Option<EventEnvelope>> = messages
            .iter()
            .map(|m| chain_bus::decode_envelope(&m.payload).ok())
            .collect();
        if let Some(applied) = self.try_admitted_batch(messages, &envelopes).await? {
            return Ok(applied);
        }
        let mut tx = self.pool.begin().await?;
        let mut pending = H::Pending::default();
        let mut applied = Vec::with_capacity(messages.len());
        for (index, (message, envelope)) in messages.iter().zip(&envelopes).enumerate() {
            let Some(envelope) = envelope else {
                return Ok(Err(index));
            };
            let outcome = self
                .apply_in(&mut tx, envelope, &mut pending)
                .instrument(self.message_span(message))
                .await?;
            match outcome {
                Outcome::Applied => applied.push(true),
                Outcome::Skipped => applied.push(false),
                _ => return Ok(Err(index)),
            }
        }
        if let Err(error) = self.handler.flush(&mut tx, pending).await {
            debug!(consumer = %self.config.name, ?error, "batch not flushed; first one alone");
            return Ok(Err(0));
        }
        tx.commit().await?;
        Ok(Ok(applied))
    }

    /// [`Self::try_batch`] for the usual batch, every message new and next in its stream, with
    /// the whole batch admitted in one statement. `None`, with nothing kept, when the batch
    /// needs each message admitted on its own (a copy, a gap, a race with another replica).
    async fn try_admitted_batch(
        &self,
        messages: &[jetstream::Message],
        envelopes: &[Option<EventEnvelope>],
    ) -> Result<Option<Result<Vec<bool>, usize>>, sqlx::Error> {
        let Some(envelopes) = envelopes
            .iter()
            .map(Option::as_ref)
            .collect::<Option<Vec<_>>>()
        else {
            return Ok(None);
        };
        // An invalid event id is parked by the one-by-one path.
        let events = envelopes.iter().map(|e| {
            Uuid::parse_str(&e.event_id).ok()?;
            let stream = (e.aggregate_type.as_str(), e.aggregate_id.as_str());
            Some((stream, e.aggregate_version))
        });
        let Some(batch) = events.collect::<Option<Vec<_>>>().and_then(BatchRuns::of) else {
            return Ok(None);
        };
        let mut tx = self.pool.begin().await?;
        let mut pending = H::Pending::default();
        let admission = BatchAdmission::new(&self.config.name, &batch);
        let admitted = self
            .handler
            .admit_and_prepare(&mut tx, &envelopes, admission, &mut pending)
            .await;
        if !matches!(admitted, Ok(true)) {
            if let Err(error) = admitted {
                debug!(consumer = %self.config.name, %error, "batch not prepared; one by one");
            }
            tx.rollback().await?;
            self.handler.after_rollback();
            return Ok(None);
        }
        for (index, (message, envelope)) in messages.iter().zip(envelopes).enumerate() {
            let handled = self
                .handler
                .handle(&mut tx, envelope, &mut pending)
                .instrument(self.message_span(message))
                .await;
            if handled.is_err() {
                // Rolled back with the transaction; the one-by-one path retries or parks it.
                return Ok(Some(Err(index)));
            }
        }
        if let Err(error) = self.handler.flush(&mut tx, pending).await {
            debug!(consumer = %self.config.name, ?error, "batch not flushed; first one alone");
            return Ok(Some(Err(0)));
        }
        tx.commit().await?;
        Ok(Some(Ok(vec![true; messages.len()])))
    }

    /// Handles one message inside its own processing span.
    async fn process(&self, message: &jetstream::Message) -> Result<(), ConsumerError> {
        let span = self.message_span(message);
        self.process_traced(message).instrument(span).await
    }

    /// The span of handling `message`: it continues the trace the event was created under (its
    /// `traceparent` header), so one trace runs from the command to every reaction.
    fn message_span(&self, message: &jetstream::Message) -> tracing::Span {
        let message_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(chain_bus::MSG_ID_HEADER))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        chain_telemetry::messaging::process_span(
            message.subject.as_str(),
            &message_id,
            &self.config.name,
            message.headers.as_ref(),
        )
    }

    fn record_pending(&self, pending: u64) {
        metrics::gauge!("chain_consumer_pending_messages", "consumer" => self.config.name.clone())
            .set(pending as f64);
    }

    /// Handles one message. Only a database failure outside the handler is an error: the message
    /// is then offered again and the loop reconnects.
    async fn process_traced(&self, message: &jetstream::Message) -> Result<(), ConsumerError> {
        let started = Instant::now();
        let (delivered, sequence) = match message.info() {
            Ok(info) => {
                self.record_pending(info.pending);
                (info.delivered, info.stream_sequence)
            }
            Err(error) => return Err(ConsumerError::JetStream(error.to_string())),
        };
        let envelope = chain_bus::decode_envelope(&message.payload);
        let outcome = match &envelope {
            Err(error) => Outcome::Park(format!("undecodable envelope: {error}")),
            Ok(envelope) => match self.apply(envelope).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    ack(message, AckKind::Nak(Some(RECONNECT_PAUSE))).await;
                    return Err(error.into());
                }
            },
        };
        let config = &self.config;
        let outcome = match outcome {
            Outcome::Failed(reason) if delivered >= config.max_deliver => {
                Outcome::Park(format!("gave up after {delivered} deliveries: {reason}"))
            }
            Outcome::Gap(expected) if delivered >= config.max_deliver * GAP_PATIENCE => {
                Outcome::Park(format!("stream gap: version {expected} never arrived"))
            }
            other => other,
        };
        match outcome {
            Outcome::Applied => {
                self.stats.applied.fetch_add(1, Ordering::Relaxed);
                self.count("chain_events_consumed_total");
                report::committed(&self.config.name, std::slice::from_ref(message), started);
                ack(message, AckKind::Ack).await;
            }
            Outcome::Skipped | Outcome::Lost => {
                self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                self.count("chain_events_skipped_total");
                ack(message, AckKind::Ack).await;
            }
            Outcome::Failed(_) => {
                self.stats.deferred.fetch_add(1, Ordering::Relaxed);
                self.count("chain_events_retried_total");
                let delay = config.retry_delay(delivered);
                ack(message, AckKind::Nak(Some(delay))).await;
            }
            Outcome::Gap(_) => {
                self.stats.deferred.fetch_add(1, Ordering::Relaxed);
                self.count("chain_events_waiting_total");
                let delay = config.gap_delay * u32::try_from(delivered).unwrap_or(u32::MAX);
                ack(message, AckKind::Nak(Some(delay))).await;
            }
            Outcome::Park(reason) => {
                let envelope = envelope.as_ref().ok();
                park(
                    &self.pool,
                    Parked {
                        consumer: &self.config.name,
                        subject: message.subject.as_str(),
                        stream_sequence: sequence,
                        deliveries: delivered,
                        event_id: envelope.map(|e| e.event_id.as_str()),
                        event_type: envelope.map(|e| e.event_type.as_str()),
                        reason: &reason,
                        body: &message.payload,
                    },
                )
                .await?;
                warn!(consumer = %self.config.name, sequence, %reason, "message parked");
                self.stats.parked.fetch_add(1, Ordering::Relaxed);
                self.count("chain_events_dead_lettered_total");
                ack(message, AckKind::Term).await;
            }
        }
        Ok(())
    }

    fn count(&self, name: &'static str) {
        metrics::counter!(name, "consumer" => self.config.name.clone()).increment(1);
    }

    /// Applies one decoded event in a transaction of its own.
    async fn apply(&self, envelope: &EventEnvelope) -> Result<Outcome, sqlx::Error> {
        let committed = self.apply_committed(envelope).await;
        match &committed {
            Ok(Outcome::Applied) => self.handler.after_commit(),
            Ok(Outcome::Skipped) => {}
            _ => self.handler.after_rollback(),
        }
        committed.map(|outcome| match outcome {
            // Another replica applied this version first: what the handler wrote is dropped.
            Outcome::Lost => Outcome::Skipped,
            other => other,
        })
    }

    /// Applies one decoded event in a transaction of its own and commits it for
    /// [`Outcome::Applied`] and [`Outcome::Skipped`]; any other outcome is rolled back with the
    /// transaction (the inbox row of a gap or a failure, the handler's writes of a lost race).
    async fn apply_committed(&self, envelope: &EventEnvelope) -> Result<Outcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let mut pending = H::Pending::default();
        let outcome = self.apply_in(&mut tx, envelope, &mut pending).await?;
        if matches!(outcome, Outcome::Applied | Outcome::Skipped) {
            match self.handler.flush(&mut tx, pending).await {
                Ok(()) => tx.commit().await?,
                // Rolled back with the transaction.
                Err(HandlerError::Transient(reason)) => return Ok(Outcome::Failed(reason)),
                Err(HandlerError::Poison(reason)) => return Ok(Outcome::Park(reason)),
            }
        }
        Ok(outcome)
    }

    /// Applies one decoded event with its inbox bookkeeping on `tx`, which the caller commits
    /// only for [`Outcome::Applied`] and [`Outcome::Skipped`].
    async fn apply_in(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
        pending: &mut H::Pending,
    ) -> Result<Outcome, sqlx::Error> {
        if Uuid::parse_str(&envelope.event_id).is_err() {
            return Ok(Outcome::Park(format!(
                "invalid event id {:?}",
                envelope.event_id
            )));
        }
        let aggregate = (
            envelope.aggregate_type.as_str(),
            envelope.aggregate_id.as_str(),
        );
        let name = self.config.name.as_str();
        let version = envelope.aggregate_version;
        Ok(match admit(tx, name, aggregate, version).await? {
            Admission::Stale => Outcome::Skipped,
            Admission::Gap { expected } => {
                debug!(consumer = name, expected, got = version, "stream gap");
                Outcome::Gap(expected)
            }
            Admission::Lost => Outcome::Lost,
            Admission::Next => match self.prepare_and_handle(tx, envelope, pending).await {
                Err(HandlerError::Poison(reason)) => Outcome::Park(reason),
                Err(HandlerError::Transient(reason)) => Outcome::Failed(reason),
                Ok(()) => Outcome::Applied,
            },
        })
    }

    /// Prepares `envelope` on its own, then handles it.
    async fn prepare_and_handle(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
        pending: &mut H::Pending,
    ) -> Result<(), HandlerError> {
        self.handler.prepare(tx, &[envelope], pending).await?;
        self.handler.handle(tx, envelope, pending).await
    }
}

/// The lane of `message` among `lanes`: by its case (the envelope's correlation id), so a case's
/// events share one lane. An undecodable message goes to lane 0, where it is parked as usual.
fn lane_of(message: &jetstream::Message, lanes: usize) -> usize {
    use std::hash::{DefaultHasher, Hash as _, Hasher as _};
    let Ok(envelope) = chain_bus::decode_envelope(&message.payload) else {
        return 0;
    };
    let mut hasher = DefaultHasher::new();
    envelope.correlation_id.hash(&mut hasher);
    usize::try_from(hasher.finish() % lanes as u64).unwrap_or(0)
}

/// Acknowledges (or NAKs, or terminates) a message. A lost ack only causes a redelivery, which
/// the inbox absorbs, so it is logged rather than propagated.
async fn ack(message: &jetstream::Message, kind: AckKind) {
    if let Err(error) = message.ack_with(kind).await {
        warn!(%error, "ack failed; the message will be redelivered");
    }
}
