//! Publishing envelopes with many acknowledgements in flight, awaited in order.

use crate::{BusError, BusLayout, encode_envelope};
use async_nats::jetstream::{self, context::PublishAckFuture};
use chain_proto::customerchain::v1::EventEnvelope;
use std::collections::VecDeque;

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
    pub async fn publish_all(
        &self,
        envelopes: &[EventEnvelope],
    ) -> Result<PublishReport, BusError> {
        let mut in_flight: VecDeque<(String, PublishAckFuture)> = VecDeque::new();
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
            let (headers, body) = encode_envelope(envelope);
            let ack = self
                .js
                .publish_with_headers(subject.clone(), headers, body)
                .await
                .map_err(|e| BusError::Publish {
                    subject: subject.clone(),
                    reason: e.to_string(),
                })?;
            in_flight.push_back((subject, ack));
        }
        while let Some(pending) = in_flight.pop_front() {
            settle(pending, &mut report).await?;
        }
        Ok(report)
    }
}

async fn settle(
    (subject, ack): (String, PublishAckFuture),
    report: &mut PublishReport,
) -> Result<(), BusError> {
    let ack = ack.await.map_err(|e| BusError::Publish {
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
