//! The consume loop: pull, admit, handle, commit, ack — or park, or wait.

use crate::dead_letter::{Parked, park};
use crate::inbox::{Admission, admit, advance};
use crate::{ConsumerConfig, ConsumerError, Handler, HandlerError};
use async_nats::jetstream::{self, AckKind, consumer::pull};
use chain_proto::customerchain::v1::EventEnvelope;
use futures::StreamExt;
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, warn};
use uuid::Uuid;

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
}

/// What became of one message.
enum Outcome {
    Applied,
    Skipped,
    /// The handler failed transiently: retry with backoff, park after `max_deliver`.
    Failed(String),
    /// An earlier version of the stream is missing: wait longer each time, park after
    /// `GAP_PATIENCE × max_deliver` deliveries.
    Gap(u64),
    Park(String),
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
        let mut messages = consumer.messages().await.map_err(|e| jetstream_error(&e))?;
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            match message {
                None => return Err(ConsumerError::JetStream("message stream ended".into())),
                Some(Err(error)) => return Err(jetstream_error(&error)),
                Some(Ok(message)) => self.process(message).await?,
            }
        }
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

    /// Handles one message inside a consumer span that continues the trace the event was created
    /// under (its `traceparent` header), so one trace runs from the command to every reaction.
    async fn process(&self, message: jetstream::Message) -> Result<(), ConsumerError> {
        let message_id = message
            .headers
            .as_ref()
            .and_then(|h| h.get(chain_bus::MSG_ID_HEADER))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let span = chain_telemetry::messaging::process_span(
            message.subject.as_str(),
            &message_id,
            &self.config.name,
            message.headers.as_ref(),
        );
        self.process_traced(message).instrument(span).await
    }

    /// Handles one message. Only a database failure outside the handler is an error: the message
    /// is then offered again and the loop reconnects.
    async fn process_traced(&self, message: jetstream::Message) -> Result<(), ConsumerError> {
        let (delivered, sequence) = match message.info() {
            Ok(info) => {
                metrics::gauge!("chain_consumer_pending_messages", "consumer" => self.config.name.clone())
                    .set(info.pending as f64);
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
                    ack(&message, AckKind::Nak(Some(RECONNECT_PAUSE))).await;
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
                ack(&message, AckKind::Ack).await;
            }
            Outcome::Skipped => {
                self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                self.count("chain_events_skipped_total");
                ack(&message, AckKind::Ack).await;
            }
            Outcome::Failed(_) => {
                self.stats.deferred.fetch_add(1, Ordering::Relaxed);
                self.count("chain_events_retried_total");
                let delay = config.retry_delay(delivered);
                ack(&message, AckKind::Nak(Some(delay))).await;
            }
            Outcome::Gap(_) => {
                self.stats.deferred.fetch_add(1, Ordering::Relaxed);
                self.count("chain_events_waiting_total");
                let delay = config.gap_delay * u32::try_from(delivered).unwrap_or(u32::MAX);
                ack(&message, AckKind::Nak(Some(delay))).await;
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
                ack(&message, AckKind::Term).await;
            }
        }
        Ok(())
    }

    fn count(&self, name: &'static str) {
        metrics::counter!(name, "consumer" => self.config.name.clone()).increment(1);
    }

    /// Applies one decoded event in a transaction with its inbox bookkeeping.
    async fn apply(&self, envelope: &EventEnvelope) -> Result<Outcome, sqlx::Error> {
        let Ok(event_id) = Uuid::parse_str(&envelope.event_id) else {
            return Ok(Outcome::Park(format!(
                "invalid event id {:?}",
                envelope.event_id
            )));
        };
        let aggregate = (
            envelope.aggregate_type.as_str(),
            envelope.aggregate_id.as_str(),
        );
        let name = self.config.name.as_str();
        let mut tx = self.pool.begin().await?;
        let outcome = match admit(
            &mut tx,
            name,
            event_id,
            aggregate,
            envelope.aggregate_version,
        )
        .await?
        {
            Admission::Duplicate => return Ok(Outcome::Skipped),
            Admission::Stale => Outcome::Skipped,
            Admission::Gap { expected } => {
                debug!(
                    consumer = name,
                    expected,
                    got = envelope.aggregate_version,
                    "stream gap"
                );
                return Ok(Outcome::Gap(expected));
            }
            Admission::Next => match self.handler.handle(&mut tx, envelope).await {
                Err(HandlerError::Poison(reason)) => return Ok(Outcome::Park(reason)),
                Err(HandlerError::Transient(reason)) => return Ok(Outcome::Failed(reason)),
                Ok(()) if advance(&mut tx, name, aggregate, envelope.aggregate_version).await? => {
                    Outcome::Applied
                }
                // Another replica applied this version first.
                Ok(()) => return Ok(Outcome::Skipped),
            },
        };
        tx.commit().await?;
        if matches!(outcome, Outcome::Applied) {
            self.handler.after_commit();
        }
        Ok(outcome)
    }
}

/// Acknowledges (or NAKs, or terminates) a message. A lost ack only causes a redelivery, which
/// the inbox absorbs, so it is logged rather than propagated.
async fn ack(message: &jetstream::Message, kind: AckKind) {
    if let Err(error) = message.ack_with(kind).await {
        warn!(%error, "ack failed; the message will be redelivered");
    }
}
