//! The projector: a [`Handler`] on the service's own stream (`<root>.v1.requests.>`) that,
//! for each event, in the consumer's inbox transaction:
//!
//! 1. updates the read model (team, link or request row);
//! 2. for a request, (re)schedules its deadline from [`next_deadline`];
//! 3. for a request event its parent must hear of, appends the parent's reaction
//!    ([`crate::propagation`]) on the same transaction, so the read model, the processed
//!    mark and the parent's events commit together or not at all.
//!
//! A request row is written from the whole stream as folded now (not just up to the event at
//! hand): it is always the latest state, so a later event of the same stream rewrites the
//! same row and nothing goes stale. Request rows and deadlines wait for the end of the
//! transaction ([`PendingRequests`]): a batch that brings several events of one request (a
//! parent's `RequestChildObserved` and `RequestAtRisk` come together) writes its row once, and
//! the rows of the whole batch go in one statement.

use chain_consumer::{ConsumerConfig, Handler, HandlerError};
use chain_domain::deadline::next_deadline;
use chain_domain::ids::RequestId;
use chain_domain::ledger::ledger;
use chain_domain::request::{Request, RequestEvent};
use chain_proto::customerchain::v1::EventEnvelope;
use chain_rpc::clock;
use chain_store::EventStore;
use sqlx::PgConnection;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::memory::{Folded, RequestMemory};
use super::tables::{self, RequestRow};
use crate::codec::{CodecError, StoredEvent, decode_link, decode_team};
use crate::streams::{LINK, LoadError, REQUEST, TEAM};
use crate::{propagation, view};

/// The durable consumer name of the projector (also the key of its inbox rows).
pub const PROJECTOR_NAME: &str = "requests-projector";

/// The consumer settings of the projector on the service's stream under `layout`.
///
/// Four lanes: cases are independent (a request, its parent and the reactions between them
/// share the case's correlation id, so one lane), and under a burst of commands a single
/// transaction at a time fell minutes behind 32 clients competing for the same database.
pub fn projector_config(layout: &chain_bus::BusLayout) -> ConsumerConfig {
    ConsumerConfig::new(
        PROJECTOR_NAME,
        layout.stream_name(crate::SERVICE),
        layout.service_subjects(crate::SERVICE),
    )
    .with_lanes(PROJECTOR_LANES)
}

/// Transactions the projector runs at once; see [`projector_config`].
pub const PROJECTOR_LANES: usize = 4;

/// Keeps the read model and drives propagation; run it with
/// [`chain_consumer::EventConsumer`] and [`projector_config`].
#[derive(Clone, Debug)]
pub struct RequestsProjector {
    store: EventStore,
    memory: Arc<RequestMemory>,
}

impl RequestsProjector {
    /// A projector reading streams from `store` (the service's own).
    pub fn new(store: EventStore) -> Self {
        Self {
            store,
            memory: Arc::default(),
        }
    }

    /// The request `id` with its event at `version` (`stored`) folded in, and that event: onto
    /// the remembered fold when the event follows it directly, else onto the stream as stored
    /// now (which holds the event, and maybe later ones: the row shows the latest state).
    async fn fold(
        &self,
        id: RequestId,
        stored: StoredEvent<'_>,
        version: u64,
    ) -> Result<(Folded, RequestEvent), HandlerError> {
        let mut own = self.memory.get(id);
        if own.state.version + 1 == version {
            let event = own.apply(stored).map_err(poison)?;
            self.memory.remember(id, own.clone());
            return Ok((own, event));
        }
        if own.state.version < version {
            own = self
                .memory
                .refresh(&self.store, [id])
                .await
                .map_err(load_error)?
                .remove(&id)
                .unwrap_or_default();
        }
        if own.state.version < version {
            return Err(HandlerError::Transient(format!(
                "request {id} is at version {} in the store, behind event {version}",
                own.state.version
            )));
        }
        let event = own.decoder.clone().decode(stored).map_err(poison)?;
        Ok((own, event))
    }

