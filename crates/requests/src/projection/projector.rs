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
//! parent's `RequestChildObserved` and `RequestAtRisk` come together) writes its row once, the
//! children its rows' time ledgers need are read once for the batch, and the rows of the whole
//! batch go in one statement.

use chain_consumer::{BatchAdmission, ConsumerConfig, Handler, HandlerError};
use chain_domain::deadline::next_deadline;
use chain_domain::ids::RequestId;
use chain_domain::ledger::ledger;
use chain_domain::request::{Request, RequestEvent};
use chain_proto::customerchain::v1::EventEnvelope;
use chain_rpc::clock;
use chain_store::{EventStore, PendingAppends, StoreError};
use sqlx::PgConnection;
use std::collections::{BTreeMap, BTreeSet};
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
/// One lane: with batches of up to 256 events, one transaction at a time keeps up with 32
/// clients (`requests-bench`: 0 events behind at the end of the load, 2,772 commands/s against
/// 2,440 with four lanes), and side-by-side lanes only split the same load into smaller, dearer
/// transactions. (With batches of 16, one lane fell minutes behind.)
pub fn projector_config(layout: &chain_bus::BusLayout) -> ConsumerConfig {
    ConsumerConfig::new(
        PROJECTOR_NAME,
        layout.stream_name(crate::SERVICE),
        layout.service_subjects(crate::SERVICE),
    )
    .with_lanes(PROJECTOR_LANES)
}

/// Transactions the projector runs at once; see [`projector_config`].
pub const PROJECTOR_LANES: usize = 1;

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

    /// The rows of `pending`, each with its time ledger over its children as they stand now:
    /// those read ahead with the batch's parents from memory, any others read in one round
    /// trip for them all.
    async fn rows(&self, pending: &PendingRequests) -> Result<Vec<RequestRow>, StoreError> {
        let wanted: BTreeSet<RequestId> = pending
            .requests
            .values()
            .filter_map(|folded| folded.state.request.as_ref())
            .flat_map(|request| request.children.keys().copied())
            .collect();
        // Read ahead (and folded on since, where the batch brought their events), unless
        // memory has started afresh meanwhile.
        let remembered: BTreeMap<RequestId, Folded> = wanted
            .intersection(&pending.fresh)
            .map(|id| (*id, self.memory.get(*id)))
            .filter(|(_, folded)| folded.state.version > 0)
            .collect();
        // None stale: the store reads nothing (`load_tails` of no stream).
        let stale = wanted.iter().filter(|id| !remembered.contains_key(id));
        let children = match self.memory.refresh(&self.store, stale.copied()).await {
            Ok(mut children) => {
                children.extend(remembered);
                children
            }
            Err(LoadError::Store(error)) => return Err(error),
            Err(LoadError::Codec { stream, source }) => {
                // Corrupt history below: the rows are still written (a read model must not
                // stop the stream), with ledgers that leave the children out.
                tracing::error!(%stream, error = %source, "a child's events do not decode");
                BTreeMap::new()
            }
        };
        let now = clock::now();
        let rows = pending.requests.values().filter_map(|folded| {
            let request = folded.state.request.as_ref()?;
            let kids: Vec<&Request> = request
                .children
                .keys()
                .filter_map(|child| children.get(child)?.state.request.as_ref())
                .collect();
            let spent = ledger(request, &kids, now);
            let trigger = folded.decoder.last_trigger();
            let view = view::request(request, folded.state.version, trigger, Some(&spent));
            let deadline = next_deadline(&folded.state);
            Some(RequestRow::new(
                request,
                folded.state.version,
                &view,
                deadline,
            ))
        });
        Ok(rows.collect())
    }

    /// The parents and children [`Handler::prepare`] reads, into `pending`.
    async fn read_ahead(
        &self,
        events: &[&EventEnvelope],
        pending: &mut PendingRequests,
    ) -> Result<(), HandlerError> {
        let requests: BTreeSet<RequestId> = events
            .iter()
            .filter(|envelope| envelope.aggregate_type == REQUEST)
            .filter_map(|envelope| envelope.aggregate_id.parse().ok())
            .collect();
        let parents: BTreeSet<RequestId> = requests
            .iter()
            .filter_map(|id| self.memory.parent_request(*id))
            .collect();
        let children: BTreeSet<RequestId> = requests
            .iter()
            .flat_map(|id| self.memory.children(*id))
            .collect();
        // Neither: the store reads nothing (`load_tails` of no stream).
        let mut read = self
            .memory
            .refresh(&self.store, parents.union(&children).copied())
            .await
            .map_err(load_error)?;
        pending.parents = parents
            .iter()
            .filter_map(|id| read.remove_entry(id))
            .collect();
        pending.fresh = children;
        Ok(())
    }

    async fn request(
        &self,
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
        let tell = propagation::parent_to_tell(&own.state, &event);
        if let Some((parent_id, command)) = tell {
            // The parent as it stands now in the store (a command may have moved it): read
            // when the transaction's events were prepared, or now. Read once: a second child
            // telling it in this transaction needs it with the first one's reaction.
            let parent = match pending.parents.remove(&parent_id) {
                Some(parent) => Some(parent),
                None => self
                    .memory
                    .refresh(&self.store, [parent_id])
                    .await
                    .map_err(load_error)?
                    .remove(&parent_id),
            };
            let parent = parent.map(|parent| parent.loaded()).unwrap_or_default();
            let child = (id, own.loaded());
            propagation::tell_parent(
                &self.store,
                &mut pending.appends,
                (parent_id, &parent),
                &command,
                child,
                envelope,
            )
            .await?;
        }
        pending.requests.insert(id, own);
        Ok(())
    }
}

