//! Publishing envelopes with many acknowledgements in flight, awaited in order, each in a
//! `nats.publish` span that continues the trace its event was stored under.

use crate::{BusError, BusLayout, encode_envelope, stored_trace};
use async_nats::jetstream::{self, context::PublishAckFuture};
use chain_proto::customerchain::v1::EventEnvelope;
use chain_telemetry::messaging::publish_span;
use chain_telemetry::propagation::inject_into_nats;
use std::collections::VecDeque;
use std::future::IntoFuture as _;
use tracing::Instrument as _;

/// What a batch publish achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PublishReport {
    /// Messages the server stored.
    pub stored: usize,
    /// Messages the server recognised as repeats (same `Nats-Msg-Id`) and dropped.
    pub duplicates: usize,
}

/// Publishes one service's events.
#[derive(Clone, Debug)]
pub struct Publisher {
    js: jetstream::Context,
    layout: BusLayout,
    service: String,
    max_in_flight: usize,
}

impl Publisher {
    /// A publisher for `service`'s stream that keeps at most `max_in_flight` unacknowledged
    /// publishes (at least 1).
    pub fn new(
        js: jetstream::Context,
        layout: BusLayout,
        service: impl Into<String>,
        max_in_flight: usize,
    ) -> Self {
        Self {
            js,
            layout,
            service: service.into(),
            max_in_flight: max_in_flight.max(1),
        }
    }

    /// The layout this publisher names subjects with.
    pub fn layout(&self) -> &BusLayout {
        &self.layout
    }

    /// The producing service's token.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Publishes `envelopes` in order and returns once every one is acknowledged. On error some
    /// prefix may have been stored; republishing the whole batch is safe (deduplicated by id).
    ///
    /// Each message is published in its own producer span, a child of the trace context stored
    /// with the event and open until the broker acknowledges; the message's headers carry that
    /// span and the event's case as baggage (see [`publish_span`]).
    pub async fn publish_all(
        &self,
        envelopes: &[EventEnvelope],
    ) -> Result<PublishReport, BusError> {
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut report = PublishReport::default();
        for envelope in envelopes {
            if in_flight.len() >= self.max_in_flight
                && let Some(oldest) = in_flight.pop_front()
            {
                settle(oldest, &mut report).await?;
            }
            let subject = self.layout.subject(
                &self.service,
                &envelope.aggregate_type,
                &envelope.event_type,
            );
            let stored = stored_trace(envelope);
            let span = publish_span(
                &subject,
                &envelope.event_id,
                stored.as_ref(),
                &envelope.correlation_id,
            );
            let (mut headers, body) = encode_envelope(envelope);
            span.in_scope(|| inject_into_nats(&mut headers));
            let ack = self
                .js
                .publish_with_headers(subject.clone(), headers, body)
                .instrument(span.clone())
                .await
                .map_err(|e| BusError::Publish {
                    subject: subject.clone(),
                    reason: e.to_string(),
                })?;
            in_flight.push_back(InFlight { subject, ack, span });
        }
        while let Some(pending) = in_flight.pop_front() {
            settle(pending, &mut report).await?;
        }
        Ok(report)
    }
}

/// A message sent and not yet acknowledged; its span ends when it is settled.
struct InFlight {
    subject: String,
    ack: PublishAckFuture,
    span: tracing::Span,
}

async fn settle(in_flight: InFlight, report: &mut PublishReport) -> Result<(), BusError> {
    let InFlight { subject, ack, span } = in_flight;
    let ack = ack
        .into_future()
        .instrument(span)
        .await
        .map_err(|e| BusError::Publish {
            subject,
            reason: e.to_string(),
        })?;
    if ack.duplicate {
        report.duplicates += 1;
    } else {
        report.stored += 1;
    }
    Ok(())
}