    async fn request(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
        pending: &mut PendingRequests,
    ) -> Result<(), HandlerError> {
        let id: RequestId = envelope
            .aggregate_id
            .parse()
            .map_err(|e| HandlerError::Poison(format!("bad request id: {e}")))?;
        let stored = StoredEvent::from_envelope(envelope).map_err(poison)?;
        let (own, event) = self.fold(id, stored, envelope.aggregate_version).await?;
        let Some(request) = own.state.request.as_ref() else {
            return Err(HandlerError::Transient(format!(
                "request {id} has no events in the store yet"
            )));
        };
        let span = tracing::Span::current();
        span.record("chain.request_id", tracing::field::display(id));
        span.record("chain.link", tracing::field::display(request.link().key()));
        span.record(
            "chain.case_id",
            tracing::field::display(request.case_id.as_uuid()),
        );
        // The children (for the time ledger) and the parent to tell, up to date in one read.
        let tell = propagation::parent_to_tell(&own.state, &event);
        let related = request
            .children
            .keys()
            .copied()
            .chain(tell.as_ref().map(|(parent, _)| *parent));
        let related = self
            .memory
            .refresh(&self.store, related)
            .await
            .map_err(load_error)?;
        let kids: Vec<&Request> = request
            .children
            .keys()
            .filter_map(|child| related.get(child)?.state.request.as_ref())
            .collect();
        let spent = ledger(request, &kids, clock::now());
        let trigger = own.decoder.last_trigger();
        let row = view::request(request, own.state.version, trigger, Some(&spent));
        let deadline = next_deadline(&own.state);
        let row = RequestRow::new(request, own.state.version, &row, deadline);
        pending.0.insert(id, row);

        if let Some((parent_id, command)) = tell {
            let parent = related
                .get(&parent_id)
                .map(Folded::loaded)
                .unwrap_or_default();
            let child = (id, own.loaded());
            propagation::tell_parent(
                &self.store,
                tx,
                (parent_id, &parent),
                &command,
                child,
                envelope,
            )
            .await?;
        }
        Ok(())
    }
}

/// The request rows a transaction's events leave to write at its end: the latest of each
/// request, in request order (so two transactions lock rows in the same order).
#[derive(Debug, Default)]
pub struct PendingRequests(BTreeMap<RequestId, RequestRow>);

impl Handler for RequestsProjector {
    type Pending = PendingRequests;

    async fn handle(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
        pending: &mut PendingRequests,
    ) -> Result<(), HandlerError> {
        let stored = StoredEvent::from_envelope(envelope).map_err(poison)?;
        match envelope.aggregate_type.as_str() {
            TEAM => {
                let event = decode_team(stored).map_err(poison)?;
                tables::apply_team(tx, &event, envelope.aggregate_version).await?;
            }
            LINK => {
                let event = decode_link(stored).map_err(poison)?;
                tables::apply_link(tx, &event, envelope.aggregate_version).await?;
            }
            REQUEST => self.request(tx, envelope, pending).await?,
            other => {
                return Err(HandlerError::Poison(format!(
                    "unknown aggregate type {other:?}"
                )));
            }
        }
        Ok(())
    }

    async fn flush(
        &self,
        tx: &mut PgConnection,
        pending: PendingRequests,
    ) -> Result<(), sqlx::Error> {
        let rows: Vec<RequestRow> = pending.0.into_values().collect();
        tables::write_requests(tx, &rows).await
    }

    fn after_commit(&self) {
        // Parents' reactions may have been appended in the transaction: wake the relay here,
        // or forward to the leading replica through its stand-by loop.
        self.store.signal_appended();
    }
}

fn poison(error: CodecError) -> HandlerError {
    HandlerError::Poison(error.to_string())
}

/// A store failure is worth retrying; undecodable history never gets better.
pub(crate) fn load_error(error: LoadError) -> HandlerError {
    match error {
        LoadError::Store(error) => HandlerError::Transient(error.to_string()),
        LoadError::Codec { .. } => HandlerError::Poison(error.to_string()),
    }
}
