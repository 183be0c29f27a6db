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
//! same row and nothing goes stale.

use chain_consumer::{ConsumerConfig, Handler, HandlerError};
use chain_domain::deadline::next_deadline;
use chain_domain::ids::RequestId;
use chain_domain::ledger::ledger;
use chain_domain::request::Request;
use chain_proto::customerchain::v1::EventEnvelope;
use chain_rpc::clock;
use chain_store::EventStore;
use sqlx::PgConnection;

use super::tables;
use crate::codec::{CodecError, StoredEvent, decode_link, decode_team};
use crate::record::load_children;
use crate::streams::{LINK, LoadError, REQUEST, TEAM, load_request};
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
}

impl RequestsProjector {
    /// A projector reading streams from `store` (the service's own).
    pub fn new(store: EventStore) -> Self {
        Self { store }
    }

    async fn request(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), HandlerError> {
        let id: RequestId = envelope
            .aggregate_id
            .parse()
            .map_err(|e| HandlerError::Poison(format!("bad request id: {e}")))?;
        let loaded = load_request(&self.store, id).await.map_err(load_error)?;
        let Some(request) = loaded.request() else {
            return Err(HandlerError::Transient(format!(
                "request {id} has no events in the store yet"
            )));
        };
        if loaded.state.version < envelope.aggregate_version {
            return Err(HandlerError::Transient(format!(
                "request {id} is at version {} in the store, behind event {}",
                loaded.state.version, envelope.aggregate_version
            )));
        }
        let span = tracing::Span::current();
        span.record("chain.request_id", tracing::field::display(id));
        span.record("chain.link", tracing::field::display(request.link().key()));
        span.record(
            "chain.case_id",
            tracing::field::display(request.case_id.as_uuid()),
        );
        let children = load_children(&self.store, request)
            .await
            .map_err(load_error)?;
        let kids: Vec<&Request> = children.iter().collect();
        let spent = ledger(request, &kids, clock::now());
        let row = view::request(request, loaded.state.version, loaded.trigger, Some(&spent));
        tables::upsert_request(tx, request, loaded.state.version, &row).await?;
        tables::schedule_deadline(tx, id, next_deadline(&loaded.state)).await?;

        let index = usize::try_from(envelope.aggregate_version.saturating_sub(1)).unwrap_or(0);
        if let Some(event) = loaded.events.get(index) {
            propagation::tell_parent(&self.store, tx, &loaded.state, event, envelope).await?;
        }
        Ok(())
    }
}

impl Handler for RequestsProjector {
    async fn handle(
        &self,
        tx: &mut PgConnection,
        envelope: &EventEnvelope,
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
            REQUEST => self.request(tx, envelope).await?,
            other => {
                return Err(HandlerError::Poison(format!(
                    "unknown aggregate type {other:?}"
                )));
            }
        }
        Ok(())
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