/// The requests a transaction's events leave to write at its end: the latest fold of each
/// request, in request order (so two transactions lock rows in the same order). Their rows are
/// made at the end too, with their children's states read once for the whole transaction.
#[derive(Debug, Default)]
pub struct PendingRequests {
    requests: BTreeMap<RequestId, Folded>,
    /// The parents the transaction's events may have to tell, read together when the events
    /// were prepared; each is taken by the first child that tells it.
    parents: BTreeMap<RequestId, Folded>,
    /// The parents' reactions, appended at the end.
    appends: PendingAppends,
    /// The children of the transaction's requests, as memory knew them when the events were
    /// prepared, brought up to date then: their rows' ledgers read them from memory instead
    /// of from the store a second time.
    fresh: BTreeSet<RequestId>,
}

impl Handler for RequestsProjector {
    type Pending = PendingRequests;

    /// Reads, in one round trip, the parents of the requests the events are about and their
    /// children, as far as memory knows them: most request events tell their parent, which
    /// would otherwise be read once for each, and every request row's ledger needs its
    /// children.
    async fn prepare(
        &self,
        _tx: &mut PgConnection,
        events: &[&EventEnvelope],
        pending: &mut PendingRequests,
    ) -> Result<(), HandlerError> {
        self.read_ahead(events, pending).await
    }

    /// [`Handler::prepare`] beside the batch's admission: the reads go through the store's
    /// own connections while the admission runs on the transaction's, the two round trips at
    /// once (at 2,000 request events a second each statement waited about 1.7 ms for a loaded
    /// machine's turn).
    async fn admit_and_prepare(
        &self,
        tx: &mut PgConnection,
        events: &[&EventEnvelope],
        admission: BatchAdmission<'_>,
        pending: &mut PendingRequests,
    ) -> Result<bool, HandlerError> {
        let (admitted, read) = tokio::join!(admission.run(tx), self.read_ahead(events, pending));
        read?;
        Ok(admitted?)
    }

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
            REQUEST => self.request(envelope, pending).await?,
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
    ) -> Result<(), HandlerError> {
        let rows = self
            .rows(&pending)
            .await
            .map_err(|error| HandlerError::Transient(error.to_string()))?;
        if pending.appends.is_empty() {
            return Ok(tables::write_requests(tx, rows).await?);
        }
        // The rows ride on the reactions' statement: one round trip for both.
        match tables::requests_rider(rows) {
            Ok(rider) => pending.appends.write_with(&mut *tx, rider).await,
            Err(rows) => {
                tables::write_requests(tx, rows).await?;
                pending.appends.write_in(&mut *tx).await
            }
        }
        .map_err(propagation::conflict)
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
